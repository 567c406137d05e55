/**
 * A small semver range matcher for instance filters: the npm `semver` range grammar that
 * service filters need, with no dependency.
 *
 * - comparators `>`, `>=`, `<`, `<=`, `=` (or none), `^`, `~` (`~>`), on full or partial
 *   versions with x-ranges (`1.x`, `1.2.*`, `*`);
 * - hyphen ranges `1.2.3 - 2.3`;
 * - space = AND, `||` = OR.
 *
 * Prereleases follow npm: `1.3.0-beta` satisfies a range only when some comparator of the
 * matching set names a prerelease of the same `major.minor.patch`. Build metadata is ignored.
 * Input length is bounded; a bad range throws ROSTER_ERR_INVALID_ARGUMENT.
 */
import { RosterError } from '../protocol/index.js';

/** Longest range accepted. */
export const MAX_RANGE_LENGTH = 256;
/** Most `||` alternatives accepted. */
export const MAX_RANGE_SETS = 32;

export interface SemVer {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly prerelease: readonly (string | number)[];
}

type Op = '<' | '<=' | '>' | '>=' | '=';
interface Comparator {
  readonly op: Op;
  readonly v: SemVer;
}
/** A partial version: `undefined` where a component is missing or a wildcard. */
interface Partial {
  readonly major: number | undefined;
  readonly minor: number | undefined;
  readonly patch: number | undefined;
  readonly prerelease: readonly (string | number)[];
}

const IDENT = '[0-9A-Za-z-]+';
const DOTTED = `${IDENT}(?:\\.${IDENT})*`;
const VERSION_RE = new RegExp(
  `^[=v]*(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(?:-(${DOTTED}))?(?:\\+${DOTTED})?$`,
);
const XR = '(0|[1-9]\\d*|[xX*])';
const PARTIAL_RE = new RegExp(
  `^v?${XR}(?:\\.${XR}(?:\\.${XR}(?:-(${DOTTED}))?(?:\\+${DOTTED})?)?)?$`,
);
const OP_RE = /^(<=|>=|<|>|=|\^|~>|~)?(.*)$/;

function invalid(range: string, reason: string): RosterError {
  const shown = range.length > 64 ? `${range.slice(0, 64)}…` : range;
  return new RosterError(
    'ROSTER_ERR_INVALID_ARGUMENT',
    `invalid version range "${shown}": ${reason}`,
    {
      path: 'filter.version',
    },
  );
}

function num(text: string): number | undefined {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

function prerelease(text: string | undefined): (string | number)[] {
  if (text === undefined) return [];
  return text.split('.').map((id) => (/^(0|[1-9]\d*)$/.test(id) ? (num(id) ?? id) : id));
}

/** Parses a full version (`1.2.3`, `v1.2.3-rc.1+build`); undefined when it is not one. */
export function parseVersion(text: string | undefined): SemVer | undefined {
  if (text === undefined || text.length > MAX_RANGE_LENGTH) return undefined;
  const m = VERSION_RE.exec(text.trim());
  if (!m) return undefined;
  const major = num(m[1]!);
  const minor = num(m[2]!);
  const patch = num(m[3]!);
  if (major === undefined || minor === undefined || patch === undefined) return undefined;
  return { major, minor, patch, prerelease: prerelease(m[4]) };
}

function compareIds(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Semver precedence: negative, zero or positive. */
export function compareVersions(a: SemVer, b: SemVer): number {
  const d = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (d !== 0) return d;
  const pa = a.prerelease;
  const pb = b.prerelease;
  if (pa.length === 0 || pb.length === 0) return pb.length - pa.length;
  for (let i = 0; i < pa.length && i < pb.length; i++) {
    const c = compareIds(pa[i]!, pb[i]!);
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}

const ver = (major: number, minor: number, patch: number, pre: readonly (string | number)[] = []) =>
  ({ major, minor, patch, prerelease: pre }) satisfies SemVer;
/** The lowest version above every `x.y.z` prerelease of the given bound (npm's `-0`). */
const below = (major: number, minor: number, patch: number): Comparator => ({
  op: '<',
  v: ver(major, minor, patch, [0]),
});
const NEVER: Comparator[] = [below(0, 0, 0)];

function parsePartial(text: string, range: string): Partial {
  const m = PARTIAL_RE.exec(text);
  if (!m) throw invalid(range, `"${text.slice(0, 32)}" is not a version`);
  const parts: (number | undefined)[] = [];
  let wild = false;
  for (const p of [m[1], m[2], m[3]]) {
    if (wild || p === undefined || p === 'x' || p === 'X' || p === '*') {
      wild = true;
      parts.push(undefined);
      continue;
    }
    const n = num(p);
    if (n === undefined) throw invalid(range, `"${p.slice(0, 32)}" is too large`);
    parts.push(n);
  }
  const pre = parts[2] === undefined ? [] : prerelease(m[4]);
  return { major: parts[0], minor: parts[1], patch: parts[2], prerelease: pre };
}

/** One comparator token (`^1.2`, `>=1.0.0`, `1.x`) as primitive comparators (AND). */
function desugar(op: string, p: Partial): Comparator[] {
  const { major: M, minor: m, patch: pt, prerelease: pre } = p;
  if (M === undefined) return op === '<' || op === '>' ? NEVER : [];
  switch (op) {
    case '^':
      if (m === undefined) return [{ op: '>=', v: ver(M, 0, 0) }, below(M + 1, 0, 0)];
      if (pt === undefined) {
        return [{ op: '>=', v: ver(M, m, 0) }, M > 0 ? below(M + 1, 0, 0) : below(0, m + 1, 0)];
      }
      return [
        { op: '>=', v: ver(M, m, pt, pre) },
        M > 0 ? below(M + 1, 0, 0) : m > 0 ? below(0, m + 1, 0) : below(0, 0, pt + 1),
      ];
    case '~':
    case '~>':
      if (m === undefined) return [{ op: '>=', v: ver(M, 0, 0) }, below(M + 1, 0, 0)];
      return [{ op: '>=', v: ver(M, m, pt ?? 0, pre) }, below(M, m + 1, 0)];
    case '>':
      if (m === undefined) return [{ op: '>=', v: ver(M + 1, 0, 0) }];
      if (pt === undefined) return [{ op: '>=', v: ver(M, m + 1, 0) }];
      return [{ op: '>', v: ver(M, m, pt, pre) }];
    case '>=':
      return [{ op: '>=', v: ver(M, m ?? 0, pt ?? 0, pre) }];
    case '<':
      if (m === undefined) return [below(M, 0, 0)];
      if (pt === undefined) return [below(M, m, 0)];
      return [{ op: '<', v: ver(M, m, pt, pre) }];
    case '<=':
      if (m === undefined) return [below(M + 1, 0, 0)];
      if (pt === undefined) return [below(M, m + 1, 0)];
      return [{ op: '<=', v: ver(M, m, pt, pre) }];
    default:
      // '' or '='
      if (m === undefined) return [{ op: '>=', v: ver(M, 0, 0) }, below(M + 1, 0, 0)];
      if (pt === undefined) return [{ op: '>=', v: ver(M, m, 0) }, below(M, m + 1, 0)];
      return [{ op: '=', v: ver(M, m, pt, pre) }];
  }
}

function hyphen(lo: Partial, hi: Partial): Comparator[] {
  const out: Comparator[] = [];
  if (lo.major !== undefined) {
    out.push({ op: '>=', v: ver(lo.major, lo.minor ?? 0, lo.patch ?? 0, lo.prerelease) });
  }
  if (hi.major !== undefined) {
    if (hi.minor === undefined) out.push(below(hi.major + 1, 0, 0));
    else if (hi.patch === undefined) out.push(below(hi.major, hi.minor + 1, 0));
    else out.push({ op: '<=', v: ver(hi.major, hi.minor, hi.patch, hi.prerelease) });
  }
  return out;
}

function parseSet(text: string, range: string): Comparator[] {
  const set = text.trim();
  const hy = /^(\S+)\s+-\s+(\S+)$/.exec(set);
  if (hy) return hyphen(parsePartial(hy[1]!, range), parsePartial(hy[2]!, range));
  if (set === '') return [];
  const out: Comparator[] = [];
  // `>= 1.2.0` is `>=1.2.0`: join operators to their operand, then split on spaces.
  for (const token of set.replace(/(<=|>=|<|>|=|\^|~>|~)\s+/g, '$1').split(/\s+/)) {
    const m = OP_RE.exec(token)!;
    out.push(...desugar(m[1] ?? '', parsePartial(m[2]!, range)));
  }
  return out;
}

function holds(c: Comparator, v: SemVer): boolean {
  const d = compareVersions(v, c.v);
  switch (c.op) {
    case '<':
      return d < 0;
    case '<=':
      return d <= 0;
    case '>':
      return d > 0;
    case '>=':
      return d >= 0;
    default:
      return d === 0;
  }
}

function satisfiesSet(set: readonly Comparator[], v: SemVer): boolean {
  for (const c of set) if (!holds(c, v)) return false;
  if (v.prerelease.length === 0) return true;
  for (const c of set) {
    const w = c.v;
    if (
      w.prerelease.length > 0 &&
      w.major === v.major &&
      w.minor === v.minor &&
      w.patch === v.patch
    ) {
      return true;
    }
  }
  return false;
}

/** A compiled range. */
export interface VersionRange {
  readonly raw: string;
  /** True when `version` (a string or a parsed SemVer) is a valid version inside the range. */
  test(version: string | SemVer | undefined): boolean;
}

/** Compiles a range; throws ROSTER_ERR_INVALID_ARGUMENT when it is malformed or too long. */
export function parseRange(range: string): VersionRange {
  if (typeof range !== 'string') throw invalid(String(range), 'not a string');
  if (range.length > MAX_RANGE_LENGTH) {
    throw invalid(range, `longer than ${MAX_RANGE_LENGTH} characters`);
  }
  const parts = range.split('||');
  if (parts.length > MAX_RANGE_SETS) throw invalid(range, `more than ${MAX_RANGE_SETS} sets`);
  const sets = parts.map((p) => parseSet(p, range));
  return {
    raw: range,
    test(version) {
      const v = typeof version === 'object' ? version : parseVersion(version);
      if (v === undefined) return false;
      for (const s of sets) if (satisfiesSet(s, v)) return true;
      return false;
    },
  };
}
