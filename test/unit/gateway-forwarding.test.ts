import fc from 'fast-check';
import t from 'tap';
import {
  appendResponseHeaders,
  CONSUMER_HEADER,
  connectionListed,
  consumerLine,
  consumerValue,
  type ForwardedValues,
  forwardedFieldLines,
  forwardedHeader,
  passedResponseLines,
  socketAddress,
  trustedChain,
  upstreamRequestHeaders,
} from '../../gateway/forwarding.js';
import { RetryBudget } from '../../gateway/retry-budget.js';
import {
  boundedTracestate,
  continueTraceparent,
  isValidRequestId,
  isValidTraceparent,
  MAX_TRACESTATE,
  newTraceLines,
  newTraceparent,
  requestIdFor,
  traceLines,
  traceLinesRequestId,
  traceLinesRequestIdLine,
} from '../../gateway/trace.js';
import type { ResponseHead } from '../../gateway/upstream/response-head.js';
import { ResponseParser } from '../../gateway/upstream/response-parser.js';

function pairs(list: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i]!, list[i + 1]!]);
  return out;
}

function lower(raw: string[]): Record<string, string> {
  const h: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    h[k] = h[k] === undefined ? raw[i + 1]! : `${h[k]}, ${raw[i + 1]}`;
  }
  return h;
}

const base: ForwardedValues = {
  chain: ['203.0.113.9'],
  trustedHops: 0,
  encrypted: false,
  requestId: 'rid-1',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  tracestate: undefined,
  upgrade: false,
};

t.test('hop-by-hop and replaced headers are removed, forwarding headers set', async (t) => {
  const raw = [
    'Host',
    'shop.example.com',
    'Connection',
    'keep-alive, X-Secret-Hop',
    'X-Secret-Hop',
    'drop me',
    'Keep-Alive',
    'timeout=5',
    'Proxy-Authorization',
    'Basic abc',
    'proxy-connection',
    'keep-alive',
    'TE',
    'trailers',
    'Trailer',
    'X-T',
    'Transfer-Encoding',
    'chunked',
    'Upgrade',
    'h2c',
    'HTTP2-Settings',
    'AAA',
    'Expect',
    '100-continue',
    'X-Forwarded-For',
    '6.6.6.6',
    'X-Forwarded-Proto',
    'https',
    'X-Forwarded-Host',
    'evil.example',
    'Forwarded',
    'for=6.6.6.6',
    'X-Request-Id',
    'client-id',
    'traceparent',
    'junk',
    'Accept',
    'text/html',
    'accept',
    'application/json',
    'Authorization',
    'Bearer t',
    'X-Consumer',
    'root',
  ];
  const out = upstreamRequestHeaders(raw, lower(raw), base);
  const names = pairs(out).map(([k]) => k.toLowerCase());
  for (const gone of [
    'connection',
    'x-secret-hop',
    'keep-alive',
    'proxy-authorization',
    'proxy-connection',
    'te',
    'trailer',
    'transfer-encoding',
    'upgrade',
    'http2-settings',
    'expect',
    'x-consumer',
  ]) {
    t.notOk(names.includes(gone), `${gone} removed`);
  }
  const got = Object.fromEntries(pairs(out).map(([k, v]) => [k.toLowerCase(), v]));
  t.equal(got.host, 'shop.example.com', 'host passes');
  t.equal(got.authorization, 'Bearer t');
  t.same(
    pairs(out)
      .filter(([k]) => k.toLowerCase() === 'accept')
      .map(([, v]) => v),
    ['text/html', 'application/json'],
    'repeated headers keep order',
  );
  t.equal(got['x-forwarded-for'], '203.0.113.9', 'client XFF replaced (no trusted hops)');
  t.equal(got['x-forwarded-proto'], 'http', 'claimed proto ignored without trusted hops');
  t.equal(got['x-forwarded-host'], 'shop.example.com', 'claimed host ignored');
  t.equal(got.forwarded, 'for=203.0.113.9;host="shop.example.com";proto=http');
  t.equal(got['x-request-id'], 'rid-1');
  t.equal(got.traceparent, base.traceparent);
  t.equal(names.filter((n) => n === 'x-forwarded-for').length, 1, 'one XFF');
});

t.test('the field-lines form and the trace lines render exactly the list form', async (t) => {
  const name = fc.constantFrom(
    'Host',
    'host',
    'Content-Length',
    'content-length',
    'Connection',
    'Keep-Alive',
    'TE',
    'Upgrade',
    'Proxy-Authorization',
    'X-Forwarded-For',
    'x-forwarded-proto',
    'X-Forwarded-Host',
    'Forwarded',
    'X-Request-Id',
    'traceparent',
    'Accept',
    'X-Custom',
    'x-custom',
    'X-Hop',
    'X-Consumer',
  );
  const value = fc.constantFrom('1', '42', 'a, b', 'X-Hop, keep-alive', 'close', 'https', 'h.test');
  const values = fc.record({
    chain: fc.constantFrom(['203.0.113.9'], ['198.51.100.1', '203.0.113.9'], ['::1']),
    trustedHops: fc.constantFrom(0, 1, 2),
    encrypted: fc.boolean(),
    upgrade: fc.boolean(),
    tracestate: fc.constantFrom(undefined, 'a=1'),
    withheld: fc.constantFrom(undefined, new Set(['authorization']), new Set(['x-key', 'accept'])),
    consumer: fc.constantFrom(undefined, 'alice', 'b\r\nX-Admin: 1'),
  });
  fc.assert(
    fc.property(fc.array(fc.tuple(name, value), { maxLength: 8 }), values, (fields, extra) => {
      const raw = fields.flat();
      const v: ForwardedValues = { ...base, ...extra };
      const list = upstreamRequestHeaders(raw, lower(raw), v);
      const lines = forwardedFieldLines(raw, lower(raw), v);
      const text = lines.text + consumerLine(v.consumer) + traceLines(v.requestId, v.traceparent);
      const expected = pairs(list)
        .map(([k, val]) => `${k}: ${val}\r\n`)
        .join('');
      const host = pairs(list).some(([k]) => k.toLowerCase() === 'host');
      // As the list form is written: a later Content-Length line is the one declared.
      const length = pairs(list)
        .reverse()
        .find(([k]) => k.toLowerCase() === 'content-length');
      return (
        text === expected &&
        lines.hasHost === host &&
        Object.is(lines.contentLength, length === undefined ? undefined : Number(length[1]))
      );
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 runs');
});

t.test('the consumer goes upstream percent-encoded, in one field line', async (t) => {
  t.equal(consumerValue('alice'), 'alice', 'a plain name as it is');
  t.equal(consumerValue('auth0|42'), 'auth0%7C42');
  t.equal(consumerValue('a\r\nX-Admin: 1, é'), 'a%0D%0AX-Admin%3A%201%2C%20%C3%A9');
  t.equal(consumerValue('x\uD800y'), 'x%EF%BF%BDy', 'a lone surrogate becomes U+FFFD');
  t.equal(consumerValue('\uDC00'), '%EF%BF%BD', 'a lone low surrogate too');
  t.equal(consumerValue('\uD83D\uDE00'), '%F0%9F%98%80', 'a surrogate pair is one character');
  t.equal(consumerLine(undefined), '', 'no consumer, no line');
  t.equal(consumerLine('bob'), `${CONSUMER_HEADER}: bob\r\n`);
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 64 }), (consumer) => {
      const value = consumerValue(consumer);
      return (
        /^[\x21-\x7e]*$/.test(value) &&
        !value.includes(',') &&
        decodeURIComponent(value) === consumer
      );
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 16 }), (consumer) =>
      /^[\x21-\x7e]*$/.test(consumerValue(consumer)),
    ),
    { numRuns: 1000 },
  );
  t.pass('2000 runs: visible ASCII only; well-formed consumers decode back to themselves');
});

t.test('headers withheld by a plugin reach the upstream in neither form', async (t) => {
  const raw = [
    'Host',
    'h',
    'Authorization',
    'Bearer t',
    'authorization',
    'Bearer again',
    'X-Api-Key',
    'k',
    'Accept',
    '*/*',
    'Connection',
    'x-hop',
    'X-Hop',
    '1',
  ];
  const v: ForwardedValues = { ...base, withheld: new Set(['authorization', 'x-api-key']) };
  for (const [form, text] of [
    [
      'list',
      pairs(upstreamRequestHeaders(raw, lower(raw), v))
        .map(([k, val]) => `${k}: ${val}\r\n`)
        .join(''),
    ],
    ['lines', forwardedFieldLines(raw, lower(raw), v).text],
  ] as const) {
    const names = text
      .split('\r\n')
      .filter((l) => l !== '')
      .map((l) => l.slice(0, l.indexOf(':')).toLowerCase());
    t.notOk(names.includes('authorization'), `${form}: Authorization withheld, in any case`);
    t.notOk(names.includes('x-api-key'), `${form}: X-Api-Key withheld`);
    t.notOk(names.includes('x-hop'), `${form}: a Connection-listed field still dropped`);
    t.same(
      names.filter((n) => n === 'host' || n === 'accept'),
      ['host', 'accept'],
      `${form}: the rest pass`,
    );
  }
});

t.test('websocket upgrades keep Upgrade and send Connection: upgrade', async (t) => {
  const raw = [
    'Host',
    'h',
    'Connection',
    'Upgrade',
    'Upgrade',
    'websocket',
    'Sec-WebSocket-Key',
    'k',
  ];
  const out = Object.fromEntries(
    pairs(upstreamRequestHeaders(raw, lower(raw), { ...base, upgrade: true })).map(([k, v]) => [
      k.toLowerCase(),
      v,
    ]),
  );
  t.equal(out.upgrade, 'websocket');
  t.equal(out.connection, 'upgrade');
  t.equal(out['sec-websocket-key'], 'k');
});

t.test('trusted hops: client address and XFF chain', async (t) => {
  t.same(trustedChain('1.1.1.1', '10.0.0.1', 0), ['10.0.0.1'], '0 hops: socket is the client');
  t.same(trustedChain(undefined, '10.0.0.1', 2), ['10.0.0.1'], 'no XFF');
  t.same(trustedChain('1.1.1.1', '10.0.0.1', 1), ['1.1.1.1', '10.0.0.1']);
  t.same(
    trustedChain('6.6.6.6, 1.1.1.1', '10.0.0.1', 1),
    ['1.1.1.1', '10.0.0.1'],
    'spoofed entry beyond the trusted hop ignored',
  );
  t.same(
    trustedChain('6.6.6.6, 7.7.7.7, 1.1.1.1, 10.0.0.2', '10.0.0.1', 2),
    ['1.1.1.1', '10.0.0.2', '10.0.0.1'],
    'two hops',
  );
  t.same(trustedChain('1.1.1.1', '10.0.0.1', 3), ['1.1.1.1', '10.0.0.1'], 'shorter list: leftmost');
  t.same(
    trustedChain(['6.6.6.6', '1.1.1.1'], '10.0.0.1', 1),
    ['1.1.1.1', '10.0.0.1'],
    'several XFF headers',
  );
  t.same(
    trustedChain('garbage, 1.1.1.1', '10.0.0.1', 2),
    ['1.1.1.1', '10.0.0.1'],
    'invalid entry ends the chain',
  );
  t.same(trustedChain('1.1.1.1:5555', '10.0.0.1', 1), ['1.1.1.1', '10.0.0.1'], 'port stripped');
  t.same(trustedChain('[2001:db8::1]:80', '10.0.0.1', 1), ['2001:db8::1', '10.0.0.1']);
  t.equal(socketAddress('::ffff:127.0.0.1'), '127.0.0.1');
  t.equal(socketAddress('::1'), '::1');
  t.equal(
    forwardedHeader(['2001:db8::1', '10.0.0.1'], 'h:8080', 'https'),
    'for="[2001:db8::1]", for=10.0.0.1;host="h:8080";proto=https',
  );
  // A host value cannot break out of its quoted-string.
  t.equal(forwardedHeader(['10.0.0.1'], 'a"b\\c', 'http'), 'for=10.0.0.1;host="abc";proto=http');
});

t.test('with trusted hops the claimed proto and host are used', async (t) => {
  const raw = [
    'Host',
    'internal:8080',
    'X-Forwarded-Proto',
    'https',
    'X-Forwarded-Host',
    'shop.example.com',
  ];
  const v = { ...base, trustedHops: 1, chain: ['1.1.1.1', '10.0.0.1'] };
  const out = Object.fromEntries(
    pairs(upstreamRequestHeaders(raw, lower(raw), v)).map(([k, val]) => [k.toLowerCase(), val]),
  );
  t.equal(out['x-forwarded-for'], '1.1.1.1, 10.0.0.1');
  t.equal(out['x-forwarded-proto'], 'https');
  t.equal(out['x-forwarded-host'], 'shop.example.com');
  t.equal(out.forwarded, 'for=1.1.1.1, for=10.0.0.1;host="shop.example.com";proto=https');
  const bogus = ['Host', 'h', 'X-Forwarded-Proto', 'javascript'];
  const out2 = Object.fromEntries(
    pairs(upstreamRequestHeaders(bogus, lower(bogus), v)).map(([k, val]) => [k.toLowerCase(), val]),
  );
  t.equal(out2['x-forwarded-proto'], 'http', 'an invalid claimed proto is ignored');
});

t.test('response headers: hop-by-hop removed', async (t) => {
  const out = appendResponseHeaders(
    {
      'content-type': 'text/plain',
      connection: 'keep-alive, x-hop',
      'x-hop': '1',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'set-cookie': ['a=1', 'b=2'],
      'x-request-id': 'upstream-id',
      upgrade: 'h2c',
    },
    [],
  );
  t.same(out, ['content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2']);
  t.same([...(connectionListed('close, X-A,  x-b ') ?? [])], ['x-a', 'x-b']);
  t.equal(connectionListed('keep-alive'), undefined);
});

/** The head the upstream parser makes of `fields` (field lines, each ending in CRLF). */
function headOf(fields: string): ResponseHead {
  let head: ResponseHead | undefined;
  const parser = new ResponseParser({
    onHead: (h) => {
      head = h;
    },
    onBody: () => {},
    onBodyText: () => {},
    onComplete: () => {},
  });
  parser.expect('HEAD');
  parser.execute(Buffer.from(`HTTP/1.1 200 OK\r\n${fields}\r\n`, 'latin1'));
  if (head === undefined) throw new Error('no head');
  return head;
}

t.test('response field lines passed on as they came', async (t) => {
  const fields =
    'Content-Type:  text/plain \r\n' +
    'Connection: keep-alive, X-Hop\r\n' +
    'X-Hop: 1\r\n' +
    'Keep-Alive: timeout=5\r\n' +
    'Set-Cookie: a=1\r\n' +
    'Set-Cookie: b=2\r\n' +
    'X-Request-ID: upstream-id\r\n' +
    'Proxy-Connection: keep-alive\r\n' +
    'Vary: Accept\r\n';
  const head = headOf(fields);
  t.equal(
    passedResponseLines(head, undefined),
    'Content-Type:  text/plain \r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nVary: Accept\r\n',
    'the same fields as appendResponseHeaders keeps, byte for byte',
  );
  t.same(
    pairs(appendResponseHeaders(head.headers, [])),
    [
      ['content-type', 'text/plain'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['vary', 'Accept'],
    ],
    'the parsed form agrees',
  );
  t.equal(
    passedResponseLines(head, ['vary', 'content-type']),
    'Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n',
    'names the gateway replaces are left out',
  );
  const fresh = headOf(fields);
  const all =
    'Content-Type:  text/plain \r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nVary: Accept\r\n';
  t.equal(
    passedResponseLines(fresh, ['ratelimit-limit', 'x-other']),
    all,
    'replaced names the head does not have: every field passes',
  );
  t.equal(
    passedResponseLines(fresh, ['ratelimit-limit', 'vary']),
    'Content-Type:  text/plain \r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n',
    'then one it has: left out',
  );
  t.equal(passedResponseLines(fresh, undefined), all, 'and nothing replaced: all again');
  t.equal(passedResponseLines(fresh, []), all, 'an empty list replaces nothing');
  t.equal(passedResponseLines(headOf(''), undefined), '', 'no fields');
  t.equal(
    passedResponseLines(headOf('Connection: close\r\n'), undefined),
    '',
    'nothing but hop-by-hop fields',
  );
  t.equal(
    passedResponseLines(headOf('A: 1\r\nConnection: close\r\nB: 2\r\n'), undefined),
    'A: 1\r\nB: 2\r\n',
    'runs on both sides of a dropped line',
  );
});

t.test('ResponseHead reads values from the head text', async (t) => {
  const head = headOf('A:1\r\nB: \t two words\t \r\nA: again\r\nEmpty:\r\n');
  t.equal(head.status, 200);
  t.same(head.names, ['a', 'b', 'a', 'empty']);
  t.equal(head.has('b'), true);
  t.equal(head.has('c'), false);
  t.equal(head.get('b'), 'two words', 'spaces and tabs around a value are not part of it');
  t.same(head.get('a'), ['1', 'again']);
  t.equal(head.get('empty'), '');
  t.equal(head.get('c'), undefined);
  t.same({ ...head.headers }, { a: ['1', 'again'], b: 'two words', empty: '' });
  t.equal(head.headers, head.headers, 'built once');
});

t.test('request ids', async (t) => {
  t.equal(requestIdFor('abc-123_X.y'), 'abc-123_X.y', 'well-formed id kept');
  for (const bad of ['', 'a b', 'a\nb', 'x'.repeat(129), 'é', '<script>']) {
    t.notOk(isValidRequestId(bad), JSON.stringify(bad));
    t.match(requestIdFor(bad), /^[0-9a-f-]{36}$/, 'replaced by a uuid');
  }
  t.match(
    requestIdFor(undefined),
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    'a version 4 UUID',
  );
  const ids = new Set(Array.from({ length: 2000 }, () => requestIdFor(undefined)));
  t.equal(ids.size, 2000, 'no repeats over several refills of the random pool');
  t.match(requestIdFor(['a', 'b']), /^[0-9a-f-]{36}$/, 'repeated header replaced');
  t.not(requestIdFor(undefined), requestIdFor(undefined));
});

t.test('a new request id and trace drawn together', async (t) => {
  const seen = new Set<string>();
  const traces = new Set<string>();
  // Several refills of the random pool (40 bytes each), and the template buffer reused each time.
  const all = Array.from({ length: 2000 }, () => newTraceLines());
  for (const lines of all) {
    const m =
      /^x-request-id: ([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})\r\ntraceparent: (00-[0-9a-f]{32}-[0-9a-f]{16}-00)\r\n$/.exec(
        lines,
      );
    if (m === null) {
      t.fail(`not two field lines: ${JSON.stringify(lines)}`);
      return;
    }
    const [, id, traceparent] = m as unknown as [string, string, string];
    if (!isValidTraceparent(traceparent)) t.fail(`invalid traceparent ${traceparent}`);
    if (traceLinesRequestId(lines) !== id) t.fail('traceLinesRequestId reads another id');
    if (traceLinesRequestIdLine(lines) !== `x-request-id: ${id}\r\n`) t.fail('id line differs');
    if (lines !== traceLines(id, traceparent)) t.fail('differs from traceLines');
    seen.add(id);
    traces.add(traceparent.slice(3, 35));
  }
  t.equal(seen.size, 2000, 'no id repeats');
  t.equal(traces.size, 2000, 'no trace id repeats');
});

t.test('traceparent validation and propagation', async (t) => {
  const valid = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  t.ok(isValidTraceparent(valid));
  t.ok(
    isValidTraceparent('01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra'),
    'future version may extend',
  );
  for (const bad of [
    '',
    '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra',
    'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    '00-00000000000000000000000000000000-b7ad6b7169203331-01',
    '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
    '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01',
    '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g',
    '00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    '00-0af7651916cd43dd8448eb211c80319cb7ad6b7169203331--01',
  ]) {
    t.notOk(isValidTraceparent(bad), bad);
  }
  const next = continueTraceparent(valid);
  t.match(next, /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/, 'same trace and flags');
  t.not(next.slice(36, 52), 'b7ad6b7169203331', 'new span id');
  t.ok(isValidTraceparent(next));
  const fresh = newTraceparent();
  t.ok(isValidTraceparent(fresh));
  t.not(fresh, newTraceparent());
});

t.test('tracestate is bounded', async (t) => {
  t.equal(
    boundedTracestate('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'),
    'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
  );
  t.equal(boundedTracestate(['a=1', 'b=2']), 'a=1,b=2');
  t.equal(boundedTracestate('a=1\nb=2'), undefined, 'control characters: dropped');
  const long = Array.from({ length: 40 }, (_, i) => `k${i}=${'v'.repeat(20)}`).join(',');
  const bounded = boundedTracestate(long)!;
  t.ok(bounded.length <= MAX_TRACESTATE);
  t.ok(bounded.startsWith('k0='), 'the newest (leftmost) members kept');
  t.ok(bounded.split(',').length <= 32);
  t.equal(boundedTracestate(undefined), undefined);
});

t.test('retry budget', async (t) => {
  let now = 0;
  const b = new RetryBudget(20, 3, () => now);
  for (let i = 0; i < 3; i++) t.ok(b.tryRetry(), 'the minimum is always there');
  t.notOk(b.tryRetry(), 'then spent');
  for (let i = 0; i < 100; i++) b.request();
  let granted = 0;
  while (b.tryRetry()) granted++;
  t.equal(granted, 17, '20% of 100 requests, minus the 3 taken');
  t.equal(new RetryBudget().minPerWindow, 10, 'default floor: 10 retries per window');
  now += 11_000;
  t.ok(b.tryRetry(), 'the window slides');
});
