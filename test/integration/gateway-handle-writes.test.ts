/**
 * Handle writes (gateway/handle-writes.ts) on real loopback sockets: writes go to the handle on
 * this Node (this fails if a Node upgrade takes away what they rely on), bytes arrive whole and
 * in order when the peer stops reading and writes queue in libuv — mixed with socket.write()
 * calls — the writer reports when its queue drains, failures destroy the socket with a system
 * error, and TLS sockets, destroyed ones or a Writable holding bytes take socket.write(). The
 * edge and the upstream client on top of it are covered end to end in gateway-edge.test.ts,
 * gateway-edge-connections.test.ts and gateway-upstream-pool.test.ts.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import t, { type Test } from 'tap';
import { HandleWriter, handleWritesAvailable } from '../../gateway/handle-writes.js';
import { eventually } from '../helpers/eventually.js';
import { selfSignedCert } from '../helpers/self-signed.js';

/**
 * A connected pair of plain TCP sockets: `local` is written to, `peer` reads. `local` reads
 * with `onread`, so that pausing it stops its reads in libuv: a reset from the peer is then
 * seen by a write, not by a read.
 */
async function socketPair(t: Test): Promise<{ local: Socket; peer: Socket }> {
  const server: Server = createServer();
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const local = connect({
    port: (server.address() as AddressInfo).port,
    host: '127.0.0.1',
    onread: { buffer: Buffer.alloc(1024), callback: () => true },
  });
  await once(local, 'connect');
  const [peer] = await accepted;
  t.teardown(() => {
    local.destroy();
    peer.destroy();
    server.close();
  });
  return { local, peer };
}

/** Everything `socket` receives, as latin1 text so far. */
function collect(socket: Socket): { text: () => string; length: () => number } {
  const chunks: Buffer[] = [];
  let length = 0;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
  });
  return { text: () => Buffer.concat(chunks).toString('latin1'), length: () => length };
}

/** A latin1 string of `size` bytes that names its index throughout. */
function block(index: number, size: number): string {
  const tag = `<${index}>`;
  return tag.repeat(Math.ceil(size / tag.length)).slice(0, size);
}

t.test('writes go to the handle on this Node and arrive in order', async (t) => {
  t.ok(handleWritesAvailable, 'process.binding("stream_wrap") offers what handle writes need');
  const { local, peer } = await socketPair(t);
  const received = collect(peer);
  const writer = new HandleWriter(local);
  const parts = ['HTTP/1.1 200 OK\r\n', 'content-length: 2\r\n\r\n', 'ok', 'ÿ\u00e9latin1'];
  for (const part of parts) writer.write(part);
  t.equal(writer.handleWrites, parts.length, 'every write went to the handle');
  await eventually(() => received.length() === Buffer.byteLength(parts.join(''), 'latin1'), {
    what: 'all bytes',
  });
  t.equal(received.text(), parts.join(''));
  t.equal(writer.unsent, 0);
});

t.test('a peer that stops reading: writes queue, keep their order, and drain', async (t) => {
  const { local, peer } = await socketPair(t);
  peer.pause();
  let drained = 0;
  const writer = new HandleWriter(local, () => drained++);
  const size = 256 * 1024;
  const count = 64; // 16 MiB: far more than the loopback socket buffers take
  let expected = '';
  for (let i = 0; i < count; i++) {
    const text = block(i, size);
    expected += text;
    // Every fourth write through the socket's Writable: the two paths interleave.
    if (i % 4 === 3) local.write(text, 'latin1');
    else writer.write(text);
  }
  t.ok(writer.unsent > 0, `bytes wait to be sent (${writer.unsent})`);
  t.ok(writer.handleWrites > 0 && writer.handleWrites < count - count / 4, 'some writes fell back');
  const received = collect(peer);
  peer.resume();
  await eventually(() => received.length() === expected.length, {
    what: 'all 16 MiB',
    timeoutMs: 20_000,
  });
  t.ok(received.text() === expected, 'the bytes arrived in the order they were written');
  await eventually(() => writer.unsent === 0, { what: 'nothing left unsent' });
  t.ok(drained >= 1, 'the writer reported its queue drained');
});

t.test('a write that fails destroys the socket with a system error', async (t) => {
  const { local, peer } = await socketPair(t);
  local.pause(); // stops reading: the reset is seen by the write
  const errors: NodeJS.ErrnoException[] = [];
  local.on('error', (err: NodeJS.ErrnoException) => errors.push(err));
  const closed = new Promise((resolve) => local.once('close', resolve));
  peer.resetAndDestroy();
  await once(peer, 'close');
  const writer = new HandleWriter(local);
  await eventually(
    () => {
      if (!local.destroyed) writer.write('GET / HTTP/1.1\r\n\r\n');
      return local.destroyed;
    },
    { what: 'the socket destroyed by a failed write' },
  );
  await closed; // 'error' comes before 'close'
  t.equal(errors.length, 1);
  t.match(errors[0]!.code, /^(ECONNRESET|EPIPE)$/, `a system error code (${errors[0]!.code})`);
  t.equal(errors[0]!.syscall, 'write');
});

t.test('a queued write that fails destroys the socket', async (t) => {
  const { local, peer } = await socketPair(t);
  local.pause();
  peer.pause();
  const errors: NodeJS.ErrnoException[] = [];
  local.on('error', (err: NodeJS.ErrnoException) => errors.push(err));
  const closed = new Promise((resolve) => local.once('close', resolve));
  const writer = new HandleWriter(local);
  for (let i = 0; i < 64 && writer.unsent === 0; i++) writer.write(block(i, 256 * 1024));
  t.ok(writer.unsent > 0, 'a write is queued');
  peer.resetAndDestroy();
  await closed;
  t.equal(errors.length, 1);
  t.match(errors[0]!.code, /^(ECONNRESET|EPIPE)$/, `a system error code (${errors[0]!.code})`);
  t.equal(errors[0]!.syscall, 'write', 'reported by the queued write');
  t.equal(writer.unsent, 0, 'the failed write is no longer counted');
});

t.test('bytes in the Writable first: the write takes socket.write() behind them', async (t) => {
  const { local, peer } = await socketPair(t);
  const received = collect(peer);
  const writer = new HandleWriter(local);
  local.cork();
  local.write('first ', 'latin1');
  writer.write('second');
  t.equal(writer.handleWrites, 0, 'not written to the handle ahead of the corked bytes');
  local.uncork();
  await eventually(() => received.length() === 12, { what: 'both writes' });
  t.equal(received.text(), 'first second');
});

t.test('a destroyed socket: the write takes socket.write(), which drops it', async (t) => {
  // The writer does not ask `destroyed`: it relies on Node dropping a plain socket's handle in
  // the same call that destroys it.
  const { local, peer } = await socketPair(t);
  const received = collect(peer);
  const writer = new HandleWriter(local);
  writer.write('before');
  await eventually(() => received.length() === 6, { what: 'the first write' });
  local.destroy();
  writer.write('after');
  t.equal(writer.handleWrites, 1, 'only the first write reached the handle');
  await once(peer, 'end');
  t.equal(received.text(), 'before', 'nothing after the destroy');
});

t.test('TLS sockets take socket.write()', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-handle-writes-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { key, cert } = selfSignedCert(dir, 'writes.test');
  const server = createTlsServer({ key, cert });
  const accepted = new Promise<Socket>((resolve) => server.once('secureConnection', resolve));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const local = tlsConnect({
    port: (server.address() as AddressInfo).port,
    host: '127.0.0.1',
    rejectUnauthorized: false,
  });
  await once(local, 'secureConnect');
  const peer = await accepted;
  t.teardown(() => {
    local.destroy();
    peer.destroy();
    server.close();
  });
  const received = collect(peer);
  const writer = new HandleWriter(local);
  writer.write('over TLS');
  t.equal(writer.handleWrites, 0);
  await eventually(() => received.length() === 8, { what: 'the bytes' });
  t.equal(received.text(), 'over TLS');
});
