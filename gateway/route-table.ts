/**
 * The route table: file routes and registry routes merged, checked for conflicts, given their
 * plugin chains and compiled for the hot path.
 *
 * Two routes conflict when some request could match both and neither is preferred by the
 * router: the same path match (same kind and pattern), hosts that overlap (the same host
 * pattern on both, or no hosts on both), methods that overlap (a shared method, or no methods
 * on either) and the same header requirements. Routes that differ in specificity (one names
 * a host or header the other leaves open) do not conflict: the router prefers the more
 * specific one.
 *
 * - A conflict between FILE routes refuses the whole file config (RosterError
 *   ROSTER_ERR_CONFLICT naming both routes); a reload keeps the table it had.
 * - A REGISTRY route that conflicts with a file route, or with a registry route of an earlier
 *   name, is dropped and reported (file routes win; among registry routes the order is by
 *   name, so the outcome is the same on every gateway).
 *
 * Plugin chains: for each route, `defaults.plugins` with the route's own plugin settings
 * merged over them (per plugin, a shallow merge of the two maps; `false` turns a default off),
 * for registry routes `registryRoutes.plugins`. Chains are sorted by factory order and cached
 * by route name and settings, so a rebuild that leaves a route's plugins unchanged reuses its
 * plugin instances (reference counted: a chain is closed when no live table uses it).
 */

import type { IncomingHttpHeaders } from 'node:http';
import { isRosterError, RosterError } from '../protocol/index.js';
import { type Logger, silentLogger } from '../transport/logger.js';
import type { FileRouteConfig, RegistryRoutesConfig, RouteDefaults } from './config.js';
import { pluginFactories } from './plugins/index.js';
import { canonical, type RegistryRouteSet } from './route-metadata.js';
import { compileRoutes } from './router.js';
import type {
  CompiledRouteTable,
  PathMatch,
  Plugin,
  PluginFactory,
  PluginSettings,
  RouteConfig,
  RouteHit,
  RouteMatch,
} from './types.js';

// ---------------------------------------------------------------------------------------------
// Conflicts

/** The path match as the router compares it (trailing `/` of a prefix and parameter names ignored). */
function pathKey(path: PathMatch): string {
  if ('exact' in path) return `exact ${path.exact}`;
  if ('prefix' in path) {
    return `prefix ${path.prefix.endsWith('/') ? path.prefix.slice(0, -1) || '/' : path.prefix}`;
  }
  if ('template' in path) return `template ${path.template.replace(/\/:[^/]+/g, '/:')}`;
  return `regex ${path.regex}`;
}

function describePath(path: PathMatch): string {
  const [kind, value] = Object.entries(path)[0] as [string, string];
  return `path ${kind} ${value}`;
}

/** The router's host indexes a route sits in: exact names, `*.suffix` wildcards, or '' (any host). */
function hostIndexes(match: RouteMatch): string[] {
  const hosts = match.hosts ?? [];
  return hosts.length === 0 ? [''] : hosts.map((h) => h.toLowerCase());
}

/** Method list counts one condition, each header one: more conditions win in the router. */
function conditions(match: RouteMatch): number {
  return (
    (match.methods && match.methods.length > 0 ? 1 : 0) + Object.keys(match.headers ?? {}).length
  );
}

/**
 * Why `a` and `b` conflict, or undefined when they do not. They conflict when the router
 * could only choose between them by config order: the same path match in a shared host index
 * (the same exact host, the same wildcard, or both on any host), the same number of
 * conditions, and some request satisfying both (methods overlap, no header required with two
 * different values).
 */
export function routeConflict(a: RouteMatch, b: RouteMatch): string | undefined {
  if (pathKey(a.path) !== pathKey(b.path)) return undefined;
  const hb = new Set(hostIndexes(b));
  const hosts = hostIndexes(a).filter((h) => hb.has(h));
  if (hosts.length === 0) return undefined;
  if (conditions(a) !== conditions(b)) return undefined;
  const ma = a.methods ?? [];
  const mb = b.methods ?? [];
  const methods = ma.length === 0 ? mb : mb.length === 0 ? ma : ma.filter((m) => mb.includes(m));
  if (ma.length > 0 && mb.length > 0 && methods.length === 0) return undefined;
  const ha = a.headers ?? {};
  const hbh = b.headers ?? {};
  for (const [name, value] of Object.entries(ha)) {
    if (Object.hasOwn(hbh, name) && hbh[name] !== value) return undefined;
  }
  const on = hosts[0] === '' ? 'any host' : `host ${hosts.join(', ')}`;
  const via = methods.length === 0 ? 'any method' : `method ${methods.join(', ')}`;
  const headers = { ...ha, ...hbh };
  const withHeaders = Object.keys(headers).length > 0 ? `, headers ${JSON.stringify(headers)}` : '';
  return `both match ${describePath(a.path)} on ${on} for ${via}${withHeaders}, with the same precedence`;
}

// ---------------------------------------------------------------------------------------------
// Reports

export type RouteProblemKind = 'conflict' | 'invalid' | 'not-allowed' | 'plugin' | 'disagreement';

/** Why a route (or a declaration of one) is not in the table, or is in it with a caveat. */
export interface RouteProblem {
  readonly kind: RouteProblemKind;
  readonly source: 'file' | 'registry';
  readonly route: string;
  readonly service?: string;
  /** The instance whose metadata is at fault (registry). */
  readonly instance?: string;
  /** The route it conflicts with. */
  readonly conflictsWith?: string;
  readonly message: string;
}

/** A route as the admin API shows it. */
export interface RouteSummary {
  readonly name: string;
  readonly source: 'file' | 'registry';
  readonly service: string;
  readonly match: RouteMatch;
  readonly stripPrefix?: boolean;
  readonly rewrite?: string;
  readonly timeoutMs?: number;
  readonly retries?: RouteConfig['retries'];
  readonly strategy?: string;
  readonly filter?: RouteConfig['filter'];
  /** The plugin chain, in order. */
  readonly plugins: readonly string[];
}

export interface RouteTableReport {
  readonly routes: readonly RouteSummary[];
  /** Registry routes dropped or overruled, and bad metadata. */
  readonly problems: readonly RouteProblem[];
}

// ---------------------------------------------------------------------------------------------
// Building

export interface RouteTableInput {
  readonly fileRoutes: readonly FileRouteConfig[];
  readonly defaults: RouteDefaults;
  readonly registryRoutes: Pick<RegistryRoutesConfig, 'enabled' | 'plugins' | 'services'>;
  /** The registry's routes (empty when registry routes are off). */
  readonly registry: RegistryRouteSet;
}

export interface RouteTableBuilderOptions {
  readonly logger?: Logger;
  /** The live gateway count for cluster-aware plugins (default 1). */
  readonly liveGateways?: () => number;
  /** Plugin factories (default: the built-in ones). */
  readonly factories?: readonly PluginFactory[];
}

export interface BuiltTable {
  readonly table: CompiledRouteTable;
  readonly report: RouteTableReport;
}

interface CachedChain {
  readonly plugins: readonly Plugin[];
  refs: number;
}

function applyDefaults<T extends FileRouteConfig | RouteConfig>(
  route: T,
  defaults: RouteDefaults,
): T {
  const out: Record<string, unknown> = { ...route };
  if (route.timeoutMs === undefined && defaults.timeoutMs !== undefined)
    out.timeoutMs = defaults.timeoutMs;
  if (route.retries === undefined && defaults.retries !== undefined) out.retries = defaults.retries;
  if (route.strategy === undefined && defaults.strategy !== undefined)
    out.strategy = defaults.strategy;
  return out as T;
}

/** Per plugin: `false` wins, maps merge shallowly (the later over the earlier). */
export function mergePluginSettings(
  ...layers: (PluginSettings | undefined)[]
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const [name, value] of Object.entries(layer)) {
      const before = out[name];
      if (value === false || value === undefined) out[name] = false;
      else if (value === true) out[name] = before && before !== false ? before : {};
      else if (
        before &&
        before !== false &&
        typeof before === 'object' &&
        typeof value === 'object'
      ) {
        out[name] = { ...(before as object), ...(value as object) };
      } else out[name] = value;
    }
  }
  return out;
}

function summary(route: RouteConfig, plugins: readonly Plugin[]): RouteSummary {
  const { source, name, service, match } = route;
  const out: Record<string, unknown> = { name, source, service, match };
  for (const k of [
    'stripPrefix',
    'rewrite',
    'timeoutMs',
    'retries',
    'strategy',
    'filter',
  ] as const) {
    if (route[k] !== undefined) out[k] = route[k];
  }
  out.plugins = plugins.map((p) => p.name);
  return out as unknown as RouteSummary;
}

/**
 * Builds route tables, keeping plugin chains alive across builds while some table uses them.
 * One builder per gateway.
 */
export class RouteTableBuilder {
  private readonly chains = new Map<string, CachedChain>();
  private readonly logger: Logger;
  private readonly liveGateways: () => number;
  private readonly factories: readonly PluginFactory[];
  private readonly byName: ReadonlyMap<string, PluginFactory>;

  constructor(options: RouteTableBuilderOptions = {}) {
    this.logger = (options.logger ?? silentLogger).child({ component: 'route-table' });
    this.liveGateways = options.liveGateways ?? (() => 1);
    this.factories = [...(options.factories ?? pluginFactories)].sort((a, b) => a.order - b.order);
    this.byName = new Map(this.factories.map((f) => [f.name, f]));
  }

  /**
   * Builds a table. Throws (and builds nothing) when the file routes are invalid or conflict:
   * RosterError ROSTER_ERR_CONFLICT or ROSTER_ERR_CONFIG naming the route. Registry routes
   * never make it throw: a bad one is left out and reported.
   */
  build(input: RouteTableInput): BuiltTable {
    const acquired: string[] = [];
    try {
      return this.buildInner(input, acquired);
    } catch (err) {
      this.release(acquired);
      throw err;
    }
  }

  /** Closes every cached plugin (at gateway shutdown). */
  close(): void {
    for (const chain of this.chains.values()) closeChain(chain.plugins, this.logger);
    this.chains.clear();
  }

  private buildInner(input: RouteTableInput, acquired: string[]): BuiltTable {
    const accepted: RouteConfig[] = [];
    // Conflicts need the same path match: compare only within one path key.
    const byPath = new Map<string, RouteConfig[]>();
    const sharingPath = (route: RouteConfig): RouteConfig[] =>
      byPath.get(pathKey(route.match.path)) ?? [];
    const accept = (route: RouteConfig): void => {
      accepted.push(route);
      const key = pathKey(route.match.path);
      const list = byPath.get(key);
      if (list) list.push(route);
      else byPath.set(key, [route]);
    };
    const chainOf = new Map<string, readonly Plugin[]>();
    const problems: RouteProblem[] = [];

    // 1. File routes: every one must be valid and conflict-free, or nothing is built.
    input.fileRoutes.forEach((fileRoute, i) => {
      const route = applyDefaults({ ...fileRoute, source: 'file' as const }, input.defaults);
      for (const other of sharingPath(route)) {
        const why = routeConflict(route.match, other.match);
        if (why !== undefined) {
          const j = input.fileRoutes.findIndex((r) => r.name === other.name);
          throw new RosterError(
            'ROSTER_ERR_CONFLICT',
            `routes[${i}] (${route.name}) conflicts with routes[${j}] (${other.name}): ${why}`,
            { path: `routes[${i}]`, route: route.name, conflictsWith: other.name },
          );
        }
      }
      const settings = mergePluginSettings(input.defaults.plugins, fileRoute.plugins);
      chainOf.set(
        route.name,
        this.chain(route, settings, fileRoute.plugins, 'defaults.plugins', acquired),
      );
      accept(route);
    });
    try {
      compileRoutes(accepted);
    } catch (err) {
      throw asConfigError(err, 'routes');
    }

    // 2. Registry routes: dropped and reported when not allowed, bad or conflicting.
    for (const e of input.registry.errors) {
      problems.push({
        kind: 'invalid',
        source: 'registry',
        route: e.route,
        service: e.service,
        instance: e.instance,
        message: e.message,
      });
    }
    for (const d of input.registry.disagreements) {
      problems.push({
        kind: 'disagreement',
        source: 'registry',
        route: d.route,
        service: d.service,
        message: `instances declare this route differently: using the declaration of ${d.chosenFrom}; overruled: ${d.overruled.slice(0, 10).join(', ')}${d.overruled.length > 10 ? ', …' : ''}`,
      });
    }
    if (input.registryRoutes.enabled) {
      const allowed = input.registryRoutes.services
        ? new Set(input.registryRoutes.services)
        : undefined;
      const fileCount = accepted.length;
      const registry = [...input.registry.routes].sort((a, b) =>
        a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
      );
      for (const declared of registry) {
        const drop = (kind: RouteProblemKind, message: string, conflictsWith?: string) => {
          const problem: RouteProblem = {
            kind,
            source: 'registry',
            route: declared.name,
            service: declared.service,
            message,
            ...(conflictsWith !== undefined ? { conflictsWith } : {}),
          };
          problems.push(problem);
          this.logger.error(
            { route: declared.name, service: declared.service, kind, conflictsWith },
            `registry route dropped: ${message}`,
          );
        };
        if (allowed && !allowed.has(declared.service)) {
          drop('not-allowed', `service ${declared.service} is not in registryRoutes.services`);
          continue;
        }
        const route = applyDefaults({ ...declared, source: 'registry' as const }, input.defaults);
        const clash = sharingPath(route).find(
          (other) => routeConflict(route.match, other.match) !== undefined,
        );
        if (clash) {
          const why = routeConflict(route.match, clash.match)!;
          const against =
            accepted.indexOf(clash) < fileCount
              ? `file route ${clash.name}`
              : `registry route ${clash.name}`;
          drop('conflict', `conflicts with ${against} (which wins): ${why}`, clash.name);
          continue;
        }
        try {
          compileRoutes([route]);
        } catch (err) {
          drop('invalid', err instanceof Error ? err.message : String(err));
          continue;
        }
        let chain: readonly Plugin[];
        try {
          const settings = mergePluginSettings(
            input.defaults.plugins,
            input.registryRoutes.plugins,
          );
          chain = this.chain(
            route,
            settings,
            input.registryRoutes.plugins,
            'defaults.plugins',
            acquired,
            'registryRoutes.plugins',
          );
        } catch (err) {
          drop('plugin', err instanceof Error ? err.message : String(err));
          continue;
        }
        chainOf.set(route.name, chain);
        accept(route);
      }
    }

    const router = compileRoutes(accepted);
    const services = [...new Set(accepted.map((r) => r.service))].sort();
    const routes = Object.freeze([...accepted]);
    const keys = [...acquired];
    acquired.length = 0; // owned by the table now
    let closed = false;
    const table: CompiledRouteTable = {
      routes,
      services,
      match: (
        host: string,
        method: string,
        path: string,
        headers: IncomingHttpHeaders,
      ): RouteHit | undefined => router.match(host, method, path, headers),
      plugins: (route: RouteConfig) => chainOf.get(route.name) ?? [],
      close: () => {
        if (closed) return;
        closed = true;
        this.release(keys);
      },
    };
    return {
      table,
      report: {
        routes: accepted.map((r) => summary(r, chainOf.get(r.name) ?? [])),
        problems,
      },
    };
  }

  /**
   * The chain for `route` with merged `settings`, from the cache or built. `own` are the
   * route's own plugin settings: a plugin it sets is reported at `routes.<name>.plugins.<p>`
   * (the path plugins are given), one it only inherits also names where the default sits.
   */
  private chain(
    route: RouteConfig,
    settings: Record<string, unknown>,
    own: PluginSettings | undefined,
    defaultsPath: string,
    acquired: string[],
    ownPath?: string,
  ): readonly Plugin[] {
    const base = `routes.${route.name}.plugins`;
    const chosen: { factory: PluginFactory; settings: unknown }[] = [];
    for (const [name, value] of Object.entries(settings)) {
      const factory = this.byName.get(name);
      if (!factory) {
        const where = own && Object.hasOwn(own, name) ? (ownPath ?? base) : defaultsPath;
        throw new RosterError(
          'ROSTER_ERR_CONFIG',
          `${where}.${name}: unknown plugin (known: ${this.factories.map((f) => f.name).join(', ')})`,
          { path: `${where}.${name}` },
        );
      }
      if (value !== false) chosen.push({ factory, settings: value });
    }
    chosen.sort((a, b) => a.factory.order - b.factory.order);
    const key = `${route.name}\u0000${canonical(chosen.map((c) => [c.factory.name, c.settings]))}`;
    const cached = this.chains.get(key);
    if (cached) {
      cached.refs++;
      acquired.push(key);
      return cached.plugins;
    }
    const plugins: Plugin[] = [];
    try {
      for (const c of chosen) {
        plugins.push(
          c.factory.create(c.settings, {
            configPath: `${base}.${c.factory.name}`,
            liveGateways: this.liveGateways,
            logger: this.logger,
          }),
        );
      }
    } catch (err) {
      closeChain(plugins, this.logger);
      const name = chosen[plugins.length]?.factory.name;
      if (name !== undefined && !(own && Object.hasOwn(own, name)) && isRosterError(err)) {
        throw new RosterError(
          'ROSTER_ERR_CONFIG',
          `${err.message} (inherited from ${defaultsPath}.${name})`,
          err.data,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
    this.chains.set(key, { plugins, refs: 1 });
    acquired.push(key);
    return plugins;
  }

  private release(keys: readonly string[]): void {
    for (const key of keys) {
      const chain = this.chains.get(key);
      if (!chain) continue;
      chain.refs--;
      if (chain.refs <= 0) {
        this.chains.delete(key);
        closeChain(chain.plugins, this.logger);
      }
    }
  }
}

function closeChain(plugins: readonly Plugin[], logger: Logger): void {
  for (const p of plugins) {
    try {
      p.close?.();
    } catch (err) {
      logger.warn({ err, plugin: p.name }, 'closing a plugin failed');
    }
  }
}

function asConfigError(err: unknown, path: string): RosterError {
  if (isRosterError(err)) return err;
  return new RosterError(
    'ROSTER_ERR_CONFIG',
    `${path}: ${err instanceof Error ? err.message : String(err)}`,
    {
      path,
    },
  );
}
