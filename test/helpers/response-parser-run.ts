/**
 * Shared by the response parser's tests (test/unit/gateway-upstream-parser*.test.ts): a run of
 * a fresh parser over pieces of bytes, reported as heads, body and completions (or the parse
 * error), and random well-formed responses with their serialization and random split points.
 */
import fc from 'fast-check';
import { ResponseParseError, ResponseParser } from '../../gateway/upstream/response-parser.js';

export interface Parsed {
  heads: { status: number; headers: Record<string, string | string[]> }[];
  body: Buffer;
  completions: boolean[];
  /** The ResponseParseError message, when one was thrown. */
  error: string | undefined;
}

/** Feeds `pieces` (then finish() when asked) to a fresh parser expecting `method`. */
export function run(
  method: string,
  pieces: readonly (string | Buffer)[],
  options: { finish?: boolean; maxHeadBytes?: number } = {},
): Parsed {
  const out: Parsed = { heads: [], body: Buffer.alloc(0), completions: [], error: undefined };
  const chunks: Buffer[] = [];
  const parser = new ResponseParser(
    {
      onHead: (head) => out.heads.push({ status: head.status, headers: { ...head.headers } }),
      onBody: (chunk) => chunks.push(Buffer.from(chunk)),
      onBodyText: (text) => chunks.push(Buffer.from(text, 'latin1')),
      onComplete: (keepAlive) => out.completions.push(keepAlive),
    },
    options.maxHeadBytes,
  );
  parser.expect(method);
  try {
    for (const p of pieces) parser.execute(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
    if (options.finish === true) parser.finish();
  } catch (err) {
    if (!(err instanceof ResponseParseError)) throw err;
    out.error = err.message;
  }
  out.body = Buffer.concat(chunks);
  return out;
}

const tokenChars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const valueChars = ' \tabcdefghijklmnopqrstuvwxyz0123456789=;,"/:()\u00e9\u00ff';
const fromChars = (chars: string, min: number, max: number) =>
  fc
    .array(fc.constantFrom(...chars.split('')), { minLength: min, maxLength: max })
    .map((a) => a.join(''));
const headerName = fromChars(tokenChars, 1, 12).filter((n) => {
  const l = n.toLowerCase();
  return l !== 'content-length' && l !== 'transfer-encoding' && l !== 'connection';
});
const headerValue = fromChars(valueChars, 0, 30);
const bodyPart = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((a) => Buffer.from(a));

export const response = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'POST'),
  version: fc.constantFrom('1.1', '1.1', '1.0'),
  status: fc.constantFrom(200, 201, 204, 301, 304, 404, 500),
  reason: fc.constantFrom('', ' OK', ' Some Reason', ' '),
  interim: fc.constantFrom(0, 0, 1, 2),
  headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }),
  connection: fc.constantFrom(undefined, 'close', 'keep-alive', 'Keep-Alive, foo'),
  framing: fc.constantFrom('length', 'chunked', 'close'),
  parts: fc.array(bodyPart, { maxLength: 5 }),
  extensions: fc.array(fromChars('abc=;" \t', 0, 10), { minLength: 5, maxLength: 5 }),
  trailers: fc.array(fc.tuple(headerName, fromChars(valueChars, 0, 300)), { maxLength: 4 }),
});

export type Response = typeof response extends fc.Arbitrary<infer R> ? R : never;

export function serialize(r: Response): Buffer {
  let head = '';
  for (let i = 0; i < r.interim; i++) head += 'HTTP/1.1 100 Continue\r\n\r\n';
  head += `HTTP/${r.version} ${r.status}${r.reason}\r\n`;
  for (const [k, v] of r.headers) head += `${k}: ${v}\r\n`;
  if (r.connection !== undefined) head += `Connection: ${r.connection}\r\n`;
  const noBody = r.method === 'HEAD' || r.status === 204 || r.status === 304;
  const parts = noBody ? [] : r.parts;
  const body = Buffer.concat(parts);
  const out: Buffer[] = [];
  if (r.framing === 'length') {
    head += `Content-Length: ${noBody ? r.parts.length : body.length}\r\n\r\n`;
    out.push(Buffer.from(head, 'latin1'), body);
  } else if (r.framing === 'chunked') {
    head += 'Transfer-Encoding: chunked\r\n\r\n';
    out.push(Buffer.from(head, 'latin1'));
    if (noBody) return Buffer.concat(out);
    parts.forEach((p, i) => {
      const ext = r.extensions[i]!;
      out.push(
        Buffer.from(`${p.length.toString(16)}${ext ? `;${ext}` : ''}\r\n`, 'latin1'),
        p,
        Buffer.from('\r\n'),
      );
    });
    let tail = '0\r\n';
    for (const [k, v] of r.trailers) tail += `${k}: ${v}\r\n`;
    out.push(Buffer.from(`${tail}\r\n`, 'latin1'));
  } else {
    out.push(Buffer.from(`${head}\r\n`, 'latin1'), body);
  }
  return Buffer.concat(out);
}

export const splitPoints = (length: number) =>
  fc
    .uniqueArray(fc.integer({ min: 1, max: Math.max(1, length - 1) }), { maxLength: 30 })
    .map((points) => points.filter((p) => p < length).sort((a, b) => a - b));

export function pieces(bytes: Buffer, points: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  out.push(bytes.subarray(at));
  return out;
}
