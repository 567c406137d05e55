/**
 * A crashed client's instances leave every pool within its session TTL plus one second; a
 * gracefully stopped one's before its process exits (DESIGN.md, "Invariants the tests
 * prove"). Three `roster node` processes, a watcher in this process, and two client
 * processes: one killed with SIGKILL, one stopped with SIGTERM.
 */

import t from 'tap';
import { connect } from '../../client/index.js';
import { connectNatsBus } from '../../transport/index.js';
import { clientProcessFor } from '../helpers/client-process.js';
import { eventually } from '../helpers/eventually.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { startNodes, waitConverged } from '../helpers/registry-cluster.js';
import { logWatch } from '../helpers/watch-log.js';

const SERVICE = 'ephemeral';
const NODES = ['n1', 'n2', 'n3'];
const TTL_MS = 2_000;
/** The delivery margin allowed between the process exit event and the last removal. */
const EXIT_MARGIN_MS = 100;

t.test('client crash and graceful stop', async (t) => {
  const server = await natsServerFor(t);
  const bus = await connectNatsBus({ servers: server.url, name: 'client-crash-observer' });
  t.teardown(() => bus.close());
  await startNodes(t, server.url, NODES, bus);

  const watcher = await connect({ servers: server.url, name: 'client-crash-watcher' });
  t.teardown(() => watcher.close());
  const watch = await watcher.watch(SERVICE);
  const log = logWatch(watch);

  const [crashing, stopping] = await Promise.all([
    clientProcessFor(t, {
      natsUrl: server.url,
      service: SERVICE,
      count: 50,
      ttlMs: TTL_MS,
      idPrefix: 'crash',
    }),
    clientProcessFor(t, {
      natsUrl: server.url,
      service: SERVICE,
      count: 20,
      ttlMs: TTL_MS,
      idPrefix: 'grace',
    }),
  ]);
  await eventually(() => watch.instances().length === 70, { what: 'the watcher sees 70' });
  await waitConverged(bus, { nodes: NODES, instances: 70 });

  await t.test('kill -9: gone from the watcher within TTL + 1 s', async (t) => {
    const exit = await crashing.kill('SIGKILL');
    t.equal(exit.signal, 'SIGKILL', 'the client process was killed');
    await eventually(() => crashing.ids.every((id) => log.removed.has(id)), {
      what: 'every instance of the crashed client removed',
      timeoutMs: TTL_MS + 3_000,
    });
    const last = Math.max(...crashing.ids.map((id) => log.removed.get(id)![0]!));
    const first = Math.min(...crashing.ids.map((id) => log.removed.get(id)![0]!));
    const lastMs = Math.round(last - exit.at);
    t.comment(`removals seen ${Math.round(first - exit.at)}..${lastMs} ms after the kill`);
    t.ok(lastMs <= TTL_MS + 1_000, `all 50 left within TTL + 1 s (${lastMs} ms)`);
    t.ok(
      Math.round(first - exit.at) > 0,
      'not before the crash (sanity: the removals are caused by the expiry)',
    );
    await waitConverged(bus, { nodes: NODES, instances: 20, timeoutMs: 2_000 });
    t.same(log.removalsOf(stopping.ids), [], "the other client's instances stayed");
  });

  await t.test('SIGTERM: gone from the watcher before the process has exited', async (t) => {
    const exit = await stopping.stop();
    t.equal(exit.code, 0, 'the client process exited 0');
    t.ok(
      stopping.lines.some((l) => l.closed === true),
      'the client closed its session before exiting',
    );
    const removedAtExit = stopping.ids.filter((id) => {
      const at = log.removed.get(id)?.[0];
      return at !== undefined && at <= exit.at;
    }).length;
    await eventually(() => stopping.ids.every((id) => log.removed.has(id)), {
      what: `every instance removed within ${EXIT_MARGIN_MS} ms of the exit`,
      timeoutMs: EXIT_MARGIN_MS,
      intervalMs: 2,
    });
    const lastMs = Math.max(...stopping.ids.map((id) => log.removed.get(id)![0]! - exit.at));
    t.comment(
      `${removedAtExit}/20 removals seen before the exit event; the last ${Math.round(lastMs)} ms relative to it`,
    );
    t.ok(lastMs <= EXIT_MARGIN_MS, 'all removed by the exit (within the delivery margin)');
    await waitConverged(bus, { nodes: NODES, instances: 0, timeoutMs: 2_000 });
    t.equal(watch.instances().length, 0, 'the watcher is empty');
  });
});
