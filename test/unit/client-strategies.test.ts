import t from 'tap';
import {
  LeastOutstandingStrategy,
  RandomStrategy,
  RoundRobinStrategy,
  STRATEGY_NAMES,
  strategyByName,
  WeightedStrategy,
  ZoneAwareStrategy,
} from '../../client/strategies/index.js';
import type { PoolMember } from '../../client/strategies/types.js';
import { expectRosterError } from '../helpers/expect-error.js';
import { members, seeded, tally } from '../helpers/synthetic-instances.js';

const PICKS = 100_000;

function run(pick: () => PoolMember | undefined, n = PICKS): Map<string, number> {
  const out: (PoolMember | undefined)[] = [];
  for (let i = 0; i < n; i++) out.push(pick());
  return tally(out);
}

t.test(
  'every strategy by name; empty candidates give undefined; unknown name is typed',
  async (t) => {
    for (const name of STRATEGY_NAMES) {
      const s = strategyByName(name, { zone: 'z1' });
      t.equal(s.name, name);
      t.equal(s.pick([], 'k'), undefined, `${name}: empty → undefined`);
      const one = members(1);
      t.equal(s.pick(one, 'k'), one[0], `${name}: single member`);
    }
    expectRosterError(
      t,
      () => strategyByName('fastest'),
      'ROSTER_ERR_INVALID_ARGUMENT',
      'strategy',
    );
    expectRosterError(t, () => strategyByName('zone-aware'), 'ROSTER_ERR_INVALID_ARGUMENT', 'zone');
    expectRosterError(
      t,
      () => strategyByName('maglev', { tableSize: 65_536 }),
      'ROSTER_ERR_INVALID_ARGUMENT',
    );
    expectRosterError(
      t,
      () => strategyByName('consistent-hash', { vnodes: 0 }),
      'ROSTER_ERR_INVALID_ARGUMENT',
    );
    expectRosterError(
      t,
      () => strategyByName('zone-aware', { zone: 'z1', inner: 'zone-aware' }),
      'ROSTER_ERR_INVALID_ARGUMENT',
    );
  },
);

t.test('random is roughly uniform (chi-square, 9 df)', async (t) => {
  for (const [label, rng, bound] of [
    ['seeded', seeded(42), 27.88], // p = 0.001
    ['Math.random', Math.random, 45], // p < 1e-6
  ] as const) {
    const ms = members(10);
    const s = new RandomStrategy(rng);
    const counts = run(() => s.pick(ms));
    const expected = PICKS / 10;
    let chi2 = 0;
    for (const m of ms) chi2 += ((counts.get(m.instance.id) ?? 0) - expected) ** 2 / expected;
    t.ok(chi2 < bound, `${label}: chi2 ${chi2.toFixed(2)} < ${bound}`);
  }
});

t.test('round-robin is exactly fair and cycles in order', async (t) => {
  const ms = members(10);
  const s = new RoundRobinStrategy();
  const counts = run(() => s.pick(ms));
  for (const m of ms) t.equal(counts.get(m.instance.id), PICKS / 10);
  t.same(
    Array.from({ length: 12 }, () => s.pick(ms)?.instance.id),
    ['i0', 'i1', 'i2', 'i3', 'i4', 'i5', 'i6', 'i7', 'i8', 'i9', 'i0', 'i1'],
  );
  t.equal(s.pick(ms.slice(0, 3))?.instance.id, 'i2', 'a shrunk set keeps going');
});

t.test('smooth weighted round-robin: shares within 2% of weights, interleaved', async (t) => {
  const weights = [1, 2, 3, 5, 10, 50, 100, 0, 7, 10_000];
  const ms = members(weights.length, (i) => ({ weight: weights[i]! }));
  const s = new WeightedStrategy();
  const counts = run(() => s.pick(ms));
  const total = weights.reduce((a, b) => a + b, 0);
  for (const [i, w] of weights.entries()) {
    const got = counts.get(`i${i}`) ?? 0;
    const want = (PICKS * w) / total;
    t.ok(
      Math.abs(got - want) <= Math.max(0.02 * want, 1),
      `weight ${w}: ${got} ≈ ${want.toFixed(1)}`,
    );
  }
  t.equal(counts.get('i7'), undefined, 'weight 0 is never picked');

  // nginx's example: weights a=5, b=1, c=1 → a a b a c a a
  const abc = members(3, (i) => ({ weight: [5, 1, 1][i]! }));
  const w2 = new WeightedStrategy();
  t.same(
    Array.from({ length: 7 }, () => w2.pick(abc)?.instance.id),
    ['i0', 'i0', 'i1', 'i0', 'i2', 'i0', 'i0'],
  );

  // The precomputed schedule and the per-pick step give the same sequence.
  const rng = seeded(3);
  const big = members(50, () => ({ weight: 1 + Math.floor(rng() * 300) }));
  const scheduled = new WeightedStrategy();
  const stepped = new WeightedStrategy(0);
  let same = true;
  for (let i = 0; i < 50_000 && same; i++) same = scheduled.pick(big) === stepped.pick(big);
  t.ok(same, 'schedule ≡ step');

  // Weights too large for a schedule (period > 65536) still get their shares.
  const heavy = members(20, (i) => ({ weight: 9_000 + i * 37 }));
  const hw = new WeightedStrategy();
  const hc = run(() => hw.pick(heavy));
  const htotal = heavy.reduce((a, m) => a + m.instance.weight, 0);
  for (const m of heavy) {
    const want = (PICKS * m.instance.weight) / htotal;
    const got = hc.get(m.instance.id) ?? 0;
    t.ok(
      Math.abs(got - want) <= 0.02 * want,
      `heavy weight ${m.instance.weight}: ${got} ≈ ${want.toFixed(0)}`,
    );
  }

  const zeros = members(4, () => ({ weight: 0 }));
  const w3 = new WeightedStrategy();
  const zc = run(() => w3.pick(zeros), 400);
  t.same([...zc.values()], [100, 100, 100, 100], 'all weights 0: equal shares');
});

t.test('least-outstanding prefers the less loaded (power of two choices)', async (t) => {
  const ms = members(10, (i) => ({ weight: i }));
  ms.forEach((m, i) => {
    m.outstanding = i;
  });
  const s = new LeastOutstandingStrategy(seeded(7));
  const counts = run(() => s.pick(ms));
  const c = ms.map((m) => counts.get(m.instance.id) ?? 0);
  for (let i = 1; i < 9; i++) t.ok(c[i - 1]! > c[i]!, `load ${i - 1} picked more than load ${i}`);
  t.equal(c[9], 0, 'the most loaded is never picked');
  t.ok(Math.abs(c[0]! - PICKS * 0.2) < PICKS * 0.01, `least loaded wins whenever drawn: ${c[0]}`);

  // Tie on outstanding: lower latency EWMA wins.
  const pair = members(2);
  pair[0]!.ewmaMs = 50;
  pair[1]!.ewmaMs = 5;
  const tie = run(() => s.pick(pair), 1000);
  t.equal(tie.get('i1'), 1000);

  // A slow member (requests complete 20× slower) gets far less than its 1/5 share.
  const five = members(5);
  const lo = new LeastOutstandingStrategy(seeded(9));
  const got = new Map<string, number>();
  for (let tick = 0; tick < PICKS; tick++) {
    const m = lo.pick(five)!;
    m.outstanding++;
    got.set(m.instance.id, (got.get(m.instance.id) ?? 0) + 1);
    for (const [i, x] of five.entries()) {
      if (x.outstanding > 0 && (i !== 0 || tick % 20 === 0)) x.outstanding--;
    }
  }
  t.ok((got.get('i0') ?? 0) < PICKS * 0.1, `slow member got ${got.get('i0')} of ${PICKS}`);
});

t.test(
  'zone-aware prefers the local zone and falls back below the healthy threshold',
  async (t) => {
    const all = members(10, (i) => ({ zone: i < 5 ? 'z1' : 'z2' }));
    const s = new ZoneAwareStrategy(new RoundRobinStrategy(), 'z1', 70);
    s.rebuild(all, all);
    let counts = run(() => s.pick(all), 10_000);
    t.same([...counts.keys()].sort(), ['i0', 'i1', 'i2', 'i3', 'i4'], 'all healthy: local only');
    t.ok(s.preferringLocal);

    // 1 of 5 local ejected: 80% ≥ 70% → still local.
    const healthy80 = all.filter((m) => m.instance.id !== 'i0');
    s.rebuild(healthy80, all);
    counts = run(() => s.pick(healthy80), 10_000);
    t.same([...counts.keys()].sort(), ['i1', 'i2', 'i3', 'i4']);

    // 2 of 5 local ejected: 60% < 70% → every healthy member, both zones.
    const healthy60 = all.filter((m) => m.instance.id !== 'i0' && m.instance.id !== 'i1');
    s.rebuild(healthy60, all);
    counts = run(() => s.pick(healthy60), 8000);
    t.notOk(s.preferringLocal);
    t.equal(counts.size, 8);
    for (const v of counts.values()) t.equal(v, 1000);

    // No member in the local zone at all → everyone.
    const remote = all.slice(5);
    const s2 = new ZoneAwareStrategy(new RoundRobinStrategy(), 'z9');
    t.equal(run(() => s2.pick(remote), 500).size, 5);
  },
);
