/** Synthetic instances, pool members and a seeded PRNG for pure client-logic tests. */
import { newMember, type PoolMember } from '../../client/strategies/types.js';
import type { Instance } from '../../protocol/index.js';

export function instance(id: string, patch: Partial<Instance> = {}): Instance {
  return {
    id,
    service: 'api',
    host: '127.0.0.1',
    port: 8000,
    tags: [],
    meta: {},
    weight: 1,
    status: 'passing',
    sessionId: 's1',
    ownerNode: 'n1',
    registeredAt: 0,
    hlc: 1,
    ...patch,
  };
}

/** `n` members `i0…i{n-1}`, each patched by `patch(index)`. */
export function members(
  n: number,
  patch: (i: number) => Partial<Instance> = () => ({}),
): PoolMember[] {
  return Array.from({ length: n }, (_, i) => newMember(instance(`i${i}`, patch(i))));
}

/** mulberry32: a small deterministic PRNG in [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Pick counts by instance id. */
export function tally(picks: Iterable<PoolMember | undefined>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const p of picks) {
    const id = p?.instance.id ?? '(none)';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}
