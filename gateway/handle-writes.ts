/**
 * Writes that skip net.Socket's Writable (docs/adr/0009-gateway-handle-writes.md). A
 * `socket.write()` of a small string costs more in Node 20 than the system call it makes: the
 * Writable's bookkeeping, a new WriteWrap request object (created through a C++ constructor
 * callback), and a process.nextTick to report a write that had in fact finished at once.
 *
 * The gateway's hot path writes each request head and each whole small response as one latin1
 * string, so it hands that string to the socket's libuv stream handle itself, as net.Socket
 * would: the handle tries the write at once and queues in libuv only what the kernel did not
 * take. The request object is reused while writes finish at once, and a write that had to be
 * queued reports to its HandleWriter when done, which passes failures on by destroying the
 * socket (as net.Socket does).
 *
 * Order is kept: a write goes to the handle only while the socket's Writable holds nothing
 * (libuv itself queues a write behind its own pending ones); otherwise, and whenever the
 * socket is not a connected stream with the expected handle, it falls back to socket.write().
 * This relies on `process.binding('stream_wrap')` (WriteWrap, the last-write state) and on
 * net.Socket's private `_handle`. Where those are not what this expects, every write is a
 * plain socket.write() (test/integration/gateway-handle-writes.test.ts fails if a Node
 * upgrade makes that so).
 */
import { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { isStateSlot, streamWrap, systemError } from './stream-binding.js';

/** The request object libuv writes carry (Node's WriteWrap). */
interface WriteRequest {
  oncomplete: (this: WriteRequest, status: number) => void;
  async: boolean;
  bytes: number;
  buffer: null;
  /** Whose queued write this is (while it is queued). */
  writer: HandleWriter | null;
}

interface StreamHandle {
  writeLatin1String(req: WriteRequest, text: string): number;
}

/** The parts of the stream binding handle writes use. */
interface WriteBinding {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

function writeBinding(): WriteBinding | undefined {
  const b = streamWrap;
  if (
    b !== undefined &&
    typeof b.WriteWrap === 'function' &&
    isStateSlot(b.streamBaseState, b.kLastWriteWasAsync)
  ) {
    return b as WriteBinding;
  }
  return undefined; // plain socket writes
}

const binding = writeBinding();

/** True when writes can go to stream handles directly on this Node. */
export const handleWritesAvailable = binding !== undefined;

function onQueuedWriteDone(this: WriteRequest, status: number): void {
  const writer = this.writer;
  this.writer = null;
  writer?.queuedWriteDone(this.bytes, status);
}

/** A request object no write holds (writes that finish at once leave it free). */
let spare: WriteRequest | undefined;

function takeRequest(api: WriteBinding): WriteRequest {
  const req = spare ?? new api.WriteWrap();
  spare = undefined;
  req.oncomplete = onQueuedWriteDone;
  req.async = false;
  req.buffer = null;
  return req;
}

/**
 * What a HandleWriter writes to: a net.Socket, or a stand-in for one on a plain TCP handle
 * (gateway/edge/handle-socket.ts), which says so with `plainStreamHandle`.
 */
export interface HandleWritable {
  readonly connecting: boolean;
  readonly writableLength: number;
  readonly writableEnded: boolean;
  readonly plainStreamHandle?: boolean;
  write(text: string, encoding: 'latin1'): boolean;
  destroy(error?: Error): unknown;
}

/**
 * Writes latin1 strings to one socket, straight to its stream handle when it can (plain TCP
 * sockets and handle stand-ins; a TLS socket's or another stand-in's writes always take
 * socket.write()).
 */
export class HandleWriter {
  /** Bytes of handle writes that libuv queued and has not finished (whole writes). */
  private queued = 0;
  private readonly direct: boolean;
  /** Writes that went to the handle (the rest took socket.write()). */
  handleWrites = 0;

  /** `onDrained`: queued bytes were all written (the socket's Writable may still hold some). */
  constructor(
    private readonly socket: HandleWritable,
    private readonly onDrained?: () => void,
  ) {
    this.direct =
      binding !== undefined &&
      ((socket instanceof Socket && !(socket instanceof TLSSocket)) ||
        socket.plainStreamHandle === true);
  }

  /** Bytes handed over and not yet taken by the kernel (here and in the socket's Writable). */
  get unsent(): number {
    return this.queued + this.socket.writableLength;
  }

  /** Writes `text` (latin1) after everything written before it. */
  write(text: string): void {
    const socket = this.socket;
    // A destroyed plain socket has no handle: Node drops it in the same call. So `destroyed`,
    // which reads the socket's Readable state too (one more object to bring into the cache),
    // need not be asked.
    const handle = (socket as unknown as { _handle: StreamHandle | null })._handle;
    if (
      !this.direct ||
      handle === null ||
      typeof handle.writeLatin1String !== 'function' ||
      socket.connecting ||
      socket.writableLength !== 0 ||
      socket.writableEnded
    ) {
      socket.write(text, 'latin1');
      return;
    }
    const api = binding!;
    const req = takeRequest(api);
    req.bytes = text.length;
    req.writer = this;
    this.handleWrites++;
    const status = handle.writeLatin1String(req, text);
    if (status !== 0) {
      // Not reused: a write that failed after queueing has had native state attached to it.
      req.writer = null;
      socket.destroy(systemError(status, 'write'));
      return;
    }
    if (api.streamBaseState[api.kLastWriteWasAsync] !== 0) {
      // Queued in libuv: the request is libuv's until it completes.
      this.queued += text.length;
      return;
    }
    req.writer = null;
    spare = req;
  }

  /** A queued write finished (`status` < 0: it failed). */
  queuedWriteDone(bytes: number, status: number): void {
    this.queued -= bytes;
    if (status < 0) {
      this.socket.destroy(systemError(status, 'write'));
      return;
    }
    if (this.queued === 0) this.onDrained?.();
  }
}
