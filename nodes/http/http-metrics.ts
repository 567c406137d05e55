/**
 * Metrics of the node's HTTP API and WebSocket watch stream, registered in the node's
 * registry (docs/metrics.md lists them).
 */
import {
  type Counter,
  DEFAULT_LATENCY_BUCKETS,
  type Histogram,
  type MetricsRegistry,
} from '../../transport/metrics.js';

export interface HttpMetrics {
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly duration: Histogram<'route'>;
  readonly watchEvents: Counter;
  readonly watchDropped: Counter<'reason'>;
}

export function createHttpMetrics(
  registry: MetricsRegistry,
  state: { watchers(): number; pendingSessions(): number },
): HttpMetrics {
  registry.gauge('roster_node_http_watchers', 'Open WebSocket watch streams.', {
    collect: state.watchers,
  });
  registry.gauge(
    'roster_node_http_pending_sessions',
    'Sessions opened over HTTP that hold no instance yet.',
    { collect: state.pendingSessions },
  );
  return {
    requests: registry.counter(
      'roster_node_http_requests_total',
      'HTTP API requests, by route template, method and status.',
      ['route', 'method', 'status'],
    ),
    duration: registry.histogram(
      'roster_node_http_request_duration_seconds',
      'HTTP API request duration, by route template.',
      { labelNames: ['route'], buckets: DEFAULT_LATENCY_BUCKETS },
    ),
    watchEvents: registry.counter(
      'roster_node_http_watch_events_total',
      'Events sent on WebSocket watch streams (snapshots included).',
    ),
    watchDropped: registry.counter(
      'roster_node_http_watch_dropped_total',
      'Watch streams closed by the node: slow (send buffer full, code 1013) or heartbeat (no pong).',
      ['reason'],
    ),
  };
}
