/**
 * Request-target normalization, done once per request so routing, plugins and the upstream
 * all see the same path.
 *
 * Only origin-form targets (`/path?query`) are accepted. The path is normalized as follows:
 * - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded; every other
 *   escape stays encoded with upper-case hex (so `%2f`-style tricks cannot change segments);
 * - refused (a PathRejection, answered with 400): an encoded slash or backslash (`%2F`,
 *   `%5C`), an encoded dot in a dot segment (`%2e%2e`, `.%2e`, `%2E`), `..;`/`.;` segments
 *   (servlet path parameters), NUL or any control character, a raw backslash, raw non-ASCII
 *   bytes, `#`, invalid percent encoding, `..` above the root and targets over
 *   MAX_TARGET_LENGTH;
 * - empty segments are collapsed (`//` → `/`), `.` segments removed and `..` segments resolved
 *   (RFC 3986 remove_dot_segments; a trailing `/` is kept).
 * The query string is passed on unchanged after a check for control characters and `#`.
 *
 * The common case (nothing to decode or resolve) returns the input string itself.
 */

/** Longest request target (path and query) accepted, in characters. */
export const MAX_TARGET_LENGTH = 8192;

export interface PathRejection {
  readonly rejected: true;
  /** A short machine-readable reason (logs, metrics, the error body). */
  readonly reason: string;
}

function rejection(reason: string): PathRejection {
  return Object.freeze({ rejected: true, reason });
}

export const PathRejections = {
  notOriginForm: rejection('target_not_origin_form'),
  tooLong: rejection('target_too_long'),
  invalidEncoding: rejection('invalid_percent_encoding'),
  encodedSlash: rejection('encoded_slash'),
  encodedDotSegment: rejection('encoded_dot_segment'),
  dotSegmentParams: rejection('dot_segment_parameters'),
  aboveRoot: rejection('above_root'),
  controlCharacter: rejection('control_character'),
  backslash: rejection('backslash'),
  nonAscii: rejection('non_ascii'),
  fragment: rejection('fragment'),
} as const;

/** A normalized path and the raw query string (with its `?`, or ''). */
export interface NormalizedTarget {
  readonly path: string;
  readonly query: string;
}

export function isPathRejection(value: unknown): value is PathRejection {
  return typeof value === 'object' && value !== null && (value as PathRejection).rejected === true;
}

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function isUnreserved(c: number): boolean {
  return (
    (c >= 97 && c <= 122) ||
    (c >= 65 && c <= 90) ||
    (c >= 48 && c <= 57) ||
    c === 45 ||
    c === 46 ||
    c === 95 ||
    c === 126
  );
}

/** Checks the query part (after the `?`); returns a rejection or undefined. */
function checkQuery(target: string, from: number): PathRejection | undefined {
  for (let i = from; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return PathRejections.controlCharacter;
    if (c === 35) return PathRejections.fragment;
    if (c > 0x7f) return PathRejections.nonAscii;
  }
  return undefined;
}

/**
 * Normalizes a request target (`req.url`). Returns the path and query, or a rejection.
 * Allocates nothing beyond the result when the path needs no work.
 */
export function normalizeTarget(target: string): NormalizedTarget | PathRejection {
  if (target.length > MAX_TARGET_LENGTH) return PathRejections.tooLong;
  const q = target.indexOf('?');
  let query = '';
  let rawPath = target;
  if (q !== -1) {
    const bad = checkQuery(target, q + 1);
    if (bad !== undefined) return bad;
    query = target.slice(q);
    rawPath = target.slice(0, q);
  }
  const path = normalizePath(rawPath);
  if (typeof path !== 'string') return path;
  return { path, query };
}

/** Normalizes a path (no query). Returns the input itself when it is already normal. */
export function normalizePath(raw: string): string | PathRejection {
  const n = raw.length;
  if (n === 0 || raw.charCodeAt(0) !== 47) return PathRejections.notOriginForm;
  if (n > MAX_TARGET_LENGTH) return PathRejections.tooLong;
  let prev = 47;
  for (let i = 1; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (
      c === 37 ||
      c === 92 ||
      c <= 0x20 ||
      c >= 0x7f ||
      c === 35 ||
      (prev === 47 && (c === 47 || c === 46))
    ) {
      return slowNormalize(raw);
    }
    prev = c;
  }
  return raw;
}

function slowNormalize(raw: string): string | PathRejection {
  const out: string[] = [];
  const n = raw.length;
  let trailingSlash = false;
  let i = 1;
  while (i <= n) {
    // One segment: raw[i .. end)
    let seg = '';
    let encodedDot = false;
    let end = i;
    for (; end < n; end++) {
      const c = raw.charCodeAt(end);
      if (c === 47) break;
      if (c === 37) {
        const h = end + 2 < n ? hexValue(raw.charCodeAt(end + 1)) : -1;
        const l = h === -1 ? -1 : hexValue(raw.charCodeAt(end + 2));
        if (l === -1) return PathRejections.invalidEncoding;
        const v = h * 16 + l;
        if (v === 0x2f || v === 0x5c) return PathRejections.encodedSlash;
        if (v < 0x20 || v === 0x7f) return PathRejections.controlCharacter;
        if (isUnreserved(v)) {
          seg += String.fromCharCode(v);
          if (v === 46) encodedDot = true;
        } else {
          seg += '%' + HEX[h] + HEX[l];
        }
        end += 2;
        continue;
      }
      if (c === 92) return PathRejections.backslash;
      if (c <= 0x20 || c === 0x7f) return PathRejections.controlCharacter;
      if (c > 0x7f) return PathRejections.nonAscii;
      if (c === 35) return PathRejections.fragment;
      seg += raw[end];
    }
    const last = end >= n;
    if (seg === '' || seg === '.') {
      if (encodedDot) return PathRejections.encodedDotSegment;
      if (last) trailingSlash = true;
    } else if (seg === '..') {
      if (encodedDot) return PathRejections.encodedDotSegment;
      if (out.length === 0) return PathRejections.aboveRoot;
      out.pop();
      if (last) trailingSlash = true;
    } else {
      if (seg.charCodeAt(0) === 46 && (seg.startsWith('.;') || seg.startsWith('..;'))) {
        return PathRejections.dotSegmentParams;
      }
      out.push(seg);
      trailingSlash = false;
    }
    i = end + 1;
  }
  if (out.length === 0) return '/';
  const joined = '/' + out.join('/');
  return trailingSlash ? joined + '/' : joined;
}
