/**
 * Scale: 100 000 instances on 10 000 sessions over 3 registry nodes.
 *
 * One nats-server (NATS_URL when set, otherwise a fresh local one), 3 registry nodes as child
 * processes (n1..n3). The registry is filled with raw registerRequests from LOADERS NATS
 * connections of this process (default 4), 128 requests in flight each: instance g
 * (0 ≤ g < INSTANCES) is `i-<g>` of service `svc-<⌊g/10⌋>` (10 instances per service,
 * INSTANCES/10 services) in session `g mod SESSIONS`; session s is owned by node n(1 + s mod 3)
 * (owner-addressed subject), with the maximum TTL (1 h) so nothing expires during the run.
 * Each session thus holds INSTANCES/SESSIONS instances of as many services, and each service
 * has instances owned by all three nodes.
 *
 * Measured:
 * - rss_mb_max: the largest VmRSS (/proc/PID/status) of any node process, sampled every
 *   100 ms from start to end (load, queries and the join included);
 * - query_p99_ms: QUERIES (default 10 000) sequential single-service queries of a random
 *   10-instance service through the node queue group with RosterClient.discover() (request,
 *   reply decoded and validated), after 500 warm-up queries;
 * - join_sync_ms: a 4th node process is started; the time from its `node.start()` call until
 *   the cluster view (scatter-gather, polled every 10 ms) shows all 4 nodes ready with equal
 *   digests. Module loading before start() (tsx compiling TypeScript) is reported apart
 *   (join_from_spawn_ms counts from process spawn).
 *
 * The bus floor (raw request-reply between two connections of this process, 2000 round trips)
 * is measured on the loaded cluster just before the queries; GC pauses and event-loop delay of
 * the nodes during the queries are reported with them.
 *
 * Arguments: --instances N, --sessions N, --queries N, --loaders N, --tsx (node processes from
 * TypeScript under tsx instead of compiled JavaScript), --profile DIR (CPU profiles
 * of the node processes), --heap-snapshot DIR (heap snapshots of n1 and the joined node at the
 * end, after every figure has been taken).
 */

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { connect, type RosterClient } from '../../client/index.js';
import { encodeTrusted, isRosterError, type MessageOf, Subjects } from '../../protocol/index.js';
import { connectNatsBus, type NatsBus } from '../../transport/nats-bus.js';
import {
  type BenchNats,
  benchPids,
  type ClusterInfo,
  CpuMeter,
  closeNodes,
  clusterView,
  converged,
  measureFloor,
  NodeProcess,
  RssSampler,
  spawnOptionsFromArgs,
  startBenchNats,
  startNodes,
  waitConverged,
} from './cluster.js';
import type { BenchOptions, BenchResult, BenchTarget } from './run.js';
import { epochMs, intArg, round, sleep, stringArg, summarize } from './util.js';

const NODES = 3;
const PER_SERVICE = 10;
const IN_FLIGHT_PER_LOADER = 128;
const TTL_MS = 3_600_000;
const REQUEST_TIMEOUT_MS = 10_000;
const WARMUP_QUERIES = 500;

export const targets: readonly BenchTarget[] = [
  { metric: 'rss_mb_max', op: '<=', value: 200 },
  { metric: 'join_sync_ms', op: '<=', value: 3000 },
  { metric: 'query_p99_ms', op: '<=', value: 2 },
];

async function load(
  buses: readonly NatsBus[],
  owners: readonly string[],
  instances: number,
  sessions: number,
  log: (line: string) => void,
): Promise<{ seconds: number; errors: string }> {
  const subjects = new Subjects();
  const errors = new Map<string, number>();
  let next = 0;
  let done = 0;
  const started = performance.now();
  let lastLog = started;
  const worker = async (bus: NatsBus): Promise<void> => {
    for (let g = next++; g < instances; g = next++) {
      const s = g % sessions;
      const service = `svc-${Math.floor(g / PER_SERVICE)}`;
      const body: MessageOf<'registerRequest'> = {
        session: { id: `sess-${s}`, secret: `bench-secret-${s}-0123456789abcdef`, ttlMs: TTL_MS },
        instance: {
          id: `i-${g}`,
          service,
          host: `10.${(g >> 16) & 255}.${(g >> 8) & 255}.${g & 255}`,
          port: 8000 + (g % 1000),
          tags: ['bench', 'v1'],
          meta: { az: `az-${g % 3}` },
          weight: 1,
        },
      };
      try {
        await bus.request(
          subjects.registerAt(service, owners[s % owners.length]!),
          encodeTrusted('registerRequest', body),
          { timeoutMs: REQUEST_TIMEOUT_MS },
        );
      } catch (err) {
        const code = isRosterError(err) ? err.code : 'other';
        errors.set(code, (errors.get(code) ?? 0) + 1);
      }
      done++;
      const now = performance.now();
      if (now - lastLog > 5000) {
        lastLog = now;
        log(
          `  ${done} / ${instances} registered (${Math.round((done * 1000) / (now - started))}/s)`,
        );
      }
    }
  };
  await Promise.all(
    buses.flatMap((bus) => Array.from({ length: IN_FLIGHT_PER_LOADER }, () => worker(bus))),
  );
  return {
    seconds: (performance.now() - started) / 1000,
    errors: [...errors].map(([c, n]) => `${c}:${n}`).join(' ') || 'none',
  };
}

async function queries(
  client: RosterClient,
  services: number,
  count: number,
): Promise<{ latencies: number[]; wrong: number }> {
  let wrong = 0;
  const one = async (): Promise<number> => {
    const service = `svc-${Math.floor(Math.random() * services)}`;
    const t0 = performance.now();
    const found = await client.discover(service);
    const ms = performance.now() - t0;
    if (found.length !== PER_SERVICE) wrong++;
    return ms;
  };
  for (let i = 0; i < WARMUP_QUERIES; i++) await one();
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) latencies.push(await one());
  return { latencies, wrong };
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const instances = intArg(options.args, '--instances', 100_000);
  const sessions = intArg(options.args, '--sessions', 10_000);
  const queryCount = intArg(options.args, '--queries', 10_000);
  const loaderCount = intArg(options.args, '--loaders', 4);
  const heapDirArg = stringArg(options.args, '--heap-snapshot');
  const heapDir = heapDirArg === undefined ? undefined : resolve(heapDirArg);
  const services = Math.ceil(instances / PER_SERVICE);

  let nats: BenchNats | undefined;
  const nodes: NodeProcess[] = [];
  const buses: NatsBus[] = [];
  let client: RosterClient | undefined;
  const rss = new RssSampler(100);
  try {
    nats = await startBenchNats(options.log);
    const spawnOptions = await spawnOptionsFromArgs(options.args, options.log);
    options.log(`starting ${NODES} registry nodes`);
    nodes.push(...(await startNodes(nats.url, NODES, spawnOptions)));
    for (const n of nodes) rss.add(n);
    rss.start();
    await waitConverged(nats.control, NODES, { timeoutMs: 15_000 });

    // --- load ---
    for (let i = 0; i < loaderCount; i++) {
      buses.push(await connectNatsBus({ servers: nats.url, name: `bench-scale-loader-${i}` }));
    }
    options.log(
      `loading ${instances} instances on ${sessions} sessions (${services} services) with ${loaderCount} × ${IN_FLIGHT_PER_LOADER} requests in flight`,
    );
    const cpu = new CpuMeter(benchPids(nats, nodes));
    cpu.start();
    rss.phase('load');
    const loaded = await load(
      buses,
      nodes.map((n) => n.id),
      instances,
      sessions,
      options.log,
    );
    const loadCpu = cpu.stop();
    const loadAcked = epochMs();
    const full = await waitConverged(nats.control, NODES, {
      timeoutMs: 60_000,
      pollMs: 20,
      accept: (view) => view.every((i) => i.instances === instances && i.sessions === sessions),
    });
    options.log(
      `loaded in ${loaded.seconds.toFixed(1)} s (${Math.round(instances / loaded.seconds)}/s), all nodes equal ${Math.round(full.at - loadAcked)} ms after the last ack`,
    );
    await Promise.all(buses.map((b) => b.close()));
    buses.length = 0;
    rss.phase('idle');
    await sleep(1000);
    rss.sample();
    const steady = await Promise.all(nodes.map((n) => n.info()));
    const rssSteady = Math.max(...nodes.map((n) => n.rssMb() ?? 0));

    // --- queries ---
    options.log('bus floor: 2000 sequential request-reply round trips');
    const floor = summarize(await measureFloor(nats.url, 2000));
    options.log(`queries: ${WARMUP_QUERIES} warm-up + ${queryCount} sequential single-service`);
    client = await connect({ servers: nats.url, name: 'bench-scale-query' });
    for (const n of nodes) n.resetStats();
    rss.phase('queries');
    const queryCpu = new CpuMeter(benchPids(nats, nodes));
    queryCpu.start();
    const clientGc = { count: 0, maxMs: 0 };
    const gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        clientGc.count++;
        clientGc.maxMs = Math.max(clientGc.maxMs, e.duration);
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    const q = await queries(client, services, queryCount);
    gcObserver.disconnect();
    const queryCpuPercent = queryCpu.stop();
    const query = summarize(q.latencies);
    const queryStats = (await Promise.all(nodes.map((n) => n.info()))).map((r) => r.stats);

    // --- a 4th node joins ---
    options.log('starting a 4th node');
    rss.phase('join');
    const fourth = new NodeProcess(`n${NODES + 1}`, nats.url, spawnOptions);
    nodes.push(fourth);
    rss.add(fourth);
    let equalAt: number | undefined;
    let lastView: ClusterInfo[] = [];
    const deadline = epochMs() + 60_000;
    while (equalAt === undefined) {
      lastView = await clusterView(nats.control, NODES + 1, 500);
      if (converged(lastView, NODES + 1)) equalAt = epochMs();
      else if (epochMs() > deadline) throw new Error('the 4th node did not catch up within 60 s');
      else await sleep(10);
    }
    const ready = await fourth.ready;
    rss.stop();
    const endInfo = await Promise.all(nodes.map((n) => n.info()));
    const fourthInfo = endInfo.at(-1)!;
    const fourthRss = fourth.rssMb() ?? Number.NaN;
    if (heapDir !== undefined) {
      mkdirSync(heapDir, { recursive: true });
      for (const n of [nodes[0]!, fourth]) {
        const path = await n.heapSnapshot(join(heapDir, `${n.id}.heapsnapshot`));
        options.log(`heap snapshot of ${n.id}: ${path}`);
      }
    }

    return {
      instances: lastView[0]?.instances ?? Number.NaN,
      rss_mb_max: round(rss.max, 1),
      join_sync_ms: Math.round(equalAt - ready.startCalledAt),
      query_p99_ms: query.p99,
      query_p50_ms: query.p50,
      query_max_ms: query.max,
      query_wrong_size: q.wrong,
      floor_p50_ms: floor.p50,
      floor_p99_ms: floor.p99,
      query_cpu_percent: queryCpuPercent,
      query_client_gc_count: clientGc.count,
      query_client_gc_max_ms: round(clientGc.maxMs, 2),
      query_node_gc_max_ms: round(Math.max(...queryStats.map((x) => x.gcMaxMs)), 2),
      query_node_gc_count: queryStats.reduce((n, x) => n + x.gcCount, 0),
      query_node_loop_delay_p99_ms: round(Math.max(...queryStats.map((x) => x.loopDelayP99Ms)), 2),
      queries: queryCount,
      sessions: lastView[0]?.sessions ?? Number.NaN,
      services,
      rss_mb_by_phase: [...rss.maxByPhase].map(([p, mb]) => `${p}:${Math.round(mb)}`).join(' '),
      rss_mb_by_node: [...rss.maxByNode].map(([id, mb]) => `${id}:${Math.round(mb)}`).join(' '),
      rss_mb_steady: round(rssSteady, 1),
      heap_used_mb_steady: round(Math.max(...steady.map((s) => s.memory.heapUsed)) / 2 ** 20, 1),
      join_ready_ms: Math.round(ready.readyAt - ready.startCalledAt),
      join_from_spawn_ms: Math.round(equalAt - ready.spawnedAt),
      join_module_load_ms: Math.round(ready.startCalledAt - ready.spawnedAt),
      joined_rss_mb: round(fourthRss, 1),
      mem_after_join_mb: nodes
        .map((n, i) => {
          const m = endInfo[i]!.memory;
          const mb = (b: number) => Math.round(b / 2 ** 20);
          return `${n.id}:rss=${mb(m.rss)}/heap=${mb(m.heapUsed)}of${mb(m.heapTotal)}/ext=${mb(m.external)}`;
        })
        .join(' '),
      joined_heap_used_mb: round(fourthInfo.memory.heapUsed / 2 ** 20, 1),
      load_s: round(loaded.seconds, 1),
      load_per_s: Math.round(instances / loaded.seconds),
      load_converge_ms: Math.round(full.at - loadAcked),
      load_errors: loaded.errors,
      load_cpu_percent: loadCpu,
      nodes: NODES,
      nats_server: nats.version,
      node: process.version,
    };
  } finally {
    rss.stop();
    await client?.close().catch(() => undefined);
    await Promise.all(buses.map((b) => b.close().catch(() => undefined)));
    await closeNodes(nodes);
    await nats?.stop();
  }
}
