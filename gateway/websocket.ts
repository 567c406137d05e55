/**
 * WebSocket upgrades: the `upgrade` event runs the same target normalization, routing and
 * plugin chain as a request (plugins see a RequestContext whose `res` writes to the socket),
 * then opens the handshake to a picked instance with node:http and, once the upstream answers
 * 101, sends the client the 101 and pipes the two sockets. A non-101 answer is relayed as an
 * ordinary response. Only `Upgrade: websocket` is accepted. With an access log, a handshake is
 * logged when its client socket closes: a tunnel's line comes at its end, with its duration.
 */
import {
  type ClientRequest,
  request as httpRequest,
  type IncomingMessage,
  ServerResponse,
  STATUS_CODES,
  validateHeaderName,
  validateHeaderValue,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Instance } from '../protocol/index.js';
import type { AccessLog } from './access-log.js';
import { pathOfTarget } from './access-log-line.js';
import {
  appendRawResponseHeaders,
  socketAddress,
  trustedChain,
  upstreamRequestHeaders,
} from './forwarding.js';
import { isPathRejection } from './path.js';
import { appendPluginHeaders, logRefusedHeader } from './plugin-headers.js';
import type { ProxyEnvironment } from './proxy.js';
import { badPath, type GatewayError, GatewayErrors, rawErrorResponse } from './responses.js';
import { routeRequest, type TableRuntime } from './route-runtime.js';
import {
  boundedTracestate,
  continueTraceparent,
  isValidTraceparent,
  newTraceparent,
  requestIdFor,
} from './trace.js';
import type { PluginOutcome, RequestContext, RouteHit } from './types.js';

class UpgradeContext implements RequestContext {
  consumer: string | undefined = undefined;
  withheldHeaders: ReadonlySet<string> | undefined = undefined;
  bodyLimit: number | undefined = undefined;
  readonly responseHeaders: Record<string, string> = {};
  readonly startedAt = performance.now();
  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly hit: RouteHit,
    readonly path: string,
    public query: string,
    readonly clientIp: string,
    readonly requestId: string,
  ) {}
}

/** What the access log says of a handshake, filled in as it goes. */
interface UpgradeOutcome {
  readonly startedAt: number;
  /** The handshake's request id (the client's valid one, else new): answers and the log name it. */
  readonly requestId: string;
  status: number;
  reason: string | undefined;
  upstream: string | undefined;
  /** Set once the handshake has a route (its name and normalized path are the log's). */
  ctx: UpgradeContext | undefined;
}

function logUpgrade(log: AccessLog, req: IncomingMessage, o: UpgradeOutcome): void {
  const host = req.headers.host;
  log.record({
    time: Date.now(),
    requestId: o.requestId,
    client: o.ctx?.clientIp ?? socketAddress(req.socket.remoteAddress),
    method: req.method ?? '',
    host: typeof host === 'string' ? host : undefined,
    path: o.ctx?.path ?? pathOfTarget(req.url),
    route: o.ctx?.hit.route.name,
    // A socket closed before any answer: the client went away.
    status: o.status === 0 ? 499 : o.status,
    durationMs: performance.now() - o.startedAt,
    upstream: o.upstream,
    upstreamMs: undefined,
    attempts: o.upstream === undefined ? 0 : 1,
    consumer: o.ctx?.consumer,
    reason: o.reason ?? (o.status === 0 ? 'client_closed' : undefined),
    websocket: o.status === 101,
  });
}

/** A header that may be written as raw text (no CR/LF or other control characters). */
function validHeader(name: string, value: string): boolean {
  try {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
}

/** Answers a handshake with `error` on the raw socket and closes it. */
function reject(socket: Duplex, outcome: UpgradeOutcome, error: GatewayError): void {
  outcome.status = error.status;
  outcome.reason = error.kind;
  if (socket.writable) {
    socket.end(
      rawErrorResponse(
        error.status,
        STATUS_CODES[error.status] ?? '',
        error.code,
        outcome.requestId,
      ),
    );
  } else {
    socket.destroy();
  }
}

export class WebSocketProxy {
  private readonly sockets = new Set<Duplex>();

  constructor(
    private readonly env: ProxyEnvironment,
    private readonly tables: () => TableRuntime,
  ) {}

  /** Open tunnels and handshakes. */
  get size(): number {
    return this.sockets.size;
  }

  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    this.track(socket);
    const outcome: UpgradeOutcome = {
      startedAt: performance.now(),
      requestId: requestIdFor(req.headers['x-request-id']),
      status: 0,
      reason: undefined,
      upstream: undefined,
      ctx: undefined,
    };
    const log = this.env.accessLog;
    if (log !== undefined) socket.once('close', () => logUpgrade(log, req, outcome));
    const metrics = this.env.metrics;
    if (this.env.closing) {
      reject(socket, outcome, GatewayErrors.shuttingDown);
      return;
    }
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      metrics.refused.inc({ reason: 'unsupported_upgrade' });
      reject(socket, outcome, GatewayErrors.unsupportedUpgrade);
      return;
    }
    const route = routeRequest(this.tables(), req);
    if (isPathRejection(route)) {
      metrics.refused.inc({ reason: route.reason });
      reject(socket, outcome, badPath(route.reason));
      return;
    }
    if (route === undefined) {
      reject(socket, outcome, GatewayErrors.notFound);
      return;
    }
    const { hit, rt } = route;
    const socketIp = socketAddress(req.socket.remoteAddress);
    const chain = trustedChain(req.headers['x-forwarded-for'], socketIp, this.env.trustedHops);
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as never);
    const ctx = new UpgradeContext(
      req,
      res,
      hit,
      route.path,
      route.query,
      chain[0]!,
      outcome.requestId,
    );
    outcome.ctx = ctx;
    void this.runPlugins(ctx).then(
      (answer) => {
        if (answer !== undefined) {
          metrics.pluginRejections.inc({ plugin: answer.plugin, reason: answer.outcome.reason });
          metrics.websockets.inc({ route: rt.name, outcome: 'rejected' });
          outcome.status = answer.outcome.status;
          outcome.reason = answer.outcome.reason;
          const body = answer.outcome.body ?? '';
          const headers: string[] = [];
          // ctx.responseHeaders win over the answer's own of the same name.
          const given = { ...answer.outcome.headers, ...ctx.responseHeaders };
          logRefusedHeader(this.env.logger, rt.name, appendPluginHeaders(given, headers));
          headers.push('x-request-id', ctx.requestId);
          headers.push('content-length', String(Buffer.byteLength(body)));
          res.writeHead(answer.outcome.status, headers);
          res.once('finish', () => socket.end());
          res.end(body);
          return;
        }
        res.detachSocket(socket as never);
        const pool = rt.upstream.pool;
        const instance = pool?.pick(ctx.consumer ?? ctx.clientIp);
        if (pool === undefined || instance === undefined) {
          metrics.websockets.inc({ route: rt.name, outcome: 'no_upstream' });
          reject(socket, outcome, GatewayErrors.noUpstream);
          return;
        }
        outcome.upstream = `${instance.host}:${instance.port}`;
        this.connect(
          ctx,
          outcome,
          chain,
          socket,
          head,
          instance,
          pool.start(instance),
          rt.timeoutMs,
          rt.name,
        );
      },
      (err: unknown) => {
        this.env.logger.error({ err, route: rt.name }, 'plugin failed on upgrade');
        reject(socket, outcome, GatewayErrors.internal);
      },
    );
  }

  /** Ends every tunnel (at the end of a graceful close). */
  closeAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private track(socket: Duplex): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private async runPlugins(
    ctx: UpgradeContext,
  ): Promise<{ plugin: string; outcome: Exclude<PluginOutcome, undefined> } | undefined> {
    for (const plugin of this.tables().runtime(ctx.hit.route).plugins) {
      let outcome = plugin.onRequest(ctx);
      if (outcome !== undefined && typeof (outcome as Promise<PluginOutcome>).then === 'function') {
        outcome = await outcome;
      }
      if (outcome !== undefined) {
        return { plugin: plugin.name, outcome: outcome as Exclude<PluginOutcome, undefined> };
      }
    }
    return undefined;
  }

  private connect(
    ctx: UpgradeContext,
    outcome: UpgradeOutcome,
    chain: string[],
    socket: Duplex,
    head: Buffer,
    instance: Instance,
    done: (o: { ok: boolean }) => void,
    timeoutMs: number,
    route: string,
  ): void {
    const req = ctx.req;
    const incoming = req.headers.traceparent;
    const continued = typeof incoming === 'string' && isValidTraceparent(incoming);
    const headers = upstreamRequestHeaders(req.rawHeaders, req.headers, {
      chain,
      trustedHops: this.env.trustedHops,
      encrypted: (req.socket as { encrypted?: boolean }).encrypted === true,
      requestId: ctx.requestId,
      traceparent: continued ? continueTraceparent(incoming) : newTraceparent(),
      tracestate: continued ? boundedTracestate(req.headers.tracestate) : undefined,
      upgrade: true,
      withheld: ctx.withheldHeaders,
      consumer: ctx.consumer,
    });
    const secure = instance.scheme === 'https' || instance.scheme === 'wss';
    const up: ClientRequest = (secure ? httpsRequest : httpRequest)({
      host: instance.host,
      port: instance.port,
      method: req.method ?? 'GET',
      path: ctx.hit.upstreamPath + ctx.query,
      headers,
      agent: false,
    });
    const metrics = this.env.metrics;
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      done({ ok: false });
      metrics.websockets.inc({ route, outcome: 'timeout' });
      up.destroy();
      reject(socket, outcome, GatewayErrors.timeout);
    }, timeoutMs);
    socket.once('close', () => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        done({ ok: true });
        up.destroy();
      }
    });
    up.on('upgrade', (upRes: IncomingMessage, upSocket: Duplex, upHead: Buffer) => {
      if (settled) {
        upSocket.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      done({ ok: true });
      metrics.websockets.inc({ route, outcome: 'upgraded' });
      outcome.status = 101;
      this.track(upSocket);
      const lines = appendRawResponseHeaders(upRes.rawHeaders, [], true);
      logRefusedHeader(this.env.logger, route, appendPluginHeaders(ctx.responseHeaders, lines));
      lines.push('x-request-id', ctx.requestId);
      let text = 'HTTP/1.1 101 Switching Protocols\r\n';
      for (let i = 0; i < lines.length; i += 2) {
        if (!validHeader(lines[i]!, lines[i + 1]!)) continue;
        text += `${lines[i]}: ${lines[i + 1]}\r\n`;
      }
      socket.write(`${text}\r\n`);
      if (upHead.length > 0) socket.write(upHead);
      if (head.length > 0) upSocket.write(head);
      upSocket.on('error', () => socket.destroy());
      socket.on('error', () => upSocket.destroy());
      upSocket.once('close', () => socket.destroy());
      socket.once('close', () => upSocket.destroy());
      upSocket.pipe(socket);
      socket.pipe(upSocket);
    });
    up.on('response', (upRes: IncomingMessage) => {
      if (settled) {
        upRes.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      done({ ok: (upRes.statusCode ?? 502) < 500 });
      metrics.websockets.inc({ route, outcome: 'refused_by_upstream' });
      outcome.status = upRes.statusCode ?? 502;
      const res = new ServerResponse(req);
      res.shouldKeepAlive = false;
      res.assignSocket(socket as never);
      const out = appendRawResponseHeaders(upRes.rawHeaders, [], false);
      out.push('x-request-id', ctx.requestId);
      res.writeHead(upRes.statusCode ?? 502, out);
      upRes.pipe(res);
      res.once('finish', () => socket.end());
    });
    up.on('error', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done({ ok: false });
      metrics.websockets.inc({ route, outcome: 'upstream_error' });
      reject(socket, outcome, GatewayErrors.badGateway);
    });
    up.end();
  }
}
