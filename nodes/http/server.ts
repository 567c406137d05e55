/**
 * The registry node's HTTP server (node:http): the JSON API, the WebSocket watch stream, the
 * OpenAPI document, Prometheus metrics, probes and the dashboard, on one port.
 *
 * Every `/v1` route needs the bearer token when one is configured; `publicParts` lets
 * `metrics`, `ui`, `openapi` and `health` be served without it, and `/healthz`, `/readyz`
 * and the redirects to the dashboard are always open. Headers and bodies are bounded, input
 * is validated with the protocol's schemas, and errors are `{ code, message, data }` with
 * the status of the error registry.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { isRosterError, RosterError, ServiceName } from '../../protocol/index.js';
import type { Bus } from '../../transport/bus.js';
import { type Logger, silentLogger } from '../../transport/logger.js';
import type { RegistryNode } from '../registry-node.js';
import { type Access, bearerToken, type PublicPart, TokenCheck } from './auth.js';
import { DEFAULT_MAX_BODY_BYTES, readJsonBody } from './body.js';
import { ClusterViewSource } from './cluster-view.js';
import { createHttpMetrics, type HttpMetrics } from './http-metrics.js';
import { HttpSessions } from './http-sessions.js';
import { rawErrorResponse, sendError, toRosterError } from './respond.js';
import { Router, type RouteSpec } from './router.js';
import { buildRoutes, type RequestContext } from './routes.js';
import { WatchHub, type WatchStreamOptions } from './watch-stream.js';

export interface NodeHttpOptions {
  readonly node: RegistryNode;
  /** The node's bus, for the scatter-gather cluster view (else: the node's peer table). */
  readonly bus?: Bus;
  /** Listen address (default 0.0.0.0). */
  readonly host?: string;
  /** Port; 0 picks a free one. */
  readonly port: number;
  /** Bearer token every protected route requires (none: the API is open). */
  readonly token?: string;
  /** Parts served without the token (default: `ui`, the static dashboard files). */
  readonly publicParts?: readonly PublicPart[];
  readonly logger?: Logger;
  /** The Prometheus text for /metrics (default: the node's metrics registry). */
  readonly metrics?: () => string;
  /** Largest request body (default 64 KiB). */
  readonly maxBodyBytes?: number;
  /** Largest request head (default 16 KiB). */
  readonly maxHeaderBytes?: number;
  readonly watch?: WatchStreamOptions;
  /** How long the cluster view waits for nodes to answer (default 300 ms). */
  readonly clusterViewDeadlineMs?: number;
}

export interface NodeHttpServer extends AsyncDisposable {
  readonly host: string;
  /** The port actually bound. */
  readonly port: number;
  /** http://HOST:PORT (127.0.0.1 for a wildcard host). */
  readonly url: string;
  /** Every route the server answers. */
  readonly routes: readonly RouteSpec[];
  close(): Promise<void>;
}

/** The API without a listener: a request handler and an upgrade handler. */
export class NodeHttpApi {
  readonly routes: readonly RouteSpec[];
  readonly sessions: HttpSessions;
  private readonly router: Router<RequestContext>;
  private readonly token: TokenCheck;
  private readonly publicParts: ReadonlySet<PublicPart>;
  private readonly hub: WatchHub;
  private readonly metrics: HttpMetrics;
  private readonly logger: Logger;
  private readonly maxBodyBytes: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: NodeHttpOptions) {
    const { node } = options;
    this.logger = (options.logger ?? silentLogger).child({ component: 'http', nodeId: node.id });
    this.token = new TokenCheck(options.token);
    this.publicParts = new Set(options.publicParts ?? ['ui']);
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.sessions = new HttpSessions(node);
    this.metrics = createHttpMetrics(node.metrics.registry, {
      watchers: () => this.hub.size,
      pendingSessions: () => this.sessions.pendingCount,
    });
    this.hub = new WatchHub(node, this.metrics, this.logger, options.watch);
    const cluster = new ClusterViewSource({
      node,
      bus: options.bus,
      logger: this.logger,
      ...(options.clusterViewDeadlineMs === undefined
        ? {}
        : { deadlineMs: options.clusterViewDeadlineMs }),
    });
    const routes = buildRoutes({
      node,
      sessions: this.sessions,
      cluster,
      metrics: options.metrics ?? (() => node.metrics.registry.render()),
    });
    this.router = new Router(routes);
    this.routes = routes.map(({ method, path, access }) => ({ method, path, access }));
    this.sweeper = setInterval(() => this.sessions.expire(Date.now()), 1_000);
    this.sweeper.unref();
  }

  /** Handles one HTTP request. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    let route = 'unmatched';
    res.on('finish', () => {
      const method = req.method ?? '';
      this.metrics.requests.inc({ route, method, status: String(res.statusCode) });
      this.metrics.duration.observe({ route }, (performance.now() - started) / 1000);
    });
    void (async () => {
      try {
        const url = new URL(req.url ?? '/', 'http://node.invalid');
        const method = req.method === 'HEAD' ? 'GET' : (req.method ?? '');
        const match = this.router.match(method, url.pathname);
        if (match.kind === 'none') {
          throw new RosterError('ROSTER_ERR_NOT_FOUND', `no route ${url.pathname}`, {
            path: url.pathname,
          });
        }
        if (match.kind === 'method') {
          res.setHeader('allow', match.allow.join(', '));
          throw new RosterError(
            'ROSTER_ERR_NOT_FOUND',
            `no route ${req.method ?? ''} ${url.pathname} (allowed: ${match.allow.join(', ')})`,
            { path: url.pathname, allow: match.allow.join(', ') },
          );
        }
        route = match.route.path;
        this.authorize(match.route.access, bearerToken(req));
        let body: Promise<unknown> | undefined;
        await match.route.handle(
          {
            req,
            res,
            url,
            body: () => {
              body ??= readJsonBody(req, this.maxBodyBytes);
              return body;
            },
          },
          match.params,
        );
      } catch (err) {
        const headers: Record<string, string> = {};
        if (isRosterError(err, 'ROSTER_ERR_UNAUTHORIZED'))
          headers['www-authenticate'] = 'Bearer realm="roster"';
        if (isRosterError(err, 'ROSTER_ERR_MESSAGE_TOO_LARGE')) headers.connection = 'close';
        sendError(res, err, this.logger, headers);
      }
    })();
  }

  /** Handles an `Upgrade` request: only `GET /v1/watch` upgrades. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    const started = performance.now();
    let status = 101;
    try {
      const url = new URL(req.url ?? '/', 'http://node.invalid');
      if (url.pathname !== '/v1/watch' || req.method !== 'GET') {
        throw new RosterError('ROSTER_ERR_NOT_FOUND', `no WebSocket endpoint ${url.pathname}`);
      }
      this.authorize('api', bearerToken(req) ?? url.searchParams.get('token') ?? undefined);
      const raw = url.searchParams.get('service');
      const service = raw === null || raw === '' ? undefined : ServiceName.parse(raw, 'service');
      if (!this.options.node.ready) {
        throw new RosterError('ROSTER_ERR_NOT_READY', 'node is still catching up');
      }
      if (this.hub.size >= this.hub.maxClients) {
        throw new RosterError(
          'ROSTER_ERR_LIMIT_EXCEEDED',
          `at most ${this.hub.maxClients} watch streams`,
          { limit: this.hub.maxClients },
        );
      }
      this.hub.accept(req, socket, head, service);
    } catch (err) {
      const e = toRosterError(err);
      if (!isRosterError(err)) this.logger.error({ err }, 'watch upgrade failed');
      status = e.status;
      const extra =
        e.code === 'ROSTER_ERR_UNAUTHORIZED' ? 'www-authenticate: Bearer realm="roster"\r\n' : '';
      socket.end(rawErrorResponse(e, extra));
    } finally {
      this.metrics.requests.inc({ route: '/v1/watch', method: 'GET', status: String(status) });
      this.metrics.duration.observe({ route: '/v1/watch' }, (performance.now() - started) / 1000);
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    this.hub.close();
  }

  private authorize(access: Access, presented: string | undefined): void {
    if (access === 'open' || !this.token.enabled) return;
    if (access !== 'api' && this.publicParts.has(access)) return;
    if (!this.token.matches(presented)) {
      throw new RosterError(
        'ROSTER_ERR_UNAUTHORIZED',
        presented === undefined ? 'a bearer token is required' : 'the bearer token is not valid',
      );
    }
  }
}

/** Starts the node's HTTP server; rejects with a clear message when the address is taken. */
export function startNodeHttpServer(options: NodeHttpOptions): Promise<NodeHttpServer> {
  const host = options.host ?? '0.0.0.0';
  const api = new NodeHttpApi(options);
  const server: Server = createServer({
    maxHeaderSize: options.maxHeaderBytes ?? 16 * 1024,
    requestTimeout: 30_000,
    headersTimeout: 10_000,
  });
  server.maxHeadersCount = 100;
  server.keepAliveTimeout = 65_000;
  server.on('request', (req, res) => api.handle(req, res));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    api.upgrade(req, socket, head),
  );
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      api.close();
      const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.message;
      reject(new Error(`cannot serve HTTP on ${host}:${options.port}: ${why}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      const port = (server.address() as AddressInfo).port;
      const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      const urlHost = shown.includes(':') ? `[${shown}]` : shown;
      let closing: Promise<void> | undefined;
      const close = (): Promise<void> => {
        closing ??= new Promise<void>((done) => {
          api.close();
          server.close(() => done());
          server.closeAllConnections();
        });
        return closing;
      };
      resolve({
        host,
        port,
        url: `http://${urlHost}:${port}`,
        routes: api.routes,
        close,
        [Symbol.asyncDispose]: close,
      });
    });
  });
}
