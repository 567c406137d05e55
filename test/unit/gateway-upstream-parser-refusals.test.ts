/**
 * What the gateway's HTTP/1.1 response parser (gateway/upstream/response-parser.ts) refuses:
 * malformed responses, limits that are exact however the bytes arrive, and two properties —
 * a response fed in arbitrary pieces parses as when fed at once, and a damaged one is refused
 * however it is split.
 */
import { deepStrictEqual, equal } from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import { pieces, response, run, serialize, splitPoints } from '../helpers/response-parser-run.js';

interface BadCase {
  name: string;
  method?: string;
  pieces: string[];
  finish?: boolean;
  maxHeadBytes?: number;
  /** The response completed before the offending bytes came. */
  completes?: boolean;
}

const OK = 'HTTP/1.1 200 OK\r\n';
const CHUNKED = `${OK}Transfer-Encoding: chunked\r\n\r\n`;
const bigHeader = `X-Big: ${'a'.repeat(200)}\r\n`;

const malformed: BadCase[] = [
  { name: 'status code of two digits', pieces: ['HTTP/1.1 20 OK\r\n\r\n'] },
  { name: 'status code of four digits', pieces: ['HTTP/1.1 2000 OK\r\n\r\n'] },
  { name: 'status code 0xx', pieces: ['HTTP/1.1 099 OK\r\n\r\n'] },
  { name: 'HTTP/2 version', pieces: ['HTTP/2 200 OK\r\n\r\n'] },
  { name: 'HTTP/1.2 version', pieces: ['HTTP/1.2 200 OK\r\n\r\n'] },
  { name: 'lower-case protocol', pieces: ['http/1.1 200 OK\r\n\r\n'] },
  { name: 'no space after the status', pieces: ['HTTP/1.1 200OK\r\n\r\n'] },
  { name: 'leading empty line', pieces: ['\r\nHTTP/1.1 200 OK\r\n\r\n'] },
  { name: 'not HTTP at all', pieces: ['SSH-2.0-OpenSSH_9.6\r\n\r\n'] },
  { name: 'control character in the reason phrase', pieces: ['HTTP/1.1 200 O\u0000K\r\n\r\n'] },
  { name: 'bare CR in the reason phrase', pieces: ['HTTP/1.1 200 O\rK\r\n\r\n'] },
  { name: 'bare LF line endings', pieces: ['HTTP/1.1 200 OK\nContent-Length: 0\n\r\n\r\n'] },
  { name: 'obs-fold with a space', pieces: [`${OK}X-A: a\r\n b\r\nContent-Length: 0\r\n\r\n`] },
  { name: 'obs-fold with a tab', pieces: [`${OK}X-A: a\r\n\tb\r\nContent-Length: 0\r\n\r\n`] },
  { name: 'space in a header name', pieces: [`${OK}X A: b\r\n\r\n`] },
  { name: 'space before the colon', pieces: [`${OK}Content-Length : 0\r\n\r\n`] },
  { name: 'empty header name', pieces: [`${OK}: b\r\n\r\n`] },
  { name: 'header line without a colon', pieces: [`${OK}X-A\r\n\r\n`] },
  { name: 'separator in a header name', pieces: [`${OK}X(A): b\r\n\r\n`] },
  { name: 'non-ASCII header name', pieces: [`${OK}X-\u00e9: b\r\n\r\n`] },
  { name: 'NUL in a header value', pieces: [`${OK}X-A: a\u0000b\r\nContent-Length: 0\r\n\r\n`] },
  { name: 'bare CR in a header value', pieces: [`${OK}X-A: a\rb\r\nContent-Length: 0\r\n\r\n`] },
  { name: 'bare LF in a header value', pieces: [`${OK}X-A: a\nb\r\nContent-Length: 0\r\n\r\n`] },
  { name: 'DEL in a header value', pieces: [`${OK}X-A: a\u007f\r\nContent-Length: 0\r\n\r\n`] },
  {
    name: 'control character at the start of a value',
    pieces: [`${OK}X-A: \u000bvalue\r\nContent-Length: 0\r\n\r\n`],
  },
  {
    name: 'control character at the end of a value',
    pieces: [`${OK}X-A: value\u000c\r\nContent-Length: 0\r\n\r\n`],
  },
  {
    name: 'bare CR ending a value',
    pieces: [`${OK}X-A: value\r\r\nContent-Length: 0\r\n\r\n`],
  },
  {
    name: 'Content-Length with Transfer-Encoding',
    pieces: [`${OK}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  },
  {
    name: 'Transfer-Encoding with Content-Length',
    pieces: [`${OK}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n`],
  },
  {
    name: 'differing Content-Length fields',
    pieces: [`${OK}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`],
  },
  { name: 'differing Content-Length list', pieces: [`${OK}Content-Length: 3, 4\r\n\r\nabcd`] },
  { name: 'Content-Length not digits', pieces: [`${OK}Content-Length: abc\r\n\r\n`] },
  { name: 'negative Content-Length', pieces: [`${OK}Content-Length: -1\r\n\r\n`] },
  { name: 'signed Content-Length', pieces: [`${OK}Content-Length: +3\r\n\r\nabc`] },
  { name: 'fractional Content-Length', pieces: [`${OK}Content-Length: 3.0\r\n\r\nabc`] },
  { name: 'hex Content-Length', pieces: [`${OK}Content-Length: 0x3\r\n\r\nabc`] },
  { name: 'empty Content-Length', pieces: [`${OK}Content-Length: \r\n\r\n`] },
  { name: 'Content-Length list with a hole', pieces: [`${OK}Content-Length: 3,\r\n\r\nabc`] },
  { name: 'huge Content-Length', pieces: [`${OK}Content-Length: 9999999999999999\r\n\r\n`] },
  { name: 'chunk size not hex', pieces: [`${CHUNKED}zz\r\n`] },
  { name: 'negative chunk size', pieces: [`${CHUNKED}-1\r\nx\r\n0\r\n\r\n`] },
  { name: 'empty chunk size line', pieces: [`${CHUNKED}\r\nx\r\n0\r\n\r\n`] },
  { name: 'chunk size with a 0x prefix', pieces: [`${CHUNKED}0x1\r\nx\r\n0\r\n\r\n`] },
  { name: 'chunk size of 13 hex digits', pieces: [`${CHUNKED}0000000000001\r\nx\r\n0\r\n\r\n`] },
  { name: 'chunk size line with a bare LF', pieces: [`${CHUNKED}1\nx\r\n0\r\n\r\n`] },
  { name: 'control character in a chunk extension', pieces: [`${CHUNKED}1;a\u0000\r\nx\r\n`] },
  { name: 'chunk size line too long', pieces: [`${CHUNKED}1;${'e'.repeat(2000)}\r\nx\r\n`] },
  {
    name: 'chunk size line too long (in pieces)',
    pieces: [CHUNKED, '1;', 'e'.repeat(1500), 'e'.repeat(1500)],
  },
  { name: 'chunk data longer than its size', pieces: [`${CHUNKED}3\r\nabcdef\r\n0\r\n\r\n`] },
  { name: 'chunk data not followed by CRLF', pieces: [`${CHUNKED}3\r\nabc0\r\n\r\n`] },
  { name: 'chunk data followed by a bare LF', pieces: [`${CHUNKED}3\r\nabc\n0\r\n\r\n`] },
  { name: 'malformed trailer field', pieces: [`${CHUNKED}0\r\nno colon here\r\n\r\n`] },
  { name: 'trailer with a bad name', pieces: [`${CHUNKED}0\r\nX Y: z\r\n\r\n`] },
  { name: 'trailer with a control character', pieces: [`${CHUNKED}0\r\nX-Y: a\u0001\r\n\r\n`] },
  {
    name: 'trailers too large',
    pieces: [`${CHUNKED}0\r\n${`X-T: ${'t'.repeat(100)}\r\n`.repeat(200)}\r\n`],
  },
  { name: 'protocol switch', pieces: ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n'] },
  {
    name: 'head over the limit (complete)',
    maxHeadBytes: 100,
    pieces: [`${OK}${bigHeader}Content-Length: 0\r\n\r\n`],
  },
  {
    name: 'head over the limit (incomplete)',
    maxHeadBytes: 100,
    pieces: [`${OK}${bigHeader}`],
  },
  {
    name: 'interim head over the limit',
    maxHeadBytes: 100,
    pieces: [`HTTP/1.1 100 Continue\r\n${bigHeader}\r\n${OK}Content-Length: 0\r\n\r\n`],
  },
  {
    name: 'bytes after a complete response',
    completes: true,
    pieces: [`${OK}Content-Length: 2\r\n\r\nokX`],
  },
  {
    name: 'a second response after a complete one',
    completes: true,
    pieces: [`${OK}Content-Length: 0\r\n\r\n`, `${OK}Content-Length: 0\r\n\r\n`],
  },
  { name: 'bytes after a 204', completes: true, pieces: ['HTTP/1.1 204 No Content\r\n\r\nbody'] },
  {
    name: 'bytes after a HEAD response',
    method: 'HEAD',
    completes: true,
    pieces: [`${OK}Content-Length: 4\r\n\r\nbody`],
  },
  { name: 'bytes after the last chunk', completes: true, pieces: [`${CHUNKED}0\r\n\r\nX`] },
  {
    name: 'closed mid-body (Content-Length)',
    pieces: [`${OK}Content-Length: 10\r\n\r\nabc`],
    finish: true,
  },
  { name: 'closed mid-body (chunked data)', pieces: [`${CHUNKED}5\r\nab`], finish: true },
  { name: 'closed mid-body (last chunk)', pieces: [`${CHUNKED}0\r\n`], finish: true },
  { name: 'closed mid-head', pieces: ['HTTP/1.1 200 OK\r\nContent-'], finish: true },
  { name: 'closed before any byte', pieces: [], finish: true },
  {
    name: 'closed after an interim response',
    pieces: ['HTTP/1.1 100 Continue\r\n\r\n'],
    finish: true,
  },
];

t.test('malformed responses throw ResponseParseError', async (t) => {
  for (const c of malformed) {
    const got = run(c.method ?? 'GET', c.pieces, {
      finish: c.finish ?? false,
      ...(c.maxHeadBytes !== undefined ? { maxHeadBytes: c.maxHeadBytes } : {}),
    });
    t.ok(got.error !== undefined, `${c.name}: refused (${got.error})`);
    t.same(got.completions, c.completes === true ? [true] : [], `${c.name}: completions`);
  }
  // The same bytes fed one at a time are refused too.
  for (const c of malformed) {
    const bytes = Buffer.from(c.pieces.join(''), 'latin1');
    const pieces: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) pieces.push(bytes.subarray(i, i + 1));
    const got = run(c.method ?? 'GET', pieces, {
      finish: c.finish ?? false,
      ...(c.maxHeadBytes !== undefined ? { maxHeadBytes: c.maxHeadBytes } : {}),
    });
    t.ok(got.error !== undefined, `${c.name} (byte by byte): refused`);
  }
});

t.test('limits are exact and the same however the bytes arrive', async (t) => {
  // A head of exactly maxHeadBytes (without the final CRLFCRLF) passes, one more byte fails.
  const head = (n: number) => {
    const base = `${OK}Content-Length: 0\r\nX-Pad: `;
    return `${base}${'p'.repeat(n - base.length)}`;
  };
  for (const max of [100, 256]) {
    const exact = `${head(max)}\r\n\r\n`;
    const over = `${head(max + 1)}\r\n\r\n`;
    const bytewise = (s: string) => s.split('');
    t.equal(run('GET', [exact], { maxHeadBytes: max }).error, undefined, `${max}: exact, whole`);
    t.equal(
      run('GET', bytewise(exact), { maxHeadBytes: max }).error,
      undefined,
      `${max}: exact, byte by byte`,
    );
    t.ok(run('GET', [over], { maxHeadBytes: max }).error, `${max}: over, whole`);
    t.ok(run('GET', bytewise(over), { maxHeadBytes: max }).error, `${max}: over, byte by byte`);
  }
  // A 1024-character chunk size line passes whole and in pieces; 1025 fails both ways.
  for (const [len, ok] of [
    [1024, true],
    [1025, false],
  ] as const) {
    const line = `1;${'e'.repeat(len - 2)}`;
    const bytes = `${CHUNKED}${line}\r\nx\r\n0\r\n\r\n`;
    const whole = run('GET', [bytes]);
    const split = run('GET', bytes.split(''));
    t.equal(whole.error === undefined, ok, `chunk line ${len}: whole`);
    t.equal(split.error === undefined, ok, `chunk line ${len}: byte by byte`);
  }
  // Trailers up to 16 KiB pass byte by byte as they do whole.
  const trailers = `X-T: ${'t'.repeat(1000)}\r\n`.repeat(15);
  const bytes = `${CHUNKED}2\r\nok\r\n0\r\n${trailers}\r\n`;
  t.same(run('GET', bytes.split('')).completions, [true], 'trailers byte by byte');
  t.same(run('GET', [bytes]).completions, [true], 'trailers whole');
});

// ---------------------------------------------------------------------------------------------
// Property: splitting the bytes anywhere changes nothing.

t.test('property: a response fed in arbitrary pieces parses as when fed at once', async (t) => {
  fc.assert(
    fc.property(
      response.chain((r) => {
        const bytes = serialize(r);
        return fc.tuple(fc.constant(r), fc.constant(bytes), splitPoints(bytes.length));
      }),
      ([r, bytes, points]) => {
        const finish = r.framing === 'close';
        const whole = run(r.method, [bytes], { finish });
        const split = run(r.method, pieces(bytes, points), { finish });
        const bytewise = run(
          r.method,
          pieces(
            bytes,
            Array.from({ length: bytes.length - 1 }, (_, i) => i + 1),
          ),
          { finish },
        );
        // The generated responses are all valid.
        if (whole.error !== undefined) throw new Error(`whole: ${whole.error}`);
        if (whole.completions.length !== 1) throw new Error('whole: not completed once');
        const noBody =
          r.method === 'HEAD' || r.status === 204 || r.status === 304 || r.parts.length === 0;
        if (!whole.body.equals(noBody ? Buffer.alloc(0) : Buffer.concat(r.parts)))
          throw new Error('whole: wrong body');
        for (const other of [split, bytewise]) {
          equal(other.error, undefined);
          deepStrictEqual(other.heads, whole.heads);
          deepStrictEqual(other.body, whole.body);
          deepStrictEqual(other.completions, whole.completions);
        }
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 generated responses');
});

t.test('property: a damaged response is refused however it is split', async (t) => {
  fc.assert(
    fc.property(
      response.chain((r) => {
        const bytes = serialize(r);
        return fc.tuple(
          fc.constant(r),
          fc.constant(bytes),
          fc.integer({ min: 0, max: bytes.length }),
          fc.integer({ min: 0, max: 255 }),
          fc.constantFrom('insert', 'replace', 'delete'),
          splitPoints(bytes.length),
        );
      }),
      ([r, bytes, at, byte, op, points]) => {
        const damaged =
          op === 'insert'
            ? Buffer.concat([bytes.subarray(0, at), Buffer.from([byte]), bytes.subarray(at)])
            : op === 'replace' && at < bytes.length
              ? Buffer.concat([bytes.subarray(0, at), Buffer.from([byte]), bytes.subarray(at + 1)])
              : Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
        const finish = true;
        const whole = run(r.method, [damaged], { finish });
        const split = run(
          r.method,
          pieces(
            damaged,
            points.filter((p) => p < damaged.length),
          ),
          { finish },
        );
        equal(split.error !== undefined, whole.error !== undefined, 'refused alike');
        if (whole.error === undefined) {
          deepStrictEqual(split.heads, whole.heads);
          deepStrictEqual(split.body, whole.body);
          deepStrictEqual(split.completions, whole.completions);
        }
      },
    ),
    { numRuns: 500 },
  );
  t.pass('500 damaged responses');
});
