/**
 * The one table of configuration keys of the `roster` commands (see cli/config.ts for how
 * the layers are resolved and docs/operations.md for the generated reference).
 */

import { PUBLIC_PARTS } from '../nodes/http/auth.js';
import { INSTANCE_STATUSES, Limits, SCHEMES } from '../protocol/index.js';
import {
  booleanType,
  enumType,
  fileType,
  hostType,
  httpPathType,
  inboxPrefixType,
  instanceIdType,
  intType,
  keyValuesType,
  listType,
  natsUrlsType,
  nodeIdType,
  plainString,
  portType,
  prefixType,
  serviceNameType,
  type ValueType,
} from './config-value-types.js';

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
