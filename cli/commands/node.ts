/**
 * `roster node`: one registry node process. Connects to NATS (waiting up to
 * --connect-timeout-ms for it), joins the cluster, serves its HTTP API, WebSocket watch
 * stream, dashboard and metrics when --http-port is given (nodes/http/), Prometheus metrics
 * alone when --metrics-port is given, and logs
 * `{"msg":"node ready",…,"metricsPort":N,"httpPort":N}` once it serves requests. SIGTERM or
 * SIGINT close the node, then the bus, and exit 0.
 */

import type { Command } from 'commander';
import {
  type NodeHttpServer,
  type PublicPart,
  startNodeHttpServer,
} from '../../nodes/http/index.js';
import { RegistryNode } from '../../nodes/index.js';
import { createLogger, type Logger, type NatsBus } from '../../transport/index.js';
import { defaultProcessMetrics, MetricsRegistry } from '../../transport/metrics.js';
import { configure } from '../config.js';
import { connectWithRetry } from '../connect.js';
import { stopOnSignals } from '../lifecycle.js';
import { type MetricsServer, startMetricsServer } from '../metrics-server.js';
import { type LogLevel, type NatsCliOptions, natsBusOptions } from '../options.js';

export interface NodeCommandOptions extends NatsCliOptions {
  id?: string;
  prefix?: string;
  heartbeatMs?: number;
  defaultTtlMs?: number;
  metricsPort?: number;
  metricsHost: string;
  httpPort?: number;
  httpHost: string;
  httpToken?: string;
  /** Parts served without the token (`none` entries are ignored). */
  httpPublic: (PublicPart | 'none')[];
  logLevel: LogLevel;
  connectTimeoutMs: number;
}

export function registerNodeCommand(program: Command): Command {
  const command = program
    .command('node')
    .description('run a registry node: joins the cluster over NATS and serves registrations');
  // Every option comes from cli/config.ts's table: flags > ROSTER_* > --config file > defaults.
  configure(command, 'node').action(async (options: NodeCommandOptions) => {
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
  let httpServer: NodeHttpServer | undefined;
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
    if (options.httpPort !== undefined) {
      httpServer = await startNodeHttpServer({
        node,
        bus,
        host: options.httpHost,
        port: options.httpPort,
        ...(options.httpToken ? { token: options.httpToken } : {}),
        publicParts: options.httpPublic.filter((p): p is PublicPart => p !== 'none'),
        logger,
        metrics: () => registry.render(),
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
          httpPort: httpServer?.port ?? null,
          instances: node.store.instanceCount,
        },
        'node ready',
      );
      await Promise.race([stop.requested, lost]);
    }
  } finally {
    closing = true;
    stop.stopping();
    await httpServer?.close();
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
