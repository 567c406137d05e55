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
 * A writer made with `holdToTurnEnd` (the edge's, towards clients) holds its writes until the
 * end of the event-loop turn (a setImmediate, after every event the poll returned has been
 * handled) and sends them then as one: the client gets the turn's responses together and takes
 * them in one wakeup instead of one each. Whoever writes to such a socket by other means
 * (socket.write(), end(), handing it on) calls flush() first.
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
import process from 'node:process';
import { TLSSocket } from 'node:tls';
import { getSystemErrorName } from 'node:util';

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

interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

function loadBinding(): StreamWrapBinding | undefined {
  try {
    const binding = (
      process as unknown as { binding(name: string): Partial<StreamWrapBinding> }
    ).binding('stream_wrap');
    if (
      typeof binding.WriteWrap === 'function' &&
      binding.streamBaseState instanceof Int32Array &&
      typeof binding.kLastWriteWasAsync === 'number' &&
      binding.kLastWriteWasAsync < binding.streamBaseState.length
    ) {
      return binding as StreamWrapBinding;
    }
  } catch {
    // Not offered (a future Node, a permission model): plain socket writes.
  }
  return undefined;
}

const binding = loadBinding();

/** True when writes can go to stream handles directly on this Node. */
export const handleWritesAvailable = binding !== undefined;

function writeError(status: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  const err: NodeJS.ErrnoException = new Error(`write ${code}`);
  err.code = code;
  err.errno = status;
  err.syscall = 'write';
  return err;
}

function onQueuedWriteDone(this: WriteRequest, status: number): void {
  const writer = this.writer;
  this.writer = null;
  writer?.queuedWriteDone(this.bytes, status);
}

/** A request object no write holds (writes that finish at once leave it free). */
let spare: WriteRequest | undefined;

function takeRequest(api: StreamWrapBinding): WriteRequest {
  const req = spare ?? new api.WriteWrap();
  spare = undefined;
  req.oncomplete = onQueuedWriteDone;
  req.async = false;
  req.buffer = null;
  return req;
}

/** Writers holding text for the end of this event-loop turn. */
let waiting: HandleWriter[] = [];
let flushScheduled = false;

function flushWaiting(): void {
  const writers = waiting;
  waiting = [];
  flushScheduled = false;
  for (let i = 0; i < writers.length; i++) writers[i]!.flushAtTurnEnd();
}

export interface HandleWriterOptions {
  /** Queued bytes were all written (the socket's Writable may still hold some). */
  readonly onDrained?: () => void;
  /** Hold writes until the end of the event-loop turn and send them together (default false). */
  readonly holdToTurnEnd?: boolean;
}

/**
 * Writes latin1 strings to one socket, straight to its stream handle when it can (plain TCP
 * sockets; a TLS socket's or a stand-in's writes always take socket.write()).
 */
export class HandleWriter {
  /** Bytes of handle writes that libuv queued and has not finished (whole writes). */
  private queued = 0;
  /** Text held this turn (`holdToTurnEnd`), not yet handed to the socket. */
  private waitingText = '';
  private readonly direct: boolean;
  private readonly holdToTurnEnd: boolean;
  private readonly onDrained: (() => void) | undefined;
  /** Writes that went to the handle (the rest took socket.write()). */
  handleWrites = 0;

  constructor(
    private readonly socket: Socket,
    options: HandleWriterOptions = {},
  ) {
    this.direct =
      binding !== undefined && socket instanceof Socket && !(socket instanceof TLSSocket);
    this.holdToTurnEnd = options.holdToTurnEnd === true;
    this.onDrained = options.onDrained;
  }

  /** Bytes handed over and not yet taken by the kernel (here and in the socket's Writable). */
  get unsent(): number {
    return this.waitingText.length + this.queued + this.socket.writableLength;
  }

  /**
   * Writes `text` (latin1) after everything written before it: with `holdToTurnEnd`, at the end
   * of this turn together with the turn's other writes, on a socket whose handle takes them;
   * otherwise at once.
   */
  write(text: string): void {
    if (!this.direct) {
      this.socket.write(text, 'latin1');
      return;
    }
    if (!this.holdToTurnEnd) {
      this.writeNow(text);
      return;
    }
    if (this.waitingText === '') {
      waiting.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushWaiting);
      }
    }
    this.waitingText += text;
  }

  /** Hands the text held this turn to the socket now (before writing to it by other means). */
  flush(): void {
    const text = this.waitingText;
    if (text === '') return;
    this.waitingText = '';
    if (this.socket.destroyed) return; // nowhere to go, as with a write to a destroyed socket
    this.writeNow(text);
  }

  /**
   * At the turn's end (flushWaiting): the waiting text goes out, and a writer waiting for its
   * queue to empty hears of it when it all went at once.
   */
  flushAtTurnEnd(): void {
    if (this.waitingText === '') return;
    this.flush();
    if (this.queued === 0 && this.socket.writableLength === 0 && !this.socket.destroyed) {
      this.onDrained?.();
    }
  }

  private writeNow(text: string): void {
    const socket = this.socket;
    const handle = (socket as unknown as { _handle: StreamHandle | null })._handle;
    if (
      handle === null ||
      typeof handle.writeLatin1String !== 'function' ||
      socket.writableLength !== 0 ||
      socket.connecting ||
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
      socket.destroy(writeError(status));
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
      this.socket.destroy(writeError(status));
      return;
    }
    if (this.queued === 0) this.onDrained?.();
  }
}
