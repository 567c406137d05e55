/**
 * Query discovery of a service larger than one reply page (2000 instances). Every page of a
 * query goes through the node queue group, so consecutive pages may be answered by different
 * nodes; the result must still be the service, each instance exactly once, for discover() and
 * for a watcher (whose periodic re-query must never drop a live instance from its pool).
 *
 * The nodes' orders differ once a node has joined from a snapshot after an update (an update
 * moves a record within one node's index but not within the snapshot it serves), which is the
 * everyday state of a cluster, so the test sets that up: 2100 instances, one status update,
 * then a 4th node joins.
 */

import t from 'tap';
import { connect, type Registration } from '../../client/index.js';
import { connectNatsBus } from '../../transport/index.js';
import { always, eventually } from '../helpers/eventually.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { startNodes, waitConverged } from '../helpers/registry-cluster.js';
import { logWatch } from '../helpers/watch-log.js';

const SERVICE = 'big';
const COUNT = 2_100;

t.test('a query of more than one page returns every instance exactly once', async (t) => {
  const server = await natsServerFor(t);
  const bus = await connectNatsBus({ servers: server.url, name: 'paging-observer' });
  t.teardown(() => bus.close());
  await startNodes(t, server.url, ['n1', 'n2', 'n3'], bus);

  const client = await connect({ servers: server.url, ttlMs: 5_000, name: 'paging-client' });
  t.teardown(() => client.close());
  const regs: Registration[] = [];
  for (let i = 0; i < COUNT; i++) {
    regs.push(
      await client.register({ service: SERVICE, id: `big-${i}`, host: '127.0.0.1', port: 1 }),
    );
  }
  await regs[0]!.setStatus('warning');
  await startNodes(t, server.url, ['n4'], bus);
  await waitConverged(bus, { nodes: ['n1', 'n2', 'n3', 'n4'], instances: COUNT });

  const wrong: string[] = [];
  for (let q = 0; q < 20; q++) {
    const found = await client.discover(SERVICE);
    const unique = new Set(found.map((i) => i.id));
    if (found.length !== COUNT || unique.size !== COUNT)
      wrong.push(`query ${q}: ${found.length} instances, ${unique.size} distinct`);
  }
  t.same(wrong, [], 'every paged query returned each of the 2100 instances exactly once');

  const watcher = await connect({ servers: server.url, name: 'paging-watcher' });
  t.teardown(() => watcher.close());
  const watch = await watcher.watch(SERVICE, { resyncMs: 100 });
  const log = logWatch(watch);
  t.equal(watch.instances().length, COUNT, 'a new watcher starts with all 2100');
  await eventually(() => watch.instances().length === COUNT, {
    what: 'the watcher to hold all 2100',
  });
  // The watcher re-queries every 100 ms: about 20 paged snapshots in this window.
  await always(
    () => {
      if (log.removed.size > 0)
        throw new Error(`removed and re-added: ${[...log.removed.keys()].slice(0, 5).join(', ')}`);
      return true;
    },
    { what: 'no live instance removed by a periodic re-query', forMs: 2_000 },
  );
  t.pass('the watcher never dropped a live instance');
});
