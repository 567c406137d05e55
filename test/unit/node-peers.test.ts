/**
 * nodes/peers.ts: the peer table fed by heartbeats. Pure logic, driven by explicit `now`.
 */

import t from 'tap';
import { PeerTable } from '../../nodes/peers.js';
import type { MessageOf } from '../../protocol/index.js';

const DEAD_AFTER = 1_000;

function hb(
  node: string,
  inc: number,
  extra: Partial<MessageOf<'heartbeat'>> = {},
): MessageOf<'heartbeat'> {
  return {
    node,
    inc,
    seq: 0,
    hlc: 0,
    vector: [],
    digest: '0',
    sessions: 0,
    instances: 0,
    ready: true,
    startedAt: inc,
    intervalMs: 200,
    ...extra,
  };
}

t.test('observe: new, same, restarted and revived peers', async (t) => {
  const peers = new PeerTable('self', DEAD_AFTER);
  const first = peers.observe(hb('b', 100, { seq: 3, digest: 'ab', vector: [['b', 100, 3]] }), 0);
  t.equal(first.change, 'new', 'first heartbeat: new');
  t.equal(first.peer.id, 'b');
  t.equal(first.peer.seq, 3);
  t.same(first.peer.vector, [['b', 100, 3]]);
  t.equal(peers.get('b'), first.peer, 'stored');

  const again = peers.observe(hb('b', 100, { seq: 4, sessions: 2, instances: 5 }), 500);
  t.equal(again.change, 'same', 'same incarnation, in time: same');
  t.equal(again.peer, first.peer, 'the same record is updated');
  t.equal(again.peer.seq, 4, 'seq updated');
  t.equal(again.peer.sessions, 2, 'counts updated');
  t.equal(again.peer.instances, 5);
  t.equal(again.peer.lastSeen, 500, 'lastSeen updated');

  const restarted = peers.observe(hb('b', 200, { seq: 1 }), 600);
  t.equal(restarted.change, 'restarted', 'a higher incarnation: restarted');
  t.equal(restarted.peer.inc, 200, 'incarnation updated');
  t.equal(restarted.peer.seq, 1);

  const late = peers.observe(hb('b', 100, { seq: 99 }), 700);
  t.equal(late.change, 'same', 'a late beat of the old incarnation changes nothing');
  t.equal(late.peer.inc, 200, 'incarnation kept');
  t.equal(late.peer.seq, 1, 'seq kept');
  t.equal(late.peer.lastSeen, 600, 'and it does not count as a sign of life');

  const revived = peers.observe(hb('b', 200, { seq: 2 }), 600 + DEAD_AFTER + 1);
  t.equal(revived.change, 'revived', 'silent past deadAfterMs, then heard again: revived');
  const sameAtEdge = peers.observe(hb('b', 200), 600 + DEAD_AFTER + 1 + DEAD_AFTER);
  t.equal(sameAtEdge.change, 'same', 'exactly deadAfterMs of silence is still alive');
});

t.test('alive and isAlive follow deadAfterMs; self is always alive', async (t) => {
  const peers = new PeerTable('self', DEAD_AFTER);
  peers.observe(hb('b', 1), 0);
  peers.observe(hb('c', 1), 500);
  t.ok(peers.isAlive('self', 1_000_000), 'self is alive without heartbeats');
  t.notOk(peers.isAlive('unknown', 0), 'a node never heard of is not alive');
  t.ok(peers.isAlive('b', DEAD_AFTER), 'alive at exactly deadAfterMs');
  t.notOk(peers.isAlive('b', DEAD_AFTER + 1), 'dead after it');
  t.same(
    peers
      .alive(DEAD_AFTER + 1)
      .map((p) => p.id)
      .sort(),
    ['c'],
    'alive() lists the live peers only',
  );
  t.same([...peers.all()].map((p) => p.id).sort(), ['b', 'c'], 'all() lists every known peer');
});

t.test('forgive: after our own stall, recently silent peers get a fresh start', async (t) => {
  const table = new PeerTable('self', DEAD_AFTER);
  table.observe(hb('recent', 1), 10_000);
  table.observe(hb('long-gone', 1), 0);
  const now = 10_000 + DEAD_AFTER * 2; // both silent past deadAfterMs
  t.notOk(table.isAlive('recent', now), 'recent: dead by silence before forgiving');
  table.forgive(now);
  t.ok(table.isAlive('recent', now), 'recent: forgiven (silent < 4 × deadAfterMs)');
  t.equal(table.get('recent')!.lastSeen, now, 'its clock restarts now');
  t.notOk(table.isAlive('long-gone', now), 'long-gone: silent > 4 × deadAfterMs, stays dead');
  t.equal(table.get('long-gone')!.lastSeen, 0, 'its lastSeen is unchanged');
});

t.test('janitor: the live, ready node with the lowest id', async (t) => {
  const peers = new PeerTable('m', DEAD_AFTER);
  t.equal(peers.janitor(0, true), 'm', 'alone and ready: self');
  t.equal(peers.janitor(0, false), undefined, 'alone and not ready: nobody');

  peers.observe(hb('z', 1), 0);
  t.equal(peers.janitor(0, true), 'm', 'a higher id does not take over');
  peers.observe(hb('c', 1, { ready: false }), 0);
  t.equal(peers.janitor(0, true), 'm', 'a lower id that is not ready is skipped');
  peers.observe(hb('c', 1, { ready: true }), 100);
  t.equal(peers.janitor(100, true), 'c', 'a lower live ready id is the janitor');
  t.equal(peers.janitor(100, false), 'c', 'whether or not self is ready');
  peers.observe(hb('a', 1), 100);
  t.equal(peers.janitor(100, true), 'a', 'the lowest wins');
  t.equal(
    peers.janitor(100 + DEAD_AFTER + 1, true),
    'm',
    'once a and c are silent past deadAfterMs, self again (z is dead too)',
  );
  peers.observe(hb('z', 1), 100 + DEAD_AFTER + 1);
  t.equal(peers.janitor(100 + DEAD_AFTER + 1, false), 'z', 'self not ready: the live peer');
});

t.test('prune forgets peers dead for longer than forgetAfterMs', async (t) => {
  const peers = new PeerTable('self', DEAD_AFTER);
  peers.observe(hb('old', 1), 0);
  peers.observe(hb('mid', 1), 5_000);
  peers.observe(hb('new', 1), 9_000);
  t.same(peers.prune(10_000, 10_000), [], 'nobody silent for more than 10 s');
  t.same(peers.prune(10_001, 10_000), ['old'], 'old: silent 10.001 s, forgotten');
  t.equal(peers.get('old'), undefined, 'removed from the table');
  t.same(peers.prune(16_000, 10_000), ['mid'], 'then mid (silent 11 s)');
  t.ok(peers.get('new'), 'new stays (silent 7 s)');
  const back = peers.observe(hb('old', 1), 16_000);
  t.equal(back.change, 'new', 'a forgotten peer that beats again is new');
});
