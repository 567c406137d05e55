/**
 * Client reads into one shared buffer (docs/adr/0007-gateway-hot-path.md). A socket accepted by
 * a node:http server reads through its Readable: every read allocates a new ArrayBuffer (which
 * the young-generation GC then sweeps), wraps it in a Buffer, and runs the stream's buffering
 * and 'data' emission. Node's `onread` option avoids all of that — reads land in one buffer
 * and go straight to a callback — but Node 20 offers it only to sockets it constructs, not to
 * those a server accepts.
 *
 * So the edge gives an accepted socket what the option would have given it: its handle reads
 * into the shared buffer (the handle's `useUserBuffer`, which the option calls), and the socket
 * holds that buffer and a callback under net.Socket's private symbols for them, which its
 * `read()` and `pause()` look at to start and stop the handle's reads. The symbols are found
 * once, on a socket constructed with the option. Reads of data then skip net's read dispatcher
 * too (`deliverReadsDirectly`). (Moving the handle into a second net.Socket constructed with
 * `onread` gives the same reads, at the cost of a second socket per connection.)
 * Where the socket or its handle are not what this expects — a TLS socket, a stand-in, another
 * Node — the socket is left alone and its reads keep coming as 'data' events
 * (test/integration/gateway-edge-shared-reads.test.ts fails if a Node upgrade makes that the
 * case for plain sockets).
 */
import { Buffer } from 'node:buffer';
import { Socket, type SocketConstructorOpts } from 'node:net';
import { type DirectReadTarget, deliverReadsDirectly } from '../direct-reads.js';

/** Every socket reading into it sees its read overwritten by the next. */
export const sharedReadBuffer = Buffer.allocUnsafeSlow(64 * 1024);

/** net.Socket's private symbols for an `onread` buffer and its callback. */
interface ReadSymbols {
  readonly buffer: symbol;
  readonly callback: symbol;
}

/** Finds the symbols on a socket constructed with `onread` (undefined when not there). */
function findReadSymbols(): ReadSymbols | undefined {
  const buffer = Buffer.alloc(1);
  const callback = (): boolean => true;
  const options: SocketConstructorOpts & { onread: object } = { onread: { buffer, callback } };
  const probe = new Socket(options);
  const own = probe as unknown as Record<symbol, unknown>;
  let bufferSymbol: symbol | undefined;
  let callbackSymbol: symbol | undefined;
  for (const s of Object.getOwnPropertySymbols(probe)) {
    if (own[s] === buffer) bufferSymbol = s;
    else if (own[s] === callback) callbackSymbol = s;
  }
  probe.destroy();
  if (bufferSymbol === undefined || callbackSymbol === undefined) return undefined;
  return { buffer: bufferSymbol, callback: callbackSymbol };
}

const readSymbols = findReadSymbols();

/**
 * The bytes of the read being delivered: a view of the shared buffer, valid only until the
 * read's callback returns (copy what must outlive it: `ownedBytes`).
 */
export function sharedRead(bytes: number): Buffer {
  return sharedReadBuffer.subarray(0, bytes);
}

/**
 * Makes `socket`'s reads land in the shared buffer and go to `target` (the read's bytes are
 * `sharedRead(bytes)`; returning false stops reading, as `socket.pause()` does, and
 * `socket.resume()` starts it again). Returns false, changing nothing, when the socket is not a
 * plain accepted net.Socket with nothing read yet.
 */
export function readIntoSharedBuffer(socket: Socket, target: DirectReadTarget): boolean {
  if (readSymbols === undefined) return false;
  if (Object.getPrototypeOf(socket) !== Socket.prototype) return false; // TLS, stand-ins
  if (socket.destroyed || socket.readableLength > 0 || socket.listenerCount('data') > 0) {
    return false;
  }
  const fields = socket as unknown as Record<symbol, unknown> & {
    _handle: { useUserBuffer?: unknown } | null;
  };
  const handle = fields._handle;
  if (
    handle === null ||
    typeof handle !== 'object' ||
    typeof handle.useUserBuffer !== 'function' ||
    fields[readSymbols.buffer] !== null
  ) {
    return false;
  }
  (handle.useUserBuffer as (buffer: Buffer) => void).call(handle, sharedReadBuffer);
  fields[readSymbols.buffer] = sharedReadBuffer;
  // Net's dispatcher calls the callback only where reads do not skip it.
  if (!deliverReadsDirectly(socket, target)) {
    fields[readSymbols.callback] = (n: number): boolean => target.onDirectRead(n);
  }
  return true;
}

/** `chunk` itself, or a copy of it when it is a view of the shared read buffer. */
export function ownedBytes(chunk: Buffer): Buffer {
  return chunk.buffer === sharedReadBuffer.buffer ? Buffer.from(chunk) : chunk;
}
