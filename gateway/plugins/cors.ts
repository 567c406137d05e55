/**
 * CORS. Allowed origins are exact (`https://app.example.com`, `http://localhost:3000`),
 * subdomain patterns (`https://*.example.com`: one or more labels, same scheme and port), or
 * `*` (any origin, answered as `*`; not with credentials).
 *
 * A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here with
 * 204 and never reaches the upstream; a preflight from an origin that is not allowed, or
 * asking for a method or header that is not allowed, gets 403. Other requests pass through;
 * an allowed origin gets the CORS response headers via ctx.responseHeaders. Responses that
 * depend on Origin carry `Vary: Origin` (the gateway should append it to an upstream Vary).
 */
import type { Plugin, PluginEnvironment, PluginFactory } from '../types.js';
import { headerValue, type Rejection, rejection } from './outcome.js';
import { configError, HEADER_NAME, SettingsReader } from './settings.js';

const SETTINGS = [
  'origins',
  'methods',
  'headers',
  'exposeHeaders',
  'credentials',
  'maxAgeSec',
] as const;

export const DEFAULT_CORS_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
export const DEFAULT_CORS_HEADERS = ['accept', 'authorization', 'content-type', 'x-requested-with'];
const DEFAULT_MAX_AGE_SEC = 600;
const MAX_ORIGIN_LENGTH = 2048;

/** scheme://host[:port] with a DNS name, IPv4 or bracketed IPv6 host. */
const EXACT_ORIGIN =
  /^(https?):\/\/([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(:\d{1,5})?$/;
const PATTERN_ORIGIN = /^(https?):\/\/\*((\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+)(:\d{1,5})?$/;
/** What may stand in for `*`: one or more DNS labels. */
const LABELS = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

interface OriginPattern {
  /** `https://` */
  readonly prefix: string;
  /** `.example.com:8443` */
  readonly suffix: string;
}

export function createCorsPlugin(settings: unknown, env: PluginEnvironment): Plugin {
  const s: SettingsReader = SettingsReader.of(settings, env.configPath, SETTINGS);
  const origins = s.requiredStringList('origins', { minItems: 1, maxItems: 1000, max: 512 });
  const exact = new Set<string>();
  const patterns: OriginPattern[] = [];
  let any = false;
  origins.forEach((raw, i) => {
    const path = `${s.keyPath('origins')}[${i}]`;
    const origin = raw.toLowerCase();
    if (origin === '*') {
      any = true;
      return;
    }
    const p = PATTERN_ORIGIN.exec(origin);
    if (p) {
      if ((p[2] ?? '').split('.').length < 3) {
        configError(path, 'a wildcard needs at least two labels after it (https://*.example.com)');
      }
      patterns.push({ prefix: `${p[1]}://`, suffix: `${p[2]}${p[5] ?? ''}` });
      return;
    }
    if (!EXACT_ORIGIN.test(origin)) {
      configError(
        path,
        `expected an origin (scheme://host[:port]), a pattern like https://*.example.com, or *`,
      );
    }
    exact.add(origin);
  });
  const credentials = s.boolean('credentials') ?? false;
  if (any && credentials) {
    s.fail('origins', '"*" cannot be combined with credentials: list the origins');
  }
  const methods = (
    s.stringList('methods', {
      maxItems: 32,
      max: 32,
      pattern: /^[A-Za-z]+$/,
      patternHint: 'an HTTP method',
    }) ?? DEFAULT_CORS_METHODS
  ).map((m) => m.toUpperCase());
  const allowHeaders = (
    s.stringList('headers', { maxItems: 128, ...HEADER_NAME }) ?? DEFAULT_CORS_HEADERS
  ).map((h) => h.toLowerCase());
  const exposeHeaders = (
    s.stringList('exposeHeaders', { maxItems: 128, ...HEADER_NAME }) ?? []
  ).map((h) => h.toLowerCase());
  const maxAge =
    s.number('maxAgeSec', { min: 0, max: 86_400, integer: true }) ?? DEFAULT_MAX_AGE_SEC;

  const methodSet = new Set(methods);
  const headerSet = new Set(allowHeaders);
  const allowMethodsValue = methods.join(', ');
  const allowHeadersValue = allowHeaders.join(', ');
  const exposeValue = exposeHeaders.join(', ');
  /** With only `*` the answer never depends on Origin. */
  const varies = exact.size > 0 || patterns.length > 0 || credentials;

  const allowedOrigin = (origin: string): boolean => {
    if (any) return true;
    if (origin.length > MAX_ORIGIN_LENGTH) return false;
    const o = origin.toLowerCase();
    if (exact.has(o)) return true;
    for (const p of patterns) {
      if (
        o.length > p.prefix.length + p.suffix.length &&
        o.startsWith(p.prefix) &&
        o.endsWith(p.suffix) &&
        LABELS.test(o.slice(p.prefix.length, o.length - p.suffix.length))
      ) {
        return true;
      }
    }
    return false;
  };
  const allowOriginValue = (origin: string): string => (any && !credentials ? '*' : origin);

  const preflightVary = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';
  const deny = (reason: string, message: string): Rejection =>
    rejection('ROSTER_ERR_FORBIDDEN', reason, message, { vary: preflightVary });
  const badOrigin = deny('cors_origin', 'The origin is not allowed');
  const badMethod = deny('cors_method', 'The method is not allowed for cross-origin requests');
  const badHeaders = deny('cors_headers', 'A requested header is not allowed');

  return {
    name: 'cors',
    onRequest(ctx) {
      const origin = headerValue(ctx.req.headers.origin);
      const requestMethod = headerValue(ctx.req.headers['access-control-request-method']);
      if (ctx.req.method === 'OPTIONS' && origin !== undefined && requestMethod !== undefined) {
        if (!allowedOrigin(origin)) return badOrigin;
        if (!methodSet.has(requestMethod.toUpperCase())) return badMethod;
        const requested = headerValue(ctx.req.headers['access-control-request-headers']);
        if (requested !== undefined && requested.trim() !== '') {
          if (requested.length > 4096) return badHeaders;
          for (const h of requested.split(',')) {
            const name = h.trim().toLowerCase();
            if (name !== '' && !headerSet.has(name)) return badHeaders;
          }
        }
        const headers: Record<string, string> = {
          'access-control-allow-origin': allowOriginValue(origin),
          'access-control-allow-methods': allowMethodsValue,
          'access-control-max-age': String(maxAge),
          vary: preflightVary,
        };
        if (allowHeadersValue !== '') headers['access-control-allow-headers'] = allowHeadersValue;
        if (credentials) headers['access-control-allow-credentials'] = 'true';
        return { status: 204, headers, reason: 'cors_preflight' };
      }
      if (varies) ctx.responseHeaders.vary = 'Origin';
      if (origin === undefined || !allowedOrigin(origin)) return undefined;
      ctx.responseHeaders['access-control-allow-origin'] = allowOriginValue(origin);
      if (credentials) ctx.responseHeaders['access-control-allow-credentials'] = 'true';
      if (exposeValue !== '') ctx.responseHeaders['access-control-expose-headers'] = exposeValue;
      return undefined;
    },
  };
}

export const corsPluginFactory: PluginFactory = {
  name: 'cors',
  order: 20,
  create: createCorsPlugin,
};
