/**
 * Small building blocks for the registry integration tests: start N `roster node` processes
 * (test/helpers/node-process.ts) and wait, through the scatter-gather cluster view, until the
 * cluster is complete or has converged.
 */
import type { MessageOf } from '../../protocol/index.js';
import type { Bus } from '../../transport/index.js';
import { eventually } from './eventually.js';
import { clusterInfo, type NodeProcess, nodeProcessFor } from './node-process.js';

export type ClusterInfo = MessageOf<'clusterInfo'>;

/** Heartbeat period every registry test cluster runs with (fast convergence). */
export const TEST_HEARTBEAT_MS = 500;

interface Teardownable {
  teardown(fn: () => unknown): void;
}

/** Starts one node process per id (in parallel) and waits until all of them are ready. */
export async function startNodes(
  t: Teardownable,
  natsUrl: string,
  ids: readonly string[],
  bus: Bus,
  args: readonly string[] = [],
): Promise<NodeProcess[]> {
  const nodes = await Promise.all(
    ids.map((id) => nodeProcessFor(t, { natsUrl, id, heartbeatMs: TEST_HEARTBEAT_MS, args })),
  );
  await eventually(
    async () => {
      const infos = await clusterInfo(bus, undefined, { expect: ids.length });
      return ids.every((id) => infos.some((i) => i.node === id && i.ready));
    },
    { what: `nodes ${ids.join(', ')} ready`, timeoutMs: 20_000 },
  );
  return nodes;
}

export interface ConvergeOptions {
  /** Nodes that must answer (exactly these ids). */
  readonly nodes: readonly string[];
  /** Instance count every node must hold, when given. */
  readonly instances?: number;
  readonly timeoutMs?: number;
}

/** Waits until exactly `nodes` answer, all ready, with one digest (and `instances`). */
export async function waitConverged(bus: Bus, options: ConvergeOptions): Promise<ClusterInfo[]> {
  const want = [...options.nodes].sort().join(',');
  return eventually(
    async () => {
      const infos = await clusterInfo(bus, undefined, { expect: options.nodes.length });
      const have = infos
        .map((i) => i.node)
        .sort()
        .join(',');
      if (have !== want) throw new Error(`nodes answering: ${have}, want ${want}`);
      if (!infos.every((i) => i.ready)) throw new Error('not every node is ready');
      const digests = new Set(infos.map((i) => i.digest));
      const counts = infos.map((i) => `${i.node}=${i.instances}`).join(' ');
      if (digests.size !== 1) throw new Error(`digests differ (${counts})`);
      if (options.instances !== undefined && infos.some((i) => i.instances !== options.instances))
        throw new Error(`instance counts ${counts}, want ${options.instances}`);
      return infos;
    },
    { what: 'a converged cluster', timeoutMs: options.timeoutMs ?? 10_000 },
  );
}
