/**
 * `roster nodes`: the cluster as its nodes see it. Every registry node answers a scatter on the
 * cluster-info subject with its id, incarnation, readiness, own seq, version vector, store
 * digest and counts; a digest that differs from the majority's is marked (equal vectors with
 * different digests mean the replicas diverged; different vectors mean one is still catching up).
 */

import type { Command } from 'commander';
import type { NatsBus } from '../../transport/index.js';
import {
  type ClientCommandOptions,
  type NodeInfo,
  openBus,
  print,
  printJson,
  refusalNote,
  renderTable,
  scatterClusterInfo,
  stderrLogger,
  subjectsOf,
} from '../client-command.js';
import { configure } from '../config.js';
import { addConnectionOptions } from '../options.js';

export interface ClusterViewOptions extends ClientCommandOptions {
  waitMs: number;
  expectNodes?: number;
}

export function registerNodesCommand(program: Command): Command {
  const command = program
    .command('nodes')
    .description(
      "show every registry node: incarnation, readiness, seq, version vector, digest and counts; marks a digest that differs from the majority's",
    );
  addConnectionOptions(command, 'nodes');
  configure(command, 'nodes')
    .option(
      '--json',
      'print a JSON array of {node, incarnation, ready, seq, vector, digest, digestAgrees, instances, sessions, startedAt}',
    )
    .action(async (options: ClusterViewOptions) => {
      await runNodes(options);
    });
  return command;
}

/** The digest most nodes have (ties: the smallest), or undefined without nodes. */
export function majorityDigest(nodes: readonly NodeInfo[]): string | undefined {
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(n.digest, (counts.get(n.digest) ?? 0) + 1);
  let best: string | undefined;
  let bestCount = 0;
  for (const [digest, count] of [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (count > bestCount) {
      best = digest;
      bestCount = count;
    }
  }
  return best;
}

export function nodeJson(n: NodeInfo, majority: string | undefined) {
  return {
    node: n.node,
    incarnation: n.inc,
    ready: n.ready,
    seq: n.seq,
    hlc: n.hlc,
    vector: n.vector.map(([origin, incarnation, seq]) => ({ origin, incarnation, seq })),
    digest: n.digest,
    digestAgrees: n.digest === majority,
    instances: n.instances,
    sessions: n.sessions,
    startedAt: new Date(n.startedAt).toISOString(),
  };
}

/** Asks the cluster; a usage-independent failure when no node answers. */
export async function collectNodes(bus: NatsBus, options: ClusterViewOptions): Promise<NodeInfo[]> {
  const subjects = subjectsOf(options);
  return scatterClusterInfo(bus, subjects, {
    waitMs: options.waitMs,
    expect: options.expectNodes,
  });
}

export function noNodesMessage(options: ClusterViewOptions, bus?: NatsBus): string {
  const subjects = subjectsOf(options);
  const refused = refusalNote(bus);
  return `no registry node answered on ${subjects.clusterInfo} within ${options.waitMs} ms${
    refused !== '' ? refused : ` (is a node running with --prefix ${options.prefix}?)`
  }`;
}

export async function runNodes(options: ClusterViewOptions): Promise<void> {
  const logger = stderrLogger(options.logLevel);
  const bus = await openBus(options, { name: 'roster-nodes', logger });
  let nodes: NodeInfo[];
  try {
    nodes = await collectNodes(bus, options);
  } finally {
    await bus.close();
  }
  const none = nodes.length === 0 ? noNodesMessage(options, bus) : '';
  const majority = majorityDigest(nodes);
  if (options.json) {
    printJson(nodes.map((n) => nodeJson(n, majority)));
    if (none !== '') throw new Error(none);
    return;
  }
  if (none !== '') throw new Error(none);
  const rows = nodes.map((n) => [
    n.node,
    String(n.inc),
    n.ready ? 'yes' : 'no',
    String(n.seq),
    String(n.instances),
    String(n.sessions),
    `${n.digest.slice(0, 12)}${n.digest === majority ? '' : ' ≠'}`,
    n.vector.map(([origin, , seq]) => `${origin}:${seq}`).join(' '),
  ]);
  print(
    renderTable(
      ['NODE', 'INCARNATION', 'READY', 'SEQ', 'INSTANCES', 'SESSIONS', 'DIGEST', 'VECTOR'],
      rows,
    ),
  );
  const differing = nodes.filter((n) => n.digest !== majority);
  print();
  if (differing.length === 0) {
    print(`${nodes.length} node(s); digests agree (${(majority ?? '').slice(0, 12)})`);
  } else {
    print(
      `digests differ (≠): ${differing.map((n) => n.node).join(', ')} disagree with the majority's ${(majority ?? '').slice(0, 12)}`,
    );
  }
  if (options.expectNodes !== undefined && nodes.length < options.expectNodes) {
    print(`only ${nodes.length} of ${options.expectNodes} expected node(s) answered`);
  }
}
