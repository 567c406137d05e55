/**
 * A tiny router: routes are `METHOD /path/{param}` templates (the same spelling as the
 * OpenAPI document, so a test can compare the two), matched segment by segment.
 */
import { RosterError } from '../../protocol/index.js';
import type { Access } from './auth.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteSpec {
  readonly method: Method;
  /** OpenAPI-style template, for example `/v1/services/{name}`. */
  readonly path: string;
  readonly access: Access;
}

export interface Route<C> extends RouteSpec {
  handle(ctx: C, params: Readonly<Record<string, string>>): Promise<void> | void;
}

export type RouteMatch<C> =
  | { readonly kind: 'route'; readonly route: Route<C>; readonly params: Record<string, string> }
  | { readonly kind: 'method'; readonly allow: readonly Method[] }
  | { readonly kind: 'none' };

interface Compiled<C> {
  readonly route: Route<C>;
  /** Literal segments as strings, parameters as `{ name }`. */
  readonly segments: ReadonlyArray<string | { readonly param: string }>;
}

function compile<C>(route: Route<C>): Compiled<C> {
  const segments = route.path
    .split('/')
    .slice(1)
    .map((s) => {
      const m = /^\{([A-Za-z][A-Za-z0-9]*)\}$/.exec(s);
      return m ? { param: m[1]! } : s;
    });
  return { route, segments };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new RosterError('ROSTER_ERR_INVALID_ARGUMENT', 'malformed percent-encoding in the path');
  }
}

export class Router<C> {
  private readonly compiled: Compiled<C>[];

  constructor(readonly routes: readonly Route<C>[]) {
    this.compiled = routes.map(compile);
  }

  match(method: string, pathname: string): RouteMatch<C> {
    const parts = pathname.split('/').slice(1);
    const allow: Method[] = [];
    for (const c of this.compiled) {
      const params = this.matchSegments(c, parts);
      if (params === undefined) continue;
      if (c.route.method === method) return { kind: 'route', route: c.route, params };
      allow.push(c.route.method);
    }
    return allow.length > 0 ? { kind: 'method', allow } : { kind: 'none' };
  }

  private matchSegments(
    c: Compiled<C>,
    parts: readonly string[],
  ): Record<string, string> | undefined {
    if (parts.length !== c.segments.length) return undefined;
    const params: Record<string, string> = Object.create(null) as Record<string, string>;
    for (let i = 0; i < parts.length; i++) {
      const seg = c.segments[i]!;
      const part = parts[i]!;
      if (typeof seg === 'string') {
        if (seg !== part) return undefined;
      } else {
        if (part === '') return undefined;
        params[seg.param] = decodeSegment(part);
      }
    }
    return params;
  }
}
