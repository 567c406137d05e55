/**
 * Keep-alive connection pools to upstream instances: one UpstreamPool per origin
 * (scheme://host:port), found per request through a WeakMap keyed by the instance record (no
 * string building on the hot path). The gateway's own HTTP/1.1 client was chosen over undici
 * and node:http agents by benchmark (docs/adr/0007-gateway-own-http1-upstream-client.md).
 *
 * An origin that no pool member has used for two sweeps is closed once its pool holds no
 * connection. Idle keep-alive connections close on their own idle timeouts, so a pool that
 * still holds some belongs to an upstream that was only quiet: closing it would make the first
 * requests after a quiet spell open new connections (nginx's upstream keep-alive keeps them).
 */
import type { Instance } from '../protocol/index.js';
import { UpstreamPool } from './upstream/pool.js';
import type { UpstreamPoolOptions } from './upstream/types.js';

export interface OriginOptions extends UpstreamPoolOptions {
  /** How often unused origins are looked for (default 30000 ms). */
  readonly sweepMs?: number;
}

interface OriginEntry {
  readonly pool: UpstreamPool;
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
  get(instance: Instance): UpstreamPool {
    let entry = this.byInstance.get(instance);
    if (entry === undefined || entry.retired) {
      const origin = originOf(instance);
      entry = this.byOrigin.get(origin);
      if (entry === undefined) {
        entry = { pool: this.create(instance), lastUsedSweep: this.sweeps, retired: false };
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

  /** Connections open and requests waiting for `instance`'s origin; undefined without a pool. */
  usage(instance: Instance): { connections: number; queued: number } | undefined {
    const entry = this.byOrigin.get(originOf(instance));
    if (entry === undefined) return undefined;
    return { connections: entry.pool.connections, queued: entry.pool.queued };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    const pools = [...this.byOrigin.values()].map((e) => e.pool);
    this.byOrigin.clear();
    for (const p of pools) p.close(false);
  }

  private create(instance: Instance): UpstreamPool {
    const tls = instance.scheme === 'https' || instance.scheme === 'wss';
    return new UpstreamPool({ host: instance.host, port: instance.port, tls }, this.options);
  }

  private sweep(): void {
    this.sweeps++;
    for (const [origin, entry] of this.byOrigin) {
      if (this.sweeps - entry.lastUsedSweep >= 2 && entry.pool.connections === 0) {
        this.byOrigin.delete(origin);
        entry.retired = true;
        entry.pool.close(true);
      }
    }
  }
}
