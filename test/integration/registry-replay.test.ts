/**
 * A deregistered instance is never resurrected by a replayed delta (DESIGN.md, "Replication"
 * 6). The `put` and `sput` deltas of a registration are captured off the wire with a raw bus;
 * the instance is deregistered; then the captured bytes are published again, verbatim and
 * several times, from a separate connection: to three running nodes and a watcher, and once
 * more after a 4th node has joined (it learns the removal from a snapshot, not from the log).
 * The instance reappears nowhere.
 */

import t, { type Test } from 'tap';
import { connect, type RosterClient, type ServiceWatch } from '../../client/index.js';
import { type Change, decodeAs } from '../../protocol/index.js';
import { connectNatsBus } from '../../transport/index.js';
import { eventually } from '../helpers/eventually.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { nodeProcessFor } from '../helpers/node-process.js';
import { startNodes, TEST_HEARTBEAT_MS, waitConverged } from '../helpers/registry-cluster.js';
import { logWatch, type WatchLog } from '../helpers/watch-log.js';

const SERVICE = 'replayed';
const NODES = ['n1', 'n2', 'n3'];

interface Captured {
  readonly subject: string;
  readonly bytes: Uint8Array;
  readonly change: Change;
}

t.test('a replayed put never resurrects a deregistered instance', async (t) => {
  const server = await natsServerFor(t);
  const bus = await connectNatsBus({ servers: server.url, name: 'replay-observer' });
  t.teardown(() => bus.close());
  await startNodes(t, server.url, NODES, bus);

  const captured: Captured[] = [];
  const capture = (subject: string) =>
    bus.subscribe(subject, (m) => {
      const bytes = Uint8Array.from(m.data);
      captured.push({ subject: m.subject, bytes, change: decodeAs(bytes, 'change') });
    });
  capture(`roster.v1.delta.${SERVICE}`);
  capture('roster.v1.sessions');
  await bus.flush();

  const watcher = await connect({ servers: server.url, name: 'replay-watcher' });
  t.teardown(() => watcher.close());
  const watch = await watcher.watch(SERVICE);
  const log = logWatch(watch);

  const client = await connect({ servers: server.url, ttlMs: 3_000, name: 'replay-client' });
  t.teardown(() => client.close());
  const keep = await client.register({ service: SERVICE, id: 'keep', host: '127.0.0.1', port: 1 });
  const victim = await client.register({
    service: SERVICE,
    id: 'ghost',
    host: '127.0.0.1',
    port: 2,
  });
  const put = await eventually(
    () => captured.find((c) => c.change.op === 'put' && c.change.instance.id === 'ghost'),
    { what: "the ghost's put delta" },
  );
  await waitConverged(bus, { nodes: NODES, instances: 2 });

  await victim.deregister();
  await eventually(() => log.removed.has('ghost'), { what: 'the watcher to drop the ghost' });
  await waitConverged(bus, { nodes: NODES, instances: 1 });
  t.ok(
    captured.some((c) => c.change.op === 'del' && c.change.id === 'ghost'),
    'the deregistration went out as a del delta',
  );
  t.ok(captured.length >= 4, `captured ${captured.length} deltas (sput, puts, del)`);

  const replayer = await connectNatsBus({ servers: server.url, name: 'replayer' });
  t.teardown(() => replayer.close());

  /**
   * Replays the ghost's put three times, with every other captured delta but the del, then
   * proves every node and the watcher processed the replay. Each marker adds one instance.
   */
  let expected = 1;
  const replayAndProve = async (marker: string, nodes: readonly string[]): Promise<void> => {
    for (let round = 0; round < 3; round++) {
      replayer.publish(put.subject, put.bytes);
      for (const c of captured) {
        if (c.change.op === 'del') continue;
        replayer.publish(c.subject, c.bytes);
      }
    }
    await replayer.flush();
    // On one server, each node's connection is FIFO: once a registration made after the
    // flush is applied everywhere, every node has processed the replay before it.
    await client.register({ service: SERVICE, id: marker, host: '127.0.0.1', port: 3 });
    expected++;
    await eventually(() => watch.view.get(marker) !== undefined, { what: `marker ${marker}` });
    await waitConverged(bus, { nodes, instances: expected });
  };

  await replayAndProve('marker-1', NODES);
  await assertNoGhost(t, watcher, watch, log, NODES, 'after the replay');

  // A 4th node joins after the removal: it knows of it only from a snapshot.
  await nodeProcessFor(t, {
    natsUrl: server.url,
    id: 'n4',
    heartbeatMs: TEST_HEARTBEAT_MS,
  });
  const all = [...NODES, 'n4'];
  await waitConverged(bus, { nodes: all, instances: expected });
  await replayAndProve('marker-2', all);
  await assertNoGhost(t, watcher, watch, log, all, 'after a replay to a newly joined node');
  t.ok(watch.view.get(keep.id), 'the instance that was never removed is still there');
});

async function assertNoGhost(
  t: Test,
  watcher: RosterClient,
  watch: ServiceWatch,
  log: WatchLog,
  nodes: readonly string[],
  when: string,
): Promise<void> {
  const removedAt = log.removed.get('ghost')![0]!;
  const readded = (log.present.get('ghost') ?? 0) > removedAt;
  t.notOk(readded, `the watcher never saw the ghost again (${when})`);
  t.equal(watch.view.get('ghost'), undefined, `the watcher does not hold the ghost (${when})`);
  // Ask repeatedly: the queue group spreads the queries over the nodes.
  let answeredWithGhost = 0;
  for (let i = 0; i < nodes.length * 3; i++) {
    const found = await watcher.discover(SERVICE);
    if (found.some((inst) => inst.id === 'ghost')) answeredWithGhost++;
  }
  t.equal(answeredWithGhost, 0, `no query is answered with the ghost (${when})`);
}
