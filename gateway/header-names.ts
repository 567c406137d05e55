/**
 * Header names as the parsers keep them. Common names are lower-case string constants: a
 * parser that meets one of them takes the constant instead of slicing and lower-casing the
 * name, so there is no new string per field, and the constant is already internalized, so
 * storing it as an object key looks nothing up. Fields by name go in headerFields() objects.
 */

const COMMON = [
  'accept',
  'accept-encoding',
  'accept-language',
  'accept-ranges',
  'access-control-allow-origin',
  'age',
  'authorization',
  'cache-control',
  'connection',
  'content-encoding',
  'content-length',
  'content-type',
  'cookie',
  'date',
  'etag',
  'expires',
  'forwarded',
  'host',
  'keep-alive',
  'last-modified',
  'location',
  'origin',
  'pragma',
  'referer',
  'server',
  'set-cookie',
  'traceparent',
  'tracestate',
  'transfer-encoding',
  'user-agent',
  'vary',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-powered-by',
  'x-request-id',
];

/** Known names by length. */
const BY_LENGTH: (string[] | undefined)[] = [];
for (const name of COMMON) {
  const list = BY_LENGTH[name.length];
  if (list === undefined) BY_LENGTH[name.length] = [name];
  else list.push(name);
}

/**
 * The lower-case constant for the header name `text[from, to)` when it is a common one (in any
 * letter case), else undefined. Only letters are folded: `text` must already be a valid token.
 */
export function commonHeaderName(text: string, from: number, to: number): string | undefined {
  const candidates = BY_LENGTH[to - from];
  if (candidates === undefined) return undefined;
  for (let k = 0; k < candidates.length; k++) {
    const name = candidates[k]!;
    let i = 0;
    for (; i < name.length; i++) {
      let c = text.charCodeAt(from + i);
      if (c >= 65 && c <= 90) c |= 0x20;
      if (c !== name.charCodeAt(i)) break;
    }
    if (i === name.length) return name;
  }
  return undefined;
}

/**
 * Objects of this constructor have a prototype with no properties and no prototype of its own,
 * so `__proto__`, `constructor` or `toString` are plain field names and a name a head lacks is
 * found nowhere up the chain; unlike Object.create(null) objects they stay in V8's fast mode.
 */
const HeaderFields = function HeaderFields(): void {} as unknown as new () => object;
HeaderFields.prototype = Object.create(null) as object;

/** A new, empty object of header fields by lower-case name (see HeaderFields). */
export function headerFields<V>(): Record<string, V> {
  return new HeaderFields() as Record<string, V>;
}
