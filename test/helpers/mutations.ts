/**
 * fast-check generators of hostile bytes for the fuzz tests: random bytes, byte-level
 * mutations of valid encoded messages (flips, truncations, insertions, overwrites, splices),
 * and structural mutations (a field somewhere in the body, or the envelope itself, replaced
 * by a value of the wrong type, size or range, or removed), re-packed with plain msgpack so
 * they bypass the encoder's validation.
 */

import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { PROTOCOL_VERSION } from '../../protocol/index.js';

/** Same settings as protocol/codec.ts, without its validation. */
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  bundleStrings: false,
  int64AsType: 'number',
});

export function rawPack(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function rawUnpack(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

export const randomBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 64 }),
  fc.uint8Array({ minLength: 64, maxLength: 2_048 }),
  // Random bytes behind a plausible envelope start: a fixarray(3) and the version.
  fc
    .uint8Array({ minLength: 1, maxLength: 256 })
    .map((tail) => Uint8Array.from([0x93, PROTOCOL_VERSION, ...tail])),
);

type ByteMutation = (bytes: Uint8Array) => Uint8Array;

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc
    .record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) })
    .map(({ at, xor }) => (b: Uint8Array) => {
      if (b.length === 0) return b;
      const out = Uint8Array.from(b);
      out[at % b.length]! ^= xor;
      return out;
    }),
  fc.nat().map((at) => (b: Uint8Array) => b.slice(0, b.length === 0 ? 0 : at % b.length)),
  fc
    .record({ at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) })
    .map(({ at, bytes }) => (b: Uint8Array) => {
      const i = b.length === 0 ? 0 : at % b.length;
      return Uint8Array.from([...b.slice(0, i), ...bytes, ...b.slice(i)]);
    }),
  fc
    .record({ at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) })
    .map(({ at, bytes }) => (b: Uint8Array) => {
      const out = Uint8Array.from(b);
      const i = b.length === 0 ? 0 : at % b.length;
      for (let k = 0; k < bytes.length && i + k < out.length; k++) out[i + k] = bytes[k]!;
      return out;
    }),
  fc
    .record({ at: fc.nat(), len: fc.integer({ min: 1, max: 32 }) })
    .map(({ at, len }) => (b: Uint8Array) => {
      if (b.length === 0) return b;
      const i = at % b.length;
      return Uint8Array.from([...b.slice(0, i), ...b.slice(i, i + len), ...b.slice(i)]);
    }),
);

/** 1-3 byte-level mutations of one of `seeds`. */
export function mutatedBytes(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.constantFrom(...seeds), fc.array(byteMutation, { minLength: 1, maxLength: 3 }))
    .map(([seed, ms]) => ms.reduce((b, m) => m(b), seed));
}

/** Values of the wrong type, size or range for almost any field. */
const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    -1,
    1.5,
    2 ** 60,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    '',
    'x'.repeat(5_000),
    'a.b.*.>',
    '../../etc/passwd',
    [],
    {},
    JSON.parse('{"__proto__":{"polluted":true}}') as unknown,
    { constructor: { prototype: { polluted: true } } },
    new Uint8Array([1, 2, 3]),
  ),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.array(fc.string({ maxLength: 3 }), { minLength: 1_025, maxLength: 1_100 }),
);

/** Every path (list of keys) to a value inside `value`, the root excluded. */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      out.push([...prefix, i]);
      paths(v, [...prefix, i], out);
    });
  } else if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const [k, v] of Object.entries(value)) {
      out.push([...prefix, k]);
      paths(v, [...prefix, k], out);
    }
  }
  return out;
}

function setAt(root: unknown, path: (string | number)[], value: unknown, remove: boolean): unknown {
  const copy = structuredClone(root);
  let node = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (remove) {
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else {
    node[last] = value;
  }
  return copy;
}

/**
 * A structural mutation of one of the valid encoded `seeds`: one field (at any depth) is
 * replaced by junk or removed, or an extra hostile key is added, or the envelope's version or
 * type is wrong. Re-packed without validation.
 */
export function mutatedStructure(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const decoded = seeds.map((s) => rawUnpack(s) as [number, string, unknown]);
  return fc
    .record({
      seed: fc.nat({ max: decoded.length - 1 }),
      pick: fc.nat(),
      value: junk,
      how: fc.constantFrom('replace', 'replace', 'replace', 'remove', 'hostile-key', 'envelope'),
      envelope: fc.oneof(
        fc.constantFrom<[unknown, unknown]>(
          [PROTOCOL_VERSION + 1, undefined],
          [0, undefined],
          ['1', undefined],
          [undefined, '__proto__'],
          [undefined, 'constructor'],
          [undefined, 'toString'],
          [undefined, 'hasOwnProperty'],
          [undefined, 'nope'],
          [undefined, 42],
        ),
        fc.tuple(fc.constant(undefined), fc.string({ maxLength: 20 })),
      ),
    })
    .map(({ seed, pick, value, how, envelope }) => {
      const [version, type, body] = decoded[seed]!;
      if (how === 'envelope') {
        return rawPack([envelope[0] ?? version, envelope[1] ?? type, body]);
      }
      if (how === 'hostile-key') {
        const hostile = { ...(body as object) } as Record<string, unknown>;
        hostile[pick % 2 === 0 ? 'constructor' : 'prototype'] = value;
        return rawPack([version, type, hostile]);
      }
      const all = paths(body);
      if (all.length === 0) return rawPack([version, type, value]);
      const mutated = setAt(body, all[pick % all.length]!, value, how === 'remove');
      return rawPack([version, type, mutated]);
    });
}
