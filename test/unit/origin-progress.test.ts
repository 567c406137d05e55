import t from 'tap';
import { ChangeLog } from '../../nodes/change-log.js';
import { OriginProgress } from '../../nodes/origin-progress.js';
import type { Change } from '../../protocol/index.js';

const change = (origin: string, inc: number, seq: number): Change => ({
  op: 'sdel',
  origin,
  inc,
  seq,
  hlc: seq,
  prev: 0,
  id: `s${seq}`,
  ifHlc: 1,
  ifNode: origin,
  reason: 'expired',
});

t.test('in-order changes apply; early ones are held and reported as a gap', async (t) => {
  const p = new OriginProgress();
  t.same(p.offer(change('a', 1, 1)), { kind: 'apply', changes: [change('a', 1, 1)] });
  const held = p.offer(change('a', 1, 4));
  t.same(held, { kind: 'held', gap: { origin: 'a', inc: 1, from: 2, to: 3 } });
  t.same(p.gapOf('a'), { origin: 'a', inc: 1, from: 2, to: 3 });
  t.equal(p.offer(change('a', 1, 3)).kind, 'held');
  const r = p.offer(change('a', 1, 2));
  t.same(
    r.kind === 'apply' ? r.changes.map((c) => c.seq) : [],
    [2, 3, 4],
    'held changes drain in order',
  );
  t.equal(p.offer(change('a', 1, 2)).kind, 'duplicate');
  t.same(p.vector(), [['a', 1, 4]]);
  t.equal(p.heldCount, 0);
  t.equal(p.gapOf('a'), undefined);
});

t.test('a new incarnation restarts the origin; an older one is stale', async (t) => {
  const p = new OriginProgress();
  p.offer(change('a', 1, 1));
  p.offer(change('a', 1, 2));
  t.equal(p.offer(change('a', 2, 1)).kind, 'apply');
  t.same(p.position('a'), { inc: 2, seq: 1 });
  t.equal(p.offer(change('a', 1, 3)).kind, 'stale');
  t.ok(p.isBehind('a', 2, 5));
  t.notOk(p.isBehind('a', 1, 99));
  t.ok(p.isBehind('b', 1, 1));
});

t.test('advanceTo skips ahead (after a snapshot) and drains what became ready', async (t) => {
  const p = new OriginProgress();
  p.offer(change('a', 1, 1));
  p.offer(change('a', 1, 5));
  p.offer(change('a', 1, 6));
  t.same(
    p.advanceTo('a', 1, 4).map((c) => c.seq),
    [5, 6],
  );
  t.same(p.position('a'), { inc: 1, seq: 6 });
  t.same(p.advanceTo('a', 1, 2), [], 'never moves back');
  t.same(p.advanceTo('b', 3, 10), []);
  t.same(p.position('b'), { inc: 3, seq: 10 });
});

t.test('held changes are bounded', async (t) => {
  const p = new OriginProgress({ maxHeld: 3 });
  p.offer(change('a', 1, 1));
  for (let s = 3; s < 10; s++) p.offer(change('a', 1, s));
  t.equal(p.heldCount, 3);
});

t.test('the change log serves ranges and says when they are gone', async (t) => {
  const log = new ChangeLog({ maxPerOrigin: 5 });
  for (let s = 1; s <= 8; s++) log.append(change('a', 1, s));
  t.equal(log.size, 5);
  t.same(log.range('a', 1, 2, 3, 10), { kind: 'gone' }, 'evicted');
  const r = log.range('a', 1, 4, 7, 10);
  t.same(r.kind === 'ok' ? r.changes.map((c) => c.seq) : [], [4, 5, 6, 7]);
  const capped = log.range('a', 1, 4, 8, 2);
  t.same(capped.kind === 'ok' ? capped.changes.map((c) => c.seq) : [], [4, 5]);
  t.same(log.range('a', 2, 1, 1, 1), { kind: 'gone' }, 'other incarnation');
  t.same(log.range('b', 1, 1, 1, 1), { kind: 'gone' }, 'unknown origin');
  log.append(change('a', 2, 1));
  t.same(log.range('a', 2, 1, 1, 5).kind, 'ok', 'new incarnation restarts the log');
  log.append(change('a', 1, 9));
  t.same(log.range('a', 2, 1, 1, 5).kind, 'ok', 'an older incarnation is ignored');
  const big = new ChangeLog({ maxPerOrigin: 10 });
  for (let s = 1; s <= 10_000; s++) big.append(change('b', 1, s));
  const tail = big.range('b', 1, 9991, 10_000, 100);
  t.same(
    tail.kind === 'ok' ? tail.changes.map((c) => c.seq) : [],
    Array.from({ length: 10 }, (_, i) => 9991 + i),
  );
});
