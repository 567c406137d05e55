/**
 * `roster node`: one registry node process. Connects to NATS (waiting up to
 * --connect-timeout-ms for it), joins the cluster, serves Prometheus metrics when
 * --metrics-port is given, and logs `{"msg":"node ready",…,"metricsPort":N}` once it serves
 * requests. SIGTERM or SIGINT close the node, then the bus, and exit 0.
 */

import { type Command, Option } from 'commander';
import { RegistryNode } from '../../nodes/index.js';
import { createLogger, type Logger, type NatsBus } from '../../transport/index.js';
import { defaultProcessMetrics, MetricsRegistry } from '../../transport/metrics.js';
import { connectWithRetry } from '../connect.js';
import { stopOnSignals } from '../lifecycle.js';
import { type MetricsServer, startMetricsServer } from '../metrics-server.js';
import {
  addNatsOptions,
  intIn,
  type LogLevel,
  type NatsCliOptions,
  natsBusOptions,
  parseLogLevel,
  parseNodeId,
  parsePort,
  parsePrefix,
} from '../options.js';

export interface NodeCommandOptions extends NatsCliOptions {
  id?: string;
  prefix?: string;
  heartbeatMs?: number;
  defaultTtlMs?: number;
  metricsPort?: number;
  metricsHost: string;
  logLevel: LogLevel;
  connectTimeoutMs: number;
}

export function registerNodeCommand(program: Command): Command {
  const command = program
    .command('node')
    .description('run a registry node: joins the cluster over NATS and serves registrations');
  addNatsOptions(command)
    .addOption(
      new Option('--id <id>', 'node id, [A-Za-z0-9_-] (default: random)')
        .env('ROSTER_NODE_ID')
        .argParser(parseNodeId),
    )
    .addOption(
      new Option('--prefix <prefix>', 'subject prefix shared by the cluster (default: roster)')
        .env('ROSTER_PREFIX')
        .argParser(parsePrefix),
    )
    .addOption(
      new Option('--heartbeat-ms <ms>', 'heartbeat period, 10-60000 (default: 1000)').argParser(
        intIn(10, 60_000),
      ),
    )
    .addOption(
      new Option(
        '--default-ttl-ms <ms>',
        'session TTL when a client asks for none, 1000-3600000 (default: 6000)',
      ).argParser(intIn(1_000, 3_600_000)),
    )
    .addOption(
      new Option(
        '--metrics-port <port>',
        'serve Prometheus metrics on this port (0: any free port; off when absent)',
      ).argParser(parsePort),
    )
    .addOption(
      new Option('--metrics-host <host>', 'address the metrics server listens on').default(
        '0.0.0.0',
      ),
    )
    .addOption(
      new Option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
        .env('ROSTER_LOG_LEVEL')
        .argParser(parseLogLevel)
        .default('info'),
    )
    .addOption(
      new Option('--connect-timeout-ms <ms>', 'how long to wait for NATS at start')
        .argParser(intIn(1, 3_600_000))
        .default(30_000),
    )
    .action(async (options: NodeCommandOptions) => {
      await runNode(options);
    });
  return command;
}

/** Runs a node until a stop signal; resolves after a clean stop. */
export async function runNode(options: NodeCommandOptions): Promise<void> {
  const busOptions = natsBusOptions(options); // usage errors before anything starts
  const logger = createLogger({ level: options.logLevel });
  const stop = stopOnSignals({
    onForce: (reason) => logger.fatal(reason),
  });
  let bus: NatsBus | undefined;
  let node: RegistryNode | undefined;
  let metricsServer: MetricsServer | undefined;
  const registry = new MetricsRegistry();
  const processMetrics = defaultProcessMetrics(registry);
  let closing = false;
  try {
    try {
      bus = await connectWithRetry(
        { ...busOptions, name: `roster-node${options.id ? `-${options.id}` : ''}`, logger },
        { timeoutMs: options.connectTimeoutMs, logger, signal: stop.signal },
      );
    } catch (err) {
      if (stop.signal.aborted) return; // stopped while waiting for NATS
      throw err;
    }
    const lost = busLost(bus, logger, () => stop.signal.aborted || closing);
    node = new RegistryNode(bus, {
      logger,
      metrics: registry,
      ...(options.id !== undefined ? { id: options.id } : {}),
      ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
      ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
      ...(options.defaultTtlMs !== undefined ? { defaultTtlMs: options.defaultTtlMs } : {}),
    });
    const started = node;
    if (options.metricsPort !== undefined) {
      metricsServer = await startMetricsServer({
        host: options.metricsHost,
        port: options.metricsPort,
        render: () => registry.render(),
        ready: () => started.ready,
      });
    }
    const outcome = await Promise.race([
      node.start().then(() => 'ready' as const),
      stop.requested.then(() => 'stopped' as const),
      lost,
    ]);
    if (outcome === 'ready') {
      logger.info(
        {
          nodeId: node.id,
          incarnation: node.incarnation,
          prefix: node.subjects.prefix,
          nats: bus.server,
          metricsPort: metricsServer?.port ?? null,
          instances: node.store.instanceCount,
        },
        'node ready',
      );
      await Promise.race([stop.requested, lost]);
    }
  } finally {
    closing = true;
    stop.stopping();
    await node?.close().catch((err: unknown) => logger.error({ err }, 'closing the node failed'));
    await bus?.close().catch((err: unknown) => logger.error({ err }, 'closing the bus failed'));
    await metricsServer?.close();
    processMetrics.close();
    stop.dispose();
    logger.info({ nodeId: node?.id }, 'node stopped');
  }
}

/** Rejects when the bus closes for good while the node runs (a supervisor should restart us). */
function busLost(bus: NatsBus, logger: Logger, expected: () => boolean): Promise<never> {
  const lost = new Promise<never>((_resolve, reject) => {
    bus.onStatus((status) => {
      if (status.type !== 'closed' || expected()) return;
      const reason = status.error?.message ?? 'closed by the server';
      logger.error({ reason }, 'NATS connection lost for good');
      reject(new Error(`NATS connection lost: ${reason}`));
    });
  });
  lost.catch(() => undefined); // observed through Promise.race; never an unhandled rejection
  return lost;
}
