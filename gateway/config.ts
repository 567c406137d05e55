/**
 * The gateway's configuration file (`gateway.yaml`, YAML or JSON): parsed, validated and
 * normalized into a GatewayConfig. Validation is strict: unknown keys are refused, every size
 * is bounded, and each error is one RosterError ROSTER_ERR_CONFIG whose message starts with the
 * path of the bad key (`routes[2].match.path.prefix: must start with /`) and whose
 * `data.path` is that path.
 *
 * A validated config has the input's shape with defaults filled in and files resolved, so
 * validating it again gives the same result (startGateway accepts either).
 * docs/gateway.md is the reference for every key.
 */

import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { compileFilter, type InstanceFilter } from '../client/filter.js';
import { isStrategyName, STRATEGY_NAMES } from '../client/strategies/index.js';
import {
  assertServiceName,
  ID_PATTERN,
  INSTANCE_STATUSES,
  isRosterError,
  Limits,
  RosterError,
  Subjects,
} from '../protocol/index.js';
import { checkNormalPath, compileRegex, compileTemplate } from './route-patterns.js';
import { compileRoutes } from './router.js';
import type { PathMatch, PluginSettings, RetryPolicy, RouteConfig, RouteMatch } from './types.js';

// ---------------------------------------------------------------------------------------------
// Bounds

export const ConfigLimits = {
  /** The config file itself. */
  maxFileBytes: 1024 * 1024,
  maxListeners: 16,
  maxNatsServers: 32,
  maxRoutes: 2_000,
  maxRouteNameLength: 128,
  maxHostsPerRoute: 32,
  maxHostLength: 253,
  maxMethodsPerRoute: 16,
  maxHeadersPerRoute: 16,
  maxHeaderValueLength: 1_024,
  maxPathLength: 1_024,
  maxRegexLength: 512,
  maxPlugins: 32,
  /** Serialized plugin settings of one plugin (JSON characters). */
  maxPluginSettingsLength: 64 * 1024,
  maxRetryAttempts: 10,
  maxRetryStatuses: 16,
  maxTimeoutMs: 3_600_000,
  minTokenLength: 16,
  maxTokenLength: 4_096,
  maxServicesAllowed: 1_000,
  maxYamlAliases: 100,
} as const;

export const DEFAULT_ADMIN_HOST = '127.0.0.1';
export const DEFAULT_LISTENER_HOST = '0.0.0.0';
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
export const DEFAULT_REGISTRY_RESYNC_MS = 30_000;
export const DEFAULT_NATS_CONNECT_TIMEOUT_MS = 30_000;
export const DEFAULT_NATS_SERVER = 'nats://127.0.0.1:4222';

// ---------------------------------------------------------------------------------------------
// Types (the normalized config)

export interface ListenerTlsConfig {
  /** Absolute path of the PEM certificate chain. */
  readonly cert: string;
  /** Absolute path of the PEM private key. */
  readonly key: string;
}

export interface ListenerConfig {
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly host: string;
  readonly tls?: ListenerTlsConfig;
}

export interface NatsTlsFileConfig {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

export interface NatsConfig {
  readonly servers: readonly string[];
  readonly user?: string;
  readonly pass?: string;
  /** The token itself (a `tokenFile` is read into this). */
  readonly token?: string;
  readonly credsFile?: string;
  readonly nkeySeedFile?: string;
  readonly tls?: NatsTlsFileConfig;
  /** Prefix of reply subjects (default `_INBOX`), for NATS users restricted to their own. */
  readonly inboxPrefix?: string;
  /** How long startGateway waits for NATS at start. */
  readonly connectTimeoutMs: number;
}

export interface AdminConfig {
  readonly port: number;
  readonly host: string;
  /** The bearer token (a `tokenFile` is read into this). */
  readonly token: string;
  /** Serve GET /metrics without the token. */
  readonly metricsPublic: boolean;
  /** Serve GET /health and GET /ready without the token (load balancer and kubelet probes). */
  readonly probesPublic: boolean;
}

/** Route settings applied to every route (file and registry) that does not set its own. */
export interface RouteDefaults {
  readonly timeoutMs?: number;
  readonly retries?: RetryPolicy;
  readonly strategy?: string;
  /** Plugins on every route; a route's settings for a plugin are merged over these. */
  readonly plugins: PluginSettings;
}

export interface RegistryRoutesConfig {
  /** Follow routes declared in registration metadata (default true). */
  readonly enabled: boolean;
  /** Only these services may declare routes (absent: every service). */
  readonly services?: readonly string[];
  /** Plugin settings for every registry route, merged over `defaults.plugins`. */
  readonly plugins: PluginSettings;
  /** Re-read the catalogue this often as a safety net (ms). */
  readonly resyncMs: number;
}

export interface GatewayIdentity {
  /** Instance id in the registry (`roster-gateway` service); random per process when absent. */
  readonly id?: string;
  /** A display name (logs, NATS connection name). */
  readonly name: string;
  /** Host registered for this gateway's presence record (default: the machine's host name). */
  readonly advertiseHost?: string;
  /** Longest wait for in-flight requests at shutdown. */
  readonly shutdownGraceMs: number;
}

/** HTTP server settings of the listeners (restart to change). */
export interface ServerConfig {
  /** Largest request head; larger heads get 431 (data plane default 16384). */
  readonly maxHeaderBytes?: number;
  /** Time allowed to receive a whole request (data plane default 300000 ms); then 408. */
  readonly requestTimeoutMs?: number;
  /** Idle time before a client keep-alive connection is closed (data plane default 65000 ms). */
  readonly keepAliveTimeoutMs?: number;
}

/** Upstream connection settings (restart to change). */
export interface UpstreamConfig {
  /** Most connections per upstream instance (default 512). */
  readonly connections?: number;
  /** TCP/TLS connect timeout (default 3000 ms). */
  readonly connectTimeoutMs?: number;
  /** Idle time allowed between response body chunks (default 120000 ms). */
  readonly bodyTimeoutMs?: number;
  /** Verify upstream TLS certificates (default true). */
  readonly rejectUnauthorized?: boolean;
}

/** Pool settings for every upstream pool (restart to change). */
export interface PoolsConfig {
  /** The local zone: pools prefer instances in it while enough of them are healthy. */
  readonly zone?: string;
  /** Zone preference holds while this share of the local zone is healthy (default 70). */
  readonly minZoneHealthyPercent?: number;
  /** Below this percentage of healthy members ejections are ignored (default 50). */
  readonly panicThreshold?: number;
  readonly outlier?: {
    /** Failures in a row (5xx or connect errors) that eject a member (default 5; 0 = never). */
    readonly consecutiveFailures?: number;
    /** First ejection (default 1000 ms), doubled with each repeat. */
    readonly baseEjectionMs?: number;
    /** Longest ejection (default 60000 ms). */
    readonly maxEjectionMs?: number;
    /** Most members ejected at once, percent of the pool (default 50). */
    readonly maxEjectedPercent?: number;
  };
}

/** A route from the file: RouteConfig without `source`. */
export type FileRouteConfig = Omit<RouteConfig, 'source'>;

export interface GatewayConfig {
  readonly gateway: GatewayIdentity;
  readonly listeners: readonly ListenerConfig[];
  readonly nats: NatsConfig;
  readonly prefix: string;
  readonly admin?: AdminConfig;
  /** Proxies in front of the gateway whose X-Forwarded-For entries are trusted. */
  readonly trustedHops: number;
  readonly server: ServerConfig;
  readonly upstream: UpstreamConfig;
  readonly pools: PoolsConfig;
  readonly defaults: RouteDefaults;
  readonly registryRoutes: RegistryRoutesConfig;
  readonly routes: readonly FileRouteConfig[];
}

export interface ValidateOptions {
  /** Relative file paths are resolved against this (default: the working directory). */
  readonly baseDir?: string;
  /** Skip checking that referenced files exist (unit tests of pure shape). */
  readonly skipFileChecks?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Small validators. Every one throws RosterError ROSTER_ERR_CONFIG naming `path`.

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export function configError(path: string, message: string): RosterError {
  return new RosterError('ROSTER_ERR_CONFIG', path === '' ? message : `${path}: ${message}`, {
    path,
  });
}

/** `parent.key`, or `parent["odd key"]` when the key is not a plain identifier. */
export function keyPath(parent: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key.slice(0, 80))}]`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a map' : `${typeof value} ${JSON.stringify(value)}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A map with only `allowed` keys (a missing value is `{}` when `optional`). */
function map(
  value: unknown,
  path: string,
  allowed: readonly string[],
): Readonly<Record<string, unknown>> {
  if (!isPlainObject(value)) throw configError(path, `must be a map, not ${describe(value)}`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw configError(keyPath(path, key), `unknown key (expected one of: ${allowed.join(', ')})`);
    }
  }
  return value;
}

/** A map with free keys (bounded), forbidden keys refused. */
function openMap(value: unknown, path: string, maxKeys: number): [string, unknown][] {
  if (!isPlainObject(value)) throw configError(path, `must be a map, not ${describe(value)}`);
  const entries = Object.entries(value);
  if (entries.length > maxKeys) throw configError(path, `at most ${maxKeys} entries`);
  for (const [key] of entries) {
    if (FORBIDDEN_KEYS.has(key)) throw configError(keyPath(path, key), 'forbidden key');
  }
  return entries;
}

interface StringRule {
  readonly min?: number;
  readonly max: number;
  readonly pattern?: RegExp;
  /** What the pattern means, for the error. */
  readonly expect?: string;
}

function str(value: unknown, path: string, rule: StringRule): string {
  if (typeof value !== 'string')
    throw configError(path, `must be a string, not ${describe(value)}`);
  const min = rule.min ?? 1;
  if (value.length < min) {
    throw configError(path, min === 1 ? 'must not be empty' : `at least ${min} characters`);
  }
  if (value.length > rule.max) throw configError(path, `at most ${rule.max} characters`);
  if (rule.pattern && !rule.pattern.test(value)) {
    throw configError(path, rule.expect ?? `must match ${rule.pattern}`);
  }
  return value;
}

function int(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw configError(path, `must be an integer from ${min} to ${max}, not ${describe(value)}`);
  }
  return value;
}

function bool(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean')
    throw configError(path, `must be true or false, not ${describe(value)}`);
  return value;
}

function list(value: unknown, path: string, max: number, min = 0): readonly unknown[] {
  if (!Array.isArray(value)) throw configError(path, `must be a list, not ${describe(value)}`);
  if (value.length > max) throw configError(path, `at most ${max} entries`);
  if (value.length < min) throw configError(path, `at least ${min} entr${min === 1 ? 'y' : 'ies'}`);
  return value;
}

function readable(file: string, path: string, options: ValidateOptions): string {
  const full = isAbsolute(file) ? file : resolve(options.baseDir ?? process.cwd(), file);
  if (options.skipFileChecks) return full;
  try {
    accessSync(full, constants.R_OK);
    if (!statSync(full).isFile())
      throw Object.assign(new Error('not a file'), { code: 'ENOTFILE' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw configError(path, `cannot read ${full} (${code})`);
  }
  return full;
}

function readSecretFile(file: string, path: string, options: ValidateOptions): string {
  const full = readable(file, path, options);
  if (options.skipFileChecks) return 'x'.repeat(ConfigLimits.minTokenLength);
  const text = readFileSync(full, 'utf8').trim();
  if (text.length === 0) throw configError(path, `${full} is empty`);
  return text;
}

// ---------------------------------------------------------------------------------------------
// Shared pieces of routes (also used by registry-routes.ts for metadata declarations)

const HOST_LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const HOSTNAME = new RegExp(`^${HOST_LABEL}(?:\\.${HOST_LABEL})*$`);
const IPV6 = /^\[[0-9a-f:.]+\]$/;
export const ROUTE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const METHOD_PATTERN = /^[A-Z][A-Z0-9_-]{0,31}$/;
const HEADER_NAME_PATTERN = /^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$/;

/** A host pattern as routes use it: lower-case exact name, `*.example.com`, or `[v6]`. */
export function parseHost(value: unknown, path: string): string {
  const host = str(value, path, { max: ConfigLimits.maxHostLength }).toLowerCase();
  const bare = host.startsWith('*.') ? host.slice(2) : host;
  if (IPV6.test(host)) return host;
  if (!HOSTNAME.test(bare)) {
    throw configError(
      path,
      'must be a host name (`api.example.com`) or a wildcard (`*.example.com`), without port',
    );
  }
  return host;
}

export function parseMethod(value: unknown, path: string): string {
  const method = str(value, path, { max: 32 }).toUpperCase();
  if (!METHOD_PATTERN.test(method)) throw configError(path, 'must be an HTTP method such as GET');
  return method;
}

/** A rewrite target: starts with `/`, no `?`, `#`, white space or `..` (params are checked by the router). */
export function checkRewrite(value: string, path: string): void {
  if (!value.startsWith('/')) throw configError(path, 'must start with /');
  if (/[?#\s\\]/.test(value)) throw configError(path, 'must not contain ?, #, \\ or white space');
  if (value.split('/').some((s) => s === '..' || s === '.')) {
    throw configError(path, 'must not contain . or .. segments');
  }
}

export function parsePathMatch(value: unknown, path: string): PathMatch {
  const m = map(value, path, ['exact', 'prefix', 'template', 'regex']);
  const kinds = Object.keys(m);
  if (kinds.length !== 1) {
    throw configError(path, 'must have exactly one of exact, prefix, template, regex');
  }
  const kind = kinds[0] as 'exact' | 'prefix' | 'template' | 'regex';
  const p = `${path}.${kind}`;
  if (kind === 'regex') {
    const source = str(m.regex, p, { max: ConfigLimits.maxRegexLength });
    compileRegex(source, p);
    return { regex: source };
  }
  const text = str(m[kind], p, { max: ConfigLimits.maxPathLength });
  if (!text.startsWith('/')) throw configError(p, 'must start with /');
  if (kind === 'template') {
    compileTemplate(text, p);
    return { template: text };
  }
  checkNormalPath(text, p);
  return kind === 'exact' ? { exact: text } : { prefix: text };
}

export function parseRetries(value: unknown, path: string): RetryPolicy {
  const m = map(value, path, ['attempts', 'budgetPercent', 'unsafeMethods', 'onStatus']);
  if (m.attempts === undefined) throw configError(`${path}.attempts`, 'is required');
  const out: { -readonly [K in keyof RetryPolicy]: RetryPolicy[K] } = {
    attempts: int(m.attempts, `${path}.attempts`, 0, ConfigLimits.maxRetryAttempts),
  };
  if (m.budgetPercent !== undefined) {
    out.budgetPercent = int(m.budgetPercent, `${path}.budgetPercent`, 0, 100);
  }
  if (m.unsafeMethods !== undefined) {
    out.unsafeMethods = bool(m.unsafeMethods, `${path}.unsafeMethods`);
  }
  if (m.onStatus !== undefined) {
    const statuses = list(m.onStatus, `${path}.onStatus`, ConfigLimits.maxRetryStatuses);
    out.onStatus = [...new Set(statuses.map((s, i) => int(s, `${path}.onStatus[${i}]`, 400, 599)))];
  }
  return out;
}

export function parseStrategy(value: unknown, path: string): string {
  const name = str(value, path, { max: 64 });
  if (!isStrategyName(name)) {
    throw configError(path, `unknown strategy (known: ${STRATEGY_NAMES.join(', ')})`);
  }
  return name;
}

export function parseTimeout(value: unknown, path: string): number {
  return int(value, path, 1, ConfigLimits.maxTimeoutMs);
}

/** An instance filter (client/filter.ts), with unknown keys refused and errors re-pathed. */
export function parseFilter(value: unknown, path: string): InstanceFilter {
  const m = map(value, path, ['tags', 'meta', 'zone', 'version', 'statuses']);
  const out: { -readonly [K in keyof InstanceFilter]: InstanceFilter[K] } = {};
  if (m.tags !== undefined) {
    const tags = map(m.tags, `${path}.tags`, ['all', 'any']);
    const t: { all?: string[]; any?: string[] } = {};
    for (const k of ['all', 'any'] as const) {
      if (tags[k] === undefined) continue;
      t[k] = list(tags[k], `${path}.tags.${k}`, Limits.maxTags).map((v, i) =>
        str(v, `${path}.tags.${k}[${i}]`, { max: Limits.maxTagLength }),
      );
    }
    out.tags = t;
  }
  if (m.meta !== undefined) {
    const meta: Record<string, string> = {};
    for (const [k, v] of openMap(m.meta, `${path}.meta`, Limits.maxMetaKeys)) {
      str(k, keyPath(`${path}.meta`, k), { max: Limits.maxMetaKeyLength });
      meta[k] = scalarString(v, keyPath(`${path}.meta`, k), Limits.maxMetaValueLength);
    }
    out.meta = meta;
  }
  if (m.zone !== undefined) out.zone = str(m.zone, `${path}.zone`, { max: Limits.maxZoneLength });
  if (m.version !== undefined) out.version = str(m.version, `${path}.version`, { max: 256 });
  if (m.statuses !== undefined) {
    out.statuses = list(m.statuses, `${path}.statuses`, INSTANCE_STATUSES.length, 1).map((s, i) => {
      const p = `${path}.statuses[${i}]`;
      if (!(INSTANCE_STATUSES as readonly unknown[]).includes(s)) {
        throw configError(p, `must be one of ${INSTANCE_STATUSES.join(', ')}`);
      }
      return s as (typeof INSTANCE_STATUSES)[number];
    });
  }
  try {
    compileFilter(out);
  } catch (err) {
    if (isRosterError(err)) {
      const inner = typeof err.data?.path === 'string' ? err.data.path : 'filter';
      const at = inner.replace(/^filter/, path);
      const message = err.message.replace(/^[^:]*: /, '');
      throw configError(at, message);
    }
    throw err;
  }
  return out;
}

/** A string, or a number/boolean written without quotes in YAML (`x-version: 2`). */
function scalarString(value: unknown, path: string, max: number): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return str(value, path, { min: 0, max });
}

/** Plugin settings by plugin name: a map (settings), `true` (enabled, no settings) or `false` (off). */
export function parsePluginSettings(value: unknown, path: string): PluginSettings {
  const out: Record<string, unknown> = {};
  for (const [name, settings] of openMap(value, path, ConfigLimits.maxPlugins)) {
    const p = keyPath(path, name);
    str(name, p, { max: 64, pattern: /^[a-z][a-z0-9-]*$/, expect: 'plugin names are [a-z0-9-]' });
    if (settings === true) {
      out[name] = {};
    } else if (settings === false) {
      out[name] = false;
    } else if (isPlainObject(settings)) {
      checkJsonTree(settings, p, 0);
      const size = JSON.stringify(settings).length;
      if (size > ConfigLimits.maxPluginSettingsLength) {
        throw configError(
          p,
          `settings are ${size} characters, at most ${ConfigLimits.maxPluginSettingsLength}`,
        );
      }
      out[name] = settings;
    } else {
      throw configError(p, `must be a map of settings, true or false, not ${describe(settings)}`);
    }
  }
  return out;
}

/** Plain data only (no forbidden keys, bounded depth): what a plugin may receive. */
function checkJsonTree(value: unknown, path: string, depth: number): void {
  if (depth > 16) throw configError(path, 'nested too deeply (at most 16 levels)');
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) checkJsonTree(v, `${path}[${i}]`, depth + 1);
  } else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.has(k)) throw configError(keyPath(path, k), 'forbidden key');
      checkJsonTree(v, keyPath(path, k), depth + 1);
    }
  } else if (value instanceof Date) {
    throw configError(path, 'dates are not allowed here; quote the value');
  } else if (typeof value === 'number' && !Number.isFinite(value)) {
    throw configError(path, 'must be a finite number');
  }
}

export function parseRouteMatch(value: unknown, path: string): RouteMatch {
  const m = map(value, path, ['hosts', 'path', 'methods', 'headers']);
  if (m.path === undefined) throw configError(`${path}.path`, 'is required');
  const out: { -readonly [K in keyof RouteMatch]: RouteMatch[K] } = {
    path: parsePathMatch(m.path, `${path}.path`),
  };
  if (m.hosts !== undefined) {
    const hosts = list(m.hosts, `${path}.hosts`, ConfigLimits.maxHostsPerRoute).map((h, i) =>
      parseHost(h, `${path}.hosts[${i}]`),
    );
    if (hosts.length > 0) out.hosts = [...new Set(hosts)];
  }
  if (m.methods !== undefined) {
    const methods = list(m.methods, `${path}.methods`, ConfigLimits.maxMethodsPerRoute).map(
      (x, i) => parseMethod(x, `${path}.methods[${i}]`),
    );
    if (methods.length > 0) out.methods = [...new Set(methods)];
  }
  if (m.headers !== undefined) {
    const headers: Record<string, string> = {};
    for (const [name, v] of openMap(
      m.headers,
      `${path}.headers`,
      ConfigLimits.maxHeadersPerRoute,
    )) {
      const p = keyPath(`${path}.headers`, name);
      const lower = name.toLowerCase();
      if (!HEADER_NAME_PATTERN.test(lower)) throw configError(p, 'not a valid header name');
      if (Object.hasOwn(headers, lower)) throw configError(p, 'header named twice');
      headers[lower] = scalarString(v, p, ConfigLimits.maxHeaderValueLength);
    }
    if (Object.keys(headers).length > 0) out.headers = headers;
  }
  return out;
}

const ROUTE_KEYS = [
  'name',
  'match',
  'service',
  'stripPrefix',
  'rewrite',
  'timeoutMs',
  'retries',
  'strategy',
  'filter',
  'plugins',
] as const;

export function parseRoute(value: unknown, path: string): FileRouteConfig {
  const m = map(value, path, ROUTE_KEYS);
  for (const required of ['name', 'match', 'service'] as const) {
    if (m[required] === undefined) throw configError(`${path}.${required}`, 'is required');
  }
  const name = str(m.name, `${path}.name`, {
    max: ConfigLimits.maxRouteNameLength,
    pattern: ROUTE_NAME_PATTERN,
    expect:
      'must be [A-Za-z0-9_.-] starting with a letter or digit (`:` is kept for registry routes)',
  });
  const match = parseRouteMatch(m.match, `${path}.match`);
  let service: string;
  try {
    service = assertServiceName(
      str(m.service, `${path}.service`, { max: Limits.maxServiceNameLength }),
    );
  } catch (err) {
    if (isRosterError(err, 'ROSTER_ERR_INVALID_SUBJECT')) {
      throw configError(
        `${path}.service`,
        'must be a service name ([a-z0-9_-], starting with a letter or digit)',
      );
    }
    throw err;
  }
  const out: { -readonly [K in keyof FileRouteConfig]: FileRouteConfig[K] } = {
    name,
    match,
    service,
  };
  if (m.stripPrefix !== undefined) {
    out.stripPrefix = bool(m.stripPrefix, `${path}.stripPrefix`);
    const p = match.path;
    if (out.stripPrefix && !('prefix' in p) && !('template' in p && p.template.endsWith('/*'))) {
      throw configError(
        `${path}.stripPrefix`,
        'only applies to a prefix path or a template ending in /*',
      );
    }
  }
  if (m.rewrite !== undefined) {
    const rewrite = str(m.rewrite, `${path}.rewrite`, { max: ConfigLimits.maxPathLength });
    checkRewrite(rewrite, `${path}.rewrite`);
    if (out.stripPrefix)
      throw configError(`${path}.rewrite`, 'use either stripPrefix or rewrite, not both');
    out.rewrite = rewrite;
  }
  if (m.timeoutMs !== undefined) out.timeoutMs = parseTimeout(m.timeoutMs, `${path}.timeoutMs`);
  if (m.retries !== undefined) out.retries = parseRetries(m.retries, `${path}.retries`);
  if (m.strategy !== undefined) out.strategy = parseStrategy(m.strategy, `${path}.strategy`);
  if (m.filter !== undefined) out.filter = parseFilter(m.filter, `${path}.filter`);
  if (m.plugins !== undefined) out.plugins = parsePluginSettings(m.plugins, `${path}.plugins`);
  checkCompiles(out, path);
  return out;
}

/** What the router would refuse (rewrite parameters, ...), named at `path` instead of by route name. */
export function checkCompiles(route: FileRouteConfig, path: string): void {
  try {
    compileRoutes([{ ...route, source: 'file' }]);
  } catch (err) {
    if (!isRosterError(err)) throw err;
    const inner = typeof err.data?.path === 'string' ? err.data.path : '';
    const prefix = `routes.${route.name}`;
    const at = inner.startsWith(prefix) ? path + inner.slice(prefix.length) : path;
    const message =
      inner !== '' && err.message.startsWith(`${inner}: `)
        ? err.message.slice(inner.length + 2)
        : err.message;
    throw configError(at, message);
  }
}

// ---------------------------------------------------------------------------------------------
// Sections

function parseGatewaySection(value: unknown): GatewayIdentity {
  const m = map(value ?? {}, 'gateway', ['id', 'name', 'advertiseHost', 'shutdownGraceMs']);
  const out: { -readonly [K in keyof GatewayIdentity]: GatewayIdentity[K] } = {
    name: 'roster-gateway',
    shutdownGraceMs: DEFAULT_SHUTDOWN_GRACE_MS,
  };
  if (m.id !== undefined) {
    out.id = str(m.id, 'gateway.id', {
      max: Limits.maxIdLength,
      pattern: ID_PATTERN,
      expect: 'must be [A-Za-z0-9_:.-] starting with a letter, digit, _ or -',
    });
  }
  if (m.name !== undefined) out.name = str(m.name, 'gateway.name', { max: 128 });
  if (m.advertiseHost !== undefined) {
    out.advertiseHost = str(m.advertiseHost, 'gateway.advertiseHost', {
      max: Limits.maxHostLength,
      pattern: /^[A-Za-z0-9_.:%[\]-]+$/,
      expect: 'must be a host name or address',
    });
  }
  if (m.shutdownGraceMs !== undefined) {
    out.shutdownGraceMs = int(m.shutdownGraceMs, 'gateway.shutdownGraceMs', 0, 600_000);
  }
  return out;
}

function parseListeners(value: unknown, options: ValidateOptions): ListenerConfig[] {
  if (value === undefined) throw configError('listeners', 'is required (at least one listener)');
  const items = list(value, 'listeners', ConfigLimits.maxListeners, 1);
  const seen = new Map<string, number>();
  return items.map((item, i) => {
    const path = `listeners[${i}]`;
    const m = map(item, path, ['port', 'host', 'tls']);
    if (m.port === undefined) throw configError(`${path}.port`, 'is required');
    const port = int(m.port, `${path}.port`, 0, 65_535);
    const host =
      m.host === undefined
        ? DEFAULT_LISTENER_HOST
        : str(m.host, `${path}.host`, {
            max: Limits.maxHostLength,
            pattern: /^[A-Za-z0-9_.:%[\]-]+$/,
            expect: 'must be a host name or address',
          });
    if (port !== 0) {
      const key = `${host}:${port}`;
      const before = seen.get(key);
      if (before !== undefined)
        throw configError(`${path}.port`, `${key} is also listeners[${before}]`);
      seen.set(key, i);
    }
    const out: { -readonly [K in keyof ListenerConfig]: ListenerConfig[K] } = { port, host };
    if (m.tls !== undefined) {
      const tls = map(m.tls, `${path}.tls`, ['cert', 'key']);
      if (tls.cert === undefined) throw configError(`${path}.tls.cert`, 'is required');
      if (tls.key === undefined) throw configError(`${path}.tls.key`, 'is required');
      out.tls = {
        cert: readable(
          str(tls.cert, `${path}.tls.cert`, { max: 4096 }),
          `${path}.tls.cert`,
          options,
        ),
        key: readable(str(tls.key, `${path}.tls.key`, { max: 4096 }), `${path}.tls.key`, options),
      };
    }
    return out;
  });
}

const NATS_URL = /^(nats|tls):\/\/[^\s/]+$/;

function parseNats(value: unknown, options: ValidateOptions): NatsConfig {
  const m = map(value ?? {}, 'nats', [
    'servers',
    'user',
    'pass',
    'token',
    'tokenFile',
    'credsFile',
    'nkeySeedFile',
    'tls',
    'inboxPrefix',
    'connectTimeoutMs',
  ]);
  let servers: string[] = [DEFAULT_NATS_SERVER];
  if (m.servers !== undefined) {
    const raw =
      typeof m.servers === 'string' ? m.servers.split(',').map((s) => s.trim()) : m.servers;
    servers = list(raw, 'nats.servers', ConfigLimits.maxNatsServers, 1).map((s, i) => {
      const p = `nats.servers[${i}]`;
      const text = str(s, p, { max: 512 });
      const url = text.includes('://') ? text : `nats://${text}`;
      if (!NATS_URL.test(url)) throw configError(p, 'must be a nats:// or tls:// URL (host:port)');
      return url;
    });
  }
  const out: { -readonly [K in keyof NatsConfig]: NatsConfig[K] } = {
    servers,
    connectTimeoutMs: DEFAULT_NATS_CONNECT_TIMEOUT_MS,
  };
  const exclusive = ['user', 'token', 'tokenFile', 'credsFile', 'nkeySeedFile'].filter(
    (k) => m[k] !== undefined,
  );
  if (exclusive.length > 1) {
    throw configError(`nats.${exclusive[1]}`, `cannot be combined with nats.${exclusive[0]}`);
  }
  if ((m.user === undefined) !== (m.pass === undefined)) {
    throw m.user === undefined
      ? configError('nats.user', 'is required with nats.pass')
      : configError('nats.pass', 'is required with nats.user');
  }
  if (m.user !== undefined) out.user = str(m.user, 'nats.user', { max: 1024 });
  if (m.pass !== undefined) out.pass = str(m.pass, 'nats.pass', { max: 1024 });
  if (m.token !== undefined) out.token = str(m.token, 'nats.token', { max: 4096 });
  if (m.tokenFile !== undefined) {
    out.token = readSecretFile(
      str(m.tokenFile, 'nats.tokenFile', { max: 4096 }),
      'nats.tokenFile',
      options,
    );
  }
  if (m.credsFile !== undefined) {
    out.credsFile = readable(
      str(m.credsFile, 'nats.credsFile', { max: 4096 }),
      'nats.credsFile',
      options,
    );
  }
  if (m.nkeySeedFile !== undefined) {
    out.nkeySeedFile = readable(
      str(m.nkeySeedFile, 'nats.nkeySeedFile', { max: 4096 }),
      'nats.nkeySeedFile',
      options,
    );
  }
  if (m.tls !== undefined) {
    const tls = map(m.tls, 'nats.tls', ['ca', 'cert', 'key']);
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      throw tls.cert === undefined
        ? configError('nats.tls.cert', 'is required with nats.tls.key')
        : configError('nats.tls.key', 'is required with nats.tls.cert');
    }
    const t: { ca?: string; cert?: string; key?: string } = {};
    for (const k of ['ca', 'cert', 'key'] as const) {
      if (tls[k] !== undefined)
        t[k] = readable(str(tls[k], `nats.tls.${k}`, { max: 4096 }), `nats.tls.${k}`, options);
    }
    out.tls = t;
  }
  if (m.inboxPrefix !== undefined) {
    out.inboxPrefix = str(m.inboxPrefix, 'nats.inboxPrefix', {
      max: 128,
      pattern: /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
      expect: 'must be dot-separated tokens of [A-Za-z0-9_-] (for example _INBOX.gateway)',
    });
  }
  if (m.connectTimeoutMs !== undefined) {
    out.connectTimeoutMs = int(m.connectTimeoutMs, 'nats.connectTimeoutMs', 1, 3_600_000);
  }
  return out;
}

function parseAdmin(value: unknown, options: ValidateOptions): AdminConfig | undefined {
  if (value === undefined) return undefined;
  const m = map(value, 'admin', [
    'port',
    'host',
    'token',
    'tokenFile',
    'metricsPublic',
    'probesPublic',
  ]);
  if (m.port === undefined) throw configError('admin.port', 'is required');
  const port = int(m.port, 'admin.port', 0, 65_535);
  const host =
    m.host === undefined
      ? DEFAULT_ADMIN_HOST
      : str(m.host, 'admin.host', {
          max: Limits.maxHostLength,
          pattern: /^[A-Za-z0-9_.:%[\]-]+$/,
          expect: 'must be a host name or address',
        });
  if (m.token === undefined && m.tokenFile === undefined) {
    throw configError(
      'admin.token',
      'is required (or admin.tokenFile): the admin API always needs a token',
    );
  }
  if (m.token !== undefined && m.tokenFile !== undefined) {
    throw configError('admin.tokenFile', 'cannot be combined with admin.token');
  }
  const tokenPath = m.token !== undefined ? 'admin.token' : 'admin.tokenFile';
  const token =
    m.token !== undefined
      ? str(m.token, 'admin.token', { max: ConfigLimits.maxTokenLength })
      : readSecretFile(
          str(m.tokenFile, 'admin.tokenFile', { max: 4096 }),
          'admin.tokenFile',
          options,
        );
  if (token.length < ConfigLimits.minTokenLength) {
    throw configError(
      tokenPath,
      `the token must have at least ${ConfigLimits.minTokenLength} characters`,
    );
  }
  if (token.length > ConfigLimits.maxTokenLength || /\s/.test(token)) {
    throw configError(
      tokenPath,
      `the token must be at most ${ConfigLimits.maxTokenLength} characters without white space`,
    );
  }
  return {
    port,
    host,
    token,
    metricsPublic:
      m.metricsPublic === undefined ? false : bool(m.metricsPublic, 'admin.metricsPublic'),
    probesPublic: m.probesPublic === undefined ? false : bool(m.probesPublic, 'admin.probesPublic'),
  };
}

function parseDefaults(value: unknown): RouteDefaults {
  const m = map(value ?? {}, 'defaults', ['timeoutMs', 'retries', 'strategy', 'plugins']);
  const out: { -readonly [K in keyof RouteDefaults]: RouteDefaults[K] } = { plugins: {} };
  if (m.timeoutMs !== undefined) out.timeoutMs = parseTimeout(m.timeoutMs, 'defaults.timeoutMs');
  if (m.retries !== undefined) out.retries = parseRetries(m.retries, 'defaults.retries');
  if (m.strategy !== undefined) out.strategy = parseStrategy(m.strategy, 'defaults.strategy');
  if (m.plugins !== undefined) out.plugins = parsePluginSettings(m.plugins, 'defaults.plugins');
  return out;
}

function parseRegistryRoutes(value: unknown): RegistryRoutesConfig {
  const m = map(value ?? {}, 'registryRoutes', ['enabled', 'services', 'plugins', 'resyncMs']);
  const out: { -readonly [K in keyof RegistryRoutesConfig]: RegistryRoutesConfig[K] } = {
    enabled: m.enabled === undefined ? true : bool(m.enabled, 'registryRoutes.enabled'),
    plugins:
      m.plugins === undefined ? {} : parsePluginSettings(m.plugins, 'registryRoutes.plugins'),
    resyncMs:
      m.resyncMs === undefined
        ? DEFAULT_REGISTRY_RESYNC_MS
        : int(m.resyncMs, 'registryRoutes.resyncMs', 1_000, 3_600_000),
  };
  if (m.services !== undefined) {
    out.services = [
      ...new Set(
        list(m.services, 'registryRoutes.services', ConfigLimits.maxServicesAllowed).map((s, i) => {
          const p = `registryRoutes.services[${i}]`;
          const name = str(s, p, { max: Limits.maxServiceNameLength });
          try {
            return assertServiceName(name);
          } catch {
            throw configError(p, 'must be a service name');
          }
        }),
      ),
    ];
  }
  return out;
}

function optionalInts<K extends string>(
  m: Readonly<Record<string, unknown>>,
  path: string,
  bounds: Readonly<Record<K, readonly [number, number]>>,
): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {};
  for (const [key, [min, max]] of Object.entries(bounds) as [K, readonly [number, number]][]) {
    if (m[key] !== undefined) out[key] = int(m[key], `${path}.${key}`, min, max);
  }
  return out;
}

function parseServer(value: unknown): ServerConfig {
  const m = map(value ?? {}, 'server', [
    'maxHeaderBytes',
    'requestTimeoutMs',
    'keepAliveTimeoutMs',
  ]);
  return optionalInts(m, 'server', {
    maxHeaderBytes: [1_024, 1_048_576],
    requestTimeoutMs: [1_000, 3_600_000],
    keepAliveTimeoutMs: [0, 3_600_000],
  });
}

function parseUpstream(value: unknown): UpstreamConfig {
  const m = map(value ?? {}, 'upstream', [
    'connections',
    'connectTimeoutMs',
    'bodyTimeoutMs',
    'rejectUnauthorized',
  ]);
  const out: { -readonly [K in keyof UpstreamConfig]: UpstreamConfig[K] } = optionalInts(
    m,
    'upstream',
    {
      connections: [1, 65_536],
      connectTimeoutMs: [1, 600_000],
      bodyTimeoutMs: [1, 3_600_000],
    },
  );
  if (m.rejectUnauthorized !== undefined) {
    out.rejectUnauthorized = bool(m.rejectUnauthorized, 'upstream.rejectUnauthorized');
  }
  return out;
}

function parsePools(value: unknown): PoolsConfig {
  const m = map(value ?? {}, 'pools', [
    'zone',
    'minZoneHealthyPercent',
    'panicThreshold',
    'outlier',
  ]);
  const out: { -readonly [K in keyof PoolsConfig]: PoolsConfig[K] } = optionalInts(m, 'pools', {
    minZoneHealthyPercent: [0, 100],
    panicThreshold: [0, 100],
  });
  if (m.zone !== undefined) out.zone = str(m.zone, 'pools.zone', { max: Limits.maxZoneLength });
  if (m.outlier !== undefined) {
    const o = map(m.outlier, 'pools.outlier', [
      'consecutiveFailures',
      'baseEjectionMs',
      'maxEjectionMs',
      'maxEjectedPercent',
    ]);
    out.outlier = optionalInts(o, 'pools.outlier', {
      consecutiveFailures: [0, 1_000],
      baseEjectionMs: [1, 3_600_000],
      maxEjectionMs: [1, 3_600_000],
      maxEjectedPercent: [0, 100],
    });
    const { baseEjectionMs, maxEjectionMs } = out.outlier;
    if (
      baseEjectionMs !== undefined &&
      maxEjectionMs !== undefined &&
      maxEjectionMs < baseEjectionMs
    ) {
      throw configError('pools.outlier.maxEjectionMs', 'must be at least baseEjectionMs');
    }
  }
  return out;
}

const TOP_KEYS = [
  'gateway',
  'listeners',
  'nats',
  'prefix',
  'admin',
  'trustedHops',
  'server',
  'upstream',
  'pools',
  'defaults',
  'registryRoutes',
  'routes',
] as const;

/** Validates and normalizes a config object (parsed YAML/JSON, or built in code). */
export function validateConfig(raw: unknown, options: ValidateOptions = {}): GatewayConfig {
  const m = map(raw, '', TOP_KEYS);
  let prefix = 'roster';
  if (m.prefix !== undefined) {
    prefix = str(m.prefix, 'prefix', { max: 128 });
    try {
      new Subjects(prefix);
    } catch {
      throw configError('prefix', 'must be dot-separated tokens of [A-Za-z0-9_-]');
    }
  }
  const routes: FileRouteConfig[] = [];
  if (m.routes !== undefined) {
    const items = list(m.routes, 'routes', ConfigLimits.maxRoutes);
    const names = new Map<string, number>();
    items.forEach((item, i) => {
      const route = parseRoute(item, `routes[${i}]`);
      const before = names.get(route.name);
      if (before !== undefined) {
        throw configError(
          `routes[${i}].name`,
          `${JSON.stringify(route.name)} is also the name of routes[${before}]`,
        );
      }
      names.set(route.name, i);
      routes.push(route);
    });
  }
  const admin = parseAdmin(m.admin, options);
  const config: GatewayConfig = {
    gateway: parseGatewaySection(m.gateway),
    listeners: parseListeners(m.listeners, options),
    nats: parseNats(m.nats, options),
    prefix,
    ...(admin ? { admin } : {}),
    trustedHops: m.trustedHops === undefined ? 0 : int(m.trustedHops, 'trustedHops', 0, 16),
    server: parseServer(m.server),
    upstream: parseUpstream(m.upstream),
    pools: parsePools(m.pools),
    defaults: parseDefaults(m.defaults),
    registryRoutes: parseRegistryRoutes(m.registryRoutes),
    routes,
  };
  return config;
}

/** Parses YAML or JSON text (JSON is YAML) into plain data; syntax errors name line and column. */
export function parseConfigText(text: string, source = 'config'): unknown {
  if (Buffer.byteLength(text) > ConfigLimits.maxFileBytes) {
    throw configError('', `${source} is larger than ${ConfigLimits.maxFileBytes} bytes`);
  }
  const doc = parseDocument(text, {
    uniqueKeys: true,
    prettyErrors: true,
    strict: true,
    version: '1.2',
  });
  const first = doc.errors[0];
  if (first) {
    const at = first.linePos?.[0];
    const where = at ? ` at line ${at.line}, column ${at.col}` : '';
    throw new RosterError(
      'ROSTER_ERR_CONFIG',
      `${source}: not valid YAML/JSON${where}: ${first.message.split('\n')[0]}`,
      { path: '' },
    );
  }
  try {
    return doc.toJS({ maxAliasCount: ConfigLimits.maxYamlAliases }) ?? {};
  } catch (err) {
    throw configError('', `${source}: ${(err as Error).message.split('\n')[0]}`);
  }
}

export interface LoadedConfig {
  readonly config: GatewayConfig;
  /** Absolute path of the file. */
  readonly file: string;
  /** The file's text, as validated (the watcher hashes it). */
  readonly text: string;
}

/** Reads, parses and validates a config file; relative paths inside it are relative to its folder. */
export function loadConfigFile(path: string): LoadedConfig {
  const file = resolve(path);
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > ConfigLimits.maxFileBytes) {
      throw configError('', `${file} is ${size} bytes, at most ${ConfigLimits.maxFileBytes}`);
    }
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (isRosterError(err)) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new RosterError('ROSTER_ERR_CONFIG', `cannot read the gateway config ${file} (${code})`, {
      path: '',
    });
  }
  const raw = parseConfigText(text, file);
  try {
    return { config: validateConfig(raw, { baseDir: dirname(file) }), file, text };
  } catch (err) {
    if (isRosterError(err, 'ROSTER_ERR_CONFIG')) {
      throw new RosterError('ROSTER_ERR_CONFIG', `${file}: ${err.message}`, err.data, {
        cause: err,
      });
    }
    throw err;
  }
}

/** Files the config refers to whose contents matter at reload (TLS certificates and keys). */
export function referencedFiles(config: GatewayConfig): string[] {
  const out: string[] = [];
  for (const l of config.listeners) if (l.tls) out.push(l.tls.cert, l.tls.key);
  return out;
}
