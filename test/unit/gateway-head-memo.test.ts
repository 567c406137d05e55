import t from 'tap';
import { headMemo } from '../../gateway/head-memo.js';
import type { RequestRoute, TableRuntime } from '../../gateway/route-runtime.js';
import { FieldLinesBuilder } from '../../gateway/upstream/field-lines.js';

function lines(...pairs: [string, string][]): FieldLinesBuilder {
  const b = new FieldLinesBuilder();
  for (const [name, value] of pairs) b.add(name, value);
  return b;
}

t.test('one memo per head list', async (t) => {
  const raw = ['Host', 'h'];
  t.equal(headMemo(raw), headMemo(raw), 'the same memo again');
  t.not(headMemo(raw), headMemo([...raw]), 'another list (an equal one too): another memo');
});

t.test('field lines are kept per connection, trusted hops and withheld headers', async (t) => {
  const memo = headMemo(['Host', 'h', 'Accept', '*/*']);
  const none = undefined;
  t.equal(memo.keptLines('10.0.0.1', 0, false, none), undefined, 'nothing kept at first');
  const made = lines(['Host', 'h'], ['Content-Length', '0'], ['x-forwarded-for', '10.0.0.1']);
  const kept = memo.keepLines('10.0.0.1', 0, false, none, made);
  t.equal(kept.text, made.text, 'the same text');
  t.equal(kept.hasHost, true);
  t.equal(kept.contentLength, 0);
  t.equal(memo.keptLines('10.0.0.1', 0, false, none), kept, 'found again');
  t.equal(memo.keptLines('10.0.0.2', 0, false, none), undefined, 'another peer: not');
  t.equal(memo.keptLines('10.0.0.1', 1, false, none), undefined, 'other trusted hops: not');
  t.equal(memo.keptLines('10.0.0.1', 0, true, none), undefined, 'TLS: not');
  const withheld = new Set(['authorization']);
  t.equal(
    memo.keptLines('10.0.0.1', 0, false, withheld),
    undefined,
    'headers withheld from the upstream: not',
  );
  const without = memo.keepLines('10.0.0.1', 0, false, withheld, lines(['Host', 'h']));
  t.equal(memo.keptLines('10.0.0.1', 0, false, withheld), without, 'kept for that set');
  t.equal(
    memo.keptLines('10.0.0.1', 0, false, new Set(['authorization'])),
    undefined,
    'another set object (an equal one too): not',
  );
  t.equal(memo.keptLines('10.0.0.1', 0, false, none), undefined, 'none withheld: not');
  const other = memo.keepLines('10.0.0.2', 0, false, none, lines(['a', 'b']));
  t.equal(memo.keptLines('10.0.0.2', 0, false, none), other, 'replaced');
  t.equal(memo.keptLines('10.0.0.1', 0, false, withheld), undefined, 'the old one is gone');
});

t.test('a route is kept for one route table', async (t) => {
  const memo = headMemo(['Host', 'h']);
  const tables = {} as TableRuntime;
  const reloaded = {} as TableRuntime;
  const route = { path: '/a', query: '' } as RequestRoute;
  t.equal(memo.keptRoute(tables), undefined, 'nothing kept at first');
  memo.keepRoute(tables, route);
  t.equal(memo.keptRoute(tables), route, 'found again');
  t.equal(memo.keptRoute(reloaded), undefined, 'not for another table');
});
