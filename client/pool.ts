/**
 * A load-balancing pool over a watched service: the members follow the watch (filtered;
 * `draining` instances leave at once), a strategy picks among the healthy ones, and reported
 * outcomes feed passive health (client/outlier.ts). A member's statistics survive updates of
 * its record. While the watch is stale the last known set is kept: staleness never empties a
 * pool.
 *
 * Membership and ejection changes only mark the pool dirty; the candidate list and strategy
 * tables are rebuilt on the next pick, so a burst of events costs one rebuild and a pick in
 * steady state allocates nothing.
 */
import type { Instance } from '../protocol/index.js';
import { compileFilter, type InstanceFilter, type InstancePredicate } from './filter.js';
import { type Outcome, OutlierDetector, type OutlierOptions } from './outlier.js';
import { type StrategyOptions, strategyByName } from './strategies/index.js';
import { newMember, type PoolMember, type Strategy } from './strategies/types.js';
import { ZoneAwareStrategy } from './strategies/zone-aware.js';
import type { WatchEvent } from './watch.js';

/** What a pool follows: a ServiceWatch, or anything shaped like one (tests). */
export interface PoolSource {
  readonly stale: boolean;
  instances(): readonly Instance[];
  on(listener: (event: WatchEvent) => void): () => void;
  close?(): Promise<void>;
}

export interface PoolOptions {
  /** A strategy name (`round-robin` by default) or a strategy object (one per pool). */
  readonly strategy?: string | Strategy;
  /** Options for a strategy given by name (vnodes, tableSize, random, …). */
  readonly strategyOptions?: StrategyOptions;
  /** Which instances may join the pool (default: passing and warning ones). */
  readonly filter?: InstanceFilter;
  /** The local zone: the strategy is wrapped in zone preference with fallback. */
  readonly zone?: string;
  /** Zone preference holds while at least this share of the local zone is healthy (default 70). */
  readonly minZoneHealthyPercent?: number;
  /** Passive health settings (failures to eject, back-off, ejected share, clock). */
  readonly outlier?: OutlierOptions;
  /** Below this percentage of healthy members ejections are ignored (default 50). */
  readonly panicThreshold?: number;
}

/** Ends a request started with `pool.start()`; later calls are ignored. */
export type DoneFn = (outcome: Outcome) => void;

function resolveStrategy(options: PoolOptions): Strategy {
  const given = options.strategy ?? 'round-robin';
  const zone = options.zone;
  const base =
    typeof given === 'string'
      ? strategyByName(given, {
          ...options.strategyOptions,
          ...(zone !== undefined ? { zone } : {}),
          ...(options.minZoneHealthyPercent !== undefined
            ? { minHealthyPercent: options.minZoneHealthyPercent }
            : {}),
        })
      : given;
  if (zone === undefined || base.name === 'zone-aware') return base;
  return new ZoneAwareStrategy(base, zone, options.minZoneHealthyPercent);
}

export class Pool implements AsyncDisposable {
  readonly strategy: Strategy;
  private readonly byId = new Map<string, PoolMember>();
  private candidates: PoolMember[] = [];
  private dirty = true;
  private nextExpiry = Number.POSITIVE_INFINITY;
  private panicking = false;
  private readonly accepts: InstancePredicate;
  private readonly outlier: OutlierDetector;
  private readonly now: () => number;
  private readonly off: () => void;
  private closed = false;

  /** Follows `source`; with `ownsSource`, closing the pool closes the source. */
  constructor(
    private readonly source: PoolSource,
    options: PoolOptions = {},
    private readonly ownsSource = false,
  ) {
    this.accepts = compileFilter(options.filter);
    this.strategy = resolveStrategy(options);
    this.outlier = new OutlierDetector(() => this.byId.values(), {
      ...options.outlier,
      ...(options.panicThreshold !== undefined ? { panicThreshold: options.panicThreshold } : {}),
    });
    this.now = this.outlier.now;
    this.off = source.on((e) => this.onEvent(e));
    for (const i of source.instances()) this.upsert(i);
  }

  /** Members in the pool (after the filter, draining excluded). */
  get size(): number {
    return this.byId.size;
  }

  /** Members not ejected now. */
  get healthy(): number {
    const now = this.now();
    let n = 0;
    for (const m of this.byId.values()) if (m.ejectedUntil <= now) n++;
    return n;
  }

  /** True while fewer than the panic threshold are healthy (ejections are then ignored). */
  get panic(): boolean {
    this.refreshIfDue();
    return this.panicking;
  }

  /** True while the watch may be out of date; the last known members are still used. */
  get stale(): boolean {
    return this.source.stale;
  }

  /** A copy of the member list with each member's statistics. */
  members(): PoolMember[] {
    return [...this.byId.values()];
  }

  /** An instance to send a request to (`key` for hashing strategies); undefined when empty. */
  pick(key?: string): Instance | undefined {
    this.refreshIfDue();
    return this.strategy.pick(this.candidates, key)?.instance;
  }

  /**
   * Counts a request to `instance` as outstanding until the returned function is called with
   * its outcome (latency defaults to the time since `start`).
   */
  start(instance: Instance): DoneFn {
    const member = this.byId.get(instance.id);
    if (member === undefined) return () => undefined;
    const started = this.now();
    member.outstanding++;
    let done = false;
    return (outcome) => {
      if (done) return;
      done = true;
      member.outstanding--;
      if (this.byId.get(instance.id) !== member) return;
      this.reportMember(member, {
        ok: outcome.ok,
        latencyMs: outcome.latencyMs ?? this.now() - started,
      });
    };
  }

  /** Reports the outcome of a request to `instance` (ignored when it left the pool). */
  report(instance: Instance, outcome: Outcome): void {
    const member = this.byId.get(instance.id);
    if (member !== undefined) this.reportMember(member, outcome);
  }

  /** Stops following the watch (and closes it when the pool owns it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.off();
    if (this.ownsSource) await this.source.close?.();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private reportMember(member: PoolMember, outcome: Outcome): void {
    if (this.outlier.report(member, outcome)) this.dirty = true;
  }

  private refreshIfDue(): void {
    if (this.dirty) this.refresh();
    else if (this.nextExpiry !== Number.POSITIVE_INFINITY && this.now() >= this.nextExpiry) {
      this.refresh();
    }
  }

  private refresh(): void {
    const all = [...this.byId.values()];
    const selection = this.outlier.select(all);
    this.candidates = selection.candidates;
    this.nextExpiry = selection.nextExpiry;
    this.panicking = selection.panic;
    this.dirty = false;
    this.strategy.rebuild?.(this.candidates, all);
  }

  private onEvent(e: WatchEvent): void {
    switch (e.type) {
      case 'added':
      case 'updated':
        this.upsert(e.instance);
        return;
      case 'removed':
        if (this.byId.delete(e.instance.id)) this.dirty = true;
        return;
      case 'snapshot': {
        const ids = new Set(e.instances.map((i) => i.id));
        for (const id of this.byId.keys()) {
          if (!ids.has(id)) {
            this.byId.delete(id);
            this.dirty = true;
          }
        }
        for (const i of e.instances) this.upsert(i);
        return;
      }
      default:
        // stale / fresh: the last known set stays.
        return;
    }
  }

  private upsert(instance: Instance): void {
    if (instance.status === 'draining' || !this.accepts(instance)) {
      if (this.byId.delete(instance.id)) this.dirty = true;
      return;
    }
    const member = this.byId.get(instance.id);
    if (member === undefined) this.byId.set(instance.id, newMember(instance));
    else member.instance = instance;
    this.dirty = true;
  }
}
