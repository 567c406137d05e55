/**
 * A plain TCP client connection served on its libuv handle, with no net.Socket until it needs
 * one (docs/adr/0010-edge-on-tcp-handles.md). Node builds a net.Socket for every connection a
 * server accepts; for the edge's common case — bodiless requests answered by whole responses,
 * read into the shared buffer and written straight to the handle — that socket only costs: its
 * construction, its close path and the objects a young-generation GC then copies were most of
 * what a new connection cost the gateway.
 *
 * So the edge takes the server's accepted handles (accepted-handles.ts) and wraps each in a
 * HandleSocket: reads go from the handle to the edge connection, the end of the stream and
 * errors arrive as 'end' and 'error' (then 'close' once the handle is closed), and whole
 * writes go to the handle through HandleWriter as for a socket. The first time the connection
 * needs what only a socket gives — a response streamed in pieces, a hand-off to Node's HTTP
 * server, an end after a last write — the HandleSocket is promoted: a net.Socket is built on
 * the same handle (libuv keeps the order of writes already queued on it), its reads are put
 * back on the shared buffer, the listeners move to it, and from then on every call goes to it.
 *
 * The server's connection count is kept as for a socket of its own, so `server.close()` still
 * waits for these connections.
 */
import { Socket, type SocketConstructorOpts } from 'node:net';
import { type DirectReadTarget, deliverRead } from '../direct-reads.js';
import { isStateSlot, streamWrap, systemError } from '../stream-binding.js';
import type { EdgeSocket } from './edge-socket.js';
import { readIntoSharedBuffer, sharedReadBuffer } from './shared-reads.js';

/** The parts of an accepted libuv TCP handle (Node's TCPWrap) a HandleSocket uses. */
export interface AcceptedHandle {
  onread: (this: AcceptedHandle, arrayBuffer: unknown) => unknown;
  reading: boolean;
  useUserBuffer(buffer: Buffer): void;
  readStart(): number;
  readStop(): number;
  setNoDelay(on: boolean): number;
  getpeername(out: { address?: string; port?: number }): number;
  readonly bytesRead: number;
  close(callback: () => void): void;
}

/** The server fields Node's own accept and close paths keep (net.Server's `_connections`). */
export interface ConnectionCounter {
  _connections: number;
  _emitCloseIfDrained?: () => void;
  readonly allowHalfOpen?: boolean;
}

type Listener = () => void;
type Event = 'drain' | 'close' | 'end' | 'error';
const EVENTS: readonly Event[] = ['drain', 'close', 'end', 'error'];

/** libuv's end-of-stream read status (UV_EOF), the same on every platform. */
const UV_EOF = -4095;
const OWNER = Symbol('handleSocket');

const readState = isStateSlot(streamWrap?.streamBaseState, streamWrap?.kReadBytesOrError)
  ? { state: streamWrap!.streamBaseState as Int32Array, slot: streamWrap!.kReadBytesOrError }
  : undefined;

/** True when this Node lets the edge serve accepted TCP handles without sockets. */
export const handleSocketsAvailable = readState !== undefined;

interface OwnedHandle extends AcceptedHandle {
  [OWNER]: HandleSocket;
}

function noRead(): undefined {
  return undefined;
}

function onHandleRead(this: AcceptedHandle): undefined {
  const { state, slot } = readState!;
  const n = state[slot]!;
  const socket = (this as OwnedHandle)[OWNER];
  if (n > 0) {
    if (!deliverRead(socket.target!, n)) socket.pause();
  } else if (n === UV_EOF) {
    socket.readEnded();
  } else if (n < 0) {
    socket.destroy(systemError(n, 'read'));
  }
  return undefined;
}

export class HandleSocket implements EdgeSocket {
  /** HandleWriter writes to the handle of a socket that has this (handle-writes.ts). */
  readonly plainStreamHandle = true;
  target: DirectReadTarget | undefined = undefined;
  private handle: OwnedHandle | null;
  private socket: Socket | undefined = undefined;
  /** One listener per event before a promotion (the edge connection's), moved to the socket then. */
  private readonly listeners: Record<Event, Listener | undefined> = {
    drain: undefined,
    close: undefined,
    end: undefined,
    error: undefined,
  };
  private paused = false;
  private ended = false;

  constructor(
    handle: AcceptedHandle,
    private readonly server: ConnectionCounter,
  ) {
    const owned = handle as OwnedHandle;
    owned[OWNER] = this;
    this.handle = owned;
  }

  /** Reads land in the shared buffer and go to `target` (as readIntoSharedBuffer arranges). */
  readInto(target: DirectReadTarget): void {
    const handle = this.handle;
    if (handle === null) return;
    this.target = target;
    handle.useUserBuffer(sharedReadBuffer);
    handle.onread = onHandleRead;
    handle.reading = true;
    const err = handle.readStart();
    if (err !== 0) this.destroy(systemError(err, 'read'));
  }

  /** The net.Socket this connection now is (built on its handle the first time). */
  promote(): Socket {
    if (this.socket !== undefined) return this.socket;
    const handle = this.handle;
    if (handle === null) {
      // Closed already: a destroyed socket, so that writes and ends are dropped as on one.
      this.socket = new Socket().destroy();
      return this.socket;
    }
    this.handle = null;
    handle.readStop();
    handle.reading = false;
    // `handle` is the option Node's own accept path builds its sockets with.
    const options = {
      handle,
      allowHalfOpen: this.server.allowHalfOpen ?? false,
      readable: true,
      writable: true,
    } as SocketConstructorOpts;
    const socket = new Socket(options);
    // Node's close path counts it off the server from now on.
    const counted = socket as Socket & { server?: unknown; _server?: unknown };
    counted.server = this.server;
    counted._server = this.server;
    socket.setNoDelay(true);
    if (this.target !== undefined) readIntoSharedBuffer(socket, this.target);
    for (const event of EVENTS) {
      const listener = this.listeners[event];
      this.listeners[event] = undefined;
      if (listener !== undefined) socket.on(event, listener);
    }
    if (this.paused) socket.pause();
    this.socket = socket;
    return socket;
  }

  /** The client ended its side: what a socket's 'end' is. */
  readEnded(): void {
    if (this.ended) return;
    this.ended = true;
    const handle = this.handle;
    if (handle !== null) {
      handle.reading = false;
      handle.readStop();
    }
    this.emit('end');
  }

  get _handle(): unknown {
    return this.socket !== undefined
      ? (this.socket as unknown as { _handle: unknown })._handle
      : this.handle;
  }

  get remoteAddress(): string | undefined {
    return this.socket !== undefined ? this.socket.remoteAddress : this.peer().address;
  }

  get remotePort(): number | undefined {
    return this.socket !== undefined ? this.socket.remotePort : this.peer().port;
  }

  /** Bytes read from the connection so far (libuv's count, as net.Socket reports it). */
  get bytesRead(): number {
    return this.socket !== undefined ? this.socket.bytesRead : (this.handle?.bytesRead ?? 0);
  }

  private peer(): { address?: string; port?: number } {
    const out: { address?: string; port?: number } = {};
    this.handle?.getpeername(out);
    return out;
  }

  get connecting(): boolean {
    return false;
  }

  get writableLength(): number {
    return this.socket?.writableLength ?? 0;
  }

  get writableEnded(): boolean {
    return this.socket?.writableEnded ?? false;
  }

  get writableNeedDrain(): boolean {
    return this.socket?.writableNeedDrain ?? false;
  }

  setNoDelay(noDelay = true): this {
    if (this.socket !== undefined) this.socket.setNoDelay(noDelay);
    else this.handle?.setNoDelay(noDelay);
    return this;
  }

  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: Event, listener: Listener): this;
  on(event: 'data' | Event, listener: Listener | ((chunk: Buffer) => void)): this {
    if (this.socket !== undefined) this.socket.on(event, listener);
    else if (event === 'data') this.promote().on('data', listener);
    else this.listeners[event] = listener as Listener;
    return this;
  }

  off(event: 'data', listener: (chunk: Buffer) => void): this;
  off(event: Event, listener: Listener): this;
  off(event: 'data' | Event, listener: Listener | ((chunk: Buffer) => void)): this {
    if (this.socket !== undefined) this.socket.off(event, listener);
    else if (event !== 'data' && this.listeners[event] === listener) {
      this.listeners[event] = undefined;
    }
    return this;
  }

  isPaused(): boolean {
    return this.socket !== undefined ? this.socket.isPaused() : this.paused;
  }

  pause(): this {
    if (this.socket !== undefined) {
      this.socket.pause();
    } else if (!this.paused) {
      this.paused = true;
      const handle = this.handle;
      if (handle?.reading) {
        handle.reading = false;
        handle.readStop();
      }
    }
    return this;
  }

  resume(): this {
    if (this.socket !== undefined) {
      this.socket.resume();
    } else if (this.paused) {
      this.paused = false;
      const handle = this.handle;
      if (handle !== null && !handle.reading && !this.ended) {
        handle.reading = true;
        const err = handle.readStart();
        if (err !== 0) this.destroy(systemError(err, 'read'));
      }
    }
    return this;
  }

  /** Closed without ever being promoted: what a socket would do is dropped. */
  private get gone(): boolean {
    return this.socket === undefined && this.handle === null;
  }

  push(chunk: Buffer): boolean {
    return !this.gone && this.promote().push(chunk);
  }

  unshift(chunk: Buffer): void {
    if (!this.gone) this.promote().unshift(chunk);
  }

  write(data: string | Uint8Array, encoding?: BufferEncoding): boolean {
    if (this.gone) return false;
    const socket = this.promote();
    return encoding === undefined ? socket.write(data) : socket.write(data, encoding);
  }

  cork(): void {
    if (!this.gone) this.promote().cork();
  }

  uncork(): void {
    if (!this.gone) this.promote().uncork();
  }

  end(data?: string | Uint8Array): this {
    if (this.gone) return this;
    if (data === undefined) this.promote().end();
    else this.promote().end(data);
    return this;
  }

  destroySoon(): void {
    if (!this.gone) this.promote().destroySoon();
  }

  destroy(error?: Error): this {
    if (this.socket !== undefined) {
      this.socket.destroy(error);
      return this;
    }
    const handle = this.handle;
    this.handle = null;
    if (handle === null) return this;
    handle.onread = noRead;
    handle.readStop();
    handle.close(() => {
      this.server._connections--;
      this.server._emitCloseIfDrained?.();
      if (error !== undefined) this.emit('error');
      this.emit('close');
    });
    return this;
  }

  private emit(event: Event): void {
    this.listeners[event]?.();
  }
}
