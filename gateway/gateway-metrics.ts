/**
 * The gateway's Prometheus metrics, registered once per registry. Label objects for the hot
 * path are made once per route (RouteRuntime), so recording allocates none.
 */
import {
  type Counter,
  DEFAULT_LATENCY_BUCKETS,
  type Histogram,
  type MetricsRegistry,
} from '../transport/metrics.js';
import type { UpstreamPool } from './upstreams.js';

export type StatusLabels = { readonly route: string; readonly status_class: string };

export class GatewayMetrics {
  readonly requests: Counter<'route' | 'status_class'>;
  readonly duration: Histogram<'route'>;
  readonly upstreamDuration: Histogram<'service'>;
  readonly pluginRejections: Counter<'plugin' | 'reason'>;
  readonly retries: Counter;
  readonly upstreamErrors: Counter<'service' | 'kind'>;
  readonly refused: Counter<'reason'>;
  readonly websockets: Counter<'route' | 'outcome'>;

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

/** `{route, status_class}` label objects for status classes 1xx..5xx (index status/100 - 1). */
export function statusLabels(route: string): readonly StatusLabels[] {
  return STATUS_CLASSES.map((c) => Object.freeze({ route, status_class: c }));
}
