/**
 * Propagation: how long after a registration is acknowledged a watcher has applied it.
 *
 * One nats-server (NATS_URL when set, otherwise a fresh local one), 3 registry nodes as child
 * processes, and in this process: CLIENTS registering clients (RosterClient, one session
 * each, used round-robin) and one watcher (client.watch of the bench service, on its own NATS
 * connection). REGISTRATIONS registrations (default 2000, after WARMUP unmeasured ones) are
 * made one at a time, each awaited. For each, latency = the watcher's 'added' event time minus
 * the moment register() resolved, both read from performance.now() in this one process (one
 * clock). A watcher that applied the registration before the acknowledgement reached the
 * client counts as 0 ms (and is counted in applied_before_ack).
 *
 * The floor is measured in the same run, on the same server, before the registrations: raw bus
 * request-reply (200 bytes, echo responder on a second connection of this process),
 * FLOOR_REQUESTS sequential round trips after a warm-up.
 *
 * Arguments: --registrations N, --warmup N, --clients N, --floor-requests N, --tsx (run the
 * node processes from TypeScript under tsx instead of compiled JavaScript),
 * --profile DIR (write a CPU profile of each node process to DIR).
 */

import { connect, type RosterClient } from '../../client/index.js';
import {
  type BenchNats,
  benchPids,
  CpuMeter,
  closeNodes,
  measureFloor,
  type NodeProcess,
  spawnOptionsFromArgs,
  startBenchNats,
  startNodes,
  waitConverged,
} from './cluster.js';
import type { BenchOptions, BenchResult, BenchTarget } from './run.js';
import { intArg, round, sleep, summarize } from './util.js';

const SERVICE = 'bench-propagation';
const NODES = 3;
const APPLY_TIMEOUT_MS = 10_000;

export const targets: readonly BenchTarget[] = [{ metric: 'p99_ms', op: '<=', value: 5 }];

export async function run(options: BenchOptions): Promise<BenchResult> {
  const count = intArg(options.args, '--registrations', 2000);
  const warmup = intArg(options.args, '--warmup', 200);
  const clientCount = intArg(options.args, '--clients', 3);
  const floorRequests = intArg(options.args, '--floor-requests', 2000);

  let nats: BenchNats | undefined;
  let nodes: NodeProcess[] = [];
  const clients: RosterClient[] = [];
  try {
    nats = await startBenchNats(options.log);
    options.log(`starting ${NODES} registry nodes`);
    nodes = await startNodes(
      nats.url,
      NODES,
      await spawnOptionsFromArgs(options.args, options.log),
    );
    await waitConverged(nats.control, NODES, { timeoutMs: 15_000 });

    options.log(`bus floor: ${floorRequests} sequential request-reply round trips`);
    const floorSamples = summarize(await measureFloor(nats.url, floorRequests));

    const watcherClient = await connect({ servers: nats.url, name: 'bench-watcher' });
    clients.push(watcherClient);
    for (let k = 0; k < clientCount; k++) {
      clients.push(await connect({ servers: nats.url, name: `bench-registrar-${k}` }));
    }
    const registrars = clients.slice(1);
    const watch = await watcherClient.watch(SERVICE);
    const addedAt = new Map<string, number>();
    watch.on((e) => {
      if (e.type === 'added') addedAt.set(e.instance.id, performance.now());
    });

    const owners = new Map<string, number>();
    const ackAt = new Map<string, number>();
    const ackLatency: number[] = [];
    const registerOne = async (i: number, measured: boolean): Promise<void> => {
      const id = `${measured ? 'm' : 'w'}-${i}`;
      const client = registrars[i % registrars.length]!;
      const t0 = performance.now();
      const reg = await client.register({
        service: SERVICE,
        id,
        host: '10.0.0.1',
        port: 10_000 + (i % 50_000),
        tags: ['bench'],
        meta: { az: 'a' },
      });
      const t1 = performance.now();
      if (!measured) return;
      ackAt.set(id, t1);
      ackLatency.push(t1 - t0);
      owners.set(reg.ownerNode, (owners.get(reg.ownerNode) ?? 0) + 1);
    };

    options.log(`warm-up: ${warmup} registrations`);
    for (let i = 0; i < warmup; i++) await registerOne(i, false);
    options.log(`measuring: ${count} sequential registrations`);
    const cpu = new CpuMeter(benchPids(nats, nodes));
    cpu.start();
    const started = performance.now();
    for (let i = 0; i < count; i++) await registerOne(i, true);
    const elapsed = performance.now() - started;
    const cpuPercent = cpu.stop();

    const deadline = performance.now() + APPLY_TIMEOUT_MS;
    const allApplied = () => [...ackAt.keys()].every((id) => addedAt.has(id));
    while (!allApplied() && performance.now() < deadline) await sleep(5);

    const latencies: number[] = [];
    let beforeAck = 0;
    let missing = 0;
    for (const [id, ack] of ackAt) {
      const added = addedAt.get(id);
      if (added === undefined) {
        missing++;
        continue;
      }
      if (added < ack) beforeAck++;
      latencies.push(Math.max(0, added - ack));
    }
    const lat = summarize(latencies);
    const ack = summarize(ackLatency);
    if (missing > 0) options.log(`WARNING: ${missing} registrations never reached the watcher`);

    return {
      p50_ms: lat.p50,
      p99_ms: lat.p99,
      floor_p50_ms: floorSamples.p50,
      p90_ms: lat.p90,
      max_ms: lat.max,
      mean_ms: lat.mean,
      floor_p99_ms: floorSamples.p99,
      ack_p50_ms: ack.p50,
      ack_p99_ms: ack.p99,
      registrations: count,
      registrations_per_s: Math.round((count * 1000) / elapsed),
      applied_before_ack: beforeAck,
      missing,
      cpu_percent: cpuPercent,
      owners: [...owners].map(([n, c]) => `${n}:${c}`).join(' '),
      clock: 'one process (registrars + watcher), performance.now()',
      nodes: NODES,
      nats_server: nats.version,
      node: process.version,
      floor_requests: floorRequests,
      mean_floor_ms: round(floorSamples.mean, 3),
    };
  } finally {
    for (const c of clients.reverse()) await c.close().catch(() => undefined);
    await closeNodes(nodes);
    await nats?.stop();
  }
}
