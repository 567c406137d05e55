/**
 * `roster demo` (what `npm start` runs): a local cluster in one command. Starts nats-server
 * (resolved and, on Debian as root, installed by ensureNatsServerBinary) on 127.0.0.1:4222, or
 * on a free port when 4222 is taken, then registry nodes node-1..node-N in this process, and
 * prints where everything listens. Ctrl-C stops the nodes, then nats-server: nothing is left
 * running. With NATS_URL set, that server is used and none is started.
 *
 * Still to come (issue 6): the gateway on :8080, two demo services and the dashboard.
 */

import { createServer } from 'node:net';
import { type Command, Option } from 'commander';
import { RegistryNode } from '../../nodes/index.js';
import { connectNatsBus, createLogger, type Logger, type NatsBus } from '../../transport/index.js';
import { MetricsRegistry } from '../../transport/metrics.js';
import { stopOnSignals } from '../lifecycle.js';
import { type MetricsServer, startMetricsServer } from '../metrics-server.js';
import {
  ensureNatsServerBinary,
  natsServerVersion,
  natsUrlFromEnv,
} from '../nats-server-binary.js';
import { type NatsServerProcess, startNatsServerProcess } from '../nats-server-process.js';
import { intIn, type LogLevel, parseLogLevel, parsePort } from '../options.js';

export const DEMO_NATS_PORT = 4222;
const HOST = '127.0.0.1';

export interface DemoCommandOptions {
  natsPort?: number;
  nodes: number;
  logLevel: LogLevel;
}

export function registerDemoCommand(program: Command): Command {
  return program
    .command('demo')
    .description(
      'run a local demo cluster: nats-server and registry nodes (gateway, demo services and dashboard to come)',
    )
    .addOption(
      new Option(
        '--nats-port <port>',
        `port for the nats-server it starts (default: ${DEMO_NATS_PORT}, or a free port when taken; 0: any free port)`,
      ).argParser(parsePort),
    )
    .addOption(
      new Option('--nodes <n>', 'registry nodes to start, 1-9').argParser(intIn(1, 9)).default(3),
    )
    .addOption(
      new Option('--log-level <level>', 'log level of the nodes (logs go to stdout as JSON)')
        .argParser(parseLogLevel)
        .default('warn'),
    )
    .action(async (options: DemoCommandOptions) => {
      await runDemo(options);
    });
}

interface DemoNode {
  readonly node: RegistryNode;
  readonly bus: NatsBus;
  readonly metrics: MetricsServer;
}

function print(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

async function startServer(
  binary: string,
  options: DemoCommandOptions,
  log: (line: string) => void,
): Promise<NatsServerProcess> {
  if (options.natsPort !== undefined) {
    return startNatsServerProcess({ binary, host: HOST, port: options.natsPort || -1 });
  }
  if (await isPortFree(HOST, DEMO_NATS_PORT)) {
    try {
      return await startNatsServerProcess({ binary, host: HOST, port: DEMO_NATS_PORT });
    } catch {
      // taken between the probe and the start: fall through to a free port
    }
  }
  log(`port ${DEMO_NATS_PORT} is taken: nats-server gets a free port instead`);
  return startNatsServerProcess({ binary, host: HOST, port: -1 });
}

async function startNode(id: string, url: string, logger: Logger): Promise<DemoNode> {
  const bus = await connectNatsBus({ servers: url, name: `roster-demo-${id}`, logger });
  try {
    const registry = new MetricsRegistry();
    const node = new RegistryNode(bus, { id, logger, metrics: registry });
    const metrics = await startMetricsServer({
      host: HOST,
      port: 0,
      render: () => registry.render(),
      ready: () => node.ready,
    });
    return { node, bus, metrics };
  } catch (err) {
    await bus.close();
    throw err;
  }
}

async function stopNode(demo: DemoNode, logger: Logger): Promise<void> {
  await demo.node.close().catch((err: unknown) => logger.error({ err }, 'closing a node failed'));
  await demo.bus.close().catch((err: unknown) => logger.error({ err }, 'closing a bus failed'));
  await demo.metrics.close();
}

export async function runDemo(options: DemoCommandOptions): Promise<void> {
  const logger = createLogger({ level: options.logLevel });
  const note = (line: string): void => {
    process.stderr.write(`roster demo: ${line}\n`);
  };
  const stop = stopOnSignals({ onForce: note });
  let server: NatsServerProcess | undefined;
  const nodes: DemoNode[] = [];
  try {
    const external = natsUrlFromEnv();
    let natsLine: string;
    let url: string;
    if (external !== undefined) {
      url = external;
      natsLine = `${url}  (NATS_URL: an external server, not started by the demo)`;
    } else {
      const binary = await ensureNatsServerBinary({ log: note });
      server = await startServer(binary, options, note);
      url = server.url;
      const version = await natsServerVersion(binary).catch(() => 'nats-server');
      natsLine = `${url}  (${version.replace(/^nats-server:\s*/, 'nats-server ')}, pid ${server.pid})`;
    }
    if (stop.signal.aborted) return;

    const ids = Array.from({ length: options.nodes }, (_, i) => `node-${i + 1}`);
    for (const id of ids) nodes.push(await startNode(id, url, logger));
    const outcome = await Promise.race([
      Promise.all(nodes.map((n) => n.node.start())).then(() => 'ready' as const),
      stop.requested.then(() => 'stopped' as const),
      ...(server ? [server.exited.then(() => 'server-exited' as const)] : []),
    ]);
    if (outcome === 'stopped') return;
    if (outcome === 'server-exited') throw new Error(serverExitMessage(server));

    print();
    print('Roster demo is running.');
    print();
    print(`  NATS      ${natsLine}`);
    for (const { node, metrics } of nodes) {
      print(`  ${node.id.padEnd(8)}  registry node, metrics ${metrics.url}`);
    }
    print();
    print('Still to come in this demo: the API gateway on :8080, two demo services that');
    print('register themselves and declare routes, and the live dashboard.');
    print();
    print(`Try:  curl -s ${nodes[0]!.metrics.url} | grep '^roster_node_'`);
    print('Press Ctrl-C to stop.');

    const ended = await Promise.race([
      stop.requested.then(() => 'stopped' as const),
      ...(server ? [server.exited.then(() => 'server-exited' as const)] : []),
    ]);
    if (ended === 'server-exited') throw new Error(serverExitMessage(server));
  } finally {
    stop.stopping();
    if (stop.signal.aborted) note('stopping: registry nodes, then nats-server');
    await Promise.all(nodes.map((n) => stopNode(n, logger)));
    if (server) await server.stop();
    if (stop.signal.aborted) note('stopped; nothing left running');
    stop.dispose();
  }
}

function serverExitMessage(server: NatsServerProcess | undefined): string {
  const tail = server?.logs().trim().split('\n').slice(-5).join('\n') ?? '';
  return `nats-server exited unexpectedly${tail === '' ? '' : `; its last lines:\n${tail}`}`;
}
