/**
 * Finding (and, where we may, installing) a nats-server binary. Shared by `npm start`,
 * `npm test` (scripts/ensure-nats.ts and the test harness) and the benchmarks, so every entry
 * point resolves the server the same way and fails with the same one-line explanation.
 *
 * Order: `NATS_SERVER_BIN`, then `nats-server` on PATH, then the usual install locations.
 * `NATS_URL` (an already running server) is the caller's choice to make first: see natsUrlFromEnv.
 */

import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { RosterError } from '../protocol/errors.js';

const execFileAsync = promisify(execFile);

/** Install locations tried after PATH (Debian's package puts the binary in /usr/sbin). */
export const WELL_KNOWN_NATS_SERVER_PATHS: readonly string[] = [
  '/usr/sbin/nats-server',
  '/usr/bin/nats-server',
  '/usr/local/bin/nats-server',
];

/** The one line every entry point prints when no server can be had. */
export const NATS_SERVER_INSTALL_HINT =
  'nats-server not found: install it (Debian/Ubuntu: `sudo apt-get install nats-server`; ' +
  'elsewhere see https://docs.nats.io/running-a-nats-service/introduction/installation), ' +
  'or set NATS_SERVER_BIN=/path/to/nats-server, or set NATS_URL=nats://host:4222 to use a running server';

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

/** `NATS_URL` when set and not empty. */
export function natsUrlFromEnv(): string | undefined {
  return nonEmpty(process.env.NATS_URL);
}

/**
 * The nats-server binary to use, or undefined. When `NATS_SERVER_BIN` is set it is the only
 * candidate: an explicit choice that does not point at an executable is not silently replaced by
 * another binary (ensureNatsServerBinary then says what is wrong with it).
 */
export function findNatsServerBinary(
  wellKnownPaths: readonly string[] = WELL_KNOWN_NATS_SERVER_PATHS,
): string | undefined {
  const explicit = nonEmpty(process.env.NATS_SERVER_BIN);
  if (explicit !== undefined) {
    const path = resolve(explicit);
    return isExecutableFile(path) ? path : undefined;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '' || !isAbsolute(dir)) continue;
    const candidate = join(dir, 'nats-server');
    if (isExecutableFile(candidate)) return candidate;
  }
  return wellKnownPaths.find(isExecutableFile);
}

export interface EnsureNatsServerOptions {
  /** Install Debian's nats-server with apt-get when allowed (root on Debian/Ubuntu). Default true. */
  install?: boolean;
  /** Receives one line per notable step (for example "installing nats-server with apt-get"). */
  log?: (line: string) => void;
  /** Locations tried after PATH; default WELL_KNOWN_NATS_SERVER_PATHS (tests override it). */
  wellKnownPaths?: readonly string[];
}

function canInstallWithApt(): boolean {
  return (
    process.platform === 'linux' && existsSync('/etc/debian_version') && process.getuid?.() === 0
  );
}

/** Runs a command, keeping the tail of its output for the error message; rejects on failure. */
function run(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-8192);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) {
        resolvePromise();
        return;
      }
      const lastLine =
        output
          .trim()
          .split('\n')
          .filter((line) => line.trim() !== '')
          .at(-1) ?? '';
      const status = signal === null ? `exit ${code}` : `signal ${signal}`;
      reject(new Error(`${command} ${args.join(' ')} failed (${status}): ${lastLine}`));
    });
  });
}

/**
 * The nats-server binary, installing Debian's package first when there is none, this is
 * Debian/Ubuntu, we run as root and `install` is not false. Throws
 * RosterError(ROSTER_ERR_NATS_SERVER_MISSING) with a one-line explanation otherwise.
 */
export async function ensureNatsServerBinary(
  options: EnsureNatsServerOptions = {},
): Promise<string> {
  const found = findNatsServerBinary(options.wellKnownPaths);
  if (found !== undefined) return found;

  const explicit = nonEmpty(process.env.NATS_SERVER_BIN);
  if (explicit !== undefined) {
    throw new RosterError(
      'ROSTER_ERR_NATS_SERVER_MISSING',
      `NATS_SERVER_BIN=${explicit} is not an executable file: point it at a nats-server binary, ` +
        'or unset it to use nats-server from PATH',
    );
  }

  if (options.install === false || !canInstallWithApt()) {
    throw new RosterError('ROSTER_ERR_NATS_SERVER_MISSING', NATS_SERVER_INSTALL_HINT);
  }

  options.log?.(
    'nats-server not found: installing the Debian package (apt-get update && apt-get install -y nats-server)',
  );
  try {
    await run('apt-get', ['update']);
    await run('apt-get', ['install', '-y', 'nats-server']);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new RosterError(
      'ROSTER_ERR_NATS_SERVER_MISSING',
      `${reason}; ${NATS_SERVER_INSTALL_HINT}`,
      undefined,
      { cause: err },
    );
  }
  const installed = findNatsServerBinary(options.wellKnownPaths);
  if (installed === undefined) {
    throw new RosterError(
      'ROSTER_ERR_NATS_SERVER_MISSING',
      `apt-get installed nats-server but no binary was found; ${NATS_SERVER_INSTALL_HINT}`,
    );
  }
  return installed;
}

/** The first line of `nats-server --version`, for example "nats-server: v2.9.10". */
export async function natsServerVersion(binary: string): Promise<string> {
  const { stdout, stderr } = await execFileAsync(binary, ['--version'], { timeout: 10_000 });
  return (stdout.trim() || stderr.trim()).split('\n')[0] ?? '';
}
