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

import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import {
  assertServiceName,
  ID_PATTERN,
  isRosterError,
  Limits,
  RosterError,
  Subjects,
} from '../protocol/index.js';
import {
  ACCESS_LOG_STREAMS,
  type AccessLogConfig,
  type AdminConfig,
  ConfigLimits,
  DEFAULT_ACCESS_LOG_BUFFER_BYTES,
  DEFAULT_ADMIN_HOST,
  DEFAULT_LISTENER_HOST,
  DEFAULT_NATS_CONNECT_TIMEOUT_MS,
  DEFAULT_NATS_SERVER,
  DEFAULT_REGISTRY_RESYNC_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  type FileRouteConfig,
  type GatewayConfig,
  type GatewayIdentity,
  type ListenerConfig,
  type NatsConfig,
  type PoolsConfig,
  type RegistryRoutesConfig,
  type RouteDefaults,
  type ServerConfig,
  type UpstreamConfig,
  type ValidateOptions,
} from './config-model.js';
import {
  parsePluginSettings,
  parseRetries,
  parseRoute,
  parseStrategy,
  parseTimeout,
} from './config-routes.js';
import {
  bool,
  configError,
  int,
  list,
  map,
  readable,
  readSecretFile,
  str,
} from './config-values.js';

export type {
  AccessLogConfig,
  AdminConfig,
  FileRouteConfig,
  GatewayConfig,
  GatewayIdentity,
  ListenerConfig,
  ListenerTlsConfig,
  NatsConfig,
  NatsTlsFileConfig,
  PoolsConfig,
  RegistryRoutesConfig,
  RouteDefaults,
  ServerConfig,
  UpstreamConfig,
  ValidateOptions,
} from './config-model.js';
export {
  ConfigLimits,
  DEFAULT_ADMIN_HOST,
  DEFAULT_LISTENER_HOST,
  DEFAULT_NATS_CONNECT_TIMEOUT_MS,
  DEFAULT_NATS_SERVER,
  DEFAULT_REGISTRY_RESYNC_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
} from './config-model.js';
export {
  checkCompiles,
  checkRewrite,
  parseFilter,
  parseHost,
  parseMethod,
  parsePathMatch,
  parsePluginSettings,
  parseRetries,
  parseRoute,
  parseRouteMatch,
  parseStrategy,
  parseTimeout,
  ROUTE_NAME_PATTERN,
} from './config-routes.js';
export { configError, keyPath } from './config-values.js';

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
        cert: readable(tls.cert, `${path}.tls.cert`, options),
        key: readable(tls.key, `${path}.tls.key`, options),
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
    out.token = readSecretFile(m.tokenFile, 'nats.tokenFile', options);
  }
  if (m.credsFile !== undefined) {
    out.credsFile = readable(m.credsFile, 'nats.credsFile', options);
  }
  if (m.nkeySeedFile !== undefined) {
    out.nkeySeedFile = readable(m.nkeySeedFile, 'nats.nkeySeedFile', options);
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
      if (tls[k] !== undefined) t[k] = readable(tls[k], `nats.tls.${k}`, options);
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
      : readSecretFile(m.tokenFile, 'admin.tokenFile', options);
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
    'maxPending',
    'connectTimeoutMs',
    'bodyTimeoutMs',
    'rejectUnauthorized',
    'idleTimeoutMs',
    'idleTimeoutMaxMs',
    'maxHeadBytes',
  ]);
  const out: { -readonly [K in keyof UpstreamConfig]: UpstreamConfig[K] } = optionalInts(
    m,
    'upstream',
    {
      connections: [1, 65_536],
      maxPending: [0, 1_000_000],
      connectTimeoutMs: [1, 600_000],
      bodyTimeoutMs: [1, 3_600_000],
      idleTimeoutMs: [1, 600_000],
      idleTimeoutMaxMs: [1, 3_600_000],
      maxHeadBytes: [1024, 1_048_576],
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

function parseAccessLog(value: unknown, options: ValidateOptions): AccessLogConfig | undefined {
  if (value === undefined) return undefined;
  const m = map(value, 'accessLog', ['path', 'maxBufferBytes']);
  const path = str(m.path, 'accessLog.path', { max: 4096 });
  if (path === '') throw configError('accessLog.path', 'must not be empty');
  return {
    path:
      ACCESS_LOG_STREAMS[path] !== undefined
        ? path
        : resolve(options.baseDir ?? process.cwd(), path),
    maxBufferBytes:
      m.maxBufferBytes === undefined
        ? DEFAULT_ACCESS_LOG_BUFFER_BYTES
        : int(m.maxBufferBytes, 'accessLog.maxBufferBytes', 65_536, 1_073_741_824),
  };
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
  'accessLog',
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
  const accessLog = parseAccessLog(m.accessLog, options);
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
    ...(accessLog ? { accessLog } : {}),
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
