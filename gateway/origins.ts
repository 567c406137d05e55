/**
 * Keep-alive connection pools to upstream instances: one undici 7 Pool per origin
 * (scheme://host:port), found per request through a WeakMap keyed by the instance record (no
 * string building on the hot path). undici was chosen over node:http agents by benchmark
 * (docs/adr/0006-gateway-upstream-client.md).
 *
 * An origin no pool member has used for two sweeps is closed (gracefully: requests in flight
 * finish first).
 */
import { Pool } from 'undici';
import type { Instance } from '../protocol/index.js';

export interface OriginOptions {
  /** Most connections per origin (default 512). */
  readonly connections?: number;
  /** TCP/TLS connect timeout (default 3000 ms). */
  readonly connectTimeoutMs?: number;
  /** Idle time allowed between response body chunks (default 120000 ms). */
  readonly bodyTimeoutMs?: number;
  /** Verify upstream TLS certificates (default true). */
  readonly rejectUnauthorized?: boolean;
  /** How often unused origins are looked for (default 30000 ms). */
  readonly sweepMs?: number;
}

interface OriginEntry {
  readonly pool: Pool;
  lastUsedSweep: number;
  retired: boolean;
}

export function originOf(instance: Instance): string {
  const scheme = instance.scheme === 'https' || instance.scheme === 'wss' ? 'https' : 'http';
  const host = instance.host.includes(':') ? `[${instance.host}]` : instance.host;
  return `${scheme}://${host}:${instance.port}`;
}

export class OriginClients {
  private readonly byInstance = new WeakMap<Instance, OriginEntry>();
  private readonly byOrigin = new Map<string, OriginEntry>();
  private readonly timer: NodeJS.Timeout;
  private sweeps = 0;
  private closed = false;

  constructor(private readonly options: OriginOptions = {}) {
    this.timer = setInterval(() => this.sweep(), options.sweepMs ?? 30_000);
    this.timer.unref();
  }

  /** The connection pool for an instance. */
  get(instance: Instance): Pool {
    let entry = this.byInstance.get(instance);
    if (entry === undefined || entry.retired) {
      const origin = originOf(instance);
      entry = this.byOrigin.get(origin);
      if (entry === undefined) {
        entry = { pool: this.create(origin), lastUsedSweep: this.sweeps, retired: false };
        this.byOrigin.set(origin, entry);
      }
      this.byInstance.set(instance, entry);
    }
    entry.lastUsedSweep = this.sweeps;
    return entry.pool;
  }

  get size(): number {
    return this.byOrigin.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    const pools = [...this.byOrigin.values()].map((e) => e.pool);
    this.byOrigin.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }

  private create(origin: string): Pool {
    const o = this.options;
    return new Pool(origin, {
      connections: o.connections ?? 512,
      pipelining: 1,
      connectTimeout: o.connectTimeoutMs ?? 3000,
      bodyTimeout: o.bodyTimeoutMs ?? 120_000,
      keepAliveTimeout: 4000,
      keepAliveMaxTimeout: 600_000,
      connect: { rejectUnauthorized: o.rejectUnauthorized ?? true },
    });
  }

  private sweep(): void {
    this.sweeps++;
    for (const [origin, entry] of this.byOrigin) {
      if (this.sweeps - entry.lastUsedSweep >= 2) {
        this.byOrigin.delete(origin);
        entry.retired = true;
        void entry.pool.close().catch(() => undefined);
      }
    }
  }
}
