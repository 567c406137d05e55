import t from 'tap';
import { ServiceView, type ViewEvent } from '../../client/service-view.js';
import type { Change, Instance } from '../../protocol/index.js';

const inst = (id: string, hlc: number, owner = 'n1'): Instance => ({
  id,
  service: 'api',
  host: '127.0.0.1',
  port: 80,
  tags: [],
  meta: {},
  weight: 1,
  status: 'passing',
  sessionId: 's',
  ownerNode: owner,
  registeredAt: 0,
  hlc,
});
const put = (origin: string, seq: number, prev: number, i: Instance, inc = 1): Change => ({
  op: 'put',
  origin,
  inc,
  seq,
  hlc: i.hlc,
  prev,
  instance: i,
});
const del = (origin: string, seq: number, prev: number, i: Instance): Change => ({
  op: 'del',
  origin,
  inc: 1,
  seq,
  hlc: i.hlc + 1,
  prev,
  service: 'api',
  id: i.id,
  ifHlc: i.hlc,
  ifNode: i.ownerNode,
  reason: 'deregister',
});

t.test('deltas in chain order apply; duplicates are ignored; a hole is reported', async (t) => {
  const v = new ServiceView('api');
  const events: ViewEvent[] = [];
  t.equal(v.applyDelta(put('n1', 3, 0, inst('a', 10)), events), 'applied');
  t.equal(v.applyDelta(put('n1', 7, 3, inst('b', 11)), events), 'applied');
  t.equal(v.applyDelta(put('n1', 7, 3, inst('b', 11)), events), 'duplicate');
  t.same(
    events.map((e) => `${e.type}:${e.instance.id}`),
    ['added:a', 'added:b'],
  );
  t.equal(v.applyDelta(put('n1', 12, 9, inst('c', 12)), events), 'gap', 'prev 9 but we are at 7');
  t.ok(v.hasGap);
  t.equal(v.size, 3, 'a change after a hole is still applied (merge is order-free)');
});

t.test('reconcile fills holes and removes only what the snapshot has seen removed', async (t) => {
  const v = new ServiceView('api');
  const events: ViewEvent[] = [];
  v.applyDelta(put('n1', 1, 0, inst('a', 10)), events);
  v.applyDelta(put('n2', 1, 0, inst('x', 20, 'n2')), events);
  v.applyDelta(put('n2', 2, 1, inst('y', 21, 'n2')), events);
  events.length = 0;
  // The answering node saw n1 up to 5 (a was removed there) but n2 only up to 1 (no y yet).
  const complete = v.reconcile(
    [inst('x', 20, 'n2')],
    [
      ['n1', 1, 5],
      ['n2', 1, 1],
    ],
    events,
  );
  t.same(
    events.map((e) => `${e.type}:${e.instance.id}`),
    ['removed:a'],
    'a removed (n1 covered); y kept because the node is behind us on n2',
  );
  t.equal(complete, true, 'we applied n2:2 in order, so nothing is missing');
  t.same(
    v
      .instances()
      .map((i) => i.id)
      .sort(),
    ['x', 'y'],
  );
});

t.test('a node behind on an origin we have a hole in is reported incomplete', async (t) => {
  const v = new ServiceView('api');
  const events: ViewEvent[] = [];
  v.applyDelta(put('n1', 1, 0, inst('a', 10)), events);
  v.applyDelta(put('n1', 4, 2, inst('b', 11)), events); // hole at 2..3
  t.equal(v.reconcile([inst('a', 10)], [['n1', 1, 1]], events), false);
  t.equal(v.reconcile([inst('a', 10), inst('b', 11)], [['n1', 1, 4]], events), true);
  t.notOk(v.hasGap);
});

t.test(
  'a replayed put after a removal never resurrects; a new incarnation restarts the chain',
  async (t) => {
    const v = new ServiceView('api');
    const events: ViewEvent[] = [];
    const a = inst('a', 10);
    v.applyDelta(put('n1', 1, 0, a), events);
    v.applyDelta(del('n1', 2, 1, a), events);
    t.equal(v.applyDelta(put('n1', 1, 0, a), events), 'duplicate');
    t.equal(v.size, 0);
    t.equal(v.applyDelta(put('n1', 1, 0, inst('a', 30), 2), events), 'applied', 'restarted origin');
    t.equal(v.size, 1);
    t.equal(
      v.applyDelta(put('n1', 5, 2, inst('z', 31), 1), events),
      'duplicate',
      'old incarnation',
    );
  },
);
