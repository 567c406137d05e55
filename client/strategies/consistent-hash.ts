/**
 * Consistent hashing on a ring with virtual nodes: every member owns `vnodes` points placed
 * by hashing its instance id, a key goes to the owner of the first point at or after the key's
 * hash. Points depend only on ids, so when a member leaves only the keys it owned move (about
 * 1/n of them), and when one joins it takes about 1/(n+1) from the others.
 *
 * The ring is rebuilt only when the candidates change (each member's points are cached by id);
 * a pick is one hash of the key and a binary search inside one of 65536 buckets of the hash
 * space (usually zero or one point), without allocation. Without a key a
 * pick is a uniform random choice.
 */
import { RosterError } from '../../protocol/index.js';
import { hash32 } from './hash.js';
import type { PoolMember, RandomSource, Strategy } from './types.js';

export const DEFAULT_VNODES = 160;
const MAX_VNODES = 4096;
/** Members are ranked in the low bits of a sort key (point × 2^21 + rank). */
const RANK_BITS = 2 ** 21;
const BUCKETS = 65_536;

export class ConsistentHashStrategy implements Strategy {
  readonly name = 'consistent-hash';
  private built: readonly PoolMember[] | undefined;
  private points = new Uint32Array(0);
  private owners = new Int32Array(0);
  /** For each top-16-bit bucket of the hash space, the first point at or above it. */
  private buckets = new Uint32Array(BUCKETS + 1);
  private readonly cache = new Map<string, Uint32Array>();

  constructor(
    readonly vnodes: number = DEFAULT_VNODES,
    private readonly random: RandomSource = Math.random,
  ) {
    if (!Number.isInteger(vnodes) || vnodes < 1 || vnodes > MAX_VNODES) {
      throw new RosterError(
        'ROSTER_ERR_INVALID_ARGUMENT',
        `vnodes must be an integer within 1..${MAX_VNODES}`,
        { path: 'vnodes' },
      );
    }
  }

  rebuild(members: readonly PoolMember[]): void {
    const n = members.length;
    if (n >= RANK_BITS) {
      throw new RosterError('ROSTER_ERR_INVALID_ARGUMENT', `too many members for a ring: ${n}`);
    }
    // Ties between equal points go to the lower id, whatever the members' order.
    const byId = members.map((_, i) => i).sort((a, b) => compareIds(members[a]!, members[b]!));
    const keys = new Float64Array(n * this.vnodes);
    const live = new Set<string>();
    let k = 0;
    for (let rank = 0; rank < n; rank++) {
      const id = members[byId[rank]!]!.instance.id;
      live.add(id);
      for (const p of this.pointsOf(id)) keys[k++] = p * RANK_BITS + rank;
    }
    for (const id of this.cache.keys()) if (!live.has(id)) this.cache.delete(id);
    keys.sort();
    this.points = new Uint32Array(keys.length);
    this.owners = new Int32Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const rank = key % RANK_BITS;
      this.points[i] = (key - rank) / RANK_BITS;
      this.owners[i] = byId[rank]!;
    }
    const buckets = this.buckets;
    let p = 0;
    for (let b = 0; b < BUCKETS; b++) {
      while (p < this.points.length && this.points[p]! >>> 16 < b) p++;
      buckets[b] = p;
    }
    buckets[BUCKETS] = this.points.length;
    this.built = members;
  }

  pick(members: readonly PoolMember[], key?: string): PoolMember | undefined {
    if (members !== this.built) this.rebuild(members);
    const n = members.length;
    if (n === 0) return undefined;
    if (key === undefined) return members[Math.floor(this.random() * n)];
    const h = hash32(key);
    const points = this.points;
    const b = h >>> 16;
    let lo = this.buckets[b]!;
    let hi = this.buckets[b + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return members[this.owners[lo === points.length ? 0 : lo]!];
  }

  private pointsOf(id: string): Uint32Array {
    let pts = this.cache.get(id);
    if (pts === undefined) {
      pts = new Uint32Array(this.vnodes);
      for (let v = 0; v < this.vnodes; v++) pts[v] = hash32(`${id}#${v}`);
      this.cache.set(id, pts);
    }
    return pts;
  }
}

function compareIds(a: PoolMember, b: PoolMember): number {
  const x = a.instance.id;
  const y = b.instance.id;
  return x < y ? -1 : x > y ? 1 : 0;
}
