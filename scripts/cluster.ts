/**
 * docker-compose.yml's topology on localhost, without Docker (run it as `scripts/cluster`):
 * three routed nats-servers with the permissions of docs/examples/nats-server.conf, three
 * registry nodes, two gateways and two demo services (payments, orders; three instances each).
 * It prints where everything listens once all of it is ready; Ctrl-C stops the services, the
 * gateways, the nodes and then the NATS servers, in that order, and nothing is left running.
 *
 *   scripts/cluster [--port-offset N] [--log-level LEVEL]
 *
 * Ports (plus the offset): NATS 4222-4224 (routes 6222-6224, monitoring 8222-8224), nodes'
 * HTTP API and dashboard 8500-8502 (metrics 9100-9102), gateways 8080-8081 (admin 9901-9902),
 * payments 9000-9002, orders 9010-9012. Every port is checked before anything starts.
 * Process logs go to .roster/cluster/<name>.log.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { stopOnSignals } from '../cli/lifecycle.js';
import { ensureNatsServerBinary } from '../cli/nats-server-binary.js';
import {
  type NatsServerProcess,
  type ProcessExit,
  startNatsServerProcess,
  watchExit,
} from '../cli/nats-server-process.js';
import { createProgram } from '../cli/program.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(ROOT, 'cli', 'main.ts');
const NATS_CONF = join(ROOT, 'docs', 'examples', 'nats-server.conf');
const GATEWAY_TEMPLATE = join(ROOT, 'docs', 'examples', 'gateway.compose.yaml');
const LOG_DIR = join(ROOT, '.roster', 'cluster');
const HOST = '127.0.0.1';

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function note(line: string): void {
  process.stderr.write(`scripts/cluster: ${line}\n`);
}

function parseArgs(argv: readonly string[]): { offset: number; logLevel: string } {
  let offset = Number(process.env.CLUSTER_PORT_OFFSET ?? 0);
  let logLevel = 'info';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--port-offset') offset = Number(argv[++i]);
    else if (arg === '--log-level') logLevel = String(argv[++i]);
    else if (arg === '-h' || arg === '--help') {
      say('Usage: scripts/cluster [--port-offset N] [--log-level LEVEL]');
      say('Starts 3 nats-servers, 3 registry nodes, 2 gateways and 2 demo services on');
      say('localhost (the topology of docker-compose.yml). Ctrl-C stops everything.');
      process.exit(0);
    } else {
      note(`unknown argument ${arg} (try --help)`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(offset) || offset < 0 || offset > 50_000) {
    note('--port-offset must be an integer from 0 to 50000');
    process.exit(2);
  }
  return { offset, logLevel };
}

function passwordOf(user: string): string {
  const m = new RegExp(`\\{\\s*user:\\s*${user},\\s*password:\\s*"([^"]+)"`).exec(
    readFileSync(NATS_CONF, 'utf8'),
  );
  if (!m) throw new Error(`${NATS_CONF} has no user ${user}`);
  return m[1]!;
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host: HOST, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** A `roster` child process, its output in .roster/cluster/<name>.log. */
interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly exited: Promise<ProcessExit>;
  readonly running: () => boolean;
  output(): string;
}

const children: Child[] = [];

function startRoster(name: string, args: string[], env: NodeJS.ProcessEnv): Child {
  const log = createWriteStream(join(LOG_DIR, `${name}.log`));
  const child = spawn(process.execPath, ['--import=tsx', CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // Ctrl-C reaches only this script, which stops the children in order
  });
  let tail = '';
  const keep = (chunk: Buffer): void => {
    log.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-64 * 1024);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const { exited, hasExited } = watchExit(child);
  void exited.then(() => log.end());
  const handle: Child = {
    name,
    process: child,
    exited,
    running: () => !hasExited(),
    output: () => tail,
  };
  children.push(handle);
  return handle;
}

async function waitFor(
  what: string,
  child: Child,
  ready: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!child.running()) {
      const exit = await child.exited;
      throw new Error(
        `${child.name} ${exit.description} before ${what}; its last lines:\n${child.output().trim().split('\n').slice(-8).join('\n')}`,
      );
    }
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`${child.name}: not ${what} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

async function stopChild(child: Child, graceMs = 20_000): Promise<void> {
  if (!child.running()) return;
  child.process.kill('SIGTERM');
  const timedOut = await Promise.race([
    child.exited.then(() => false),
    sleep(graceMs, true, { ref: false }),
  ]);
  if (timedOut) {
    note(`${child.name} did not stop within ${graceMs} ms: killing it`);
    child.process.kill('SIGKILL');
    await child.exited;
  }
}

process.on('exit', () => {
  for (const child of children) if (child.running()) child.process.kill('SIGKILL');
});

async function main(): Promise<number> {
  const { offset, logLevel } = parseArgs(process.argv.slice(2));
  const port = (base: number): number => base + offset;
  const natsClient = [4222, 4223, 4224].map(port);
  const natsRoute = [6222, 6223, 6224].map(port);
  const natsMonitor = [8222, 8223, 8224].map(port);
  const nodeHttp = [8500, 8501, 8502].map(port);
  const nodeMetrics = [9100, 9101, 9102].map(port);
  const gatewayPorts = [8080, 8081].map(port);
  const gatewayAdmin = [9901, 9902].map(port);
  const services = [
    { name: 'payments', first: port(9000) },
    { name: 'orders', first: port(9010) },
  ];
  const hasGateway = createProgram().commands.some((c) => c.name() === 'gateway');

  const wanted = [
    ...natsClient,
    ...natsRoute,
    ...natsMonitor,
    ...nodeHttp,
    ...nodeMetrics,
    ...(hasGateway ? [...gatewayPorts, ...gatewayAdmin] : []),
    ...services.flatMap((s) => [s.first, s.first + 1, s.first + 2]),
  ];
  const taken: number[] = [];
  for (const p of wanted) if (!(await isPortFree(p))) taken.push(p);
  if (taken.length > 0) {
    note(
      `ports already in use on ${HOST}: ${taken.join(', ')}; stop what uses them or pass --port-offset N`,
    );
    return 1;
  }

  mkdirSync(LOG_DIR, { recursive: true });
  const stop = stopOnSignals({ graceMs: 60_000, onForce: note });
  const servers: NatsServerProcess[] = [];
  const urls = natsClient.map((p) => `nats://${HOST}:${p}`);
  const natsEnv = (user: string): NodeJS.ProcessEnv => ({
    ROSTER_NATS_URL: urls.join(','),
    ROSTER_NATS_USER: user,
    ROSTER_NATS_PASS: passwordOf(user),
    ROSTER_NATS_INBOX_PREFIX: user === 'node' ? '' : `_INBOX.${user}`,
    ROSTER_LOG_LEVEL: logLevel,
    ROSTER_CONFIG: '',
  });
  try {
    // --- NATS -----------------------------------------------------------------------------
    const binary = await ensureNatsServerBinary({ log: note });
    const routes = natsRoute.map((p) => `nats://${HOST}:${p}`).join(',');
    for (let i = 0; i < 3; i++) {
      servers.push(
        await startNatsServerProcess({
          binary,
          host: HOST,
          port: natsClient[i]!,
          monitorPort: natsMonitor[i]!,
          args: [
            '-c',
            NATS_CONF,
            '--server_name',
            `nats-${i + 1}`,
            '--cluster_name',
            'roster',
            '--cluster',
            `nats://${HOST}:${natsRoute[i]}`,
            '--routes',
            routes,
          ],
        }),
      );
    }
    say(`NATS cluster up: ${urls.join(', ')}`);
    if (stop.signal.aborted) return 0;

    // --- registry nodes -------------------------------------------------------------------
    const nodes = [0, 1, 2].map((i) =>
      startRoster(
        `node-${i + 1}`,
        [
          'node',
          '--id',
          `node-${i + 1}`,
          '--http-port',
          String(nodeHttp[i]),
          '--http-host',
          HOST,
          '--metrics-port',
          String(nodeMetrics[i]),
          '--metrics-host',
          HOST,
        ],
        natsEnv('node'),
      ),
    );
    await Promise.all(
      nodes.map((n, i) =>
        waitFor('ready', n, () => httpOk(`http://${HOST}:${nodeMetrics[i]}/readyz`)),
      ),
    );
    say('registry nodes ready: node-1, node-2, node-3');
    if (stop.signal.aborted) return 0;

    // --- gateways -------------------------------------------------------------------------
    if (hasGateway) {
      const template = parse(readFileSync(GATEWAY_TEMPLATE, 'utf8')) as Record<string, unknown>;
      const gateways = [0, 1].map((i) => {
        const config = {
          ...template,
          gateway: { name: `edge-${i + 1}`, id: `edge-${i + 1}`, advertiseHost: HOST },
          listeners: [{ port: gatewayPorts[i], host: HOST }],
          nats: {
            ...(template.nats as object),
            servers: urls,
            user: 'gateway',
            pass: passwordOf('gateway'),
          },
          admin: { ...(template.admin as object), port: gatewayAdmin[i], host: HOST },
        };
        const file = join(LOG_DIR, `gateway-${i + 1}.yaml`);
        writeFileSync(file, `# generated by scripts/cluster\n${stringify(config)}`);
        return startRoster(`gateway-${i + 1}`, ['gateway', '--config', file], {
          ROSTER_LOG_LEVEL: logLevel,
        });
      });
      await Promise.all(
        gateways.map((g, i) =>
          waitFor('ready', g, () => httpOk(`http://${HOST}:${gatewayAdmin[i]}/ready`)),
        ),
      );
      say(`gateways ready: ${gatewayPorts.map((p) => `http://${HOST}:${p}`).join(', ')}`);
    } else {
      say('gateways: pending (`roster gateway` does not exist yet in this build)');
    }
    if (stop.signal.aborted) return 0;

    // --- demo services --------------------------------------------------------------------
    const demo = services.map((s) =>
      startRoster(
        s.name,
        [
          'demo-service',
          '--name',
          s.name,
          '--instances',
          '3',
          '--port',
          String(s.first),
          '--listen-host',
          HOST,
        ],
        natsEnv(s.name),
      ),
    );
    await Promise.all(
      demo.map((d) => waitFor('registered', d, () => /registered with route/.test(d.output()))),
    );
    say('demo services registered: payments (3 instances), orders (3 instances)');

    say();
    say('Roster cluster is running.');
    say();
    for (const [i, url] of urls.entries()) {
      say(`  nats-${i + 1}     ${url}  (monitoring http://${HOST}:${natsMonitor[i]})`);
    }
    for (const i of [0, 1, 2]) {
      say(
        `  node-${i + 1}     http://${HOST}:${nodeHttp[i]}/ui  (metrics http://${HOST}:${nodeMetrics[i]}/metrics)`,
      );
    }
    if (hasGateway) {
      for (const i of [0, 1]) {
        say(
          `  gateway-${i + 1}  http://${HOST}:${gatewayPorts[i]}  (admin http://${HOST}:${gatewayAdmin[i]})`,
        );
      }
    }
    for (const s of services) {
      say(`  ${s.name.padEnd(9)} http://${HOST}:${s.first}-${s.first + 2}`);
    }
    say();
    if (hasGateway) say(`Try:  curl -s http://${HOST}:${gatewayPorts[0]}/payments/hello`);
    say(
      `      node --import=tsx cli/main.ts nodes --nats ${urls[0]} --user ops --pass ${passwordOf('ops')} --inbox-prefix _INBOX.ops`,
    );
    say(`Logs: ${LOG_DIR}`);
    say('Press Ctrl-C to stop.');

    const died = Promise.race(children.map((c) => c.exited.then((exit) => ({ child: c, exit }))));
    const serverDied = Promise.race(servers.map((s, i) => s.exited.then(() => `nats-${i + 1}`)));
    const outcome = await Promise.race([
      stop.requested.then(() => 'stopped' as const),
      died,
      serverDied,
    ]);
    if (outcome === 'stopped') return 0;
    if (typeof outcome === 'string') {
      note(`${outcome} exited unexpectedly; stopping everything`);
      return 1;
    }
    note(
      `${outcome.child.name} ${outcome.exit.description} unexpectedly; stopping everything (see ${LOG_DIR}/${outcome.child.name}.log)`,
    );
    return 1;
  } catch (err) {
    if (stop.signal.aborted) return 0;
    note(err instanceof Error ? err.message : String(err));
    return 1;
  } finally {
    stop.stopping();
    note('stopping: demo services, gateways, registry nodes, then NATS');
    const order = (prefix: string) => children.filter((c) => c.name.startsWith(prefix));
    const services = children.filter(
      (c) => !c.name.startsWith('node-') && !c.name.startsWith('gateway-'),
    );
    await Promise.all(services.map((c) => stopChild(c)));
    await Promise.all(order('gateway-').map((c) => stopChild(c)));
    await Promise.all(order('node-').map((c) => stopChild(c)));
    await Promise.all(servers.map((s) => s.stop()));
    stop.dispose();
    note('stopped; nothing left running');
  }
}

process.exitCode = await main();
