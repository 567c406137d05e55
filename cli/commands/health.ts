/**
 * `roster health`: a cluster health check for scripts and probes. Healthy means: at least one
 * registry node (or --expect-nodes of them) answered, every one of them is ready, and all their
 * store digests are equal. Digests converge within a propagation delay, so an unequal answer is
 * asked again until --timeout-ms has passed. Exit 0 when healthy; otherwise exit 1 with the
 * reason on stderr.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { openBus, print, printJson, stderrLogger } from '../client-command.js';
import { configure } from '../config.js';
import { addConnectionOptions } from '../options.js';
import {
  type ClusterViewOptions,
  collectNodes,
  majorityDigest,
  nodeJson,
  noNodesMessage,
} from './nodes.js';

export function registerHealthCommand(program: Command): Command {
  const command = program
    .command('health')
    .description(
      'check the cluster: exit 0 when every node answers ready with equal digests, else exit 1 with the reason',
    );
  addConnectionOptions(command, 'health');
  configure(command, 'health')
    .option('--json', 'print {healthy, reasons, nodes} as JSON')
    .action(async (options: ClusterViewOptions) => {
      await runHealth(options);
    });
  return command;
}

export interface HealthReport {
  readonly healthy: boolean;
  readonly reasons: string[];
  readonly nodes: ReturnType<typeof nodeJson>[];
}

export async function runHealth(options: ClusterViewOptions): Promise<void> {
  const logger = stderrLogger(options.logLevel);
  const deadline = Date.now() + options.timeoutMs;
  const bus = await openBus(options, { name: 'roster-health', logger });
  let report: HealthReport;
  try {
    for (;;) {
      const nodes = await collectNodes(bus, options);
      const majority = majorityDigest(nodes);
      const reasons: string[] = [];
      if (nodes.length === 0) reasons.push(noNodesMessage(options, bus));
      if (
        options.expectNodes !== undefined &&
        nodes.length > 0 &&
        nodes.length < options.expectNodes
      ) {
        reasons.push(
          `${nodes.length} of ${options.expectNodes} expected nodes answered (${nodes.map((n) => n.node).join(', ')})`,
        );
      }
      const notReady = nodes.filter((n) => !n.ready).map((n) => n.node);
      if (notReady.length > 0) reasons.push(`not ready: ${notReady.join(', ')}`);
      const differing = nodes.filter((n) => n.digest !== majority);
      if (differing.length > 0) {
        reasons.push(
          `digests differ: ${differing.map((n) => `${n.node} ${n.digest.slice(0, 12)}`).join(', ')} vs ${(majority ?? '').slice(0, 12)} on ${nodes.length - differing.length} node(s)`,
        );
      }
      report = {
        healthy: reasons.length === 0,
        reasons,
        nodes: nodes.map((n) => nodeJson(n, majority)),
      };
      if (report.healthy || Date.now() + 200 >= deadline) break;
      await sleep(200);
    }
  } finally {
    await bus.close();
  }
  if (options.json) printJson(report);
  if (!report.healthy) throw new Error(`unhealthy: ${report.reasons.join('; ')}`);
  if (!options.json) {
    const digest = report.nodes[0]?.digest.slice(0, 12) ?? '';
    print(`healthy: ${report.nodes.length} node(s) ready, digests agree (${digest})`);
  }
}
