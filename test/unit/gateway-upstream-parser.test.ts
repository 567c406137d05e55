/**
 * The gateway's strict HTTP/1.1 response parser (gateway/upstream/response-parser.ts): valid
 * framings (Content-Length, chunked with extensions and trailers, close-delimited, bodiless
 * responses, interim 1xx, keep-alive rules), a head read with its body, and consecutive
 * responses on one keep-alive connection. What it refuses is in
 * gateway-upstream-parser-refusals.test.ts.
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
import { type Parsed, response, run, serialize } from '../helpers/response-parser-run.js';

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
