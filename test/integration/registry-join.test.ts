/**
 * Joining and restarting (DESIGN.md, "Replication" 7; issue 3 item 2: a new or restarted
 * node serves queries only after it has caught up). With 1000 instances registered on three
 * `roster node` processes, a 4th node joins and catches up; then the node owning the client's
 * session is stopped and started again with the same id: it comes back with a new
 * incarnation, catches up, and the client's instances never leave a watcher's view.
 */

import t from 'tap';
import { connect } from '../../client/index.js';
import { encode } from '../../protocol/index.js';
import { connectNatsBus } from '../../transport/index.js';
import { clientProcessFor } from '../helpers/client-process.js';
import { always, eventually } from '../helpers/eventually.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { clusterInfo, nodeProcessFor } from '../helpers/node-process.js';
import { startNodes, TEST_HEARTBEAT_MS, waitConverged } from '../helpers/registry-cluster.js';
import { logWatch } from '../helpers/watch-log.js';

const SERVICE = 'bulk';
const COUNT = 1_000;
const TTL_MS = 3_000;

/** The `instances` field of the node's "node ready" log line: what it held when it began serving. */
function instancesWhenReady(logs: string): number | undefined {
  for (const line of logs.split('\n')) {
    if (!line.includes('"node ready"')) continue;
    try {
      const parsed = JSON.parse(line) as { instances?: number };
      return parsed.instances;
    } catch {
      // not JSON
    }
  }
  return undefined;
}

t.test('a 4th node joins; a restarted node comes back with a new incarnation', async (top) => {
  const t = top;
  const server = await natsServerFor(t);
  const bus = await connectNatsBus({ servers: server.url, name: 'join-observer' });
  t.teardown(() => bus.close());
  const first = ['n1', 'n2', 'n3'];
  const nodes = await startNodes(t, server.url, first, bus);

  const watcher = await connect({ servers: server.url, name: 'join-watcher' });
  t.teardown(() => watcher.close());
  const watch = await watcher.watch(SERVICE);
  const log = logWatch(watch);
  const client = await clientProcessFor(t, {
    natsUrl: server.url,
    service: SERVICE,
    count: COUNT,
    ttlMs: TTL_MS,
    idPrefix: 'bulk',
  });
  await waitConverged(bus, { nodes: first, instances: COUNT });
  await eventually(() => watch.instances().length === COUNT, { what: 'the watcher sees 1000' });

  await t.test('a 4th node joins and catches up before it serves', async (t) => {
    const n4 = await nodeProcessFor(top, {
      natsUrl: server.url,
      id: 'n4',
      heartbeatMs: TEST_HEARTBEAT_MS,
    });
    const infos = await waitConverged(bus, { nodes: [...first, 'n4'], instances: COUNT });
    const mine = infos.find((i) => i.node === 'n4')!;
    t.equal(mine.instances, COUNT, 'n4 holds all 1000');
    t.equal(mine.sessions, 1, 'and the session');
    await eventually(() => instancesWhenReady(n4.logs()) !== undefined, {
      what: 'the "node ready" log line of n4',
    });
    t.equal(instancesWhenReady(n4.logs()), COUNT, 'n4 held all 1000 when it began serving');
    nodes.push(n4);
  });

  await t.test('restart with the same id: new incarnation, no instance lost', async (t) => {
    const all = [...first, 'n4'];
    const owner = client.owner;
    const victim = nodes.find((n) => n.id === owner);
    if (!victim) throw new Error(`owner ${owner} is not a node of this test`);
    const oldInc = (await clusterInfo(bus)).find((i) => i.node === owner)!.inc;
    await victim.stop();
    const again = await nodeProcessFor(top, {
      natsUrl: server.url,
      id: owner,
      heartbeatMs: TEST_HEARTBEAT_MS,
    });
    const infos = await waitConverged(bus, { nodes: all, instances: COUNT, timeoutMs: 15_000 });
    const back = infos.find((i) => i.node === owner)!;
    t.not(back.inc, oldInc, `${owner} came back with a new incarnation`);
    t.ok(back.inc > oldInc, 'a greater one');
    await eventually(() => instancesWhenReady(again.logs()) !== undefined, {
      what: `the "node ready" log line of the restarted ${owner}`,
    });
    t.equal(
      instancesWhenReady(again.logs()),
      COUNT,
      `${owner} held all 1000 when it began serving again`,
    );
    // For one more TTL, so any lease the restart left behind has expired or been renewed.
    await always(() => log.removalsOf(client.ids).length === 0, {
      what: 'no removal after the restart',
      forMs: TTL_MS + 1_000,
    });
    await waitConverged(bus, { nodes: all, instances: COUNT });
    t.same(log.removalsOf(client.ids), [], 'the watcher never saw one of the 1000 removed');
    t.equal(watch.instances().length, COUNT, 'the watcher holds all 1000');
    t.comment(`client owner lines: ${JSON.stringify(client.lines.filter((l) => 'owner' in l))}`);
  });

  await t.test(
    'a joining node whose peers refuse snapshots does not serve an empty view',
    async (t) => {
      // Snapshot transfers that are started and never finished hold a peer's transfer slots
      // (4 per node, for 30 s). A node that joins then cannot load a snapshot from anyone; it
      // must not declare itself ready (and answer queries) with an empty store.
      const peers = (await clusterInfo(bus)).map((i) => i.node);
      for (const peer of peers) {
        for (let i = 0; i < 4; i++) {
          await bus.request(
            `roster.v1.node.${peer}.snapshot`,
            encode('snapshotRequest', { limit: 1 }),
            {
              timeoutMs: 2_000,
            },
          );
        }
      }
      // startNodeProcess resolves at the "node ready" line; allow for a fix that waits until
      // a transfer slot frees up (the abandoned captures expire after 30 s).
      const n5 = await nodeProcessFor(top, {
        natsUrl: server.url,
        id: 'n5',
        heartbeatMs: TEST_HEARTBEAT_MS,
        readyTimeoutMs: 45_000,
      });
      t.equal(
        instancesWhenReady(n5.logs()),
        COUNT,
        'n5 held all 1000 when it began serving (it must not serve before catching up)',
      );
      await waitConverged(bus, { nodes: [...peers, 'n5'], instances: COUNT, timeoutMs: 15_000 });
    },
  );
});
