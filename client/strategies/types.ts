/**
 * The balancer strategy contract: pools hand a strategy their current candidates (members not
 * ejected, or all of them in panic mode) and ask it for one.
 */
import type { Instance } from '../../protocol/index.js';

/** One instance in a pool, with the passive-health statistics the pool keeps for it. */
export interface PoolMember {
  /** The latest record (replaced in place on updates; the statistics stay). */
  instance: Instance;
  /** Requests started and not yet done. */
  outstanding: number;
  /** Exponentially weighted moving average of reported latency (0 until the first report). */
  ewmaMs: number;
  /** Ejected until this time (the pool clock, ms); 0 when never ejected. */
  ejectedUntil: number;
  consecutiveFailures: number;
  /** Ejections so far (the back-off exponent); reset after a long healthy spell. */
  ejections: number;
}

export function newMember(instance: Instance): PoolMember {
  return {
    instance,
    outstanding: 0,
    ewmaMs: 0,
    ejectedUntil: 0,
    consecutiveFailures: 0,
    ejections: 0,
  };
}

/**
 * Picks one member. A pool calls `rebuild` whenever its candidates change and then passes that
 * same array to `pick`; strategies with precomputed tables rebuild them only then (and, when
 * used directly, whenever `pick` is given a different array). One strategy object per pool.
 */
export interface Strategy {
  readonly name: string;
  /** A member, or undefined when `members` is empty. `key` is used by hashing strategies. */
  pick(members: readonly PoolMember[], key?: string): PoolMember | undefined;
  /**
   * The candidates changed. `all` is every member of the pool, ejected ones included (for
   * strategies that judge health shares, such as zone preference); it defaults to `members`.
   */
  rebuild?(members: readonly PoolMember[], all?: readonly PoolMember[]): void;
}

/** A source of uniform numbers in [0, 1). */
export type RandomSource = () => number;
