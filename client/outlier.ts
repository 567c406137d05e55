/**
 * Passive health (outlier detection, as in Envoy): reported outcomes update each member's
 * latency EWMA and failure count; `consecutiveFailures` failures in a row eject the member for
 * `baseEjectionMs × 2^(k-1)` (k = its ejection count, capped at `maxEjectionMs`), as long as no
 * more than `maxEjectedPercent` of the pool is ejected at once (at least one member may always
 * be). Candidate selection applies a panic threshold: when fewer than `panicThreshold` percent
 * of members are healthy, ejections are ignored and all members are candidates, so ejections
 * never empty a pool.
 *
 * Time comes from an injectable monotonic clock in milliseconds.
 */
import { performance } from 'node:perf_hooks';
import { RosterError } from '../protocol/index.js';
import type { PoolMember } from './strategies/types.js';

export interface OutlierOptions {
  /** Failures in a row that eject a member (default 5; 0 disables ejection). */
  readonly consecutiveFailures?: number;
  /** First ejection length (default 1000 ms); doubles with each repeated ejection. */
  readonly baseEjectionMs?: number;
  /** Longest ejection (default 60000 ms). */
  readonly maxEjectionMs?: number;
  /** Most members ejected at once, as a percentage of the pool (default 50). */
  readonly maxEjectedPercent?: number;
  /** Below this percentage of healthy members, ejections are ignored (default 50; 0 = never). */
  readonly panicThreshold?: number;
  /** Weight of a new latency sample in the EWMA (default 0.3). */
  readonly ewmaAlpha?: number;
  /** Monotonic clock in ms (default `performance.now`). */
  readonly now?: () => number;
}

export interface Outcome {
  readonly ok: boolean;
  readonly latencyMs?: number;
}

export interface Selection {
  /** Members to pick from: the healthy ones, or all of them in panic. */
  readonly candidates: PoolMember[];
  readonly healthy: number;
  readonly panic: boolean;
  /** When the earliest current ejection ends (Infinity when none). */
  readonly nextExpiry: number;
}

function checked(
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
  path: string,
): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !(v >= min && v <= max)) {
    throw new RosterError('ROSTER_ERR_INVALID_ARGUMENT', `${path} must be within ${min}..${max}`, {
      path,
    });
  }
  return v;
}

export class OutlierDetector {
  readonly consecutiveFailures: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  readonly maxEjectedPercent: number;
  readonly panicThreshold: number;
  readonly ewmaAlpha: number;
  readonly now: () => number;

  /** `population` yields every member of the pool (for the ejected-share limit). */
  constructor(
    private readonly population: () => Iterable<PoolMember>,
    options: OutlierOptions = {},
  ) {
    this.consecutiveFailures = checked(
      options.consecutiveFailures,
      5,
      0,
      1_000_000,
      'outlier.consecutiveFailures',
    );
    this.baseEjectionMs = checked(
      options.baseEjectionMs,
      1000,
      0,
      86_400_000,
      'outlier.baseEjectionMs',
    );
    this.maxEjectionMs = checked(
      options.maxEjectionMs,
      60_000,
      0,
      86_400_000,
      'outlier.maxEjectionMs',
    );
    this.maxEjectedPercent = checked(
      options.maxEjectedPercent,
      50,
      0,
      100,
      'outlier.maxEjectedPercent',
    );
    this.panicThreshold = checked(options.panicThreshold, 50, 0, 100, 'panicThreshold');
    this.ewmaAlpha = checked(options.ewmaAlpha, 0.3, 0, 1, 'outlier.ewmaAlpha');
    this.now = options.now ?? (() => performance.now());
  }

  isEjected(member: PoolMember, now: number = this.now()): boolean {
    return member.ejectedUntil > now;
  }

  /**
   * Records one outcome. Returns true when the member was ejected by it (the pool's candidates
   * changed).
   */
  report(member: PoolMember, outcome: Outcome): boolean {
    const latency = outcome.latencyMs;
    if (latency !== undefined && Number.isFinite(latency) && latency >= 0) {
      member.ewmaMs =
        member.ewmaMs === 0 ? latency : member.ewmaMs + this.ewmaAlpha * (latency - member.ewmaMs);
    }
    if (outcome.ok) {
      member.consecutiveFailures = 0;
      // A long healthy spell after the last ejection forgives earlier ones (the clock is read
      // only then: a success with no ejection behind it is the common case).
      if (member.ejections > 0 && this.now() - member.ejectedUntil >= this.maxEjectionMs) {
        member.ejections = 0;
      }
      return false;
    }
    const now = this.now();
    if (this.isEjected(member, now)) return false;
    member.consecutiveFailures++;
    if (this.consecutiveFailures === 0 || member.consecutiveFailures < this.consecutiveFailures) {
      return false;
    }
    if (!this.mayEject(now)) return false;
    member.ejections++;
    member.consecutiveFailures = 0;
    member.ejectedUntil = now + this.ejectionMs(member.ejections);
    return true;
  }

  /** Length of the k-th ejection. */
  ejectionMs(k: number): number {
    return Math.min(this.maxEjectionMs, this.baseEjectionMs * 2 ** Math.max(0, k - 1));
  }

  /** The candidates among `members` now: healthy ones, or all of them below the panic threshold. */
  select(members: readonly PoolMember[], now: number = this.now()): Selection {
    const healthy: PoolMember[] = [];
    let nextExpiry = Number.POSITIVE_INFINITY;
    for (const m of members) {
      if (m.ejectedUntil > now) nextExpiry = Math.min(nextExpiry, m.ejectedUntil);
      else healthy.push(m);
    }
    const panic = members.length > 0 && healthy.length * 100 < this.panicThreshold * members.length;
    return {
      candidates: panic ? [...members] : healthy,
      healthy: healthy.length,
      panic,
      nextExpiry,
    };
  }

  private mayEject(now: number): boolean {
    let total = 0;
    let ejected = 0;
    for (const m of this.population()) {
      total++;
      if (m.ejectedUntil > now) ejected++;
    }
    if (this.maxEjectedPercent === 0) return false;
    const limit = Math.max(1, Math.floor((total * this.maxEjectedPercent) / 100));
    return ejected + 1 <= limit;
  }
}
