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

t.test('field lines are kept per connection and trusted hops', async (t) => {
  const memo = headMemo(['Host', 'h', 'Accept', '*/*']);
  t.equal(memo.keptLines('10.0.0.1', 0, false), undefined, 'nothing kept at first');
  const made = lines(['Host', 'h'], ['Content-Length', '0'], ['x-forwarded-for', '10.0.0.1']);
  const kept = memo.keepLines('10.0.0.1', 0, false, made);
  t.equal(kept.text, made.text, 'the same text');
  t.equal(kept.hasHost, true);
  t.equal(kept.contentLength, 0);
  t.equal(memo.keptLines('10.0.0.1', 0, false), kept, 'found again');
  t.equal(memo.keptLines('10.0.0.2', 0, false), undefined, 'another peer: not');
  t.equal(memo.keptLines('10.0.0.1', 1, false), undefined, 'other trusted hops: not');
  t.equal(memo.keptLines('10.0.0.1', 0, true), undefined, 'TLS: not');
  const other = memo.keepLines('10.0.0.2', 0, false, lines(['a', 'b']));
  t.equal(memo.keptLines('10.0.0.2', 0, false), other, 'replaced');
  t.equal(memo.keptLines('10.0.0.1', 0, false), undefined, 'the old one is gone');
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
