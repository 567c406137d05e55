/** Round-robin: each candidate in turn. */
import type { PoolMember, Strategy } from './types.js';

export class RoundRobinStrategy implements Strategy {
  readonly name = 'round-robin';
  private next = 0;

  pick(members: readonly PoolMember[]): PoolMember | undefined {
    const n = members.length;
    if (n === 0) return undefined;
    if (this.next >= n) this.next = 0;
    return members[this.next++];
  }
}
