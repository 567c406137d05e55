/**
 * Strict reading of one plugin's settings. Every plugin declares the keys it knows; anything
 * else is a ROSTER_ERR_CONFIG naming the full key (`routes.api.plugins.jwt.algoritms`), so a
 * typo never silently turns a security control off. Values are checked for type and bounds
 * at route-build time, never on the hot path.
 */
import { RosterError } from '../../protocol/errors.js';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Throws the config error every plugin uses: the message and `data.path` name the key. */
export function configError(path: string, message: string): never {
  throw new RosterError('ROSTER_ERR_CONFIG', `${path}: ${message}`, { path });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `a string`;
  return typeof value;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export interface NumberRule {
  readonly min: number;
  readonly max: number;
  readonly integer?: boolean;
}

export interface StringRule {
  readonly min?: number;
  readonly max: number;
  readonly pattern?: RegExp;
  /** Shown in the error when the pattern does not match. */
  readonly patternHint?: string;
}

export interface ListRule extends StringRule {
  readonly minItems?: number;
  readonly maxItems: number;
}

/** A validated view of one settings object; each getter checks one key. */
export class SettingsReader {
  readonly path: string;
  private readonly value: Readonly<Record<string, unknown>>;

  private constructor(value: Readonly<Record<string, unknown>>, path: string) {
    this.value = value;
    this.path = path;
  }

  /**
   * Checks that `value` is an object (undefined and null read as `{}`) holding only `keys`.
   * `path` is where it sits in the config (env.configPath for a plugin's root).
   */
  static of(value: unknown, path: string, keys: readonly string[]): SettingsReader {
    if (value === undefined || value === null) return new SettingsReader({}, path);
    if (!isPlainObject(value)) configError(path, `expected an object, got ${describe(value)}`);
    const known = new Set(keys);
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key) || !known.has(key)) {
        configError(
          `${path}.${key}`,
          `unknown setting${keys.length > 0 ? ` (known: ${keys.join(', ')})` : ''}`,
        );
      }
    }
    return new SettingsReader(value, path);
  }

  keyPath(key: string): string {
    return `${this.path}.${key}`;
  }

  has(key: string): boolean {
    return this.value[key] !== undefined;
  }

  raw(key: string): unknown {
    return this.value[key];
  }

  fail(key: string, message: string): never {
    configError(this.keyPath(key), message);
  }

  private need(key: string): unknown {
    const v = this.value[key];
    if (v === undefined) this.fail(key, 'is required');
    return v;
  }

  string(key: string, rule: StringRule): string | undefined {
    const v = this.value[key];
    return v === undefined ? undefined : checkString(v, this.keyPath(key), rule);
  }

  requiredString(key: string, rule: StringRule): string {
    return checkString(this.need(key), this.keyPath(key), rule);
  }

  number(key: string, rule: NumberRule): number | undefined {
    const v = this.value[key];
    return v === undefined ? undefined : checkNumber(v, this.keyPath(key), rule);
  }

  requiredNumber(key: string, rule: NumberRule): number {
    return checkNumber(this.need(key), this.keyPath(key), rule);
  }

  boolean(key: string): boolean | undefined {
    const v = this.value[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') this.fail(key, `expected true or false, got ${describe(v)}`);
    return v;
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const v = this.value[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      this.fail(key, `expected one of ${values.join(', ')}, got ${describe(v)}`);
    }
    return v as T;
  }

  /** A list of strings; a single string is accepted as a list of one. */
  stringList(key: string, rule: ListRule): string[] | undefined {
    const v = this.value[key];
    if (v === undefined) return undefined;
    return checkStringList(v, this.keyPath(key), rule);
  }

  requiredStringList(key: string, rule: ListRule): string[] {
    return checkStringList(this.need(key), this.keyPath(key), rule);
  }
}

export function checkString(value: unknown, path: string, rule: StringRule): string {
  if (typeof value !== 'string') configError(path, `expected a string, got ${describe(value)}`);
  const min = rule.min ?? 1;
  if (value.length < min || value.length > rule.max) {
    configError(path, `expected ${min}..${rule.max} characters, got ${value.length}`);
  }
  if (rule.pattern && !rule.pattern.test(value)) {
    configError(path, `expected ${rule.patternHint ?? `to match ${rule.pattern.source}`}`);
  }
  return value;
}

export function checkNumber(value: unknown, path: string, rule: NumberRule): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    configError(path, `expected a number, got ${describe(value)}`);
  }
  if (rule.integer && !Number.isInteger(value)) configError(path, `expected an integer`);
  if (value < rule.min || value > rule.max) {
    configError(path, `expected ${rule.min}..${rule.max}, got ${value}`);
  }
  return value;
}

export function checkStringList(value: unknown, path: string, rule: ListRule): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list)) {
    configError(path, `expected a list of strings, got ${describe(value)}`);
  }
  const minItems = rule.minItems ?? 0;
  if (list.length < minItems || list.length > rule.maxItems) {
    configError(path, `expected ${minItems}..${rule.maxItems} entries, got ${list.length}`);
  }
  return list.map((item, i) => checkString(item, `${path}[${i}]`, rule));
}

/** An HTTP header name as configured, lower-cased (RFC 9110 token). */
export const HEADER_NAME: StringRule = {
  max: 128,
  pattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/,
  patternHint: 'an HTTP header name',
};
