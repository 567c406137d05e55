/**
 * Least outstanding requests by the power of two choices: two distinct random candidates, the
 * one with fewer requests in flight wins; a tie goes to the lower latency EWMA. Nearly as good
 * as scanning for the global minimum, in O(1), and without the herd a global minimum causes
 * when several balancers share stale load figures.
 */
import type { PoolMember, RandomSource, Strategy } from './types.js';

export class LeastOutstandingStrategy implements Strategy {
  readonly name = 'least-outstanding';

  constructor(private readonly random: RandomSource = Math.random) {}

  pick(members: readonly PoolMember[]): PoolMember | undefined {
    const n = members.length;
    if (n <= 1) return members[0];
    const i = Math.floor(this.random() * n);
    let j = Math.floor(this.random() * (n - 1));
    if (j >= i) j++;
    const a = members[i]!;
    const b = members[j]!;
    if (a.outstanding !== b.outstanding) return a.outstanding < b.outstanding ? a : b;
    return b.ewmaMs < a.ewmaMs ? b : a;
  }
}
