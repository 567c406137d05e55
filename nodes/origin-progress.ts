/**
 * Per-origin progress: how far this replica has applied each origin's log, as the vector
 * `{origin: (incarnation, seq)}`. Changes are applied in seq order per origin; one that
 * arrives early is held (bounded) and the missing range is reported as a gap to pull.
 * Duplicates and changes of an older incarnation are dropped here, before the store sees
 * them, so a replayed delta can never act twice.
 */
import type { Change, Vector } from '../protocol/index.js';

export interface Gap {
  readonly origin: string;
  readonly inc: number;
  /** First missing seq. */
  readonly from: number;
  /** Last missing seq. */
  readonly to: number;
}

export type OfferOutcome =
  | { readonly kind: 'apply'; readonly changes: Change[] }
  | { readonly kind: 'held'; readonly gap: Gap }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'stale' };

interface OriginState {
  inc: number;
  seq: number;
  /** Early changes by seq, within the current incarnation. */
  held: Map<number, Change>;
}

export interface OriginProgressOptions {
  /** Most early changes held per origin; more are dropped (and pulled again later). */
  readonly maxHeld?: number;
}

export class OriginProgress {
  private readonly origins = new Map<string, OriginState>();
  private readonly maxHeld: number;

  constructor(options: OriginProgressOptions = {}) {
    this.maxHeld = options.maxHeld ?? 20_000;
  }

  /** Offers one received change; returns the changes now ready to apply, in order. */
  offer(change: Change): OfferOutcome {
    let state = this.origins.get(change.origin);
    if (state && change.inc < state.inc) return { kind: 'stale' };
    if (!state || change.inc > state.inc) {
      // A new origin or a new incarnation: its log starts again at seq 1.
      state = { inc: change.inc, seq: 0, held: new Map() };
      this.origins.set(change.origin, state);
    }
    if (change.seq <= state.seq) return { kind: 'duplicate' };
    if (change.seq > state.seq + 1) {
      if (state.held.size < this.maxHeld || state.held.has(change.seq))
        state.held.set(change.seq, change);
      return {
        kind: 'held',
        gap: { origin: change.origin, inc: state.inc, from: state.seq + 1, to: change.seq - 1 },
      };
    }
    state.seq = change.seq;
    return { kind: 'apply', changes: [change, ...this.drain(state)] };
  }

  /** The applied position of an origin. */
  position(origin: string): { inc: number; seq: number } | undefined {
    const s = this.origins.get(origin);
    return s ? { inc: s.inc, seq: s.seq } : undefined;
  }

  /** The first gap of an origin, if changes are held for it. */
  gapOf(origin: string): Gap | undefined {
    const s = this.origins.get(origin);
    if (!s || s.held.size === 0) return undefined;
    let first = Number.POSITIVE_INFINITY;
    for (const seq of s.held.keys()) if (seq < first) first = seq;
    return { origin, inc: s.inc, from: s.seq + 1, to: first - 1 };
  }

  /** True when this replica is behind `(inc, seq)` for `origin`. */
  isBehind(origin: string, inc: number, seq: number): boolean {
    const s = this.origins.get(origin);
    if (!s) return seq > 0;
    return inc > s.inc || (inc === s.inc && seq > s.seq);
  }

  /**
   * Moves an origin forward without applying its changes (after loading a snapshot or a
   * pulled range elsewhere); returns held changes that have become ready, in order.
   */
  advanceTo(origin: string, inc: number, seq: number): Change[] {
    const s = this.origins.get(origin);
    if (!s || inc > s.inc) {
      this.origins.set(origin, { inc, seq, held: new Map() });
      return [];
    }
    if (inc !== s.inc || seq <= s.seq) return [];
    s.seq = seq;
    for (const k of s.held.keys()) if (k <= seq) s.held.delete(k);
    return this.drain(s);
  }

  private drain(state: OriginState): Change[] {
    const ready: Change[] = [];
    for (let next = state.held.get(state.seq + 1); next; next = state.held.get(state.seq + 1)) {
      state.held.delete(state.seq + 1);
      ready.push(next);
      state.seq++;
    }
    return ready;
  }

  /** Drops an origin entirely (a node gone for good). */
  forget(origin: string): void {
    this.origins.delete(origin);
  }

  knownOrigins(): IterableIterator<string> {
    return this.origins.keys();
  }

  vector(): Vector {
    return [...this.origins].map(([origin, s]) => [origin, s.inc, s.seq]);
  }

  /** Number of changes held across origins. */
  get heldCount(): number {
    let n = 0;
    for (const s of this.origins.values()) n += s.held.size;
    return n;
  }
}
