/**
 * The edge's shared client reads (gateway/edge/shared-reads.ts) on real loopback sockets: a
 * plain node:http server's accepted socket is adopted (this fails if a Node upgrade changes
 * the private fields it relies on), its reads arrive whole and in order, returning false stops
 * reading, the server's connection accounting follows the adopted socket, the original no
 * longer owns the connection, and TLS sockets are left as they are. The edge on top of it is
 * covered end to end in gateway-edge.test.ts (pipelining, fallback to Node's server, upgrades).
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import t, { type Test } from 'tap';
import { adoptWithSharedReads, ownedBytes, sharedRead } from '../../gateway/edge/shared-reads.js';
import { eventually } from '../helpers/eventually.js';
import { selfSignedCert } from '../helpers/self-signed.js';

interface Accepted {
  readonly original: Socket;
  readonly adopted: Socket | undefined;
  readonly reads: Buffer[];
}

/** A node:http server whose connections are adopted; `stopAfterFirst` returns false once. */
async function adoptingServer(
  t: Test,
  stopAfterFirst = false,
): Promise<{ server: Server; port: number; accepted: Promise<Accepted> }> {
  const server = createServer();
  server.removeAllListeners('connection');
  const accepted = new Promise<Accepted>((resolve) => {
    server.once('connection', (original: Socket) => {
      const reads: Buffer[] = [];
      const adopted = adoptWithSharedReads(original, {
        onDirectRead(bytes: number): boolean {
          reads.push(ownedBytes(sharedRead(bytes)));
          return !(stopAfterFirst && reads.length === 1);
        },
      });
      resolve({ original, adopted, reads });
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
  const { port, accepted } = await adoptingServer(t);
  const c = await client(port);
  t.teardown(() => c.destroy());
  const { adopted, reads } = await accepted;
  t.ok(adopted, 'a plain accepted socket is adopted');
  t.equal(
    (adopted as unknown as { _handle: { onread: { name: string } } })._handle.onread.name,
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
  adopted!.write('pong');
  const [answer] = (await once(c, 'data')) as [Buffer];
  t.equal(answer.toString(), 'pong', 'the adopted socket writes to the client');
  c.end();
  await once(adopted!, 'end');
  t.pass('the client’s FIN arrives as end');
});

t.test('returning false stops reading until resume()', async (t) => {
  const { port, accepted } = await adoptingServer(t, true);
  const c = await client(port);
  t.teardown(() => c.destroy());
  const { adopted, reads } = await accepted;
  c.write('first');
  await eventually(() => reads.length === 1);
  c.write('second');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(reads.length, 1, 'nothing read while stopped');
  adopted!.resume();
  await eventually(() => text(reads) === 'firstsecond');
  t.pass('reading resumes');
});

t.test('the server counts the adopted socket, not the original', async (t) => {
  const { server, port, accepted } = await adoptingServer(t);
  const c = await client(port);
  t.teardown(() => c.destroy());
  const { original, adopted, reads } = await accepted;
  original.destroy();
  c.write('still here');
  await eventually(() => text(reads) === 'still here');
  t.notOk(adopted!.destroyed, 'destroying the original leaves the connection alone');
  let closed = false;
  server.close(() => {
    closed = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.notOk(closed, 'server.close() waits for the adopted connection');
  adopted!.destroy();
  await eventually(() => closed);
  t.pass('and completes once it closes');
});

t.test('a TLS socket is left as it is', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-shared-reads-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pair = selfSignedCert(dir, 'reads.test');
  const server = createTlsServer({ cert: pair.cert, key: pair.key });
  const outcome = new Promise<{ adopted: Socket | undefined; data: Buffer }>((resolve) => {
    server.once('secureConnection', (socket) => {
      const adopted = adoptWithSharedReads(socket, { onDirectRead: () => true });
      socket.once('data', (data: Buffer) => resolve({ adopted, data }));
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
  const { adopted, data } = await outcome;
  t.equal(adopted, undefined, 'not adopted');
  t.equal(data.toString(), 'over tls', 'its reads still come as data events');
});
