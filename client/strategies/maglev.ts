/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016): each member walks its own
 * permutation of a prime-sized lookup table (offset and skip from two hashes of its id) and
 * members take turns claiming their next free slot until the table is full. A pick is one hash
 * and one array read. Every member gets an almost equal share of slots; when one leaves, its
 * slots are reassigned and only a small extra fraction of other slots change owner.
 *
 * The table is rebuilt only when the candidates change. Without a key a pick is a uniform
 * random choice.
 */
import { RosterError } from '../../protocol/index.js';
import { hash32 } from './hash.js';
import type { PoolMember, RandomSource, Strategy } from './types.js';

export const DEFAULT_TABLE_SIZE = 65_537;
const MAX_TABLE_SIZE = 4_194_301;
const SEED_OFFSET = 0x9e3779b9;
const SEED_SKIP = 0x7f4a7c15;

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

export class MaglevStrategy implements Strategy {
  readonly name = 'maglev';
  private built: readonly PoolMember[] | undefined;
  private readonly table: Int32Array;

  constructor(
    readonly tableSize: number = DEFAULT_TABLE_SIZE,
    private readonly random: RandomSource = Math.random,
  ) {
    if (!isPrime(tableSize) || tableSize < 3 || tableSize > MAX_TABLE_SIZE) {
      throw new RosterError(
        'ROSTER_ERR_INVALID_ARGUMENT',
        `tableSize must be a prime within 3..${MAX_TABLE_SIZE}`,
        { path: 'tableSize' },
      );
    }
    this.table = new Int32Array(tableSize);
  }

  rebuild(members: readonly PoolMember[]): void {
    const m = this.tableSize;
    const n = members.length;
    const table = this.table;
    table.fill(-1);
    this.built = members;
    if (n === 0) return;
    // Turn order by id, so the table does not depend on the order members arrived in.
    const order = members
      .map((_, i) => i)
      .sort((a, b) => {
        const x = members[a]!.instance.id;
        const y = members[b]!.instance.id;
        return x < y ? -1 : x > y ? 1 : 0;
      });
    const pos = new Float64Array(n);
    const skip = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      const id = members[order[r]!]!.instance.id;
      pos[r] = hash32(id, SEED_OFFSET) % m;
      skip[r] = (hash32(id, SEED_SKIP) % (m - 1)) + 1;
    }
    let filled = 0;
    for (;;) {
      for (let r = 0; r < n; r++) {
        let c = pos[r]!;
        const s = skip[r]!;
        while (table[c]! >= 0) {
          c += s;
          if (c >= m) c -= m;
        }
        table[c] = order[r]!;
        c += s;
        pos[r] = c >= m ? c - m : c;
        if (++filled === m) return;
      }
    }
  }

  pick(members: readonly PoolMember[], key?: string): PoolMember | undefined {
    if (members !== this.built) this.rebuild(members);
    const n = members.length;
    if (n === 0) return undefined;
    if (key === undefined) return members[Math.floor(this.random() * n)];
    return members[this.table[hash32(key) % this.tableSize]!];
  }
}
