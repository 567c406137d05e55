/**
 * Registry node processes for integration tests: `roster node` run from source
 * (`node --import=tsx cli/main.ts node …`), as an operator would run it.
 *
 * - startNodeProcess resolves once the node logs `"msg":"node ready"` (its metrics port is read
 *   from that line); it rejects with the captured output when the process exits first or is
 *   not ready within the timeout (the process is killed then).
 * - Every child is tracked: a process 'exit' hook and the usual termination signals SIGKILL
 *   them, and a watchdog shell (holding a pipe to this process) kills whatever is left if this
 *   process dies without running its hooks (tap's SIGKILL after a timeout).
 * - runCli runs a short-lived `roster` command and returns its exit code and output; startCli
 *   starts a long-running one (`demo`) and waits for its output.
 * - clusterInfo asks every node for its state (scatter-gather on the clusterInfo subject).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BoundedLog, type ProcessExit, watchExit } from '../../cli/nats-server-process.js';
import {
  DEFAULT_PREFIX,
  decodeAs,
  encodeTrusted,
  type MessageOf,
  Subjects,
} from '../../protocol/index.js';
import type { Bus } from '../../transport/bus.js';
import { ChildReaper } from './child-reaper.js';

export type { ProcessExit } from '../../cli/nats-server-process.js';

/** The repository root (this file is test/helpers/node-process.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The CLI entry point, run from source with tsx. */
export const CLI_MAIN = join(REPO_ROOT, 'cli', 'main.ts');

const LOG_LIMIT = 256 * 1024;
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;

export interface NodeProcessOptions {
  /** NATS server URL(s), passed as --nats. */
  readonly natsUrl: string;
  /** Node id, passed as --id. */
  readonly id: string;
  /** Extra arguments, appended last (so they override the defaults set here). */
  readonly args?: readonly string[];
  /** Environment added to this process's. */
  readonly env?: NodeJS.ProcessEnv;
  /** --heartbeat-ms (default 200, so failures are noticed fast). */
  readonly heartbeatMs?: number;
  /** How long to wait for the "node ready" line (default 30 s). */
  readonly readyTimeoutMs?: number;
}

export interface NodeProcess {
  readonly id: string;
  readonly pid: number;
  /** The port of --metrics-port 0, as the ready line reported it. */
  readonly metricsPort: number;
  /** http://127.0.0.1:PORT/metrics */
  readonly metricsUrl: string;
  /** The parsed "node ready" log line. */
  readonly readyLine: Readonly<Record<string, unknown>>;
  readonly running: boolean;
  /** Resolves once the process is gone, with how it ended. */
  readonly exited: Promise<ProcessExit>;
  /** Sends `signal` (default SIGKILL) and resolves once the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<ProcessExit>;
  /** SIGTERM (a clean stop), SIGKILL after a long grace; resolves once the process is gone. */
  stop(): Promise<ProcessExit>;
  /** The last 256 KiB of the process's stdout and stderr. */
  logs(): string;
  /** The body of GET /metrics. */
  metrics(): Promise<string>;
}

interface Teardownable {
  teardown(fn: () => unknown): void;
}

// ---------------------------------------------------------------------------------------------
// Every process started here is reaped with this process (test/helpers/child-reaper.ts).
const reaper = new ChildReaper('nodes');

/** Spawns `node --import=tsx cli/main.ts ARGS` from the repository root, tracked for cleanup. */
function spawnCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv | undefined,
): {
  child: ChildProcess;
  log: BoundedLog;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<ProcessExit>;
  hasExited: () => boolean;
} {
  const child = spawn(process.execPath, ['--import=tsx', CLI_MAIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = new BoundedLog(LOG_LIMIT);
  const out = new BoundedLog(LOG_LIMIT);
  const err = new BoundedLog(LOG_LIMIT);
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (text: string) => {
    log.append(text);
    out.append(text);
  });
  child.stderr?.on('data', (text: string) => {
    log.append(text);
    err.append(text);
  });
  const { exited, hasExited } = watchExit(child);
  if (child.pid !== undefined) reaper.track(child);
  void exited.then(() => reaper.untrack(child));
  return {
    child,
    log,
    stdout: () => out.toString(),
    stderr: () => err.toString(),
    exited,
    hasExited,
  };
}

// ---------------------------------------------------------------------------------------------

/** Calls `onLine` for every complete line of `stream`. */
function onLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  let buffer = '';
  stream?.on('data', (chunk: string | Buffer) => {
    buffer += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl = buffer.indexOf('\n');
    while (nl >= 0) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      nl = buffer.indexOf('\n');
    }
    if (buffer.length > LOG_LIMIT) buffer = buffer.slice(-LOG_LIMIT);
  });
}

function parseJsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Starts `roster node` and resolves once it has logged "node ready". */
export async function startNodeProcess(options: NodeProcessOptions): Promise<NodeProcess> {
  const args = [
    'node',
    '--nats',
    options.natsUrl,
    '--id',
    options.id,
    '--metrics-port',
    '0',
    '--metrics-host',
    '127.0.0.1',
    '--heartbeat-ms',
    String(options.heartbeatMs ?? 200),
    '--log-level',
    'info',
    ...(options.args ?? []),
  ];
  const spawned = spawnCli(args, options.env);
  const { child, log, exited, hasExited } = spawned;
  const timeoutMs = options.readyTimeoutMs ?? READY_TIMEOUT_MS;

  let readyLine: Record<string, unknown> | undefined;
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  onLines(child.stdout, (line) => {
    if (readyLine !== undefined) return;
    const parsed = parseJsonLine(line);
    if (parsed?.msg === 'node ready') {
      readyLine = parsed;
      onReady();
    }
  });

  const describe = (what: string): string =>
    `registry node ${options.id} ${what} before it was ready ` +
    `(node --import=tsx cli/main.ts ${args.join(' ')}); its output:\n${log.toString()}`;

  const timeout = sleep(timeoutMs, 'timeout' as const, { ref: false });
  const outcome = await Promise.race([
    ready.then(() => 'ready' as const),
    exited.then(() => 'exited' as const),
    timeout,
  ]);
  if (outcome === 'exited') throw new Error(describe((await exited).description));
  if (outcome === 'timeout') {
    child.kill('SIGKILL');
    await exited;
    throw new Error(describe(`was not ready within ${timeoutMs} ms`));
  }
  const line = readyLine!;
  const metricsPort = line.metricsPort;
  if (typeof metricsPort !== 'number') {
    child.kill('SIGKILL');
    await exited;
    throw new Error(
      `registry node ${options.id} reported no metrics port: ${JSON.stringify(line)}`,
    );
  }

  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  let stopping: Promise<ProcessExit> | undefined;
  return {
    id: options.id,
    pid: child.pid!,
    metricsPort,
    metricsUrl,
    readyLine: line,
    get running() {
      return !hasExited();
    },
    exited,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!hasExited()) child.kill(signal);
      return exited;
    },
    stop() {
      stopping ??= (async () => {
        if (!hasExited()) {
          child.kill('SIGTERM');
          const grace = sleep(STOP_GRACE_MS, 'timeout' as const, { ref: false });
          if ((await Promise.race([exited, grace])) === 'timeout') child.kill('SIGKILL');
        }
        return exited;
      })();
      return stopping;
    },
    logs: () => log.toString(),
    async metrics() {
      const response = await fetch(metricsUrl, { signal: AbortSignal.timeout(5_000) });
      if (!response.ok) throw new Error(`GET ${metricsUrl}: HTTP ${response.status}`);
      return response.text();
    },
  };
}

/** Starts a node process and SIGKILLs it in t.teardown (whether the test passes or fails). */
export async function nodeProcessFor(
  t: Teardownable,
  options: NodeProcessOptions,
): Promise<NodeProcess> {
  const node = await startNodeProcess(options);
  t.teardown(() => node.kill('SIGKILL'));
  return node;
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a short-lived `roster` command to completion (SIGKILL after `timeoutMs`). */
export async function runCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  const spawned = spawnCli(args, options.env);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const timer = setTimeout(() => spawned.child.kill('SIGKILL'), timeoutMs);
  try {
    const exit = await spawned.exited;
    return {
      code: exit.code,
      signal: exit.signal,
      stdout: spawned.stdout(),
      stderr: spawned.stderr(),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** A long-running `roster` command (for example `demo`), tracked for cleanup like the nodes. */
export interface CliProcess {
  readonly pid: number;
  readonly running: boolean;
  readonly exited: Promise<ProcessExit>;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout matches `pattern`; rejects on exit or after `timeoutMs`, with the output. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends `signal` (default SIGKILL) and resolves once the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<ProcessExit>;
}

export function startCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv } = {},
): CliProcess {
  const spawned = spawnCli(args, options.env);
  const { child, exited, hasExited } = spawned;
  const output = (): string => `stdout:\n${spawned.stdout()}\nstderr:\n${spawned.stderr()}`;
  return {
    pid: child.pid ?? -1,
    get running() {
      return !hasExited();
    },
    exited,
    stdout: spawned.stdout,
    stderr: spawned.stderr,
    async waitForOutput(pattern, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = spawned.stdout().match(pattern);
        if (match) return match;
        if (hasExited()) {
          const exit = await exited;
          throw new Error(
            `roster ${args.join(' ')} ${exit.description} before printing ${pattern}; ${output()}`,
          );
        }
        if (Date.now() > deadline) {
          throw new Error(
            `roster ${args.join(' ')} did not print ${pattern} within ${timeoutMs} ms; ${output()}`,
          );
        }
        await Promise.race([sleep(25), exited]);
      }
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!hasExited()) child.kill(signal);
      return exited;
    },
  };
}

// ---------------------------------------------------------------------------------------------

export interface ClusterInfoOptions {
  /** How long to collect replies (default 500 ms). */
  readonly deadlineMs?: number;
  /** Stop early once this many nodes have answered. */
  readonly expect?: number;
}

/** Every node's answer to a cluster-info scatter, sorted by node id. */
export async function clusterInfo(
  bus: Bus,
  prefix: string = DEFAULT_PREFIX,
  options: ClusterInfoOptions = {},
): Promise<MessageOf<'clusterInfo'>[]> {
  const subjects = new Subjects(prefix);
  const replies = await bus.scatter(subjects.clusterInfo, encodeTrusted('clusterInfoRequest', {}), {
    deadlineMs: options.deadlineMs ?? 500,
    ...(options.expect !== undefined ? { maxReplies: options.expect } : {}),
  });
  return replies
    .map((reply) => decodeAs(reply.data, 'clusterInfo'))
    .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}
