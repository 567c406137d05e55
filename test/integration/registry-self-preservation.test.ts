/**
 * Self-preservation (issue 3, item 3): a node never expires sessions, and never judges its
 * peers dead, for a fault of its own. The session's owner is stopped (SIGSTOP) for longer
 * than the session TTL plus the peer timeout, then resumed: meanwhile its client moves the
 * session to another node; after resuming, the stopped node must not expire anything or
 * remove anyone's records, and no watcher ever sees an instance leave.
 */
import t from 'tap';
import { connect } from '../../client/index.js';
import { connectNatsBus } from '../../transport/index.js';
import { clientProcessFor } from '../helpers/client-process.js';
import { eventually } from '../helpers/eventually.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { startNodes, waitConverged } from '../helpers/registry-cluster.js';
import { logWatch, promSum } from '../helpers/watch-log.js';

const SERVICE = 'steadfast';
const NODES = ['n1', 'n2', 'n3'];
const TTL_MS = 2_000;
/** Longer than the TTL and than the peer timeout (3 heartbeats of 500 ms + 500 ms). */
const STOPPED_MS = 3_500;

t.test('a stopped and resumed owner expires nothing and judges no peer', async (t) => {
  const server = await natsServerFor(t);
  const bus = await connectNatsBus({ servers: server.url, name: 'self-preservation-observer' });
  t.teardown(() => bus.close());
  const nodes = await startNodes(t, server.url, NODES, bus);

  const watcher = await connect({ servers: server.url, name: 'self-preservation-watcher' });
  t.teardown(() => watcher.close());
  const watch = await watcher.watch(SERVICE);
  const log = logWatch(watch);

  const client = await clientProcessFor(t, {
    natsUrl: server.url,
    service: SERVICE,
    count: 30,
    ttlMs: TTL_MS,
    idPrefix: 'steady',
  });
  await eventually(() => watch.instances().length === 30, { what: 'the watcher sees 30' });
  const owner = nodes.find((n) => n.id === client.owner);
  if (!owner) throw new Error(`owner ${client.owner} is not one of the test's nodes`);

  process.kill(owner.pid, 'SIGSTOP');
  try {
    await eventually(() => client.owner !== owner.id, {
      what: 'the client moved its session to a live node',
      timeoutMs: TTL_MS + 2_000,
    });
    await new Promise((resolve) => setTimeout(resolve, STOPPED_MS));
  } finally {
    process.kill(owner.pid, 'SIGCONT');
  }

  await waitConverged(bus, { nodes: NODES, instances: 30, timeoutMs: 5_000 });
  // Let the resumed node run its lease checks and janitor sweeps for a while.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  await waitConverged(bus, { nodes: NODES, instances: 30, timeoutMs: 2_000 });

  const metrics = await owner.metrics();
  t.equal(
    promSum(metrics, 'roster_node_session_expiries_total'),
    0,
    'the resumed node expired no session',
  );
  t.equal(promSum(metrics, 'roster_node_orphans_removed_total'), 0, 'and removed no orphan');
  t.ok(promSum(metrics, 'roster_node_stalls_total') >= 1, 'it noticed its own stall');
  for (const other of nodes.filter((n) => n !== owner)) {
    const m = await other.metrics();
    t.equal(promSum(m, 'roster_node_session_expiries_total'), 0, `${other.id} expired no session`);
  }
  t.same(log.removalsOf(client.ids), [], 'the watcher never saw an instance leave');
  t.equal(watch.instances().length, 30);
});
