/**
 * Message loss (DESIGN.md, "Replication"; issue 3 item 6): three registry nodes, each on its
 * own NATS connection wrapped in a FaultBus that drops 10 % of the incoming deltas and
 * session changes, while clients register and deregister continuously, and then lose the
 * last change of every client entirely (a lost tail). Once the drop stops,
 * every node converges to the same digest within two heartbeat periods, the state is exactly
 * what the clients were acknowledged, and the gap/pull machinery is what repaired it.
 *
 * The nodes run in this process (not as `roster node` processes) so their bus can be wrapped.
 */

import t from 'tap';
import { connect, type Registration, type RosterClient } from '../../client/index.js';
import { RegistryNode } from '../../nodes/index.js';
import { connectNatsBus } from '../../transport/index.js';
import { eventually, since } from '../helpers/eventually.js';
import { FaultBus } from '../helpers/fault-bus.js';
import { natsServerFor } from '../helpers/nats-server.js';

const HEARTBEAT_MS = 500;
const DROP_RATE = 0.1;
const CHURN_MS = 2_500;
const CLIENTS = 4;
const POOL = 40;
const SERVICE = 'lossy';
/** Allowance on top of 2 heartbeat periods for the pull round trip and event-loop scheduling. */
const SLACK_MS = 250;

t.test('10% delta loss: digests equal within two heartbeats after the drop stops', async (t) => {
  const server = await natsServerFor(t);

  const faults: FaultBus[] = [];
  const nodes: RegistryNode[] = [];
  for (let i = 0; i < 3; i++) {
    const inner = await connectNatsBus({ servers: server.url, name: `loss-n${i}` });
    const bus = new FaultBus(inner, {
      patterns: ['roster.v1.delta.>', 'roster.v1.sessions'],
      seed: 7_919 * (i + 1),
    });
    const node = new RegistryNode(bus, { id: `n${i}`, heartbeatMs: HEARTBEAT_MS });
    faults.push(bus);
    nodes.push(node);
    t.teardown(async () => {
      await node.close();
      await bus.close();
    });
  }
  await Promise.all(nodes.map((n) => n.start()));
  await eventually(
    () => nodes.every((n) => n.replicator.peers.alive(Date.now()).length === nodes.length - 1),
    { what: 'every node sees its two peers', timeoutMs: 5_000 },
  );

  const clients: RosterClient[] = [];
  for (let c = 0; c < CLIENTS; c++) {
    const client = await connect({ servers: server.url, ttlMs: 3_000, name: `loss-c${c}` });
    clients.push(client);
    t.teardown(() => client.close());
  }

  // Each client keeps its own acknowledged set: the truth the nodes must converge to.
  const held = clients.map(() => new Map<string, Registration>());
  for (const f of faults) f.setDropRate(DROP_RATE);
  let stop = false;
  let ops = 0;
  const churn = async (c: number): Promise<void> => {
    const client = clients[c]!;
    const mine = held[c]!;
    let step = 0;
    while (!stop) {
      const id = `c${c}-i${(step * 7 + c) % POOL}`;
      step++;
      const existing = mine.get(id);
      if (existing) {
        await existing.deregister();
        mine.delete(id);
      } else {
        mine.set(id, await client.register({ service: SERVICE, id, host: '10.0.0.1', port: step }));
      }
      ops++;
    }
  };
  const loops = clients.map((_, c) => churn(c));
  await new Promise((resolve) => setTimeout(resolve, CHURN_MS));
  stop = true;
  await Promise.all(loops);

  const dropped = faults.map((f) => f.stats.dropped);
  const owners = new Set(clients.map((c) => c.session.ownerNode));
  t.comment(`${ops} acknowledged operations; dropped per node: ${dropped.join(', ')}`);
  t.comment(`sessions owned by ${[...owners].join(', ')}`);
  t.ok(ops > 500, `enough churn to matter (${ops} operations)`);
  t.ok(
    dropped.every((d) => d > 0),
    'every node lost some deltas',
  );

  // A lost tail: the very last change of every client reaches no peer at all, so only the
  // origins' next heartbeats can reveal it. The clock starts when the loss stops.
  for (const f of faults) f.setDropRate(1);
  await Promise.all(
    clients.map(async (client, c) => {
      const id = `c${c}-tail`;
      held[c]!.set(id, await client.register({ service: SERVICE, id, host: '10.0.0.2', port: 1 }));
    }),
  );
  t.ok(new Set(nodes.map((n) => n.info().digest)).size > 1, 'the lost tail left digests unequal');
  for (const f of faults) f.heal();
  const healed = performance.now();
  const digests = () => nodes.map((n) => n.info().digest);
  await eventually(() => new Set(digests()).size === 1, {
    what: 'equal digests on all nodes',
    timeoutMs: 10_000,
    intervalMs: 5,
  });
  const convergeMs = since(healed);
  t.comment(`converged ${convergeMs} ms after the drop stopped (heartbeat ${HEARTBEAT_MS} ms)`);
  t.ok(
    convergeMs <= 2 * HEARTBEAT_MS + SLACK_MS,
    `converged within two heartbeat periods (+${SLACK_MS} ms): ${convergeMs} ms`,
  );

  const expected = [...held.flatMap((m) => [...m.keys()])].sort();
  for (const node of nodes) {
    const have = [...(node.store.service(SERVICE)?.keys() ?? [])].sort();
    t.same(have, expected, `${node.id} holds exactly the acknowledged instances`);
    t.equal(node.store.sessionCount, CLIENTS, `${node.id} holds every client session`);
  }
  const vectors = nodes.map((n) => JSON.stringify([...n.info().vector].sort()));
  t.equal(new Set(vectors).size, 1, 'equal version vectors');

  const gaps = nodes.reduce((sum, n) => sum + n.metrics.gaps.get(), 0);
  const pullsOk = nodes.reduce((sum, n) => sum + n.metrics.pulls.get({ result: 'ok' }), 0);
  const mismatches = nodes.reduce((sum, n) => sum + n.metrics.digestMismatches.get(), 0);
  t.comment(`gaps ${gaps}, successful pulls ${pullsOk}`);
  t.ok(gaps > 0, 'roster_node_gaps_total moved');
  t.ok(pullsOk > 0, 'roster_node_pulls_total{result="ok"} moved');
  t.equal(mismatches, 0, 'no equal-vector digest mismatch (that would be a merge bug)');
});
