/**
 * What the hot path needs per route, prepared once per route table: the plugin chain, the
 * shared upstream pool, timeouts, the retry policy with its budget, and its bound metric series.
 * A new table gets new runtimes; requests in flight keep the ones they started with.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayMetrics, RouteSeries } from './gateway-metrics.js';
import { hostKey } from './host.js';
import { isPathRejection, normalizeTarget, type PathRejection } from './path.js';
import { clockNow } from './read-clock.js';
import { RetryBudget } from './retry-budget.js';
import type { CompiledRouteTable, Plugin, RouteConfig, RouteHit } from './types.js';
import type { UpstreamPool, Upstreams } from './upstreams.js';

export const DEFAULT_TIMEOUT_MS = 15_000;
/** Request bodies up to this size are buffered when the route may retry them. */
export const MAX_REPLAY_BODY = 64 * 1024;

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export interface RetryRuntime {
  readonly attempts: number;
  readonly unsafeMethods: boolean;
  /** Statuses that trigger a retry (empty: connect errors only). */
  readonly onStatus: ReadonlySet<number>;
  readonly budget: RetryBudget;
}

export class RouteRuntime {
  readonly name: string;
  readonly plugins: readonly Plugin[];
  readonly timeoutMs: number;
  readonly retry: RetryRuntime;
  readonly metrics: RouteSeries;

  constructor(
    readonly route: RouteConfig,
    table: CompiledRouteTable,
    readonly upstream: UpstreamPool,
    budgets: Map<string, RetryBudget>,
    metrics: GatewayMetrics,
  ) {
    this.name = route.name;
    this.plugins = table.plugins(route);
    this.timeoutMs = route.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const r = route.retries;
    const percent = r?.budgetPercent ?? 20;
    const budgetKey = `${route.name}\u0000${percent}`;
    let budget = budgets.get(budgetKey);
    if (budget === undefined) {
      budget = new RetryBudget(percent, undefined, clockNow);
      budgets.set(budgetKey, budget);
    }
    // Without a policy: one retry, on connect errors only (the request never left).
    this.retry = {
      attempts: r?.attempts ?? 1,
      unsafeMethods: r?.unsafeMethods ?? false,
      onStatus: new Set(r === undefined ? [] : (r.onStatus ?? [502, 503, 504])),
      budget,
    };
    this.metrics = metrics.routeSeries(route.name, route.service);
  }

  /** Whether a request with this method may be retried at all. */
  mayRetry(method: string): boolean {
    return this.retry.attempts > 0 && (this.retry.unsafeMethods || IDEMPOTENT.has(method));
  }
}

/** The runtimes of one table, keyed by route object. */
export class TableRuntime {
  private readonly byRoute = new Map<RouteConfig, RouteRuntime>();
  readonly pools = new Set<UpstreamPool>();

  constructor(
    readonly table: CompiledRouteTable,
    private readonly upstreams: Upstreams,
    private readonly budgets: Map<string, RetryBudget>,
    private readonly metrics: GatewayMetrics,
  ) {
    for (const route of table.routes) this.runtime(route);
  }

  /** The runtime of a route the table matched (built on the spot for a route not listed). */
  runtime(route: RouteConfig): RouteRuntime {
    let rt = this.byRoute.get(route);
    if (rt === undefined) {
      const upstream = this.upstreams.forRoute(route);
      this.pools.add(upstream);
      rt = new RouteRuntime(route, this.table, upstream, this.budgets, this.metrics);
      this.byRoute.set(route, rt);
    }
    return rt;
  }
}

/** Where a request goes under one table: its normalized target, route hit and runtime. */
export interface RequestRoute {
  readonly path: string;
  readonly query: string;
  readonly hit: RouteHit;
  readonly rt: RouteRuntime;
}

/**
 * The route of a request under `tables`: its target normalized once (so routing and the
 * upstream see the same path), then matched by host, method, path and headers. A rejected
 * target is returned as it is; undefined when no route matches.
 */
export function routeRequest(
  tables: TableRuntime,
  req: {
    readonly url?: string | undefined;
    readonly method?: string | undefined;
    readonly headers: IncomingHttpHeaders;
  },
): RequestRoute | PathRejection | undefined {
  const target = normalizeTarget(req.url ?? '');
  if (isPathRejection(target)) return target;
  const hit = tables.table.match(
    hostKey(req.headers.host),
    req.method ?? 'GET',
    target.path,
    req.headers,
  );
  if (hit === undefined) return undefined;
  return { path: target.path, query: target.query, hit, rt: tables.runtime(hit.route) };
}
