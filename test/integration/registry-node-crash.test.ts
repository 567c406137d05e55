/**
 * A crashed registry node never removes a live instance from any pool (DESIGN.md,
 * "Replication" 4-5). A client process holds 200 instances on one session; the node that owns
 * the session is killed with SIGKILL. The client re-registers through the queue group, so
 * within one session TTL every instance is owned by a live node, the live nodes agree, and a
 * watcher in this process never sees one of the 200 removed, not even after the orphan grace
 * period of the dead node has run out.
 */

import t from 'tap';
import { connect } from '../../client/index.js';
import { connectNatsBus } from '../../transport/index.js';
import { clientProcessFor } from '../helpers/client-process.js';
import { always, eventually, since } from '../helpers/eventually.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { startNodes, TEST_HEARTBEAT_MS, waitConverged } from '../helpers/registry-cluster.js';
import { logWatch, promSum } from '../helpers/watch-log.js';

const SERVICE = 'crashy';
const NODES = ['n1', 'n2', 'n3'];
const TTL_MS = 3_000;
const COUNT = 200;
/** Slack on top of one TTL for the move: request round trips and 200 re-registrations. */
const MOVE_SLACK_MS = 1_000;

t.test('kill -9 of the owning node: no instance leaves any view', async (t) => {
  const server = await natsServerFor(t);
  const bus = await connectNatsBus({ servers: server.url, name: 'crash-observer' });
  t.teardown(() => bus.close());
  const nodes = await startNodes(t, server.url, NODES, bus);

  const watcher = await connect({ servers: server.url, name: 'crash-watcher' });
  t.teardown(() => watcher.close());
  const watch = await watcher.watch(SERVICE);
  const log = logWatch(watch);

  const client = await clientProcessFor(t, {
    natsUrl: server.url,
    service: SERVICE,
    count: COUNT,
    ttlMs: TTL_MS,
    idPrefix: 'cr',
  });
  await eventually(() => watch.instances().length === COUNT, { what: 'the watcher sees 200' });
  await waitConverged(bus, { nodes: NODES, instances: COUNT });
  const victim = nodes.find((n) => n.id === client.owner);
  if (!victim) throw new Error(`the client's owner ${client.owner} is not one of ${NODES}`);
  const live = NODES.filter((id) => id !== victim.id);
  t.ok(
    watch.instances().every((i) => i.ownerNode === victim.id),
    `all 200 owned by ${victim.id} before the crash`,
  );

  await victim.kill('SIGKILL');
  const killed = performance.now();

  // Within one TTL (+ slack) every instance is owned by a live node, as query and watch show.
  await eventually(
    async () => {
      const found = await watcher.discover(SERVICE);
      if (found.length !== COUNT) throw new Error(`query returned ${found.length}`);
      const stranded = found.filter((i) => !live.includes(i.ownerNode));
      if (stranded.length > 0) throw new Error(`${stranded.length} still owned by ${victim.id}`);
      const viewed = watch.instances();
      if (viewed.length !== COUNT || viewed.some((i) => !live.includes(i.ownerNode)))
        throw new Error('the watcher has not seen every move yet');
      return true;
    },
    {
      what: 'every instance owned by a live node',
      timeoutMs: TTL_MS + MOVE_SLACK_MS,
      intervalMs: 20,
    },
  );
  const movedMs = since(killed);
  const infos = await waitConverged(bus, { nodes: live, instances: COUNT, timeoutMs: 2_000 });
  const convergedMs = since(killed);
  t.comment(`moved to a live owner in ${movedMs} ms, live nodes converged in ${convergedMs} ms`);
  t.ok(movedMs <= TTL_MS + MOVE_SLACK_MS, `moved within one TTL (+slack): ${movedMs} ms`);
  t.ok(
    convergedMs <= TTL_MS + MOVE_SLACK_MS,
    `live nodes' digests equal within one TTL (+slack): ${convergedMs} ms`,
  );
  t.ok(
    infos.every((i) => i.sessions === 1),
    'the session moved (one session record, not an orphan copy)',
  );
  // The client process reports its owner on stdout once its re-registration is answered; the
  // cluster's views can show the move a moment before that line is read here.
  await eventually(() => client.owner !== victim.id, {
    what: 'the client reports a new owner',
    timeoutMs: 2_000,
  });
  t.ok(live.includes(client.owner), `the client reports a live owner (${client.owner})`);

  // Keep watching until the dead node's orphan grace has certainly run out: dead after 3
  // heartbeats + 500 ms, then one TTL, then the default orphan grace of 2 s, then a sweep.
  const graceEnd = killed + TEST_HEARTBEAT_MS * 3 + 500 + TTL_MS + 2_000 + 1_000;
  await always(
    () => log.removalsOf(client.ids).length === 0 && watch.instances().length === COUNT,
    { what: 'no removal of the 200', forMs: Math.max(0, graceEnd - performance.now()) },
  );
  t.same(log.removalsOf(client.ids), [], 'the watcher never saw one of the 200 removed');
  t.equal(watch.instances().length, COUNT, 'the watcher still holds all 200');
  await waitConverged(bus, { nodes: live, instances: COUNT, timeoutMs: 2_000 });
  let orphansRemoved = 0;
  for (const node of nodes.filter((n) => n !== victim))
    orphansRemoved += promSum(await node.metrics(), 'roster_node_orphans_removed_total');
  t.equal(orphansRemoved, 0, 'the janitor had nothing to remove: every record was reclaimed');
  t.ok(client.running, 'the client process is still running');
});
