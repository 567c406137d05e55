/**
 * List+watch of one service: subscribe to its deltas first, then query a snapshot, then
 * apply what arrived meanwhile. A delta out of chain order triggers a re-query at once; node
 * heartbeats name the services each node changed lately, so a lost last delta is noticed
 * within one heartbeat period (a slow periodic re-query is the safety net). While the cluster or
 * NATS is unreachable the last known set is kept and marked stale, never emptied.
 */

import {
  type Change,
  changeService,
  decodeAs,
  decodeMessage,
  encodeTrusted,
  INSTANCE_STATUSES,
  type Instance,
  isRosterError,
  type Subjects,
} from '../protocol/index.js';
import type { Bus, BusSubscription } from '../transport/bus.js';
import type { Logger } from '../transport/logger.js';
import { compileFilter, type InstanceFilter, type InstancePredicate } from './filter.js';
import { ServiceView, type ViewEvent } from './service-view.js';

export type WatchEvent =
  | { readonly type: 'snapshot'; readonly instances: readonly Instance[] }
  | ViewEvent
  | { readonly type: 'stale'; readonly reason: string }
  | { readonly type: 'fresh' };

export interface WatchOptions {
  /**
   * Only instances matching this filter are seen: an update that makes an instance match
   * is reported as `added`, one that makes it stop matching as `removed`. Unlike pools, a
   * watch sees every status unless `statuses` is given.
   */
  readonly filter?: InstanceFilter;
  /** Re-query this often even without a detected gap (default 30000 ms): a safety net only. */
  readonly resyncMs?: number;
  readonly requestTimeoutMs?: number;
  /** Most events buffered for a slow async-iterator consumer before the oldest are dropped. */
  readonly maxBuffered?: number;
}

export class ServiceWatch implements AsyncIterable<WatchEvent>, AsyncDisposable {
  readonly view: ServiceView;
  private sub: BusSubscription | undefined;
  private hbSub: BusSubscription | undefined;
  private buffered: Change[] | undefined = [];
  private readonly listeners = new Set<(e: WatchEvent) => void>();
  private resyncTimer: NodeJS.Timeout | undefined;
  private periodic: NodeJS.Timeout | undefined;
  private offStatus: (() => void) | undefined;
  private syncing: Promise<void> | undefined;
  private resyncAgain = false;
  private closed = false;
  private staleReason: string | undefined;
  private readonly resyncMs: number;
  private readonly timeoutMs: number;
  private readonly maxBuffered: number;
  private readonly match: InstancePredicate | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly subjects: Subjects,
    readonly service: string,
    private readonly logger: Logger,
    options: WatchOptions = {},
  ) {
    this.view = new ServiceView(service);
    this.resyncMs = options.resyncMs ?? 30_000;
    this.timeoutMs = options.requestTimeoutMs ?? 2000;
    this.maxBuffered = options.maxBuffered ?? 10_000;
    this.match = options.filter
      ? compileFilter({ statuses: [...INSTANCE_STATUSES], ...options.filter })
      : undefined;
  }

  /** True while the set may be out of date (cluster or NATS unreachable). */
  get stale(): boolean {
    return this.staleReason !== undefined;
  }

  instances(): Instance[] {
    const all = this.view.instances();
    return this.match ? all.filter(this.match) : all;
  }

  /** Subscribes, loads the first snapshot, and resolves once the set is known. */
  async start(): Promise<void> {
    this.sub = this.bus.subscribe(this.subjects.delta(this.service), (m) => {
      let change: Change;
      try {
        change = decodeMessage(m.data, 'change');
      } catch (err) {
        this.logger.debug({ err }, 'bad delta ignored');
        return;
      }
      const service = changeService(change);
      if (service !== this.service) return; // only changes of this service, whatever the subject says
      if (this.buffered) {
        if (this.buffered.length < 100_000) this.buffered.push(change);
        return;
      }
      this.applyDelta(change);
    });
    // Heartbeats name the services each node changed lately: a lost last delta shows there.
    this.hbSub = this.bus.subscribe(this.subjects.heartbeat, (m) => {
      if (this.buffered) return;
      try {
        const hb = decodeMessage(m.data, 'heartbeat');
        if (hb.touchedOverflow) {
          this.resync();
          return;
        }
        for (const [service, seq] of hb.touched ?? []) {
          if (service === this.service && this.view.isBehind(hb.node, hb.inc, seq)) this.resync();
        }
      } catch (err) {
        this.logger.debug({ err }, 'bad heartbeat ignored');
      }
    });
    this.offStatus = this.bus.onStatus((s) => {
      if (s.type === 'disconnect') this.markStale('bus disconnected');
      else if (s.type === 'reconnect') this.resync();
    });
    await this.bus.flush();
    await this.sync(true);
    this.periodic = setInterval(() => this.resync(), this.resyncMs);
    this.periodic.unref();
  }

  /** Listens to every event after the initial snapshot. */
  on(listener: (e: WatchEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events as an async iterable: the current snapshot first, then changes. */
  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    const queue: WatchEvent[] = [{ type: 'snapshot', instances: this.instances() }];
    let wake: (() => void) | undefined;
    const off = this.on((e) => {
      queue.push(e);
      if (queue.length > this.maxBuffered) queue.shift();
      wake?.();
    });
    try {
      while (!this.closed || queue.length > 0) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      off();
    }
  }

  /** Asks for a fresh snapshot soon (coalesced). */
  resync(): void {
    if (this.closed || this.resyncTimer) return;
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = undefined;
      void this.sync(false);
    }, 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sub?.unsubscribe();
    this.hbSub?.unsubscribe();
    this.offStatus?.();
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    if (this.periodic) clearInterval(this.periodic);
    for (const l of this.listeners) l({ type: 'stale', reason: 'closed' });
    this.listeners.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private applyDelta(change: Change): void {
    const events: ViewEvent[] = [];
    const outcome = this.view.applyDelta(change, events);
    this.emit(events);
    if (outcome === 'gap') this.resync();
  }

  private async sync(initial: boolean): Promise<void> {
    if (this.syncing) {
      this.resyncAgain = true;
      return this.syncing;
    }
    this.syncing = this.runSync(initial).finally(() => {
      this.syncing = undefined;
      if (this.resyncAgain && !this.closed) {
        this.resyncAgain = false;
        this.resync();
      }
    });
    return this.syncing;
  }

  private async runSync(initial: boolean): Promise<void> {
    if (!initial) this.buffered = [];
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        const { instances, revision } = await this.query();
        const events: ViewEvent[] = [];
        const complete = this.view.reconcile(instances, revision, events);
        const held = this.buffered ?? [];
        this.buffered = undefined;
        for (const c of held) this.view.applyDelta(c, events);
        if (!initial) this.emit(events);
        if (this.staleReason !== undefined) {
          this.staleReason = undefined;
          this.emit([{ type: 'fresh' }]);
        }
        // The answering node was behind us on some origin: ask again shortly.
        if ((!complete || this.view.hasGap) && attempt < 3) {
          this.buffered = [];
          await sleep(50 * (attempt + 1));
          continue;
        }
        return;
      } catch (err) {
        if (initial && attempt >= 2) {
          this.buffered = undefined;
          throw err;
        }
        this.markStale(isRosterError(err) ? err.code : 'query failed');
        await sleep(Math.min(2000, 100 * 2 ** attempt));
      }
    }
  }

  private async query(): Promise<{ instances: Instance[]; revision: [string, number, number][] }> {
    const instances: Instance[] = [];
    let revision: [string, number, number][] = [];
    let cursor: string | undefined;
    do {
      const reply = decodeAs(
        (
          await this.bus.request(
            this.subjects.query(this.service),
            encodeTrusted(
              'queryRequest',
              cursor === undefined ? { service: this.service } : { service: this.service, cursor },
            ),
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
    if (this.staleReason !== undefined || this.closed) return;
    this.staleReason = reason;
    this.emit([{ type: 'stale', reason }]);
  }

  private emit(events: readonly WatchEvent[]): void {
    for (const raw of events) {
      const e = this.match ? filterEvent(raw, this.match) : raw;
      if (e === undefined) continue;
      for (const l of this.listeners) {
        try {
          l(e);
        } catch (err) {
          this.logger.error({ err }, 'watch listener failed');
        }
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** An event as seen through a filter: changes across the filter's edge become added/removed. */
function filterEvent(e: WatchEvent, match: InstancePredicate): WatchEvent | undefined {
  switch (e.type) {
    case 'added':
      return match(e.instance) ? e : undefined;
    case 'removed':
      return match(e.instance) ? e : undefined;
    case 'updated': {
      const now = match(e.instance);
      const before = match(e.previous);
      if (now && before) return e;
      if (now) return { type: 'added', instance: e.instance };
      if (before) return { type: 'removed', instance: e.previous };
      return undefined;
    }
    case 'snapshot':
      return { type: 'snapshot', instances: e.instances.filter(match) };
    default:
      return e;
  }
}
