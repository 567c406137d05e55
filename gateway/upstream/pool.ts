/**
 * The keep-alive connections to one upstream origin: idle connections are reused last-in
 * first-out (the warmest socket; the coldest ones reach their idle timeout and close), new
 * ones are opened up to `connections`, and requests beyond that wait in order, at most
 * `maxPending` of them (one more fails at once: `overflow`, as Envoy's pending-request circuit
 * breaker). A waiting request's headersTimeout runs while it waits: when it passes, the
 * request fails with `queueTimeout`, and one that gets a connection in time is sent with what
 * is left of it, so a route's timeout bounds the whole wait for a response head. A request
 * whose handler gives it up while it waits (`abandoned`: its client left) leaves the line at
 * the next clock tick, or when a connection frees, never sent.
 */
import { type DeadlineHolder, deadlineAfter, deadlineClock } from '../deadline-clock.js';
import { clockNow } from '../read-clock.js';
import { type ConnectionOwner, type ConnectionSettings, UpstreamConnection } from './connection.js';
import {
  UpstreamError,
  UpstreamErrorCode,
  type UpstreamHandler,
  type UpstreamPoolOptions,
  type UpstreamRequest,
} from './types.js';

export interface OriginAddress {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

function poolClosed(): UpstreamError {
  return new UpstreamError(UpstreamErrorCode.poolClosed, 'upstream pool closed');
}

function abandonedInLine(): UpstreamError {
  return new UpstreamError(
    UpstreamErrorCode.abandoned,
    'the request was given up while it waited for a connection',
  );
}

function queueTimedOut(): UpstreamError {
  return new UpstreamError(
    UpstreamErrorCode.queueTimeout,
    'no connection to the upstream became free within the timeout',
  );
}

interface Waiting {
  readonly request: UpstreamRequest;
  readonly handler: UpstreamHandler;
  /** When its headersTimeout passes (deadlineAfter()). */
  readonly deadline: number;
}

/** Why a waiting request must leave the line now (never sent), or undefined while it may wait. */
function whyLeaving(w: Waiting, now: number): UpstreamError | undefined {
  if (w.handler.abandoned === true) return abandonedInLine();
  return w.deadline <= now ? queueTimedOut() : undefined;
}

export const DEFAULT_MAX_PENDING = 1024;

export class UpstreamPool implements ConnectionOwner, DeadlineHolder {
  private readonly settings: ConnectionSettings;
  private readonly maxConnections: number;
  private readonly maxPending: number;
  private readonly idle: UpstreamConnection[] = [];
  private readonly open = new Set<UpstreamConnection>();
  private waiting: Waiting[] = [];
  private closing = false;

  constructor(origin: OriginAddress, options: UpstreamPoolOptions = {}) {
    this.maxConnections = Math.max(1, options.connections ?? 512);
    this.maxPending = Math.max(0, options.maxPending ?? DEFAULT_MAX_PENDING);
    const bracketed = origin.host.includes(':') ? `[${origin.host}]` : origin.host;
    this.settings = {
      host: origin.host,
      port: origin.port,
      tls: origin.tls,
      connectTimeoutMs: options.connectTimeoutMs ?? 3000,
      bodyTimeoutMs: options.bodyTimeoutMs ?? 120_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 4000,
      idleTimeoutMaxMs: options.idleTimeoutMaxMs ?? 600_000,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
      maxHeadBytes: options.maxHeadBytes ?? 65_536,
      hostHeader: `${bracketed}:${origin.port}`,
    };
  }

  /** Connections open now (idle and busy). */
  get connections(): number {
    return this.open.size;
  }

  /** Requests waiting for a connection. */
  get queued(): number {
    return this.waiting.length;
  }

  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    if (this.closing) {
      handler.onResponseError(undefined, poolClosed());
      return;
    }
    let connection = this.idle.pop();
    while (connection !== undefined && !connection.usable) connection = this.idle.pop();
    if (connection === undefined) {
      if (this.open.size >= this.maxConnections) {
        this.wait(request, handler);
        return;
      }
      connection = this.connect();
    }
    connection.dispatch(request, handler);
  }

  /** Queues a request for the next free connection, or fails it when the queue is full. */
  private wait(request: UpstreamRequest, handler: UpstreamHandler): void {
    // Requests given up or timed out since the last tick make room first.
    if (this.waiting.length >= this.maxPending) this.checkDeadline(clockNow());
    if (this.waiting.length >= this.maxPending) {
      handler.onResponseError(
        undefined,
        new UpstreamError(
          UpstreamErrorCode.overflow,
          `every connection to the upstream is busy and ${this.maxPending} requests wait already`,
        ),
      );
      return;
    }
    if (this.waiting.length === 0) deadlineClock.watch(this);
    this.waiting.push({ request, handler, deadline: deadlineAfter(request.headersTimeout) });
  }

  /**
   * The first waiting request that may still be sent, with what is left of its timeout; those
   * found on the way that must leave (given up, or past their timeout before the clock ticked)
   * fail, never sent.
   */
  private nextWaiting(): Waiting | undefined {
    for (;;) {
      const next = this.waiting.shift();
      if (this.waiting.length === 0) deadlineClock.unwatch(this);
      if (next === undefined) return undefined;
      const now = clockNow();
      const why = whyLeaving(next, now);
      if (why === undefined) {
        return { ...next, request: { ...next.request, headersTimeout: next.deadline - now } };
      }
      next.handler.onResponseError(undefined, why);
    }
  }

  /** DeadlineHolder: fails the waiting requests that must leave the line (whyLeaving). */
  checkDeadline(now: number): void {
    let staying: Waiting[] | undefined;
    const leaving: [Waiting, UpstreamError][] = [];
    for (let i = 0; i < this.waiting.length; i++) {
      const w = this.waiting[i]!;
      const why = whyLeaving(w, now);
      if (why !== undefined) {
        staying ??= this.waiting.slice(0, i);
        leaving.push([w, why]);
      } else {
        staying?.push(w);
      }
    }
    if (staying === undefined) return;
    this.waiting = staying;
    if (staying.length === 0) deadlineClock.unwatch(this);
    for (const [w, why] of leaving) w.handler.onResponseError(undefined, why);
  }

  /**
   * Stops taking requests. Graceful: idle connections close now, busy ones when their exchange
   * ends. Otherwise every connection closes at once and running exchanges fail.
   */
  close(graceful: boolean): void {
    this.closing = true;
    const waiting = this.waiting;
    this.waiting = [];
    deadlineClock.unwatch(this);
    for (const w of waiting) {
      w.handler.onResponseError(undefined, poolClosed());
    }
    for (const c of this.idle) c.destroy();
    this.idle.length = 0;
    if (!graceful) {
      const error = poolClosed();
      for (const c of [...this.open]) c.destroy(error);
    }
  }

  // ConnectionOwner

  released(connection: UpstreamConnection, reusable: boolean): void {
    if (!reusable || this.closing) {
      if (reusable) connection.destroy();
      return;
    }
    const next = this.nextWaiting();
    if (next !== undefined) {
      connection.dispatch(next.request, next.handler);
      return;
    }
    this.idle.push(connection);
  }

  removed(connection: UpstreamConnection): void {
    if (!this.open.delete(connection)) return;
    const i = this.idle.lastIndexOf(connection);
    if (i !== -1) this.idle.splice(i, 1);
    const next = this.waiting.length > 0 && !this.closing ? this.nextWaiting() : undefined;
    if (next !== undefined) this.connect().dispatch(next.request, next.handler);
  }

  redispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    if (this.closing) {
      handler.onResponseError(undefined, poolClosed());
      return;
    }
    if (this.open.size >= this.maxConnections) {
      // First in line again (it was sent once already), whatever the bound.
      if (this.waiting.length === 0) deadlineClock.watch(this);
      this.waiting.unshift({ request, handler, deadline: deadlineAfter(request.headersTimeout) });
      return;
    }
    this.connect().dispatch(request, handler);
  }

  private connect(): UpstreamConnection {
    const connection = new UpstreamConnection(this, this.settings);
    this.open.add(connection);
    return connection;
  }
}
