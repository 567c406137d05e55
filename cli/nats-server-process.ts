/**
 * Running a nats-server child process (for `roster demo`, and the spawn core the test harness
 * shares): the port is chosen by the server itself (`-p -1`) or given, and the ports actually
 * bound are read from the ports file it writes (`--ports_file_dir`), raced against the process
 * exiting early and a timeout, so nothing is guessed and a failed start says why, with the
 * server's own log. stop() sends SIGTERM, then SIGKILL after a grace period; a process 'exit'
 * hook kills a server still running when this process exits.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The ports a nats-server reported in its ports file. */
export interface NatsPorts {
  readonly client: number;
  readonly monitor: number | undefined;
  readonly cluster: number | undefined;
}

/** How a child process ended. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** "exited with code 1", "was killed by SIGKILL", "could not be started (ENOENT)". */
  readonly description: string;
}

/** Keeps the last `limit` characters of a stream of text. */
export class BoundedLog {
  readonly limit: number;
  #chunks: string[] = [];
  #size = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  append(text: string): void {
    this.#chunks.push(text);
    this.#size += text.length;
    while (this.#chunks.length > 1 && this.#size - this.#chunks[0]!.length >= this.limit) {
      this.#size -= this.#chunks.shift()!.length;
    }
  }

  toString(): string {
    const all = this.#chunks.join('');
    return all.length > this.limit ? all.slice(all.length - this.limit) : all;
  }
}

function portOf(url: string | undefined): number | undefined {
  if (url === undefined) return undefined;
  try {
    const port = Number(new URL(url).port);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The ports in the ports file the server with `pid` wrote into `dir` (named
 * `<executable>_<pid>.ports`), or undefined while there is none or it is still being written.
 */
export function readPortsFile(dir: string, pid: number): NatsPorts | undefined {
  let name: string | undefined;
  try {
    name = readdirSync(dir).find((file) => file.endsWith(`_${pid}.ports`));
  } catch {
    return undefined;
  }
  if (name === undefined) return undefined;
  let parsed: { nats?: string[]; monitoring?: string[]; cluster?: string[] };
  try {
    parsed = JSON.parse(readFileSync(join(dir, name), 'utf8')) as typeof parsed;
  } catch {
    return undefined; // still being written
  }
  const client = portOf(parsed.nats?.[0]);
  if (client === undefined) return undefined;
  return { client, monitor: portOf(parsed.monitoring?.[0]), cluster: portOf(parsed.cluster?.[0]) };
}

export type PortsWait =
  | { readonly kind: 'ready'; readonly ports: NatsPorts }
  | { readonly kind: 'exited' }
  | { readonly kind: 'timeout' };

/**
 * Polls for the ports file of `pid` until it appears, the process is gone (`exited` settles
 * or `hasExited()` is true) or `timeoutMs` pass. It never kills anything: the caller decides.
 */
export async function waitForPortsFile(options: {
  readonly dir: string;
  readonly pid: number | undefined;
  readonly exited: Promise<unknown>;
  readonly hasExited: () => boolean;
  readonly timeoutMs: number;
  readonly pollMs?: number;
}): Promise<PortsWait> {
  const deadline = Date.now() + options.timeoutMs;
  const pollMs = options.pollMs ?? 10;
  for (;;) {
    if (options.hasExited() || options.pid === undefined) return { kind: 'exited' };
    const ports = readPortsFile(options.dir, options.pid);
    if (ports !== undefined) return { kind: 'ready', ports };
    if (Date.now() > deadline) return { kind: 'timeout' };
    // wake on whichever comes first: the poll interval or the process going away
    await Promise.race([sleep(pollMs), options.exited]);
  }
}

/**
 * Watches a child: `exited` resolves once it is gone (and its output streams are closed), with
 * how it ended; `hasExited()` turns true at the first sign of it.
 */
export function watchExit(child: ChildProcess): {
  exited: Promise<ProcessExit>;
  hasExited: () => boolean;
} {
  let gone = false;
  const exited = new Promise<ProcessExit>((resolve) => {
    let done = false;
    const finish = (exit: ProcessExit): void => {
      gone = true;
      if (done) return;
      done = true;
      resolve(exit);
    };
    child.once('exit', () => {
      gone = true;
    });
    child.once('close', (code, signal) =>
      finish({
        code,
        signal,
        description: signal === null ? `exited with code ${code}` : `was killed by ${signal}`,
      }),
    );
    child.once('error', (err) =>
      finish({ code: null, signal: null, description: `could not be started (${err.message})` }),
    );
  });
  return { exited, hasExited: () => gone };
}

// ---------------------------------------------------------------------------------------------

export interface NatsServerProcessOptions {
  /** Path of the nats-server binary (see ensureNatsServerBinary). */
  readonly binary: string;
  /** Listen address (default 127.0.0.1). */
  readonly host?: string;
  /** Client port; -1 (default) lets the server pick a free one. */
  readonly port?: number;
  /** Monitoring port (`-m`); off when absent, -1 for a free one. */
  readonly monitorPort?: number;
  /** Extra arguments, appended last. */
  readonly args?: readonly string[];
  /** Directory for the ports file; default a fresh temp dir, removed when the server stops. */
  readonly dir?: string;
  /** How long to wait for the ports file (default 15 s). */
  readonly startTimeoutMs?: number;
  /** Time between SIGTERM and SIGKILL in stop() (default 5 s). */
  readonly stopGraceMs?: number;
  /** Characters of output kept for logs() and error messages (default 64 KiB). */
  readonly logLimit?: number;
  /**
   * Run the server in its own process group (default true), so a terminal's Ctrl-C reaches
   * only this process, which then stops its NATS clients before the server.
   */
  readonly ownProcessGroup?: boolean;
}

export interface NatsServerProcess {
  /** nats://HOST:PORT */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The monitoring port, when enabled. */
  readonly monitorPort: number | undefined;
  readonly pid: number;
  readonly running: boolean;
  /** Resolves when the process is gone, however it ended. */
  readonly exited: Promise<ProcessExit>;
  /** The tail of the server's stdout and stderr. */
  logs(): string;
  /** SIGTERM, then SIGKILL after the grace period; resolves once the process is gone. Idempotent. */
  stop(): Promise<ProcessExit>;
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<ProcessExit>;
}

const DEFAULT_START_TIMEOUT_MS = 15_000;
const DEFAULT_STOP_GRACE_MS = 5_000;
const DEFAULT_LOG_LIMIT = 64 * 1024;

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killRunningSync(): void {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
}

/**
 * Starts nats-server and resolves once it listens (its ports file exists). Rejects with the
 * command line and the server's log when it exits first or does not start within the timeout
 * (the process is killed then).
 */
export async function startNatsServerProcess(
  options: NatsServerProcessOptions,
): Promise<NatsServerProcess> {
  const host = options.host ?? '127.0.0.1';
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'roster-nats-'));
  const removeDir = (): void => {
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };
  const args = ['-a', host, '-p', String(options.port ?? -1), '--ports_file_dir', dir];
  if (options.monitorPort !== undefined) args.push('-m', String(options.monitorPort));
  args.push(...(options.args ?? []));

  const log = new BoundedLog(options.logLimit ?? DEFAULT_LOG_LIMIT);
  let child: ChildProcess;
  try {
    child = spawn(options.binary, args, {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: options.ownProcessGroup ?? true,
    });
  } catch (err) {
    removeDir();
    throw err;
  }
  const append = (chunk: Buffer): void => log.append(chunk.toString('utf8'));
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const { exited, hasExited } = watchExit(child);
  if (child.pid !== undefined) {
    running.add(child);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', killRunningSync);
    }
  }
  void exited.then(() => {
    running.delete(child);
    removeDir();
  });

  const describe = (what: string): string =>
    `nats-server ${what} before it was ready (${options.binary} ${args.join(' ')})` +
    (log.toString().trim() === '' ? '' : `; its log:\n${log.toString().trimEnd()}`);

  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const wait = await waitForPortsFile({
    dir,
    pid: child.pid,
    exited,
    hasExited,
    timeoutMs: startTimeoutMs,
  });
  if (wait.kind === 'exited') throw new Error(describe((await exited).description));
  if (wait.kind === 'timeout') {
    child.kill('SIGKILL');
    await exited;
    throw new Error(describe(`did not write its ports file within ${startTimeoutMs} ms`));
  }

  const { ports } = wait;
  const grace = options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
  let stopping: Promise<ProcessExit> | undefined;
  const handle: NatsServerProcess = {
    url: `nats://${host}:${ports.client}`,
    host,
    port: ports.client,
    monitorPort: ports.monitor,
    pid: child.pid!,
    get running() {
      return !hasExited();
    },
    exited,
    logs: () => log.toString(),
    stop() {
      stopping ??= (async () => {
        if (!hasExited()) {
          child.kill('SIGTERM');
          const timeout = sleep(grace, 'timeout' as const, { ref: false });
          if ((await Promise.race([exited, timeout])) === 'timeout') child.kill('SIGKILL');
        }
        return exited;
      })();
      return stopping;
    },
    async kill() {
      if (!hasExited()) child.kill('SIGKILL');
      return exited;
    },
  };
  return handle;
}
