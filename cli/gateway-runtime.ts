/**
 * The V8 garbage-collector mode `roster gateway` runs under (docs/gateway.md *Runtime*,
 * docs/adr/0008-gateway-gc-mode.md). V8 scavenges in parallel and marks concurrently on helper
 * threads; on a machine with two or fewer CPUs those threads compete with the event loop (and
 * with the upstreams and clients on the same cores), and the event loop waits for a helper
 * that waits for a CPU. There the gateway runs under `--single-threaded-gc`, with a young
 * generation of fixed size (YOUNG_GENERATION_FLAGS) and without V8's memory reducer
 * (IDLE_GC_FLAGS).
 *
 * The flags can only be given on Node's command line (NODE_OPTIONS refuses them, and setting one
 * once V8 runs aborts in a GC check), so the `roster` process re-executes itself with it: the
 * gateway runs as its child in its own process group (a terminal's Ctrl-C reaches it once,
 * through the parent), SIGINT, SIGTERM and SIGHUP are passed on, the child's exit code is the
 * parent's, and an IPC channel tells the gateway to stop should the parent die.
 *
 * ROSTER_GATEWAY_GC: `auto` (the default: single-threaded on ≤ 2 CPUs), `single-threaded` or
 * `parallel` (V8's default).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { UsageError } from './options.js';

export const GC_MODE_ENV = 'ROSTER_GATEWAY_GC';
/** Set in the re-executed child: it must not re-execute again. */
export const REEXEC_ENV = 'ROSTER_GATEWAY_REEXEC';

export type GcMode = 'single-threaded' | 'parallel';

/** The GC mode for a setting (ROSTER_GATEWAY_GC) on a machine with `cpus` CPUs. */
export function gatewayGcMode(setting: string | undefined, cpus: number): GcMode {
  switch (setting ?? 'auto') {
    case 'auto':
    case '':
      return cpus <= 2 ? 'single-threaded' : 'parallel';
    case 'single-threaded':
      return 'single-threaded';
    case 'parallel':
      return 'parallel';
    default:
      throw new UsageError(
        `${GC_MODE_ENV}: "${setting}" is not a GC mode (expected auto, single-threaded or parallel)`,
      );
  }
}

/**
 * The young generation in the single-threaded mode: 32 MB semi-spaces, from the start. V8
 * otherwise starts at 1 MB, grows slowly when few objects survive (a proxy's garbage dies
 * young), stops at 16 MB, and shrinks again after an idle spell: a gateway back from a quiet
 * minute scavenged three to four times as often, for more CPU per request in all; and at 32 MB
 * a scavenge comes half as often as at 16 for a pause ~30 % longer, which lowered the p99
 * (docs/adr/0008-gateway-gc-mode.md).
 */
const YOUNG_GENERATION_FLAGS: readonly string[] = [
  '--min-semi-space-size=32',
  '--max-semi-space-size=32',
];

/**
 * No memory-reducing major GCs in the single-threaded mode. After a quiet spell V8's memory
 * reducer starts a major GC (here about every 106 s of a mostly idle process). With no request
 * in flight, the maps of the gateway's per-request and per-connection objects are held only
 * weakly (by their transition trees, feedback vectors and the optimized code that checks them),
 * so that GC frees them, and every optimized function that checks one is thrown away: 27–45 of
 * the hot path's at once. The next burst ran unoptimized code while V8 rebuilt it on the same
 * two cores: p99s of 21–150 ms against ~8 ms for bursts without it
 * (docs/adr/0008-gateway-gc-mode.md). The cost: an idle gateway's heap is not shrunk.
 */
const IDLE_GC_FLAGS: readonly string[] = ['--no-memory-reducer'];

/** Node's command-line flags for a GC mode. */
export function gcModeFlags(mode: GcMode): string[] {
  return mode === 'single-threaded'
    ? ['--single-threaded-gc', ...YOUNG_GENERATION_FLAGS, ...IDLE_GC_FLAGS]
    : [];
}

/**
 * The flags this `roster` process must re-execute itself with (none: run in place): only for
 * the `gateway` command, only once, and only when the flags are not there already.
 */
export function reexecFlags(
  argv: readonly string[],
  execArgv: readonly string[],
  env: NodeJS.ProcessEnv,
  cpus: number,
): string[] {
  if (argv[2] !== 'gateway' || env[REEXEC_ENV] === '1') return [];
  const flags = gcModeFlags(gatewayGcMode(env[GC_MODE_ENV], cpus));
  return flags.every((f) => execArgv.includes(f)) ? [] : flags;
}

const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Runs this same command line as a child under `flags`; resolves with its exit code. */
export function runReexecuted(flags: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [...flags, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [REEXEC_ENV]: '1' },
    detached: true,
  });
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  for (const signal of FORWARDED) process.on(signal, forward);
  return new Promise((resolve) => {
    const done = (code: number): void => {
      for (const signal of FORWARDED) process.off(signal, forward);
      resolve(code);
    };
    child.once('error', (err) => {
      process.stderr.write(`error: could not start the gateway process: ${err.message}\n`);
      done(1);
    });
    child.once('exit', (code, signal) => {
      done(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)));
    });
  });
}

/**
 * In the re-executed gateway: stop gracefully (as on SIGTERM) when the parent goes away, and
 * do not let the IPC channel keep the process alive.
 */
export function stopWhenParentGoes(): void {
  if (process.env[REEXEC_ENV] !== '1' || process.channel === undefined) return;
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
