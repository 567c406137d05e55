/**
 * Common header names as lower-case string constants. A parser that meets one of them takes
 * the constant instead of slicing and lower-casing the name: no new string per field, and the
 * constant is already internalized, so storing it as an object key looks nothing up.
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
