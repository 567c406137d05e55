/**
 * Routes declared by services in their registration metadata, followed live.
 *
 * A service declares a route with `roster.route.*` metadata keys on its instances (the keys
 * are documented in docs/gateway.md and listed in ROUTE_META_FIELDS below):
 *
 *     roster.route.path-prefix = /users
 *     roster.route.host        = api.example.com
 *     roster.route.strip-prefix = true
 *
 * Several routes per service use an index suffix 1-9 (`roster.route.path-prefix.2`). A route
 * always sends to the declaring service (NATS permissions already decide who may register a
 * service, so a service can never claim traffic for another one) and never carries plugin
 * settings (a service cannot switch the gateway's security off); the gateway config gives
 * registry routes their plugins.
 *
 * RegistryRoutes follows every service: one subscription to every service's deltas, the node
 * heartbeats (a service some node changed lately that we do not know, or are behind on, is
 * queried), and the service catalogue at start and every `resyncMs`. For each service it keeps
 * the instances (client/service-view.ts: the same merge and revision-chain rules as watchers)
 * and derives the routes of its live (passing or warning) instances: a route exists while at
 * least one live instance declares it. When live instances disagree on a route, the
 * declaration of the most instances wins, ties going to the one made by the lowest instance
 * id; the disagreement is logged and reported. Changes are emitted debounced (50 ms), and only
 * when the resulting list differs. While NATS or the cluster is unreachable the last known
 * routes are kept.
 */

import { compileFilter } from '../client/filter.js';
import { ServiceView, type ViewEvent } from '../client/service-view.js';
import {
  type Change,
  changeService,
  decodeAs,
  decodeMessage,
  encodeTrusted,
  type Instance,
  isRosterError,
  isServiceName,
  type Subjects,
} from '../protocol/index.js';
import type { Bus, BusSubscription } from '../transport/bus.js';
import { type Logger, silentLogger } from '../transport/logger.js';
import {
  checkCompiles,
  checkRewrite,
  parseHost,
  parseMethod,
  parsePathMatch,
  parseStrategy,
  parseTimeout,
} from './config.js';
import type { PathMatch, RouteConfig, RouteMatch } from './types.js';

/** Every metadata key of a route starts with this. */
export const ROUTE_META_PREFIX = 'roster.route.';

/** The fields of a metadata route (`roster.route.<field>[.<index>]`). */
export const ROUTE_META_FIELDS = [
  'path-prefix',
  'path-exact',
  'path-template',
  'path-regex',
  'host',
  'methods',
  'headers',
  'strip-prefix',
  'rewrite',
  'timeout-ms',
  'retries',
  'strategy',
  'filter-tags',
  'filter-version',
] as const;
export type RouteMetaField = (typeof ROUTE_META_FIELDS)[number];

/** Indexes 0 (no suffix) to 9: at most ten routes per service. */
export const MAX_ROUTES_PER_SERVICE = 10;

/** Instance statuses whose declarations count. */
const LIVE = new Set(['passing', 'warning']);

const PATH_FIELDS: Readonly<Record<string, keyof PathKinds>> = {
  'path-prefix': 'prefix',
  'path-exact': 'exact',
  'path-template': 'template',
  'path-regex': 'regex',
};
interface PathKinds {
  prefix: string;
  exact: string;
  template: string;
  regex: string;
}

/** A metadata declaration that could not be used. */
export interface RegistryRouteError {
  readonly service: string;
  readonly instance: string;
  /** The route name the declaration was for (`users:route`, `users:route.2`). */
  readonly route: string;
  /** The metadata key at fault, when one is. */
  readonly key?: string;
  readonly message: string;
}

/** Live instances of a service declaring one route differently. */
export interface RegistryRouteDisagreement {
  readonly service: string;
  readonly route: string;
  /** The instance whose declaration was chosen. */
  readonly chosenFrom: string;
  /** Instances whose declaration differs from the chosen one. */
  readonly overruled: readonly string[];
}

export interface RegistryRouteSet {
  /** Sorted by name; `source` is always 'registry'. */
  readonly routes: readonly RouteConfig[];
  readonly errors: readonly RegistryRouteError[];
  readonly disagreements: readonly RegistryRouteDisagreement[];
}

export function registryRouteName(service: string, index: number): string {
  return index === 0 ? `${service}:route` : `${service}:route.${index}`;
}

function metaKey(field: string, index: number): string {
  return index === 0 ? `${ROUTE_META_PREFIX}${field}` : `${ROUTE_META_PREFIX}${field}.${index}`;
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function parseBool(value: string, key: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no' || v === '') return false;
  throw new MetaError(key, 'must be true or false');
}

class MetaError extends Error {
  constructor(
    readonly key: string | undefined,
    message: string,
  ) {
    super(key === undefined ? message : `${key}: ${message}`);
  }
}

/** Re-labels a config error (thrown for some config path) as a MetaError of `key`. */
function at<T>(key: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof MetaError) throw err;
    let message = err instanceof Error ? err.message : String(err);
    const path = isRosterError(err) ? err.data?.path : undefined;
    if (typeof path === 'string' && message.startsWith(`${path}: `)) {
      message = message.slice(path.length + 2);
    }
    throw new MetaError(key, message);
  }
}

function parseOne(
  service: string,
  index: number,
  fields: ReadonlyMap<string, string>,
): RouteConfig {
  const name = registryRouteName(service, index);
  const get = (field: RouteMetaField): string | undefined => fields.get(field);
  const paths = Object.keys(PATH_FIELDS).filter((f) => fields.has(f));
  if (paths.length === 0) {
    throw new MetaError(
      undefined,
      `route ${name} needs one of ${Object.keys(PATH_FIELDS)
        .map((f) => metaKey(f, index))
        .join(', ')}`,
    );
  }
  if (paths.length > 1) {
    throw new MetaError(
      metaKey(paths[1]!, index),
      `cannot be combined with ${metaKey(paths[0]!, index)}`,
    );
  }
  const pathField = paths[0]!;
  const pathKey = metaKey(pathField, index);
  const kind = PATH_FIELDS[pathField]!;
  const path: PathMatch = at(pathKey, () =>
    parsePathMatch({ [kind]: fields.get(pathField)!.trim() }, 'path'),
  );
  const match: { -readonly [K in keyof RouteMatch]: RouteMatch[K] } = { path };
  const host = get('host');
  if (host !== undefined) {
    const key = metaKey('host', index);
    const hosts = splitList(host);
    if (hosts.length > 32) throw new MetaError(key, 'at most 32 hosts');
    if (hosts.length > 0)
      match.hosts = [...new Set(hosts.map((h) => at(key, () => parseHost(h, key))))];
  }
  const methods = get('methods');
  if (methods !== undefined) {
    const key = metaKey('methods', index);
    const list = splitList(methods);
    if (list.length > 16) throw new MetaError(key, 'at most 16 methods');
    if (list.length > 0)
      match.methods = [...new Set(list.map((m) => at(key, () => parseMethod(m, key))))];
  }
  const headers = get('headers');
  if (headers !== undefined) {
    const key = metaKey('headers', index);
    const out: Record<string, string> = {};
    const pairs = splitList(headers);
    if (pairs.length > 16) throw new MetaError(key, 'at most 16 headers');
    for (const pair of pairs) {
      const colon = pair.indexOf(':');
      if (colon <= 0) throw new MetaError(key, 'use name:value pairs separated by commas');
      const h = pair.slice(0, colon).trim().toLowerCase();
      if (!/^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$/.test(h)) {
        throw new MetaError(key, `${JSON.stringify(h.slice(0, 40))} is not a header name`);
      }
      if (Object.hasOwn(out, h)) throw new MetaError(key, `header ${h} named twice`);
      out[h] = pair.slice(colon + 1).trim();
    }
    if (Object.keys(out).length > 0) match.headers = out;
  }
  const route: { -readonly [K in keyof RouteConfig]: RouteConfig[K] } = {
    name,
    match,
    service,
    source: 'registry',
  };
  const strip = get('strip-prefix');
  if (strip !== undefined) {
    const key = metaKey('strip-prefix', index);
    const value = parseBool(strip, key);
    if (
      value &&
      kind !== 'prefix' &&
      !(kind === 'template' && 'template' in path && path.template.endsWith('/*'))
    ) {
      throw new MetaError(
        key,
        'only applies to a path-prefix route or a path-template ending in /*',
      );
    }
    if (value) route.stripPrefix = true;
  }
  const rewrite = get('rewrite');
  if (rewrite !== undefined) {
    const key = metaKey('rewrite', index);
    const value = rewrite.trim();
    at(key, () => checkRewrite(value, key));
    if (route.stripPrefix) throw new MetaError(key, 'use either strip-prefix or rewrite, not both');
    route.rewrite = value;
  }
  const timeout = get('timeout-ms');
  if (timeout !== undefined) {
    const key = metaKey('timeout-ms', index);
    const n = /^\d{1,10}$/.test(timeout.trim()) ? Number(timeout.trim()) : Number.NaN;
    route.timeoutMs = at(key, () => parseTimeout(n, key));
  }
  const retries = get('retries');
  if (retries !== undefined) {
    const key = metaKey('retries', index);
    const n = /^\d{1,2}$/.test(retries.trim()) ? Number(retries.trim()) : Number.NaN;
    if (!(n >= 0 && n <= 10)) throw new MetaError(key, 'must be an integer from 0 to 10');
    route.retries = { attempts: n };
  }
  const strategy = get('strategy');
  if (strategy !== undefined) {
    const key = metaKey('strategy', index);
    route.strategy = at(key, () => parseStrategy(strategy.trim(), key));
  }
  const tags = get('filter-tags');
  const version = get('filter-version');
  if (tags !== undefined || version !== undefined) {
    const filter: { tags?: { all: string[] }; version?: string } = {};
    if (tags !== undefined) {
      const list = splitList(tags);
      if (list.length > 64) throw new MetaError(metaKey('filter-tags', index), 'at most 64 tags');
      if (list.length > 0) filter.tags = { all: list };
    }
    if (version !== undefined && version.trim() !== '') {
      const key = metaKey('filter-version', index);
      filter.version = version.trim();
      validateVersionRange(filter.version, key);
    }
    if (filter.tags || filter.version) route.filter = filter;
  }
  // Whatever else the router refuses (rewrite parameters, ...), named by meta key.
  const { source: _source, ...asFile } = route;
  at(metaKey(route.rewrite !== undefined ? 'rewrite' : pathField, index), () =>
    checkCompiles(asFile, 'route'),
  );
  return route;
}

/**
 * The routes one instance declares, by index, and the errors of the ones it declares badly.
 * Unknown `roster.route.*` fields are errors (a typo must not silently change a route).
 */
export function parseRouteMetadata(
  service: string,
  meta: Readonly<Record<string, string>>,
): {
  routes: Map<number, RouteConfig>;
  errors: { route: string; key?: string; message: string }[];
} {
  const byIndex = new Map<number, Map<string, string>>();
  const errors: { route: string; key?: string; message: string }[] = [];
  const broken = new Set<number>();
  for (const [key, value] of Object.entries(meta)) {
    if (!key.startsWith(ROUTE_META_PREFIX)) continue;
    const rest = key.slice(ROUTE_META_PREFIX.length);
    const m = /^([a-z-]+)(?:\.([1-9]))?$/.exec(rest);
    const index = m?.[2] === undefined ? 0 : Number(m[2]);
    if (!m || !(ROUTE_META_FIELDS as readonly string[]).includes(m[1]!)) {
      errors.push({
        route: registryRouteName(service, index),
        key,
        message: `${key}: unknown route key (fields: ${ROUTE_META_FIELDS.join(', ')}; index suffix .1 to .9)`,
      });
      broken.add(index);
      continue;
    }
    let fields = byIndex.get(index);
    if (!fields) {
      fields = new Map();
      byIndex.set(index, fields);
    }
    fields.set(m[1]!, value);
  }
  const routes = new Map<number, RouteConfig>();
  for (const [index, fields] of [...byIndex].sort((a, b) => a[0] - b[0])) {
    if (broken.has(index)) continue;
    try {
      routes.set(index, parseOne(service, index, fields));
    } catch (err) {
      const e = err instanceof MetaError ? err : new MetaError(undefined, String(err));
      errors.push({
        route: registryRouteName(service, index),
        ...(e.key !== undefined ? { key: e.key } : {}),
        message: e.message,
      });
    }
  }
  return { routes, errors };
}

/** The same semver range check a file route's filter gets. */
function validateVersionRange(range: string, key: string): void {
  if (range.length > 256) throw new MetaError(key, 'at most 256 characters');
  try {
    compileFilter({ version: range });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new MetaError(key, message.replace(/^[^:]*: /, ''));
  }
}

/** Canonical JSON (sorted keys) for comparing declarations. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : v,
  );
}

export interface ServiceRoutes {
  readonly routes: readonly RouteConfig[];
  readonly errors: readonly RegistryRouteError[];
  readonly disagreements: readonly RegistryRouteDisagreement[];
}

/**
 * The routes of one service from its instances: only live (passing, warning) instances count;
 * per route, the declaration of the most instances wins, a tie going to the lowest instance id.
 */
export function resolveServiceRoutes(
  service: string,
  instances: Iterable<Instance>,
): ServiceRoutes {
  const votes = new Map<string, Map<string, { route: RouteConfig; ids: string[] }>>();
  const errors: RegistryRouteError[] = [];
  const live = [...instances]
    .filter((i) => LIVE.has(i.status) && i.service === service)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const inst of live) {
    let declares = false;
    for (const key in inst.meta) {
      if (key.startsWith(ROUTE_META_PREFIX)) {
        declares = true;
        break;
      }
    }
    if (!declares) continue;
    const parsed = parseRouteMetadata(service, inst.meta);
    for (const e of parsed.errors) errors.push({ service, instance: inst.id, ...e });
    for (const route of parsed.routes.values()) {
      let byDecl = votes.get(route.name);
      if (!byDecl) {
        byDecl = new Map();
        votes.set(route.name, byDecl);
      }
      const key = canonical(route);
      const entry = byDecl.get(key);
      if (entry) entry.ids.push(inst.id);
      else byDecl.set(key, { route, ids: [inst.id] });
    }
  }
  const routes: RouteConfig[] = [];
  const disagreements: RegistryRouteDisagreement[] = [];
  for (const [name, byDecl] of votes) {
    // ids are in ascending order (instances were sorted), so ids[0] is each group's lowest.
    const groups = [...byDecl.values()].sort(
      (a, b) => b.ids.length - a.ids.length || (a.ids[0]! < b.ids[0]! ? -1 : 1),
    );
    const chosen = groups[0]!;
    routes.push(chosen.route);
    if (groups.length > 1) {
      disagreements.push({
        service,
        route: name,
        chosenFrom: chosen.ids[0]!,
        overruled: groups
          .slice(1)
          .flatMap((g) => g.ids)
          .sort(),
      });
    }
  }
  routes.sort((a, b) => (a.name < b.name ? -1 : 1));
  return { routes, errors, disagreements };
}

// ---------------------------------------------------------------------------------------------
// Following the registry

export interface RegistryRoutesOptions {
  readonly logger?: Logger;
  /** Safety-net catalogue re-read (default 30 000 ms). */
  readonly resyncMs?: number;
  /** Change coalescing (default 50 ms). */
  readonly debounceMs?: number;
  /** Per request (default 2000 ms). */
  readonly requestTimeoutMs?: number;
  /** Queries in parallel during a full resync (default 8). */
  readonly concurrency?: number;
}

interface Followed {
  readonly view: ServiceView;
  /** Deltas held while a query of this service is under way. */
  buffered: Change[] | undefined;
  syncing: Promise<void> | undefined;
  again: boolean;
  /** The last routes derived from the view. */
  result: ServiceRoutes;
  /** The view changed since `result`. */
  dirty: boolean;
}

const EMPTY: ServiceRoutes = { routes: [], errors: [], disagreements: [] };

export type RegistryRoutesListener = (set: RegistryRouteSet) => void;

export class RegistryRoutes implements AsyncDisposable {
  private readonly services = new Map<string, Followed>();
  private readonly listeners = new Set<RegistryRoutesListener>();
  private readonly subs: BusSubscription[] = [];
  private readonly logger: Logger;
  private readonly resyncMs: number;
  private readonly debounceMs: number;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private offStatus: (() => void) | undefined;
  private periodic: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private fullSync: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private current: RegistryRouteSet = { routes: [], errors: [], disagreements: [] };
  private currentKey = canonical(this.current);
  private loggedDisagreements = '';
  private loggedErrors = '';
  private closed = false;
  private syncedOnce = false;
  private staleReason: string | undefined;
  /** Counters for metrics. */
  readonly stats = { resyncs: 0, resyncFailures: 0, queries: 0, emits: 0 };

  constructor(
    private readonly bus: Bus,
    private readonly subjects: Subjects,
    options: RegistryRoutesOptions = {},
  ) {
    this.logger = (options.logger ?? silentLogger).child({ component: 'registry-routes' });
    this.resyncMs = options.resyncMs ?? 30_000;
    this.debounceMs = options.debounceMs ?? 50;
    this.timeoutMs = options.requestTimeoutMs ?? 2_000;
    this.concurrency = options.concurrency ?? 8;
  }

  /** True once a full sync (catalogue + every service) has succeeded. */
  get synced(): boolean {
    return this.syncedOnce;
  }

  /** True while the routes may be out of date (NATS or the cluster unreachable). */
  get stale(): boolean {
    return this.staleReason !== undefined;
  }

  /** The number of services followed. */
  get serviceCount(): number {
    return this.services.size;
  }

  /** The current routes, errors and disagreements. */
  routes(): RegistryRouteSet {
    return this.current;
  }

  /** Called (debounced) whenever the route set changes. */
  onChange(listener: RegistryRoutesListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Subscribes and runs the first full sync. Rejects when that sync fails (the subscriptions
   * stay and retries continue in the background: call close() to stop).
   */
  async start(): Promise<void> {
    this.subs.push(
      this.bus.subscribe(this.subjects.deltaAll, (m) => {
        let change: Change;
        try {
          change = decodeMessage(m.data, 'change');
        } catch (err) {
          this.logger.debug({ err }, 'bad delta ignored');
          return;
        }
        const service = changeService(change);
        if (service === undefined) return;
        // A delta must travel on its own service's subject.
        if (m.subject !== this.subjects.delta(service)) return;
        this.onDelta(service, change);
      }),
    );
    this.subs.push(
      this.bus.subscribe(this.subjects.heartbeat, (m) => {
        if (this.closed) return;
        let hb: ReturnType<typeof decodeMessage<'heartbeat'>>;
        try {
          hb = decodeMessage(m.data, 'heartbeat');
        } catch (err) {
          this.logger.debug({ err }, 'bad heartbeat ignored');
          return;
        }
        if (hb.touchedOverflow) {
          this.resyncAll();
          return;
        }
        for (const [service, seq] of hb.touched ?? []) {
          const f = this.services.get(service);
          if (!f || f.view.isBehind(hb.node, hb.inc, seq)) this.syncService(service);
        }
      }),
    );
    this.offStatus = this.bus.onStatus((s) => {
      if (s.type === 'disconnect') this.markStale('bus disconnected');
      else if (s.type === 'reconnect') this.resyncAll();
    });
    await this.bus.flush();
    this.periodic = setInterval(() => this.resyncAll(), this.resyncMs);
    this.periodic.unref();
    await this.runFullSync();
    this.flushNow();
  }

  /** Asks for a full resync (catalogue and every service) soon; coalesced. */
  resyncAll(): void {
    if (this.closed || this.fullSync) return;
    void this.runFullSync().catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subs) s.unsubscribe();
    this.subs.length = 0;
    this.offStatus?.();
    if (this.periodic) clearInterval(this.periodic);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.debounce) clearTimeout(this.debounce);
    this.listeners.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- internals ---

  private follow(service: string): Followed {
    let f = this.services.get(service);
    if (!f) {
      f = {
        view: new ServiceView(service),
        buffered: undefined,
        syncing: undefined,
        again: false,
        result: EMPTY,
        dirty: false,
      };
      this.services.set(service, f);
    }
    return f;
  }

  private onDelta(service: string, change: Change): void {
    if (this.closed) return;
    const known = this.services.has(service);
    const f = this.follow(service);
    if (f.buffered) {
      if (f.buffered.length < 100_000) f.buffered.push(change);
      return;
    }
    const events: ViewEvent[] = [];
    const outcome = f.view.applyDelta(change, events);
    if (events.length > 0) this.markDirty(f);
    // A service seen for the first time, or a hole in its chain: ask for the full set.
    if (!known || outcome === 'gap') this.syncService(service);
  }

  private syncService(service: string): void {
    if (this.closed || !isServiceName(service)) return;
    void this.sync(service).catch(() => undefined);
  }

  private async sync(service: string): Promise<void> {
    const f = this.follow(service);
    if (f.syncing) {
      f.again = true;
      return f.syncing;
    }
    f.syncing = this.runSync(service, f).finally(() => {
      f.syncing = undefined;
      if (f.again && !this.closed) {
        f.again = false;
        this.syncService(service);
      }
    });
    return f.syncing;
  }

  private async runSync(service: string, f: Followed): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      f.buffered = [];
      let ok = false;
      let complete = true;
      const events: ViewEvent[] = [];
      try {
        const { instances, revision } = await this.query(service);
        complete = f.view.reconcile(instances, revision, events);
        ok = true;
      } finally {
        // Apply what arrived meanwhile, whether the query worked or not (the merge rule is safe).
        const held = f.buffered ?? [];
        f.buffered = undefined;
        for (const c of held) f.view.applyDelta(c, events);
        if (events.length > 0) this.markDirty(f);
      }
      if (ok && (!complete || f.view.hasGap) && attempt < 3) {
        await sleep(50 * (attempt + 1));
        continue;
      }
      return;
    }
  }

  private async runFullSync(): Promise<void> {
    if (this.fullSync) return this.fullSync;
    this.fullSync = (async () => {
      this.stats.resyncs++;
      try {
        const reply = decodeAs(
          (
            await this.bus.request(this.subjects.catalog, encodeTrusted('catalogRequest', {}), {
              timeoutMs: this.timeoutMs,
            })
          ).data,
          'catalogReply',
        );
        const names = new Set(reply.services.map((s) => s.name));
        for (const [name, f] of this.services) {
          if (!names.has(name) && f.view.size === 0 && !f.syncing) this.services.delete(name);
          else names.add(name); // known services are re-queried too (they may have emptied)
        }
        const queue = [...names].sort();
        let failed: unknown;
        const worker = async () => {
          for (let next = queue.shift(); next !== undefined && !this.closed; next = queue.shift()) {
            try {
              await this.sync(next);
            } catch (err) {
              failed ??= err;
            }
          }
        };
        await Promise.all(Array.from({ length: Math.max(1, this.concurrency) }, worker));
        if (failed !== undefined) throw failed;
        this.syncedOnce = true;
        this.failures = 0;
        if (this.staleReason !== undefined) {
          this.logger.info({ services: this.services.size }, 'registry routes in sync again');
          this.staleReason = undefined;
        }
      } catch (err) {
        this.stats.resyncFailures++;
        this.markStale(err instanceof Error ? err.message : String(err));
        // Retry sooner than the periodic resync: 500 ms, doubling, up to resyncMs.
        this.failures++;
        if (!this.closed && !this.retryTimer) {
          const delay = Math.min(this.resyncMs, 500 * 2 ** Math.min(this.failures - 1, 10));
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.resyncAll();
          }, delay);
          this.retryTimer.unref();
        }
        throw err;
      }
    })().finally(() => {
      this.fullSync = undefined;
    });
    return this.fullSync;
  }

  private async query(
    service: string,
  ): Promise<{ instances: Instance[]; revision: [string, number, number][] }> {
    const instances: Instance[] = [];
    let revision: [string, number, number][] = [];
    let cursor: string | undefined;
    do {
      this.stats.queries++;
      const reply = decodeAs(
        (
          await this.bus.request(
            this.subjects.query(service),
            encodeTrusted('queryRequest', cursor === undefined ? { service } : { service, cursor }),
            { timeoutMs: this.timeoutMs },
          )
        ).data,
        'queryReply',
      );
      instances.push(...reply.instances);
      if (cursor === undefined) revision = reply.revision;
      cursor = reply.next;
    } while (cursor !== undefined);
    return { instances, revision };
  }

  private markStale(reason: string): void {
    if (this.closed) return;
    if (this.staleReason === undefined) {
      this.logger.warn({ reason }, 'registry routes may be stale; keeping the last known routes');
    }
    this.staleReason = reason;
  }

  private markDirty(f: Followed): void {
    f.dirty = true;
    if (this.closed || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.flushNow();
    }, this.debounceMs);
    this.debounce.unref?.();
  }

  /** Recomputes dirty services and emits when the whole set changed. */
  private flushNow(): void {
    if (this.closed) return;
    if (this.debounce) {
      clearTimeout(this.debounce);
      this.debounce = undefined;
    }
    const routes: RouteConfig[] = [];
    const errors: RegistryRouteError[] = [];
    const disagreements: RegistryRouteDisagreement[] = [];
    for (const [service, f] of [...this.services].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      if (f.dirty) {
        f.dirty = false;
        f.result = resolveServiceRoutes(service, f.view.instances());
      }
      routes.push(...f.result.routes);
      errors.push(...f.result.errors);
      disagreements.push(...f.result.disagreements);
    }
    const next: RegistryRouteSet = { routes, errors, disagreements };
    const key = canonical(next);
    if (key === this.currentKey) return;
    this.current = next;
    this.currentKey = key;
    this.stats.emits++;
    this.logProblems(next);
    for (const l of this.listeners) {
      try {
        l(next);
      } catch (err) {
        this.logger.error({ err }, 'registry routes listener failed');
      }
    }
  }

  private logProblems(set: RegistryRouteSet): void {
    const d = canonical(set.disagreements);
    if (d !== this.loggedDisagreements) {
      this.loggedDisagreements = d;
      for (const x of set.disagreements) {
        this.logger.warn(
          {
            service: x.service,
            route: x.route,
            chosenFrom: x.chosenFrom,
            overruled: x.overruled.slice(0, 20),
          },
          'instances declare a route differently; using the declaration of the majority (ties: lowest instance id)',
        );
      }
    }
    const e = canonical(set.errors);
    if (e !== this.loggedErrors) {
      this.loggedErrors = e;
      for (const x of set.errors.slice(0, 50)) {
        this.logger.error(
          { service: x.service, instance: x.instance, route: x.route, key: x.key },
          `bad route metadata ignored: ${x.message}`,
        );
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
