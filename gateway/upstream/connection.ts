/**
 * One keep-alive HTTP/1.1 connection to an upstream origin, carrying one exchange at a time
 * (no pipelining). The connection is the parser's listener and the exchange's controller, so
 * a request allocates no closures: the request head is one string write (with a buffered
 * body corked into the same segment), the response arrives through the parser's callbacks.
 *
 * Timeouts are deadlines checked by the shared DeadlineClock (no timer per request): connect
 * timeout until connected, then the request's headersTimeout until the response head (pushed
 * back while a request body is still being written), then bodyTimeout between body chunks
 * (none while the handler has paused the response), then the idle timeout while pooled.
 */
import { Buffer } from 'node:buffer';
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { type DeadlineHolder, deadlineAfter, deadlineClock } from '../deadline-clock.js';
import { type DirectReadTarget, deliverReadsDirectly } from '../direct-reads.js';
import { HandleWriter } from '../handle-writes.js';
import { hasControl } from '../http-syntax.js';
import { readArrived, readHandled } from '../read-clock.js';
import type { ResponseHead } from './response-head.js';
import { keepAliveHintMs, type ResponseListener, ResponseParser } from './response-parser.js';
import {
  type UpstreamController,
  UpstreamError,
  UpstreamErrorCode,
  type UpstreamHandler,
  type UpstreamRequest,
} from './types.js';

/** Where a connection goes and how it behaves. */
export interface ConnectionSettings {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly connectTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Cap on an idle time granted by the upstream's Keep-Alive hint. */
  readonly idleTimeoutMaxMs: number;
  readonly rejectUnauthorized: boolean;
  readonly maxHeadBytes: number;
  /** `host:port` for a Host header when the request has none. */
  readonly hostHeader: string;
}

/** What a connection reports to its pool. */
export interface ConnectionOwner {
  /** The exchange finished; `reusable` says whether the connection may take another. */
  released(connection: UpstreamConnection, reusable: boolean): void;
  /** The connection closed for good. */
  removed(connection: UpstreamConnection): void;
  /** A reused connection turned out closed before answering: run the request on a fresh one. */
  redispatch(request: UpstreamRequest, handler: UpstreamHandler): void;
}

/**
 * Every plain-TCP upstream connection reads into this one buffer (Node's `onread`): a read is
 * parsed synchronously and nothing keeps a slice of it (the parser copies partial lines and
 * heads, bodies are copied out), so no read allocates an ArrayBuffer that the young-generation
 * GC then has to sweep, and no read goes through a Readable's buffering. Reads of data skip
 * net's read dispatcher too (`deliverReadsDirectly`).
 */
const sharedReadBuffer = Buffer.allocUnsafeSlow(64 * 1024);

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const EXPECTS_BODY = new Set(['POST', 'PUT', 'PATCH']);

export class UpstreamConnection
  implements ResponseListener, UpstreamController, DeadlineHolder, DirectReadTarget
{
  private readonly socket: Socket;
  private readonly writer: HandleWriter;
  private readonly parser: ResponseParser;
  private handler: UpstreamHandler | undefined = undefined;
  private request: UpstreamRequest | undefined = undefined;
  private connected = false;
  private requestSent = false;
  private responseBytes = false;
  private completed = false;
  private keepAlive = true;
  private idleMs: number;
  /** The last head whose Keep-Alive hint was applied (a repeated head is the same object). */
  private hintedHead: ResponseHead | undefined = undefined;
  private served = 0;
  private gone = false;
  /** The exchange paused reading (backpressure from its client). */
  private paused = false;
  /** When the current timeout fires (whole clockNow() ms: deadlineAfter), 0 for none. */
  private deadline = 0;

  constructor(
    private readonly owner: ConnectionOwner,
    private readonly settings: ConnectionSettings,
  ) {
    this.idleMs = settings.idleTimeoutMs;
    this.parser = new ResponseParser(this, settings.maxHeadBytes);
    const socket = settings.tls
      ? connectTls({
          host: settings.host,
          port: settings.port,
          rejectUnauthorized: settings.rejectUnauthorized,
          ALPNProtocols: ['http/1.1'],
          ...(isIP(settings.host) === 0 ? { servername: settings.host } : {}),
        })
      : connectTcp({
          host: settings.host,
          port: settings.port,
          onread: { buffer: sharedReadBuffer, callback: (n: number) => this.onDirectRead(n) },
        });
    if (!settings.tls) deliverReadsDirectly(socket, this);
    this.socket = socket;
    this.writer = new HandleWriter(socket);
    socket.setNoDelay(true);
    this.deadline = deadlineAfter(settings.connectTimeoutMs);
    deadlineClock.watch(this);
    socket.once(settings.tls ? 'secureConnect' : 'connect', () => this.onConnect());
    if (settings.tls) {
      socket.on('data', (chunk: Buffer) => {
        // One clock read for the read, as direct reads have (read-clock.ts).
        readArrived();
        try {
          this.onData(chunk);
        } finally {
          readHandled();
        }
      });
    }
    socket.on('end', () => this.onEnd());
    socket.on('error', (err: Error) => this.onSocketError(err));
    socket.on('close', () => this.onClose());
  }

  /** False once the connection closed or is closing. */
  get usable(): boolean {
    return !this.gone && !this.socket.destroyed;
  }

  /** Sends a request; the handler hears the rest. */
  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    this.handler = handler;
    this.request = request;
    this.requestSent = false;
    this.responseBytes = false;
    this.completed = false;
    this.parser.expect(request.method);
    handler.onRequestStart(this);
    if (this.handler !== handler) return; // aborted at once
    if (badToken(request.path) || badToken(request.method)) {
      this.fail(new UpstreamError(UpstreamErrorCode.invalidRequest, 'invalid request line'));
      return;
    }
    if (this.connected) this.deadline = deadlineAfter(request.headersTimeout);
    const body = request.body;
    const h = request.headers;
    // The field lines come rendered (field-lines.ts). Concatenated, not joined from an array:
    // the socket copies the rope out without flattening it.
    let head = `${request.method} ${request.path} HTTP/1.1\r\n${h.text}`;
    const declared = h.contentLength;
    if (!h.hasHost) head += `host: ${this.settings.hostHeader}\r\n`;
    const socket = this.socket;
    if (body === null) {
      if (declared === undefined && EXPECTS_BODY.has(request.method)) {
        head += 'content-length: 0\r\n';
      }
      this.writer.write(`${head}\r\n`);
      this.requestSent = true;
    } else if (Buffer.isBuffer(body)) {
      if (declared !== undefined && declared !== body.length) {
        this.fail(
          new UpstreamError(
            UpstreamErrorCode.requestLength,
            'body length differs from Content-Length',
          ),
        );
        return;
      }
      if (declared === undefined) head += `content-length: ${body.length}\r\n`;
      socket.cork();
      socket.write(`${head}\r\n`, 'latin1');
      socket.write(body);
      socket.uncork();
      this.requestSent = true;
    } else {
      if (declared === undefined) head += 'transfer-encoding: chunked\r\n';
      socket.write(`${head}\r\n`, 'latin1');
      void this.pump(handler, request.headersTimeout, body, declared);
    }
  }

  /** Closes the connection (any exchange on it fails with `reason`). */
  destroy(reason?: Error): void {
    if (this.handler !== undefined && reason !== undefined) {
      this.fail(reason);
      return;
    }
    this.gone = true;
    this.socket.destroy();
  }

  // ------------------------------------------------------------------------------------------
  // UpstreamController

  pause(): void {
    this.paused = true;
    this.socket.pause();
    // Our own backpressure is no upstream stall: the body timeout waits while paused.
    if (this.handler !== undefined && this.parser.headSeen) this.deadline = 0;
  }

  resume(): void {
    this.paused = false;
    this.socket.resume();
    if (this.handler !== undefined && this.parser.headSeen) {
      this.deadline = deadlineAfter(this.settings.bodyTimeoutMs);
    }
  }

  abort(reason: Error): void {
    if (this.handler !== undefined) this.fail(reason);
  }

  // ------------------------------------------------------------------------------------------
  // ResponseListener

  onHead(head: ResponseHead): void {
    if (head !== this.hintedHead) {
      this.hintedHead = head;
      const hint = keepAliveHintMs(head.get('keep-alive'));
      // The upstream says how long it keeps an idle connection: stay a second inside that.
      if (hint !== undefined) {
        this.idleMs = Math.max(0, Math.min(this.settings.idleTimeoutMaxMs, hint - 1000));
      }
    }
    this.deadline = deadlineAfter(this.settings.bodyTimeoutMs);
    this.handler?.onResponseStart(this, head);
  }

  onBody(chunk: Buffer, last: boolean): void {
    // Plain TCP reads land in sharedReadBuffer, which the next read overwrites: hand out a copy.
    this.handler?.onResponseData(this, this.settings.tls ? chunk : Buffer.from(chunk), last);
  }

  onBodyText(text: string): void {
    const handler = this.handler;
    if (handler === undefined) return;
    if (handler.onResponseLastText !== undefined) handler.onResponseLastText(this, text);
    else handler.onResponseData(this, Buffer.from(text, 'latin1'), true);
  }

  onComplete(keepAlive: boolean): void {
    // The handler may have aborted the exchange in a callback earlier in this same read.
    if (this.handler === undefined) return;
    this.completed = true;
    this.keepAlive = keepAlive;
  }

  // ------------------------------------------------------------------------------------------
  // Socket events

  private onConnect(): void {
    this.connected = true;
    const request = this.request;
    this.deadline = deadlineAfter(
      this.handler !== undefined && request !== undefined ? request.headersTimeout : this.idleMs,
    );
  }

  /** A plain-TCP read (DirectReadTarget): `length` bytes at the start of sharedReadBuffer. */
  onDirectRead(length: number): boolean {
    this.onData(sharedReadBuffer.subarray(0, length));
    return true; // keep reading (pause() stops it)
  }

  private onData(chunk: Buffer): void {
    if (this.handler === undefined) {
      // Bytes nobody asked for: the connection's framing can't be trusted any more.
      this.gone = true;
      this.socket.destroy();
      return;
    }
    this.responseBytes = true;
    if (this.deadline !== 0 && this.parser.headSeen) {
      this.deadline = deadlineAfter(this.settings.bodyTimeoutMs);
    }
    try {
      this.parser.execute(chunk);
    } catch (err) {
      if (!this.completed) {
        this.fail(
          new UpstreamError(UpstreamErrorCode.invalidResponse, (err as Error).message, {
            cause: err,
          }),
        );
        return;
      }
      // Extra bytes after a complete response: deliver it, but never reuse the connection.
      this.keepAlive = false;
    }
    if (this.completed) this.finishExchange();
  }

  private finishExchange(): void {
    const handler = this.handler!;
    this.handler = undefined;
    this.request = undefined;
    this.completed = false;
    this.served++;
    const reusable = this.keepAlive && this.requestSent && this.usable && this.idleMs > 0;
    if (reusable) {
      this.deadline = deadlineAfter(this.idleMs);
      if (this.paused) {
        // The exchange paused reading at the very end.
        this.paused = false;
        this.socket.resume();
      }
    } else {
      this.gone = true;
    }
    handler.onResponseEnd(this);
    this.owner.released(this, reusable);
    if (!reusable) this.socket.destroy();
  }

  private onEnd(): void {
    if (this.handler === undefined) {
      this.gone = true;
      this.socket.destroy();
      return;
    }
    try {
      this.parser.finish();
    } catch {
      this.closedEarly(
        new UpstreamError(UpstreamErrorCode.closed, 'upstream closed the connection mid-response'),
      );
      return;
    }
    // Only a close-delimited body completes here: never reused, so no idle deadline is set.
    if (this.completed) this.finishExchange();
  }

  private onSocketError(err: Error): void {
    if (this.handler === undefined) {
      this.gone = true;
      return;
    }
    this.closedEarly(err);
  }

  private onClose(): void {
    this.gone = true;
    this.deadline = 0;
    deadlineClock.unwatch(this);
    if (this.handler !== undefined) {
      this.closedEarly(new UpstreamError(UpstreamErrorCode.closed, 'upstream connection closed'));
    }
    this.owner.removed(this);
  }

  checkDeadline(now: number): void {
    if (this.deadline !== 0 && now >= this.deadline) {
      this.deadline = 0;
      this.onTimeout();
    }
  }

  private onTimeout(): void {
    if (this.handler === undefined) {
      this.gone = true;
      this.socket.destroy();
      return;
    }
    if (!this.connected) {
      this.fail(new UpstreamError(UpstreamErrorCode.connectTimeout, 'upstream connect timed out'));
    } else if (!this.parser.headSeen) {
      this.fail(
        new UpstreamError(UpstreamErrorCode.headersTimeout, 'upstream response head timed out'),
      );
    } else {
      this.fail(new UpstreamError(UpstreamErrorCode.bodyTimeout, 'upstream response body stalled'));
    }
  }

  /**
   * The connection ended under an exchange. A kept-alive connection the upstream had already
   * closed when the request went out (nothing came back) is the known keep-alive race: a request
   * that can safely be sent again goes to a fresh connection instead of failing.
   */
  private closedEarly(err: Error): void {
    const request = this.request;
    const handler = this.handler;
    if (
      handler !== undefined &&
      request !== undefined &&
      this.served > 0 &&
      !this.responseBytes &&
      (request.body === null || Buffer.isBuffer(request.body)) &&
      IDEMPOTENT.has(request.method)
    ) {
      this.handler = undefined;
      this.request = undefined;
      this.gone = true;
      this.socket.destroy();
      this.owner.redispatch(request, handler);
      return;
    }
    this.fail(err);
  }

  private fail(err: Error): void {
    const handler = this.handler;
    this.handler = undefined;
    this.request = undefined;
    this.completed = false;
    this.gone = true;
    this.socket.destroy();
    handler?.onResponseError(this, err);
  }

  /** Streams a request body: raw with a declared length (checked), chunked otherwise. */
  private async pump(
    handler: UpstreamHandler,
    headersTimeout: number,
    body: AsyncIterable<Buffer>,
    declared: number | undefined,
  ): Promise<void> {
    const socket = this.socket;
    let sent = 0;
    try {
      for await (const chunk of body) {
        if (this.handler !== handler) return;
        if (chunk.length === 0) continue;
        sent += chunk.length;
        let flushed: boolean;
        if (declared === undefined) {
          socket.cork();
          socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
          socket.write(chunk);
          flushed = socket.write('\r\n', 'latin1');
          socket.uncork();
        } else {
          if (sent > declared)
            throw new UpstreamError(
              UpstreamErrorCode.requestLength,
              'request body longer than its Content-Length',
            );
          flushed = socket.write(chunk);
        }
        if (!flushed) await drained(socket);
        // The head may only be awaited once the body is out: writing counts as progress.
        if (this.handler === handler && !this.parser.headSeen) {
          this.deadline = deadlineAfter(headersTimeout);
        }
      }
      if (this.handler !== handler) return;
      if (declared !== undefined && sent !== declared) {
        throw new UpstreamError(
          UpstreamErrorCode.requestLength,
          'request body shorter than its Content-Length',
        );
      }
      if (declared === undefined) socket.write('0\r\n\r\n', 'latin1');
      this.requestSent = true;
    } catch (err) {
      if (this.handler === handler) this.fail(err as Error);
    }
  }
}

function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** A request-line part with a space or a control character (it would break the line). */
function badToken(s: string): boolean {
  return s.length === 0 || s.includes(' ') || hasControl(s, false);
}
