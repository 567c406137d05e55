/**
 * The gateway's data plane: HTTP(S) listeners, the current route table (swapped atomically),
 * the upstream pools, and a graceful close.
 *
 * Each listener is a node:http(s) server with the edge in front (edge/, ADR 0007): the edge
 * serves bodiless requests in a strict subset of HTTP/1.1 itself and hands every other
 * connection, unread bytes intact, to the server. Node's parser is kept strict
 * (`insecureHTTPParser` off): Content-Length with Transfer-Encoding, duplicate Content-Length,
 * obsolete line folding and malformed requests are refused with 400 before any routing,
 * oversized headers with 431, slow requests with 408 — none of them reaches an upstream
 * (client-errors.ts counts, answers and logs them).
 *
 * The tables passed to the constructor and to setTable() stay the caller's: the gateway never
 * closes them (requests in flight may still use a replaced one).
 */
import { createServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RosterClient } from '../client/index.js';
import { type Logger, silentLogger } from '../transport/logger.js';
import { MetricsRegistry } from '../transport/metrics.js';
import type { AccessLog } from './access-log.js';
import { ClientErrors } from './client-errors.js';
import { Edge } from './edge/edge.js';
import type { EdgeRequest, EdgeResponse } from './edge/edge-response.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { OriginClients, type OriginOptions } from './origins.js';
import { Exchange, type ProxyEnvironment } from './proxy.js';
import { GatewayResponse } from './proxy-io.js';
import type { RetryBudget } from './retry-budget.js';
import { TableRuntime } from './route-runtime.js';
import type { CompiledRouteTable } from './types.js';
import { type UpstreamPoolSnapshot, Upstreams, type UpstreamsOptions } from './upstreams.js';
import { WebSocketProxy } from './websocket.js';

export interface TlsMaterial {
  /** PEM text. */
  readonly cert: string;
  readonly key: string;
}

export interface GatewayListener {
  readonly port: number;
  /** Default 0.0.0.0. */
  readonly host?: string;
  readonly tls?: TlsMaterial;
}

export interface GatewayOptions {
  readonly client: RosterClient;
  readonly table: CompiledRouteTable;
  readonly listeners: readonly GatewayListener[];
  /** Proxies in front of the gateway whose X-Forwarded-For entries are trusted (default 0). */
  readonly trustedHops?: number;
  readonly logger?: Logger;
  readonly metrics?: MetricsRegistry;
  /** Largest request head (default 16384 bytes); larger heads get 431. */
  readonly maxHeaderBytes?: number;
  /** Time allowed to receive a whole request from the client (default 300000 ms); then 408. */
  readonly requestTimeoutMs?: number;
  /** Idle time before a client keep-alive connection is closed (default 65000 ms). */
  readonly keepAliveTimeoutMs?: number;
  /** Upstream connection settings. */
  readonly upstream?: OriginOptions;
  /** Extra options for every upstream pool (outlier detection, panic threshold, zone). */
  readonly pool?: UpstreamsOptions['pool'];
  /** Where finished requests are logged (the caller opens and closes it). */
  readonly accessLog?: AccessLog;
}

type AnyServer =
  | HttpServer<typeof IncomingMessage, typeof GatewayResponse>
  | HttpsServer<typeof IncomingMessage, typeof GatewayResponse>;

export class Gateway implements AsyncDisposable {
  readonly metrics: GatewayMetrics;
  private readonly env: ProxyEnvironment;
  private readonly upstreams: Upstreams;
  private readonly origins: OriginClients;
  private readonly budgets = new Map<string, RetryBudget>();
  private readonly servers: AnyServer[] = [];
  private readonly edges: Edge[] = [];
  private readonly websockets: WebSocketProxy;
  private readonly clientErrors: ClientErrors;
  private readonly logger: Logger;
  private tables: TableRuntime;
  private started = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: GatewayOptions) {
    this.logger = (options.logger ?? silentLogger).child({ component: 'gateway' });
    const registry = options.metrics ?? new MetricsRegistry();
    this.upstreams = new Upstreams(options.client, {
      logger: this.logger,
      ...(options.pool !== undefined ? { pool: options.pool } : {}),
    });
    this.metrics = new GatewayMetrics(registry, () => this.upstreams.active());
    this.origins = new OriginClients(options.upstream);
    this.env = {
      metrics: this.metrics,
      origins: this.origins,
      trustedHops: Math.max(0, Math.floor(options.trustedHops ?? 0)),
      logger: this.logger,
      accessLog: options.accessLog,
      closing: false,
      inFlight: 0,
    };
    this.tables = new TableRuntime(options.table, this.upstreams, this.budgets, this.metrics);
    this.upstreams.retain(this.tables.pools);
    this.websockets = new WebSocketProxy(this.env, () => this.tables);
    this.clientErrors = new ClientErrors(this.metrics, options.accessLog);
  }

  /** True once every service the current table routes to has synced its pool. */
  get ready(): boolean {
    if (!this.started || this.env.closing) return false;
    for (const p of this.tables.pools) if (p.pool === undefined) return false;
    return true;
  }

  /** Requests being served now. */
  get inFlight(): number {
    return this.env.inFlight;
  }

  /** Starts the listeners (the pools are already syncing); resolves once all listen. */
  async start(): Promise<void> {
    if (this.started) return;
    for (const l of this.options.listeners) {
      const server = this.createServer(l);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(l.port, l.host ?? '0.0.0.0', () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => this.logger.error({ err }, 'listener error'));
      this.servers.push(server);
    }
    this.started = true;
    this.logger.info({ addresses: this.addresses() }, 'gateway listening');
  }

  /** Resolves once `ready` (every routed service synced); rejects when a pool cannot exist. */
  async whenReady(): Promise<void> {
    for (;;) {
      const tables = this.tables;
      await Promise.all([...tables.pools].map((p) => p.ready));
      if (this.tables === tables) return;
    }
  }

  /** Swaps the route table; requests in flight finish with the one they started with. */
  setTable(table: CompiledRouteTable): void {
    const next = new TableRuntime(table, this.upstreams, this.budgets, this.metrics);
    this.tables = next;
    this.upstreams.retain(next.pools);
    // Retry budgets follow route names across tables; forget those of removed routes.
    const names = new Set(table.routes.map((r) => r.name));
    for (const key of this.budgets.keys()) {
      if (!names.has(key.slice(0, key.indexOf('\u0000')))) this.budgets.delete(key);
    }
  }

  get table(): CompiledRouteTable {
    return this.tables.table;
  }

  /** Replaces the certificate of a TLS listener (new connections use it). */
  updateTls(listenerIndex: number, tls: TlsMaterial): void {
    const server = this.servers[listenerIndex];
    if (server === undefined || !('setSecureContext' in server)) {
      throw new Error(`listener ${listenerIndex} is not a started TLS listener`);
    }
    server.setSecureContext({ cert: tls.cert, key: tls.key });
  }

  addresses(): Array<{ port: number; host: string }> {
    return this.servers.map((s) => {
      const a = s.address() as AddressInfo;
      return { port: a.port, host: a.address };
    });
  }

  pools(): UpstreamPoolSnapshot[] {
    return this.upstreams.pools((instance) => this.origins.usage(instance));
  }

  /**
   * Stops accepting, lets requests in flight finish (up to `graceMs`), closes idle and then
   * all remaining connections (websocket tunnels too), and the upstream pools.
   */
  close(graceMs = 10_000): Promise<void> {
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.env.closing = true;
    const closed = this.servers.map(
      (s) => new Promise<void>((resolve) => s.close(() => resolve())),
    );
    const deadline = Date.now() + graceMs;
    while (this.env.inFlight > 0 && Date.now() < deadline) {
      for (const s of this.servers) s.closeIdleConnections();
      for (const e of this.edges) e.closeIdleConnections();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (this.env.inFlight > 0) {
      this.logger.warn({ inFlight: this.env.inFlight }, 'grace period over: closing connections');
    }
    for (const s of this.servers) s.closeAllConnections();
    for (const e of this.edges) e.closeAllConnections();
    this.websockets.closeAll();
    await Promise.all(closed);
    await this.upstreams.close();
    await this.origins.close();
    this.logger.info('gateway closed');
  }

  private createServer(l: GatewayListener): AnyServer {
    const o = this.options;
    const headersTimeout = Math.min(60_000, o.requestTimeoutMs ?? 300_000);
    const common = {
      ServerResponse: GatewayResponse,
      maxHeaderSize: o.maxHeaderBytes ?? 16_384,
      requestTimeout: o.requestTimeoutMs ?? 300_000,
      headersTimeout,
      // Node checks both timeouts every 30 s by default, so a 408 could come half a minute
      // late; a tenth of the headers timeout keeps them within 10 %. Only connections handed
      // to the server (bodies, upgrades) are in its list: the edge serves the rest.
      connectionsCheckingInterval: Math.max(50, Math.floor(headersTimeout / 10)),
      keepAliveTimeout: o.keepAliveTimeoutMs ?? 65_000,
      insecureHTTPParser: false,
      requireHostHeader: true,
      noDelay: true,
    };
    const server: AnyServer =
      l.tls === undefined
        ? createServer(common)
        : createHttpsServer({ ...common, cert: l.tls.cert, key: l.tls.key });
    server.on('request', (req: IncomingMessage, res: GatewayResponse) => {
      new Exchange(this.env, this.tables, req, res).run();
    });
    const limits = {
      maxHeaderBytes: common.maxHeaderSize,
      headersTimeoutMs: common.headersTimeout,
      keepAliveTimeoutMs: common.keepAliveTimeout,
    };
    this.edges.push(
      new Edge(
        server,
        l.tls !== undefined,
        limits,
        (req: EdgeRequest, res: EdgeResponse) => {
          new Exchange(this.env, this.tables, req, res).run();
        },
        this.clientErrors.headTimedOut,
      ),
    );
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.websockets.handle(req, socket, head);
    });
    server.on('clientError', this.clientErrors.onClientError);
    return server;
  }
}
