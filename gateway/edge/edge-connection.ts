/**
 * One client connection served by the edge: reads request heads (readRequestHead), runs one
 * exchange at a time (pipelined requests wait their turn), keeps the connection alive between
 * requests, and hands the connection — with every byte not yet served, untouched — to Node's
 * HTTP server the first time a request falls outside the edge's subset.
 *
 * Timeouts are deadlines on the gateway's shared DeadlineClock (no socket timer for Node to
 * re-arm on every read and write): between requests, the keep-alive idle time from the end of
 * the last response (extended while that response is still leaving a slow reader, as long as it
 * makes progress); from the first bytes of a head, the headers timeout for the whole head —
 * silence or a trickle past it gets 408. While an exchange runs, its own timeouts apply.
 *
 * A client that half-closes (FIN) is treated as Node's server treats it (httpAllowHalfOpen
 * off): the exchange in progress is abandoned and the connection closed. While an exchange
 * runs, reading stops once more than a head's worth of pipelined bytes waits.
 *
 * A plain TCP connection — a HandleSocket on its bare handle (handle-socket.ts), or a plain
 * socket — reads into the edge's shared buffer (shared-reads.ts): a read is served from the
 * buffer itself, and only bytes kept past the read (a partial head, pipelined requests) are
 * copied. Once handed to Node's server, reads are passed on to the socket's Readable as Node's
 * own reads would be.
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import process from 'node:process';
import { type DeadlineHolder, deadlineAfter, deadlineClock } from '../deadline-clock.js';
import type { DirectReadTarget } from '../direct-reads.js';
import { socketAddress } from '../forwarding.js';
import { HandleWriter } from '../handle-writes.js';
import { EdgeRequest, EdgeResponse, type ResponseSink } from './edge-response.js';
import type { EdgeSocket } from './edge-socket.js';
import { HandleSocket } from './handle-socket.js';
import { FALLBACK, INCOMPLETE, type RequestHead, readRequestHead } from './request-head.js';
import { ownedBytes, readIntoSharedBuffer, sharedRead } from './shared-reads.js';

export interface EdgeLimits {
  /** Largest request head; larger ones go to Node's server (431). */
  readonly maxHeaderBytes: number;
  /** Time allowed for a request head to arrive in full. */
  readonly headersTimeoutMs: number;
  /** Idle time before a keep-alive connection is closed. */
  readonly keepAliveTimeoutMs: number;
}

export interface EdgeConnectionOwner {
  readonly limits: EdgeLimits;
  /** True while the gateway is closing: responses close their connections. */
  readonly closing: boolean;
  request(req: EdgeRequest, res: EdgeResponse): void;
  /** The answer to a head that did not arrive in time (a 408 response), counted as refused. */
  headTimedOut(client: string): string;
  /** Serve this connection with Node's HTTP server from now on (its unread bytes are unshifted). */
  fallback(socket: Socket): void;
  /** The connection is no longer the edge's (closed or handed over). */
  released(connection: EdgeConnection): void;
}

/**
 * Response bytes a client may leave unread (queued in the gateway beyond what the kernel took)
 * before the edge serves it no further requests; it resumes once the client has read them.
 */
const UNREAD_RESPONSE_LIMIT = 64 * 1024;

export class EdgeConnection implements ResponseSink, DeadlineHolder, DirectReadTarget {
  readonly socket: EdgeSocket;
  private readonly writer: HandleWriter;
  private pending: Buffer | undefined = undefined;
  private current: EdgeResponse | undefined = undefined;
  /** A head has begun to arrive (its headers timeout runs). */
  private readingHead = false;
  /** When the current timeout fires (whole clockNow() ms: deadlineAfter); 0 during an exchange. */
  private deadline: number;
  /** Bytes still queued on the socket when the idle deadline last passed (-1: none). */
  private unsentAtDeadline = -1;
  private scheduled = false;
  private released = false;
  /** Answered 408: whatever the client sends from now on is not read as a request. */
  private refused = false;
  /** The client left more than UNREAD_RESPONSE_LIMIT unread: no requests until it reads. */
  private awaitingReader = false;
  /** The client's address (socketAddress() form), looked up for the first request. */
  private clientAddress: string | undefined = undefined;
  /** A plain TCP socket reading into the shared buffer (readIntoSharedBuffer). */
  private readonly sharedReads: boolean;
  /** The last request head served, which the next one may repeat (readRequestHead). */
  private lastHead: RequestHead | undefined = undefined;

  /** Reads of a socket that does not read into the shared buffer. */
  private readonly onData = (chunk: Buffer): void => this.receive(chunk);
  /** The socket's Writable or the handle writer emptied its queue. */
  private readonly onDrain = (): void => {
    this.current?.drained();
    if (this.awaitingReader && this.writer.unsent <= UNREAD_RESPONSE_LIMIT) {
      this.awaitingReader = false;
      this.serveWhatWaits();
    }
  };
  private readonly onClose = (): void => this.closed();
  private readonly onEnd = (): void => this.ended();
  private readonly onError = (): void => {
    // 'close' follows; the exchange hears of it there.
  };
  private readonly serveScheduled = (): void => {
    this.scheduled = false;
    if (this.current === undefined && !this.released && !this.awaitingReader) this.serveNext();
  };

  constructor(
    socket: Socket | HandleSocket,
    private readonly owner: EdgeConnectionOwner,
  ) {
    if (socket instanceof HandleSocket) {
      socket.readInto(this);
      this.sharedReads = true;
    } else {
      this.sharedReads = readIntoSharedBuffer(socket, this);
    }
    this.socket = socket;
    this.writer = new HandleWriter(socket, this.onDrain);
    socket.setNoDelay(true);
    this.deadline = deadlineAfter(owner.limits.keepAliveTimeoutMs);
    deadlineClock.watch(this);
    if (!this.sharedReads) socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('close', this.onClose);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
  }

  /**
   * Reads into the shared buffer (DirectReadTarget): the bytes are there until the next read
   * overwrites them.
   */
  onDirectRead(bytes: number): boolean {
    const chunk = sharedRead(bytes);
    // Handed to Node's server: its Readable takes the bytes, as from a socket of its own.
    if (this.released) return this.socket.push(Buffer.from(chunk));
    this.receive(chunk);
    const pending = this.pending;
    if (pending !== undefined) this.pending = ownedBytes(pending);
    return true;
  }

  /** True while no request is being served. */
  get idle(): boolean {
    return this.current === undefined;
  }

  destroy(): void {
    this.socket.destroy();
  }

  // ResponseSink

  finished(response: EdgeResponse): void {
    if (this.current !== response) return;
    this.current = undefined;
    response.emitClose();
    // Idle from here; a closing connection keeps the deadline too, for a client that stops
    // reading before the end of the response.
    this.deadline = deadlineAfter(this.owner.limits.keepAliveTimeoutMs);
    this.unsentAtDeadline = -1;
    if (!response.shouldKeepAlive || this.owner.closing) {
      this.socket.end();
      return;
    }
    if (this.writer.unsent > UNREAD_RESPONSE_LIMIT) {
      // The client is not reading its responses: serve it more once it has (onDrain).
      this.awaitingReader = true;
      return;
    }
    this.serveWhatWaits();
  }

  /** Serves a request that arrived meanwhile (next tick) and reads again. */
  private serveWhatWaits(): void {
    if (this.pending !== undefined && !this.scheduled) {
      // Not from inside the exchange that just ended: let it unwind first.
      this.scheduled = true;
      process.nextTick(this.serveScheduled);
    }
    if (this.socket.isPaused()) this.socket.resume();
  }

  abandoned(response: EdgeResponse): void {
    if (this.current !== response) return;
    this.current = undefined;
    this.socket.destroy();
    response.emitClose();
  }

  // ------------------------------------------------------------------------------------------

  private receive(chunk: Buffer): void {
    if (this.refused) return;
    const pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = pending;
    if (this.current === undefined && !this.awaitingReader) this.serveNext();
    else if (pending.length > this.owner.limits.maxHeaderBytes) this.socket.pause();
  }

  private serveNext(): void {
    const buf = this.pending;
    if (buf === undefined) return;
    const limits = this.owner.limits;
    const head = readRequestHead(buf, limits.maxHeaderBytes, this.lastHead);
    if (head === INCOMPLETE) {
      if (!this.readingHead) {
        // From the head's first bytes, the whole head has the headers timeout to arrive.
        this.readingHead = true;
        this.deadline = deadlineAfter(limits.headersTimeoutMs);
      }
      return;
    }
    if (head === FALLBACK) {
      this.handOff();
      return;
    }
    this.readingHead = false;
    const repeated = head === this.lastHead;
    this.lastHead = head;
    this.deadline = 0;
    this.pending = head.length === buf.length ? undefined : buf.subarray(head.length);
    const socket = this.socket;
    const res = new EdgeResponse(
      socket,
      this.writer,
      this,
      head.method,
      head.keepAlive && !this.owner.closing,
    );
    this.current = res;
    this.clientAddress ??= socketAddress(socket.remoteAddress);
    this.owner.request(new EdgeRequest(head, socket, this.clientAddress, repeated), res);
  }

  checkDeadline(now: number): void {
    if (this.deadline === 0 || now < this.deadline) return;
    this.deadline = 0;
    if (this.current !== undefined) return; // an exchange is running; its own timeouts apply
    if (this.pending !== undefined && !this.awaitingReader) {
      this.refuseSlowHead();
      return;
    }
    // Idle, or waiting for the client to read: wait while the unsent bytes move.
    const unsent = this.writer.unsent;
    if (unsent > 0 && unsent !== this.unsentAtDeadline) {
      this.unsentAtDeadline = unsent;
      this.deadline = deadlineAfter(this.owner.limits.keepAliveTimeoutMs, now);
      return;
    }
    this.socket.destroy();
  }

  private refuseSlowHead(): void {
    // The 408 gets the headers timeout to leave; a client that does not read it is then cut.
    this.deadline = deadlineAfter(this.owner.limits.headersTimeoutMs);
    this.unsentAtDeadline = -1;
    this.pending = undefined;
    this.refused = true;
    this.clientAddress ??= socketAddress(this.socket.remoteAddress);
    this.socket.end(this.owner.headTimedOut(this.clientAddress));
    this.socket.destroySoon();
  }

  private handOff(): void {
    const socket = this.socket;
    socket.off('data', this.onData);
    socket.off('drain', this.onDrain);
    socket.off('close', this.onClose);
    socket.off('end', this.onEnd);
    socket.off('error', this.onError);
    socket.pause();
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined) socket.unshift(ownedBytes(pending));
    this.release();
    // Node's server takes sockets only: a connection on its bare handle becomes one now.
    this.owner.fallback(socket instanceof HandleSocket ? socket.promote() : (socket as Socket));
    socket.resume();
  }

  /**
   * The client half-closed: like Node's server, abandon what it asked for and close. A plain
   * TCP socket with nothing left to send is closed at once (the client has sent everything, so
   * the kernel ends the connection with a FIN, as a shutdown would) rather than through the
   * Writable's end, shutdown and finish steps; a TLS socket ends, to send its close_notify.
   */
  private ended(): void {
    this.pending = undefined;
    const current = this.current;
    if (current !== undefined) current.destroy();
    else if (this.sharedReads && this.writer.unsent === 0) this.socket.destroy();
    else this.socket.end();
  }

  private closed(): void {
    const current = this.current;
    if (current !== undefined) {
      this.current = undefined;
      current.done = true;
      current.emitClose();
    }
    this.release();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.deadline = 0;
    deadlineClock.unwatch(this);
    this.owner.released(this);
  }
}
