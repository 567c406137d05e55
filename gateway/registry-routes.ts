/**
 * Routes declared by services in their registration metadata (route-metadata.ts: the keys and
 * how one service's declarations resolve), followed live.
 *
 * RegistryRoutes follows every service: one subscription to every service's deltas, the node
 * heartbeats (a service some node changed lately that we do not know, or are behind on, is
 * queried), and the service catalogue at start and every `resyncMs`. For each service it keeps
 * the instances (client/service-view.ts: the same merge and revision-chain rules as watchers)
 * and derives the routes of its live (passing or warning) instances (resolveServiceRoutes).
 * Disagreements between instances are logged and reported. Changes are emitted debounced
 * (50 ms), and only when the resulting list differs. While NATS or the cluster is unreachable
 * the last known routes are kept.
 */

import { ServiceView, type ViewEvent } from '../client/service-view.js';
import {
  type Change,
  changeService,
  decodeAs,
  decodeMessage,
  encodeTrusted,
  type Instance,
  isServiceName,
  type Subjects,
} from '../protocol/index.js';
import type { Bus, BusSubscription } from '../transport/bus.js';
import { type Logger, silentLogger } from '../transport/logger.js';
import {
  canonical,
  type RegistryRouteDisagreement,
  type RegistryRouteError,
  type RegistryRouteSet,
  resolveServiceRoutes,
  type ServiceRoutes,
} from './route-metadata.js';
import type { RouteConfig } from './types.js';

export interface RegistryRoutesOptions {
  readonly logger?: Logger;
  /** Safety-net catalogue re-read (default 30 000 ms). */
  readonly resyncMs?: number;
  /** Change coalescing (default 50 ms). */
  readonly debounceMs?: number;
  /** Per request (default 2000 ms). */
  readonly requestTimeoutMs?: number;
  /** Queries in parallel during a full resync (default 8). */
  readonly concurrency?: number;
}

interface Followed {
  readonly view: ServiceView;
  /** Deltas held while a query of this service is under way. */
  buffered: Change[] | undefined;
  syncing: Promise<void> | undefined;
  again: boolean;
  /** The last routes derived from the view. */
  result: ServiceRoutes;
  /** The view changed since `result`. */
  dirty: boolean;
}

const EMPTY: ServiceRoutes = { routes: [], errors: [], disagreements: [] };

export type RegistryRoutesListener = (set: RegistryRouteSet) => void;

export class RegistryRoutes implements AsyncDisposable {
  private readonly services = new Map<string, Followed>();
  private readonly listeners = new Set<RegistryRoutesListener>();
  private readonly subs: BusSubscription[] = [];
  private readonly logger: Logger;
  private readonly resyncMs: number;
  private readonly debounceMs: number;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private offStatus: (() => void) | undefined;
  private periodic: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private fullSync: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private current: RegistryRouteSet = { routes: [], errors: [], disagreements: [] };
  private currentKey = canonical(this.current);
  private loggedDisagreements = '';
  private loggedErrors = '';
  private closed = false;
  private syncedOnce = false;
  private staleReason: string | undefined;
  /** Counters for metrics. */
  readonly stats = { resyncs: 0, resyncFailures: 0, queries: 0, emits: 0 };

  constructor(
    private readonly bus: Bus,
    private readonly subjects: Subjects,
    options: RegistryRoutesOptions = {},
  ) {
    this.logger = (options.logger ?? silentLogger).child({ component: 'registry-routes' });
    this.resyncMs = options.resyncMs ?? 30_000;
    this.debounceMs = options.debounceMs ?? 50;
    this.timeoutMs = options.requestTimeoutMs ?? 2_000;
    this.concurrency = options.concurrency ?? 8;
  }

  /** True once a full sync (catalogue + every service) has succeeded. */
  get synced(): boolean {
    return this.syncedOnce;
  }

  /** True while the routes may be out of date (NATS or the cluster unreachable). */
  get stale(): boolean {
    return this.staleReason !== undefined;
  }

  /** The number of services followed. */
  get serviceCount(): number {
    return this.services.size;
  }

  /** The current routes, errors and disagreements. */
  routes(): RegistryRouteSet {
    return this.current;
  }

  /** Called (debounced) whenever the route set changes. */
  onChange(listener: RegistryRoutesListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Subscribes and runs the first full sync. Rejects when that sync fails (the subscriptions
   * stay and retries continue in the background: call close() to stop).
   */
  async start(): Promise<void> {
    this.subs.push(
      this.bus.subscribe(this.subjects.deltaAll, (m) => {
        let change: Change;
        try {
          change = decodeMessage(m.data, 'change');
        } catch (err) {
          this.logger.debug({ err }, 'bad delta ignored');
          return;
        }
        const service = changeService(change);
        if (service === undefined) return;
        // A delta must travel on its own service's subject.
        if (m.subject !== this.subjects.delta(service)) return;
        this.onDelta(service, change);
      }),
    );
    this.subs.push(
      this.bus.subscribe(this.subjects.heartbeat, (m) => {
        if (this.closed) return;
        let hb: ReturnType<typeof decodeMessage<'heartbeat'>>;
        try {
          hb = decodeMessage(m.data, 'heartbeat');
        } catch (err) {
          this.logger.debug({ err }, 'bad heartbeat ignored');
          return;
        }
        if (hb.touchedOverflow) {
          this.resyncAll();
          return;
        }
        for (const [service, seq] of hb.touched ?? []) {
          const f = this.services.get(service);
          if (!f || f.view.isBehind(hb.node, hb.inc, seq)) this.syncService(service);
        }
      }),
    );
    this.offStatus = this.bus.onStatus((s) => {
      if (s.type === 'disconnect') this.markStale('bus disconnected');
      else if (s.type === 'reconnect') this.resyncAll();
    });
    await this.bus.flush();
    this.periodic = setInterval(() => this.resyncAll(), this.resyncMs);
    this.periodic.unref();
    await this.runFullSync();
    this.flushNow();
  }

  /** Asks for a full resync (catalogue and every service) soon; coalesced. */
  resyncAll(): void {
    if (this.closed || this.fullSync) return;
    void this.runFullSync().catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subs) s.unsubscribe();
    this.subs.length = 0;
    this.offStatus?.();
    if (this.periodic) clearInterval(this.periodic);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.debounce) clearTimeout(this.debounce);
    this.listeners.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- internals ---

  private follow(service: string): Followed {
    let f = this.services.get(service);
    if (!f) {
      f = {
        view: new ServiceView(service),
        buffered: undefined,
        syncing: undefined,
        again: false,
        result: EMPTY,
        dirty: false,
      };
      this.services.set(service, f);
    }
    return f;
  }

  private onDelta(service: string, change: Change): void {
    if (this.closed) return;
    const known = this.services.has(service);
    const f = this.follow(service);
    if (f.buffered) {
      if (f.buffered.length < 100_000) f.buffered.push(change);
      return;
    }
    const events: ViewEvent[] = [];
    const outcome = f.view.applyDelta(change, events);
    if (events.length > 0) this.markDirty(f);
    // A service seen for the first time, or a hole in its chain: ask for the full set.
    if (!known || outcome === 'gap') this.syncService(service);
  }

  private syncService(service: string): void {
    if (this.closed || !isServiceName(service)) return;
    void this.sync(service).catch(() => undefined);
  }

  private async sync(service: string): Promise<void> {
    const f = this.follow(service);
    if (f.syncing) {
      f.again = true;
      return f.syncing;
    }
    f.syncing = this.runSync(service, f).finally(() => {
      f.syncing = undefined;
      if (f.again && !this.closed) {
        f.again = false;
        this.syncService(service);
      }
    });
    return f.syncing;
  }

  private async runSync(service: string, f: Followed): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      f.buffered = [];
      let ok = false;
      let complete = true;
      const events: ViewEvent[] = [];
      try {
        const { instances, revision } = await this.query(service);
        complete = f.view.reconcile(instances, revision, events);
        ok = true;
      } finally {
        // Apply what arrived meanwhile, whether the query worked or not (the merge rule is safe).
        const held = f.buffered ?? [];
        f.buffered = undefined;
        for (const c of held) f.view.applyDelta(c, events);
        if (events.length > 0) this.markDirty(f);
      }
      if (ok && (!complete || f.view.hasGap) && attempt < 3) {
        await sleep(50 * (attempt + 1));
        continue;
      }
      return;
    }
  }

  private async runFullSync(): Promise<void> {
    if (this.fullSync) return this.fullSync;
    this.fullSync = (async () => {
      this.stats.resyncs++;
      try {
        const reply = decodeAs(
          (
            await this.bus.request(this.subjects.catalog, encodeTrusted('catalogRequest', {}), {
              timeoutMs: this.timeoutMs,
            })
          ).data,
          'catalogReply',
        );
        const names = new Set(reply.services.map((s) => s.name));
        for (const [name, f] of this.services) {
          if (!names.has(name) && f.view.size === 0 && !f.syncing) this.services.delete(name);
          else names.add(name); // known services are re-queried too (they may have emptied)
        }
        const queue = [...names].sort();
        let failed: unknown;
        const worker = async () => {
          for (let next = queue.shift(); next !== undefined && !this.closed; next = queue.shift()) {
            try {
              await this.sync(next);
            } catch (err) {
              failed ??= err;
            }
          }
        };
        await Promise.all(Array.from({ length: Math.max(1, this.concurrency) }, worker));
        if (failed !== undefined) throw failed;
        this.syncedOnce = true;
        this.failures = 0;
        if (this.staleReason !== undefined) {
          this.logger.info({ services: this.services.size }, 'registry routes in sync again');
          this.staleReason = undefined;
        }
      } catch (err) {
        this.stats.resyncFailures++;
        this.markStale(err instanceof Error ? err.message : String(err));
        // Retry sooner than the periodic resync: 500 ms, doubling, up to resyncMs.
        this.failures++;
        if (!this.closed && !this.retryTimer) {
          const delay = Math.min(this.resyncMs, 500 * 2 ** Math.min(this.failures - 1, 10));
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.resyncAll();
          }, delay);
          this.retryTimer.unref();
        }
        throw err;
      }
    })().finally(() => {
      this.fullSync = undefined;
    });
    return this.fullSync;
  }

  private async query(
    service: string,
  ): Promise<{ instances: Instance[]; revision: [string, number, number][] }> {
    const instances: Instance[] = [];
    let revision: [string, number, number][] = [];
    let cursor: string | undefined;
    do {
      this.stats.queries++;
      const reply = decodeAs(
        (
          await this.bus.request(
            this.subjects.query(service),
            encodeTrusted('queryRequest', cursor === undefined ? { service } : { service, cursor }),
            { timeoutMs: this.timeoutMs },
          )
        ).data,
        'queryReply',
      );
      instances.push(...reply.instances);
      if (cursor === undefined) revision = reply.revision;
      cursor = reply.next;
    } while (cursor !== undefined);
    return { instances, revision };
  }

  private markStale(reason: string): void {
    if (this.closed) return;
    if (this.staleReason === undefined) {
      this.logger.warn({ reason }, 'registry routes may be stale; keeping the last known routes');
    }
    this.staleReason = reason;
  }

  private markDirty(f: Followed): void {
    f.dirty = true;
    if (this.closed || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.flushNow();
    }, this.debounceMs);
    this.debounce.unref?.();
  }

  /** Recomputes dirty services and emits when the whole set changed. */
  private flushNow(): void {
    if (this.closed) return;
    if (this.debounce) {
      clearTimeout(this.debounce);
      this.debounce = undefined;
    }
    const routes: RouteConfig[] = [];
    const errors: RegistryRouteError[] = [];
    const disagreements: RegistryRouteDisagreement[] = [];
    for (const [service, f] of [...this.services].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      if (f.dirty) {
        f.dirty = false;
        f.result = resolveServiceRoutes(service, f.view.instances());
      }
      routes.push(...f.result.routes);
      errors.push(...f.result.errors);
      disagreements.push(...f.result.disagreements);
    }
    const next: RegistryRouteSet = { routes, errors, disagreements };
    const key = canonical(next);
    if (key === this.currentKey) return;
    this.current = next;
    this.currentKey = key;
    this.stats.emits++;
    this.logProblems(next);
    for (const l of this.listeners) {
      try {
        l(next);
      } catch (err) {
        this.logger.error({ err }, 'registry routes listener failed');
      }
    }
  }

  private logProblems(set: RegistryRouteSet): void {
    const d = canonical(set.disagreements);
    if (d !== this.loggedDisagreements) {
      this.loggedDisagreements = d;
      for (const x of set.disagreements) {
        this.logger.warn(
          {
            service: x.service,
            route: x.route,
            chosenFrom: x.chosenFrom,
            overruled: x.overruled.slice(0, 20),
          },
          'instances declare a route differently; using the declaration of the majority (ties: lowest instance id)',
        );
      }
    }
    const e = canonical(set.errors);
    if (e !== this.loggedErrors) {
      this.loggedErrors = e;
      for (const x of set.errors.slice(0, 50)) {
        this.logger.error(
          { service: x.service, instance: x.instance, route: x.route, key: x.key },
          `bad route metadata ignored: ${x.message}`,
        );
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
