/** Uniform random choice. */
import type { PoolMember, RandomSource, Strategy } from './types.js';

export class RandomStrategy implements Strategy {
  readonly name = 'random';

  constructor(private readonly random: RandomSource = Math.random) {}

  pick(members: readonly PoolMember[]): PoolMember | undefined {
    const n = members.length;
    if (n === 0) return undefined;
    return members[Math.floor(this.random() * n)];
  }
}
