/**
 * Registry node settings and their defaults. Every duration is in milliseconds.
 */
import { randomBytes } from 'node:crypto';
import { assertNodeId, Limits, RosterError } from '../protocol/index.js';
import type { Logger } from '../transport/logger.js';
import type { MetricsRegistry } from '../transport/metrics.js';

export interface RegistryNodeOptions {
  /** Stable node id ([A-Za-z0-9_-]); a random one when absent. */
  readonly id?: string;
  /** Subject prefix shared by the cluster (default `roster`). */
  readonly prefix?: string;
  readonly logger?: Logger;
  readonly metrics?: MetricsRegistry;
  /** Heartbeat period; each beat is jittered by ±20 %. */
  readonly heartbeatMs?: number;
  /** A peer silent for this long is dead (default 3 heartbeats + 500 ms). */
  readonly deadAfterMs?: number;
  /** Extra time past a session's TTL that a dead node's records stay visible. */
  readonly orphanGraceMs?: number;
  /** Session TTL granted when a client asks for none. */
  readonly defaultTtlMs?: number;
  /** How long removals are remembered. */
  readonly tombstoneTtlMs?: number;
  /** How often leases are checked for expiry. */
  readonly leaseCheckMs?: number;
  /** An event-loop gap longer than this is a stall (self-preservation). */
  readonly stallThresholdMs?: number;
  /** How long a joining node waits for peers to answer before it assumes it is alone. */
  readonly discoveryMs?: number;
  /** Changes kept per origin for serving pulls. */
  readonly logPerOrigin?: number;
  /** Instances one session may hold. */
  readonly maxInstancesPerSession?: number;
  /** Request timeout for pulls and snapshot pages. */
  readonly requestTimeoutMs?: number;
  /** A node silent this long that owns nothing is forgotten (dropped from the vector). */
  readonly forgetNodeAfterMs?: number;
}

export interface ResolvedNodeOptions {
  readonly id: string;
  readonly prefix: string;
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
  readonly orphanGraceMs: number;
  readonly defaultTtlMs: number;
  readonly tombstoneTtlMs: number;
  readonly leaseCheckMs: number;
  readonly stallThresholdMs: number;
  readonly discoveryMs: number;
  readonly logPerOrigin: number;
  readonly maxInstancesPerSession: number;
  readonly requestTimeoutMs: number;
  readonly forgetNodeAfterMs: number;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) {
    throw new RosterError(
      'ROSTER_ERR_CONFIG',
      `${name} must be a positive number of milliseconds, got ${String(value)}`,
      {
        key: name,
      },
    );
  }
  return v;
}

export function resolveNodeOptions(options: RegistryNodeOptions): ResolvedNodeOptions {
  const heartbeatMs = positive('heartbeatMs', options.heartbeatMs, 1000);
  if (!Number.isInteger(heartbeatMs) || heartbeatMs < 10 || heartbeatMs > 60_000) {
    throw new RosterError(
      'ROSTER_ERR_CONFIG',
      `heartbeatMs must be an integer within 10..60000, got ${heartbeatMs}`,
      {
        key: 'heartbeatMs',
      },
    );
  }
  const defaultTtlMs = positive('defaultTtlMs', options.defaultTtlMs, Limits.defaultTtlMs);
  if (defaultTtlMs < Limits.minTtlMs || defaultTtlMs > Limits.maxTtlMs) {
    throw new RosterError(
      'ROSTER_ERR_CONFIG',
      `defaultTtlMs must be within ${Limits.minTtlMs}..${Limits.maxTtlMs}`,
      {
        key: 'defaultTtlMs',
      },
    );
  }
  return {
    id: assertNodeId(options.id ?? `n-${randomBytes(4).toString('hex')}`),
    prefix: options.prefix ?? 'roster',
    heartbeatMs,
    deadAfterMs: positive('deadAfterMs', options.deadAfterMs, heartbeatMs * 3 + 500),
    orphanGraceMs: positive('orphanGraceMs', options.orphanGraceMs, 2000),
    defaultTtlMs,
    tombstoneTtlMs: positive('tombstoneTtlMs', options.tombstoneTtlMs, 10 * 60_000),
    leaseCheckMs: positive('leaseCheckMs', options.leaseCheckMs, 100),
    stallThresholdMs: positive('stallThresholdMs', options.stallThresholdMs, 1000),
    discoveryMs: positive('discoveryMs', options.discoveryMs, heartbeatMs * 1.5),
    logPerOrigin: positive('logPerOrigin', options.logPerOrigin, 20_000),
    maxInstancesPerSession: positive(
      'maxInstancesPerSession',
      options.maxInstancesPerSession,
      10_000,
    ),
    requestTimeoutMs: positive('requestTimeoutMs', options.requestTimeoutMs, 2000),
    forgetNodeAfterMs: positive('forgetNodeAfterMs', options.forgetNodeAfterMs, 3_600_000),
  };
}
