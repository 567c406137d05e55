/**
 * The gateway configuration model: its bounds, defaults and types (validation is in config.ts).
 */

import type { PluginSettings, RetryPolicy, RouteConfig } from './types.js';

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
export const DEFAULT_ACCESS_LOG_BUFFER_BYTES = 4 * 1024 * 1024;
/** `accessLog.path` values that name the process's own output instead of a file. */
export const ACCESS_LOG_STREAMS: Readonly<Record<string, number>> = { stdout: 1, stderr: 2 };

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
  /** Most requests waiting for a connection per instance (default 1024); more get 503. */
  readonly maxPending?: number;
  /** TCP/TLS connect timeout (default 3000 ms). */
  readonly connectTimeoutMs?: number;
  /** Idle time allowed between response body chunks (default 120000 ms). */
  readonly bodyTimeoutMs?: number;
  /** Verify upstream TLS certificates (default true). */
  readonly rejectUnauthorized?: boolean;
  /** Idle keep-alive time without a Keep-Alive hint from the upstream (default 4000 ms). */
  readonly idleTimeoutMs?: number;
  /** Longest idle time an upstream's `Keep-Alive: timeout=N` hint (N − 1 s) can grant (default 600000 ms). */
  readonly idleTimeoutMaxMs?: number;
  /** Largest upstream response head (default 65536 bytes); larger ones fail with 502. */
  readonly maxHeadBytes?: number;
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

/** The access log (restart to change; every reload opens the file again). */
export interface AccessLogConfig {
  /** An absolute file path (appended to), or `stdout` / `stderr`. */
  readonly path: string;
  /** Most bytes waiting to be written; lines beyond it are dropped and counted. */
  readonly maxBufferBytes: number;
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
  /** Absent: no access log. */
  readonly accessLog?: AccessLogConfig;
}

export interface ValidateOptions {
  /** Relative file paths are resolved against this (default: the working directory). */
  readonly baseDir?: string;
  /** Skip checking that referenced files exist (unit tests of pure shape). */
  readonly skipFileChecks?: boolean;
}
