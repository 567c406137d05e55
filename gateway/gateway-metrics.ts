/**
 * The gateway's Prometheus metrics, registered once per registry. The hot path records through
 * series bound once per route (routeSeries, kept by RouteRuntime): no label key is built and
 * nothing is allocated per request.
 */
import {
  type BoundCounter,
  type BoundHistogram,
  type Counter,
  DEFAULT_LATENCY_BUCKETS,
  type Histogram,
  type MetricsRegistry,
} from '../transport/metrics.js';
import type { UpstreamPool } from './upstreams.js';

/** What the hot path records for one route. */
export interface RouteSeries {
  /** roster_gateway_requests_total by status class, indexed by statusClassIndex(). */
  readonly requests: readonly BoundCounter[];
  readonly duration: BoundHistogram;
  readonly upstreamDuration: BoundHistogram;
}

export class GatewayMetrics {
  readonly requests: Counter<'route' | 'status_class'>;
  readonly duration: Histogram<'route'>;
  readonly upstreamDuration: Histogram<'service'>;
  readonly pluginRejections: Counter<'plugin' | 'reason'>;
  readonly retries: Counter;
  readonly upstreamErrors: Counter<'service' | 'kind'>;
  readonly refused: Counter<'reason'>;
  readonly websockets: Counter<'route' | 'outcome'>;
  /** Requests answered without a route (404, bad targets), by status class. */
  readonly unroutedRequests: readonly BoundCounter[];

  constructor(registry: MetricsRegistry, pools: () => readonly UpstreamPool[]) {
    this.requests = registry.counter(
      'roster_gateway_requests_total',
      'Requests answered, by route and status class (route "" when none matched).',
      ['route', 'status_class'],
    );
    this.duration = registry.histogram(
      'roster_gateway_request_duration_seconds',
      'Time from request arrival to the end of the response, by route.',
      { labelNames: ['route'], buckets: DEFAULT_LATENCY_BUCKETS },
    );
    this.upstreamDuration = registry.histogram(
      'roster_gateway_upstream_duration_seconds',
      'Time from dispatch to the upstream response headers, by service.',
      { labelNames: ['service'], buckets: DEFAULT_LATENCY_BUCKETS },
    );
    this.pluginRejections = registry.counter(
      'roster_gateway_plugin_rejections_total',
      'Requests a plugin answered itself (rejected), by plugin and reason.',
      ['plugin', 'reason'],
    );
    this.retries = registry.counter(
      'roster_gateway_retries_total',
      'Upstream attempts made after the first.',
    );
    this.upstreamErrors = registry.counter(
      'roster_gateway_upstream_errors_total',
      'Upstream attempts that failed without a response, by service and kind.',
      ['service', 'kind'],
    );
    this.refused = registry.counter(
      'roster_gateway_refused_total',
      'Requests refused before routing (bad target, parser errors, oversized headers), by reason.',
      ['reason'],
    );
    this.websockets = registry.counter(
      'roster_gateway_websocket_upgrades_total',
      'WebSocket upgrade attempts, by route and outcome.',
      ['route', 'outcome'],
    );
    this.unroutedRequests = this.requestsByClass('');
    registry.gauge('roster_gateway_pool_size', 'Members of each upstream pool, by service.', {
      labelNames: ['service'],
      collect: () => sumBy(pools(), (p) => p.pool?.size ?? 0),
    });
    registry.gauge('roster_gateway_pool_healthy', 'Members not ejected, by service.', {
      labelNames: ['service'],
      collect: () => sumBy(pools(), (p) => p.pool?.healthy ?? 0),
    });
    registry.gauge(
      'roster_gateway_pool_stale',
      '1 while a pool may be out of date (registry unreachable), by service.',
      {
        labelNames: ['service'],
        collect: () => sumBy(pools(), (p) => (p.pool === undefined || p.pool.stale ? 1 : 0)),
      },
    );
  }

  /** The series one route records into (its requests, durations and its service's upstream time). */
  routeSeries(route: string, service: string): RouteSeries {
    return {
      requests: this.requestsByClass(route),
      duration: this.duration.bind({ route }),
      upstreamDuration: this.upstreamDuration.bind({ service }),
    };
  }

  private requestsByClass(route: string): readonly BoundCounter[] {
    return STATUS_CLASSES.map((c) => this.requests.bind({ route, status_class: c }));
  }
}

function sumBy(
  pools: readonly UpstreamPool[],
  value: (p: UpstreamPool) => number,
): [{ service: string }, number][] {
  const sums = new Map<string, number>();
  for (const p of pools) sums.set(p.service, (sums.get(p.service) ?? 0) + value(p));
  return [...sums].map(([service, v]) => [{ service }, v]);
}

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** The index of a status's class in STATUS_CLASSES (below 100 counts as 1xx, above 599 as 5xx). */
export function statusClassIndex(status: number): number {
  const i = ((status / 100) | 0) - 1;
  return i < 0 ? 0 : Math.min(i, 4);
}
