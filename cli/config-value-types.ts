/**
 * The value types of the configuration keys (cli/config-keys.ts): each parses a flag,
 * variable or file value and names what it expects when the value is bad.
 */

import { accessSync, constants, statSync } from 'node:fs';
import { assertNodeId, isServiceName, Limits, Subjects } from '../protocol/index.js';

// ---------------------------------------------------------------------------------------------
// Value types

/** A bad value; `at` is a suffix of the key's path for an element (`[0]`, `.name`). */
export class ConfigValueError extends Error {
  readonly at: string;
  constructor(message: string, at = '') {
    super(message);
    this.at = at;
  }
}

export interface ValueType<T = unknown> {
  /** How the type reads in the reference ("integer 10-60000"). */
  readonly describe: string;
  /** Argument placeholder in --help (`<ms>`); absent for a switch (no argument). */
  readonly placeholder?: string;
  /** The flag may be given several times; the values are collected. */
  readonly repeatable?: boolean;
  /** From a flag argument or an environment variable. */
  fromText(text: string): T;
  /** From a value of the parsed file (string, number, boolean, array or mapping). */
  fromFile(value: unknown): T;
  /** A value as the reference shows it. */
  show(value: T): string;
}

export function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return JSON.stringify((text ?? String(value)).slice(0, 80));
}

export function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new ConfigValueError(`expected a string, got ${describeValue(value)}`);
}

export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${quote(value)}`;
}

/** A string checked by `check` (which returns an error message or undefined). */
export function stringType(
  describe: string,
  placeholder: string,
  check: (text: string) => string | undefined = () => undefined,
): ValueType<string> {
  const parse = (raw: string): string => {
    const text = raw.trim();
    if (text === '') throw new ConfigValueError('must not be empty');
    const problem = check(text);
    if (problem !== undefined) throw new ConfigValueError(problem);
    return text;
  };
  return {
    describe,
    placeholder,
    fromText: parse,
    fromFile: (value) => parse(textOf(value)),
    show: (value) => value,
  };
}

export function intType(
  min: number,
  max: number,
  placeholder = '<n>',
  describe?: string,
): ValueType<number> {
  const what =
    min >= 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : 'an integer';
  const parse = (text: string): number => {
    const t = text.trim();
    const n = /^-?\d+$/.test(t) ? Number(t) : Number.NaN;
    if (!Number.isSafeInteger(n) || (n < 0 && min >= 0)) {
      throw new ConfigValueError(`not ${what} (${quote(text)})`);
    }
    if (n < min || n > max) throw new ConfigValueError(`must be from ${min} to ${max} (got ${n})`);
    return n;
  };
  return {
    describe: describe ?? `integer ${min}-${max}`,
    placeholder,
    fromText: parse,
    fromFile: (value) => {
      if (typeof value === 'number') return parse(String(value));
      if (typeof value === 'string') return parse(value);
      throw new ConfigValueError(`not ${what} (${describeValue(value)})`);
    },
    show: String,
  };
}

export const portType = intType(0, 65_535, '<port>', 'port 0-65535 (0: any free port)');

export function enumType<T extends string>(
  values: readonly T[],
  placeholder: string,
): ValueType<T> {
  const parse = (text: string): T => {
    const t = text.trim().toLowerCase();
    if (!(values as readonly string[]).includes(t)) {
      throw new ConfigValueError(`must be one of ${values.join(', ')} (got ${quote(text)})`);
    }
    return t as T;
  };
  return {
    describe: values.join(' | '),
    placeholder,
    fromText: parse,
    fromFile: (value) => parse(textOf(value)),
    show: (value) => value,
  };
}

export const booleanType: ValueType<boolean> = {
  describe: 'boolean',
  fromText(text) {
    const t = text.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(t)) return true;
    if (['0', 'false', 'no', 'off'].includes(t)) return false;
    throw new ConfigValueError(`not a boolean (${quote(text)}; use true or false)`);
  },
  fromFile(value) {
    if (typeof value === 'boolean') return value;
    if (typeof value === 'string') return booleanType.fromText(value);
    throw new ConfigValueError(`not a boolean (${describeValue(value)})`);
  },
  show: String,
};

export const NATS_URL = /^(nats|tls):\/\/[^\s/?#]+\/?$/;

export function natsUrl(text: string): string {
  const t = text.trim();
  const url = t.includes('://') ? t : `nats://${t}`;
  let ok = NATS_URL.test(url);
  if (ok) {
    try {
      ok = new URL(url).hostname !== '';
    } catch {
      ok = false;
    }
  }
  if (!ok)
    throw new ConfigValueError(`not a nats:// URL (${quote(text)}; expected nats://host:port)`);
  return t;
}

/** One or more NATS server URLs: comma-separated in flags and variables, a list in the file. */
export const natsUrlsType: ValueType<string[]> = {
  describe: 'nats://host:port, comma-separated (a list in the file)',
  placeholder: '<urls>',
  fromText(text) {
    const parts = text
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    if (parts.length === 0) throw new ConfigValueError('expected at least one NATS server URL');
    return parts.map(natsUrl);
  },
  fromFile(value) {
    if (typeof value === 'string') return natsUrlsType.fromText(value);
    if (!Array.isArray(value) || value.length === 0) {
      throw new ConfigValueError('expected a list of nats:// URLs');
    }
    return value.map((item, i) => {
      try {
        return natsUrl(textOf(item));
      } catch (err) {
        throw new ConfigValueError((err as Error).message, `[${i}]`);
      }
    });
  },
  show: (value) => value.join(','),
};

export const fileType: ValueType<string> = stringType('readable file', '<file>', (path) => {
  try {
    accessSync(path, constants.R_OK);
    if (!statSync(path).isFile()) return `${path} is not a file`;
  } catch (err) {
    return `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`;
  }
  return undefined;
});

export const nodeIdType = stringType(
  `[A-Za-z0-9_-], 1-${Limits.maxIdLength} characters`,
  '<id>',
  (t) => {
    try {
      assertNodeId(t);
      return undefined;
    } catch {
      return `not a node id (${quote(t)}; use 1-${Limits.maxIdLength} characters of [A-Za-z0-9_-])`;
    }
  },
);

export const instanceIdType = stringType('[A-Za-z0-9_-][A-Za-z0-9_:.-]*', '<id>', (t) =>
  t.length <= Limits.maxIdLength && /^[A-Za-z0-9_-][A-Za-z0-9_:.-]*$/.test(t)
    ? undefined
    : `not an instance id (${quote(t)}; use [A-Za-z0-9_:.-], starting with a letter, digit, _ or -)`,
);

export const serviceNameType = stringType('[a-z0-9][a-z0-9_-]*', '<name>', (t) =>
  isServiceName(t)
    ? undefined
    : `not a service name (${quote(t)}; use 1-${Limits.maxServiceNameLength} characters of [a-z0-9_-], starting with a letter or digit)`,
);

export const prefixType = stringType('dot-separated tokens of [A-Za-z0-9_-]', '<prefix>', (t) => {
  try {
    new Subjects(t);
    return undefined;
  } catch {
    return `not a subject prefix (${quote(t)}; use dot-separated tokens of [A-Za-z0-9_-], for example "roster" or "prod.roster")`;
  }
});

export const inboxPrefixType = stringType('subject without wildcards', '<prefix>', (t) =>
  /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(t) && t.length <= 128
    ? undefined
    : `not a subject prefix (${quote(t)}; use dot-separated tokens of [A-Za-z0-9_-])`,
);

export const hostType = stringType('host name or IP address', '<host>', (t) =>
  t.length <= Limits.maxHostLength && /^[A-Za-z0-9_.:%[\]-]+$/.test(t)
    ? undefined
    : `not a host name or IP address (${quote(t)})`,
);

export const httpPathType = stringType('path starting with /', '<path>', (t) =>
  t.startsWith('/') && !/\s/.test(t) && t.length <= Limits.maxPathLength
    ? undefined
    : `not an HTTP path (${quote(t)}; it must start with /)`,
);

export const plainString = (placeholder: string, max = 1024): ValueType<string> =>
  stringType('string', placeholder, (t) =>
    t.length <= max ? undefined : `longer than ${max} characters`,
  );

/** A list of strings: a repeatable flag, comma-separated in a variable, a list in the file. */
export function listType(
  item: ValueType<string>,
  placeholder: string,
  max: number,
): ValueType<string[]> {
  const check = (items: string[]): string[] => {
    if (items.length > max) throw new ConfigValueError(`more than ${max} entries`);
    return items;
  };
  return {
    describe: `list of ${item.describe} (repeat the flag; comma-separated in the variable)`,
    placeholder,
    repeatable: true,
    fromText: (text) =>
      check(
        text
          .split(',')
          .map((p) => p.trim())
          .filter((p) => p !== '')
          .map((p) => item.fromText(p)),
      ),
    fromFile(value) {
      const items = typeof value === 'string' ? value.split(',') : value;
      if (!Array.isArray(items)) throw new ConfigValueError('expected a list');
      return check(
        items.map((v, i) => {
          try {
            return item.fromFile(v);
          } catch (err) {
            throw new ConfigValueError((err as Error).message, `[${i}]`);
          }
        }),
      );
    },
    show: (value) => value.join(','),
  };
}

/** `key=value` pairs: a repeatable flag, comma-separated in a variable, a mapping in the file. */
export const keyValuesType: ValueType<Record<string, string>> = {
  describe:
    'key=value pairs (repeat the flag; comma-separated in the variable; a mapping in the file)',
  placeholder: '<key=value>',
  repeatable: true,
  fromText(text) {
    const out: Record<string, string> = Object.create(null);
    for (const part of text.split(',')) {
      if (part.trim() === '') continue;
      const eq = part.indexOf('=');
      const key = eq < 0 ? '' : part.slice(0, eq).trim();
      if (key === '') throw new ConfigValueError(`expected key=value (${quote(part)})`);
      out[checkMetaKey(key)] = checkMetaValue(part.slice(eq + 1), key);
    }
    return { ...out };
  },
  fromFile(value) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ConfigValueError('expected a mapping of key: value');
    }
    const out: Record<string, string> = {};
    for (const [key, v] of Object.entries(value)) {
      try {
        out[checkMetaKey(key)] = checkMetaValue(textOf(v), key);
      } catch (err) {
        throw new ConfigValueError((err as Error).message, `.${key}`);
      }
    }
    if (Object.keys(out).length > Limits.maxMetaKeys) {
      throw new ConfigValueError(`more than ${Limits.maxMetaKeys} keys`);
    }
    return out;
  },
  show: (value) =>
    Object.entries(value)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
};

export function checkMetaKey(key: string): string {
  if (['__proto__', 'constructor', 'prototype'].includes(key)) {
    throw new ConfigValueError(`${quote(key)} is not allowed as a key`);
  }
  if (key.length > Limits.maxMetaKeyLength) {
    throw new ConfigValueError(`key ${quote(key)} is longer than ${Limits.maxMetaKeyLength}`);
  }
  return key;
}

export function checkMetaValue(value: string, key: string): string {
  if (value.length > Limits.maxMetaValueLength) {
    throw new ConfigValueError(
      `value of ${quote(key)} is longer than ${Limits.maxMetaValueLength}`,
    );
  }
  return value;
}
