/**
 * Reads that skip net's dispatcher (gateway/direct-reads.ts) on real loopback sockets: a plain
 * socket made with `onread` gets them on this Node (this fails if a Node upgrade changes the
 * binding or the handle it relies on), data arrives whole and in order, returning false stops
 * reading until resume(), the end of the stream and a reset still reach the socket's 'end',
 * 'error' and 'close' as before, and a destroyed socket's reads stop. Inside a read's callback,
 * the gateway's clock (read-clock.ts) stays at the read's arrival.
 */
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import t, { type Test } from 'tap';
import { deliverReadsDirectly } from '../../gateway/direct-reads.js';
import { clockNow } from '../../gateway/read-clock.js';
import { eventually } from '../helpers/eventually.js';

/** A server that runs `onConnection` for each accepted socket. */
async function server(t: Test, onConnection: (s: Socket) => void): Promise<number> {
  const srv: Server = createServer(onConnection);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(() => srv.close());
  return (srv.address() as AddressInfo).port;
}

interface Reader {
  readonly socket: Socket;
  readonly reads: Buffer[];
  readonly direct: boolean;
  /** Whether the next read's callback stops reading. */
  stopNext: boolean;
}

/** A client socket reading into its own buffer through deliverReadsDirectly. */
async function reader(t: Test, port: number): Promise<Reader> {
  const buffer = Buffer.alloc(16 * 1024);
  const state = { reads: [] as Buffer[], stopNext: false };
  const target = {
    onDirectRead(n: number): boolean {
      state.reads.push(Buffer.from(buffer.subarray(0, n)));
      const stop = state.stopNext;
      state.stopNext = false;
      return !stop;
    },
  };
  const onread = { buffer, callback: (n: number) => target.onDirectRead(n) };
  const socket = connect({ port, host: '127.0.0.1', onread });
  const direct = deliverReadsDirectly(socket, target);
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');
  return {
    socket,
    direct,
    reads: state.reads,
    get stopNext() {
      return state.stopNext;
    },
    set stopNext(v: boolean) {
      state.stopNext = v;
    },
  };
}

const handleOnRead = (s: Socket): { name: string } =>
  (s as unknown as { _handle: { onread: { name: string } } })._handle.onread;

/** Deterministic bytes. */
function payload(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + (i >> 10)) & 0xff;
  return b;
}

t.test('reads of data go straight to the callback, whole and in order', async (t) => {
  const data = payload(4 * 1024 * 1024);
  const port = await server(t, (s) => s.end(data));
  const r = await reader(t, port);
  t.equal(r.direct, true, 'taken on this Node');
  t.equal(handleOnRead(r.socket).name, 'onDirectRead', 'the handle calls the direct reader');
  await once(r.socket, 'end');
  t.ok(r.reads.length > 1, `${r.reads.length} reads`);
  t.ok(Buffer.concat(r.reads).equals(data), 'every byte once, in order');
});

t.test('returning false stops reading until resume()', async (t) => {
  const data = payload(2 * 1024 * 1024);
  const port = await server(t, (s) => s.end(data));
  const r = await reader(t, port);
  r.stopNext = true;
  await eventually(() => r.reads.length === 1, { what: 'the first read' });
  await new Promise((resolve) => setTimeout(resolve, 150));
  t.equal(r.reads.length, 1, 'no read after the callback said stop');
  r.socket.resume();
  await once(r.socket, 'end');
  t.ok(Buffer.concat(r.reads).equals(data), 'the rest arrives after resume()');
});

t.test("a peer's end still ends the socket", async (t) => {
  const port = await server(t, (s) => s.end('bye'));
  const r = await reader(t, port);
  const ended = once(r.socket, 'end');
  const closed = once(r.socket, 'close');
  await ended;
  await closed;
  t.equal(Buffer.concat(r.reads).toString(), 'bye');
});

t.test('a reset still reaches the socket as an error', async (t) => {
  const port = await server(t, (s) => {
    s.write('partial');
    setTimeout(() => s.resetAndDestroy(), 50);
  });
  const r = await reader(t, port);
  const [err] = (await once(r.socket, 'error')) as [NodeJS.ErrnoException];
  t.equal(err.code, 'ECONNRESET');
  t.equal(Buffer.concat(r.reads).toString(), 'partial');
});

t.test('no read reaches the target once the socket is destroyed', async (t) => {
  // The direct reader does not look at the socket: it relies on Node pointing a destroyed
  // plain socket's handle at a no-op reader in the same call.
  const data = payload(4 * 1024 * 1024);
  const port = await server(t, (s) => {
    s.on('error', () => {});
    s.end(data);
  });
  const buffer = Buffer.alloc(16 * 1024);
  let reads = 0;
  const target = {
    onDirectRead(): boolean {
      reads++;
      socket.destroy();
      return true;
    },
  };
  const socket = connect({ port, host: '127.0.0.1', onread: { buffer, callback: () => true } });
  t.equal(deliverReadsDirectly(socket, target), true);
  await once(socket, 'close');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(reads, 1, 'the read that destroyed it, and none after');
});

t.test('a socket without its handle is left alone', async (t) => {
  const socket = connect({ port: 9, host: '127.0.0.1' });
  socket.on('error', () => {});
  socket.destroy();
  t.equal(deliverReadsDirectly(socket, { onDirectRead: () => true }), false);
});

t.test('a read callback sees one clock: when its read arrived', async (t) => {
  const port = await server(t, (s) => s.end('tick'));
  const buffer = Buffer.alloc(1024);
  const seen: { arrived: number; later: number; before: number; after: number }[] = [];
  const onDirectRead = (): boolean => {
    const before = performance.now();
    const arrived = clockNow();
    // Time passes inside the callback; the clock does not.
    while (performance.now() - before < 2);
    seen.push({ arrived, later: clockNow(), before, after: performance.now() });
    return true;
  };
  const socket = connect({ port, host: '127.0.0.1', onread: { buffer, callback: onDirectRead } });
  t.teardown(() => socket.destroy());
  t.equal(deliverReadsDirectly(socket, { onDirectRead }), true);
  await once(socket, 'close');
  t.equal(seen.length, 1, 'one read');
  const s = seen[0]!;
  t.ok(s.arrived > 0 && s.arrived <= s.before, 'the time the read arrived');
  t.equal(s.later, s.arrived, 'the same time later in the callback');
  const outside = clockNow();
  t.ok(outside >= s.after, 'outside the callback, the time now');
  const pause = performance.now();
  while (performance.now() - pause < 1);
  t.ok(clockNow() > outside, 'which moves');
});
