/**
 * Route parts of the gateway configuration (also used by registry-routes.ts for metadata
 * declarations).
 */

import { compileFilter, type InstanceFilter } from '../client/filter.js';
import { isStrategyName, STRATEGY_NAMES } from '../client/strategies/index.js';
import { assertServiceName, INSTANCE_STATUSES, isRosterError, Limits } from '../protocol/index.js';
import { ConfigLimits, type FileRouteConfig } from './config-model.js';
import {
  bool,
  configError,
  describe,
  FORBIDDEN_KEYS,
  int,
  isPlainObject,
  keyPath,
  list,
  map,
  openMap,
  str,
} from './config-values.js';
import { checkNormalPath, compileRegex, compileTemplate } from './route-patterns.js';
import { compileRoutes } from './router.js';
import type { PathMatch, PluginSettings, RetryPolicy, RouteMatch } from './types.js';

// ---------------------------------------------------------------------------------------------
// Shared pieces of routes (also used by registry-routes.ts for metadata declarations)

export const HOST_LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
export const HOSTNAME = new RegExp(`^${HOST_LABEL}(?:\\.${HOST_LABEL})*$`);
export const IPV6 = /^\[[0-9a-f:.]+\]$/;
export const ROUTE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const METHOD_PATTERN = /^[A-Z][A-Z0-9_-]{0,31}$/;
export const HEADER_NAME_PATTERN = /^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$/;

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
export function scalarString(value: unknown, path: string, max: number): string {
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
export function checkJsonTree(value: unknown, path: string, depth: number): void {
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

export const ROUTE_KEYS = [
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
