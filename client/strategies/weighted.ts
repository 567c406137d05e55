/**
 * Smooth weighted round-robin (nginx): on each pick every candidate's current weight grows by
 * its weight, the largest is chosen and loses the total. Over any window of `sum(weights)`
 * picks each candidate is chosen exactly its weight's times, interleaved rather than in runs.
 * Weight 0 is never chosen, unless every weight is 0 (then all count as equal).
 *
 * The sequence is periodic (period `sum(weights) / gcd`), so when the period is short enough
 * it is computed once per change of candidates and a pick is one array read; otherwise each
 * pick runs the O(n) step.
 */
import type { PoolMember, Strategy } from './types.js';

/** Longest precomputed period, and most work (period × candidates) spent computing one. */
export const MAX_SCHEDULE_LENGTH = 65_536;
const MAX_SCHEDULE_WORK = 8_000_000;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

export class WeightedStrategy implements Strategy {
  readonly name = 'weighted';
  private built: readonly PoolMember[] | undefined;
  private weights = new Float64Array(0);
  private current = new Float64Array(0);
  private total = 0;
  private schedule: Int32Array | undefined;
  private position = 0;

  constructor(private readonly maxScheduleLength: number = MAX_SCHEDULE_LENGTH) {}

  rebuild(members: readonly PoolMember[]): void {
    const n = members.length;
    this.weights = new Float64Array(n);
    this.current = new Float64Array(n);
    let total = 0;
    let divisor = 0;
    for (let i = 0; i < n; i++) {
      const w = Math.max(0, Math.floor(members[i]!.instance.weight));
      this.weights[i] = w;
      total += w;
      divisor = gcd(divisor, w);
    }
    if (total === 0) {
      this.weights.fill(1);
      total = n;
      divisor = 1;
    }
    this.total = total;
    this.built = members;
    this.schedule = undefined;
    this.position = 0;
    if (n === 0) return;
    const period = total / divisor;
    if (period <= this.maxScheduleLength && period * n <= MAX_SCHEDULE_WORK) {
      const schedule = new Int32Array(period);
      for (let k = 0; k < period; k++) schedule[k] = this.step(n);
      this.schedule = schedule;
    }
  }

  pick(members: readonly PoolMember[]): PoolMember | undefined {
    if (members !== this.built) this.rebuild(members);
    const n = members.length;
    if (n === 0) return undefined;
    const schedule = this.schedule;
    if (schedule === undefined) return members[this.step(n)];
    const i = schedule[this.position]!;
    this.position = this.position + 1 === schedule.length ? 0 : this.position + 1;
    return members[i];
  }

  /** One smooth weighted round-robin step: the chosen index. */
  private step(n: number): number {
    const weights = this.weights;
    const current = this.current;
    let best = 0;
    let bestValue = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const c = current[i]! + weights[i]!;
      current[i] = c;
      if (c > bestValue) {
        bestValue = c;
        best = i;
      }
    }
    current[best] = bestValue - this.total;
    return best;
  }
}
