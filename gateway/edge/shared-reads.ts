/**
 * Client reads into one shared buffer (docs/adr/0007-gateway-hot-path.md). A socket accepted by
 * a node:http server reads through its Readable: every read allocates a new ArrayBuffer (which
 * the young-generation GC then sweeps), wraps it in a Buffer, and runs the stream's buffering
 * and 'data' emission. Node's `onread` option avoids all of that — reads land in one buffer
 * and go straight to a callback — but Node 20 offers it only to sockets it connects, not to
 * those a server accepts.
 *
 * So the edge moves an accepted socket's handle into a new net.Socket constructed with
 * `onread`, as Node's own server builds a socket around each accepted handle, and passes the
 * server's connection accounting (`_server`) along so `server.close()` still waits for it.
 * Reads of data then skip net's read dispatcher too (`deliverReadsDirectly`).
 * That relies on two private fields of net.Socket, `_handle` and `_server`. Where they are not
 * what this expects — a TLS socket, a stand-in, another Node — the socket is left alone and
 * its reads keep coming as 'data' events (test/integration/gateway-edge-shared-reads.test.ts
 * fails if a Node upgrade makes that the case for plain sockets).
 */
import { Buffer } from 'node:buffer';
import { Socket, type SocketConstructorOpts } from 'node:net';
import { type DirectReadTarget, deliverReadsDirectly } from '../direct-reads.js';

/** Every adopted socket reads into this; a read is overwritten by the next. */
const sharedReadBuffer = Buffer.allocUnsafeSlow(64 * 1024);

/** net.Socket's private fields this relies on. */
interface SocketInternals {
  _handle: { readStart?: unknown; useUserBuffer?: unknown } | null;
  _server: unknown;
  server: unknown;
}

/**
 * The bytes of the read being delivered: a view of the shared buffer, valid only until the
 * read's callback returns (copy what must outlive it: `ownedBytes`).
 */
export function sharedRead(bytes: number): Buffer {
  return sharedReadBuffer.subarray(0, bytes);
}

/**
 * Moves `socket`'s handle to a new socket whose reads go to `target` (the read's bytes are
 * `sharedRead(bytes)`; returning false stops reading, as `socket.pause()` does), and returns
 * that socket; `socket` must not be used afterwards. Returns undefined (and leaves `socket`
 * untouched) when the socket is not a plain accepted net.Socket with nothing read yet.
 */
export function adoptWithSharedReads(socket: Socket, target: DirectReadTarget): Socket | undefined {
  if (Object.getPrototypeOf(socket) !== Socket.prototype) return undefined; // TLS, stand-ins
  if (socket.destroyed || socket.readableLength > 0 || socket.listenerCount('data') > 0) {
    return undefined;
  }
  const original = socket as unknown as SocketInternals;
  const handle = original._handle;
  if (
    handle === null ||
    typeof handle !== 'object' ||
    typeof handle.readStart !== 'function' ||
    typeof handle.useUserBuffer !== 'function'
  ) {
    return undefined;
  }
  const options: SocketConstructorOpts & { handle: object; onread: object } = {
    handle,
    allowHalfOpen: socket.allowHalfOpen,
    readable: true,
    writable: true,
    onread: { buffer: sharedReadBuffer, callback: (n: number) => target.onDirectRead(n) },
  };
  const adopted = new Socket(options);
  deliverReadsDirectly(adopted, target);
  const moved = adopted as unknown as SocketInternals;
  moved.server = original.server;
  moved._server = original._server;
  // The original no longer owns the handle or counts as the server's connection.
  original._server = null;
  original._handle = null;
  return adopted;
}

/** `chunk` itself, or a copy of it when it is a view of the shared read buffer. */
export function ownedBytes(chunk: Buffer): Buffer {
  return chunk.buffer === sharedReadBuffer.buffer ? Buffer.from(chunk) : chunk;
}
