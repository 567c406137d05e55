/**
 * Real nats-server processes for tests: one server on a free port, or a routed cluster.
 *
 * - Servers listen on 127.0.0.1 with `-p -1` (and `-m -1` for monitoring); the ports actually
 *   chosen are read from the ports file (`--ports_file_dir`), raced against early exit and a
 *   timeout (waitForPortsFile, shared with cli/nats-server-process.ts). An early exit rejects
 *   with the server's captured log.
 * - restart() starts the server again on the same client, monitoring and cluster ports.
 * - Every child is tracked: a process 'exit' hook and the usual termination signals SIGKILL
 *   them, and a small watchdog shell (holding a pipe to this process) kills whatever is left if
 *   this process dies without running its hooks (for example tap's SIGKILL after a timeout).
 * - No binary means the test FAILS (ensureNatsServerBinary throws); it never skips.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureNatsServerBinary } from '../../cli/nats-server-binary.js';
import { BoundedLog, type NatsPorts, waitForPortsFile } from '../../cli/nats-server-process.js';
import { ChildReaper } from './child-reaper.js';

export interface NatsServerHandle {
  /** nats://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** The pid of the current process, or of the last one once it has exited. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** http://127.0.0.1:PORT of the monitoring endpoint (/varz, /connz, /routez, ...). */
  readonly monitorUrl: string;
  /** nats://127.0.0.1:PORT of the route listener, for cluster members. */
  readonly clusterUrl: string | undefined;
  /** SIGTERM, then SIGKILL after a short grace; resolves once the process is gone. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL (a crash); resolves once the process is gone. */
  kill(): Promise<void>;
  /** Stops the server if running and starts it again on the same ports (and routes). */
  restart(): Promise<void>;
  /** SIGUSR2: enter lame duck mode (clients are told to move; the server exits afterwards). */
  lameDuck(): void;
  /** The last ~64 KiB of the server's stdout and stderr, across restarts. */
  logs(): string;
}

export interface StartOptions {
  /** Extra command-line arguments, appended last (so they override the harness's). */
  args?: string[];
  /** nats-server configuration text, written to a temp file and passed with `-c`. */
  config?: string;
  /** Client port; default a free one (`-p -1`). */
  port?: number;
  /** JetStream is on (with a temp store dir) unless this is false. */
  jetstream?: false;
}

export interface NatsClusterHandle {
  readonly servers: NatsServerHandle[];
  readonly urls: string[];
  stop(): Promise<void>;
}

interface Teardownable {
  teardown(fn: () => unknown): void;
}

const LOG_LIMIT = 64 * 1024;
const START_TIMEOUT_MS = 15_000;
const ROUTES_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 2_000;
const POLL_MS = 10;
const HOST = '127.0.0.1';

// ---------------------------------------------------------------------------------------------
// Process-wide bookkeeping: every server is reaped with this process (test/helpers/child-reaper.ts).

const reaper = new ChildReaper('nats');
let dirCounter = 0;

function newServerDir(label: string): string {
  dirCounter += 1;
  const dir = join(reaper.root(), `${label}-${dirCounter}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

let binaryPromise: Promise<string> | undefined;

function natsServerBinary(): Promise<string> {
  binaryPromise ??= ensureNatsServerBinary({ install: false });
  return binaryPromise;
}

// ---------------------------------------------------------------------------------------------

type Ports = NatsPorts;

interface ClusterSpec {
  name: string;
  serverName: string;
  /** Cluster URLs of the other members known so far. */
  routes(): string[];
}

interface ServerSpec extends StartOptions {
  cluster?: ClusterSpec;
}

class NatsServer implements NatsServerHandle {
  readonly #binary: string;
  readonly #dir: string;
  readonly #spec: ServerSpec;
  readonly #configFile: string | undefined;
  readonly #log = new BoundedLog(LOG_LIMIT);
  #ports: Ports | undefined;
  #child: ChildProcess | undefined;
  #pid: number | undefined;
  #running = false;
  #closed: Promise<void> = Promise.resolve();
  #stopping: Promise<void> | undefined;
  #starts = 0;
  /** Run after every successful start (clusters wait for routes here). */
  afterStart: (() => Promise<void>) | undefined;

  constructor(binary: string, dir: string, spec: ServerSpec) {
    this.#binary = binary;
    this.#dir = dir;
    this.#spec = spec;
    if (spec.config !== undefined) {
      this.#configFile = join(dir, 'nats-server.conf');
      writeFileSync(this.#configFile, spec.config);
    }
  }

  get port(): number {
    if (this.#ports === undefined) throw new Error('nats-server has not started yet');
    return this.#ports.client;
  }

  get url(): string {
    return `nats://${HOST}:${this.port}`;
  }

  get monitorUrl(): string {
    return `http://${HOST}:${this.#ports?.monitor}`;
  }

  get clusterUrl(): string | undefined {
    const port = this.#ports?.cluster;
    return port === undefined ? undefined : `nats://${HOST}:${port}`;
  }

  get pid(): number | undefined {
    return this.#pid;
  }

  get running(): boolean {
    return this.#running;
  }

  logs(): string {
    return this.#log.toString();
  }

  #args(): string[] {
    const ports = this.#ports;
    const args = [
      '-a',
      HOST,
      '-p',
      String(ports?.client ?? this.#spec.port ?? -1),
      '-m',
      String(ports?.monitor ?? -1),
      '--ports_file_dir',
      this.#dir,
    ];
    if (this.#configFile !== undefined) args.push('-c', this.#configFile);
    if (this.#spec.jetstream !== false) args.push('-js', '-sd', join(this.#dir, 'jetstream'));
    const cluster = this.#spec.cluster;
    if (cluster !== undefined) {
      args.push('--cluster', `nats://${HOST}:${ports?.cluster ?? -1}`);
      args.push('--cluster_name', cluster.name, '--server_name', cluster.serverName);
      const routes = cluster.routes();
      if (routes.length > 0) args.push('--routes', routes.join(','));
    }
    args.push(...(this.#spec.args ?? []));
    return args;
  }

  async start(): Promise<void> {
    if (this.#running) throw new Error('nats-server is already running');
    const args = this.#args();
    this.#starts += 1;
    if (this.#starts > 1) this.#log.append(`--- restart #${this.#starts - 1} ---\n`);

    const child = spawn(this.#binary, args, { cwd: this.#dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#pid = child.pid;
    this.#running = child.pid !== undefined;
    const append = (chunk: Buffer): void => this.#log.append(chunk.toString('utf8'));
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);

    let exitDescription: string | undefined;
    const closed = new Promise<void>((resolve) => {
      let done = false;
      const finish = (description: string): void => {
        if (done) return;
        done = true;
        exitDescription = description;
        this.#running = false;
        reaper.untrack(child);
        resolve();
      };
      child.once('exit', () => {
        this.#running = false;
        reaper.untrack(child);
      });
      child.once('close', (code, signal) => {
        finish(signal === null ? `exited with code ${code}` : `was killed by ${signal}`);
      });
      child.once('error', (err) => finish(`could not be started (${err.message})`));
    });
    this.#closed = closed;
    if (child.pid !== undefined) reaper.track(child);

    const describe = (what: string): string =>
      `nats-server ${what} before it was ready (${this.#binary} ${args.join(' ')}); its log:\n` +
      this.logs();

    const wait = await waitForPortsFile({
      dir: this.#dir,
      pid: child.pid,
      exited: closed,
      hasExited: () => exitDescription !== undefined,
      timeoutMs: START_TIMEOUT_MS,
      pollMs: POLL_MS,
    });
    if (wait.kind === 'exited') {
      await closed;
      throw new Error(describe(exitDescription ?? 'exited'));
    }
    if (wait.kind === 'timeout') {
      child.kill('SIGKILL');
      await closed;
      throw new Error(describe(`did not write its ports file within ${START_TIMEOUT_MS} ms`));
    }
    this.#ports = wait.ports;
    await this.afterStart?.();
  }

  stop(): Promise<void> {
    if (this.#stopping !== undefined) return this.#stopping;
    if (!this.#running) return this.#closed;
    const child = this.#child!;
    const stopping = (async () => {
      child.kill('SIGTERM');
      const grace = sleep(STOP_GRACE_MS, 'timeout' as const, { ref: false });
      if ((await Promise.race([this.#closed, grace])) === 'timeout') child.kill('SIGKILL');
      await this.#closed;
    })();
    this.#stopping = stopping.finally(() => {
      this.#stopping = undefined;
    });
    return this.#stopping;
  }

  async kill(): Promise<void> {
    if (this.#running) this.#child?.kill('SIGKILL');
    await this.#closed;
  }

  lameDuck(): void {
    if (this.#running) this.#child?.kill('SIGUSR2');
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

async function launch(spec: ServerSpec, label: string): Promise<NatsServer> {
  const binary = await natsServerBinary();
  const server = new NatsServer(binary, newServerDir(label), spec);
  await server.start();
  return server;
}

export async function startNatsServer(options: StartOptions = {}): Promise<NatsServerHandle> {
  return launch(options, 'server');
}

// ---------------------------------------------------------------------------------------------
// Clusters

interface Routez {
  server_id?: string;
  routes?: { remote_id?: string }[] | null;
}

async function routez(server: NatsServer): Promise<Routez | undefined> {
  try {
    const response = await fetch(`${server.monitorUrl}/routez`, {
      signal: AbortSignal.timeout(2_000),
    });
    return response.ok ? ((await response.json()) as Routez) : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves once every running member has a route to every other running member. */
async function waitForRoutes(servers: readonly NatsServer[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastView = '';
  for (;;) {
    const running = servers.filter((server) => server.running);
    const views = await Promise.all(running.map(routez));
    const ids = views.map((view) => view?.server_id);
    const complete = views.every((view, i) => {
      if (view === undefined || ids[i] === undefined) return false;
      const remotes = new Set((view.routes ?? []).map((route) => route.remote_id));
      return ids.every((id, j) => j === i || (id !== undefined && remotes.has(id)));
    });
    if (complete) return;
    lastView = running
      .map((server, i) => `${server.url}: ${views[i]?.routes?.length ?? '?'} route(s)`)
      .join(', ');
    if (Date.now() > deadline) {
      const logs = running.map((server) => `--- ${server.url} ---\n${server.logs()}`).join('\n');
      throw new Error(
        `nats cluster routes did not form within ${timeoutMs} ms (${lastView})\n${logs}`,
      );
    }
    await sleep(50);
  }
}

let clusterCounter = 0;

export async function startNatsCluster(
  size: number,
  options: { name?: string } = {},
): Promise<NatsClusterHandle> {
  if (!Number.isInteger(size) || size < 1)
    throw new Error(`cluster size must be >= 1, got ${size}`);
  clusterCounter += 1;
  const name = options.name ?? `roster-test-${process.pid}-${clusterCounter}`;
  const binary = await natsServerBinary();
  const servers: NatsServer[] = [];

  // Members start one after another on `--cluster ...:-1`; each is given routes to the members
  // already up (whose route ports the ports file told us), and on restart routes to all others
  // on the same ports. No port is guessed, so there is no race for a "free" port.
  try {
    for (let i = 0; i < size; i++) {
      const server: NatsServer = new NatsServer(binary, newServerDir(`${name}-${i}`), {
        jetstream: false,
        cluster: {
          name,
          serverName: `${name}-${i}`,
          routes: () =>
            servers
              .filter((other) => other !== server)
              .map((other) => other.clusterUrl)
              .filter((url) => url !== undefined),
        },
      });
      servers.push(server);
      await server.start();
    }
    await waitForRoutes(servers, ROUTES_TIMEOUT_MS);
  } catch (err) {
    await Promise.all(servers.map((server) => server.stop()));
    throw err;
  }
  for (const server of servers) {
    server.afterStart = () => waitForRoutes(servers, ROUTES_TIMEOUT_MS);
  }

  return {
    servers,
    urls: servers.map((server) => server.url),
    async stop() {
      await Promise.all(servers.map((server) => server.stop()));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// tap helpers

/** Starts a server and stops it in t.teardown, whether the test passes or fails. */
export async function natsServerFor(
  t: Teardownable,
  options?: StartOptions,
): Promise<NatsServerHandle> {
  const server = await startNatsServer(options);
  t.teardown(() => server.stop());
  return server;
}

/** Starts a routed cluster and stops it in t.teardown, whether the test passes or fails. */
export async function natsClusterFor(t: Teardownable, size: number): Promise<NatsClusterHandle> {
  const cluster = await startNatsCluster(size);
  t.teardown(() => cluster.stop());
  return cluster;
}
