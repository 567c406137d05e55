/**
 * Instance filters for watches and pools: tags (all/any), meta equality, zone, version range
 * and status, compiled once into a predicate.
 */
import {
  INSTANCE_STATUSES,
  type Instance,
  type InstanceStatus,
  Limits,
  RosterError,
} from '../protocol/index.js';
import { MAX_RANGE_LENGTH, parseRange } from './semver.js';

export interface InstanceFilter {
  readonly tags?: {
    /** Every one of these tags must be present. */
    readonly all?: readonly string[];
    /** At least one of these tags must be present (ignored when empty). */
    readonly any?: readonly string[];
  };
  /** Each key must be present with exactly this value. */
  readonly meta?: Readonly<Record<string, string>>;
  readonly zone?: string;
  /** A semver range (`>=1.2.0 <2.0.0`, `^1.4`, `~2.1 || 3.x`); unversioned instances never match. */
  readonly version?: string;
  /** Accepted statuses; default `['passing', 'warning']`. */
  readonly statuses?: readonly InstanceStatus[];
}

export type InstancePredicate = (instance: Instance) => boolean;

export const DEFAULT_STATUSES: readonly InstanceStatus[] = ['passing', 'warning'];

function bad(path: string, message: string): RosterError {
  return new RosterError('ROSTER_ERR_INVALID_ARGUMENT', `${path}: ${message}`, { path });
}

function stringList(value: unknown, path: string, max: number, maxLength: number): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw bad(path, 'must be an array of strings');
  if (value.length > max) throw bad(path, `at most ${max} entries`);
  for (const v of value) {
    if (typeof v !== 'string' || v.length > maxLength) {
      throw bad(path, `entries must be strings of at most ${maxLength} characters`);
    }
  }
  return [...value];
}

function optionalString(value: unknown, path: string, maxLength: number): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > maxLength) {
    throw bad(path, `must be a string of at most ${maxLength} characters`);
  }
  return value;
}

/** Compiles a filter; throws ROSTER_ERR_INVALID_ARGUMENT when it is malformed. */
export function compileFilter(filter: InstanceFilter = {}): InstancePredicate {
  if (filter === null || typeof filter !== 'object') throw bad('filter', 'must be an object');
  const all = stringList(filter.tags?.all, 'filter.tags.all', Limits.maxTags, Limits.maxTagLength);
  const any = stringList(filter.tags?.any, 'filter.tags.any', Limits.maxTags, Limits.maxTagLength);
  const meta: [string, string][] = [];
  if (filter.meta !== undefined) {
    if (filter.meta === null || typeof filter.meta !== 'object') {
      throw bad('filter.meta', 'must be an object of strings');
    }
    const entries = Object.entries(filter.meta);
    if (entries.length > Limits.maxMetaKeys) {
      throw bad('filter.meta', `at most ${Limits.maxMetaKeys} keys`);
    }
    for (const [k, v] of entries) {
      if (typeof v !== 'string') throw bad(`filter.meta.${k}`, 'must be a string');
      meta.push([k, v]);
    }
  }
  const zone = optionalString(filter.zone, 'filter.zone', Limits.maxZoneLength);
  const version = optionalString(filter.version, 'filter.version', MAX_RANGE_LENGTH);
  const range = version === undefined ? undefined : parseRange(version);
  const statusList = filter.statuses ?? DEFAULT_STATUSES;
  if (!Array.isArray(statusList)) throw bad('filter.statuses', 'must be an array');
  for (const s of statusList) {
    if (!(INSTANCE_STATUSES as readonly unknown[]).includes(s)) {
      throw bad('filter.statuses', `unknown status ${JSON.stringify(String(s)).slice(0, 40)}`);
    }
  }
  const statuses = new Set<InstanceStatus>(statusList);

  return (i: Instance): boolean => {
    if (!statuses.has(i.status)) return false;
    if (zone !== undefined && i.zone !== zone) return false;
    for (const t of all) if (!i.tags.includes(t)) return false;
    if (any.length > 0 && !any.some((t) => i.tags.includes(t))) return false;
    for (const [k, v] of meta) if (!Object.hasOwn(i.meta, k) || i.meta[k] !== v) return false;
    if (range !== undefined && !range.test(i.version)) return false;
    return true;
  };
}
