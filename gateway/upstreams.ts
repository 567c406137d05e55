/**
 * The gateway's upstream pools: one client Pool per (service, strategy, filter), created
 * lazily through RosterClient.pool (a live watch of the service) and shared by every route
 * with the same triple. A pool that failed to start (NATS or the cluster unreachable) is
 * retried with back-off; a pool no route uses any more is closed after a grace period (so a
 * table swap that drops and re-adds it keeps it).
 */
import type { Pool, PoolOptions, RosterClient } from '../client/index.js';
import { type Instance, isRosterError } from '../protocol/index.js';
import { type Logger, silentLogger } from '../transport/logger.js';
import { clockNow } from './read-clock.js';
import type { RouteConfig } from './types.js';

export interface UpstreamMemberSnapshot {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly status: string;
  readonly zone: string | undefined;
  readonly outstanding: number;
  readonly ejected: boolean;
  readonly ejections: number;
  readonly latencyMs: number;
  /** Connections open to the instance now (idle and busy). */
  readonly connections: number;
  /** Requests waiting for a connection to it (upstream.maxPending bounds them). */
  readonly queued: number;
}

/** The gateway's connections to an instance, if it has a connection pool for it. */
export type ConnectionUsage = (
  instance: Instance,
) => { readonly connections: number; readonly queued: number } | undefined;

export interface UpstreamPoolSnapshot {
  readonly service: string;
  readonly strategy: string;
  readonly filter: string;
  readonly synced: boolean;
  readonly size: number;
  readonly healthy: number;
  readonly stale: boolean;
  readonly panic: boolean;
  readonly members: UpstreamMemberSnapshot[];
}

export interface UpstreamsOptions {
  readonly logger?: Logger;
  /** Extra pool options (outlier detection, panic threshold, zone) for every pool. */
  readonly pool?: Omit<PoolOptions, 'strategy' | 'filter'>;
  /** How long an unused pool is kept before it is closed (default 30000 ms). */
  readonly unusedGraceMs?: number;
}

/** Stable JSON (sorted keys) for the pool key. */
function stable(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? '';
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stable((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

export function poolKey(route: RouteConfig): string {
  return `${route.service}\u0000${route.strategy ?? 'round-robin'}\u0000${route.filter === undefined ? '' : stable(route.filter)}`;
}

/** One shared pool and its start-up state. */
export class UpstreamPool {
  /** Set once the watch has synced; requests use it directly. */
  pool: Pool | undefined;
  /** Set when the pool cannot be created (bad strategy or filter): never retried. */
  failure: Error | undefined;
  readonly ready: Promise<Pool>;
  unusedSince: number | undefined;
  private resolveReady!: (pool: Pool) => void;
  private rejectReady!: (err: Error) => void;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly key: string,
    readonly service: string,
    readonly strategy: string,
    readonly filterText: string,
    private readonly open: () => Promise<Pool>,
    private readonly logger: Logger,
  ) {
    this.ready = new Promise<Pool>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    void this.attempt(0);
  }

  private async attempt(n: number): Promise<void> {
    try {
      const pool = await this.open();
      if (this.closed) {
        await pool.close();
        return;
      }
      this.pool = pool;
      this.resolveReady(pool);
    } catch (err) {
      if (this.closed) return;
      if (isRosterError(err, 'ROSTER_ERR_INVALID_ARGUMENT')) {
        this.failure = err;
        this.logger.error({ err, service: this.service }, 'upstream pool cannot be created');
        this.rejectReady(err);
        return;
      }
      const delay = Math.min(10_000, 250 * 2 ** Math.min(n, 6));
      this.logger.warn(
        { err, service: this.service, retryInMs: delay },
        'upstream pool not synced yet',
      );
      this.retryTimer = setTimeout(() => void this.attempt(n + 1), delay);
      this.retryTimer.unref();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.rejectReady(new Error('upstream pool closed'));
    await this.pool?.close();
  }

  snapshot(now: number = performance.now(), usage?: ConnectionUsage): UpstreamPoolSnapshot {
    const pool = this.pool;
    const members =
      pool?.members().map((m) => ({
        ...(usage?.(m.instance) ?? { connections: 0, queued: 0 }),
        id: m.instance.id,
        host: m.instance.host,
        port: m.instance.port,
        status: m.instance.status,
        zone: m.instance.zone,
        outstanding: m.outstanding,
        ejected: m.ejectedUntil > now,
        ejections: m.ejections,
        latencyMs: Math.round(m.ewmaMs * 1000) / 1000,
      })) ?? [];
    return {
      service: this.service,
      strategy: this.strategy,
      filter: this.filterText,
      synced: pool !== undefined,
      size: pool?.size ?? 0,
      healthy: pool?.healthy ?? 0,
      stale: pool?.stale ?? true,
      panic: pool?.panic ?? false,
      members,
    };
  }
}

export class Upstreams {
  private readonly entries = new Map<string, UpstreamPool>();
  private readonly logger: Logger;
  private readonly graceMs: number;
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly client: RosterClient,
    private readonly options: UpstreamsOptions = {},
  ) {
    this.logger = (options.logger ?? silentLogger).child({ component: 'gateway-upstreams' });
    this.graceMs = options.unusedGraceMs ?? 30_000;
    this.sweepTimer = setInterval(() => void this.sweep(), Math.max(1000, this.graceMs / 2));
    this.sweepTimer.unref();
  }

  /** The shared pool for a route (created on first use). */
  forRoute(route: RouteConfig): UpstreamPool {
    const key = poolKey(route);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      if (this.closed) throw new Error('upstreams closed');
      const strategy = route.strategy ?? 'round-robin';
      const filter = route.filter;
      entry = new UpstreamPool(
        key,
        route.service,
        strategy,
        filter === undefined ? '' : stable(filter),
        () =>
          this.client.pool(route.service, {
            ...this.options.pool,
            // The gateway's clock: in a read's callback, the pool reads no clock of its own.
            outlier: { now: clockNow, ...this.options.pool?.outlier },
            strategy,
            ...(filter !== undefined ? { filter } : {}),
          }),
        this.logger,
      );
      this.entries.set(key, entry);
    }
    entry.unusedSince = undefined;
    return entry;
  }

  /** Marks every pool not in `used` unused (closed after the grace period). */
  retain(used: ReadonlySet<UpstreamPool>): void {
    const now = Date.now();
    for (const entry of this.entries.values()) {
      if (used.has(entry)) entry.unusedSince = undefined;
      else entry.unusedSince ??= now;
    }
  }

  /** One pool by service (the first created), for callers that know only the service. */
  pick(service: string, key?: string): ReturnType<Pool['pick']> {
    for (const e of this.entries.values()) {
      if (e.service === service && e.pool !== undefined) return e.pool.pick(key);
    }
    return undefined;
  }

  /** True when every pool of these services (or every pool) has synced. */
  synced(services?: readonly string[]): boolean {
    for (const e of this.entries.values()) {
      if (e.unusedSince !== undefined) continue;
      if (services !== undefined && !services.includes(e.service)) continue;
      if (e.pool === undefined) return false;
    }
    if (services === undefined) return true;
    return services.every((s) => [...this.entries.values()].some((e) => e.service === s));
  }

  /**
   * Resolves once every pool of `services` has synced (a service without a pool gets a
   * round-robin one). Rejects when a pool cannot be created at all.
   */
  async waitSynced(services: readonly string[]): Promise<void> {
    const waits: Promise<Pool>[] = [];
    for (const s of services) {
      let found = false;
      for (const e of this.entries.values()) {
        if (e.service !== s || e.unusedSince !== undefined) continue;
        found = true;
        waits.push(e.ready);
      }
      if (!found) {
        waits.push(
          this.forRoute({ name: s, service: s, match: { path: { prefix: '/' } }, source: 'file' })
            .ready,
        );
      }
    }
    await Promise.all(waits);
  }

  pools(usage?: ConnectionUsage): UpstreamPoolSnapshot[] {
    const now = performance.now();
    return [...this.entries.values()].map((e) => e.snapshot(now, usage));
  }

  /** Entries currently in use (for metrics). */
  active(): UpstreamPool[] {
    return [...this.entries.values()].filter((e) => e.unusedSince === undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => e.close()));
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const [key, e] of this.entries) {
      if (e.unusedSince !== undefined && now - e.unusedSince >= this.graceMs) {
        this.entries.delete(key);
        await e.close().catch((err: unknown) => this.logger.warn({ err }, 'pool close failed'));
      }
    }
  }
}
