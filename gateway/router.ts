/**
 * The router: compiles routes once into per-host path indexes and matches requests without
 * allocating on a miss.
 *
 * Precedence: exact host > wildcard host (longest suffix first) > any host; within a host
 * index: exact path > template > longest prefix > regex. Within each kind, templates rank by
 * specificity (more literal segments, then more segments, then without a trailing `*`); then
 * routes with more conditions (method list counts one, each header one) come first; remaining
 * ties go to the earlier route in config order. A host index without a matching route falls
 * through to the less specific host indexes.
 *
 * Speed: exact paths are one Map lookup; templates and prefixes are bucketed by a hash of the
 * first path segment (computed in place, no substring); regexes are tried last, only on paths
 * up to MAX_REGEX_SUBJECT characters.
 */
import type { IncomingHttpHeaders } from 'node:http';
import {
  applyRewrite,
  checkNormalPath,
  compileRegex,
  compileRewrite,
  compileTemplate,
  configError,
  MAX_REGEX_SUBJECT,
  type Rewrite,
  type Template,
  templateMatches,
  templateParams,
} from './route-patterns.js';
import type { RouteConfig, RouteHit } from './types.js';

export interface Router {
  readonly routes: readonly RouteConfig[];
  /** `host` lower-case without port; `path` normalized; `method` upper-case. */
  match(
    host: string,
    method: string,
    path: string,
    headers: IncomingHttpHeaders,
  ): RouteHit | undefined;
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

interface BaseEntry {
  readonly route: RouteConfig;
  readonly order: number;
  readonly conditions: number;
  readonly methods: readonly string[] | undefined;
  readonly headers: readonly (readonly [string, string])[] | undefined;
}

interface ExactEntry extends BaseEntry {
  readonly hit: RouteHit;
}

interface PrefixEntry extends BaseEntry {
  /** Without a trailing slash; '' for the root prefix. */
  readonly prefix: string;
  /** Replaces the matched prefix (strip = ''); undefined keeps the path. */
  readonly replacement: string | undefined;
}

interface TemplateEntry extends BaseEntry {
  readonly template: Template;
  readonly rewrite: Rewrite | undefined;
  /** stripPrefix on a `/*` template: send `/` + the rest. */
  readonly restOnly: boolean;
}

interface RegexEntry extends BaseEntry {
  readonly re: RegExp;
  readonly named: boolean;
  readonly rewrite: Rewrite | undefined;
}

interface Tier {
  readonly templates: TemplateEntry[];
  readonly prefixes: PrefixEntry[];
}

/** FNV-1a over the first segment of `path` (chars 1 up to the next '/'). */
function firstSegmentHash(path: string, from = 1): number {
  let h = 0x811c9dc5;
  for (let i = from; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 47) break;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h >>> 0;
}

function conditionsPass(e: BaseEntry, method: string, headers: IncomingHttpHeaders): boolean {
  if (e.methods !== undefined && !e.methods.includes(method)) return false;
  const hs = e.headers;
  if (hs !== undefined) {
    for (let i = 0; i < hs.length; i++) {
      const [name, want] = hs[i]!;
      const have = headers[name];
      if (have === want) continue;
      if (Array.isArray(have) && have.includes(want)) continue;
      return false;
    }
  }
  return true;
}

function byConditionsThenOrder(a: BaseEntry, b: BaseEntry): number {
  return b.conditions - a.conditions || a.order - b.order;
}

function byTemplateRank(a: TemplateEntry, b: TemplateEntry): number {
  return (
    b.template.literals - a.template.literals ||
    b.template.segments.length - a.template.segments.length ||
    Number(a.template.rest) - Number(b.template.rest) ||
    byConditionsThenOrder(a, b)
  );
}

function byPrefixRank(a: PrefixEntry, b: PrefixEntry): number {
  return b.prefix.length - a.prefix.length || byConditionsThenOrder(a, b);
}

function joinReplacement(replacement: string, rest: string): string {
  if (rest === '') return replacement === '' ? '/' : replacement;
  if (replacement.endsWith('/')) return replacement + rest.slice(1);
  return replacement + rest;
}

class PathIndex {
  private readonly exact = new Map<string, ExactEntry[]>();
  private readonly buckets = new Map<number, Tier>();
  private readonly fallback: Tier = { templates: [], prefixes: [] };
  private readonly regexes: RegexEntry[] = [];
  private readonly bucketed: { hash: number; entry: TemplateEntry | PrefixEntry }[] = [];
  private readonly general: (TemplateEntry | PrefixEntry)[] = [];

  addExact(path: string, e: ExactEntry): void {
    const list = this.exact.get(path);
    if (list) list.push(e);
    else this.exact.set(path, [e]);
  }

  addTemplate(e: TemplateEntry): void {
    const first = e.template.segments[0];
    if (first !== undefined && 'literal' in first) {
      this.bucketed.push({ hash: firstSegmentHash('/' + first.literal), entry: e });
    } else {
      this.general.push(e);
    }
  }

  addPrefix(e: PrefixEntry): void {
    if (e.prefix === '') this.general.push(e);
    else this.bucketed.push({ hash: firstSegmentHash(e.prefix), entry: e });
  }

  addRegex(e: RegexEntry): void {
    this.regexes.push(e);
  }

  /** Sorts every list and copies the general entries into each bucket. */
  finish(): void {
    const put = (tier: Tier, e: TemplateEntry | PrefixEntry) => {
      if ('template' in e) tier.templates.push(e);
      else tier.prefixes.push(e);
    };
    for (const { hash, entry } of this.bucketed) {
      let tier = this.buckets.get(hash);
      if (tier === undefined) {
        tier = { templates: [], prefixes: [] };
        this.buckets.set(hash, tier);
      }
      put(tier, entry);
    }
    for (const e of this.general) {
      put(this.fallback, e);
      for (const tier of this.buckets.values()) put(tier, e);
    }
    for (const tier of [this.fallback, ...this.buckets.values()]) {
      tier.templates.sort(byTemplateRank);
      tier.prefixes.sort(byPrefixRank);
    }
    for (const list of this.exact.values()) list.sort(byConditionsThenOrder);
    this.regexes.sort(byConditionsThenOrder);
  }

  match(method: string, path: string, headers: IncomingHttpHeaders): RouteHit | undefined {
    const exact = this.exact.get(path);
    if (exact !== undefined) {
      for (let i = 0; i < exact.length; i++) {
        const e = exact[i]!;
        if (conditionsPass(e, method, headers)) return e.hit;
      }
    }
    const tier = this.buckets.get(firstSegmentHash(path)) ?? this.fallback;
    const templates = tier.templates;
    for (let i = 0; i < templates.length; i++) {
      const e = templates[i]!;
      if (templateMatches(e.template, path) && conditionsPass(e, method, headers)) {
        const hit = templateHit(e, path);
        if (hit !== undefined) return hit;
      }
    }
    const prefixes = tier.prefixes;
    for (let i = 0; i < prefixes.length; i++) {
      const e = prefixes[i]!;
      const p = e.prefix;
      if (
        path.startsWith(p) &&
        (path.length === p.length || path.charCodeAt(p.length) === 47) &&
        conditionsPass(e, method, headers)
      ) {
        const upstreamPath =
          e.replacement === undefined ? path : joinReplacement(e.replacement, path.slice(p.length));
        return { route: e.route, params: NO_PARAMS, upstreamPath };
      }
    }
    if (path.length <= MAX_REGEX_SUBJECT) {
      const regexes = this.regexes;
      for (let i = 0; i < regexes.length; i++) {
        const e = regexes[i]!;
        if (e.re.test(path) && conditionsPass(e, method, headers)) {
          const hit = regexHit(e, path);
          if (hit !== undefined) return hit;
        }
      }
    }
    return undefined;
  }
}

function templateHit(e: TemplateEntry, path: string): RouteHit | undefined {
  const params =
    e.template.paramNames.length === 0 && !e.template.rest
      ? NO_PARAMS
      : templateParams(e.template, path);
  let upstreamPath: string | undefined = path;
  if (e.rewrite !== undefined) upstreamPath = applyRewrite(e.rewrite, params);
  else if (e.restOnly) upstreamPath = '/' + (params['*'] ?? '');
  if (upstreamPath === undefined) return undefined;
  return { route: e.route, params, upstreamPath };
}

function regexHit(e: RegexEntry, path: string): RouteHit | undefined {
  let params = NO_PARAMS;
  if (e.named) {
    const groups = e.re.exec(path)?.groups;
    if (groups !== undefined) {
      const p: Record<string, string> = {};
      for (const k of Object.keys(groups)) p[k] = groups[k] ?? '';
      params = p;
    }
  }
  const upstreamPath = e.rewrite === undefined ? path : applyRewrite(e.rewrite, params);
  if (upstreamPath === undefined) return undefined;
  return { route: e.route, params, upstreamPath };
}

const HOST = /^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/;
const IP6 = /^\[[0-9a-f:.]+\]$/;

function hostKeys(route: RouteConfig, key: string): string[] {
  const hosts = route.match.hosts ?? [];
  if (!Array.isArray(hosts)) throw configError(key, 'must be an array of host names');
  return hosts.map((h, i) => {
    const host = typeof h === 'string' ? h.toLowerCase().replace(/\.$/, '') : '';
    if (!HOST.test(host) && !IP6.test(host)) {
      throw configError(`${key}[${i}]`, 'must be a host name, [ipv6] or *.domain (no port)');
    }
    return host;
  });
}

function baseEntry(route: RouteConfig, order: number, key: string): BaseEntry {
  const m = route.match;
  const methods = m.methods !== undefined && m.methods.length > 0 ? [...m.methods] : undefined;
  for (const meth of methods ?? []) {
    if (typeof meth !== 'string' || !/^[A-Z]+$/.test(meth)) {
      throw configError(`${key}.methods`, 'must be upper-case method names');
    }
  }
  const headers =
    m.headers === undefined
      ? undefined
      : Object.entries(m.headers).map(([name, value]): [string, string] => {
          if (name !== name.toLowerCase() || typeof value !== 'string') {
            throw configError(`${key}.headers.${name}`, 'names lower-case, values strings');
          }
          return [name, value];
        });
  return {
    route,
    order,
    conditions: (methods ? 1 : 0) + (headers?.length ?? 0),
    methods,
    headers: headers !== undefined && headers.length > 0 ? headers : undefined,
  };
}

function addRoute(index: PathIndex, route: RouteConfig, order: number): void {
  const key = `routes.${route.name}.match`;
  const base = baseEntry(route, order, key);
  const p = route.match.path as Record<string, unknown> | undefined;
  const kinds = p === undefined ? [] : Object.keys(p);
  if (p === undefined || kinds.length !== 1) {
    throw configError(`${key}.path`, 'needs exactly one of exact, prefix, template, regex');
  }
  const rewriteKey = `routes.${route.name}.rewrite`;
  if ('exact' in p) {
    const path = checkNormalPath(p.exact, `${key}.path.exact`);
    if (route.stripPrefix) throw configError(`routes.${route.name}.stripPrefix`, 'needs a prefix');
    const rewrite =
      route.rewrite === undefined ? undefined : compileRewrite(route.rewrite, [], rewriteKey);
    const hit: RouteHit = Object.freeze({
      route,
      params: NO_PARAMS,
      upstreamPath: rewrite?.literal ?? path,
    });
    index.addExact(path, { ...base, hit });
  } else if ('prefix' in p) {
    const raw = checkNormalPath(p.prefix, `${key}.path.prefix`);
    const prefix = raw.endsWith('/') ? raw.slice(0, -1) : raw;
    let replacement: string | undefined;
    if (route.rewrite !== undefined) {
      replacement = compileRewrite(route.rewrite, [], rewriteKey).literal;
    } else if (route.stripPrefix) {
      replacement = '';
    }
    index.addPrefix({ ...base, prefix, replacement });
  } else if ('template' in p) {
    const template = compileTemplate(p.template as string, `${key}.path.template`);
    const names = template.rest ? [...template.paramNames, '*'] : template.paramNames;
    const rewrite =
      route.rewrite === undefined ? undefined : compileRewrite(route.rewrite, names, rewriteKey);
    if (route.stripPrefix && !template.rest) {
      throw configError(
        `routes.${route.name}.stripPrefix`,
        'needs a prefix or a template ending in /*',
      );
    }
    index.addTemplate({ ...base, template, rewrite, restOnly: route.stripPrefix === true });
  } else if ('regex' in p) {
    const re = compileRegex(p.regex as string, `${key}.path.regex`);
    const names = [...(p.regex as string).matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map(
      (m) => m[1]!,
    );
    if (route.stripPrefix) throw configError(`routes.${route.name}.stripPrefix`, 'needs a prefix');
    const rewrite =
      route.rewrite === undefined ? undefined : compileRewrite(route.rewrite, names, rewriteKey);
    index.addRegex({ ...base, re, named: names.length > 0, rewrite });
  } else {
    throw configError(`${key}.path`, 'needs exactly one of exact, prefix, template, regex');
  }
}

class CompiledRouter implements Router {
  private readonly exactHosts = new Map<string, PathIndex>();
  private readonly wildcards: { suffix: string; index: PathIndex }[] = [];
  private readonly any = new PathIndex();

  constructor(readonly routes: readonly RouteConfig[]) {
    const wild = new Map<string, PathIndex>();
    routes.forEach((route, order) => {
      const hosts = hostKeys(route, `routes.${route.name}.match.hosts`);
      if (hosts.length === 0) addRoute(this.any, route, order);
      for (const host of new Set(hosts)) {
        const isWild = host.startsWith('*.');
        const map = isWild ? wild : this.exactHosts;
        const k = isWild ? host.slice(1) : host;
        let index = map.get(k);
        if (index === undefined) {
          index = new PathIndex();
          map.set(k, index);
        }
        addRoute(index, route, order);
      }
    });
    for (const [suffix, index] of wild) this.wildcards.push({ suffix, index });
    this.wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
    for (const index of [this.any, ...this.exactHosts.values(), ...wild.values()]) index.finish();
  }

  match(
    host: string,
    method: string,
    path: string,
    headers: IncomingHttpHeaders,
  ): RouteHit | undefined {
    if (this.exactHosts.size > 0) {
      const index = this.exactHosts.get(host);
      if (index !== undefined) {
        const hit = index.match(method, path, headers);
        if (hit !== undefined) return hit;
      }
    }
    const wildcards = this.wildcards;
    for (let i = 0; i < wildcards.length; i++) {
      const w = wildcards[i]!;
      if (host.length > w.suffix.length && host.endsWith(w.suffix)) {
        const hit = w.index.match(method, path, headers);
        if (hit !== undefined) return hit;
      }
    }
    return this.any.match(method, path, headers);
  }
}

/** Compiles routes; throws RosterError ROSTER_ERR_CONFIG naming the offending key. */
export function compileRoutes(routes: readonly RouteConfig[]): Router {
  return new CompiledRouter(routes);
}
