/**
 * Replicator.syncFrom over the memory bus: a joining node merges a multi-page snapshot page by
 * page; a node that already holds records reconciles (drops what the peer no longer has, where
 * the peer covers the record's origin) and keeps the rest.
 */

import t from 'tap';
import { RegistryNode } from '../../nodes/index.js';
import { decodeAs, encodeTrusted, type Instance, Subjects } from '../../protocol/index.js';
import { createMemoryBuses } from '../../transport/memory-bus.js';

const INSTANCES = 4_500; // more than two snapshot pages of 2000
const SESSIONS = 50;

t.test(
  'join over several pages, then a reconcile that drops only what the peer lacks',
  async (t) => {
    const { buses } = createMemoryBuses(3);
    const [busA, busB, client] = buses as [(typeof buses)[0], (typeof buses)[0], (typeof buses)[0]];
    const opts = { heartbeatMs: 100, discoveryMs: 30 };
    const a = new RegistryNode(busA, { id: 'a', ...opts });
    t.teardown(async () => {
      await a.close();
      for (const b of buses) await b.close();
    });
    await a.start();
    const subjects = new Subjects();
    for (let g = 0; g < INSTANCES; g++) {
      const service = `svc-${g % 40}`;
      const reply = await client.request(
        subjects.registerAt(service, 'a'),
        encodeTrusted('registerRequest', {
          session: {
            id: `sess-${g % SESSIONS}`,
            secret: `secret-of-session-${g % SESSIONS}`,
            ttlMs: 3_600_000,
          },
          instance: {
            id: `i-${g}`,
            service,
            host: '10.0.0.1',
            port: 1000 + (g % 1000),
            tags: g % 2 ? ['blue'] : ['green', 'v2'],
            meta: { az: `az-${g % 3}` },
            weight: 1,
          },
        }),
        { timeoutMs: 5_000 },
      );
      decodeAs(reply.data, 'registerReply');
    }
    t.equal(a.store.instanceCount, INSTANCES);

    const b = new RegistryNode(busB, { id: 'b', ...opts });
    t.teardown(() => b.close());
    await b.start(); // a fresh join: loads a's snapshot
    t.equal(b.store.instanceCount, INSTANCES, 'every instance, from several pages');
    t.equal(b.store.sessionCount, SESSIONS);
    t.equal(b.store.digest, a.store.digest, 'the same state');
    t.same(b.store.revision('svc-7'), a.store.revision('svc-7'), 'revisions came along');
    t.same(b.store.getInstance('svc-3', 'i-3'), a.store.getInstance('svc-3', 'i-3'));

    // A record b holds that a does not, of an origin b has seen nothing of (a covers it):
    // a reconcile drops it. Everything else stays.
    const ghost: Instance = {
      id: 'ghost',
      service: 'svc-1',
      host: '10.9.9.9',
      port: 9,
      tags: [],
      meta: {},
      weight: 1,
      status: 'passing',
      sessionId: 'sess-1',
      ownerNode: 'gone-node',
      registeredAt: 1,
      hlc: 1,
    };
    b.store.apply(
      { op: 'put', origin: 'gone-node', inc: 1, seq: 1, hlc: 1, prev: 0, instance: ghost },
      Date.now(),
    );
    t.equal(b.store.instanceCount, INSTANCES + 1);
    await b.replicator.syncFrom('a', 'digest');
    t.equal(b.store.getInstance('svc-1', 'ghost'), undefined, 'the record a lacks is dropped');
    t.equal(b.store.instanceCount, INSTANCES, 'nothing else is');
    t.equal(b.store.digest, a.store.digest, 'equal again');
  },
);
