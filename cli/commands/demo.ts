/**
 * `roster demo` (what `npm start` runs): a whole Roster setup on localhost in one command and
 * one process (plus nats-server):
 *
 * - nats-server, resolved (and, on Debian as root, installed) by ensureNatsServerBinary, on
 *   127.0.0.1:4222 or a free port when 4222 is taken; with NATS_URL set, that server is used
 *   and none is started;
 * - registry nodes node-1..node-N, each with its HTTP API, dashboard (/ui) and metrics on
 *   8500, 8501, … (a free port for any that is taken);
 * - one gateway on 127.0.0.1:8080 (a free port when taken, and it says so), built from an
 *   in-memory config that relies on routes declared in registration metadata only, with its
 *   admin API on a free port behind a token generated for this run;
 * - two demo services, `payments` and `catalog` (demo-service.ts), three HTTP instances each,
 *   registering themselves with `roster.route.path-prefix=/<name>`.
 *
 * Once the gateway is ready and both routes answer real requests through it, it prints the
 * URLs, the admin token and curl lines to try. Ctrl-C (SIGINT or SIGTERM) stops everything in
 * order — the services deregister, the gateway drains, the nodes close, nats-server stops —
 * and exits 0 with nothing left running.
 */

import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { type Command, Option } from 'commander';
import { type RunningGateway, startGateway } from '../../gateway/index.js';
import { type NodeHttpServer, startNodeHttpServer } from '../../nodes/http/index.js';
import { RegistryNode } from '../../nodes/index.js';
import { connectNatsBus, createLogger, type Logger, type NatsBus } from '../../transport/index.js';
import { MetricsRegistry } from '../../transport/metrics.js';
import { stopOnSignals } from '../lifecycle.js';
import {
  ensureNatsServerBinary,
  natsServerVersion,
  natsUrlFromEnv,
} from '../nats-server-binary.js';
import { type NatsServerProcess, startNatsServerProcess } from '../nats-server-process.js';
import { intIn, type LogLevel, parseLogLevel, parsePort } from '../options.js';
import { type DemoService, startDemoService } from './demo-service.js';

export const DEMO_NATS_PORT = 4222;
export const DEMO_GATEWAY_PORT = 8080;
export const DEMO_HTTP_PORT = 8500;
/** The demo services: three instances each, routed by the gateway at /<name>/. */
export const DEMO_SERVICES = ['payments', 'catalog'] as const;
const DEMO_INSTANCES = 3;
const HOST = '127.0.0.1';
/** How long the gateway and its routes may take to come up before the demo gives up. */
const READY_TIMEOUT_MS = 30_000;
/** How long the gateway lets requests in flight finish at Ctrl-C. */
const GATEWAY_GRACE_MS = 5_000;

export interface DemoCommandOptions {
  natsPort?: number;
  httpPort: number;
  gatewayPort: number;
  nodes: number;
  logLevel: LogLevel;
}

export function registerDemoCommand(program: Command): Command {
  return program
    .command('demo')
    .description(
      'run a local demo: nats-server, registry nodes with their dashboard, a gateway on :8080 and two demo services (payments, catalog) routed through it',
    )
    .addOption(
      new Option(
        '--nats-port <port>',
        `port for the nats-server it starts (default: ${DEMO_NATS_PORT}, or a free port when taken; 0: any free port)`,
      ).argParser(parsePort),
    )
    .addOption(
      new Option(
        '--http-port <port>',
        "first registry node's HTTP API and dashboard port; node N gets port + N - 1 (a free port when taken; 0: free ports)",
      )
        .argParser(parsePort)
        .default(DEMO_HTTP_PORT),
    )
    .addOption(
      new Option(
        '--gateway-port <port>',
        "the gateway's port (a free port when taken; 0: any free port)",
      )
        .argParser(parsePort)
        .default(DEMO_GATEWAY_PORT),
    )
    .addOption(
      new Option('--nodes <n>', 'registry nodes to start, 1-9').argParser(intIn(1, 9)).default(3),
    )
    .addOption(
      new Option('--log-level <level>', 'log level of every component (logs go to stdout as JSON)')
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
  readonly http: NodeHttpServer;
}

interface DemoGateway {
  readonly running: RunningGateway;
  readonly bus: NatsBus;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly token: string;
}

interface RunningService {
  readonly service: DemoService;
  readonly bus: NatsBus;
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

function inUse(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') return true;
  }
  return false;
}

/**
 * Runs `start` on `preferred` when it is free, else (or when it was taken meanwhile) on a free
 * port. `taken` is true when the preferred port could not be had.
 */
async function onPreferredPort<T>(
  preferred: number,
  start: (port: number) => Promise<T>,
): Promise<{ value: T; taken: boolean }> {
  if (preferred === 0) return { value: await start(0), taken: false };
  if (await isPortFree(HOST, preferred)) {
    try {
      return { value: await start(preferred), taken: false };
    } catch (err) {
      if (!inUse(err)) throw err;
    }
  }
  return { value: await start(0), taken: true };
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

async function startNode(
  id: string,
  url: string,
  port: number,
  logger: Logger,
  note: (line: string) => void,
): Promise<DemoNode> {
  const bus = await connectNatsBus({ servers: url, name: `roster-demo-${id}`, logger });
  try {
    const registry = new MetricsRegistry();
    const node = new RegistryNode(bus, { id, logger, metrics: registry });
    const { value: http, taken } = await onPreferredPort(port, (p) =>
      startNodeHttpServer({
        node,
        bus,
        host: HOST,
        port: p,
        logger,
        metrics: () => registry.render(),
      }),
    );
    if (taken) note(`port ${port} is taken: ${id} serves its API and dashboard on ${http.port}`);
    return { node, bus, http };
  } catch (err) {
    await bus.close();
    throw err;
  }
}

async function stopNode(demo: DemoNode, logger: Logger): Promise<void> {
  await demo.http.close();
  await demo.node.close().catch((err: unknown) => logger.error({ err }, 'closing a node failed'));
  await demo.bus.close().catch((err: unknown) => logger.error({ err }, 'closing a bus failed'));
}

/** The gateway's config: one listener, an admin API, routes from the registry only. */
export function demoGatewayConfig(options: {
  port: number;
  token: string;
  natsUrl: string;
}): unknown {
  return {
    gateway: {
      name: 'roster-demo-gateway',
      advertiseHost: HOST,
      shutdownGraceMs: GATEWAY_GRACE_MS,
    },
    listeners: [{ port: options.port, host: HOST }],
    nats: { servers: options.natsUrl },
    admin: { port: 0, host: HOST, token: options.token, metricsPublic: true, probesPublic: true },
    defaults: { timeoutMs: 10_000 },
    registryRoutes: { enabled: true },
  };
}

async function startDemoGateway(
  url: string,
  preferredPort: number,
  logger: Logger,
  note: (line: string) => void,
): Promise<DemoGateway & { taken: boolean }> {
  const bus = await connectNatsBus({ servers: url, name: 'roster-demo-gateway', logger });
  try {
    const token = randomBytes(18).toString('base64url');
    const { value: running, taken } = await onPreferredPort(preferredPort, (port) =>
      startGateway(demoGatewayConfig({ port, token, natsUrl: url }), { logger, bus }),
    );
    const port = running.gateway.addresses()[0]?.port ?? 0;
    if (taken) note(`port ${preferredPort} is taken: the gateway listens on ${port} instead`);
    return { running, bus, url: `http://${HOST}:${port}`, token, taken };
  } catch (err) {
    await bus.close();
    throw err;
  }
}

async function startService(url: string, name: string, logger: Logger): Promise<RunningService> {
  const bus = await connectNatsBus({ servers: url, name: `roster-demo-${name}`, logger });
  try {
    const service = await startDemoService({
      bus,
      name,
      instances: DEMO_INSTANCES,
      port: 0,
      listenHost: HOST,
      logger,
    });
    return { service, bus };
  } catch (err) {
    await bus.close();
    throw err;
  }
}

interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

/** One GET on its own connection (nothing kept alive after it). */
function get(url: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers, agent: false, timeout: 2_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Why GET `url` is not yet an answer from an instance of `service` (undefined: it is). */
async function routeProblem(url: string, service: string): Promise<string | undefined> {
  try {
    const answer = await get(url);
    if (answer.status !== 200) return `HTTP ${answer.status} ${answer.body.slice(0, 200).trim()}`;
    const body = JSON.parse(answer.body) as { service?: unknown };
    return body.service === service ? undefined : `answered by ${String(body.service)}`;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

class Stopped extends Error {}

export async function runDemo(options: DemoCommandOptions): Promise<void> {
  const logger = createLogger({ level: options.logLevel });
  const note = (line: string): void => {
    process.stderr.write(`roster demo: ${line}\n`);
  };
  const stop = stopOnSignals({ graceMs: GATEWAY_GRACE_MS + 20_000, onForce: note });
  let server: NatsServerProcess | undefined;
  const nodes: DemoNode[] = [];
  let gateway: DemoGateway | undefined;
  const services: RunningService[] = [];
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
    const running = server;

    // Every wait below ends early on Ctrl-C (Stopped) or when nats-server dies (an error).
    const interrupted = Promise.race([
      stop.requested.then(() => {
        throw new Stopped();
      }),
      ...(running
        ? [
            running.exited.then(() => {
              throw new Error(serverExitMessage(running));
            }),
          ]
        : []),
    ]);
    interrupted.catch(() => undefined);
    const step = <T>(work: Promise<T>): Promise<T> => Promise.race([work, interrupted]);
    const poll = async (what: string, problem: () => Promise<string | undefined>) => {
      const deadline = Date.now() + READY_TIMEOUT_MS;
      for (;;) {
        const why = await step(problem());
        if (why === undefined) return;
        if (Date.now() > deadline) {
          throw new Error(`${what} not within ${READY_TIMEOUT_MS / 1000} s: ${why}`);
        }
        await step(new Promise((resolve) => setTimeout(resolve, 100)));
      }
    };

    try {
      // --- registry nodes -------------------------------------------------------------------
      for (let i = 0; i < options.nodes; i++) {
        if (stop.signal.aborted) return;
        const port = options.httpPort === 0 ? 0 : options.httpPort + i;
        nodes.push(await startNode(`node-${i + 1}`, url, port, logger, note));
      }
      await step(Promise.all(nodes.map((n) => n.node.start())));

      // --- the gateway ----------------------------------------------------------------------
      if (stop.signal.aborted) return;
      const started = await startDemoGateway(url, options.gatewayPort, logger, note);
      gateway = started;
      const gw = started.running;
      await poll('the gateway ready', async () => {
        const state = gw.readiness();
        return state.ready ? undefined : `waiting for ${state.waitingFor.join(', ')}`;
      });

      // --- the demo services ----------------------------------------------------------------
      for (const name of DEMO_SERVICES) {
        if (stop.signal.aborted) return;
        services.push(await startService(url, name, logger));
      }
      // Ready means routed: a real request through the gateway reaches each service.
      const base = started.url;
      for (const name of DEMO_SERVICES) {
        await poll(`${base}/${name}/ answering`, () => routeProblem(`${base}/${name}/`, name));
      }
      if (stop.signal.aborted) return;

      printReady({
        natsLine,
        nodes,
        gateway: started,
        services: services.map((s) => s.service),
        gatewayPortTaken: started.taken ? options.gatewayPort : undefined,
      });
      await step(new Promise<never>(() => undefined));
    } catch (err) {
      if (err instanceof Stopped) return;
      throw err;
    }
  } finally {
    stop.stopping();
    if (stop.signal.aborted) {
      note(
        `stopping: demo services, the gateway, registry nodes${server ? ', then nats-server' : ''}`,
      );
    }
    await Promise.all(
      services.map(async ({ service, bus }) => {
        await service
          .close()
          .catch((err: unknown) => logger.error({ err }, 'closing a demo service failed'));
        await bus.close().catch(() => undefined);
      }),
    );
    if (gateway) {
      await gateway.running
        .close()
        .catch((err: unknown) => logger.error({ err }, 'closing the gateway failed'));
      await gateway.bus.close().catch(() => undefined);
    }
    await Promise.all(nodes.map((n) => stopNode(n, logger)));
    if (server) await server.stop();
    if (stop.signal.aborted) note('stopped; nothing left running');
    stop.dispose();
  }
}

function printReady(view: {
  natsLine: string;
  nodes: readonly DemoNode[];
  gateway: DemoGateway;
  services: readonly DemoService[];
  gatewayPortTaken: number | undefined;
}): void {
  const { gateway, nodes } = view;
  const admin = gateway.running.admin?.url ?? '(none)';
  const first = nodes[0]!;
  const taken =
    view.gatewayPortTaken === undefined ? '' : `  (port ${view.gatewayPortTaken} was taken)`;
  print();
  print('Roster demo is running.');
  print();
  print(`  Gateway    ${gateway.url}${taken}`);
  print(`  Dashboard  ${first.http.url}/ui/`);
  print(`  Nodes      ${nodes.map((n) => `${n.node.id} ${n.http.url}`).join('  ')}`);
  print(`  Admin API  ${admin}  (token ${gateway.token})`);
  print(`  NATS       ${view.natsLine}`);
  print(
    `  Services   ${view.services.map((s) => `${s.name} (${s.instances.length} instances)`).join(', ')}, routed at ${view.services.map((s) => `/${s.name}/`).join(' and ')}`,
  );
  print();
  print('Try:');
  for (const s of view.services) print(`  curl ${gateway.url}/${s.name}/`);
  print(`  curl -H 'Authorization: Bearer ${gateway.token}' ${admin}/routes`);
  print(`  curl ${first.http.url}/v1/services`);
  print();
  print('Press Ctrl-C to stop.');
}

function serverExitMessage(server: NatsServerProcess | undefined): string {
  const tail = server?.logs().trim().split('\n').slice(-5).join('\n') ?? '';
  return `nats-server exited unexpectedly${tail === '' ? '' : `; its last lines:\n${tail}`}`;
}
