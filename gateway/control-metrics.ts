/**
 * The control plane's Prometheus metrics (the data plane's request, upstream and pool-size
 * metrics are in gateway-metrics.ts): config reloads, route counts and problems, registry
 * route following, live gateways and pool ejections. Gauges are computed at scrape time from
 * the running gateway's state, so nothing here is on the request path.
 */

import type { Counter, Gauge, MetricsRegistry } from '../transport/metrics.js';
import type { RouteTableReport } from './route-table.js';
import type { UpstreamMemberSnapshot, UpstreamPoolSnapshot } from './upstreams.js';

export type ReloadResult = 'ok' | 'failed';

export interface ControlMetricsSource {
  report(): RouteTableReport;
  liveGateways(): number;
  /** Services followed for registry routes, and whether that view may be stale. */
  registry(): { services: number; stale: boolean; synced: boolean } | undefined;
  pools(): readonly UpstreamPoolSnapshot[];
}

export class ControlMetrics {
  readonly reloads: Counter<'result' | 'trigger'>;
  readonly lastReloadOk: Gauge;
  readonly lastReloadTime: Gauge;
  readonly tableBuilds: Counter<'result' | 'cause'>;

  constructor(registry: MetricsRegistry, source: ControlMetricsSource) {
    this.reloads = registry.counter(
      'roster_gateway_config_reloads_total',
      'Config reloads by result (ok, failed) and trigger (file, signal, manual).',
      ['result', 'trigger'],
    );
    this.lastReloadOk = registry.gauge(
      'roster_gateway_config_last_reload_successful',
      '1 when the last config reload succeeded (or none was attempted), 0 when it failed.',
    );
    this.lastReloadOk.set(1);
    this.lastReloadTime = registry.gauge(
      'roster_gateway_config_last_reload_timestamp_seconds',
      'Unix time of the last config reload attempt.',
    );
    this.tableBuilds = registry.counter(
      'roster_gateway_route_table_builds_total',
      'Route tables built, by result (ok, failed) and cause (start, config, registry).',
      ['result', 'cause'],
    );
    registry.gauge('roster_gateway_routes', 'Routes in the table, by source (file, registry).', {
      labelNames: ['source'],
      collect: () => {
        let file = 0;
        let reg = 0;
        for (const r of source.report().routes) {
          if (r.source === 'file') file++;
          else reg++;
        }
        return [
          [{ source: 'file' }, file],
          [{ source: 'registry' }, reg],
        ];
      },
    });
    registry.gauge(
      'roster_gateway_route_problems',
      'Registry route declarations left out or overruled, by kind (conflict, invalid, not-allowed, plugin, disagreement).',
      {
        labelNames: ['kind'],
        collect: () => {
          const counts = new Map<string, number>([
            ['conflict', 0],
            ['invalid', 0],
            ['not-allowed', 0],
            ['plugin', 0],
            ['disagreement', 0],
          ]);
          for (const p of source.report().problems) {
            counts.set(p.kind, (counts.get(p.kind) ?? 0) + 1);
          }
          return [...counts].map(([kind, n]) => [{ kind }, n] as const);
        },
      },
    );
    registry.gauge(
      'roster_gateway_registry_route_conflicts',
      'Registry routes dropped because they conflict with a file route or an earlier registry route.',
      {
        collect: () => source.report().problems.filter((p) => p.kind === 'conflict').length,
      },
    );
    registry.gauge(
      'roster_gateway_registry_services',
      'Services followed for routes declared in registration metadata.',
      { collect: () => source.registry()?.services ?? 0 },
    );
    registry.gauge(
      'roster_gateway_registry_routes_stale',
      '1 while registry routes may be out of date (NATS or the cluster unreachable).',
      {
        collect: () => {
          const r = source.registry();
          return r === undefined ? 0 : r.stale || !r.synced ? 1 : 0;
        },
      },
    );
    registry.gauge(
      'roster_gateway_live_gateways',
      'Live gateways seen in the registry (this one included): the divisor of cluster-wide limits.',
      { collect: () => source.liveGateways() },
    );
    registry.gauge(
      'roster_gateway_pool_ejected',
      'Pool members currently ejected by passive outlier detection, by service.',
      {
        labelNames: ['service'],
        collect: () => sumBy(source.pools(), (p) => p.members.filter((m) => m.ejected).length),
      },
    );
    registry.gauge(
      'roster_gateway_upstream_connections',
      'Connections open to the pool members, by service.',
      {
        labelNames: ['service'],
        collect: () => sumByAddress(source.pools(), (m) => m.connections),
      },
    );
    registry.gauge(
      'roster_gateway_upstream_queued',
      'Requests waiting for a connection to a pool member (every one busy), by service.',
      {
        labelNames: ['service'],
        collect: () => sumByAddress(source.pools(), (m) => m.queued),
      },
    );
    registry.gauge(
      'roster_gateway_pool_member_ejections',
      'Ejections of the current pool members so far (an ejected member counts each time), by service.',
      {
        labelNames: ['service'],
        collect: () => sumBy(source.pools(), (p) => p.members.reduce((n, m) => n + m.ejections, 0)),
      },
    );
  }

  reloaded(result: ReloadResult, trigger: string): void {
    this.reloads.inc({ result, trigger });
    this.lastReloadOk.set(result === 'ok' ? 1 : 0);
    this.lastReloadTime.set(Date.now() / 1000);
  }
}

/**
 * Sums a member value per service once per member address: pools of one service (routes with
 * other strategies or filters) list the same members, and connections belong to the address.
 */
function sumByAddress(
  pools: readonly UpstreamPoolSnapshot[],
  value: (m: UpstreamMemberSnapshot) => number,
): [{ service: string }, number][] {
  const seen = new Map<string, Map<string, number>>();
  for (const p of pools) {
    let byAddress = seen.get(p.service);
    if (byAddress === undefined) {
      byAddress = new Map();
      seen.set(p.service, byAddress);
    }
    for (const m of p.members) byAddress.set(`${m.host}:${m.port}`, value(m));
  }
  return [...seen].map(([service, byAddress]) => [
    { service },
    [...byAddress.values()].reduce((a, b) => a + b, 0),
  ]);
}

function sumBy(
  pools: readonly UpstreamPoolSnapshot[],
  value: (p: UpstreamPoolSnapshot) => number,
): [{ service: string }, number][] {
  const sums = new Map<string, number>();
  for (const p of pools) sums.set(p.service, (sums.get(p.service) ?? 0) + value(p));
  return [...sums].map(([service, v]) => [{ service }, v]);
}
