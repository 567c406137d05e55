/**
 * Configuration of every `roster` command, in layers: command-line flags, then `ROSTER_*`
 * environment variables, then a YAML or JSON file (`--config FILE` or `ROSTER_CONFIG`), then
 * defaults. One declarative table, CONFIG_KEYS, names every key once: its path in the file, its
 * flag, its environment variable(s), its type, its default, the commands that take it and what
 * it means. The commands build their options from it (configure()), and docs/operations.md's
 * configuration reference is generated from it (renderConfigReference(),
 * `node --import=tsx scripts/config-reference.ts --write`) and checked against it by a test.
 *
 * Every bad value ends in one RosterError ROSTER_ERR_CONFIG (exit 2) whose message starts with
 * where the value came from: `--heartbeat-ms`, `ROSTER_HEARTBEAT_MS`, or the key's path in the
 * file (`nats.servers[0]: not a nats:// URL ("http://x") in roster.yaml`).
 */

import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { parseDocument } from 'yaml';
import { PUBLIC_PARTS } from '../nodes/http/auth.js';
import {
  assertNodeId,
  INSTANCE_STATUSES,
  isServiceName,
  Limits,
  RosterError,
  SCHEMES,
  Subjects,
} from '../protocol/index.js';

// ---------------------------------------------------------------------------------------------
// Value types

/** A bad value; `at` is a suffix of the key's path for an element (`[0]`, `.name`). */
export class ConfigValueError extends Error {
  readonly at: string;
  constructor(message: string, at = '') {
    super(message);
    this.at = at;
  }
}

export interface ValueType<T = unknown> {
  /** How the type reads in the reference ("integer 10-60000"). */
  readonly describe: string;
  /** Argument placeholder in --help (`<ms>`); absent for a switch (no argument). */
  readonly placeholder?: string;
  /** The flag may be given several times; the values are collected. */
  readonly repeatable?: boolean;
  /** From a flag argument or an environment variable. */
  fromText(text: string): T;
  /** From a value of the parsed file (string, number, boolean, array or mapping). */
  fromFile(value: unknown): T;
  /** A value as the reference shows it. */
  show(value: T): string;
}

function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return JSON.stringify((text ?? String(value)).slice(0, 80));
}

function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new ConfigValueError(`expected a string, got ${describeValue(value)}`);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${quote(value)}`;
}

/** A string checked by `check` (which returns an error message or undefined). */
function stringType(
  describe: string,
  placeholder: string,
  check: (text: string) => string | undefined = () => undefined,
): ValueType<string> {
  const parse = (raw: string): string => {
    const text = raw.trim();
    if (text === '') throw new ConfigValueError('must not be empty');
    const problem = check(text);
    if (problem !== undefined) throw new ConfigValueError(problem);
    return text;
  };
  return {
    describe,
    placeholder,
    fromText: parse,
    fromFile: (value) => parse(textOf(value)),
    show: (value) => value,
  };
}

export function intType(
  min: number,
  max: number,
  placeholder = '<n>',
  describe?: string,
): ValueType<number> {
  const what =
    min >= 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : 'an integer';
  const parse = (text: string): number => {
    const t = text.trim();
    const n = /^-?\d+$/.test(t) ? Number(t) : Number.NaN;
    if (!Number.isSafeInteger(n) || (n < 0 && min >= 0)) {
      throw new ConfigValueError(`not ${what} (${quote(text)})`);
    }
    if (n < min || n > max) throw new ConfigValueError(`must be from ${min} to ${max} (got ${n})`);
    return n;
  };
  return {
    describe: describe ?? `integer ${min}-${max}`,
    placeholder,
    fromText: parse,
    fromFile: (value) => {
      if (typeof value === 'number') return parse(String(value));
      if (typeof value === 'string') return parse(value);
      throw new ConfigValueError(`not ${what} (${describeValue(value)})`);
    },
    show: String,
  };
}

const portType = intType(0, 65_535, '<port>', 'port 0-65535 (0: any free port)');

export function enumType<T extends string>(
  values: readonly T[],
  placeholder: string,
): ValueType<T> {
  const parse = (text: string): T => {
    const t = text.trim().toLowerCase();
    if (!(values as readonly string[]).includes(t)) {
      throw new ConfigValueError(`must be one of ${values.join(', ')} (got ${quote(text)})`);
    }
    return t as T;
  };
  return {
    describe: values.join(' | '),
    placeholder,
    fromText: parse,
    fromFile: (value) => parse(textOf(value)),
    show: (value) => value,
  };
}

export const booleanType: ValueType<boolean> = {
  describe: 'boolean',
  fromText(text) {
    const t = text.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(t)) return true;
    if (['0', 'false', 'no', 'off'].includes(t)) return false;
    throw new ConfigValueError(`not a boolean (${quote(text)}; use true or false)`);
  },
  fromFile(value) {
    if (typeof value === 'boolean') return value;
    if (typeof value === 'string') return booleanType.fromText(value);
    throw new ConfigValueError(`not a boolean (${describeValue(value)})`);
  },
  show: String,
};

const NATS_URL = /^(nats|tls):\/\/[^\s/?#]+\/?$/;

function natsUrl(text: string): string {
  const t = text.trim();
  const url = t.includes('://') ? t : `nats://${t}`;
  let ok = NATS_URL.test(url);
  if (ok) {
    try {
      ok = new URL(url).hostname !== '';
    } catch {
      ok = false;
    }
  }
  if (!ok)
    throw new ConfigValueError(`not a nats:// URL (${quote(text)}; expected nats://host:port)`);
  return t;
}

/** One or more NATS server URLs: comma-separated in flags and variables, a list in the file. */
export const natsUrlsType: ValueType<string[]> = {
  describe: 'nats://host:port, comma-separated (a list in the file)',
  placeholder: '<urls>',
  fromText(text) {
    const parts = text
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    if (parts.length === 0) throw new ConfigValueError('expected at least one NATS server URL');
    return parts.map(natsUrl);
  },
  fromFile(value) {
    if (typeof value === 'string') return natsUrlsType.fromText(value);
    if (!Array.isArray(value) || value.length === 0) {
      throw new ConfigValueError('expected a list of nats:// URLs');
    }
    return value.map((item, i) => {
      try {
        return natsUrl(textOf(item));
      } catch (err) {
        throw new ConfigValueError((err as Error).message, `[${i}]`);
      }
    });
  },
  show: (value) => value.join(','),
};

export const fileType: ValueType<string> = stringType('readable file', '<file>', (path) => {
  try {
    accessSync(path, constants.R_OK);
    if (!statSync(path).isFile()) return `${path} is not a file`;
  } catch (err) {
    return `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`;
  }
  return undefined;
});

const nodeIdType = stringType(`[A-Za-z0-9_-], 1-${Limits.maxIdLength} characters`, '<id>', (t) => {
  try {
    assertNodeId(t);
    return undefined;
  } catch {
    return `not a node id (${quote(t)}; use 1-${Limits.maxIdLength} characters of [A-Za-z0-9_-])`;
  }
});

const instanceIdType = stringType('[A-Za-z0-9_-][A-Za-z0-9_:.-]*', '<id>', (t) =>
  t.length <= Limits.maxIdLength && /^[A-Za-z0-9_-][A-Za-z0-9_:.-]*$/.test(t)
    ? undefined
    : `not an instance id (${quote(t)}; use [A-Za-z0-9_:.-], starting with a letter, digit, _ or -)`,
);

export const serviceNameType = stringType('[a-z0-9][a-z0-9_-]*', '<name>', (t) =>
  isServiceName(t)
    ? undefined
    : `not a service name (${quote(t)}; use 1-${Limits.maxServiceNameLength} characters of [a-z0-9_-], starting with a letter or digit)`,
);

const prefixType = stringType('dot-separated tokens of [A-Za-z0-9_-]', '<prefix>', (t) => {
  try {
    new Subjects(t);
    return undefined;
  } catch {
    return `not a subject prefix (${quote(t)}; use dot-separated tokens of [A-Za-z0-9_-], for example "roster" or "prod.roster")`;
  }
});

const inboxPrefixType = stringType('subject without wildcards', '<prefix>', (t) =>
  /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(t) && t.length <= 128
    ? undefined
    : `not a subject prefix (${quote(t)}; use dot-separated tokens of [A-Za-z0-9_-])`,
);

const hostType = stringType('host name or IP address', '<host>', (t) =>
  t.length <= Limits.maxHostLength && /^[A-Za-z0-9_.:%[\]-]+$/.test(t)
    ? undefined
    : `not a host name or IP address (${quote(t)})`,
);

const httpPathType = stringType('path starting with /', '<path>', (t) =>
  t.startsWith('/') && !/\s/.test(t) && t.length <= Limits.maxPathLength
    ? undefined
    : `not an HTTP path (${quote(t)}; it must start with /)`,
);

const plainString = (placeholder: string, max = 1024): ValueType<string> =>
  stringType('string', placeholder, (t) =>
    t.length <= max ? undefined : `longer than ${max} characters`,
  );

/** A list of strings: a repeatable flag, comma-separated in a variable, a list in the file. */
function listType(item: ValueType<string>, placeholder: string, max: number): ValueType<string[]> {
  const check = (items: string[]): string[] => {
    if (items.length > max) throw new ConfigValueError(`more than ${max} entries`);
    return items;
  };
  return {
    describe: `list of ${item.describe} (repeat the flag; comma-separated in the variable)`,
    placeholder,
    repeatable: true,
    fromText: (text) =>
      check(
        text
          .split(',')
          .map((p) => p.trim())
          .filter((p) => p !== '')
          .map((p) => item.fromText(p)),
      ),
    fromFile(value) {
      const items = typeof value === 'string' ? value.split(',') : value;
      if (!Array.isArray(items)) throw new ConfigValueError('expected a list');
      return check(
        items.map((v, i) => {
          try {
            return item.fromFile(v);
          } catch (err) {
            throw new ConfigValueError((err as Error).message, `[${i}]`);
          }
        }),
      );
    },
    show: (value) => value.join(','),
  };
}

/** `key=value` pairs: a repeatable flag, comma-separated in a variable, a mapping in the file. */
const keyValuesType: ValueType<Record<string, string>> = {
  describe:
    'key=value pairs (repeat the flag; comma-separated in the variable; a mapping in the file)',
  placeholder: '<key=value>',
  repeatable: true,
  fromText(text) {
    const out: Record<string, string> = Object.create(null);
    for (const part of text.split(',')) {
      if (part.trim() === '') continue;
      const eq = part.indexOf('=');
      const key = eq < 0 ? '' : part.slice(0, eq).trim();
      if (key === '') throw new ConfigValueError(`expected key=value (${quote(part)})`);
      out[checkMetaKey(key)] = checkMetaValue(part.slice(eq + 1), key);
    }
    return { ...out };
  },
  fromFile(value) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ConfigValueError('expected a mapping of key: value');
    }
    const out: Record<string, string> = {};
    for (const [key, v] of Object.entries(value)) {
      try {
        out[checkMetaKey(key)] = checkMetaValue(textOf(v), key);
      } catch (err) {
        throw new ConfigValueError((err as Error).message, `.${key}`);
      }
    }
    if (Object.keys(out).length > Limits.maxMetaKeys) {
      throw new ConfigValueError(`more than ${Limits.maxMetaKeys} keys`);
    }
    return out;
  },
  show: (value) =>
    Object.entries(value)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
};

function checkMetaKey(key: string): string {
  if (['__proto__', 'constructor', 'prototype'].includes(key)) {
    throw new ConfigValueError(`${quote(key)} is not allowed as a key`);
  }
  if (key.length > Limits.maxMetaKeyLength) {
    throw new ConfigValueError(`key ${quote(key)} is longer than ${Limits.maxMetaKeyLength}`);
  }
  return key;
}

function checkMetaValue(value: string, key: string): string {
  if (value.length > Limits.maxMetaValueLength) {
    throw new ConfigValueError(
      `value of ${quote(key)} is longer than ${Limits.maxMetaValueLength}`,
    );
  }
  return value;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

// ---------------------------------------------------------------------------------------------
// The table

/** Every command that takes its settings from this table. */
export const CONFIG_COMMANDS = [
  'node',
  'services',
  'instances',
  'watch',
  'nodes',
  'health',
  'register',
  'demo-service',
] as const;
export type ConfigCommand = (typeof CONFIG_COMMANDS)[number];

const ALL: readonly ConfigCommand[] = CONFIG_COMMANDS;
const LONG_RUNNING: readonly ConfigCommand[] = ['node', 'watch', 'register', 'demo-service'];
const CLIENTS: readonly ConfigCommand[] = [
  'services',
  'instances',
  'watch',
  'nodes',
  'health',
  'register',
  'demo-service',
];

export interface ConfigKey {
  /** Path in the configuration file (`nats.servers`); also the key's name. */
  readonly key: string;
  /** The long flag (`--nats`). */
  readonly flag: string;
  /** Environment variables, first one preferred (`ROSTER_NATS_URL`, then `NATS_URL`). */
  readonly env: readonly string[];
  readonly type: ValueType;
  /** Used when no layer sets the key (absent: unset). */
  readonly default?: unknown;
  /** Per-command defaults that replace `default`. */
  readonly commandDefaults?: Partial<Record<ConfigCommand, unknown>>;
  /** How the reference shows the default when it is not a plain value. */
  readonly defaultText?: string;
  /** The command cannot run without it. */
  readonly required?: boolean;
  /** Keys that must not be set together with this one. */
  readonly conflicts?: readonly string[];
  /** A secret: never shown in messages. */
  readonly secret?: boolean;
  readonly commands: readonly ConfigCommand[];
  readonly description: string;
}

/** The one table of configuration keys. Order is the reference's order. */
export const CONFIG_KEYS: readonly ConfigKey[] = [
  // --- connection (every command) ---
  {
    key: 'nats.servers',
    flag: '--nats',
    env: ['ROSTER_NATS_URL', 'NATS_URL'],
    type: natsUrlsType,
    default: ['nats://127.0.0.1:4222'],
    commands: ALL,
    description: 'NATS server URLs (nats:// or tls://); more than one for failover',
  },
  {
    key: 'nats.user',
    flag: '--user',
    env: ['ROSTER_NATS_USER'],
    type: plainString('<user>'),
    conflicts: ['nats.token', 'nats.credsFile', 'nats.nkeySeedFile'],
    commands: ALL,
    description: 'NATS user name (with nats.pass)',
  },
  {
    key: 'nats.pass',
    flag: '--pass',
    env: ['ROSTER_NATS_PASS'],
    type: plainString('<password>'),
    secret: true,
    conflicts: ['nats.token', 'nats.credsFile', 'nats.nkeySeedFile'],
    commands: ALL,
    description: 'NATS password (with nats.user)',
  },
  {
    key: 'nats.token',
    flag: '--token',
    env: ['ROSTER_NATS_TOKEN'],
    type: plainString('<token>', 4096),
    secret: true,
    conflicts: ['nats.credsFile', 'nats.nkeySeedFile'],
    commands: ALL,
    description: 'NATS authentication token',
  },
  {
    key: 'nats.credsFile',
    flag: '--creds',
    env: ['ROSTER_NATS_CREDS'],
    type: fileType,
    conflicts: ['nats.nkeySeedFile'],
    commands: ALL,
    description: 'NATS credentials file (user JWT and NKey seed, decentralized auth)',
  },
  {
    key: 'nats.nkeySeedFile',
    flag: '--nkey-seed-file',
    env: ['ROSTER_NATS_NKEY_SEED_FILE'],
    type: fileType,
    commands: ALL,
    description: 'file holding a NATS NKey user seed (SU…)',
  },
  {
    key: 'nats.tls.ca',
    flag: '--tls-ca',
    env: ['ROSTER_NATS_TLS_CA'],
    type: fileType,
    commands: ALL,
    description: 'CA certificate(s) (PEM) to verify the NATS server with; turns TLS on',
  },
  {
    key: 'nats.tls.cert',
    flag: '--tls-cert',
    env: ['ROSTER_NATS_TLS_CERT'],
    type: fileType,
    commands: ALL,
    description: 'client certificate (PEM) for NATS mutual TLS (with nats.tls.key)',
  },
  {
    key: 'nats.tls.key',
    flag: '--tls-key',
    env: ['ROSTER_NATS_TLS_KEY'],
    type: fileType,
    commands: ALL,
    description: 'private key (PEM) of nats.tls.cert',
  },
  {
    key: 'nats.inboxPrefix',
    flag: '--inbox-prefix',
    env: ['ROSTER_NATS_INBOX_PREFIX'],
    type: inboxPrefixType,
    defaultText: '_INBOX',
    commands: ALL,
    description:
      'prefix of reply subjects; give each NATS user its own (`_INBOX.payments`) so permissions can keep users out of each other’s replies',
  },
  {
    key: 'nats.connectTimeoutMs',
    flag: '--connect-timeout-ms',
    env: ['ROSTER_CONNECT_TIMEOUT_MS'],
    type: intType(1, 3_600_000, '<ms>'),
    default: 30_000,
    commands: LONG_RUNNING,
    description:
      'how long a long-running command waits for NATS at start (so it can start before its servers)',
  },
  {
    key: 'prefix',
    flag: '--prefix',
    env: ['ROSTER_PREFIX'],
    type: prefixType,
    default: 'roster',
    commands: ALL,
    description: 'subject prefix shared by one cluster; subjects are `<prefix>.v1.…`',
  },
  {
    key: 'timeoutMs',
    flag: '--timeout-ms',
    env: ['ROSTER_TIMEOUT_MS'],
    type: intType(1, 600_000, '<ms>'),
    default: 2_000,
    commands: CLIENTS,
    description:
      'timeout of each request to the cluster; one-shot commands also give up connecting after it',
  },
  {
    key: 'log.level',
    flag: '--log-level',
    env: ['ROSTER_LOG_LEVEL'],
    type: enumType(LOG_LEVELS, '<level>'),
    default: 'warn',
    commandDefaults: { node: 'info', register: 'info', 'demo-service': 'info' },
    defaultText: 'info (node, register, demo-service), warn (others)',
    commands: ALL,
    description:
      'log level; logs are JSON lines on stdout for `node`, on stderr for the other commands',
  },
  // --- cluster view (nodes, health) ---
  {
    key: 'cluster.waitMs',
    flag: '--wait-ms',
    env: ['ROSTER_WAIT_MS'],
    type: intType(10, 60_000, '<ms>'),
    default: 500,
    commands: ['nodes', 'health'],
    description: 'how long to collect the nodes’ answers to the cluster-info scatter',
  },
  {
    key: 'cluster.expectNodes',
    flag: '--expect-nodes',
    env: ['ROSTER_EXPECT_NODES'],
    type: intType(1, Limits.maxVectorEntries),
    commands: ['nodes', 'health'],
    description:
      'nodes the cluster should have: stop waiting once that many answered; `health` fails with fewer',
  },
  // --- registry node ---
  {
    key: 'node.id',
    flag: '--id',
    env: ['ROSTER_NODE_ID'],
    type: nodeIdType,
    defaultText: 'random',
    commands: ['node'],
    description: 'node id, stable across restarts ([A-Za-z0-9_-])',
  },
  {
    key: 'node.heartbeatMs',
    flag: '--heartbeat-ms',
    env: ['ROSTER_HEARTBEAT_MS'],
    type: intType(10, 60_000, '<ms>'),
    default: 1_000,
    commands: ['node'],
    description:
      'heartbeat period (jittered ±20 %); a peer is dead after 3 missed heartbeats + 500 ms',
  },
  {
    key: 'node.defaultTtlMs',
    flag: '--default-ttl-ms',
    env: ['ROSTER_DEFAULT_TTL_MS'],
    type: intType(Limits.minTtlMs, Limits.maxTtlMs, '<ms>'),
    default: Limits.defaultTtlMs,
    commands: ['node'],
    description: 'session TTL granted to a client that asks for none',
  },
  {
    key: 'metrics.port',
    flag: '--metrics-port',
    env: ['ROSTER_METRICS_PORT'],
    type: portType,
    defaultText: 'off',
    commands: ['node'],
    description: 'serve Prometheus metrics, /healthz and /readyz on this port',
  },
  {
    key: 'metrics.host',
    flag: '--metrics-host',
    env: ['ROSTER_METRICS_HOST'],
    type: hostType,
    default: '0.0.0.0',
    commands: ['node'],
    description: 'address the metrics server listens on',
  },
  {
    key: 'http.port',
    flag: '--http-port',
    env: ['ROSTER_HTTP_PORT'],
    type: portType,
    defaultText: 'off',
    commands: ['node'],
    description:
      'serve the HTTP API, the WebSocket watch stream, the dashboard (/ui), /openapi.json and /metrics on this port',
  },
  {
    key: 'http.host',
    flag: '--http-host',
    env: ['ROSTER_HTTP_HOST'],
    type: hostType,
    default: '0.0.0.0',
    commands: ['node'],
    description: 'address the HTTP API listens on',
  },
  {
    key: 'http.token',
    flag: '--http-token',
    env: ['ROSTER_HTTP_TOKEN'],
    type: plainString('<token>', 4096),
    secret: true,
    defaultText: 'none (the API is open)',
    commands: ['node'],
    description:
      'bearer token the HTTP API and the watch stream require (`Authorization: Bearer …`; browsers pass `?token=` to /ui and the stream)',
  },
  {
    key: 'http.public',
    flag: '--http-public',
    env: ['ROSTER_HTTP_PUBLIC'],
    type: listType(
      enumType([...PUBLIC_PARTS, 'none'], '<part>'),
      '<part>',
      PUBLIC_PARTS.length + 1,
    ),
    default: ['ui'],
    commands: ['node'],
    description:
      'parts served without the token when one is set: metrics, ui, openapi, health, or none (/healthz and /readyz are always open)',
  },
  // --- sessions of the registering commands ---
  {
    key: 'session.ttlMs',
    flag: '--ttl-ms',
    env: ['ROSTER_SESSION_TTL_MS'],
    type: intType(Limits.minTtlMs, Limits.maxTtlMs, '<ms>'),
    default: Limits.defaultTtlMs,
    commands: ['register', 'demo-service'],
    description:
      'session TTL: if the process dies, its instances leave every pool within TTL + 1 s',
  },
  // --- register ---
  {
    key: 'register.service',
    flag: '--service',
    env: ['ROSTER_REGISTER_SERVICE'],
    type: serviceNameType,
    required: true,
    commands: ['register'],
    description: 'service name to register',
  },
  {
    key: 'register.host',
    flag: '--host',
    env: ['ROSTER_REGISTER_HOST'],
    type: hostType,
    required: true,
    commands: ['register'],
    description: 'host (name or IP) where the service is reached',
  },
  {
    key: 'register.port',
    flag: '--port',
    env: ['ROSTER_REGISTER_PORT'],
    type: intType(1, 65_535, '<port>'),
    required: true,
    commands: ['register'],
    description: 'port where the service is reached',
  },
  {
    key: 'register.id',
    flag: '--id',
    env: ['ROSTER_REGISTER_ID'],
    type: instanceIdType,
    defaultText: '<service>-<host>-<port>',
    commands: ['register'],
    description: 'instance id (stable, so re-running the command replaces the instance)',
  },
  {
    key: 'register.tags',
    flag: '--tag',
    env: ['ROSTER_REGISTER_TAGS'],
    type: listType(plainString('<tag>', Limits.maxTagLength), '<tag>', Limits.maxTags),
    default: [],
    defaultText: 'none',
    commands: ['register'],
    description: 'tags of the instance',
  },
  {
    key: 'register.meta',
    flag: '--meta',
    env: ['ROSTER_REGISTER_META'],
    type: keyValuesType,
    default: {},
    defaultText: 'none',
    commands: ['register'],
    description:
      'metadata of the instance (for example `roster.route.path-prefix=/payments` declares a gateway route)',
  },
  {
    key: 'register.weight',
    flag: '--weight',
    env: ['ROSTER_REGISTER_WEIGHT'],
    type: intType(0, Limits.maxWeight),
    default: 1,
    commands: ['register'],
    description: 'weight for weighted balancing (0: never picked)',
  },
  {
    key: 'register.scheme',
    flag: '--scheme',
    env: ['ROSTER_REGISTER_SCHEME'],
    type: enumType(SCHEMES, '<scheme>'),
    defaultText: 'unset (http)',
    commands: ['register'],
    description: 'protocol spoken by the instance',
  },
  {
    key: 'register.zone',
    flag: '--zone',
    env: ['ROSTER_REGISTER_ZONE'],
    type: plainString('<zone>', Limits.maxZoneLength),
    commands: ['register'],
    description: 'availability zone, for zone-aware balancing',
  },
  {
    key: 'register.version',
    flag: '--service-version',
    env: ['ROSTER_REGISTER_VERSION'],
    type: plainString('<version>', Limits.maxVersionLength),
    commands: ['register'],
    description: 'version of the instance (semver ranges can select on it)',
  },
  {
    key: 'register.status',
    flag: '--status',
    env: ['ROSTER_REGISTER_STATUS'],
    type: enumType(INSTANCE_STATUSES, '<status>'),
    defaultText: 'passing',
    commands: ['register'],
    description: 'initial status (a health check then decides)',
  },
  {
    key: 'register.check.http',
    flag: '--check-http',
    env: ['ROSTER_REGISTER_CHECK_HTTP'],
    type: httpPathType,
    conflicts: ['register.check.tcp'],
    commands: ['register'],
    description: 'the owning node probes GET http://host:port<path> (2xx passing)',
  },
  {
    key: 'register.check.tcp',
    flag: '--check-tcp',
    env: ['ROSTER_REGISTER_CHECK_TCP'],
    type: booleanType,
    default: false,
    commands: ['register'],
    description: 'the owning node probes a TCP connection to host:port',
  },
  {
    key: 'register.check.intervalMs',
    flag: '--check-interval-ms',
    env: ['ROSTER_REGISTER_CHECK_INTERVAL_MS'],
    type: intType(200, 600_000, '<ms>'),
    default: 5_000,
    commands: ['register'],
    description: 'time between health probes',
  },
  {
    key: 'register.check.timeoutMs',
    flag: '--check-timeout-ms',
    env: ['ROSTER_REGISTER_CHECK_TIMEOUT_MS'],
    type: intType(50, 60_000, '<ms>'),
    default: 2_000,
    commands: ['register'],
    description: 'timeout of one health probe',
  },
  // --- demo-service ---
  {
    key: 'demoService.name',
    flag: '--name',
    env: ['ROSTER_DEMO_SERVICE_NAME'],
    type: serviceNameType,
    default: 'demo',
    commands: ['demo-service'],
    description: 'service name; the instances declare the gateway route /<name>',
  },
  {
    key: 'demoService.instances',
    flag: '--instances',
    env: ['ROSTER_DEMO_SERVICE_INSTANCES'],
    type: intType(1, 64),
    default: 3,
    commands: ['demo-service'],
    description: 'instances to run (one HTTP server each)',
  },
  {
    key: 'demoService.port',
    flag: '--port',
    env: ['ROSTER_DEMO_SERVICE_PORT'],
    type: portType,
    default: 0,
    defaultText: '0 (free ports)',
    commands: ['demo-service'],
    description: 'port of the first instance; instance i listens on port + i',
  },
  {
    key: 'demoService.listenHost',
    flag: '--listen-host',
    env: ['ROSTER_DEMO_SERVICE_LISTEN_HOST'],
    type: hostType,
    default: '127.0.0.1',
    commands: ['demo-service'],
    description: 'address the instances listen on',
  },
  {
    key: 'demoService.advertiseHost',
    flag: '--advertise-host',
    env: ['ROSTER_DEMO_SERVICE_ADVERTISE_HOST'],
    type: hostType,
    defaultText: 'the listen host (127.0.0.1 for a wildcard)',
    commands: ['demo-service'],
    description: 'host registered for the instances (what gateways connect to)',
  },
];

/** The environment variable naming the configuration file, and the flag. */
export const CONFIG_FILE_ENV = 'ROSTER_CONFIG';
export const CONFIG_FILE_FLAG = '--config';

/** Top-level sections of a configuration file that belong to other components. */
export const FOREIGN_SECTIONS: readonly string[] = ['gateway'];

const BY_KEY = new Map(CONFIG_KEYS.map((k) => [k.key, k]));

export function configKey(key: string): ConfigKey {
  const found = BY_KEY.get(key);
  if (found === undefined) throw new Error(`no configuration key ${key}`);
  return found;
}

export function keysFor(command: ConfigCommand): ConfigKey[] {
  return CONFIG_KEYS.filter((k) => k.commands.includes(command));
}

/** commander's attribute name for a flag (`--heartbeat-ms` → heartbeatMs). */
export function attributeOf(flag: string): string {
  return new Option(flag).attributeName();
}

function defaultFor(key: ConfigKey, command: ConfigCommand | undefined): unknown {
  if (command !== undefined && key.commandDefaults && command in key.commandDefaults) {
    return key.commandDefaults[command];
  }
  return key.default;
}

// ---------------------------------------------------------------------------------------------
// The file

export type ConfigFile = { readonly path: string; readonly data: Record<string, unknown> };

function fileError(path: string, message: string): RosterError {
  return new RosterError('ROSTER_ERR_CONFIG', `${path}: ${message}`, { path });
}

/** Reads and parses a YAML or JSON configuration file, refusing unknown keys. */
export function loadConfigFile(path: string, origin = CONFIG_FILE_FLAG): ConfigFile {
  let text: string;
  try {
    if (statSync(path).size > 1024 * 1024) throw fileError(path, 'larger than 1 MiB');
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof RosterError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new RosterError(
      'ROSTER_ERR_CONFIG',
      `${origin}: cannot read configuration file ${path} (${code})`,
      { path },
    );
  }
  let data: unknown;
  if (/\.json$/i.test(path)) {
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw fileError(path, `not valid JSON: ${(err as Error).message}`);
    }
  } else {
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    if (doc.errors.length > 0) {
      const first = doc.errors[0]!;
      const line = first.linePos?.[0];
      throw fileError(
        path,
        `not valid YAML${line ? ` (line ${line.line}, column ${line.col})` : ''}: ${(first.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`,
      );
    }
    data = doc.toJS({ maxAliasCount: 100 });
  }
  if (data === null || data === undefined) data = {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw fileError(path, 'expected a mapping of keys at the top level');
  }
  checkKnownKeys(data as Record<string, unknown>, '', path);
  return { path, data: data as Record<string, unknown> };
}

function suggest(path: string): string {
  const lower = path.toLowerCase();
  const close = CONFIG_KEYS.find(
    (k) =>
      k.key.toLowerCase() === lower ||
      k.key.toLowerCase().replace(/[._]/g, '') === lower.replace(/[._-]/g, ''),
  );
  return close ? ` (did you mean ${close.key}?)` : '';
}

function checkKnownKeys(data: Record<string, unknown>, parent: string, file: string): void {
  for (const [name, value] of Object.entries(data)) {
    const path = parent === '' ? name : `${parent}.${name}`;
    if (parent === '' && FOREIGN_SECTIONS.includes(name)) continue;
    if (BY_KEY.has(path)) continue;
    const isSection = CONFIG_KEYS.some((k) => k.key.startsWith(`${path}.`));
    if (isSection) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new RosterError(
          'ROSTER_ERR_CONFIG',
          `${path}: expected a mapping (a section of keys) in ${file}`,
          { path, file },
        );
      }
      checkKnownKeys(value as Record<string, unknown>, path, file);
      continue;
    }
    throw new RosterError('ROSTER_ERR_CONFIG', `${path}: unknown key${suggest(path)} in ${file}`, {
      path,
      file,
    });
  }
}

function lookup(data: Record<string, unknown>, key: string): unknown {
  let node: unknown = data;
  for (const part of key.split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    if (!Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// Resolution

export type ValueSource = 'flag' | 'env' | 'file' | 'default';

export interface ResolvedValue {
  readonly value: unknown;
  readonly source: ValueSource;
  /** `--nats`, `ROSTER_NATS_URL`, `nats.servers in roster.yaml` or `default`. */
  readonly origin: string;
}

export interface ResolveInput {
  /** Values given as flags (already parsed), by key. */
  readonly flags: ReadonlyMap<string, unknown>;
  readonly env: NodeJS.ProcessEnv;
  readonly file?: ConfigFile | undefined;
  readonly command?: ConfigCommand;
}

function configError(origin: string, err: unknown, key: ConfigKey, at = ''): RosterError {
  const message = err instanceof Error ? err.message : String(err);
  const shown = key.secret ? message.replace(/\s*\(".*"[^)]*\)/, '') : message;
  return new RosterError('ROSTER_ERR_CONFIG', `${origin}${at}: ${shown}`, { key: key.key });
}

/**
 * Resolves `keys`: flag > environment > file > default. Throws ROSTER_ERR_CONFIG naming the
 * variable or the file key of a bad value, a conflict, or a missing required key.
 */
export function resolveConfig(
  keys: readonly ConfigKey[],
  input: ResolveInput,
): Map<string, ResolvedValue> {
  const out = new Map<string, ResolvedValue>();
  for (const key of keys) {
    if (input.flags.has(key.key) && input.flags.get(key.key) !== undefined) {
      out.set(key.key, { value: input.flags.get(key.key), source: 'flag', origin: key.flag });
      continue;
    }
    const envName = key.env.find((name) => (input.env[name] ?? '').trim() !== '');
    if (envName !== undefined) {
      let value: unknown;
      try {
        value = key.type.fromText(input.env[envName]!);
      } catch (err) {
        throw configError(envName, err, key);
      }
      out.set(key.key, { value, source: 'env', origin: envName });
      continue;
    }
    const raw = input.file ? lookup(input.file.data, key.key) : undefined;
    if (raw !== undefined && raw !== null && input.file) {
      let value: unknown;
      try {
        value = key.type.fromFile(raw);
      } catch (err) {
        const at = err instanceof ConfigValueError ? err.at : '';
        const e = configError(key.key, err, key, at);
        throw new RosterError('ROSTER_ERR_CONFIG', `${e.message} in ${input.file.path}`, {
          key: key.key,
          file: input.file.path,
        });
      }
      out.set(key.key, {
        value,
        source: 'file',
        origin: `${key.key} in ${input.file.path}`,
      });
      continue;
    }
    const fallback = defaultFor(key, input.command);
    if (fallback !== undefined) {
      out.set(key.key, { value: structuredClone(fallback), source: 'default', origin: 'default' });
    }
  }
  for (const key of keys) {
    const mine = out.get(key.key);
    if (mine === undefined) {
      if (key.required) {
        throw new RosterError(
          'ROSTER_ERR_CONFIG',
          `${key.key} is required: give ${key.flag}, ${key.env[0]} or ${key.key} in the configuration file`,
          { key: key.key },
        );
      }
      continue;
    }
    if (mine.source === 'default' || mine.value === false) continue;
    for (const other of key.conflicts ?? []) {
      const theirs = out.get(other);
      if (theirs === undefined || theirs.source === 'default' || theirs.value === false) continue;
      throw new RosterError(
        'ROSTER_ERR_CONFIG',
        `${mine.origin} cannot be combined with ${theirs.origin}`,
        { key: key.key },
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// commander integration

function helpText(key: ConfigKey, command: ConfigCommand | undefined): string {
  const fallback = defaultFor(key, command);
  const def =
    key.defaultText !== undefined && (key.commandDefaults === undefined || command === undefined)
      ? key.defaultText
      : fallback !== undefined
        ? key.type.show(fallback as never)
        : key.defaultText;
  const parts = [key.description];
  if (def !== undefined && def !== '') parts.push(`(default: ${def})`);
  parts.push(`[env: ${key.env.join(', ')}] [file: ${key.key}]`);
  return parts.join(' ');
}

function optionFor(key: ConfigKey, command: ConfigCommand | undefined): Option {
  const placeholder = key.type.placeholder;
  const option = new Option(
    placeholder === undefined ? key.flag : `${key.flag} ${placeholder}`,
    helpText(key, command),
  );
  if (placeholder !== undefined) {
    option.argParser((value: string, previous: unknown) => {
      let parsed: unknown;
      try {
        parsed = key.type.fromText(value);
      } catch (err) {
        throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
      }
      if (!key.type.repeatable || previous === undefined) return parsed;
      if (Array.isArray(parsed) && Array.isArray(previous)) return [...previous, ...parsed];
      return { ...(previous as object), ...(parsed as object) };
    });
  }
  return option;
}

interface CommandState {
  command?: ConfigCommand;
  keys: ConfigKey[];
  /** Reads `--config` / ROSTER_CONFIG. */
  file: boolean;
}

const configured = new WeakMap<Command, CommandState>();

export interface ConfigureOptions {
  /** The command's name in the table (for per-command defaults). */
  readonly command?: ConfigCommand;
  /**
   * Add `--config` and read the file named by it or by ROSTER_CONFIG (default true). A command
   * with a configuration file of its own (`roster gateway`) passes false: flags and the
   * environment are still layered.
   */
  readonly file?: boolean;
}

function hasLongFlag(command: Command, flag: string): boolean {
  return command.options.some((option) => option.long === flag);
}

/**
 * Adds the options of `keys` to `command` (and `--config`) and layers them before its action
 * runs: after this, the action's options hold, for every key, the flag's value, else the
 * environment's, else the file's, else the default (under commander's attribute names:
 * `--heartbeat-ms` → `heartbeatMs`). Calling it again adds further keys.
 */
export function configureKeys(
  command: Command,
  keys: readonly ConfigKey[],
  options: ConfigureOptions = {},
): Command {
  let state = configured.get(command);
  if (state === undefined) {
    const fresh: CommandState = { keys: [], file: false };
    state = fresh;
    configured.set(command, fresh);
    command.hook('preAction', (_hooked, actionCommand) => {
      if (actionCommand === command) applyLayers(command, fresh);
    });
  }
  if (options.command !== undefined) state.command ??= options.command;
  if ((options.file ?? true) && !state.file && !hasLongFlag(command, CONFIG_FILE_FLAG)) {
    state.file = true;
    command.addOption(
      new Option(
        `${CONFIG_FILE_FLAG} <file>`,
        `YAML or JSON configuration file; flags override the environment, which overrides the file [env: ${CONFIG_FILE_ENV}]`,
      ),
    );
  }
  for (const key of keys) {
    if (state.keys.some((k) => k.key === key.key)) continue;
    state.keys.push(key);
    command.addOption(optionFor(key, state.command));
  }
  return command;
}

/** configureKeys with every key the table gives `name` (the command's name). */
export function configure(command: Command, name: ConfigCommand): Command {
  return configureKeys(command, keysFor(name), { command: name });
}

function applyLayers(command: Command, state: CommandState): void {
  const flags = new Map<string, unknown>();
  for (const key of state.keys) {
    const attr = attributeOf(key.flag);
    if (command.getOptionValueSource(attr) === 'cli')
      flags.set(key.key, command.getOptionValue(attr));
  }
  const cliConfig = state.file
    ? (command.getOptionValue('config') as string | undefined)
    : undefined;
  const envConfig = state.file ? (process.env[CONFIG_FILE_ENV] ?? '').trim() : '';
  const file =
    cliConfig !== undefined
      ? loadConfigFile(cliConfig, CONFIG_FILE_FLAG)
      : envConfig !== ''
        ? loadConfigFile(envConfig, CONFIG_FILE_ENV)
        : undefined;
  const resolved = resolveConfig(state.keys, {
    flags,
    env: process.env,
    file,
    ...(state.command !== undefined ? { command: state.command } : {}),
  });
  for (const key of state.keys) {
    const attr = attributeOf(key.flag);
    const value = resolved.get(key.key);
    if (value === undefined) continue;
    const source =
      value.source === 'flag' ? 'cli' : value.source === 'file' ? 'config' : value.source;
    command.setOptionValueWithSource(attr, value.value, source);
  }
  originsByCommand.set(command, resolved);
}

const originsByCommand = new WeakMap<Command, Map<string, ResolvedValue>>();

/** Where each key's value came from, for a command whose action is running (diagnostics). */
export function resolvedOrigins(command: Command): ReadonlyMap<string, ResolvedValue> {
  return originsByCommand.get(command) ?? new Map();
}

// ---------------------------------------------------------------------------------------------
// The reference (docs/operations.md)

export const REFERENCE_BEGIN = '<!-- config-reference:begin (generated from cli/config.ts) -->';
export const REFERENCE_END = '<!-- config-reference:end -->';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function defaultCell(key: ConfigKey): string {
  if (key.required) return '*required*';
  if (key.defaultText !== undefined) return key.defaultText;
  if (key.default === undefined) return 'unset';
  return `\`${key.type.show(key.default as never)}\``;
}

/** The configuration reference: one markdown table, one row per key, in table order. */
export function renderConfigReference(): string {
  const rows = [
    '| Key (file) | Flag | Environment | Type | Default | Commands | Description |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const key of CONFIG_KEYS) {
    const placeholder = key.type.placeholder === undefined ? '' : ` ${key.type.placeholder}`;
    const commands =
      key.commands.length === CONFIG_COMMANDS.length ? 'all' : key.commands.join(', ');
    rows.push(
      `| \`${key.key}\` | \`${key.flag}${placeholder}\` | ${key.env.map((e) => `\`${e}\``).join(', ')} | ${cell(key.type.describe)} | ${cell(defaultCell(key))} | ${commands} | ${cell(key.description)} |`,
    );
  }
  return `${REFERENCE_BEGIN}\n${rows.join('\n')}\n${REFERENCE_END}`;
}
