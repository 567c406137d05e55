/**
 * How Roster connects to NATS: NatsBusOptions (servers, credentials, TLS, reconnection) and
 * their translation into the NATS client's connection options (buildConnectionOptions).
 */
import { readFileSync } from 'node:fs';
import {
  type Authenticator,
  credsAuthenticator,
  type NodeConnectionOptions,
  nkeyAuthenticator,
} from '@nats-io/transport-node';
import type { Logger } from './logger.js';

/** The server connected to when NatsBusOptions names none. */
export const DEFAULT_SERVER = 'nats://127.0.0.1:4222';
const DEFAULT_RECONNECT_TIME_WAIT = 500;

/** TLS settings: file paths or PEM strings, as the Node client takes them. */
export interface NatsTlsOptions {
  readonly caFile?: string;
  readonly ca?: string;
  readonly certFile?: string;
  readonly cert?: string;
  readonly keyFile?: string;
  readonly key?: string;
  /** Verify the server certificate (default true). */
  readonly rejectUnauthorized?: boolean;
  /** TLS before the NATS INFO (the server must be configured with `handshake_first`). */
  readonly handshakeFirst?: boolean;
}

/**
 * The NKey seed (`SU…`) held in `file`, trimmed; undefined when the file holds none. Callers
 * raise their own error for that (a usage error on the command line, a config error in a file).
 */
export function readNkeySeedFile(file: string): string | undefined {
  const seed = readFileSync(file, 'utf8').trim();
  return /^S[A-Z2-7]{50,}$/.test(seed) ? seed : undefined;
}

export interface NatsBusOptions {
  /** Server URLs, e.g. `nats://127.0.0.1:4222` (default: that one). */
  readonly servers?: string | readonly string[];
  /** Connection name shown by the server's monitoring (`connz`). */
  readonly name?: string;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  /** NKey seed (`SU…`), as text or bytes. */
  readonly nkeySeed?: string | Uint8Array;
  /** Path of a `.creds` file (user JWT + seed). */
  readonly credsFile?: string;
  /** Contents of a `.creds` file. */
  readonly creds?: string | Uint8Array;
  /** TLS: `true` requires TLS with the system CAs; an object passes files or PEM text. */
  readonly tls?: NatsTlsOptions | true;
  /** Reconnect attempts per server; -1 (default) retries forever. */
  readonly maxReconnectAttempts?: number;
  /** Wait between attempts on the same server, in ms (default 500). */
  readonly reconnectTimeWait?: number;
  /** Random extra wait added to reconnectTimeWait, in ms (client default 100). */
  readonly reconnectJitter?: number;
  /** Client PING interval in ms (client default 2 minutes). */
  readonly pingInterval?: number;
  /** Unanswered PINGs before the connection is declared stale (client default 2). */
  readonly maxPingOut?: number;
  /** Timeout of the first connection, in ms (client default 20 s). */
  readonly connectTimeoutMs?: number;
  /** Keep retrying when no server is reachable at start instead of failing (default false). */
  readonly waitOnFirstConnect?: boolean;
  /** Prefix of inbox subjects (default `_INBOX`); set it when permissions restrict inboxes. */
  readonly inboxPrefix?: string;
  /** Longest time close() waits for the drain before it closes hard, in ms (default 5000). */
  readonly drainTimeoutMs?: number;
  readonly logger?: Logger;
  /** Capture the caller's stack for request errors (costly; for debugging). Default false. */
  readonly asyncTraces?: boolean;
  /** Extra client options, applied last (escape hatch for anything not listed here). */
  readonly connectionOptions?: Partial<NodeConnectionOptions>;
}

function toBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === 'string' ? new TextEncoder().encode(value) : value;
}

/**
 * Translates NatsBusOptions into the client's connection options (pure apart from reading a
 * creds file). Exported for tests.
 */
export function buildConnectionOptions(options: NatsBusOptions = {}): NodeConnectionOptions {
  const servers = options.servers ?? DEFAULT_SERVER;
  const out: NodeConnectionOptions = {
    servers: typeof servers === 'string' ? servers : [...servers],
    maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
    reconnectTimeWait: options.reconnectTimeWait ?? DEFAULT_RECONNECT_TIME_WAIT,
    // Without this the client builds two errors with stack traces for every request (42 %
    // of a busy requester's CPU in the churn profile); `asyncTraces: true` turns them back on.
    noAsyncTraces: !(options.asyncTraces ?? false),
  };
  if (options.name !== undefined) out.name = options.name;
  if (options.user !== undefined) out.user = options.user;
  if (options.pass !== undefined) out.pass = options.pass;
  if (options.token !== undefined) out.token = options.token;
  if (options.reconnectJitter !== undefined) out.reconnectJitter = options.reconnectJitter;
  if (options.pingInterval !== undefined) out.pingInterval = options.pingInterval;
  if (options.maxPingOut !== undefined) out.maxPingOut = options.maxPingOut;
  if (options.connectTimeoutMs !== undefined) out.timeout = options.connectTimeoutMs;
  if (options.waitOnFirstConnect !== undefined) out.waitOnFirstConnect = options.waitOnFirstConnect;
  if (options.inboxPrefix !== undefined) out.inboxPrefix = options.inboxPrefix;

  const authenticators: Authenticator[] = [];
  if (options.credsFile !== undefined) {
    authenticators.push(credsAuthenticator(new Uint8Array(readFileSync(options.credsFile))));
  }
  if (options.creds !== undefined) authenticators.push(credsAuthenticator(toBytes(options.creds)));
  if (options.nkeySeed !== undefined) {
    authenticators.push(nkeyAuthenticator(toBytes(options.nkeySeed)));
  }
  if (authenticators.length === 1) out.authenticator = authenticators[0]!;
  else if (authenticators.length > 1) out.authenticator = authenticators;

  if (options.tls === true) out.tls = {};
  else if (options.tls !== undefined) out.tls = { ...options.tls };

  return { ...out, ...options.connectionOptions };
}
