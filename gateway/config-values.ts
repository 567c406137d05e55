/**
 * Small validators for the gateway configuration; each throws RosterError ROSTER_ERR_CONFIG
 * naming the key path.
 */

import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { RosterError } from '../protocol/index.js';
import { ConfigLimits, type ValidateOptions } from './config-model.js';

// ---------------------------------------------------------------------------------------------
// Small validators. Every one throws RosterError ROSTER_ERR_CONFIG naming `path`.

export const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export function configError(path: string, message: string): RosterError {
  return new RosterError('ROSTER_ERR_CONFIG', path === '' ? message : `${path}: ${message}`, {
    path,
  });
}

/** `parent.key`, or `parent["odd key"]` when the key is not a plain identifier. */
export function keyPath(parent: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key.slice(0, 80))}]`;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a map' : `${typeof value} ${JSON.stringify(value)}`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A map with only `allowed` keys (a missing value is `{}` when `optional`). */
export function map(
  value: unknown,
  path: string,
  allowed: readonly string[],
): Readonly<Record<string, unknown>> {
  if (!isPlainObject(value)) throw configError(path, `must be a map, not ${describe(value)}`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw configError(keyPath(path, key), `unknown key (expected one of: ${allowed.join(', ')})`);
    }
  }
  return value;
}

/** A map with free keys (bounded), forbidden keys refused. */
export function openMap(value: unknown, path: string, maxKeys: number): [string, unknown][] {
  if (!isPlainObject(value)) throw configError(path, `must be a map, not ${describe(value)}`);
  const entries = Object.entries(value);
  if (entries.length > maxKeys) throw configError(path, `at most ${maxKeys} entries`);
  for (const [key] of entries) {
    if (FORBIDDEN_KEYS.has(key)) throw configError(keyPath(path, key), 'forbidden key');
  }
  return entries;
}

export interface StringRule {
  readonly min?: number;
  readonly max: number;
  readonly pattern?: RegExp;
  /** What the pattern means, for the error. */
  readonly expect?: string;
}

export function str(value: unknown, path: string, rule: StringRule): string {
  if (typeof value !== 'string')
    throw configError(path, `must be a string, not ${describe(value)}`);
  const min = rule.min ?? 1;
  if (value.length < min) {
    throw configError(path, min === 1 ? 'must not be empty' : `at least ${min} characters`);
  }
  if (value.length > rule.max) throw configError(path, `at most ${rule.max} characters`);
  if (rule.pattern && !rule.pattern.test(value)) {
    throw configError(path, rule.expect ?? `must match ${rule.pattern}`);
  }
  return value;
}

export function int(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw configError(path, `must be an integer from ${min} to ${max}, not ${describe(value)}`);
  }
  return value;
}

export function bool(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean')
    throw configError(path, `must be true or false, not ${describe(value)}`);
  return value;
}

export function list(value: unknown, path: string, max: number, min = 0): readonly unknown[] {
  if (!Array.isArray(value)) throw configError(path, `must be a list, not ${describe(value)}`);
  if (value.length > max) throw configError(path, `at most ${max} entries`);
  if (value.length < min) throw configError(path, `at least ${min} entr${min === 1 ? 'y' : 'ies'}`);
  return value;
}

/** Longest file path accepted in the config. */
const MAX_FILE_PATH = 4096;

/**
 * The config value at `path` as a readable file's absolute path (relative paths resolve
 * against the config's folder); checks it is a string first.
 */
export function readable(value: unknown, path: string, options: ValidateOptions): string {
  const file = str(value, path, { max: MAX_FILE_PATH });
  const full = isAbsolute(file) ? file : resolve(options.baseDir ?? process.cwd(), file);
  if (options.skipFileChecks) return full;
  try {
    accessSync(full, constants.R_OK);
    if (!statSync(full).isFile())
      throw Object.assign(new Error('not a file'), { code: 'ENOTFILE' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw configError(path, `cannot read ${full} (${code})`);
  }
  return full;
}

/** The trimmed text of the secret file named by the config value at `path`. */
export function readSecretFile(value: unknown, path: string, options: ValidateOptions): string {
  const full = readable(value, path, options);
  if (options.skipFileChecks) return 'x'.repeat(ConfigLimits.minTokenLength);
  const text = readFileSync(full, 'utf8').trim();
  if (text.length === 0) throw configError(path, `${full} is empty`);
  return text;
}
