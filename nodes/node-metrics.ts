/**
 * The registry node's Prometheus metrics (docs/metrics.md lists them).
 */
import type { Counter, MetricsRegistry } from '../transport/metrics.js';

export interface NodeMetrics {
  readonly registry: MetricsRegistry;
  readonly deltasIn: Counter;
  readonly deltasOut: Counter;
  readonly gaps: Counter;
  readonly pulls: Counter<'result'>;
  readonly snapshotSyncs: Counter<'reason'>;
  readonly digestMismatches: Counter;
  readonly expiries: Counter;
  readonly orphansRemoved: Counter;
  readonly rejections: Counter<'subject' | 'code'>;
  readonly requests: Counter<'op' | 'result'>;
  readonly stalls: Counter;
  readonly healthChanges: Counter<'status'>;
}

export function createNodeMetrics(
  registry: MetricsRegistry,
  state: {
    sessions(): number;
    instances(): number;
    services(): number;
    peers(): number;
    ready(): boolean;
    tombstones(): number;
  },
): NodeMetrics {
  registry.gauge('roster_node_sessions', 'Sessions in this replica.', { collect: state.sessions });
  registry.gauge('roster_node_instances', 'Instances in this replica.', {
    collect: state.instances,
  });
  registry.gauge('roster_node_services', 'Services with at least one instance.', {
    collect: state.services,
  });
  registry.gauge('roster_node_peers_alive', 'Peer registry nodes currently alive.', {
    collect: state.peers,
  });
  registry.gauge('roster_node_ready', '1 once the node has caught up and serves queries.', {
    collect: () => (state.ready() ? 1 : 0),
  });
  registry.gauge('roster_node_tombstones', 'Removals remembered.', { collect: state.tombstones });
  return {
    registry,
    deltasIn: registry.counter(
      'roster_node_deltas_in_total',
      'Changes received from peers and applied.',
    ),
    deltasOut: registry.counter(
      'roster_node_deltas_out_total',
      'Changes this node originated and published.',
    ),
    gaps: registry.counter('roster_node_gaps_total', 'Gaps detected in an origin log.'),
    pulls: registry.counter('roster_node_pulls_total', 'Range pulls, by result.', ['result']),
    snapshotSyncs: registry.counter(
      'roster_node_snapshot_syncs_total',
      'Snapshot catch-ups, by reason.',
      ['reason'],
    ),
    digestMismatches: registry.counter(
      'roster_node_digest_mismatches_total',
      'Equal vectors with different digests (should stay 0).',
    ),
    expiries: registry.counter('roster_node_session_expiries_total', 'Sessions this node expired.'),
    orphansRemoved: registry.counter(
      'roster_node_orphans_removed_total',
      'Records of dead nodes removed by the janitor.',
    ),
    rejections: registry.counter(
      'roster_node_rejections_total',
      'Messages rejected by decoding or validation.',
      ['subject', 'code'],
    ),
    requests: registry.counter(
      'roster_node_requests_total',
      'Client requests, by operation and result.',
      ['op', 'result'],
    ),
    stalls: registry.counter(
      'roster_node_stalls_total',
      'Event-loop stalls or bus outages that triggered self-preservation.',
    ),
    healthChanges: registry.counter(
      'roster_node_health_changes_total',
      'Instance status changes from active checks.',
      ['status'],
    ),
  };
}
