/**
 * The hot path: one Exchange per request is the request context the plugins see, the handler
 * of the upstream attempt (gateway/upstream/), and the record of the outcome (metrics, passive
 * health). It serves requests from the edge and from Node's HTTP server alike (proxy-io.ts).
 * No per-request closures on the synchronous path; the upstream request's field lines are
 * rendered once, straight into one string, and the response passes the upstream's field lines
 * on as they came.
 *
 * Per request: normalize the target (400) → route (404) → plugins in order (an outcome answers
 * at once; only a returned promise is awaited) → body limit (413) → pick an instance (503) →
 * dispatch with the route timeout on the response head (504) → stream the response back
 * (the upstream client's body timeout, OriginOptions.bodyTimeoutMs, bounds silences within it).
 * Retries: on connect errors for any method, on a reset connection or a retry status for
 * idempotent methods (or all methods when the policy says so), within the route's retry budget,
 * and only while the request body can be replayed (none, or buffered up to 64 KiB).
 */
import { Buffer } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { DoneFn } from '../client/index.js';
import type { Instance } from '../protocol/index.js';
import type { Logger } from '../transport/logger.js';
import type { AccessLog } from './access-log.js';
import { pathOfTarget } from './access-log-line.js';
import {
  appendResponseHeaders,
  passedResponseLines,
  socketAddress,
  trustedChain,
} from './forwarding.js';
import { type GatewayMetrics, statusClassIndex } from './gateway-metrics.js';
import { type HeadMemo, headMemo } from './head-memo.js';
import type { OriginClients } from './origins.js';
import { isPathRejection } from './path.js';
import { appendPluginHeaders, logRefusedHeader, type RefusedHeader } from './plugin-headers.js';
import {
  BodyTooLargeError,
  bodyStreamOf,
  onResponseClose,
  onResponseDrain,
  type ProxyRequest,
  type ProxyResponse,
  type ResponseOwner,
  streamBody,
} from './proxy-io.js';
import { clockNow } from './read-clock.js';
import { badPath, type GatewayError, GatewayErrors, sendError } from './responses.js';
import {
  MAX_REPLAY_BODY,
  type RequestRoute,
  type RouteRuntime,
  routeRequest,
  type TableRuntime,
} from './route-runtime.js';
import {
  keptRequestId,
  newTraceLines,
  traceLinesRequestId,
  traceLinesRequestIdLine,
} from './trace.js';
import type { Plugin, PluginOutcome, RequestContext, RouteHit } from './types.js';
import type { FieldLines } from './upstream/field-lines.js';
import type { ResponseHead } from './upstream/response-head.js';
import {
  type FailureKind,
  failureKindOf,
  isQueueError,
  type UpstreamController,
  UpstreamErrorCode,
  type UpstreamHandler,
  upstreamErrorKind,
} from './upstream/types.js';
import { upstreamRequestLines } from './upstream-request-lines.js';

/** What every exchange shares (one per gateway). */
export interface ProxyEnvironment {
  readonly metrics: GatewayMetrics;
  readonly origins: OriginClients;
  readonly trustedHops: number;
  readonly logger: Logger;
  /** Where finished requests are logged, if anywhere. */
  accessLog: AccessLog | undefined;
  /** True once the gateway is closing: responses close their connections. */
  closing: boolean;
  /** Requests being served. */
  inFlight: number;
}

export class Exchange implements RequestContext, UpstreamHandler, ResponseOwner {
  readonly startedAt: number;
  path = '';
  query = '';
  clientIp = '';
  requestId = '';
  consumer: string | undefined = undefined;
  withheldHeaders: ReadonlySet<string> | undefined = undefined;
  bodyLimit: number | undefined = undefined;
  hit!: RouteHit;
  private extraHeaders: Record<string, string> | undefined = undefined;
  private rt: RouteRuntime | undefined = undefined;
  private chain: string[] | undefined = undefined;
  /** The client connection's peer address (socketAddress() form). */
  private socketIp = '';
  /**
   * A request id the gateway made, with a new trace, as the upstream request's field lines
   * (newTraceLines); undefined when the client sent a valid id.
   */
  private newTrace: string | undefined = undefined;
  /** What is kept for the request's head when it repeats one (head-memo.ts). */
  private memo: HeadMemo | undefined = undefined;
  private upstreamLines: FieldLines | undefined = undefined;
  private body: Buffer | AsyncGenerator<Buffer> | null = null;
  private replayable = true;
  private attempt = 0;
  private instance: Instance | undefined = undefined;
  private done: DoneFn | undefined = undefined;
  private controller: UpstreamController | undefined = undefined;
  private upstreamStartedAt = 0;
  /** Time to the last attempt's response head (the access log). */
  private upstreamMs: number | undefined = undefined;
  /** Why the gateway answered itself (the access log). */
  private reason: string | undefined = undefined;
  private discarding = false;
  private responding = false;
  /** The response was ended with the body's last chunk (before onResponseEnd). */
  private ended = false;
  private gone = false;

  constructor(
    private readonly env: ProxyEnvironment,
    private readonly tables: TableRuntime,
    readonly req: ProxyRequest,
    private readonly res: ProxyResponse,
  ) {
    this.startedAt = clockNow();
  }

  /** Headers plugins want on the response (created on first use). */
  get responseHeaders(): Record<string, string> {
    this.extraHeaders ??= {};
    return this.extraHeaders;
  }

  run(): void {
    const env = this.env;
    const req = this.req;
    const res = this.res;
    env.inFlight++;
    res.owner = this;
    res.on('close', onResponseClose);
    const headers = req.headers;
    const kept = keptRequestId(headers['x-request-id']);
    if (kept !== undefined) {
      this.requestId = kept;
    } else {
      this.newTrace = newTraceLines();
      this.requestId = traceLinesRequestId(this.newTrace);
    }
    const socketIp = req.clientAddress ?? socketAddress(req.socket.remoteAddress);
    this.socketIp = socketIp;
    if (env.trustedHops > 0) {
      this.chain = trustedChain(headers['x-forwarded-for'], socketIp, env.trustedHops);
      this.clientIp = this.chain[0]!;
    } else {
      this.clientIp = socketIp;
    }
    const memo = req.repeatedHead === true ? headMemo(req.rawHeaders) : undefined;
    this.memo = memo;
    let route = memo?.keptRoute(this.tables);
    if (route === undefined) {
      route = this.findRoute();
      if (route === undefined) return;
      memo?.keepRoute(this.tables, route);
    }
    this.path = route.path;
    this.query = route.query;
    this.hit = route.hit;
    this.rt = route.rt;
    this.runPlugins(0);
  }

  /** The request's route, or undefined when it has none (answered). */
  private findRoute(): RequestRoute | undefined {
    const route = routeRequest(this.tables, this.req);
    if (isPathRejection(route)) {
      this.env.metrics.refused.inc({ reason: route.reason });
      this.fail(badPath(route.reason));
      return undefined;
    }
    if (route === undefined) this.fail(GatewayErrors.notFound);
    return route;
  }

  // -------------------------------------------------------------------------------------------
  // Plugins

  private runPlugins(from: number): void {
    const plugins = this.rt!.plugins;
    for (let i = from; i < plugins.length; i++) {
      const plugin = plugins[i]!;
      let outcome: PluginOutcome | Promise<PluginOutcome>;
      try {
        outcome = plugin.onRequest(this);
      } catch (err) {
        this.pluginFailed(plugin, err);
        return;
      }
      if (outcome === undefined) continue;
      if (typeof (outcome as Promise<PluginOutcome>).then === 'function') {
        this.awaitPlugin(i, plugin, outcome as Promise<PluginOutcome>);
        return;
      }
      this.pluginAnswered(plugin, outcome as Exclude<PluginOutcome, undefined>);
      return;
    }
    this.forward();
  }

  private awaitPlugin(i: number, plugin: Plugin, pending: Promise<PluginOutcome>): void {
    pending.then(
      (outcome) => {
        if (this.gone) return;
        if (outcome === undefined) this.runPlugins(i + 1);
        else this.pluginAnswered(plugin, outcome);
      },
      (err: unknown) => this.pluginFailed(plugin, err),
    );
  }

  private pluginFailed(plugin: Plugin, err: unknown): void {
    this.env.logger.error({ err, plugin: plugin.name, route: this.rt?.name }, 'plugin failed');
    this.fail(GatewayErrors.internal);
  }

  private pluginAnswered(plugin: Plugin, outcome: Exclude<PluginOutcome, undefined>): void {
    this.env.metrics.pluginRejections.inc({ plugin: plugin.name, reason: outcome.reason });
    if (this.gone) return;
    this.reason = outcome.reason;
    const out: string[] = [];
    const given = outcome.headers;
    if (given !== undefined) this.refusedHeader(appendPluginHeaders(given, out));
    const body = outcome.body ?? '';
    out.push('content-length', String(Buffer.byteLength(body)));
    this.writeHead(outcome.status, out);
    this.res.end(body);
  }

  // -------------------------------------------------------------------------------------------
  // Forwarding

  private forward(): void {
    if (this.gone) return;
    const headers = this.req.headers;
    const cl = headers['content-length'];
    const chunked = headers['transfer-encoding'] !== undefined;
    const hasBody = chunked || (cl !== undefined && cl !== '0');
    const stream = hasBody ? bodyStreamOf(this.req) : undefined;
    if (!hasBody) {
      this.body = null;
    } else if (stream === undefined) {
      // Only Node's server hands over requests with bodies; anything else is a gateway bug.
      this.env.logger.error({ route: this.rt?.name }, 'request with a body but no body stream');
      this.fail(GatewayErrors.internal, true);
      return;
    } else {
      const length = cl === undefined ? undefined : Number(cl);
      if (length !== undefined && this.bodyLimit !== undefined && length > this.bodyLimit) {
        this.fail(GatewayErrors.tooLarge, true);
        return;
      }
      if (length !== undefined && length <= MAX_REPLAY_BODY && this.rt!.retry.attempts > 0) {
        this.bufferBody(stream, length);
        return;
      }
      this.body = streamBody(stream, this.bodyLimit);
      this.replayable = false;
    }
    this.rt!.retry.budget.request();
    this.attemptUpstream();
  }

  private bufferBody(req: IncomingMessage, length: number): void {
    const chunks: Buffer[] = [];
    let seen = 0;
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen <= length) chunks.push(chunk);
    });
    req.once('end', () => {
      if (this.gone) return;
      this.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      this.rt!.retry.budget.request();
      this.attemptUpstream();
    });
  }

  private attemptUpstream(): void {
    if (this.gone || this.responding) return;
    const upstream = this.rt!.upstream;
    const pool = upstream.pool;
    if (pool === undefined) {
      this.awaitPool();
      return;
    }
    let instance = pool.pick(this.consumer ?? this.clientIp);
    if (this.attempt > 0 && instance !== undefined && instance === this.instance && pool.size > 1) {
      instance = pool.pick(this.consumer ?? this.clientIp);
    }
    if (instance === undefined) {
      this.fail(GatewayErrors.noUpstream);
      return;
    }
    this.instance = instance;
    this.done = pool.start(instance);
    this.discarding = false;
    this.controller = undefined;
    // The real time: a plugin may have taken a while since the read that carried the request.
    this.upstreamStartedAt = performance.now();
    this.upstreamLines ??= this.buildUpstreamLines();
    const rt = this.rt!;
    try {
      this.env.origins.get(instance).dispatch(
        {
          method: this.req.method ?? 'GET',
          path: this.hit.upstreamPath + this.query,
          headers: this.upstreamLines,
          body: this.body,
          headersTimeout: rt.timeoutMs,
        },
        this,
      );
    } catch (err) {
      this.onResponseError(undefined, err as Error);
    }
  }

  private awaitPool(): void {
    const upstream = this.rt!.upstream;
    if (upstream.failure !== undefined) {
      this.fail(GatewayErrors.noUpstream);
      return;
    }
    const timer = setTimeout(() => this.fail(GatewayErrors.notSynced), this.rt!.timeoutMs);
    upstream.ready.then(
      () => {
        clearTimeout(timer);
        this.attemptUpstream();
      },
      () => {
        clearTimeout(timer);
        this.fail(GatewayErrors.noUpstream);
      },
    );
  }

  private buildUpstreamLines(): FieldLines {
    return upstreamRequestLines({
      req: this.req,
      memo: this.memo,
      socketIp: this.socketIp,
      chain: this.chain,
      trustedHops: this.env.trustedHops,
      requestId: this.requestId,
      newTrace: this.newTrace,
      withheld: this.withheldHeaders,
      consumer: this.consumer,
    });
  }

  /** Whether a failed attempt may be tried again (and takes the retry from the budget). */
  private mayRetry(kind: FailureKind): boolean {
    const rt = this.rt!;
    if (this.gone || this.responding || !this.replayable) return false;
    if (this.attempt >= rt.retry.attempts) return false;
    if (kind !== 'connect' && !rt.mayRetry(this.req.method ?? 'GET')) return false;
    if (!rt.retry.budget.tryRetry()) return false;
    this.attempt++;
    this.env.metrics.retries.inc();
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // UpstreamHandler

  /** The client went away: a request still waiting for a connection is dropped unsent. */
  get abandoned(): boolean {
    return this.gone;
  }

  onRequestStart(controller: UpstreamController): void {
    this.controller = controller;
    if (this.gone) controller.abort(new Error('client closed'));
  }

  onResponseStart(_controller: UpstreamController, head: ResponseHead): void {
    const statusCode = head.status;
    const rt = this.rt!;
    // One time for the histogram and the balancer's latency record.
    const latencyMs = clockNow() - this.upstreamStartedAt;
    this.upstreamMs = latencyMs;
    rt.metrics.upstreamDuration.observe(latencyMs / 1000);
    if (rt.retry.onStatus.has(statusCode) && this.mayRetry('status')) {
      this.done?.({ ok: false, latencyMs });
      this.discarding = true;
      return;
    }
    this.done?.({ ok: statusCode < 500, latencyMs });
    this.done = undefined;
    if (this.gone) return;
    this.writeUpstreamHead(head);
  }

  onResponseData(controller: UpstreamController, chunk: Buffer, last: boolean): void {
    if (this.discarding || this.gone) return;
    if (last) {
      // The whole body is here: head and body leave in one write, no chunk held for a tick.
      this.ended = true;
      this.res.end(chunk);
      return;
    }
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', onResponseDrain);
    }
  }

  onResponseLastText(_controller: UpstreamController, text: string): void {
    if (this.discarding || this.gone) return;
    this.ended = true;
    this.res.end(text, 'latin1');
  }

  onResponseEnd(): void {
    this.controller = undefined;
    if (this.discarding) {
      this.attemptUpstream();
      return;
    }
    if (!this.gone && !this.ended) this.res.end();
  }

  onResponseError(_controller: UpstreamController | undefined, err: Error): void {
    this.controller = undefined;
    const code = (err as { code?: string }).code ?? '';
    const rt = this.rt!;
    if (this.gone) {
      this.done?.({ ok: true });
      this.done = undefined;
      return;
    }
    if (err instanceof BodyTooLargeError) {
      this.done?.({ ok: true });
      this.done = undefined;
      if (!this.responding) this.fail(GatewayErrors.tooLarge, true);
      else this.res.destroy();
      return;
    }
    const kind = failureKindOf(code);
    this.env.metrics.upstreamErrors.inc({
      service: rt.route.service,
      kind: upstreamErrorKind(code),
    });
    this.done?.({ ok: isQueueError(code) });
    this.done = undefined;
    if (this.responding) {
      // Headers already went out: the client sees a truncated response.
      this.res.destroy();
      return;
    }
    if (kind !== undefined && this.mayRetry(kind)) {
      this.attemptUpstream();
      return;
    }
    if (code === UpstreamErrorCode.headersTimeout || code === UpstreamErrorCode.queueTimeout) {
      this.fail(GatewayErrors.timeout);
    } else if (code === UpstreamErrorCode.overflow) this.fail(GatewayErrors.overloaded);
    else if (code === UpstreamErrorCode.requestLength || bodyStreamOf(this.req)?.errored) {
      this.res.destroy();
    } else {
      this.env.logger.debug({ err, route: rt.name }, 'upstream failed');
      this.fail(GatewayErrors.badGateway);
    }
  }

  resumeUpstream(): void {
    this.controller?.resume();
  }

  // -------------------------------------------------------------------------------------------
  // Answering and accounting

  private writeHead(status: number, headers: string[]): void {
    this.responding = true;
    const add = this.pluginHeaders();
    if (add !== undefined) {
      // A plugin's header replaces the upstream's of the same name.
      for (let j = 0; j < add.length; j += 2) {
        const name = add[j]!.toLowerCase();
        for (let i = headers.length - 2; i >= 0; i -= 2) {
          if (headers[i]!.toLowerCase() === name) headers.splice(i, 2);
        }
      }
      for (let j = 0; j < add.length; j++) headers.push(add[j]!);
    }
    headers.push('x-request-id', this.requestId);
    if (this.env.closing) this.res.shouldKeepAlive = false;
    this.res.writeHead(status, headers);
  }

  /** The upstream's head, its field lines passed on as they came where the response can. */
  private writeUpstreamHead(head: ResponseHead): void {
    const res = this.res;
    if (res.writeHeadLines === undefined) {
      this.writeHead(head.status, appendResponseHeaders(head.headers, []));
      return;
    }
    this.responding = true;
    // A plugin's header replaces the upstream's of the same name.
    const replaced: string[] | undefined = this.extraHeaders === undefined ? undefined : [];
    const add = this.pluginHeaders(replaced);
    let lines = passedResponseLines(head, replaced);
    if (add !== undefined) {
      for (let j = 0; j < add.length; j += 2) lines += `${add[j]!}: ${add[j + 1]!}\r\n`;
    }
    lines +=
      this.newTrace !== undefined
        ? traceLinesRequestIdLine(this.newTrace)
        : `x-request-id: ${this.requestId}\r\n`;
    if (this.env.closing) res.shouldKeepAlive = false;
    const date = head.has('date') || replaced?.includes('date') === true;
    res.writeHeadLines(head.status, lines, head.has('content-length'), date);
  }

  /**
   * The headers plugins set for the response (checked; a refused one is logged), if any; their
   * names in lower case go to `lowerNames` when given.
   */
  private pluginHeaders(lowerNames?: string[]): string[] | undefined {
    const extra = this.extraHeaders;
    if (extra === undefined) return undefined;
    const add: string[] = [];
    this.refusedHeader(appendPluginHeaders(extra, add, lowerNames));
    return add;
  }

  /** Answers with a prepared error (unless the response already started). */
  private fail(error: GatewayError, closeConnection = false): void {
    if (this.gone || this.responding) return;
    this.responding = true;
    this.reason = error.kind;
    const res = this.res;
    if (closeConnection || this.env.closing) res.shouldKeepAlive = false;
    sendError(res, error, this.requestId, this.pluginHeaders());
  }

  private refusedHeader(refused: RefusedHeader | undefined): void {
    logRefusedHeader(this.env.logger, this.rt?.name, refused);
  }

  /** The response closed (finished or the client went away): account once. */
  closed(): void {
    const env = this.env;
    env.inFlight--;
    const res = this.res;
    if (!res.writableFinished) {
      this.gone = true;
      this.controller?.abort(new Error('client closed'));
    }
    const rt = this.rt;
    const status = res.headersSent ? res.statusCode : (res.refusal?.status ?? 499);
    const requests = rt === undefined ? env.metrics.unroutedRequests : rt.metrics.requests;
    requests[statusClassIndex(status)]!.inc();
    const durationMs = clockNow() - this.startedAt;
    if (rt !== undefined) rt.metrics.duration.observe(durationMs / 1000);
    if (env.accessLog !== undefined) this.logAccess(env.accessLog, status, durationMs);
  }

  private logAccess(log: AccessLog, status: number, durationMs: number): void {
    const req = this.req;
    const instance = this.instance;
    const host = req.headers.host;
    log.record({
      time: Date.now(),
      requestId: this.requestId,
      client: this.clientIp,
      method: req.method ?? '',
      host: typeof host === 'string' ? host : undefined,
      path: this.rt !== undefined ? this.path : pathOfTarget(req.url),
      route: this.rt?.name,
      status,
      durationMs,
      upstream: instance === undefined ? undefined : `${instance.host}:${instance.port}`,
      upstreamMs: this.upstreamMs,
      attempts: instance === undefined ? 0 : this.attempt + 1,
      consumer: this.consumer,
      reason: this.reason ?? (status === 499 ? 'client_closed' : this.res.refusal?.reason),
    });
  }
}
