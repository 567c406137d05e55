/**
 * The gateway's strict HTTP/1.1 response parser (gateway/upstream/response-parser.ts): valid
 * framings (Content-Length, chunked with extensions and trailers, close-delimited, bodiless
 * responses, interim 1xx, keep-alive rules) and malformed responses that must be refused, plus
 * a property: feeding a response in arbitrary pieces gives what feeding it at once gives.
 */
import { deepStrictEqual, equal } from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import { passedResponseLines } from '../../gateway/forwarding.js';
import { hasControl } from '../../gateway/http-syntax.js';
import type { ResponseHead } from '../../gateway/upstream/response-head.js';
import {
  keepAliveHintMs,
  ResponseParseError,
  ResponseParser,
} from '../../gateway/upstream/response-parser.js';

interface Parsed {
  heads: { status: number; headers: Record<string, string | string[]> }[];
  body: Buffer;
  completions: boolean[];
  /** The ResponseParseError message, when one was thrown. */
  error: string | undefined;
}

/** Feeds `pieces` (then finish() when asked) to a fresh parser expecting `method`. */
function run(
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

interface ValidCase {
  name: string;
  method?: string;
  pieces: string[];
  finish?: boolean;
  status: number;
  headers?: Record<string, string | string[]>;
  body: string;
  /** The onComplete calls (keepAlive of each); [] when the response is still open. */
  completions: boolean[];
}

const valid: ValidCase[] = [
  {
    name: 'Content-Length body',
    pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello'],
    status: 200,
    headers: { 'content-length': '5', 'content-type': 'text/plain' },
    body: 'hello',
    completions: [true],
  },
  {
    name: 'Content-Length 0',
    pieces: ['HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n'],
    status: 201,
    body: '',
    completions: [true],
  },
  {
    name: 'equal duplicate Content-Length fields and a list of equal values',
    pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\nX-A: 1\r\n\r\nabc'],
    status: 200,
    body: 'abc',
    completions: [true],
  },
  {
    name: 'Content-Length list "3, 3"',
    pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc'],
    status: 200,
    body: 'abc',
    completions: [true],
  },
  {
    name: 'chunked with extensions and trailers',
    pieces: [
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5;name=value\r\nhello\r\n' +
        '6 ;a=1;b="q"\r\n world\r\n' +
        'A\r\n0123456789\r\n' +
        '0;last\r\nX-Checksum: abc\r\nX-Other:\tdef\r\n\r\n',
    ],
    status: 200,
    headers: { 'transfer-encoding': 'chunked' },
    body: 'hello world0123456789',
    completions: [true],
  },
  {
    name: 'chunked without trailers, upper-case hex, Transfer-Encoding list ending in chunked',
    pieces: [
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n',
      '1F\r\n',
      'abcdefghijklmnopqrstuvwxyz01234\r\n0\r\n\r\n',
    ],
    status: 200,
    body: 'abcdefghijklmnopqrstuvwxyz01234',
    completions: [true],
  },
  {
    name: 'close-delimited body completes on finish() without keep-alive',
    pieces: ['HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabc', 'def'],
    finish: true,
    status: 200,
    body: 'abcdef',
    completions: [false],
  },
  {
    name: 'close-delimited body stays open until finish()',
    pieces: ['HTTP/1.1 200 OK\r\n\r\nabc'],
    status: 200,
    body: 'abc',
    completions: [],
  },
  {
    name: 'Transfer-Encoding not ending in chunked is close-delimited',
    pieces: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\u001f\u008b'],
    finish: true,
    status: 200,
    body: '\u001f\u008b',
    completions: [false],
  },
  {
    name: 'HEAD: no body despite Content-Length',
    method: 'HEAD',
    pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'],
    status: 200,
    body: '',
    completions: [true],
  },
  {
    name: 'HEAD: no body despite chunked',
    method: 'HEAD',
    pieces: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'],
    status: 200,
    body: '',
    completions: [true],
  },
  {
    name: '204 has no body',
    pieces: ['HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n'],
    status: 204,
    body: '',
    completions: [true],
  },
  {
    name: '304 has no body despite Content-Length',
    pieces: ['HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\nETag: "x"\r\n\r\n'],
    status: 304,
    body: '',
    completions: [true],
  },
  {
    name: '100 Continue then 200 (only the final head is reported)',
    method: 'POST',
    pieces: [
      'HTTP/1.1 100 Continue\r\n\r\n',
      'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    ],
    status: 200,
    headers: { 'content-length': '2' },
    body: 'ok',
    completions: [true],
  },
  {
    name: 'HTTP/1.0 without Connection does not keep alive',
    pieces: ['HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'],
    status: 200,
    body: 'ok',
    completions: [false],
  },
  {
    name: 'HTTP/1.0 with Connection: keep-alive keeps alive',
    pieces: ['HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok'],
    status: 200,
    body: 'ok',
    completions: [true],
  },
  {
    name: 'HTTP/1.0 close-delimited',
    pieces: ['HTTP/1.0 200 OK\r\n\r\nall of it'],
    finish: true,
    status: 200,
    body: 'all of it',
    completions: [false],
  },
  {
    name: 'HTTP/1.0 with Transfer-Encoding: faulty framing, never kept alive',
    pieces: [
      'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    ],
    status: 200,
    body: 'ok',
    completions: [false],
  },
  {
    name: 'HTTP/1.1 Connection: close',
    pieces: ['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'],
    status: 200,
    body: 'ok',
    completions: [false],
  },
  {
    name: 'Connection list holding close',
    pieces: ['HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n'],
    status: 200,
    body: '',
    completions: [false],
  },
  {
    name: 'repeated fields become arrays; names are lower-cased; OWS trimmed; empty values',
    pieces: [
      'HTTP/1.1 404 Not Found\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nSET-COOKIE:c=3\r\n' +
        'X-Pad: \t padded \t\r\nX-Empty:\r\nX-Latin: caf\u00e9\r\nContent-Length: 0\r\n\r\n',
    ],
    status: 404,
    headers: {
      'set-cookie': ['a=1', 'b=2', 'c=3'],
      'x-pad': 'padded',
      'x-empty': '',
      'x-latin': 'caf\u00e9',
      'content-length': '0',
    },
    body: '',
    completions: [true],
  },
  {
    name: 'header names shaped like Object.prototype members',
    pieces: [
      'HTTP/1.1 200 OK\r\n__proto__: x\r\nconstructor: y\r\ntoString: z\r\ntoString: w\r\nContent-Length: 0\r\n\r\n',
    ],
    status: 200,
    headers: { ['__proto__']: 'x', constructor: 'y', tostring: ['z', 'w'], 'content-length': '0' },
    body: '',
    completions: [true],
  },
  {
    name: 'status line without a reason phrase, and an unusual status',
    pieces: ['HTTP/1.1 599\r\nContent-Length: 1\r\n\r\nx'],
    status: 599,
    body: 'x',
    completions: [true],
  },
];

t.test('valid responses', async (t) => {
  for (const c of valid) {
    const got = run(c.method ?? 'GET', c.pieces, { finish: c.finish ?? false });
    t.equal(got.error, undefined, `${c.name}: no error`);
    t.equal(got.heads.length, 1, `${c.name}: one head`);
    t.equal(got.heads[0]?.status, c.status, `${c.name}: status`);
    if (c.headers !== undefined) {
      for (const [k, v] of Object.entries(c.headers)) {
        t.same(got.heads[0]?.headers[k], v, `${c.name}: header ${k}`);
      }
    }
    t.equal(got.body.toString('latin1'), c.body, `${c.name}: body`);
    t.same(got.completions, c.completions, `${c.name}: completion`);
  }
});

t.test('headers object inherits no names to collide with', async (t) => {
  let headers: Record<string, string | string[]> | undefined;
  const parser = new ResponseParser({
    onHead: (head) => {
      headers = head.headers;
    },
    onBody: () => {},
    onBodyText: () => {},
    onComplete: () => {},
  });
  parser.expect('GET');
  parser.execute(Buffer.from('HTTP/1.1 200 OK\r\n__proto__: x\r\nContent-Length: 0\r\n\r\n'));
  const h = headers as Record<string, unknown>;
  for (const inherited of ['constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
    t.equal(h[inherited], undefined, `${inherited} is not inherited`);
    t.notOk(inherited in h, `${inherited} is not in the object`);
  }
  t.equal(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value, 'x');
  t.same(Object.keys(headers ?? {}), ['__proto__', 'content-length']);
});

t.test('one parser carries consecutive responses of a keep-alive connection', async (t) => {
  const events: string[] = [];
  const parser = new ResponseParser({
    onHead: (head) => events.push(`head ${head.status}`),
    onBody: (c, last) => events.push(`body ${c.toString()}${last ? ' (last)' : ''}`),
    onBodyText: (text) => events.push(`text ${text}`),
    onComplete: (k) => events.push(`complete ${k}`),
  });
  t.equal(parser.busy, false);
  parser.expect('GET');
  t.equal(parser.busy, true);
  t.equal(parser.headSeen, false);
  parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab'));
  t.equal(parser.headSeen, true);
  parser.execute(Buffer.from('cd'));
  t.equal(parser.busy, false);
  parser.expect('HEAD');
  parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n'));
  parser.expect('GET');
  parser.execute(
    Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n'),
  );
  t.same(events, [
    'head 200',
    'body ab',
    'body cd (last)',
    'complete true',
    'head 200',
    'complete true',
    'head 200',
    'body x',
    'complete true',
  ]);
  t.equal(parser.busy, false);
  t.throws(() => parser.execute(Buffer.from('X')), ResponseParseError, 'nothing expected');
});

t.test('a body that ends in the read of its head comes as latin1 text', async (t) => {
  const events: string[] = [];
  const bodies: Buffer[] = [];
  const parser = new ResponseParser({
    onHead: (head) => events.push(`head ${head.status}`),
    onBody: (c, last) => {
      events.push(`bytes ${c.length}${last ? ' (last)' : ''}`);
      bodies.push(Buffer.from(c));
    },
    onBodyText: (text) => {
      events.push(`text ${text.length}`);
      bodies.push(Buffer.from(text, 'latin1'));
    },
    onComplete: () => events.push('complete'),
  });
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const head = (n: number) => Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${n}\r\n\r\n`);

  parser.expect('GET');
  parser.execute(Buffer.concat([head(256), all]));
  t.same(events.splice(0), ['head 200', 'text 256', 'complete'], 'head and body in one read');
  t.same([...bodies.splice(0)[0]!], [...all], 'every byte value survives the text');

  // An interim response before it: the final head and its body are still read as text.
  parser.expect('GET');
  parser.execute(
    Buffer.concat([Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'), head(3), all.subarray(0, 3)]),
  );
  t.same(events.splice(0), ['head 200', 'text 3', 'complete'], 'after a 1xx');
  bodies.length = 0;

  parser.expect('GET');
  parser.execute(Buffer.concat([head(4), Buffer.from('ab')]));
  parser.execute(Buffer.from('cd'));
  t.same(
    events.splice(0),
    ['head 200', 'bytes 2', 'bytes 2 (last)', 'complete'],
    'a later read: bytes',
  );

  parser.expect('GET');
  parser.execute(head(2).subarray(0, 10));
  parser.execute(Buffer.concat([head(2).subarray(10), Buffer.from('ok')]));
  t.same(
    events.splice(0),
    ['head 200', 'bytes 2 (last)', 'complete'],
    'a head in two reads: bytes',
  );

  const large = Buffer.alloc(20_000, 0xe9);
  parser.expect('GET');
  parser.execute(Buffer.concat([head(large.length), large]));
  t.same(
    events.splice(0),
    ['head 200', 'bytes 20000 (last)', 'complete'],
    'a read over 16 KiB: bytes',
  );
  t.ok(bodies.at(-1)!.equals(large));
});

t.test('keepAliveHintMs', async (t) => {
  t.equal(keepAliveHintMs('timeout=5, max=100'), 5000);
  t.equal(keepAliveHintMs('max=100, timeout=2'), 2000);
  t.equal(keepAliveHintMs('max=100,timeout=1'), 1000);
  t.equal(keepAliveHintMs(['max=3', 'timeout=7']), 7000);
  t.equal(keepAliveHintMs('max=100'), undefined);
  t.equal(keepAliveHintMs('timeout=abc'), undefined);
  t.equal(keepAliveHintMs('xtimeout=5'), undefined);
  t.equal(keepAliveHintMs(undefined), undefined);
  // Repeats of one value (the remembered last one) and alternation give the same answers.
  for (let i = 0; i < 3; i++) {
    t.equal(keepAliveHintMs('timeout=5'), 5000);
    t.equal(keepAliveHintMs('timeout=5'), 5000);
    t.equal(keepAliveHintMs('max=9'), undefined);
    t.equal(keepAliveHintMs('max=9'), undefined);
  }
});

t.test('hasControl', async (t) => {
  t.equal(hasControl('plain value', false), false);
  t.equal(hasControl('a\tb', true), false);
  t.equal(hasControl('a\tb', false), true);
  t.equal(hasControl('a\u0000b', true), true);
  t.equal(hasControl('a\u007fb', true), true);
  t.equal(hasControl('caf\u00e9', true), false);
});

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

const response = fc.record({
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

type Response = typeof response extends fc.Arbitrary<infer R> ? R : never;

function serialize(r: Response): Buffer {
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

const splitPoints = (length: number) =>
  fc
    .uniqueArray(fc.integer({ min: 1, max: Math.max(1, length - 1) }), { maxLength: 30 })
    .map((points) => points.filter((p) => p < length).sort((a, b) => a - b));

function pieces(bytes: Buffer, points: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  out.push(bytes.subarray(at));
  return out;
}

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

t.test('a head read together with its body keeps to its own lines', async (t) => {
  // The body looks like more field lines: nothing of it may reach the head.
  const body = 'x-extra: 1\r\nset-cookie: a=b\r\n\r\n';
  const lines = `Content-Type: text/plain\r\nContent-Length: ${body.length}\r\nX-Last:  v \r\n`;
  const heads: ResponseHead[] = [];
  const bodies: string[] = [];
  const parser = new ResponseParser({
    onHead: (head) => heads.push(head),
    onBody: (chunk) => bodies.push(`bytes ${chunk.toString('latin1')}`),
    onBodyText: (text) => bodies.push(`text ${text}`),
    onComplete: () => undefined,
  });
  const bytes = Buffer.from(`HTTP/1.1 200 OK\r\n${lines}\r\n${body}`, 'latin1');
  // At once, the read is taken as text; a head in two reads is read from the Buffer.
  for (const pieces of [[bytes], [bytes.subarray(0, 20), bytes.subarray(20)]]) {
    parser.expect('GET');
    for (const piece of pieces) parser.execute(piece);
    const head = heads.pop()!;
    t.same(
      { ...head.headers },
      { 'content-type': 'text/plain', 'content-length': String(body.length), 'x-last': 'v' },
    );
    t.equal(head.value(2), 'v', 'the last value ends at its line');
    t.equal(passedResponseLines(head, undefined), lines, 'the lines passed on are the head');
  }
  t.same(bodies, [`text ${body}`, `bytes ${body}`]);
});

/**
 * Feeds each response as one read to a single parser, as a keep-alive connection does (a
 * repeated head is taken over from the parser's last one), and reports each response apart.
 */
function runSequence(sequence: readonly { method: string; bytes: Buffer; finish: boolean }[]) {
  let current: Parsed;
  let chunks: Buffer[] = [];
  const passed: string[] = [];
  const parser = new ResponseParser({
    onHead: (head) => {
      current.heads.push({ status: head.status, headers: { ...head.headers } });
      passed.push(passedResponseLines(head, undefined));
    },
    onBody: (chunk) => chunks.push(Buffer.from(chunk)),
    onBodyText: (text) => chunks.push(Buffer.from(text, 'latin1')),
    onComplete: (keepAlive) => current.completions.push(keepAlive),
  });
  const results: Parsed[] = [];
  for (const { method, bytes, finish } of sequence) {
    current = { heads: [], body: Buffer.alloc(0), completions: [], error: undefined };
    chunks = [];
    parser.expect(method);
    parser.execute(bytes);
    if (finish) parser.finish();
    current.body = Buffer.concat(chunks);
    results.push(current);
  }
  return { results, passed };
}

t.test(
  'property: a connection repeating heads parses each response as a fresh parser does',
  async (t) => {
    fc.assert(
      fc.property(
        fc.array(response, { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(fc.nat(), fc.constantFrom('GET', 'HEAD', 'POST')), {
          minLength: 2,
          maxLength: 8,
        }),
        (pool, picks) => {
          // Responses come back in any order, each serialized for its request's method.
          const sequence = picks.map(([i, method]) => {
            const r = pool[i % pool.length]!;
            return { method, bytes: serialize({ ...r, method }), finish: r.framing === 'close' };
          });
          const { results, passed } = runSequence(sequence);
          sequence.forEach((s, i) => {
            const fresh = run(s.method, [s.bytes], { finish: s.finish });
            equal(fresh.error, undefined);
            deepStrictEqual(results[i], fresh);
          });
          // The lines passed on to the client, each from a parser of its own.
          deepStrictEqual(
            passed,
            sequence.flatMap((s) => runSequence([s]).passed),
          );
        },
      ),
      { numRuns: 300 },
    );
    t.pass('300 sequences');
  },
);

t.test('a repeated head is recognised by its bytes only', async (t) => {
  const head =
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: Sat, 28 Nov 2026 18:00:00 GMT\r\n\r\n';
  const later = head.replace('18:00:00', '18:00:01');
  const { results, passed } = runSequence([
    { method: 'GET', bytes: Buffer.from(`${head}hello`), finish: false },
    { method: 'HEAD', bytes: Buffer.from(head), finish: false },
    { method: 'GET', bytes: Buffer.from(`${head}world`), finish: false },
    { method: 'GET', bytes: Buffer.from(`${later}again`), finish: false },
    // The same first line and fields, then one more: not the remembered head.
    {
      method: 'GET',
      bytes: Buffer.from(`${head.slice(0, -2)}Connection: close\r\n\r\nclose`),
      finish: false,
    },
  ]);
  t.same(
    results.map((r) => [r.body.toString(), r.completions]),
    [
      ['hello', [true]],
      ['', [true]],
      ['world', [true]],
      ['again', [true]],
      ['close', [false]],
    ],
  );
  t.equal(passed[3], 'Content-Length: 5\r\nDate: Sat, 28 Nov 2026 18:00:01 GMT\r\n');
  t.equal(passed[4], 'Content-Length: 5\r\nDate: Sat, 28 Nov 2026 18:00:00 GMT\r\n');
});
