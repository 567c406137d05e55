/**
 * Response headers from plugins reach the client only when they are safe to write: a CR/LF in
 * a value (response splitting), a framing or hop-by-hop name, or the gateway's own
 * x-request-id are dropped and logged — on proxied responses, on a plugin's own answer and on
 * the gateway's error answers, through the edge and through Node's server alike.
 */
import pino from 'pino';
import t, { type Test } from 'tap';
import type { Plugin, RequestContext } from '../../gateway/types.js';
import {
  rawExchange,
  rawStatus,
  route,
  simpleTable,
  startGateway,
  startRegistry,
  startUpstream,
} from '../helpers/gateway-harness.js';

const badHeaders: Plugin = {
  name: 'bad-headers',
  onRequest(ctx: RequestContext) {
    const h = ctx.responseHeaders;
    h['x-good'] = 'yes';
    h['X-Upstream'] = 'replaced'; // the upstream sends x-upstream too
    h['x-evil'] = 'a\r\nx-injected: 1';
    h['content-length'] = '0';
    h['x-request-id'] = 'mine';
    h['bad name'] = 'v';
    if (ctx.req.headers['x-answer'] !== '1') return undefined;
    return {
      status: 403,
      body: 'no',
      headers: { 'x-own': 'ok', 'transfer-encoding': 'chunked', 'x-split': 'b\nc' },
      reason: 'test',
    };
  },
};

/** Header lines of the first response in raw text, lower-cased names. */
function headerLines(raw: string): string[] {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
  return head
    .split('\r\n')
    .slice(1)
    .map((l) => l.toLowerCase());
}

t.test('unsafe plugin response headers are dropped, the rest written', async (t) => {
  const reg = await startRegistry(t);
  const up = await startUpstream(t, 'a');
  await reg.services.register({ service: 'api', host: '127.0.0.1', port: up.port });
  const table = simpleTable(
    [
      route('bad', 'api', { match: { path: { prefix: '/bad' } } }),
      route('none', 'nobody', { match: { path: { prefix: '/none' } } }),
    ],
    { bad: [badHeaders], none: [badHeaders] },
  );
  const lines: { msg: string; header?: string; problem?: string }[] = [];
  const logger = pino({ level: 'error' }, { write: (m: string) => void lines.push(JSON.parse(m)) });
  const { port } = await startGateway(t, reg.url, table, { logger });

  const check = (t: Test, raw: string, status: number, extra: string[]) => {
    t.equal(rawStatus(raw), status, `status ${status}`);
    const h = headerLines(raw);
    t.ok(h.includes('x-good: yes'), 'the safe plugin header is there');
    t.same(
      h.filter((l) => l.startsWith('x-upstream:')),
      ['x-upstream: replaced'],
      'a plugin header replaces the upstream’s of the same name (any case)',
    );
    for (const line of extra) t.ok(h.includes(line), `${line} is there`);
    t.notOk(
      h.some((l) => l.startsWith('x-injected') || l.startsWith('x-evil')),
      'no injected line',
    );
    t.notOk(
      h.some((l) => l.startsWith('x-split') || l === 'c'),
      'no split value',
    );
    t.notOk(h.includes('x-request-id: mine'), 'x-request-id stays the gateway’s');
    t.equal(h.filter((l) => l.startsWith('x-request-id:')).length, 1, 'one x-request-id');
    t.notOk(
      h.some((l) => l.startsWith('bad name')),
      'no invalid name',
    );
    // Framing is the gateway's own: one Content-Length that fits the body, or chunked.
    t.notOk(h.includes('content-length: 0'), 'not the plugin’s Content-Length');
    const lengths = h.filter((l) => l.startsWith('content-length:'));
    const chunked = h.filter((l) => l === 'transfer-encoding: chunked');
    t.equal(lengths.length + chunked.length, 1, 'exactly one framing header');
    const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
    if (lengths.length === 1) {
      t.equal(Number(lengths[0]?.split(':')[1]), Buffer.byteLength(body), 'the length fits');
    } else {
      t.match(body, /^[0-9a-f]+\r\n[\s\S]*\r\n0\r\n\r\n$/, 'a whole chunked body');
    }
  };

  await t.test('proxied response, through the edge', async (t) => {
    const raw = await rawExchange(
      port,
      'GET /bad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    check(t, raw, 200, []);
  });

  await t.test('proxied response, through Node’s server (a request with a body)', async (t) => {
    const raw = await rawExchange(
      port,
      'POST /bad HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi',
    );
    check(t, raw, 200, []);
  });

  await t.test('the plugin’s own answer', async (t) => {
    const raw = await rawExchange(
      port,
      'GET /bad HTTP/1.1\r\nHost: x\r\nX-Answer: 1\r\nConnection: close\r\n\r\n',
    );
    check(t, raw, 403, ['x-own: ok']);
    t.notOk(
      headerLines(raw).some((l) => l.startsWith('transfer-encoding')),
      'no plugin TE',
    );
    t.equal(raw.slice(raw.indexOf('\r\n\r\n') + 4), 'no');
  });

  await t.test('the gateway’s error answer', async (t) => {
    const raw = await rawExchange(
      port,
      'GET /none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    check(t, raw, 503, []);
  });

  const refused = lines.filter((l) => l.msg === 'plugin response header refused');
  t.ok(refused.length >= 4, `each response logged its refusal (${refused.length})`);
  t.ok(
    refused.every((l) => typeof l.header === 'string' && typeof l.problem === 'string'),
    'with the header and the problem',
  );
});
