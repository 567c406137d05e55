/**
 * nodes/snapshot-server.ts: serving a point-in-time snapshot in pages.
 */

import t, { type Test } from 'tap';
import { SnapshotServer } from '../../nodes/snapshot-server.js';
import { RegistryStore } from '../../nodes/store.js';
import {
  decodeAs,
  type Instance,
  Limits,
  type MessageOf,
  type Session,
  type Vector,
} from '../../protocol/index.js';
import { expectRosterError } from '../helpers/expect-error.js';

const HASH = 'e'.repeat(64);
let hlc = 0;

function put(store: RegistryStore, id: string, meta: Record<string, string> = {}): Instance {
  hlc += 1;
  const inst: Instance = {
    id,
    service: `svc-${hlc % 3}`,
    host: '10.0.0.1',
    port: 1000 + (hlc % 60_000),
    tags: [],
    meta,
    weight: 1,
    status: 'passing',
    sessionId: 's-1',
    ownerNode: 'n1',
    registeredAt: 0,
    hlc,
  };
  store.apply({ op: 'put', origin: 'n1', inc: 1, seq: hlc, hlc, prev: 0, instance: inst }, 0);
  return inst;
}

function openSession(store: RegistryStore, id: string): Session {
  hlc += 1;
  const s: Session = { id, ownerNode: 'n1', ttlMs: 5_000, secretHash: HASH, openedAt: 0, hlc };
  store.apply({ op: 'sput', origin: 'n1', inc: 1, seq: hlc, hlc, prev: 0, session: s }, 0);
  return s;
}

/** A store with sessions, instances, tombstones and revisions, and a server over it. */
function fixture(instances = 25) {
  const store = new RegistryStore();
  for (let i = 0; i < 3; i++) openSession(store, `s-${i}`);
  const all: Instance[] = [];
  for (let i = 0; i < instances; i++) all.push(put(store, `i-${i}`));
  // two removals leave tombstones
  for (const gone of all.slice(0, 2)) store.dropInstance(gone, 0);
  let takes = 0;
  const vector: Vector = [['n1', 1, hlc]];
  const server = new SnapshotServer(() => {
    takes += 1;
    return { snapshot: store.snapshot(), vector };
  });
  return { store, server, vector, takes: () => takes };
}

type Reply = MessageOf<'snapshotReply'>;

function pageAll(t: Test, server: SnapshotServer, limit: number): Reply[] {
  const pages: Reply[] = [];
  let cursor: string | undefined;
  do {
    const bytes = server.page(cursor, limit);
    t.ok(bytes.byteLength <= Limits.maxMessageBytes, 'every page fits the message limit');
    const reply = decodeAs(bytes, 'snapshotReply');
    pages.push(reply);
    cursor = reply.next;
    if (pages.length > 10_000) throw new Error('runaway paging');
  } while (cursor !== undefined);
  return pages;
}

function count(reply: Reply): number {
  return (
    reply.sessions.length +
    reply.instances.length +
    reply.tombstones.length +
    reply.revisions.length
  );
}

t.test('pages through one captured snapshot with cursors', async (t) => {
  const { store, server, vector, takes } = fixture(25);
  const expected = store.snapshot();
  const total =
    expected.sessions.length +
    expected.instances.length +
    expected.tombstones.length +
    expected.revisions.length;
  t.equal(expected.tombstones.length, 2, 'the fixture has tombstones');
  t.ok(expected.revisions.length > 0, 'and revisions');

  const first = decodeAs(server.page(undefined, 7), 'snapshotReply');
  t.equal(count(first), 7, 'the first page holds `limit` records');
  t.match(first.next, /^[0-9a-f]{12}:7$/, 'and a cursor to the rest');
  t.same(first.vector, vector, 'with the vector of the capture');

  // Changes after the capture do not show up in its pages.
  put(store, 'late-arrival');

  const pages = [first];
  let cursor = first.next;
  while (cursor !== undefined) {
    const reply = decodeAs(server.page(cursor, 7), 'snapshotReply');
    pages.push(reply);
    cursor = reply.next;
  }
  t.equal(takes(), 1, 'one capture for the whole transfer');
  t.equal(pages.length, Math.ceil(total / 7), 'ceil(total / limit) pages');
  t.same(
    pages.flatMap((p) => p.sessions),
    expected.sessions,
    'every session, in order',
  );
  t.same(
    pages.flatMap((p) => p.instances),
    expected.instances,
    'every instance, in order',
  );
  t.same(
    pages.flatMap((p) => p.tombstones),
    expected.tombstones,
    'every tombstone',
  );
  t.same(
    pages.flatMap((p) => p.revisions),
    expected.revisions,
    'every revision',
  );
  t.notOk(
    pages.some((p) => p.instances.some((i) => i.id === 'late-arrival')),
    'nothing from after the capture',
  );
  t.ok(
    pages.every((p) => JSON.stringify(p.vector) === JSON.stringify(vector)),
    'every page carries the same vector',
  );

  // The capture is gone once its last page was served.
  expectRosterError(t, () => server.page(first.next, 7), 'ROSTER_ERR_NOT_FOUND');

  const again = pageAll(t, server, 5_000);
  t.equal(again.length, 1, 'a new transfer captures again: one page with a big limit');
  t.equal(again[0]!.next, undefined, 'no cursor on the last page');
  t.ok(
    again[0]!.instances.some((i) => i.id === 'late-arrival'),
    'the new capture sees the late change',
  );
});

t.test('an empty store is one empty page', async (t) => {
  const server = new SnapshotServer(() => ({
    snapshot: new RegistryStore().snapshot(),
    vector: [],
  }));
  const reply = decodeAs(server.page(undefined, 100), 'snapshotReply');
  t.equal(count(reply), 0);
  t.equal(reply.next, undefined);
});

t.test('pages too large for 1 MiB are halved until they fit', async (t) => {
  const store = new RegistryStore();
  // ~64 KiB of metadata per instance: 40 of them are about 2.6 MB.
  const meta: Record<string, string> = {};
  for (let k = 0; k < Limits.maxMetaKeys; k++) meta[`key-${k}`] = 'x'.repeat(1_000);
  for (let i = 0; i < 40; i++) put(store, `big-${i}`, meta);
  const server = new SnapshotServer(() => ({ snapshot: store.snapshot(), vector: [] }));

  const first = decodeAs(server.page(undefined, 40), 'snapshotReply');
  t.ok(count(first) < 40, `the first page was cut (${count(first)} records)`);
  t.ok(count(first) >= 5, 'but not needlessly small');
  t.ok(first.next, 'with a cursor to the rest');

  const server2 = new SnapshotServer(() => ({ snapshot: store.snapshot(), vector: [] }));
  const pages = pageAll(t, server2, 40);
  const ids = pages.flatMap((p) => p.instances.map((i) => i.id));
  t.equal(ids.length, 40, 'all 40 big instances are delivered');
  t.equal(new Set(ids).size, 40, 'each once');
  t.ok(pages.length >= 3, `over several pages (${pages.length})`);
});

t.test('bad cursors and expired captures are typed errors', async (t) => {
  const { server } = fixture(10);
  expectRosterError(t, () => server.page('nonsense', 5), 'ROSTER_ERR_INVALID_ARGUMENT');
  expectRosterError(t, () => server.page('abcdefabcdef', 5), 'ROSTER_ERR_INVALID_ARGUMENT');
  expectRosterError(t, () => server.page('ABCDEFABCDEF:1', 5), 'ROSTER_ERR_INVALID_ARGUMENT');
  expectRosterError(t, () => server.page('abcdefabcdef:-1', 5), 'ROSTER_ERR_INVALID_ARGUMENT');
  expectRosterError(t, () => server.page('abcdefabcdef:0', 5), 'ROSTER_ERR_NOT_FOUND');

  const first = decodeAs(server.page(undefined, 5), 'snapshotReply');
  t.ok(first.next);
  const realNow = Date.now;
  t.teardown(() => {
    Date.now = realNow;
  });
  const start = realNow();
  Date.now = () => start + 9_000;
  const second = decodeAs(server.page(first.next, 5), 'snapshotReply');
  t.ok(second.next, 'a capture in use stays (each page extends it)');
  Date.now = () => start + 9_000 + 10_001;
  expectRosterError(t, () => server.page(second.next, 5), 'ROSTER_ERR_NOT_FOUND');
});

t.test('at most 4 captures at once', async (t) => {
  const { server } = fixture(10);
  const cursors: string[] = [];
  for (let i = 0; i < 4; i++) {
    const reply = decodeAs(server.page(undefined, 2), 'snapshotReply');
    t.ok(reply.next, `transfer ${i + 1} in progress`);
    cursors.push(reply.next!);
  }
  expectRosterError(t, () => server.page(undefined, 2), 'ROSTER_ERR_LIMIT_EXCEEDED');
  t.ok(server.page(cursors[0], 2), 'transfers in progress continue');

  // Finishing one frees its slot.
  let cursor: string | undefined = cursors[1];
  while (cursor !== undefined) cursor = decodeAs(server.page(cursor, 1_000), 'snapshotReply').next;
  t.ok(server.page(undefined, 2), 'a finished transfer frees a slot');
  expectRosterError(t, () => server.page(undefined, 2), 'ROSTER_ERR_LIMIT_EXCEEDED');

  // Abandoned transfers expire, freeing theirs.
  const realNow = Date.now;
  t.teardown(() => {
    Date.now = realNow;
  });
  const start = realNow();
  Date.now = () => start + 1_500;
  t.ok(server.page(undefined, 2), 'when full, a transfer idle for over 1 s gives its place');
  Date.now = () => start + 20_001;
  for (let i = 0; i < 4; i++) t.ok(server.page(undefined, 2), `after expiry: capture ${i + 1}`);

  server.close();
  expectRosterError(t, () => server.page(cursors[0], 2), 'ROSTER_ERR_NOT_FOUND');
  t.ok(server.page(undefined, 2), 'close() drops every capture');
});

t.test('pages taken within one task stay intact (the reused buffer is not shared)', (t) => {
  const { server } = fixture(300);
  // two transfers whose requests arrive together: both pages are encoded before either is sent
  const a = server.page(undefined, 50);
  const b = server.page(undefined, 60);
  const copyA = Buffer.from(a);
  const c = server.page(undefined, 70);
  t.equal(Buffer.compare(a, copyA), 0, 'the first page is not written over by later ones');
  const pa = decodeAs(a, 'snapshotReply');
  const pb = decodeAs(b, 'snapshotReply');
  const pc = decodeAs(c, 'snapshotReply');
  t.equal(pa.sessions.length + pa.instances.length, 50);
  t.equal(pb.sessions.length + pb.instances.length, 60);
  t.equal(pc.sessions.length + pc.instances.length, 70);
  t.end();
});

t.test('later tasks reuse one buffer and every page still decodes', async (t) => {
  const { server, store } = fixture(400);
  const ids = new Set<string>();
  let cursor: string | undefined;
  do {
    await new Promise((resolve) => setImmediate(resolve));
    const reply = decodeAs(server.page(cursor, 64), 'snapshotReply');
    for (const i of reply.instances) ids.add(i.id);
    cursor = reply.next;
  } while (cursor !== undefined);
  t.equal(ids.size, store.instanceCount, 'every instance served once');
});
