/**
 * Spawns test/fixtures/client-process.ts (a service process holding one Roster session with N
 * instances) and waits for its ready line. `kill('SIGKILL')` is a crash; `stop()` sends
 * SIGTERM, whose handler closes the client gracefully and exits 0.
 *
 * Leftovers never outlive the test process: a process 'exit' hook and the usual termination
 * signals SIGKILL every child still running, and the fixture exits by itself when its stdin
 * (a pipe from this process) closes, which covers this process being SIGKILLed.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BoundedLog } from '../../cli/nats-server-process.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/client-process.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const READY_TIMEOUT_MS = 30_000;

export interface ClientProcessOptions {
  readonly natsUrl: string;
  readonly service: string;
  /** Instances to register (ids `<idPrefix>-0` .. `<idPrefix>-<count-1>`). */
  readonly count: number;
  readonly ttlMs: number;
  readonly idPrefix: string;
  readonly env?: Readonly<Record<string, string>>;
}

export interface ClientExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** performance.now() when the exit event fired. */
  readonly at: number;
}

export interface ClientProcess {
  readonly pid: number;
  /** Instance ids this process registered. */
  readonly ids: readonly string[];
  readonly service: string;
  /** The session's owner node: from the ready line, then from every owner line. */
  readonly owner: string;
  readonly sessionId: string;
  readonly running: boolean;
  /** Every JSON line printed on stdout, in order. */
  readonly lines: readonly Record<string, unknown>[];
  /** Resolves when the process has exited (with when it happened). */
  readonly exited: Promise<ClientExit>;
  /** Sends `signal` (default SIGKILL: a crash) and resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<ClientExit>;
  /** SIGTERM (graceful close: instances deregistered) and resolves once exited. */
  stop(): Promise<ClientExit>;
  /** stdout and stderr so far (bounded). */
  logs(): string;
}

interface Teardownable {
  teardown(fn: () => unknown): void;
}

const live = new Set<ChildProcess>();
let hooksInstalled = false;

function killAll(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.prependOnceListener(signal, () => {
      killAll();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

export async function startClientProcess(options: ClientProcessOptions): Promise<ClientProcess> {
  installHooks();
  const args = [
    '--import=tsx',
    FIXTURE,
    options.natsUrl,
    options.service,
    String(options.count),
    String(options.ttlMs),
    options.idPrefix,
  ];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    await new Promise((resolve) => child.once('error', resolve));
    throw new Error('client-process could not be spawned');
  }
  live.add(child);
  const log = new BoundedLog(64 * 1024);
  const lines: Record<string, unknown>[] = [];
  const state = { owner: '', sessionId: '', running: true };
  const lineListeners = new Set<(l: Record<string, unknown>) => void>();

  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    log.append(text);
    pending += text;
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      const raw = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      nl = pending.indexOf('\n');
      if (!raw.startsWith('{')) continue;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        continue;
      }
      lines.push(parsed);
      if (typeof parsed.owner === 'string') state.owner = parsed.owner;
      if (typeof parsed.session === 'string') state.sessionId = parsed.session;
      for (const l of lineListeners) l(parsed);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => log.append(chunk.toString('utf8')));
  child.stdin!.on('error', () => {});

  const exited = new Promise<ClientExit>((resolve) => {
    child.once('exit', (code, signal) => {
      state.running = false;
      live.delete(child);
      resolve({ code, signal, at: performance.now() });
    });
  });

  const describe = (what: string) =>
    `client-process ${options.idPrefix} ${what}; its output:\n${log.toString()}`;

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(describe(`was not ready within ${READY_TIMEOUT_MS} ms`)));
    }, READY_TIMEOUT_MS);
    const onLine = (l: Record<string, unknown>) => {
      if (l.ready !== true) return;
      clearTimeout(timer);
      lineListeners.delete(onLine);
      resolve();
    };
    lineListeners.add(onLine);
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(describe(`exited (code ${e.code}, signal ${e.signal}) before ready`)));
    });
  });

  const ids = Array.from({ length: options.count }, (_, i) => `${options.idPrefix}-${i}`);
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<ClientExit> => {
    if (state.running) child.kill(signal);
    return exited;
  };
  return {
    pid: child.pid,
    ids,
    service: options.service,
    get owner() {
      return state.owner;
    },
    get sessionId() {
      return state.sessionId;
    },
    get running() {
      return state.running;
    },
    lines,
    exited,
    kill,
    stop: () => kill('SIGTERM'),
    logs: () => log.toString(),
  };
}

/** Starts a client process and SIGKILLs it in t.teardown if it is still running. */
export async function clientProcessFor(
  t: Teardownable,
  options: ClientProcessOptions,
): Promise<ClientProcess> {
  const client = await startClientProcess(options);
  t.teardown(() => client.kill('SIGKILL'));
  return client;
}
