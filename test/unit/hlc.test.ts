import fc from 'fast-check';
import t from 'tap';
import {
  compareVersions,
  HybridLogicalClock,
  hlcLogical,
  hlcPack,
  hlcWall,
} from '../../protocol/index.js';
import { expectRosterError } from '../helpers/expect-error.js';

t.test(
  'tick is strictly monotonic even when the wall clock stands still or goes back',
  async (t) => {
    let now = 1_000_000;
    const clock = new HybridLogicalClock({ now: () => now });
    const a = clock.tick();
    const b = clock.tick();
    now -= 500; // clock jumps backwards
    const c = clock.tick();
    t.ok(a < b && b < c);
    t.equal(hlcWall(a), 1_000_000);
    t.equal(hlcLogical(b), 1);
    now += 10_000;
    t.equal(
      clock.tick(),
      hlcPack(now, 0),
      'physical time takes over once it passes the last stamp',
    );
  },
);

t.test('observe moves past remote stamps and refuses ones too far ahead', async (t) => {
  const now = 5_000_000;
  const clock = new HybridLogicalClock({ now: () => now, maxDriftMs: 1000 });
  const remote = hlcPack(now + 500, 7);
  t.ok(clock.observe(remote) > remote);
  t.ok(clock.tick() > remote);
  expectRosterError(t, () => clock.observe(hlcPack(now + 5000, 0)), 'ROSTER_ERR_INVALID_ARGUMENT');
  expectRosterError(t, () => clock.observe(-1), 'ROSTER_ERR_INVALID_ARGUMENT');
  expectRosterError(t, () => clock.observe(1.5), 'ROSTER_ERR_INVALID_ARGUMENT');
});

t.test('counter overflow carries into the wall part and stays monotonic', async (t) => {
  const clock = new HybridLogicalClock({ now: () => 42 });
  let prev = clock.tick();
  for (let i = 0; i < 3000; i++) {
    const next = clock.tick();
    if (next <= prev) t.fail('not monotonic');
    prev = next;
  }
  t.ok(hlcWall(prev) > 42, 'wall part advanced after 1024 ticks in one ms');
});

t.test('property: any interleaving of ticks and observes is strictly increasing', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constant<'tick'>('tick'), fc.integer({ min: 0, max: 2_000 })), {
        maxLength: 200,
      }),
      fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 200 }),
      (ops, jitter) => {
        let now = 10_000;
        const clock = new HybridLogicalClock({ now: () => now, maxDriftMs: 10_000 });
        let last = -1;
        ops.forEach((op, i) => {
          now = Math.max(0, now + (jitter[i % jitter.length] ?? 0));
          const s = op === 'tick' ? clock.tick() : clock.observe(hlcPack(now + op, op % 1024));
          if (s <= last) throw new Error('stamp went backwards');
          last = s;
        });
      },
    ),
  );
  t.pass('monotonic under random schedules');
});

t.test('compareVersions orders by stamp then node id', async (t) => {
  t.equal(compareVersions(1, 'b', 2, 'a'), -1);
  t.equal(compareVersions(2, 'a', 2, 'b'), -1);
  t.equal(compareVersions(2, 'b', 2, 'b'), 0);
  t.equal(compareVersions(3, 'a', 2, 'z'), 1);
});
