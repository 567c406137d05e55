/**
 * Churn: sustained register+deregister across 3 registry nodes, then convergence.
 *
 * One nats-server (NATS_URL when set, otherwise a fresh local one), 3 registry nodes as child
 * processes. In this process, CLIENTS load clients (default 6), each with its own NATS
 * connection and one session, pinned round-robin to the nodes (2 sessions per node) with the
 * owner-addressed registration subject. Each client keeps IN_FLIGHT operations outstanding
 * (default 64): every slot registers a fresh instance (one of 64 services), then deregisters
 * it, then starts again, each request awaited. The raw protocol is used (registerRequest and
 * sessionRequest deregister over bus.request), because the client library serialises one
 * session's writes.
 *
 * After a 1 s warm-up, ops are counted for SECONDS (default 10): ops_per_s = acknowledged
 * register and deregister requests per second (each counts as one op). Then no new op is
 * issued; once every outstanding op is acknowledged (the load has stopped), the cluster view
 * is polled by scatter-gather every 5 ms: converge_ms is the time until all 3 nodes report
 * equal digests.
 *
 * Arguments: --seconds N, --clients N, --in-flight N, --profile DIR (CPU profiles of the node
 * processes), --tsx (node processes from TypeScript under tsx instead of compiled JavaScript),
 * --async-traces (the load clients' NATS connections capture a stack trace per request, as
 * nats.js does by default: shows what the bus's default of not doing so saves).
 */

import {
  decodeAs,
  encodeTrusted,
  isRosterError,
  type MessageOf,
  Subjects,
} from '../../protocol/index.js';
import { connectNatsBus, type NatsBus } from '../../transport/nats-bus.js';
import {
  type BenchNats,
  benchPids,
  CpuMeter,
  closeNodes,
  type NodeProcess,
  spawnOptionsFromArgs,
  startBenchNats,
  startNodes,
  waitConverged,
} from './cluster.js';
import type { BenchOptions, BenchResult, BenchTarget } from './run.js';
import { epochMs, intArg, round, summarize } from './util.js';

const NODES = 3;
const SERVICES = 64;
const WARMUP_MS = 1000;
const SESSION_TTL_MS = 60_000;
const REQUEST_TIMEOUT_MS = 5000;
const LATENCY_SAMPLE_EVERY = 4;

export const targets: readonly BenchTarget[] = [
  { metric: 'ops_per_s', op: '>=', value: 10_000 },
  { metric: 'converge_ms', op: '<=', value: 1000 },
];

type Phase = 'warmup' | 'measure' | 'stop';

interface LoadState {
  phase: Phase;
  ops: number;
  errors: Map<string, number>;
  latencies: number[];
  opCounter: number;
}

class LoadClient {
  readonly sessionId: string;
  private readonly secret: string;
  private next = 0;

  constructor(
    readonly index: number,
    private readonly bus: NatsBus,
    readonly owner: string,
    private readonly subjects: Subjects,
    private readonly state: LoadState,
  ) {
    this.sessionId = `churn-s${index}-${Date.now().toString(36)}`;
    this.secret = `secret-${index}-${'x'.repeat(24)}`;
  }

  /** One slot: register, deregister, repeat until the phase is 'stop'. */
  async slot(slot: number): Promise<void> {
    const service = `churn-${(this.index * 7 + slot) % SERVICES}`;
    while (this.state.phase !== 'stop') {
      const id = `c${this.index}-${slot}-${this.next++}`;
      if (!(await this.op(() => this.register(service, id)))) continue;
      await this.op(() => this.deregister(service, id));
    }
  }

  private async op(fn: () => Promise<void>): Promise<boolean> {
    const t0 = performance.now();
    try {
      await fn();
    } catch (err) {
      const code = isRosterError(err) ? err.code : 'other';
      this.state.errors.set(code, (this.state.errors.get(code) ?? 0) + 1);
      return false;
    }
    if (this.state.phase === 'measure') {
      this.state.ops++;
      if (this.state.opCounter++ % LATENCY_SAMPLE_EVERY === 0)
        this.state.latencies.push(performance.now() - t0);
    }
    return true;
  }

  async register(service: string, id: string): Promise<void> {
    const body: MessageOf<'registerRequest'> = {
      session: { id: this.sessionId, secret: this.secret, ttlMs: SESSION_TTL_MS },
      instance: {
        id,
        service,
        host: '10.1.0.1',
        port: 20_000 + (this.next % 40_000),
        tags: ['bench'],
        meta: { az: 'a' },
        weight: 1,
      },
    };
    const reply = await this.bus.request(
      this.subjects.registerAt(service, this.owner),
      encodeTrusted('registerRequest', body),
      { timeoutMs: REQUEST_TIMEOUT_MS },
    );
    decodeAs(reply.data, 'registerReply');
  }

  async deregister(service: string, instanceId: string): Promise<void> {
    const reply = await this.bus.request(
      this.subjects.session(this.owner),
      encodeTrusted('sessionRequest', {
        op: 'deregister',
        sessionId: this.sessionId,
        secret: this.secret,
        instanceId,
        service,
      }),
      { timeoutMs: REQUEST_TIMEOUT_MS },
    );
    decodeAs(reply.data, 'sessionReply');
  }
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const seconds = intArg(options.args, '--seconds', 10);
  const clientCount = intArg(options.args, '--clients', 6);
  const inFlight = intArg(options.args, '--in-flight', 64);
  const asyncTraces = options.args.includes('--async-traces');

  let nats: BenchNats | undefined;
  let nodes: NodeProcess[] = [];
  const buses: NatsBus[] = [];
  try {
    nats = await startBenchNats(options.log);
    options.log(`starting ${NODES} registry nodes`);
    nodes = await startNodes(
      nats.url,
      NODES,
      await spawnOptionsFromArgs(options.args, options.log),
    );
    await waitConverged(nats.control, NODES, { timeoutMs: 15_000 });

    const subjects = new Subjects();
    const state: LoadState = {
      phase: 'warmup',
      ops: 0,
      errors: new Map(),
      latencies: [],
      opCounter: 0,
    };
    const clients: LoadClient[] = [];
    for (let c = 0; c < clientCount; c++) {
      const bus = await connectNatsBus({
        servers: nats.url,
        name: `bench-churn-${c}`,
        ...(asyncTraces ? { asyncTraces: true } : {}),
      });
      buses.push(bus);
      clients.push(new LoadClient(c, bus, nodes[c % NODES]!.id, subjects, state));
    }

    options.log(
      `load: ${clientCount} clients × ${inFlight} in flight, ${WARMUP_MS} ms warm-up + ${seconds} s`,
    );
    const slots = clients.flatMap((client) =>
      Array.from({ length: inFlight }, (_, s) => client.slot(s)),
    );
    await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
    state.phase = 'measure';
    const cpu = new CpuMeter(benchPids(nats, nodes));
    cpu.start();
    const measureStart = performance.now();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    state.phase = 'stop';
    const measured = performance.now() - measureStart;
    const cpuPercent = cpu.stop();
    const ops = state.ops;
    const stopIssuing = epochMs();
    await Promise.all(slots);
    const loadStopped = epochMs();
    options.log(`load stopped; waiting for equal digests`);
    const conv = await waitConverged(nats.control, NODES, { timeoutMs: 30_000, pollMs: 5 });
    const convergeMs = conv.at - loadStopped;

    const lat = summarize(state.latencies);
    const errors = [...state.errors].map(([code, n]) => `${code}:${n}`).join(' ') || 'none';
    const finalInfo = conv.view[0]!;
    return {
      ops_per_s: Math.round((ops * 1000) / measured),
      converge_ms: round(convergeMs, 1),
      ops,
      seconds: round(measured / 1000, 2),
      op_p50_ms: lat.p50,
      op_p99_ms: lat.p99,
      op_max_ms: lat.max,
      drain_ms: round(loadStopped - stopIssuing, 1),
      converge_polls: conv.polls,
      errors,
      cpu_percent: cpuPercent,
      clients: clientCount,
      in_flight_per_client: inFlight,
      load_client_async_traces: asyncTraces ? 'on' : 'off',
      services: SERVICES,
      final_instances: finalInfo.instances,
      final_sessions: finalInfo.sessions,
      nodes: NODES,
      nats_server: nats.version,
      node: process.version,
    };
  } finally {
    await Promise.all(buses.map((b) => b.close().catch(() => undefined)));
    await closeNodes(nodes);
    await nats?.stop();
  }
}
