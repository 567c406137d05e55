/**
 * One service as a watcher sees it: the instances, merged with the same rule as registry
 * nodes (protocol/merge.ts), and for each origin node how far its chain of changes to this
 * service has been applied. Each delta names the previous seq of its origin for the
 * service, so a missing one is seen at once.
 *
 * Pure logic, no I/O: the watcher feeds it deltas and query snapshots.
 */
import { type Change, type Instance, LwwMap, type Vector } from '../protocol/index.js';

export type ViewEvent =
  | { readonly type: 'added'; readonly instance: Instance }
  | { readonly type: 'updated'; readonly instance: Instance; readonly previous: Instance }
  | { readonly type: 'removed'; readonly instance: Instance };

interface ChainPosition {
  inc: number;
  /** Last seq applied with no gap before it. */
  seq: number;
  /** Highest seq applied, gap or not. */
  seen: number;
}

export type DeltaOutcome = 'applied' | 'duplicate' | 'gap';

export class ServiceView {
  private readonly records = new LwwMap<Instance>((i) => ({ hlc: i.hlc, node: i.ownerNode }), {
    maxTombstones: 50_000,
  });
  private readonly chain = new Map<string, ChainPosition>();

  constructor(readonly service: string) {}

  get size(): number {
    return this.records.size;
  }

  instances(): Instance[] {
    return [...this.records.values()];
  }

  get(id: string): Instance | undefined {
    return this.records.get(id);
  }

  /** True when `origin`'s change `seq` (of incarnation `inc`) to this service has not been applied. */
  isBehind(origin: string, inc: number, seq: number): boolean {
    const pos = this.chain.get(origin);
    if (!pos) return seq > 0;
    return inc > pos.inc || (inc === pos.inc && seq > pos.seq);
  }

  /** True when some origin's chain has a hole (a re-query is due). */
  get hasGap(): boolean {
    for (const p of this.chain.values()) if (p.seen > p.seq) return true;
    return false;
  }

  /**
   * Applies one delta. A change out of chain order is still applied (the merge rule makes
   * that safe) but reported as a gap, so the caller re-queries to fill the hole.
   */
  applyDelta(change: Change, events: ViewEvent[]): DeltaOutcome {
    if (change.op !== 'put' && change.op !== 'del') return 'duplicate';
    let pos = this.chain.get(change.origin);
    if (pos && change.inc < pos.inc) return 'duplicate';
    if (!pos || change.inc > pos.inc) {
      pos = { inc: change.inc, seq: 0, seen: 0 };
      this.chain.set(change.origin, pos);
    }
    if (change.seq <= pos.seq) return 'duplicate';
    let outcome: DeltaOutcome = 'applied';
    if (change.prev === pos.seq && pos.seen <= pos.seq) {
      pos.seq = change.seq;
    } else if (change.prev !== pos.seq) {
      outcome = 'gap';
    } else {
      // In chain after an earlier hole: still a hole before `seen`.
      pos.seq = change.seq;
      outcome = pos.seen > change.seq ? 'gap' : 'applied';
    }
    pos.seen = Math.max(pos.seen, change.seq);
    this.merge(change, events);
    return outcome;
  }

  /**
   * Reconciles with a query snapshot. Records the snapshot lacks are removed only for
   * origins the snapshot has seen at least as far as we have (it saw their removal); where
   * the answering node is behind us, our newer state is kept. Returns whether the snapshot
   * covered every origin we know (if not, ask again soon).
   */
  reconcile(instances: readonly Instance[], revision: Vector, events: ViewEvent[]): boolean {
    const rev = new Map(revision.map(([o, inc, seq]) => [o, { inc, seq }]));
    const covers = (origin: string): boolean => {
      const mine = this.chain.get(origin);
      const theirs = rev.get(origin);
      if (!mine) return true;
      if (!theirs) return false;
      return theirs.inc > mine.inc || (theirs.inc === mine.inc && theirs.seq >= mine.seen);
    };
    const present = new Set<string>();
    for (const inst of instances) {
      present.add(inst.id);
      this.put(inst, events);
    }
    for (const inst of [...this.records.values()]) {
      if (!present.has(inst.id) && covers(inst.ownerNode)) {
        this.records.del(inst.id, { hlc: inst.hlc, node: inst.ownerNode }, Date.now());
        events.push({ type: 'removed', instance: inst });
      }
    }
    let complete = true;
    for (const origin of new Set([...this.chain.keys(), ...rev.keys()])) {
      const theirs = rev.get(origin);
      const mine = this.chain.get(origin);
      if (!theirs) {
        if (mine && mine.seen > mine.seq) complete = false;
        continue;
      }
      if (!mine || theirs.inc > mine.inc) {
        this.chain.set(origin, { inc: theirs.inc, seq: theirs.seq, seen: theirs.seq });
      } else if (theirs.inc === mine.inc) {
        if (theirs.seq >= mine.seen) {
          mine.seq = mine.seen = theirs.seq;
        } else {
          mine.seq = Math.max(mine.seq, theirs.seq);
          if (mine.seen > mine.seq) complete = false;
        }
      }
    }
    return complete;
  }

  private merge(change: Change, events: ViewEvent[]): void {
    if (change.op === 'put') {
      this.put(change.instance, events);
    } else if (change.op === 'del') {
      let removed: Instance | undefined;
      this.records.del(
        change.id,
        { hlc: change.ifHlc, node: change.ifNode },
        Date.now(),
        (prev) => {
          removed = prev;
        },
      );
      if (removed) events.push({ type: 'removed', instance: removed });
    }
  }

  private put(inst: Instance, events: ViewEvent[]): void {
    let previous: Instance | undefined;
    const outcome = this.records.put(inst.id, inst, (prev) => {
      previous = prev;
    });
    if (outcome === 'added') events.push({ type: 'added', instance: inst });
    else if (outcome === 'updated' && previous)
      events.push({ type: 'updated', instance: inst, previous });
  }
}
