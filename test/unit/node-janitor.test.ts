/**
 * nodes/janitor.ts with a real RegistryStore and PeerTable: a dead owner's records stay for
 * one session TTL plus the orphan grace after it was first seen dead, then the janitor (the
 * live, ready node with the lowest id) removes them; a revived owner cancels the countdown.
 */

import t from 'tap';
import { Janitor, type OrphanActions } from '../../nodes/janitor.js';
import { PeerTable } from '../../nodes/peers.js';
import { RegistryStore } from '../../nodes/store.js';
import type { Instance, MessageOf, Session } from '../../protocol/index.js';

const DEAD_AFTER = 1_000;
const GRACE = 1_000;
const DEFAULT_TTL = 6_000;
const SESSION_TTL = 2_000;
const HASH = 'f'.repeat(64);

let seq = 0;

function beat(peers: PeerTable, node: string, now: number, ready = true): void {
  const hb: MessageOf<'heartbeat'> = {
    node,
    inc: 1,
    seq: 0,
    hlc: 0,
    vector: [],
    digest: '0',
    sessions: 0,
    instances: 0,
    ready,
    startedAt: 0,
    intervalMs: 200,
  };
  peers.observe(hb, now);
}

function session(store: RegistryStore, id: string, owner: string, ttlMs = SESSION_TTL): Session {
  const s: Session = { id, ownerNode: owner, ttlMs, secretHash: HASH, openedAt: 0, hlc: ++seq };
  store.apply({ op: 'sput', origin: owner, inc: 1, seq, hlc: s.hlc, prev: 0, session: s }, 0);
  return s;
}

function instance(store: RegistryStore, id: string, sessionId: string, owner: string): Instance {
  const inst: Instance = {
    id,
    service: 'web',
    host: '127.0.0.1',
    port: 8000 + seq,
    tags: [],
    meta: {},
    weight: 1,
    status: 'passing',
    sessionId,
    ownerNode: owner,
    registeredAt: 0,
    hlc: ++seq,
  };
  store.apply({ op: 'put', origin: owner, inc: 1, seq, hlc: inst.hlc, prev: 0, instance: inst }, 0);
  return inst;
}

/** Actions that remove from the store (as the node does through its log) and record what. */
function recorder(store: RegistryStore): OrphanActions & { removed: string[] } {
  const removed: string[] = [];
  return {
    removed,
    removeInstance(inst) {
      removed.push(`instance:${inst.id}`);
      store.dropInstance(inst, 0);
    },
    removeSession(id) {
      removed.push(`session:${id}`);
      const s = store.getSession(id);
      if (s) store.dropSession(s, 0);
    },
  };
}

/** Self is 'b'; 'x' will die; 'c' stays alive (and has a higher id than b). */
function setup() {
  seq = 0;
  const store = new RegistryStore();
  const peers = new PeerTable('b', DEAD_AFTER);
  beat(peers, 'x', 0);
  beat(peers, 'c', 0);
  const janitor = new Janitor('b', store, peers, GRACE, DEFAULT_TTL);
  return { store, peers, janitor };
}

t.test('orphans of a dead owner go only after TTL + grace, and only by the janitor', async (t) => {
  const { store, peers, janitor } = setup();
  session(store, 's-dead', 'x');
  instance(store, 'i-dead-1', 's-dead', 'x');
  instance(store, 'i-dead-2', 's-dead', 'x');
  session(store, 's-live', 'c');
  instance(store, 'i-live', 's-live', 'c');
  session(store, 's-mine', 'b');
  instance(store, 'i-mine', 's-mine', 'b');

  // A second observer, 'd' (higher id than b): it tracks the same dead owner but is not the janitor.
  const otherPeers = new PeerTable('d', DEAD_AFTER);
  beat(otherPeers, 'x', 0);
  const other = new Janitor('d', store, otherPeers, GRACE, DEFAULT_TTL);

  const actions = recorder(store);
  const otherActions = recorder(store);
  const sweep = (now: number): number => {
    beat(peers, 'c', now);
    beat(otherPeers, 'b', now);
    beat(otherPeers, 'c', now);
    t.equal(other.sweep(now, true, otherActions), 0, `d removes nothing at ${now}`);
    return janitor.sweep(now, true, actions);
  };

  t.equal(sweep(500), 0, 'x alive: nothing to do');
  const firstDead = 1_001; // silent for more than DEAD_AFTER
  t.equal(sweep(firstDead), 0, 'x just died: its records stay');
  t.equal(sweep(firstDead + SESSION_TTL), 0, 'after one TTL: still there');
  t.equal(sweep(firstDead + SESSION_TTL + GRACE), 0, 'after TTL + grace exactly: still there');
  t.equal(store.instanceCount, 4, 'every instance still visible');

  t.equal(sweep(firstDead + SESSION_TTL + GRACE + 1), 3, 'past TTL + grace: removed');
  t.same(
    actions.removed.sort(),
    ['instance:i-dead-1', 'instance:i-dead-2', 'session:s-dead'],
    "x's instances and then its session",
  );
  t.same(otherActions.removed, [], 'the non-janitor removed nothing');
  t.ok(store.getInstance('web', 'i-live'), 'a live owner keeps its instance');
  t.ok(store.getInstance('web', 'i-mine'), 'self keeps its instance');
  t.ok(store.getSession('s-live') && store.getSession('s-mine'), 'and sessions');
  t.equal(sweep(firstDead + 100_000), 0, 'nothing more to do');
});

t.test('a node that is not ready, or not the lowest live id, is not the janitor', async (t) => {
  const { store, peers, janitor } = setup();
  session(store, 's-dead', 'x');
  instance(store, 'i-dead', 's-dead', 'x');
  const actions = recorder(store);
  const late = 1_001 + SESSION_TTL + GRACE + 1;
  beat(peers, 'c', 1_001);
  janitor.sweep(1_001, true, actions); // x first seen dead
  beat(peers, 'c', late);
  t.equal(janitor.sweep(late, false, actions), 0, 'self not ready: c is the janitor');
  beat(peers, 'a', late); // a live, ready node with a lower id appears
  t.equal(janitor.sweep(late, true, actions), 0, 'a is the janitor now, not b');
  t.same(actions.removed, [], 'nothing removed');
  t.equal(
    janitor.sweep(late + DEAD_AFTER + 1, true, actions),
    2,
    'once a and c are silent, b is the janitor again and the countdown has long expired',
  );
});

t.test('a revived owner cancels the countdown', async (t) => {
  const { store, peers, janitor } = setup();
  session(store, 's-x', 'x');
  instance(store, 'i-x', 's-x', 'x');
  const actions = recorder(store);
  const at = (now: number): number => {
    beat(peers, 'c', now);
    return janitor.sweep(now, true, actions);
  };
  at(1_001); // x first seen dead at 1001
  beat(peers, 'x', 3_000); // x beats again (a partition healed)
  t.equal(at(3_000), 0, 'x alive again: its records are not orphans');
  // x goes silent again: the countdown restarts from when it is next seen dead.
  const deadAgain = 3_000 + DEAD_AFTER + 1;
  t.equal(at(deadAgain), 0, 'dead again');
  t.equal(
    at(1_001 + SESSION_TTL + GRACE + 1),
    0,
    'the first countdown no longer applies (would have expired now)',
  );
  t.equal(at(deadAgain + SESSION_TTL + GRACE), 0, 'new countdown not over yet');
  t.equal(at(deadAgain + SESSION_TTL + GRACE + 1), 2, 'over: removed');
});

t.test('reset (after our own stall) restarts every countdown', async (t) => {
  const { store, peers, janitor } = setup();
  session(store, 's-x', 'x');
  instance(store, 'i-x', 's-x', 'x');
  const actions = recorder(store);
  const at = (now: number): number => {
    beat(peers, 'c', now);
    return janitor.sweep(now, true, actions);
  };
  at(1_001);
  janitor.reset();
  t.equal(at(5_000), 0, 'first seen dead again at 5000');
  t.equal(at(5_000 + SESSION_TTL + GRACE), 0, 'counting from 5000');
  t.equal(at(5_000 + SESSION_TTL + GRACE + 1), 2, 'then removed');
});

t.test('a session whose instance moved to a live node is kept', async (t) => {
  const { store, peers, janitor } = setup();
  session(store, 's-moving', 'x');
  instance(store, 'i-stale', 's-moving', 'x'); // not yet re-registered
  // The client re-registered this instance through c; the session record itself still names x
  // (its sput from c has not arrived yet).
  instance(store, 'i-moved', 's-moving', 'c');
  // An orphan instance whose session record is gone: it counts with the default TTL.
  instance(store, 'i-no-session', 's-unknown', 'x');
  const actions = recorder(store);
  const at = (now: number): number => {
    beat(peers, 'c', now);
    return janitor.sweep(now, true, actions);
  };
  at(1_001);
  t.equal(at(1_001 + SESSION_TTL + GRACE + 1), 1, 'only the stale instance is removed');
  t.same(actions.removed, ['instance:i-stale']);
  t.ok(store.getSession('s-moving'), 'the session stays: one of its instances is live-owned');
  t.ok(store.getInstance('web', 'i-moved'), 'the moved instance stays');
  t.ok(store.getInstance('web', 'i-no-session'), 'a session-less orphan waits for the default TTL');
  t.equal(at(1_001 + DEFAULT_TTL + GRACE), 0, 'default TTL + grace: not yet');
  t.equal(at(1_001 + DEFAULT_TTL + GRACE + 1), 1, 'then it goes too');
  t.notOk(store.getInstance('web', 'i-no-session'));
  t.ok(store.getSession('s-moving'), 'the moving session is still kept');
});
