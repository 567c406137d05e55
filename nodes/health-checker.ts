/**
 * The owner node's active health checks.
 *
 * Each registered target is probed every `check.intervalMs` (the first probe after a jittered
 * delay, so a node that adopts many instances at once does not probe them in one burst).
 * At most `maxConcurrent` probes run at once; the rest wait in a FIFO queue. `onResult` is
 * called only when a target's status changes (the first result is always reported), so the
 * owner publishes status changes rather than every probe.
 *
 * HTTP checks GET `scheme://host:port{path ?? '/health'}`: 2xx is passing, anything else
 * (other status, connection error, timeout) is critical. The response body is never
 * buffered: up to 64 KiB is read and discarded (a short prefix is kept for the detail
 * text), then the connection is dropped; a slow body never delays the result past the
 * timeout, as the status line alone decides. HTTPS certificates are verified (Node's defaults). TCP checks pass when a
 * connection is established within the timeout.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { HealthCheck } from '../protocol/records.js';
import { type Logger, silentLogger } from '../transport/logger.js';

export type CheckStatus = 'passing' | 'critical';

export interface CheckResult {
  readonly ok: boolean;
  readonly status: CheckStatus;
  /** Time to the response headers (HTTP) or to the connection (TCP), or until failure. */
  readonly latencyMs: number;
  /** Human-readable outcome, e.g. `HTTP 200 OK` or `timeout after 2000 ms`. */
  readonly detail: string;
}

export interface CheckTarget {
  readonly host: string;
  readonly port: number;
  /** `https` selects TLS for HTTP checks; anything else means plain HTTP. */
  readonly scheme?: string;
  readonly check: HealthCheck;
}

export interface HealthCheckerOptions {
  readonly logger?: Logger;
  /** Probes in flight at once; the rest queue (default 256). */
  readonly maxConcurrent?: number;
  /** Upper bound on the jittered delay before a target's first probe (default 1000 ms). */
  readonly maxFirstDelayMs?: number;
  /** Called when a target's status changes; the first result is always reported. */
  readonly onResult: (key: string, result: CheckResult) => void;
}

/** Bytes of a response body kept for the detail text. */
const DETAIL_BODY_BYTES = 256;
/** Bytes of a response body read (and discarded) before the connection is dropped. */
const DRAIN_LIMIT_BYTES = 64 * 1024;
const USER_AGENT = 'roster-health-check/0.1';

interface Entry {
  readonly key: string;
  readonly target: CheckTarget;
  timer: NodeJS.Timeout | undefined;
  abort: AbortController | undefined;
  queued: boolean;
  dead: boolean;
  last: CheckStatus | undefined;
}

export class HealthChecker {
  private readonly log: Logger;
  private readonly maxConcurrent: number;
  private readonly maxFirstDelayMs: number;
  private readonly onResult: (key: string, result: CheckResult) => void;
  private readonly entries = new Map<string, Entry>();
  private queue: Entry[] = [];
  private queueHead = 0;
  private running = 0;
  private closed = false;

  constructor(options: HealthCheckerOptions) {
    this.log = (options.logger ?? silentLogger).child({ component: 'health-checker' });
    this.maxConcurrent = Math.max(1, Math.floor(options.maxConcurrent ?? 256));
    this.maxFirstDelayMs = Math.max(0, options.maxFirstDelayMs ?? 1000);
    this.onResult = options.onResult;
  }

  /** Number of targets being checked. */
  get size(): number {
    return this.entries.size;
  }

  /** Probes in flight right now. */
  get inFlight(): number {
    return this.running;
  }

  /**
   * Adds or replaces the check for `key`. Setting an identical target again is a no-op;
   * a changed target restarts its schedule and its next result is reported.
   */
  set(key: string, target: CheckTarget): void {
    if (this.closed) return;
    const old = this.entries.get(key);
    if (old !== undefined) {
      if (sameTarget(old.target, target)) return;
      this.kill(old);
    }
    const entry: Entry = {
      key,
      target: {
        host: target.host,
        port: target.port,
        ...(target.scheme === undefined ? {} : { scheme: target.scheme }),
        check: { ...target.check },
      },
      timer: undefined,
      abort: undefined,
      queued: false,
      dead: false,
      last: undefined,
    };
    this.entries.set(key, entry);
    const firstDelay = Math.random() * Math.min(target.check.intervalMs, this.maxFirstDelayMs);
    this.schedule(entry, firstDelay);
  }

  /** Stops checking `key`; an in-flight probe is aborted and its result discarded. */
  delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.kill(entry);
  }

  /** Stops everything; no callback fires afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.entries.values()) this.kill(entry);
    this.entries.clear();
    this.queue = [];
    this.queueHead = 0;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  private kill(entry: Entry): void {
    entry.dead = true;
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.abort?.abort();
  }

  private schedule(entry: Entry, delayMs: number): void {
    const timer = setTimeout(() => {
      entry.timer = undefined;
      this.fire(entry);
    }, delayMs);
    timer.unref();
    entry.timer = timer;
  }

  private fire(entry: Entry): void {
    if (entry.dead || this.closed) return;
    if (this.running < this.maxConcurrent) {
      this.start(entry);
    } else {
      entry.queued = true;
      this.queue.push(entry);
    }
  }

  private start(entry: Entry): void {
    this.running++;
    const abort = new AbortController();
    entry.abort = abort;
    const started = performance.now();
    void runCheck(entry.target, abort.signal).then((result) => {
      this.running--;
      if (entry.abort === abort) entry.abort = undefined;
      if (!entry.dead && !this.closed) {
        this.report(entry, result);
        if (!entry.dead && !this.closed) {
          const elapsed = performance.now() - started;
          this.schedule(entry, Math.max(0, entry.target.check.intervalMs - elapsed));
        }
      }
      this.drain();
    });
  }

  private drain(): void {
    while (this.running < this.maxConcurrent && this.queueHead < this.queue.length) {
      const next = this.queue[this.queueHead++]!;
      next.queued = false;
      if (!next.dead && !this.closed) this.start(next);
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private report(entry: Entry, result: CheckResult): void {
    if (entry.last === result.status) return;
    const previous = entry.last;
    entry.last = result.status;
    this.log.debug(
      { key: entry.key, from: previous ?? null, to: result.status, detail: result.detail },
      'health status changed',
    );
    try {
      this.onResult(entry.key, result);
    } catch (err) {
      this.log.warn({ err, key: entry.key }, 'health check onResult threw');
    }
  }
}

function sameTarget(a: CheckTarget, b: CheckTarget): boolean {
  return (
    a.host === b.host &&
    a.port === b.port &&
    (a.scheme ?? '') === (b.scheme ?? '') &&
    a.check.kind === b.check.kind &&
    a.check.path === b.check.path &&
    a.check.intervalMs === b.check.intervalMs &&
    a.check.timeoutMs === b.check.timeoutMs
  );
}

/** `[::1]` → `::1`; anything else unchanged. */
function bareHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function elapsedSince(start: number): number {
  return Math.round((performance.now() - start) * 100) / 100;
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && !err.message.includes(code)
      ? `${code}: ${err.message}`
      : err.message;
  }
  return String(err);
}

/** Runs one probe. Never rejects; an aborted probe resolves critical with detail `aborted`. */
export function runCheck(target: CheckTarget, signal?: AbortSignal): Promise<CheckResult> {
  return target.check.kind === 'tcp' ? probeTcp(target, signal) : probeHttp(target, signal);
}

function critical(start: number, detail: string): CheckResult {
  return { ok: false, status: 'critical', latencyMs: elapsedSince(start), detail };
}

function probeTcp(target: CheckTarget, signal?: AbortSignal): Promise<CheckResult> {
  const start = performance.now();
  const timeoutMs = target.check.timeoutMs;
  return new Promise<CheckResult>((resolve) => {
    if (signal?.aborted) {
      resolve(critical(start, 'aborted'));
      return;
    }
    let done = false;
    let socket: net.Socket;
    try {
      socket = net.connect({ host: bareHost(target.host), port: target.port });
    } catch (err) {
      resolve(critical(start, `TCP ${errorText(err)}`));
      return;
    }
    const finish = (result: CheckResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result);
    };
    const onAbort = (): void => finish(critical(start, 'aborted'));
    const timer = setTimeout(
      () => finish(critical(start, `timeout after ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () =>
      finish({
        ok: true,
        status: 'passing',
        latencyMs: elapsedSince(start),
        detail: 'TCP connect ok',
      }),
    );
    socket.once('error', (err) => finish(critical(start, `TCP ${errorText(err)}`)));
  });
}

function probeHttp(target: CheckTarget, signal?: AbortSignal): Promise<CheckResult> {
  const start = performance.now();
  const timeoutMs = target.check.timeoutMs;
  const secure = target.scheme === 'https';
  const client = secure ? https : http;
  return new Promise<CheckResult>((resolve) => {
    if (signal?.aborted) {
      resolve(critical(start, 'aborted'));
      return;
    }
    let done = false;
    /** Status line and latency once the headers arrived. */
    let head: { code: number; text: string; latencyMs: number } | undefined;
    const body: Buffer[] = [];
    let bodyBytes = 0;

    const fromHead = (h: NonNullable<typeof head>): CheckResult => {
      const ok = h.code >= 200 && h.code < 300;
      let detail = `HTTP ${h.code}${h.text === '' ? '' : ' ' + h.text}`;
      if (!ok && bodyBytes > 0) {
        const text = Buffer.concat(body)
          .subarray(0, DETAIL_BODY_BYTES)
          .toString('utf8')
          .replace(/\uFFFD+$/, '')
          .replace(/\s+/g, ' ')
          .trim();
        if (text !== '') detail += `: ${text}`;
      }
      return { ok, status: ok ? 'passing' : 'critical', latencyMs: h.latencyMs, detail };
    };

    const finish = (result: CheckResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      // Drop the connection: the body (if any) is never read past the detail prefix.
      req.destroy();
      resolve(result);
    };
    const onAbort = (): void => finish(critical(start, 'aborted'));
    const timer = setTimeout(() => {
      // Headers already in: the status decides, a slow body does not.
      finish(
        head !== undefined ? fromHead(head) : critical(start, `timeout after ${timeoutMs} ms`),
      );
    }, timeoutMs);
    timer.unref();

    let req: http.ClientRequest;
    try {
      req = client.request({
        host: bareHost(target.host),
        port: target.port,
        method: 'GET',
        path: target.check.path ?? '/health',
        agent: false,
        headers: { 'user-agent': USER_AGENT, accept: '*/*', connection: 'close' },
      });
    } catch (err) {
      // Invalid host, port or path: rejected before any I/O.
      clearTimeout(timer);
      resolve(critical(start, `HTTP ${errorText(err)}`));
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    req.once('error', (err) => {
      if (head !== undefined) finish(fromHead(head));
      else finish(critical(start, `HTTP ${errorText(err)}`));
    });
    req.once('response', (res) => {
      head = {
        code: res.statusCode ?? 0,
        text: res.statusMessage ?? '',
        latencyMs: elapsedSince(start),
      };
      const h = head;
      // Drain a bounded amount so well-behaved servers see a normal close; keep a prefix
      // for the detail text; never buffer more than that.
      res.on('data', (chunk: Buffer) => {
        if (done) return;
        if (bodyBytes < DETAIL_BODY_BYTES) body.push(chunk);
        bodyBytes += chunk.length;
        if (bodyBytes > DRAIN_LIMIT_BYTES) finish(fromHead(h));
      });
      res.once('end', () => finish(fromHead(h)));
      res.once('error', () => finish(fromHead(h)));
      res.once('close', () => finish(fromHead(h)));
    });
    req.end();
  });
}
