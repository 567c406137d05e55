/**
 * Detection: how long after a client process dies, or deregisters, its instances leave a
 * watcher.
 *
 * One nats-server (NATS_URL when set, otherwise a fresh local one), 3 registry nodes as child
 * processes with default settings (heartbeat 1000 ms), and in this process one watcher
 * (client.watch of the bench service, on its own NATS connection). Every time below is
 * performance.now() of this one process.
 *
 * - Crash removal: ROUNDS (default 20) real client processes (test/fixtures/client-process.ts:
 *   one RosterClient session with INSTANCES instances, default 5, session TTL = TTL_MS), started
 *   PARALLEL (default 4) at a time. Once the watcher holds all of a batch's instances, each
 *   process is killed with SIGKILL at a random moment within the next TTL/3 (so the kill falls
 *   anywhere in the client's renewal period, which runs at about TTL/3). Sample, per instance:
 *   the watcher's 'removed' event minus the moment SIGKILL was sent. Processes are started only
 *   between measurements, so their start-up CPU never delays an expiry being timed.
 * - Graceful removal: an in-process client registers WARMUP + GRACEFUL (default 50 + 500)
 *   instances, then deregisters them one at a time (`registration.deregister()`, no drain).
 *   Sample: the watcher's 'removed' event minus the moment deregister() was called; the time
 *   until deregister() resolved (the cluster's acknowledgement) is reported alongside.
 *
 * Targets: crash_removal_p99_ms <= ttl_ms + 1000 (DESIGN.md: a crashed client's instances
 * leave every pool within its session TTL plus one second) and graceful_removal_p99_ms <= 10.
 *
 * Arguments: --ttl-ms N (default 3000), --rounds N, --instances N, --parallel N,
 * --graceful N, --warmup N, and the node-process options of scripts/bench/cluster.ts
 * (--tsx, --profile DIR).
 */

import { connect, type Registration, type RosterClient } from '../../client/index.js';
import { Limits } from '../../protocol/index.js';
import { type ClientProcess, startClientProcess } from '../../test/helpers/client-process.js';
import {
  type BenchNats,
  closeNodes,
  type NodeProcess,
  spawnOptionsFromArgs,
  startBenchNats,
  startNodes,
  waitConverged,
} from './cluster.js';
import type { BenchOptions, BenchResult, BenchTarget } from './run.js';
import { intArg, round, sleep, summarize } from './util.js';

const SERVICE = 'bench-detection';
const NODES = 3;
const DEFAULT_TTL_MS = 3000;
/** How long past TTL + 1 s a crashed instance may take before it counts as missing. */
const REMOVAL_SLACK_MS = 5000;
const SEEN_TIMEOUT_MS = 15_000;
const GRACEFUL_TIMEOUT_MS = 5000;

function targetsFor(ttlMs: number): readonly BenchTarget[] {
  return [
    { metric: 'crash_removal_p99_ms', op: '<=', value: ttlMs + 1000 },
    { metric: 'graceful_removal_p99_ms', op: '<=', value: 10 },
  ];
}

/**
 * The targets for the TTL of the last run (run() replaces them when --ttl-ms is given; the
 * runner reads this live binding after run() resolves).
 */
export let targets: readonly BenchTarget[] = targetsFor(DEFAULT_TTL_MS);

/** What the watcher saw, by instance id (performance.now() of the first event of each kind). */
class Sightings {
  readonly present = new Set<string>();
  readonly removedAt = new Map<string, number>();
  private readonly waiters = new Map<string, (at: number) => void>();

  seen(id: string): void {
    this.present.add(id);
  }

  removed(id: string, at: number): void {
    this.present.delete(id);
    if (!this.removedAt.has(id)) this.removedAt.set(id, at);
    const waiter = this.waiters.get(id);
    if (waiter) {
      this.waiters.delete(id);
      waiter(at);
    }
  }

  /** Resolves with the removal time of `id` (at once when already removed), or undefined after `timeoutMs`. */
  whenRemoved(id: string, timeoutMs: number): Promise<number | undefined> {
    const at = this.removedAt.get(id);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.set(id, (removedAt) => {
        clearTimeout(timer);
        resolve(removedAt);
      });
    });
  }
}

async function waitUntil(what: string, timeoutMs: number, ok: () => boolean): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ok()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(5);
  }
}

interface CrashResult {
  /** kill → removed, one per instance that was removed after its kill. */
  readonly samples: number[];
  /** Instances never removed within TTL + 1 s + slack. */
  readonly missing: number;
  /** Instances removed before their process was killed (should be 0). */
  readonly early: number;
}

async function crashRemoval(
  url: string,
  sightings: Sightings,
  options: {
    ttlMs: number;
    rounds: number;
    instances: number;
    parallel: number;
    log: (line: string) => void;
  },
): Promise<CrashResult> {
  const samples: number[] = [];
  let missing = 0;
  let early = 0;
  const live = new Set<ClientProcess>();
  try {
    for (let first = 0; first < options.rounds; first += options.parallel) {
      const batch = Array.from(
        { length: Math.min(options.parallel, options.rounds - first) },
        (_, k) => first + k,
      );
      const procs = await Promise.all(
        batch.map(async (r) => {
          const proc = await startClientProcess({
            natsUrl: url,
            service: SERVICE,
            count: options.instances,
            ttlMs: options.ttlMs,
            idPrefix: `crash-${r}`,
          });
          live.add(proc);
          return proc;
        }),
      );
      const ids = procs.flatMap((p) => p.ids);
      await waitUntil(
        `the watcher holds the ${ids.length} instances of rounds ${batch.join(',')}`,
        SEEN_TIMEOUT_MS,
        () => ids.every((id) => sightings.present.has(id)),
      );
      // Each process dies at a random point of its renewal period (renewals run at ~TTL/3).
      const killedAt = new Map<ClientProcess, number>();
      await Promise.all(
        procs.map(async (proc) => {
          await sleep(Math.random() * (options.ttlMs / 3));
          killedAt.set(proc, performance.now());
          await proc.kill('SIGKILL');
          live.delete(proc);
        }),
      );
      const lastKill = Math.max(...killedAt.values());
      const deadline = lastKill + options.ttlMs + 1000 + REMOVAL_SLACK_MS;
      while (!ids.every((id) => sightings.removedAt.has(id)) && performance.now() < deadline) {
        await sleep(5);
      }
      const batchSamples: number[] = [];
      for (const proc of procs) {
        const kill = killedAt.get(proc)!;
        for (const id of proc.ids) {
          const at = sightings.removedAt.get(id);
          if (at === undefined) missing++;
          else if (at < kill) early++;
          else batchSamples.push(at - kill);
        }
      }
      samples.push(...batchSamples);
      const s = summarize(batchSamples);
      options.log(
        `crash rounds ${batch[0]}..${batch.at(-1)}: ${batchSamples.length} removals, ` +
          `${Math.round(Math.min(...batchSamples))}..${Math.round(s.max)} ms after SIGKILL`,
      );
    }
  } finally {
    await Promise.all([...live].map((p) => p.kill('SIGKILL')));
  }
  return { samples, missing, early };
}

interface GracefulResult {
  /** deregister() called → watcher 'removed'. */
  readonly removal: number[];
  /** deregister() called → deregister() resolved. */
  readonly ack: number[];
  readonly removedBeforeAck: number;
  readonly missing: number;
}

async function gracefulRemoval(
  client: RosterClient,
  sightings: Sightings,
  options: { count: number; warmup: number; log: (line: string) => void },
): Promise<GracefulResult> {
  const total = options.warmup + options.count;
  const regs: Registration[] = [];
  for (let i = 0; i < total; i++) {
    regs.push(
      await client.register({
        service: SERVICE,
        id: `graceful-${i}`,
        host: '127.0.0.1',
        port: 20_000 + i,
        tags: ['bench'],
      }),
    );
  }
  await waitUntil(`the watcher holds the ${total} graceful instances`, SEEN_TIMEOUT_MS, () =>
    regs.every((r) => sightings.present.has(r.id)),
  );
  options.log(`graceful: ${options.warmup} warm-up + ${options.count} sequential deregistrations`);
  const removal: number[] = [];
  const ack: number[] = [];
  let removedBeforeAck = 0;
  let missing = 0;
  for (const [i, reg] of regs.entries()) {
    const removed = sightings.whenRemoved(reg.id, GRACEFUL_TIMEOUT_MS);
    const t0 = performance.now();
    await reg.deregister();
    const acked = performance.now();
    const at = await removed;
    if (i < options.warmup) continue;
    ack.push(acked - t0);
    if (at === undefined) {
      missing++;
      continue;
    }
    removal.push(at - t0);
    if (at < acked) removedBeforeAck++;
  }
  return { removal, ack, removedBeforeAck, missing };
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const ttlMs = intArg(options.args, '--ttl-ms', DEFAULT_TTL_MS);
  if (ttlMs < Limits.minTtlMs || ttlMs > Limits.maxTtlMs) {
    throw new Error(`--ttl-ms must be within ${Limits.minTtlMs}..${Limits.maxTtlMs}`);
  }
  const rounds = intArg(options.args, '--rounds', 20);
  const instances = intArg(options.args, '--instances', 5);
  const parallel = intArg(options.args, '--parallel', 4);
  const graceful = intArg(options.args, '--graceful', 500);
  const warmup = intArg(options.args, '--warmup', 50);
  targets = targetsFor(ttlMs);

  let nats: BenchNats | undefined;
  let nodes: NodeProcess[] = [];
  const clients: RosterClient[] = [];
  try {
    nats = await startBenchNats(options.log);
    options.log(`starting ${NODES} registry nodes (default settings)`);
    nodes = await startNodes(
      nats.url,
      NODES,
      await spawnOptionsFromArgs(options.args, options.log),
    );
    await waitConverged(nats.control, NODES, { timeoutMs: 15_000 });

    const watcherClient = await connect({ servers: nats.url, name: 'bench-detection-watcher' });
    clients.push(watcherClient);
    const watch = await watcherClient.watch(SERVICE);
    const sightings = new Sightings();
    for (const i of watch.instances()) sightings.seen(i.id);
    let staleEvents = 0;
    watch.on((e) => {
      if (e.type === 'added' || e.type === 'updated') sightings.seen(e.instance.id);
      else if (e.type === 'removed') sightings.removed(e.instance.id, performance.now());
      else if (e.type === 'stale') staleEvents++;
    });

    options.log(
      `crash: ${rounds} client processes × ${instances} instances, ${parallel} at a time, ` +
        `session TTL ${ttlMs} ms, SIGKILL each`,
    );
    const started = performance.now();
    const crash = await crashRemoval(nats.url, sightings, {
      ttlMs,
      rounds,
      instances,
      parallel,
      log: options.log,
    });
    const crashSeconds = (performance.now() - started) / 1000;
    if (crash.missing > 0) {
      options.log(`WARNING: ${crash.missing} crashed instances never left the watcher`);
    }
    if (crash.early > 0) {
      options.log(`WARNING: ${crash.early} instances left the watcher before their process died`);
    }

    const registrar = await connect({
      servers: nats.url,
      ttlMs,
      name: 'bench-detection-registrar',
    });
    clients.push(registrar);
    const grace = await gracefulRemoval(registrar, sightings, {
      count: graceful,
      warmup,
      log: options.log,
    });
    if (grace.missing > 0) {
      options.log(`WARNING: ${grace.missing} deregistered instances never left the watcher`);
    }

    const c = summarize(crash.samples);
    const g = summarize(grace.removal);
    const a = summarize(grace.ack);
    return {
      ttl_ms: ttlMs,
      crash_removal_p50_ms: round(c.p50, 1),
      crash_removal_p99_ms: round(c.p99, 1),
      graceful_removal_p50_ms: g.p50,
      graceful_removal_p99_ms: g.p99,
      crash_removal_min_ms: round(Math.min(...crash.samples), 1),
      crash_removal_max_ms: round(c.max, 1),
      crash_samples: c.count,
      crash_missing: crash.missing,
      crash_removed_before_kill: crash.early,
      crash_processes: rounds,
      instances_per_process: instances,
      crash_phase_s: round(crashSeconds, 1),
      graceful_removal_max_ms: g.max,
      graceful_ack_p50_ms: a.p50,
      graceful_ack_p99_ms: a.p99,
      graceful_samples: g.count,
      graceful_missing: grace.missing,
      graceful_removed_before_ack: grace.removedBeforeAck,
      watcher_stale_events: staleEvents,
      clock: 'one process (watcher, kills, deregistrations), performance.now()',
      nodes: NODES,
      nats_server: nats.version,
      node: process.version,
    };
  } finally {
    for (const client of clients.reverse()) await client.close().catch(() => undefined);
    await closeNodes(nodes);
    await nats?.stop();
  }
}
