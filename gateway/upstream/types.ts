/**
 * The contract between the proxy's exchange and the upstream HTTP/1.1 client
 * (docs/adr/0007-gateway-own-http1-upstream-client.md): a request, a handler that receives
 * the response as callbacks, a controller for backpressure and aborts, and the error codes
 * the exchange tells apart.
 */
import type { FieldLines } from './field-lines.js';
import type { ResponseHead } from './response-head.js';

export interface UpstreamRequest {
  readonly method: string;
  /** Origin-form target: path and query. */
  readonly path: string;
  /** The field lines (field-lines.ts); Host and Content-Length are sent as given when present. */
  readonly headers: FieldLines;
  /** No body, a buffered one (replayable), or a stream of chunks (sent chunked without a Content-Length). */
  readonly body: Buffer | AsyncIterable<Buffer> | null;
  /**
   * Time allowed for the response head (ms), counted from dispatch: time spent waiting for a
   * free connection is taken out of it.
   */
  readonly headersTimeout: number;
}

export interface UpstreamController {
  /** Stop reading the upstream response (the client is not keeping up). */
  pause(): void;
  resume(): void;
  /** Abandon the exchange: the connection is closed and onResponseError gets `reason`. */
  abort(reason: Error): void;
}

/** Callbacks of one upstream exchange, in order: start, response start, data…, end | error. */
export interface UpstreamHandler {
  /**
   * True once the response is no longer wanted (the client went away). A request still
   * waiting for a connection is then dropped, never sent (onResponseError with `abandoned`).
   */
  readonly abandoned?: boolean;
  onRequestStart(controller: UpstreamController): void;
  /** The final response head (interim 1xx responses are skipped). */
  onResponseStart(controller: UpstreamController, head: ResponseHead): void;
  /**
   * A body chunk. `last` is true when it completes a body of declared length (Content-Length),
   * so the response can be finished at once; onResponseEnd still follows.
   */
  onResponseData(controller: UpstreamController, chunk: Buffer, last: boolean): void;
  /**
   * The body's last chunk as latin1 text (one character per byte), when it came in the read
   * that carried the head: what a client write takes, with no Buffer copied for it. Without
   * this method, the chunk comes to onResponseData as a Buffer.
   */
  onResponseLastText?(controller: UpstreamController, text: string): void;
  onResponseEnd(controller: UpstreamController): void;
  /** Exactly once when the exchange fails (connect error, reset, timeout, bad response, abort). */
  onResponseError(controller: UpstreamController | undefined, err: Error): void;
}

/** Codes on errors the client raises itself (socket errors keep Node's codes, e.g. ECONNREFUSED). */
export const UpstreamErrorCode = {
  /** Connecting took longer than connectTimeoutMs. */
  connectTimeout: 'ROSTER_UPSTREAM_CONNECT_TIMEOUT',
  /** No response head within the request's headersTimeout. */
  headersTimeout: 'ROSTER_UPSTREAM_HEADERS_TIMEOUT',
  /** The response body stalled longer than bodyTimeoutMs. */
  bodyTimeout: 'ROSTER_UPSTREAM_BODY_TIMEOUT',
  /** The upstream closed the connection before the response was complete. */
  closed: 'ROSTER_UPSTREAM_CLOSED',
  /** The upstream's response broke HTTP/1.1 framing or syntax. */
  invalidResponse: 'ROSTER_UPSTREAM_INVALID_RESPONSE',
  /** The request line would be malformed (a space or control character in method or path). */
  invalidRequest: 'ROSTER_UPSTREAM_INVALID_REQUEST',
  /** The request body was shorter or longer than its Content-Length. */
  requestLength: 'ROSTER_UPSTREAM_REQUEST_LENGTH',
  /** The pool was closed while the request waited or ran. */
  poolClosed: 'ROSTER_UPSTREAM_POOL_CLOSED',
  /** Every connection was busy and `maxPending` requests waited already: nothing was sent. */
  overflow: 'ROSTER_UPSTREAM_OVERFLOW',
  /** The request's headersTimeout passed while it waited for a connection: nothing was sent. */
  queueTimeout: 'ROSTER_UPSTREAM_QUEUE_TIMEOUT',
  /** The handler gave the request up while it waited for a connection: nothing was sent. */
  abandoned: 'ROSTER_UPSTREAM_ABANDONED',
} as const;

export type UpstreamErrorCodeValue = (typeof UpstreamErrorCode)[keyof typeof UpstreamErrorCode];

/** Why an attempt failed, as the retry policy sees it. */
export type FailureKind = 'connect' | 'reset' | 'status';

const CONNECT_ERRORS = new Set<string>([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  UpstreamErrorCode.connectTimeout,
  // Nothing was sent: another instance may take the request, whatever its method.
  UpstreamErrorCode.overflow,
]);
const RESET_ERRORS = new Set<string>(['ECONNRESET', 'EPIPE', UpstreamErrorCode.closed]);

/** An error code's failure kind: no connection made, or one that broke; else undefined. */
export function failureKindOf(code: string): Exclude<FailureKind, 'status'> | undefined {
  return CONNECT_ERRORS.has(code) ? 'connect' : RESET_ERRORS.has(code) ? 'reset' : undefined;
}

/**
 * Whether an error came from the gateway's own queue for the instance (every connection busy):
 * nothing reached the instance, so its health is not judged by it.
 */
export function isQueueError(code: string): boolean {
  return code === UpstreamErrorCode.overflow || code === UpstreamErrorCode.queueTimeout;
}

/** The `kind` label of roster_gateway_upstream_errors_total for an error code. */
export function upstreamErrorKind(code: string): string {
  if (code === UpstreamErrorCode.overflow) return 'overflow';
  if (code === UpstreamErrorCode.queueTimeout) return 'queue_timeout';
  if (code === UpstreamErrorCode.headersTimeout) return 'timeout';
  return failureKindOf(code) ?? 'other';
}

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    readonly code: UpstreamErrorCodeValue,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface UpstreamPoolOptions {
  /** Most connections per origin (default 512); further requests wait in order. */
  readonly connections?: number;
  /**
   * Most requests waiting for a connection per origin (default 1024); one more fails at once
   * with `overflow`.
   */
  readonly maxPending?: number;
  /** TCP/TLS connect timeout (default 3000 ms). */
  readonly connectTimeoutMs?: number;
  /** Idle time allowed between response body chunks (default 120000 ms). */
  readonly bodyTimeoutMs?: number;
  /**
   * Longest an idle keep-alive connection is kept when the upstream gives no `Keep-Alive:
   * timeout=N` hint (default 4000 ms). With a hint it is N − 1 s, at most `idleTimeoutMaxMs`.
   */
  readonly idleTimeoutMs?: number;
  /** Longest idle time an upstream's Keep-Alive hint can grant (default 600000 ms). */
  readonly idleTimeoutMaxMs?: number;
  /** Verify upstream TLS certificates (default true). */
  readonly rejectUnauthorized?: boolean;
  /** Largest upstream response head (default 65536 bytes). */
  readonly maxHeadBytes?: number;
}
