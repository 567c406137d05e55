import t from 'tap';
import { ConsistentHashStrategy } from '../../client/strategies/consistent-hash.js';
import { MaglevStrategy } from '../../client/strategies/maglev.js';
import type { PoolMember, Strategy } from '../../client/strategies/types.js';
import { members } from '../helpers/synthetic-instances.js';

const N = 10;
const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

function assign(s: Strategy, ms: readonly PoolMember[]): string[] {
  s.rebuild?.(ms);
  return KEYS.map((k) => s.pick(ms, k)!.instance.id);
}

for (const [label, make, extraSlack] of [
  ['consistent-hash (ring)', () => new ConsistentHashStrategy(), 0],
  ['maglev', () => new MaglevStrategy(), 0.01],
] as const) {
  t.test(`${label}: same key → same member, whatever the order of members`, async (t) => {
    const ms = members(N);
    const a = assign(make(), ms);
    const b = assign(make(), [...ms].reverse());
    t.same(b, a, 'another instance of the strategy, members reversed: same assignment');
    const s = make();
    const once = assign(s, ms);
    t.same(assign(s, ms), once, 'repeated picks agree');
    const counts = new Map<string, number>();
    for (const id of a) counts.set(id, (counts.get(id) ?? 0) + 1);
    t.equal(counts.size, N, 'every member gets keys');
    for (const [id, c] of counts) t.ok(c > 600 && c < 1400, `${id} holds ${c} of 10000 keys`);
  });

  t.test(`${label}: one of ${N} leaving moves about 1/n of keys`, async (t) => {
    const ms = members(N);
    const s = make();
    const before = assign(s, ms);
    for (const leaving of ['i0', 'i3', 'i9']) {
      const after = assign(
        s,
        ms.filter((m) => m.instance.id !== leaving),
      );
      let moved = 0;
      let movedElsewhere = 0;
      let owned = 0;
      for (let i = 0; i < KEYS.length; i++) {
        if (before[i] === leaving) owned++;
        if (before[i] !== after[i]) {
          moved++;
          if (before[i] !== leaving) movedElsewhere++;
        }
      }
      const bound = KEYS.length * (1 / N + 0.03 + extraSlack);
      t.ok(moved <= bound, `${leaving} left: ${moved} keys moved (owned ${owned}) ≤ ${bound}`);
      if (extraSlack === 0) {
        t.equal(movedElsewhere, 0, 'only keys of the leaving member move');
      } else {
        t.ok(movedElsewhere <= KEYS.length * extraSlack, `extra disruption ${movedElsewhere}`);
      }
      t.equal(owned, moved - movedElsewhere, 'every key of the leaving member moved');
    }
    // It comes back: the assignment is restored exactly.
    t.same(assign(s, ms), before, 'rejoining restores the assignment');
  });
}

t.test('maglev table shares are near-equal', async (t) => {
  const ms = members(N);
  const s = new MaglevStrategy(65_537);
  s.rebuild(ms);
  const counts = new Map<string, number>();
  for (let h = 0; h < 65_537 * 4; h++) {
    const id = s.pick(ms, `k${h}`)!.instance.id;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const values = [...counts.values()];
  t.ok(Math.max(...values) / Math.min(...values) < 1.1, `max/min ${values.join(',')}`);
});

t.test('keyless picks of hashing strategies still spread', async (t) => {
  const ms = members(4);
  for (const s of [new ConsistentHashStrategy(), new MaglevStrategy()]) {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(s.pick(ms)!.instance.id);
    t.equal(seen.size, 4, s.name);
  }
});
