/**
 * The pieces a compiled route matches with: path templates (`/users/:id/*`), safe anchored
 * regular expressions, and rewrite targets with `:param` placeholders. Each is validated when
 * compiled (RosterError ROSTER_ERR_CONFIG naming the config key) and matched without
 * allocating on a miss.
 */
import { RosterError } from '../protocol/index.js';
import { normalizePath } from './path.js';

/** Longest regex source accepted. */
export const MAX_REGEX_LENGTH = 512;
/** Regex routes are only tried on paths up to this length (bounds the matching cost). */
export const MAX_REGEX_SUBJECT = 2048;

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function configError(path: string, message: string): RosterError {
  return new RosterError('ROSTER_ERR_CONFIG', `${path}: ${message}`, { path });
}

/** A configured path must already be normal: what the router compares with is normalized. */
export function checkNormalPath(value: unknown, key: string): string {
  if (typeof value !== 'string' || value.length === 0) throw configError(key, 'must be a path');
  const normal = normalizePath(value);
  if (typeof normal !== 'string') {
    throw configError(key, `is not a valid request path (${normal.reason})`);
  }
  if (normal !== value) throw configError(key, `must be written normalized, as ${normal}`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Templates

export type TemplateSegment = { readonly literal: string } | { readonly param: string };

export interface Template {
  readonly segments: readonly TemplateSegment[];
  /** Ends in `/*`: the rest of the path (zero or more segments) is param `*`. */
  readonly rest: boolean;
  readonly literals: number;
  readonly paramNames: readonly string[];
}

export function compileTemplate(source: string, key: string): Template {
  if (typeof source !== 'string' || !source.startsWith('/')) {
    throw configError(key, 'must start with /');
  }
  const parts = source === '/' ? [] : source.slice(1).split('/');
  const segments: TemplateSegment[] = [];
  const paramNames: string[] = [];
  let rest = false;
  let literals = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p === '*' && i === parts.length - 1) {
      rest = true;
      continue;
    }
    if (p.startsWith(':')) {
      const name = p.slice(1);
      if (!PARAM_NAME.test(name)) throw configError(key, `bad parameter name ":${name}"`);
      if (paramNames.includes(name)) throw configError(key, `parameter ":${name}" repeated`);
      paramNames.push(name);
      segments.push({ param: name });
      continue;
    }
    if (p === '' || p.includes('*') || p.includes(':')) {
      throw configError(key, `bad segment "${p}" (literal, :param, or a final *)`);
    }
    checkNormalPath('/' + p, key);
    literals++;
    segments.push({ literal: p });
  }
  return { segments, rest, literals, paramNames };
}

/** Whether `path` matches the template (no allocation). */
export function templateMatches(t: Template, path: string): boolean {
  const n = path.length;
  let pos = 0;
  const segs = t.segments;
  for (let i = 0; i < segs.length; i++) {
    if (pos >= n || path.charCodeAt(pos) !== 47) return false;
    pos++;
    let end = path.indexOf('/', pos);
    if (end === -1) end = n;
    const s = segs[i]!;
    if ('literal' in s) {
      if (end - pos !== s.literal.length || !path.startsWith(s.literal, pos)) return false;
    } else if (end === pos) {
      return false;
    }
    pos = end;
  }
  if (t.rest) return pos === n || path.charCodeAt(pos) === 47;
  return pos === n || (segs.length === 0 && n === 1);
}

/** The parameters of a path known to match. */
export function templateParams(t: Template, path: string): Record<string, string> {
  const params: Record<string, string> = {};
  let pos = 0;
  for (const s of t.segments) {
    pos++;
    let end = path.indexOf('/', pos);
    if (end === -1) end = path.length;
    if ('param' in s) params[s.param] = path.slice(pos, end);
    pos = end;
  }
  if (t.rest) params['*'] = path.slice(pos + 1);
  return params;
}

// ---------------------------------------------------------------------------------------------
// Regular expressions

/**
 * Refuses sources prone to catastrophic backtracking: backreferences, and quantified groups
 * (`*`, `+`, `{n,}`, `{n,m}` with m > 1) that contain a quantifier or an alternation.
 */
export function checkRegexSafety(source: string, key: string): void {
  if (source.length > MAX_REGEX_LENGTH) {
    throw configError(key, `longer than ${MAX_REGEX_LENGTH} characters`);
  }
  // Per open group: did it contain a quantifier or alternation?
  const stack: boolean[] = [];
  let lastGroupRisky = false;
  let afterGroup = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    const wasAfterGroup = afterGroup;
    afterGroup = false;
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      if (/[1-9]/.test(next) || next === 'k') throw configError(key, 'backreferences are refused');
      i++;
      continue;
    }
    if (c === '[') {
      // Skip the character class.
      i++;
      if (source[i] === '^') i++;
      if (source[i] === ']') i++;
      while (i < source.length && source[i] !== ']') {
        if (source[i] === '\\') i++;
        i++;
      }
      continue;
    }
    if (c === '(') {
      stack.push(false);
      continue;
    }
    if (c === ')') {
      lastGroupRisky = stack.pop() ?? false;
      afterGroup = true;
      continue;
    }
    if (c === '|') {
      if (stack.length > 0) stack[stack.length - 1] = true;
      continue;
    }
    let repeats = false;
    let quantifier = false;
    if (c === '*' || c === '+') {
      quantifier = true;
      repeats = true;
    } else if (c === '?') {
      quantifier = !isGroupModifier(source, i);
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i));
      if (m) {
        quantifier = true;
        repeats = m[2] !== undefined && (m[3] === '' || Number(m[3]) > 1);
        if (m[2] === undefined && Number(m[1]) > 1) repeats = true;
        i += m[0].length - 1;
      }
    }
    if (!quantifier) continue;
    if (wasAfterGroup && repeats && lastGroupRisky) {
      throw configError(
        key,
        'nested quantifiers or a repeated alternation (catastrophic backtracking) are refused',
      );
    }
    // Lazy/possessive markers after a quantifier are part of it.
    if (source[i + 1] === '?') i++;
    for (let s = 0; s < stack.length; s++) stack[s] = true;
    if (wasAfterGroup) afterGroup = false;
  }
  if (stack.length > 0) throw configError(key, 'unbalanced parentheses');
}

function isGroupModifier(source: string, i: number): boolean {
  return i > 0 && source[i - 1] === '(' && source[i - 2] !== '\\';
}

/** Compiles an anchored, `u`-flag regex after the safety check. */
export function compileRegex(source: string, key: string): RegExp {
  if (typeof source !== 'string' || source.length === 0) throw configError(key, 'must be a regex');
  checkRegexSafety(source, key);
  try {
    return new RegExp(`^(?:${source})$`, 'u');
  } catch (err) {
    throw configError(key, `invalid regular expression (${(err as Error).message})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Rewrites

/** A rewrite target: literal parts and `:param` (or `*`) references, alternating. */
export interface Rewrite {
  readonly literal: string | undefined;
  readonly parts: readonly string[];
  readonly refs: readonly string[];
}

/** Parses `/v2/users/:id/*`; only names in `params` may be referenced. */
export function compileRewrite(source: string, params: readonly string[], key: string): Rewrite {
  if (typeof source !== 'string' || !source.startsWith('/')) {
    throw configError(key, 'must start with /');
  }
  const parts: string[] = [];
  const refs: string[] = [];
  const re = /:([A-Za-z_][A-Za-z0-9_]*)|\*/g;
  let last = 0;
  for (let m = re.exec(source); m !== null; m = re.exec(source)) {
    const name = m[1] ?? '*';
    if (!params.includes(name)) continue;
    parts.push(source.slice(last, m.index));
    refs.push(name);
    last = m.index + m[0].length;
  }
  parts.push(source.slice(last));
  if (refs.length === 0) {
    checkNormalPath(source, key);
    return { literal: source, parts, refs };
  }
  return { literal: undefined, parts, refs };
}

/** The rewritten path (normalized), or undefined when the result is not a valid path. */
export function applyRewrite(
  r: Rewrite,
  params: Readonly<Record<string, string>>,
): string | undefined {
  if (r.literal !== undefined) return r.literal;
  let out = r.parts[0]!;
  for (let i = 0; i < r.refs.length; i++) out += (params[r.refs[i]!] ?? '') + r.parts[i + 1]!;
  const normal = normalizePath(out);
  return typeof normal === 'string' ? normal : undefined;
}
