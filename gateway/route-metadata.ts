/**
 * Routes declared by services in their registration metadata: the keys, their parsing, and
 * how the declarations of one service's instances resolve into its routes.
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
 * A route exists while at least one live (passing or warning) instance declares it. When live
 * instances disagree on a route, the declaration of the most instances wins, ties going to the
 * one made by the lowest instance id; the disagreement is reported. Following the registry
 * live is registry-routes.ts.
 */

import { compileFilter } from '../client/filter.js';
import { type Instance, isRosterError } from '../protocol/index.js';
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
  /** A comma-separated field, each item parsed, repeats dropped; undefined when absent or empty. */
  const parsedList = <T>(
    field: RouteMetaField,
    max: number,
    what: string,
    parse: (item: string, key: string) => T,
  ): T[] | undefined => {
    const raw = get(field);
    if (raw === undefined) return undefined;
    const key = metaKey(field, index);
    const items = splitList(raw);
    if (items.length > max) throw new MetaError(key, `at most ${max} ${what}`);
    if (items.length === 0) return undefined;
    return [...new Set(items.map((item) => at(key, () => parse(item, key))))];
  };
  const hosts = parsedList('host', 32, 'hosts', parseHost);
  if (hosts !== undefined) match.hosts = hosts;
  const methods = parsedList('methods', 16, 'methods', parseMethod);
  if (methods !== undefined) match.methods = methods;
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
