/**
 * Option parsers and the NATS connection options shared by every `roster` command.
 *
 * Parsers throw commander's InvalidArgumentError, so a bad value ends in one line naming the
 * flag (or the environment variable it came from) and exit code 2 (see cli/main.ts).
 */

import { accessSync, constants } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { assertNodeId, Limits, Subjects } from '../protocol/index.js';
import { type NatsBusOptions, type NatsTlsOptions, readNkeySeedFile } from '../transport/index.js';
import {
  CONFIG_KEYS,
  type ConfigCommand,
  type ConfigKey,
  type ConfigureOptions,
  configKey,
  configureKeys,
  LOG_LEVELS,
  type LogLevel,
} from './config.js';

/** A usage mistake found after parsing (two flags that only make sense together, …): exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export { LOG_LEVELS, type LogLevel } from './config.js';

/** An integer parser bounded to [min, max]. */
export function intIn(min: number, max: number): (value: string) => number {
  return (value: string): number => {
    const text = value.trim();
    const n = /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

/** A TCP port; 0 means "any free port". */
export const parsePort = intIn(0, 65_535);

export function parseLogLevel(value: string): LogLevel {
  const level = value.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}.`);
  }
  return level as LogLevel;
}

export function parseNodeId(value: string): string {
  try {
    return assertNodeId(value.trim());
  } catch {
    throw new InvalidArgumentError(`use 1-${Limits.maxIdLength} characters of [A-Za-z0-9_-].`);
  }
}

export function parsePrefix(value: string): string {
  const prefix = value.trim();
  try {
    return new Subjects(prefix).prefix;
  } catch {
    throw new InvalidArgumentError(
      'use dot-separated tokens of [A-Za-z0-9_-], at most 128 characters (for example "roster" or "prod.roster").',
    );
  }
}

const NATS_SCHEMES = new Set(['nats:', 'tls:']);

/** Comma-separated server URLs: `nats://host:port`, `tls://host:port` or `host:port`. */
export function parseNatsUrls(value: string): string[] {
  const urls = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (urls.length === 0) throw new InvalidArgumentError('expected at least one NATS server URL.');
  for (const url of urls) {
    const withScheme = url.includes('://') ? url : `nats://${url}`;
    let parsed: URL;
    try {
      parsed = new URL(withScheme);
    } catch {
      throw new InvalidArgumentError(`"${url}" is not a URL (expected nats://host:port).`);
    }
    if (!NATS_SCHEMES.has(parsed.protocol) || parsed.hostname === '') {
      throw new InvalidArgumentError(`"${url}" is not a nats:// or tls:// URL.`);
    }
  }
  return urls;
}

/** A path this process can read. */
export function parseReadableFile(value: string): string {
  const path = value.trim();
  try {
    accessSync(path, constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new InvalidArgumentError(`cannot read ${path} (${code}).`);
  }
  return path;
}

/** Environment variables that, when empty, count as unset (so `X=` in a compose file is harmless). */
export const ENV_VARS = [
  'NATS_URL',
  'ROSTER_NODE_ID',
  'ROSTER_PREFIX',
  'ROSTER_LOG_LEVEL',
  'ROSTER_NATS_USER',
  'ROSTER_NATS_PASS',
  'ROSTER_NATS_TOKEN',
  'ROSTER_HTTP_PORT',
  'ROSTER_HTTP_HOST',
  'ROSTER_HTTP_TOKEN',
  'ROSTER_HTTP_PUBLIC',
] as const;

export function dropEmptyEnv(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of ENV_VARS) if (env[name]?.trim() === '') delete env[name];
}

// ---------------------------------------------------------------------------------------------
// NATS connection options

/** What commander gives the action for the options added by addNatsOptions. */
export interface NatsCliOptions {
  nats: string[];
  user?: string;
  pass?: string;
  token?: string;
  creds?: string;
  nkeySeedFile?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  inboxPrefix?: string;
}

/** The NATS connection keys of the configuration table (servers, authentication, TLS, inboxes). */
export const NATS_CONNECTION_KEYS: readonly ConfigKey[] = CONFIG_KEYS.filter(
  (key) => key.key.startsWith('nats.') && key.key !== 'nats.connectTimeoutMs',
);

/**
 * Adds --nats, the authentication flags, the TLS flags and --inbox-prefix (cli/config.ts's
 * table), layered over their `ROSTER_NATS_*` variables (and `NATS_URL`). Pass `file: false`
 * for a command that reads a configuration file of its own: no `--config` is added then.
 */
export function addNatsOptions(command: Command, options: ConfigureOptions = {}): Command {
  return configureKeys(command, NATS_CONNECTION_KEYS, options);
}

/**
 * The connection options every client command shares: the NATS keys plus --prefix and
 * --timeout-ms (with --config and the environment layered under them).
 */
export function addConnectionOptions(command: Command, name: ConfigCommand): Command {
  return configureKeys(
    command,
    [...NATS_CONNECTION_KEYS, configKey('prefix'), configKey('timeoutMs')],
    { command: name },
  );
}

/** Builds the bus options from the parsed flags; throws UsageError for flags that go together. */
export function natsBusOptions(options: NatsCliOptions): NatsBusOptions {
  if ((options.user === undefined) !== (options.pass === undefined)) {
    throw new UsageError(
      options.user === undefined
        ? '--pass needs --user (or ROSTER_NATS_USER, nats.user)'
        : '--user needs --pass (or ROSTER_NATS_PASS, nats.pass)',
    );
  }
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new UsageError(
      options.tlsCert === undefined
        ? '--tls-key needs --tls-cert (or ROSTER_NATS_TLS_CERT, nats.tls.cert)'
        : '--tls-cert needs --tls-key (or ROSTER_NATS_TLS_KEY, nats.tls.key)',
    );
  }
  const out: {
    -readonly [K in keyof NatsBusOptions]: NatsBusOptions[K];
  } = { servers: options.nats };
  if (options.user !== undefined) out.user = options.user;
  if (options.pass !== undefined) out.pass = options.pass;
  if (options.token !== undefined) out.token = options.token;
  if (options.creds !== undefined) out.credsFile = options.creds;
  if (options.inboxPrefix !== undefined) out.inboxPrefix = options.inboxPrefix;
  if (options.nkeySeedFile !== undefined) {
    const seed = readNkeySeedFile(options.nkeySeedFile);
    if (seed === undefined) {
      throw new UsageError(`nats.nkeySeedFile: ${options.nkeySeedFile} does not hold an NKey seed`);
    }
    out.nkeySeed = seed;
  }
  if (
    options.tlsCa !== undefined ||
    options.tlsCert !== undefined ||
    options.tlsKey !== undefined
  ) {
    const tls: { -readonly [K in keyof NatsTlsOptions]: NatsTlsOptions[K] } = {};
    if (options.tlsCa !== undefined) tls.caFile = options.tlsCa;
    if (options.tlsCert !== undefined) tls.certFile = options.tlsCert;
    if (options.tlsKey !== undefined) tls.keyFile = options.tlsKey;
    out.tls = tls;
  }
  return out;
}
