/**
 * The edge's shared client reads (gateway/edge/shared-reads.ts) on real loopback sockets: a
 * plain node:http server's accepted socket reads into the shared buffer (this fails if a Node
 * upgrade changes the private fields and symbols it relies on), its reads arrive whole and in
 * order, returning false or pause() stops reading and resume() starts it again, the socket stays
 * the server's connection, a socket is not switched twice, and TLS sockets are left as they
 * are. The edge on top of it is covered end to end in gateway-edge.test.ts (pipelining,
 * fallback to Node's server, upgrades).
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import t, { type Test } from 'tap';
import { ownedBytes, readIntoSharedBuffer, sharedRead } from '../../gateway/edge/shared-reads.js';
import { eventually } from '../helpers/eventually.js';
import { selfSignedCert } from '../helpers/self-signed.js';

interface Accepted {
  readonly socket: Socket;
  /** What readIntoSharedBuffer returned. */
  readonly shared: boolean;
  readonly reads: Buffer[];
}

/**
 * A node:http server whose connections read into the shared buffer; with `stopAfterFirst`
 * the target returns false once.
 */
async function sharedReadsServer(
  t: Test,
  stopAfterFirst = false,
): Promise<{ server: Server; port: number; accepted: Promise<Accepted> }> {
  const server = createServer();
  server.removeAllListeners('connection');
  const accepted = new Promise<Accepted>((resolve) => {
    server.once('connection', (socket: Socket) => {
      const reads: Buffer[] = [];
      const shared = readIntoSharedBuffer(socket, {
        onDirectRead(bytes: number): boolean {
          reads.push(ownedBytes(sharedRead(bytes)));
          return !(stopAfterFirst && reads.length === 1);
        },
      });
      resolve({ socket, shared, reads });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { server, port: (server.address() as AddressInfo).port, accepted };
}

async function client(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

const text = (reads: Buffer[]): string => Buffer.concat(reads).toString('latin1');

t.test('reads arrive whole and in order, as owned copies', async (t) => {
  const { port, accepted } = await sharedReadsServer(t);
  const c = await client(port);
  t.teardown(() => c.destroy());
  const { socket, shared, reads } = await accepted;
  t.ok(shared, 'a plain accepted socket reads into the shared buffer');
  t.equal(
    (socket as unknown as { _handle: { onread: { name: string } } })._handle.onread.name,
    'onDirectRead',
    'its reads skip net’s dispatcher',
  );
  const parts = ['GET / HTTP/1.1\r\n', 'Host: a\r\n', `X-Long: ${'x'.repeat(100_000)}\r\n\r\n`];
  let sent = '';
  for (const part of parts) {
    c.write(part);
    sent += part;
    await eventually(() => text(reads).length >= sent.length);
  }
  t.equal(text(reads), parts.join(''), 'every byte, once, in order');
  t.ok(
    reads.every((r) => ownedBytes(r) === r),
    'copies are no longer views of the shared buffer',
  );
  socket.write('pong');
  const [answer] = (await once(c, 'data')) as [Buffer];
  t.equal(answer.toString(), 'pong', 'the socket writes to the client');
  c.end();
  await once(socket, 'end');
  t.pass('the client’s FIN arrives as end');
});

t.test('returning false stops reading until resume()', async (t) => {
  const { port, accepted } = await sharedReadsServer(t, true);
  const c = await client(port);
  t.teardown(() => c.destroy());
  const { socket, reads } = await accepted;
  c.write('first');
  await eventually(() => reads.length === 1);
  c.write('second');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(reads.length, 1, 'nothing read while stopped');
  socket.resume();
  await eventually(() => text(reads) === 'firstsecond');
  t.pass('reading resumes');
});

t.test('pause() stops the handle reading and resume() starts it again', async (t) => {
  const { port, accepted } = await sharedReadsServer(t);
  const c = await client(port);
  t.teardown(() => c.destroy());
  const { socket, reads } = await accepted;
  c.write('one');
  await eventually(() => text(reads) === 'one');
  socket.pause();
  c.write('two');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(text(reads), 'one', 'nothing read while paused');
  socket.resume();
  await eventually(() => text(reads) === 'onetwo');
  t.pass('reading resumes');
});

t.test('the socket stays the server’s connection, and is not switched twice', async (t) => {
  const { server, port, accepted } = await sharedReadsServer(t);
  const c = await client(port);
  t.teardown(() => c.destroy());
  const { socket, reads } = await accepted;
  t.equal(
    readIntoSharedBuffer(socket, { onDirectRead: () => true }),
    false,
    'a socket already reading into the buffer is refused',
  );
  c.write('still here');
  await eventually(() => text(reads) === 'still here');
  t.equal(text(reads), 'still here', 'its reads still go to the first target');
  let closed = false;
  server.close(() => {
    closed = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.notOk(closed, 'server.close() waits for the connection');
  socket.destroy();
  await eventually(() => closed);
  t.pass('and completes once it closes');
});

t.test('a TLS socket is left as it is', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-shared-reads-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pair = selfSignedCert(dir, 'reads.test');
  const server = createTlsServer({ cert: pair.cert, key: pair.key });
  const outcome = new Promise<{ shared: boolean; data: Buffer }>((resolve) => {
    server.once('secureConnection', (socket) => {
      const shared = readIntoSharedBuffer(socket, { onDirectRead: () => true });
      socket.once('data', (data: Buffer) => resolve({ shared, data }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const c = tlsConnect({
    port: (server.address() as AddressInfo).port,
    host: '127.0.0.1',
    rejectUnauthorized: false,
  });
  t.teardown(() => c.destroy());
  await once(c, 'secureConnect');
  c.write('over tls');
  const { shared, data } = await outcome;
  t.equal(shared, false, 'not switched');
  t.equal(data.toString(), 'over tls', 'its reads still come as data events');
});
