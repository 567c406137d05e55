/**
 * The gateway's shared types: routes (as configured and compiled), the per-request context
 * the plugin chain works on, and the plugin contract. Kept in one small file so the router,
 * the proxy, the plugins and the config loader agree without importing each other.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { InstanceFilter } from '../client/filter.js';
import type { ProxyRequest } from './proxy-io.js';

/** How a route matches the request path. Exactly one kind per route. */
export type PathMatch =
  | { readonly exact: string }
  | { readonly prefix: string }
  /** `/users/:id/orders/:order` — parameters are one segment each; a trailing `*` matches the rest. */
  | { readonly template: string }
  /** An anchored regular expression, bounded in length; named groups become params. */
  | { readonly regex: string };

export interface RouteMatch {
  /** Exact host names or `*.example.com` wildcards (one or more labels); empty = any host. */
  readonly hosts?: readonly string[];
  readonly path: PathMatch;
  /** Upper-case methods; empty = any. */
  readonly methods?: readonly string[];
  /** Header name (lower-case) → exact value that must be present. */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RetryPolicy {
  /** Extra attempts after the first (0 = none). */
  readonly attempts: number;
  /** Retries allowed as a share of requests over the last 10 s (a retry budget), default 20. */
  readonly budgetPercent?: number;
  /** Also retry non-idempotent methods (off by default: only GET HEAD OPTIONS PUT DELETE). */
  readonly unsafeMethods?: boolean;
  /** Retry on these upstream statuses as well as on connect errors (default [502, 503, 504]). */
  readonly onStatus?: readonly number[];
}

/** Plugin settings by plugin name; each plugin validates its own part. */
export type PluginSettings = Readonly<Record<string, unknown>>;

/** A route as configured (file) or declared by a service (registration metadata). */
export interface RouteConfig {
  /** Unique name; metadata routes are named `<service>:<key>`. */
  readonly name: string;
  readonly match: RouteMatch;
  /** The registry service the route sends to. */
  readonly service: string;
  /** Remove the matched prefix (prefix routes) before forwarding. */
  readonly stripPrefix?: boolean;
  /** Replace the matched part with this (prefix routes) or the whole path (others). */
  readonly rewrite?: string;
  /** Upstream response timeout (first byte), default 15000 ms. */
  readonly timeoutMs?: number;
  readonly retries?: RetryPolicy;
  /** Balancing strategy name (client/strategies) and instance filter for the pool. */
  readonly strategy?: string;
  readonly filter?: InstanceFilter;
  /** Per-route plugin settings, merged over the gateway's defaults. */
  readonly plugins?: PluginSettings;
  /** Where the route came from. */
  readonly source: 'file' | 'registry';
}

/** What the router returns for a request. */
export interface RouteHit {
  readonly route: RouteConfig;
  /** Named parameters from a template or regex path. */
  readonly params: Readonly<Record<string, string>>;
  /** The path to send upstream (after strip/rewrite), query string not included. */
  readonly upstreamPath: string;
}

/** The per-request state the plugin chain reads and writes. */
export interface RequestContext {
  /** The client request: method, url, headers (read-only for plugins). */
  readonly req: ProxyRequest;
  readonly hit: RouteHit;
  /** The normalized request path (what routing saw). */
  readonly path: string;
  /**
   * The raw query string (with `?`, or ''), as the upstream gets it: what routing saw, unless a
   * plugin took a credential out of it (plugins/credentials.ts).
   */
  query: string;
  /** The client address after applying the trusted-hops rule to X-Forwarded-For. */
  readonly clientIp: string;
  readonly requestId: string;
  /** Set by an auth plugin: who is calling (JWT `sub`, API key name). */
  consumer: string | undefined;
  /**
   * Request headers the upstream does not get (lower-case names): credentials an auth plugin
   * has checked and keeps to the gateway (plugins/credentials.ts). undefined: none.
   */
  withheldHeaders: ReadonlySet<string> | undefined;
  /** Largest request body accepted (bytes), enforced by the proxy while streaming; set by a plugin. */
  bodyLimit: number | undefined;
  /** Response headers plugins want added to whatever the gateway sends back. */
  readonly responseHeaders: Record<string, string>;
  /** When the read that carried the request arrived (performance.now() milliseconds). */
  readonly startedAt: number;
}

/** A plugin's verdict: continue, or answer now without reaching the upstream. */
export type PluginOutcome =
  | undefined
  | {
      readonly status: number;
      readonly body?: string;
      readonly headers?: Readonly<Record<string, string>>;
      /** A short machine-readable reason for logs and metrics (e.g. 'jwt_expired'). */
      readonly reason: string;
    };

/**
 * A plugin instance is built once per route (from the merged settings) and called for every
 * request on that route, in chain order. Keep `onRequest` synchronous when it can be: the
 * proxy only awaits when a promise is returned.
 */
export interface Plugin {
  readonly name: string;
  onRequest(ctx: RequestContext): PluginOutcome | Promise<PluginOutcome>;
  close?(): void;
}

/** Builds a plugin for a route from its settings; throws RosterError ROSTER_ERR_CONFIG naming the key. */
export interface PluginFactory {
  readonly name: string;
  /** Position in the chain: lower runs first (request id 0, ip filter 10, cors 20, auth 30, rate limit 40, body limit 50). */
  readonly order: number;
  create(settings: unknown, env: PluginEnvironment): Plugin;
}

/** What plugins may need from the gateway around them. */
export interface PluginEnvironment {
  /** `routes.<name>.plugins.<plugin>`: prefix for error messages naming config keys. */
  readonly configPath: string;
  /** The number of live gateways sharing cluster-wide limits (at least 1), kept current. */
  liveGateways(): number;
  readonly logger: import('../transport/logger.js').Logger;
}

/**
 * A route table ready for the hot path: the router plus each route's plugin chain. The
 * control plane builds a new one on every change and hands it to the gateway, which swaps it
 * atomically (requests in flight keep the table they started with).
 */
export interface CompiledRouteTable {
  readonly routes: readonly RouteConfig[];
  /** Every service some route sends to (the gateway is ready once each has synced). */
  readonly services: readonly string[];
  /** `host` without port, lower-case; `path` normalized; `method` upper-case. */
  match(
    host: string,
    method: string,
    path: string,
    headers: IncomingHttpHeaders,
  ): RouteHit | undefined;
  /** The plugin chain of a route, in order. */
  plugins(route: RouteConfig): readonly Plugin[];
  /** Releases plugin resources (JWKS timers...). */
  close(): void;
}
