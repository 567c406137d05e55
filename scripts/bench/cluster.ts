/**
 * What the cluster benchmarks share: one nats-server (NATS_URL when set, otherwise a fresh
 * local server), registry nodes as child processes (scripts/bench/node-process.ts), the
 * cluster view by scatter-gather, convergence waits and RSS sampling from /proc.
 */

import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureNatsServerBinary, natsUrlFromEnv } from '../../cli/nats-server-binary.js';
import { decodeAs, encodeTrusted, type MessageOf, Subjects } from '../../protocol/index.js';
import { type NatsServerHandle, startNatsServer } from '../../test/helpers/nats-server.js';
import type { Bus } from '../../transport/bus.js';
import { connectNatsBus, type NatsBus } from '../../transport/nats-bus.js';
import { buildForBench, REPO_ROOT } from './build.js';
import type { ChildMessage, ParentMessage, RuntimeStats } from './node-process.js';
import { epochMs, intArg, sleep, stringArg } from './util.js';

const here = dirname(fileURLToPath(import.meta.url));
const NODE_SCRIPT_TS = join(here, 'node-process.ts');
const READY_TIMEOUT_MS = 30_000;
const INFO_TIMEOUT_MS = 5_000;

export type ClusterInfo = MessageOf<'clusterInfo'>;

// ---------------------------------------------------------------------------------------------
// nats-server

export interface BenchNats {
  readonly url: string;
  /** A bus for the bench's own control traffic (cluster view). */
  readonly control: NatsBus;
  readonly version: string;
  /** The nats-server process started here (undefined with NATS_URL). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

export async function startBenchNats(log: (line: string) => void): Promise<BenchNats> {
  let server: NatsServerHandle | undefined;
  let url = natsUrlFromEnv();
  if (url === undefined) {
    await ensureNatsServerBinary({ log });
    server = await startNatsServer({ jetstream: false });
    url = server.url;
    log(`started nats-server at ${url}`);
  } else {
    log(`using NATS_URL=${url}`);
  }
  const control = await connectNatsBus({ servers: url, name: 'bench-control' });
  return {
    url,
    control,
    version: control.raw.info?.version ?? 'unknown',
    pid: server?.pid,
    async stop() {
      await control.close().catch(() => undefined);
      await server?.stop();
    },
  };
}

/**
 * The bus request-reply floor on this server: `requests` sequential 200-byte round trips (after
 * 500 warm-up) between two connections of this process, an echo responder on one. Milliseconds.
 */
export async function measureFloor(url: string, requests: number): Promise<number[]> {
  const requester = await connectNatsBus({ servers: url, name: 'bench-floor-requester' });
  const responder = await connectNatsBus({ servers: url, name: 'bench-floor-responder' });
  try {
    const subject = 'bench.floor.echo';
    const payload = new Uint8Array(200).fill(0x62);
    responder.subscribe(subject, (msg) => {
      msg.respond(msg.data);
    });
    await responder.flush();
    for (let i = 0; i < 500; i++) await requester.request(subject, payload, { timeoutMs: 5000 });
    const out: number[] = [];
    for (let i = 0; i < requests; i++) {
      const t0 = performance.now();
      await requester.request(subject, payload, { timeoutMs: 5000 });
      out.push(performance.now() - t0);
    }
    return out;
  } finally {
    await requester.close();
    await responder.close();
  }
}

// ---------------------------------------------------------------------------------------------
// registry nodes as child processes

let compiled: Promise<string> | undefined;

/**
 * Compiles the node launcher and the library it imports (build.ts; once per run), so that node
 * processes run as in production. Resolves with the compiled launcher's path.
 */
export function compileNodeScript(log: (line: string) => void): Promise<string> {
  compiled ??= (async () => {
    const started = performance.now();
    const build = await buildForBench([NODE_SCRIPT_TS]);
    const script = build.script(NODE_SCRIPT_TS);
    log(`compiled the node launcher to ${script} in ${Math.round(performance.now() - started)} ms`);
    return script;
  })();
  return compiled;
}

export interface ReadyReport {
  readonly pid: number;
  /** Epoch ms when the parent spawned the process. */
  readonly spawnedAt: number;
  /** Epoch ms when the child's entry module had loaded (tsx compile included before it). */
  readonly loadedAt: number;
  /** Epoch ms just before `node.start()`. */
  readonly startCalledAt: number;
  /** Epoch ms when `node.start()` resolved (caught up, serving). */
  readonly readyAt: number;
}

export interface NodeInfoReport {
  readonly info: ClusterInfo;
  readonly memory: NodeJS.MemoryUsage;
  readonly stats: RuntimeStats;
}

export interface SpawnNodeOptions {
  /**
   * The launcher to run: a compiled .js (see compileNodeScript) runs with plain node; absent,
   * scripts/bench/node-process.ts runs under tsx.
   */
  readonly script?: string;
  readonly heartbeatMs?: number;
  /** The node's discoveryMs (how long a joining node collects cluster-info replies). */
  readonly discoveryMs?: number;
  /** Extra node/V8 flags for the node processes (e.g. `--max-semi-space-size=4`). */
  readonly nodeFlags?: readonly string[];
  /** Write V8 CPU profiles of this node to DIR/<id>/ when it exits normally. */
  readonly profileDir?: string;
}

export class NodeProcess {
  readonly spawnedAt = epochMs();
  readonly ready: Promise<ReadyReport>;
  private readonly child: ChildProcess;
  private readonly pendingInfo = new Map<number, (r: NodeInfoReport) => void>();
  private readonly pendingSnapshots = new Map<number, (result: string | Error) => void>();
  private infoSeq = 0;
  private exited = false;
  private readonly exitedPromise: Promise<void>;

  constructor(
    readonly id: string,
    natsUrl: string,
    options: SpawnNodeOptions = {},
  ) {
    const script = options.script ?? NODE_SCRIPT_TS;
    const execArgv = script.endsWith('.ts') ? ['--import=tsx'] : [];
    execArgv.push(...(options.nodeFlags ?? []));
    if (options.profileDir !== undefined) {
      // one directory per node: under tsx the module-loader thread writes a profile of its
      // own next to the main thread's (the main thread's is the larger file)
      const dir = join(options.profileDir, id);
      mkdirSync(dir, { recursive: true });
      execArgv.push('--cpu-prof', '--cpu-prof-dir', dir);
    }
    const args = ['--nats', natsUrl, '--id', id];
    if (options.heartbeatMs !== undefined) args.push('--heartbeat-ms', String(options.heartbeatMs));
    if (options.discoveryMs !== undefined) args.push('--discovery-ms', String(options.discoveryMs));
    this.child = fork(script, args, {
      cwd: REPO_ROOT,
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.exitedPromise = new Promise((resolveExit) => {
      this.child.once('exit', () => {
        this.exited = true;
        resolveExit();
      });
    });
    this.ready = new Promise<ReadyReport>((resolveReady, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`node ${id} not ready within ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      );
      this.child.on('message', (msg: ChildMessage) => {
        if (msg.type === 'ready') {
          clearTimeout(timer);
          resolveReady({
            pid: msg.pid,
            spawnedAt: this.spawnedAt,
            loadedAt: msg.loadedAt,
            startCalledAt: msg.startCalledAt,
            readyAt: msg.readyAt,
          });
        } else if (msg.type === 'info') {
          const pending = this.pendingInfo.get(msg.seq);
          this.pendingInfo.delete(msg.seq);
          pending?.({ info: msg.info, memory: msg.memory, stats: msg.stats });
        } else if (msg.type === 'heapSnapshot') {
          this.pendingSnapshots.get(msg.seq)?.('error' in msg ? new Error(msg.error) : msg.path);
          this.pendingSnapshots.delete(msg.seq);
        } else if (msg.type === 'error') {
          clearTimeout(timer);
          reject(new Error(`node ${id} failed: ${msg.message}`));
        }
      });
      this.child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`node ${id} exited (${signal ?? code}) before it was ready`));
      });
    });
    this.ready.catch(() => undefined);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The node's own view of itself and its process memory, over IPC. */
  info(): Promise<NodeInfoReport> {
    const seq = ++this.infoSeq;
    return new Promise((resolveInfo, reject) => {
      const timer = setTimeout(() => {
        this.pendingInfo.delete(seq);
        reject(new Error(`node ${this.id}: no info within ${INFO_TIMEOUT_MS} ms`));
      }, INFO_TIMEOUT_MS);
      this.pendingInfo.set(seq, (r) => {
        clearTimeout(timer);
        resolveInfo(r);
      });
      this.send({ type: 'info', seq });
    });
  }

  /** Restarts the node's GC and event-loop-delay statistics. */
  resetStats(): void {
    this.send({ type: 'resetStats' });
  }

  /** Writes a heap snapshot of the node to `path` (blocks the node meanwhile). */
  heapSnapshot(path: string, timeoutMs = 120_000): Promise<string> {
    const seq = ++this.infoSeq;
    return new Promise((resolveSnapshot, reject) => {
      const timer = setTimeout(() => {
        this.pendingSnapshots.delete(seq);
        reject(new Error(`node ${this.id}: no heap snapshot within ${timeoutMs} ms`));
      }, timeoutMs);
      const gone = () => reject(new Error(`node ${this.id} exited while writing a heap snapshot`));
      this.child.once('exit', gone);
      this.pendingSnapshots.set(seq, (result) => {
        clearTimeout(timer);
        this.child.off('exit', gone);
        if (result instanceof Error) reject(result);
        else resolveSnapshot(result);
      });
      this.send({ type: 'heapSnapshot', seq, path });
    });
  }

  /** Resident set size now, from /proc/PID/status (MB), or undefined when gone. */
  rssMb(): number | undefined {
    return this.pid === undefined || this.exited ? undefined : readRssMb(this.pid);
  }

  /** Asks the node to close and exit (profiles are written then); SIGKILL after a grace. */
  async close(graceMs = 10_000): Promise<void> {
    if (this.exited) return;
    this.send({ type: 'close' });
    const timeout = sleep(graceMs).then(() => 'timeout' as const);
    if ((await Promise.race([this.exitedPromise, timeout])) === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exitedPromise;
    }
  }

  private send(msg: ParentMessage): void {
    if (!this.exited && this.child.connected) this.child.send(msg);
  }
}

/** `--profile DIR` from the bench arguments. */
export function profileDirArg(args: readonly string[]): string | undefined {
  const dir = stringArg(args, '--profile');
  return dir === undefined ? undefined : resolve(dir);
}

/**
 * Spawn options from the bench arguments: `--profile DIR`, `--tsx` to run the node processes
 * from TypeScript under tsx instead of compiled JavaScript, and two experiment knobs (the
 * reported figures use neither): `--discovery-ms N` overrides the nodes' discovery window,
 * `--node-flags "FLAGS"` passes node/V8 flags to the node processes.
 */
export async function spawnOptionsFromArgs(
  args: readonly string[],
  log: (line: string) => void,
): Promise<SpawnNodeOptions> {
  const profileDir = profileDirArg(args);
  const script = args.includes('--tsx') ? undefined : await compileNodeScript(log);
  const discoveryMs = args.includes('--discovery-ms')
    ? intArg(args, '--discovery-ms', 1)
    : undefined;
  // the value itself starts with `--`, so it is taken as is
  const flagsAt = args.indexOf('--node-flags');
  const nodeFlags =
    flagsAt === -1 ? undefined : (args[flagsAt + 1] ?? '').split(' ').filter((f) => f !== '');
  return {
    ...(profileDir === undefined ? {} : { profileDir }),
    ...(discoveryMs === undefined ? {} : { discoveryMs }),
    ...(nodeFlags === undefined ? {} : { nodeFlags }),
    ...(script === undefined ? {} : { script }),
  };
}

/** Spawns `count` nodes `n1..nN` and waits until each is ready. */
export async function startNodes(
  natsUrl: string,
  count: number,
  options: SpawnNodeOptions = {},
  firstIndex = 1,
): Promise<NodeProcess[]> {
  const nodes: NodeProcess[] = [];
  for (let i = 0; i < count; i++)
    nodes.push(new NodeProcess(`n${firstIndex + i}`, natsUrl, options));
  try {
    await Promise.all(nodes.map((n) => n.ready));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.close(1000)));
    throw err;
  }
  return nodes;
}

export async function closeNodes(nodes: readonly NodeProcess[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.close()));
}

// ---------------------------------------------------------------------------------------------
// cluster view

/** Every node's clusterInfo by scatter-gather (returns early once `expected` have answered). */
export async function clusterView(
  bus: Bus,
  expected: number,
  deadlineMs = 1000,
  subjects = new Subjects(),
): Promise<ClusterInfo[]> {
  const replies = await bus.scatter(subjects.clusterInfo, encodeTrusted('clusterInfoRequest', {}), {
    deadlineMs,
    maxReplies: expected,
  });
  const out: ClusterInfo[] = [];
  for (const r of replies) {
    try {
      out.push(decodeAs(r.data, 'clusterInfo'));
    } catch {
      // not a node
    }
  }
  return out;
}

/** True when exactly `expected` ready nodes answered and all their digests are equal. */
export function converged(view: readonly ClusterInfo[], expected: number): boolean {
  if (view.length !== expected || view.some((i) => !i.ready)) return false;
  return view.every((i) => i.digest === view[0]!.digest);
}

export interface ConvergeResult {
  /** Epoch ms of the first poll that saw equal digests. */
  readonly at: number;
  readonly polls: number;
  readonly view: ClusterInfo[];
}

/**
 * Polls the cluster view every `pollMs` until `expected` ready nodes report equal digests.
 * Throws after `timeoutMs`.
 */
export async function waitConverged(
  bus: Bus,
  expected: number,
  options: { timeoutMs: number; pollMs?: number; accept?: (view: ClusterInfo[]) => boolean },
): Promise<ConvergeResult> {
  const deadline = epochMs() + options.timeoutMs;
  let polls = 0;
  let last: ClusterInfo[] = [];
  for (;;) {
    polls++;
    last = await clusterView(bus, expected, 500);
    const at = epochMs();
    if (converged(last, expected) && (options.accept?.(last) ?? true)) {
      return { at, polls, view: last };
    }
    if (at > deadline) {
      const digests = last.map((i) => `${i.node}:${i.digest}:${i.instances}`).join(' ');
      throw new Error(`no convergence within ${options.timeoutMs} ms (last view: ${digests})`);
    }
    await sleep(options.pollMs ?? 5);
  }
}

// ---------------------------------------------------------------------------------------------
// memory

export function readRssMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Samples the RSS of some node processes periodically; keeps the maximum per node, and per
 * phase (`phase(name)` starts one) the maximum across nodes.
 */
export class RssSampler {
  readonly maxByNode = new Map<string, number>();
  readonly maxByPhase = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly nodes: NodeProcess[] = [];
  private current = 'start';

  constructor(private readonly periodMs = 100) {}

  add(node: NodeProcess): void {
    this.nodes.push(node);
    this.sample();
  }

  start(): void {
    this.timer ??= setInterval(() => this.sample(), this.periodMs);
  }

  /** Samples once more for the phase ending, then attributes later samples to `name`. */
  phase(name: string): void {
    this.sample();
    this.current = name;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
  }

  sample(): void {
    for (const node of this.nodes) {
      const rss = node.rssMb();
      if (rss === undefined) continue;
      this.maxByNode.set(node.id, Math.max(this.maxByNode.get(node.id) ?? 0, rss));
      this.maxByPhase.set(this.current, Math.max(this.maxByPhase.get(this.current) ?? 0, rss));
    }
  }

  /** The largest RSS seen across nodes. */
  get max(): number {
    let max = 0;
    for (const v of this.maxByNode.values()) max = Math.max(max, v);
    return max;
  }
}

// ---------------------------------------------------------------------------------------------
// CPU

const CLOCK_TICKS_PER_S = 100;

/** User+system CPU seconds a process has used, from /proc/PID/stat, or undefined when gone. */
export function readCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name may hold spaces: fields are counted after its closing parenthesis
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return undefined;
  }
}

/** CPU seconds the whole machine has been busy (all cores; /proc/stat, idle and iowait excluded). */
function readMachineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return (
      ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) /
      CLOCK_TICKS_PER_S
    );
  } catch {
    return 0;
  }
}

/**
 * CPU use of named processes over a window, as a percentage of one core
 * (`start()` … `stop()`), so a report can say which process was the bottleneck.
 */
export class CpuMeter {
  private readonly startCpu = new Map<string, number>();
  private startedAt = 0;
  private startBusy = 0;

  constructor(private readonly pids: ReadonlyMap<string, number>) {}

  start(): void {
    this.startedAt = epochMs();
    this.startBusy = readMachineBusySeconds();
    for (const [name, pid] of this.pids) {
      const cpu = readCpuSeconds(pid);
      if (cpu !== undefined) this.startCpu.set(name, cpu);
    }
  }

  /**
   * `name:percent` for each process, then `other:percent` for everything else on the machine
   * (other work competing for the cores), e.g. `n1:78 n2:41 nats:22 bench:55 other:3`.
   */
  stop(): string {
    const seconds = (epochMs() - this.startedAt) / 1000;
    const busy = readMachineBusySeconds() - this.startBusy;
    const parts: string[] = [];
    let ours = 0;
    for (const [name, pid] of this.pids) {
      const before = this.startCpu.get(name);
      const after = readCpuSeconds(pid);
      if (before === undefined || after === undefined) continue;
      ours += after - before;
      parts.push(`${name}:${Math.round(((after - before) / seconds) * 100)}`);
    }
    parts.push(`other:${Math.max(0, Math.round(((busy - ours) / seconds) * 100))}`);
    return parts.join(' ');
  }
}

/** The processes of a cluster bench, by short name, for CpuMeter. */
export function benchPids(nats: BenchNats, nodes: readonly NodeProcess[]): Map<string, number> {
  const pids = new Map<string, number>();
  for (const n of nodes) if (n.pid !== undefined) pids.set(n.id, n.pid);
  if (nats.pid !== undefined) pids.set('nats', nats.pid);
  pids.set('bench', process.pid);
  return pids;
}
