import t from 'tap';
import { OutlierDetector } from '../../client/outlier.js';
import type { PoolMember } from '../../client/strategies/types.js';
import { expectRosterError } from '../helpers/expect-error.js';
import { members } from '../helpers/synthetic-instances.js';

function setup(n: number, options: ConstructorParameters<typeof OutlierDetector>[1] = {}) {
  const clock = { now: 10_000 };
  const ms = members(n);
  const d = new OutlierDetector(() => ms, { now: () => clock.now, ...options });
  const fail = (m: PoolMember, times: number) => {
    let ejected = false;
    for (let i = 0; i < times; i++) ejected = d.report(m, { ok: false }) || ejected;
    return ejected;
  };
  return { clock, ms, d, fail };
}

t.test('EWMA latency and failure counting', async (t) => {
  const { ms, d } = setup(2, { ewmaAlpha: 0.5 });
  const m = ms[0]!;
  d.report(m, { ok: true, latencyMs: 100 });
  t.equal(m.ewmaMs, 100, 'first sample sets the average');
  d.report(m, { ok: true, latencyMs: 200 });
  t.equal(m.ewmaMs, 150);
  d.report(m, { ok: false, latencyMs: Number.NaN });
  t.equal(m.ewmaMs, 150, 'a bad sample is ignored');
  t.equal(m.consecutiveFailures, 1);
  d.report(m, { ok: true });
  t.equal(m.consecutiveFailures, 0, 'a success resets the run');
});

t.test('N consecutive failures eject with doubling back-off, capped', async (t) => {
  const { clock, ms, d, fail } = setup(10);
  const m = ms[0]!;
  t.notOk(fail(m, 4), '4 failures: not yet');
  t.notOk(d.isEjected(m));
  t.ok(fail(m, 1), '5th failure ejects');
  t.equal(m.ejectedUntil, clock.now + 1000, 'first ejection: 1 s');
  t.notOk(fail(m, 10), 'failures while ejected neither extend nor count');
  clock.now += 1000;
  t.notOk(d.isEjected(m), 'back after 1 s');
  const lengths: number[] = [];
  for (let k = 2; k <= 9; k++) {
    fail(m, 5);
    lengths.push(m.ejectedUntil - clock.now);
    clock.now = m.ejectedUntil;
  }
  t.same(
    lengths,
    [2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000],
    '×2 per ejection, capped at 60 s',
  );
  t.equal(m.ejections, 9);
  // A long healthy spell forgives earlier ejections.
  clock.now += 60_000;
  d.report(m, { ok: true });
  t.equal(m.ejections, 0);
  fail(m, 5);
  t.equal(m.ejectedUntil - clock.now, 1000, 'back to the base ejection');
});

t.test('at most maxEjectedPercent are ejected at once (at least one)', async (t) => {
  const { ms, fail } = setup(10, { maxEjectedPercent: 20 });
  const ejected = ms.filter((m) => fail(m, 5)).length;
  t.equal(ejected, 2, '20% of 10');
  const small = setup(2, { maxEjectedPercent: 10 });
  t.equal(small.ms.filter((m) => small.fail(m, 5)).length, 1, 'one may always be ejected');
  const none = setup(3, { maxEjectedPercent: 0 });
  t.equal(none.ms.filter((m) => none.fail(m, 5)).length, 0, '0% disables ejection');
});

t.test('panic threshold: below 50% healthy, ejections are ignored', async (t) => {
  const { clock, ms, d, fail } = setup(10, { maxEjectedPercent: 100 });
  for (const m of ms.slice(0, 5)) fail(m, 5);
  let sel = d.select(ms);
  t.equal(sel.healthy, 5);
  t.notOk(sel.panic, 'exactly 50% healthy: no panic');
  t.equal(sel.candidates.length, 5, 'ejected members are not candidates');
  t.equal(sel.nextExpiry, clock.now + 1000);
  fail(ms[5]!, 5);
  sel = d.select(ms);
  t.equal(sel.healthy, 4);
  t.ok(sel.panic, '40% healthy: panic');
  t.equal(sel.candidates.length, 10, 'panic: every member is a candidate');
  clock.now += 1000;
  sel = d.select(ms);
  t.notOk(sel.panic, 'ejections ended');
  t.equal(sel.candidates.length, 10);
  t.equal(sel.nextExpiry, Number.POSITIVE_INFINITY);

  const noPanic = setup(4, { maxEjectedPercent: 100, panicThreshold: 0 });
  for (const m of noPanic.ms) noPanic.fail(m, 5);
  t.equal(noPanic.d.select(noPanic.ms).candidates.length, 0, 'panicThreshold 0: a pool may empty');
});

t.test('bad options are typed errors', async (t) => {
  expectRosterError(
    t,
    () => new OutlierDetector(() => [], { panicThreshold: 150 }),
    'ROSTER_ERR_INVALID_ARGUMENT',
    'panicThreshold',
  );
  expectRosterError(
    t,
    () => new OutlierDetector(() => [], { consecutiveFailures: -1 }),
    'ROSTER_ERR_INVALID_ARGUMENT',
  );
});
