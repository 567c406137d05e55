/**
 * A small, fast, typed validator. Each schema both checks an untrusted decoded value and
 * builds a fresh output from it, so unknown fields are dropped (newer peers may add them)
 * and prototype-polluting keys (`__proto__`, `constructor`, `prototype`) never reach an
 * object. Every size is bounded: strings, arrays, records and integers.
 */
import { RosterError } from './errors.js';

export interface Schema<T> {
  /** Validates `value` and returns a fresh, clean copy; throws RosterError otherwise. */
  parse(value: unknown, path?: string): T;
  /** Marks the field as optional inside `object()`. */
  readonly optional: boolean;
  /** A short description used in error messages and docs. */
  readonly describe: string;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

function fail(path: string, expected: string, value: unknown): never {
  const got =
    value === null
      ? 'null'
      : Array.isArray(value)
        ? 'array'
        : typeof value === 'string'
          ? `string(${value.length})`
          : typeof value;
  throw new RosterError(
    'ROSTER_ERR_INVALID_MESSAGE',
    `${path || 'value'}: expected ${expected}, got ${got}`,
    {
      path: path || '$',
      expected,
    },
  );
}

function schema<T>(describe: string, parse: (value: unknown, path: string) => T): Schema<T> {
  return { describe, optional: false, parse: (value, path = '') => parse(value, path) };
}

export interface StringOptions {
  readonly min?: number;
  readonly max: number;
  readonly pattern?: RegExp;
}

export function string(options: StringOptions): Schema<string> {
  const min = options.min ?? 0;
  const desc = `string[${min}..${options.max}]${options.pattern ? ` ${options.pattern.source}` : ''}`;
  return schema(desc, (value, path) => {
    if (typeof value !== 'string' || value.length < min || value.length > options.max)
      fail(path, desc, value);
    if (options.pattern && !options.pattern.test(value)) fail(path, desc, value);
    return value;
  });
}

export interface NumberOptions {
  readonly min: number;
  readonly max: number;
}

export function int(options: NumberOptions): Schema<number> {
  const desc = `integer[${options.min}..${options.max}]`;
  return schema(desc, (value, path) => {
    if (
      typeof value !== 'number' ||
      !Number.isInteger(value) ||
      value < options.min ||
      value > options.max
    ) {
      fail(path, desc, value);
    }
    return value;
  });
}

export function number(options: NumberOptions): Schema<number> {
  const desc = `number[${options.min}..${options.max}]`;
  return schema(desc, (value, path) => {
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      value < options.min ||
      value > options.max
    ) {
      fail(path, desc, value);
    }
    return value;
  });
}

export const boolean: Schema<boolean> = schema('boolean', (value, path) => {
  if (typeof value !== 'boolean') fail(path, 'boolean', value);
  return value;
});

export function literal<const T extends string | number | boolean>(
  ...values: readonly T[]
): Schema<T> {
  // Returns the schema's own copy of the value, not the decoded one: records keep it, and
  // one shared string costs nothing where a decoded copy per record adds up.
  const canonical = new Map<unknown, T>(values.map((v) => [v, v]));
  const desc = values.map((v) => JSON.stringify(v)).join('|');
  return schema(desc, (value, path) => {
    const v = canonical.get(value);
    if (v === undefined) fail(path, desc, value);
    return v;
  });
}

export interface BytesOptions {
  readonly max: number;
}

export function bytes(options: BytesOptions): Schema<Uint8Array> {
  const desc = `bytes[..${options.max}]`;
  return schema(desc, (value, path) => {
    if (!(value instanceof Uint8Array) || value.byteLength > options.max) fail(path, desc, value);
    return value;
  });
}

export interface ArrayOptions {
  readonly min?: number;
  readonly max: number;
}

export function array<T>(item: Schema<T>, options: ArrayOptions): Schema<T[]> {
  const min = options.min ?? 0;
  const desc = `array[${min}..${options.max}] of ${item.describe}`;
  return schema(desc, (value, path) => {
    if (!Array.isArray(value) || value.length < min || value.length > options.max)
      fail(path, desc, value);
    const out = new Array<T>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = item.parse(value[i], `${path}[${i}]`);
    return out;
  });
}

/** A tuple of fixed arity. */
export function tuple<const S extends readonly Schema<unknown>[]>(
  ...items: S
): Schema<{ -readonly [K in keyof S]: Infer<S[K]> }> {
  const desc = `[${items.map((s) => s.describe).join(', ')}]`;
  return schema(desc, (value, path) => {
    if (!Array.isArray(value) || value.length !== items.length) fail(path, desc, value);
    return items.map((s, i) => s.parse(value[i], `${path}[${i}]`)) as {
      -readonly [K in keyof S]: Infer<S[K]>;
    };
  });
}

export interface RecordOptions {
  readonly maxKeys: number;
  readonly key: Schema<string>;
}

/** A string-keyed map with bounded keys; forbidden keys are refused. */
export function record<T>(value: Schema<T>, options: RecordOptions): Schema<Record<string, T>> {
  const desc = `record[..${options.maxKeys}] of ${value.describe}`;
  return schema(desc, (input, path) => {
    if (!isPlainObject(input)) fail(path, desc, input);
    // A plain object: FORBIDDEN_KEYS keeps `__proto__` and friends out, and V8 keeps
    // null-prototype objects as hash tables (~350 B more per record; docs/benchmarks.md).
    const out: Record<string, T> = {};
    let count = 0;
    for (const k in input) {
      if (!Object.hasOwn(input, k)) continue;
      if (++count > options.maxKeys) fail(path, desc, input);
      if (FORBIDDEN_KEYS.has(k)) fail(`${path}.${k}`, 'an allowed key', k);
      const key = options.key.parse(k, `${path}{key}`);
      out[key] = value.parse(input[k], `${path}.${k}`);
    }
    return out;
  });
}

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: S[K]['optional'] extends true ? K : never;
}[keyof S];
type RequiredKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>;
export type ObjectOf<S extends Shape> = { [K in RequiredKeys<S>]: Infer<S[K]> } & {
  [K in OptionalKeys<S>]?: Infer<S[K]>;
};

export interface ObjectSchema<S extends Shape> extends Schema<ObjectOf<S>> {
  readonly shape: S;
}

/** An object with known fields; unknown fields are ignored and dropped from the output. */
export function object<S extends Shape>(shape: S): ObjectSchema<S> {
  const keys = Object.keys(shape);
  for (const k of keys) if (FORBIDDEN_KEYS.has(k)) throw new Error(`schema key ${k} is forbidden`);
  const desc = `{${keys.join(',')}}`;
  const Out = outputConstructor(keys);
  const base = schema(desc, (value, path) => {
    if (!isPlainObject(value)) fail(path, 'object', value);
    const out = new Out();
    for (const k of keys) {
      const field = shape[k]!;
      const v = Object.hasOwn(value, k) ? value[k] : undefined;
      if (v === undefined || v === null) {
        if (field.optional) continue;
        fail(path ? `${path}.${k}` : k, field.describe, v);
      }
      out[k] = field.parse(v, path ? `${path}.${k}` : k);
    }
    return out as ObjectOf<S>;
  });
  return { ...base, shape };
}

type OutputConstructor = new () => Record<string, unknown>;

/**
 * A constructor for an object schema's outputs: plain objects (prototype Object.prototype,
 * as from `{}`) that V8 lays out with room for every field inside the object. An object built
 * from `{}` has room for 4 and keeps the others in a separate property array: a record of 12
 * fields costs 144 B instead of 120, and decoding it is slower (docs/benchmarks.md). The
 * caller assigns the fields, in schema order. Where code generation is disallowed
 * (`--disallow-code-generation-from-strings`), outputs are built from `{}` as before.
 */
function outputConstructor(keys: readonly string[]): OutputConstructor {
  // V8 sizes a constructor's objects from the `this.x =` assignments in its body, taken or
  // not: naming every field in a branch never taken reserves room without creating them.
  const body = `if (reserve) { ${keys.map((k) => `this[${JSON.stringify(k)}] = 0;`).join(' ')} }`;
  try {
    const Out = new Function('reserve', body) as unknown as OutputConstructor;
    Out.prototype = Object.prototype;
    return Out;
  } catch {
    return PlainObject;
  }
}

const PlainObject = function (this: Record<string, unknown>) {} as unknown as OutputConstructor;
PlainObject.prototype = Object.prototype;

/** Makes a field optional (absent, undefined or null are all accepted and dropped). */
export function optional<T>(inner: Schema<T>): Schema<T> & { readonly optional: true } {
  return { describe: `${inner.describe}?`, optional: true, parse: inner.parse };
}

/** A union discriminated by a string field. */
export function tagged<K extends string, M extends Record<string, ObjectSchema<Shape>>>(
  tag: K,
  members: M,
): Schema<{ [T in keyof M]: Infer<M[T]> & { [P in K]: T } }[keyof M]> {
  const desc = `${tag}:${Object.keys(members).join('|')}`;
  return schema(desc, (value, path) => {
    if (!isPlainObject(value)) fail(path, 'object', value);
    const t = value[tag];
    if (typeof t !== 'string' || !Object.hasOwn(members, t))
      fail(path ? `${path}.${tag}` : tag, desc, t);
    const out = members[t]!.parse(value, path) as Record<string, unknown>;
    out[tag] = t;
    return out as { [T in keyof M]: Infer<M[T]> & { [P in K]: T } }[keyof M];
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    value instanceof Uint8Array
  )
    return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
