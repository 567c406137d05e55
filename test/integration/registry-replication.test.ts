/**
 * Replication (DESIGN.md, "Invariants the tests prove": a registration acknowledged to a
 * client is in every live node's store and every watcher's pool after one propagation delay).
 * Three `roster node` processes; registrations from clients whose sessions land on different
 * nodes; every node's cluster-info (instance count, digest) and a watcher in this process
 * must show each registration, and each deregistration, shortly after it was acknowledged.
 */

import t from 'tap';
import { connect, type Registration, type RosterClient } from '../../client/index.js';
import { connectNatsBus } from '../../transport/index.js';
import { eventually, since } from '../helpers/eventually.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { startNodes, waitConverged } from '../helpers/registry-cluster.js';
import { logWatch } from '../helpers/watch-log.js';

const SERVICE = 'echo';
const NODES = ['n1', 'n2', 'n3'];
/** One propagation delay, generously: a delta crosses one NATS hop and is applied. */
const PROPAGATION_MS = 1_000;

t.test('registrations and deregistrations reach every node and every watcher', async (t) => {
  const server = await natsServerFor(t);
  const bus = await connectNatsBus({ servers: server.url, name: 'replication-observer' });
  t.teardown(() => bus.close());
  await startNodes(t, server.url, NODES, bus);

  const watcher = await connect({ servers: server.url, name: 'watcher' });
  t.teardown(() => watcher.close());
  const watch = await watcher.watch(SERVICE);
  const log = logWatch(watch);
  t.equal(watch.instances().length, 0, 'the watcher starts empty');

  // Several client sessions, so that (almost surely) more than one node owns some.
  const clients: RosterClient[] = [];
  for (let c = 0; c < 10; c++) {
    const client = await connect({ servers: server.url, ttlMs: 3_000, name: `rep-c${c}` });
    clients.push(client);
    t.teardown(() => client.close());
  }
  const regs: Registration[] = [];
  let worstMs = 0;
  for (let i = 0; i < 30; i++) {
    const client = clients[i % clients.length]!;
    const reg = await client.register({
      service: SERVICE,
      id: `echo-${i}`,
      host: '127.0.0.1',
      port: 8000 + i,
      tags: ['t1'],
      meta: { n: String(i) },
    });
    const acked = performance.now();
    regs.push(reg);
    await eventually(() => log.present.has(reg.id), {
      what: `the watcher to see ${reg.id}`,
      timeoutMs: PROPAGATION_MS,
      intervalMs: 1,
    });
    worstMs = Math.max(worstMs, since(acked));
  }
  const owners = new Set(regs.map((r) => r.ownerNode));
  t.comment(`owners: ${[...owners].join(', ')}; slowest ack→watcher ${worstMs} ms`);
  t.ok(owners.size >= 2, 'registrations were acknowledged by more than one node');

  const infos = await waitConverged(bus, {
    nodes: NODES,
    instances: 30,
    timeoutMs: PROPAGATION_MS,
  });
  t.ok(
    infos.every((i) => i.sessions === clients.length),
    'every node holds every session',
  );
  const seen = watch.instances();
  t.equal(seen.length, 30, 'the watcher holds all 30');
  const one = seen.find((i) => i.id === 'echo-7');
  t.match(
    one,
    { service: SERVICE, host: '127.0.0.1', port: 8007, tags: ['t1'], meta: { n: '7' } },
    'the watcher holds the registered record',
  );
  t.ok(
    seen.every((i) => i.ownerNode === regs.find((r) => r.id === i.id)?.ownerNode),
    'each instance is owned by the node that acknowledged it',
  );

  // Query discovery agrees, whichever node of the queue group answers.
  for (let q = 0; q < 6; q++) {
    const found = await watcher.discover(SERVICE);
    t.equal(found.length, 30, `query ${q} returns all 30`);
  }

  // An update (status) propagates as an update, not a removal.
  await regs[3]!.setStatus('warning');
  await eventually(() => watch.view.get('echo-3')?.status === 'warning', {
    what: 'the status change',
    timeoutMs: PROPAGATION_MS,
  });
  await waitConverged(bus, { nodes: NODES, instances: 30, timeoutMs: PROPAGATION_MS });
  t.same(log.removalsOf(regs.map((r) => r.id)), [], 'no removal so far');

  // Deregistration propagates the same way.
  const gone = regs.slice(0, 10);
  for (const reg of gone) {
    await reg.deregister();
    const acked = performance.now();
    await eventually(() => log.removed.has(reg.id), {
      what: `the watcher to drop ${reg.id}`,
      timeoutMs: PROPAGATION_MS,
      intervalMs: 1,
    });
    worstMs = Math.max(worstMs, since(acked));
  }
  await waitConverged(bus, { nodes: NODES, instances: 20, timeoutMs: PROPAGATION_MS });
  t.equal(watch.instances().length, 20, 'the watcher holds the 20 left');
  t.same(
    watch
      .instances()
      .map((i) => i.id)
      .sort(),
    regs
      .slice(10)
      .map((r) => r.id)
      .sort(),
    'exactly the ones still registered',
  );
  t.same(log.removalsOf(regs.slice(10).map((r) => r.id)), [], 'nothing else was removed');
  t.equal((await watcher.discover(SERVICE)).length, 20, 'query agrees');

  // Closing a client removes its instances everywhere.
  await clients[0]!.close();
  const left = regs.slice(10).filter((_, i) => (i + 10) % clients.length !== 0);
  await waitConverged(bus, { nodes: NODES, instances: left.length, timeoutMs: PROPAGATION_MS });
  await eventually(() => watch.instances().length === left.length, {
    what: 'the watcher drops the closed client',
    timeoutMs: PROPAGATION_MS,
  });
  t.comment(`slowest acknowledgement→watcher: ${worstMs} ms`);
});
