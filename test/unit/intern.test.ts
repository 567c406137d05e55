/**
 * nodes/intern.ts and the store's use of it: records keep canonical copies of the values
 * they repeat, equal to what they had.
 */

import t from 'tap';
import { Interner, ownString } from '../../nodes/intern.js';
import { RegistryStore } from '../../nodes/store.js';
import { decodeAs, encodeTrusted, type Instance, type Session } from '../../protocol/index.js';

function instance(id: string, over: Partial<Instance> = {}): Instance {
  return {
    id,
    service: 'svc-a',
    host: '10.0.0.1',
    port: 80,
    tags: ['blue', 'v1'],
    meta: { az: 'az-1', rack: 'r-7' },
    weight: 1,
    status: 'passing',
    sessionId: 'session-with-a-long-id',
    ownerNode: 'n1',
    registeredAt: 1,
    hlc: 1,
    ...over,
  };
}

t.test('ownString returns an equal string', (t) => {
  for (const s of [
    '',
    'short',
    'x'.repeat(64),
    'é'.repeat(20),
    '😀'.repeat(10),
    '\ud800'.repeat(14),
  ])
    t.equal(ownString(s), s);
  t.end();
});

t.test('equal tag lists and metadata share one frozen copy', (t) => {
  const i = new Interner();
  const a = i.tags(['blue', 'v1']);
  t.equal(i.tags(['blue', 'v1']), a);
  t.same(a, ['blue', 'v1']);
  t.ok(Object.isFrozen(a));
  t.not(i.tags(['blue\nv1']), a, 'a tag containing the separator is another list');
  t.same(i.tags(['blue\nv1']), ['blue\nv1']);
  t.not(i.tags(['v1', 'blue']), a, 'order matters');
  const m = i.meta({ az: 'az-1', rack: 'r-7' });
  t.equal(i.meta({ az: 'az-1', rack: 'r-7' }), m);
  t.ok(Object.isFrozen(m));
  t.not(i.meta({ rack: 'r-7', az: 'az-1' }), m, 'another key order is another object');
  t.same(i.meta({ rack: 'r-7', az: 'az-1' }), { rack: 'r-7', az: 'az-1' });
  t.not(i.meta({ 'az\naz-1': '' }), i.meta({ az: 'az-1\n' }), 'no collision through the separator');
  t.same(i.meta({ 'a\nb': 'c' }), { 'a\nb': 'c' });
  t.same(i.tags([]), []);
  t.same(i.meta({}), {});
  t.end();
});

t.test('tables are bounded', (t) => {
  const i = new Interner({ maxEntries: 10 });
  for (let n = 0; n < 100; n++) {
    t.equal(i.string(`value-${n}`), `value-${n}`);
    t.same(i.tags([`t-${n}`]), [`t-${n}`]);
    t.same(i.meta({ k: `m-${n}` }), { k: `m-${n}` });
  }
  t.ok(i.size <= 30, `at most 10 per table (${i.size})`);
  t.end();
});

t.test('the store keeps records with canonical, equal values', (t) => {
  const store = new RegistryStore();
  const session: Session = {
    id: 'session-with-a-long-id',
    ownerNode: 'n1',
    ttlMs: 5000,
    secretHash: 'a'.repeat(64),
    openedAt: 0,
    hlc: 1,
  };
  store.apply({ op: 'sput', origin: 'n1', inc: 1, seq: 1, hlc: 1, prev: 0, session }, 0);
  // each record from its own decoded message, as from peers
  const decoded = ['i-1', 'i-2'].map(
    (id, k) =>
      decodeAs(
        encodeTrusted('pullReply', {
          gone: false,
          changes: [
            {
              op: 'put',
              origin: 'n1',
              inc: 1,
              seq: 2 + k,
              hlc: 2 + k,
              prev: 0,
              instance: instance(id),
            },
          ],
        }),
        'pullReply',
      ).changes[0]!,
  );
  for (const c of decoded) store.apply(c, 0);
  const a = store.getInstance('svc-a', 'i-1')!;
  const b = store.getInstance('svc-a', 'i-2')!;
  t.same(a, instance('i-1'), 'values unchanged');
  t.same(b, instance('i-2'));
  t.equal(a.tags, b.tags, 'one tag list');
  t.equal(a.meta, b.meta, 'one metadata object');
  t.same(store.getSession('session-with-a-long-id'), session);
  t.same([...store.instancesOfSession('session-with-a-long-id')].map((i) => i.id).sort(), [
    'i-1',
    'i-2',
  ]);
  // an update with other tags gets its own list; the old one is untouched
  store.apply(
    {
      op: 'put',
      origin: 'n1',
      inc: 1,
      seq: 9,
      hlc: 9,
      prev: 0,
      instance: instance('i-2', { hlc: 9, tags: ['green'] }),
    },
    0,
  );
  t.same(store.getInstance('svc-a', 'i-2')!.tags, ['green']);
  t.same(store.getInstance('svc-a', 'i-1')!.tags, ['blue', 'v1']);
  t.end();
});
