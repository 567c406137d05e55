/**
 * WebSocket upgrades: the `upgrade` event runs the same target normalization, routing and
 * plugin chain as a request (plugins see a RequestContext whose `res` writes to the socket),
 * then opens the handshake to a picked instance with node:http and, once the upstream answers
 * 101, sends the client the 101 and pipes the two sockets. A non-101 answer is relayed as an
 * ordinary response. Only `Upgrade: websocket` is accepted.
 */
import {
  type ClientRequest,
  request as httpRequest,
  type IncomingMessage,
  ServerResponse,
  validateHeaderName,
  validateHeaderValue,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Instance } from '../protocol/index.js';
import {
  appendRawResponseHeaders,
  socketAddress,
  trustedChain,
  upstreamRequestHeaders,
} from './forwarding.js';
import { isPathRejection } from './path.js';
import { appendPluginHeaders, logRefusedHeader } from './plugin-headers.js';
import type { ProxyEnvironment } from './proxy.js';
import { rawErrorResponse } from './responses.js';
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

function reject(
  socket: Duplex,
  status: number,
  reason: string,
  code: Parameters<typeof rawErrorResponse>[2],
): void {
  if (socket.writable) socket.end(rawErrorResponse(status, reason, code));
  else socket.destroy();
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
    const metrics = this.env.metrics;
    if (this.env.closing) {
      reject(socket, 503, 'Service Unavailable', 'ROSTER_ERR_NOT_READY');
      return;
    }
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      metrics.refused.inc({ reason: 'unsupported_upgrade' });
      reject(socket, 400, 'Bad Request', 'ROSTER_ERR_INVALID_ARGUMENT');
      return;
    }
    const route = routeRequest(this.tables(), req);
    if (isPathRejection(route)) {
      metrics.refused.inc({ reason: route.reason });
      reject(socket, 400, 'Bad Request', 'ROSTER_ERR_INVALID_ARGUMENT');
      return;
    }
    if (route === undefined) {
      reject(socket, 404, 'Not Found', 'ROSTER_ERR_NOT_FOUND');
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
      requestIdFor(req.headers['x-request-id']),
    );
    void this.runPlugins(ctx).then(
      (answer) => {
        if (answer !== undefined) {
          metrics.pluginRejections.inc({ plugin: answer.plugin, reason: answer.outcome.reason });
          metrics.websockets.inc({ route: rt.name, outcome: 'rejected' });
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
          reject(socket, 503, 'Service Unavailable', 'ROSTER_ERR_NO_RESPONDERS');
          return;
        }
        this.connect(
          ctx,
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
        reject(socket, 500, 'Internal Server Error', 'ROSTER_ERR_INTERNAL');
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
      reject(socket, 504, 'Gateway Timeout', 'ROSTER_ERR_TIMEOUT');
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
      reject(socket, 502, 'Bad Gateway', 'ROSTER_ERR_NO_RESPONDERS');
    });
    up.end();
  }
}
