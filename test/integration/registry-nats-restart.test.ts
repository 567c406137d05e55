/**
 * nats-server restart under a running cluster (DESIGN.md: "Last known good", and "after any
 * mix of ... NATS restarts, all nodes converge"). Three `roster node` processes, a client
 * process holding 100 instances and a watcher in this process; the one nats-server is
 * restarted on the same port. Everyone reconnects; the watcher goes stale and then fresh
 * again without ever dropping an instance; the nodes converge; and the cluster serves a new
 * registration afterwards.
 */

import t from 'tap';
import { connect } from '../../client/index.js';
import { connectNatsBus } from '../../transport/index.js';
import { clientProcessFor } from '../helpers/client-process.js';
import { always, eventually, since } from '../helpers/eventually.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { startNodes, waitConverged } from '../helpers/registry-cluster.js';
import { logWatch } from '../helpers/watch-log.js';

const SERVICE = 'steady';
const NODES = ['n1', 'n2', 'n3'];
const TTL_MS = 3_000;
const COUNT = 100;

t.test('nats-server restart: reconnect, no removal, convergence', async (t) => {
  const server = await natsServerFor(t, { jetstream: false });
  const fast = { reconnectTimeWait: 100, reconnectJitter: 50 } as const;
  const bus = await connectNatsBus({ servers: server.url, name: 'restart-observer', ...fast });
  t.teardown(() => bus.close());
  const nodes = await startNodes(t, server.url, NODES, bus);

  const watcher = await connect({ servers: server.url, name: 'restart-watcher', nats: fast });
  t.teardown(() => watcher.close());
  const watch = await watcher.watch(SERVICE);
  const log = logWatch(watch);
  const client = await clientProcessFor(t, {
    natsUrl: server.url,
    service: SERVICE,
    count: COUNT,
    ttlMs: TTL_MS,
    idPrefix: 'st',
  });
  await eventually(() => watch.instances().length === COUNT, { what: 'the watcher sees 100' });
  const before = await waitConverged(bus, { nodes: NODES, instances: COUNT });

  const restarting = performance.now();
  await server.restart();
  t.comment(`nats-server restarted in ${since(restarting)} ms`);

  await eventually(() => log.types.includes('stale'), { what: 'the watcher to go stale' });
  await eventually(() => log.types.lastIndexOf('fresh') > log.types.indexOf('stale'), {
    what: 'the watcher to be fresh again',
    timeoutMs: 10_000,
  });
  const infos = await waitConverged(bus, { nodes: NODES, instances: COUNT, timeoutMs: 10_000 });
  t.comment(`fresh and converged ${since(restarting)} ms after the restart began`);
  for (const info of infos) {
    const was = before.find((b) => b.node === info.node)!;
    t.equal(info.inc, was.inc, `${info.node} kept running (same incarnation)`);
    t.equal(info.sessions, 1, `${info.node} holds the one session`);
  }
  t.ok(client.running, 'the client process is still running');
  for (const node of nodes) t.ok(node.running, `node ${node.id} is still running`);

  // The client renews on the new connection, so its instances outlive a full TTL from now.
  await always(
    () => log.removalsOf(client.ids).length === 0 && watch.instances().length === COUNT,
    { what: 'no instance leaves the watcher', forMs: TTL_MS + 1_000 },
  );
  t.same(log.removalsOf(client.ids), [], 'the watcher never saw a removal');
  t.notOk(watch.stale, 'the watcher is fresh');

  // And the cluster serves new work.
  const late = await connect({ servers: server.url, name: 'restart-late' });
  t.teardown(() => late.close());
  await late.register({ service: SERVICE, id: 'late', host: '127.0.0.1', port: 1 });
  await eventually(() => watch.view.get('late') !== undefined, { what: 'a new registration' });
  await waitConverged(bus, { nodes: NODES, instances: COUNT + 1 });
});
