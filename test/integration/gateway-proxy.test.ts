/**
 * The gateway data plane end to end: a real nats-server, an in-process registry node, real
 * upstream HTTP servers registered as instances, and a Gateway whose table is built with the
 * router (and small inline plugins where a case needs one).
 */
import { Agent } from 'node:http';
import t from 'tap';
import type { Plugin, RequestContext } from '../../gateway/types.js';
import { MetricsRegistry } from '../../transport/metrics.js';
import { eventually } from '../helpers/eventually.js';
import {
  httpRequest,
  route,
  simpleTable,
  startGateway,
  startRegistry,
  startUpstream,
} from '../helpers/gateway-harness.js';
import { promSum } from '../helpers/watch-log.js';

const limit100: Plugin = {
  name: 'limit',
  onRequest(ctx: RequestContext) {
    ctx.bodyLimit = 100;
    return undefined;
  },
};
const denyWithoutKey: Plugin = {
  name: 'deny',
  onRequest(ctx: RequestContext) {
    ctx.responseHeaders['x-plugin'] = 'seen';
    if (ctx.req.headers['x-key'] === 'ok') return undefined;
    return {
      status: 401,
      body: '{"code":"ROSTER_ERR_UNAUTHORIZED"}',
      headers: { 'content-type': 'application/json' },
      reason: 'no_key',
    };
  },
};
const asyncAllow: Plugin = {
  name: 'async',
  onRequest(ctx: RequestContext) {
    return new Promise((resolve) =>
      setTimeout(
        () =>
          resolve(
            ctx.req.headers['x-allow'] === '1' ? undefined : { status: 403, reason: 'async_no' },
          ),
        5,
      ),
    );
  },
};
const seenClientIp: string[] = [];
const recordIp: Plugin = {
  name: 'record-ip',
  onRequest(ctx: RequestContext) {
    seenClientIp.push(ctx.clientIp);
    return undefined;
  },
};

t.test('gateway data plane', async (t) => {
  const reg = await startRegistry(t);
  const a = await startUpstream(t, 'a');
  const b = await startUpstream(t, 'b');
  const slow = await startUpstream(t, 'slow');
  slow.handler = (_req, res) => {
    setTimeout(() => res.end('late'), 1500).unref();
  };
  const flaky = await startUpstream(t, 'flaky');
  let flakyCalls = 0;
  flaky.handler = (_req, res) => {
    flakyCalls++;
    res.writeHead(flakyCalls % 2 === 1 ? 503 : 200).end(flakyCalls % 2 === 1 ? 'busy' : 'fine');
  };
  const dead = await startUpstream(t, 'dead');
  const deadPort = dead.port;
  await dead.close();

  await reg.services.register({ service: 'api', host: '127.0.0.1', port: a.port, id: 'api-a' });
  await reg.services.register({ service: 'api', host: '127.0.0.1', port: b.port, id: 'api-b' });
  await reg.services.register({ service: 'slow', host: '127.0.0.1', port: slow.port });
  await reg.services.register({ service: 'flaky', host: '127.0.0.1', port: flaky.port });
  await reg.services.register({
    service: 'half',
    host: '127.0.0.1',
    port: deadPort,
    id: 'half-dead',
  });
  await reg.services.register({
    service: 'half',
    host: '127.0.0.1',
    port: a.port,
    id: 'half-live',
  });

  const table = simpleTable(
    [
      route('api', 'api', { match: { path: { prefix: '/api' } }, stripPrefix: true }),
      route('exact', 'api', { match: { path: { exact: '/exact' } }, rewrite: '/rewritten' }),
      route('empty', 'nobody', { match: { path: { prefix: '/empty' } } }),
      route('slow', 'slow', { match: { path: { prefix: '/slow' } }, timeoutMs: 300 }),
      route('flaky', 'flaky', { match: { path: { prefix: '/flaky' } }, retries: { attempts: 2 } }),
      route('half', 'half', { match: { path: { prefix: '/half' } } }),
      route('limited', 'api', { match: { path: { prefix: '/limited' } } }),
      route('guarded', 'api', { match: { path: { prefix: '/guarded' } } }),
      route('async', 'api', { match: { path: { prefix: '/async' } } }),
      route('ip', 'api', { match: { path: { prefix: '/ip' } } }),
    ],
    { limited: [limit100], guarded: [denyWithoutKey], async: [asyncAllow], ip: [recordIp] },
  );
  const metrics = new MetricsRegistry();
  const { port, gateway } = await startGateway(t, reg.url, table, {
    metrics,
    trustedHops: 1,
    maxHeaderBytes: 4096,
  });
  t.ok(gateway.ready, 'ready once every routed service synced');

  await t.test('routes to registered instances, round robin, strip prefix', async (t) => {
    const names = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await httpRequest(port, { path: `/api/items/${i}?q=${i}` });
      t.equal(r.status, 200);
      const body = JSON.parse(r.body) as { name: string; url: string };
      t.equal(body.url, `/items/${i}?q=${i}`, 'prefix stripped, query kept');
      names.add(body.name);
    }
    t.same([...names].sort(), ['a', 'b'], 'both instances served');
    const r = await httpRequest(port, { path: '/exact' });
    t.equal(JSON.parse(r.body).url, '/rewritten');
  });

  await t.test('keep-alive client connections are reused across requests', async (t) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => agent.destroy());
    for (let i = 0; i < 20; i++) {
      const r = await httpRequest(port, { path: '/api/k', agent });
      t.equal(r.status, 200);
    }
  });

  await t.test('404 with a JSON error and a request id', async (t) => {
    const r = await httpRequest(port, { path: '/nowhere' });
    t.equal(r.status, 404);
    t.equal(JSON.parse(r.body).code, 'ROSTER_ERR_NOT_FOUND');
    t.match(r.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  });

  await t.test('503 when the pool is empty', async (t) => {
    const r = await httpRequest(port, { path: '/empty' });
    t.equal(r.status, 503);
    t.equal(JSON.parse(r.body).code, 'ROSTER_ERR_NO_RESPONDERS');
  });

  await t.test('504 after the route timeout', async (t) => {
    const started = Date.now();
    const r = await httpRequest(port, { path: '/slow' });
    t.equal(r.status, 504);
    t.equal(JSON.parse(r.body).code, 'ROSTER_ERR_TIMEOUT');
    t.ok(Date.now() - started < 1400, 'answered before the upstream would have');
  });

  await t.test('retries: GET retried on 503, POST not', async (t) => {
    flakyCalls = 0;
    const g = await httpRequest(port, { path: '/flaky/x' });
    t.equal(g.status, 200, 'the retry succeeded');
    t.equal(flakyCalls, 2, 'two attempts');
    flakyCalls = 0;
    const p = await httpRequest(port, { method: 'POST', path: '/flaky/x', body: 'data' });
    t.equal(p.status, 503, 'POST is not retried on a 503');
    t.equal(flakyCalls, 1);
    t.ok(promSum(metrics.render(), 'roster_gateway_retries_total') >= 1, 'retries counted');
  });

  await t.test('connect errors are retried on another instance', async (t) => {
    for (let i = 0; i < 6; i++) {
      const r = await httpRequest(port, { method: i % 2 ? 'POST' : 'GET', path: '/half' });
      t.equal(r.status, 200, `request ${i}`);
    }
  });

  await t.test('413 for bodies over the limit a plugin set', async (t) => {
    const before = a.seen.length + b.seen.length;
    const big = 'x'.repeat(500);
    const r1 = await httpRequest(port, { method: 'POST', path: '/limited', body: big });
    t.equal(r1.status, 413, 'declared length over the limit');
    t.equal(JSON.parse(r1.body).code, 'ROSTER_ERR_MESSAGE_TOO_LARGE');
    const r2 = await httpRequest(port, {
      method: 'POST',
      path: '/limited',
      headers: { 'transfer-encoding': 'chunked' },
      body: big,
    });
    t.equal(r2.status, 413, 'chunked body over the limit while streaming');
    const ok = await httpRequest(port, { method: 'POST', path: '/limited', body: 'small' });
    t.equal(ok.status, 200);
    const seen = [...a.seen, ...b.seen];
    t.equal(seen.length, before + 1, 'only the small body reached an upstream');
    t.ok(seen.some((s) => s.url === '/limited' && s.body === 'small'));
  });

  await t.test('431 for oversized headers', async (t) => {
    const r = await httpRequest(port, { path: '/api/x', headers: { 'x-big': 'y'.repeat(8000) } });
    t.equal(r.status, 431);
  });

  await t.test('400 for refused targets, never forwarded', async (t) => {
    const before = a.seen.length + b.seen.length;
    for (const path of [
      '/api/%2e%2e/admin',
      '/api/..%2fadmin',
      '/api/a%00',
      '/api/..;/x',
      '/../api',
    ]) {
      const r = await httpRequest(port, { path });
      t.equal(r.status, 400, path);
      t.equal(JSON.parse(r.body).code, 'ROSTER_ERR_INVALID_ARGUMENT');
    }
    t.equal(a.seen.length + b.seen.length, before, 'nothing reached an upstream');
    const r = await httpRequest(port, { path: '/x/../api//items/./1' });
    t.equal(r.status, 200, 'a plain traversal is resolved, then routed');
    t.equal(JSON.parse(r.body).url, '/items/1', 'the upstream sees the normalized path');
  });

  await t.test(
    'plugins: short-circuit with headers, continue, async, rejection metric',
    async (t) => {
      const denied = await httpRequest(port, { path: '/guarded' });
      t.equal(denied.status, 401);
      t.equal(denied.headers['x-plugin'], 'seen', 'plugin response headers on the rejection');
      t.match(denied.headers['x-request-id'], /.+/);
      const allowed = await httpRequest(port, { path: '/guarded', headers: { 'x-key': 'ok' } });
      t.equal(allowed.status, 200);
      t.equal(
        allowed.headers['x-plugin'],
        'seen',
        'plugin response headers on the proxied response',
      );
      t.equal((await httpRequest(port, { path: '/async' })).status, 403);
      t.equal(
        (await httpRequest(port, { path: '/async', headers: { 'x-allow': '1' } })).status,
        200,
      );
      const text = metrics.render();
      t.equal(
        promSum(text, 'roster_gateway_plugin_rejections_total', {
          plugin: 'deny',
          reason: 'no_key',
        }),
        1,
      );
      t.equal(
        promSum(text, 'roster_gateway_plugin_rejections_total', {
          plugin: 'async',
          reason: 'async_no',
        }),
        1,
      );
    },
  );

  await t.test('X-Forwarded-For: spoofed entries beyond the trusted hop are ignored', async (t) => {
    seenClientIp.length = 0;
    await httpRequest(port, {
      path: '/ip/xff',
      headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.7' },
    });
    t.same(seenClientIp, ['203.0.113.7'], 'the client is one hop left of the socket');
    const seen = [...a.seen, ...b.seen].filter((s) => s.url === '/ip/xff');
    t.equal(
      seen[0]?.headers['x-forwarded-for'],
      '203.0.113.7, 127.0.0.1',
      'the spoofed 6.6.6.6 is dropped',
    );
    t.equal(
      seen[0]?.headers.forwarded,
      'for=203.0.113.7, for=127.0.0.1;host="127.0.0.1:' + port + '";proto=http',
    );
  });

  await t.test('request id and traceparent are propagated', async (t) => {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const r = await httpRequest(port, {
      path: '/api/trace',
      headers: { 'x-request-id': 'req-42', traceparent: tp, tracestate: 'rojo=1' },
    });
    t.equal(r.headers['x-request-id'], 'req-42', 'kept and echoed');
    const up = [...a.seen, ...b.seen].find((s) => s.url === '/trace')!;
    t.equal(up.headers['x-request-id'], 'req-42');
    t.match(up.headers.traceparent, /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    t.not(up.headers.traceparent, tp, 'a new span id');
    t.equal(up.headers.tracestate, 'rojo=1');
    const r2 = await httpRequest(port, {
      path: '/api/trace2',
      headers: { traceparent: 'nonsense', tracestate: 'x=1' },
    });
    const up2 = [...a.seen, ...b.seen].find((s) => s.url === '/trace2')!;
    t.match(up2.headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'a new trace');
    t.equal(up2.headers.tracestate, undefined, 'tracestate dropped with an invalid parent');
    t.match(r2.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  });

  await t.test('metrics', async (t) => {
    const text = metrics.render();
    t.ok(
      promSum(text, 'roster_gateway_requests_total', { route: 'api', status_class: '2xx' }) >= 4,
    );
    t.ok(promSum(text, 'roster_gateway_requests_total', { route: '', status_class: '4xx' }) >= 1);
    t.ok(promSum(text, 'roster_gateway_request_duration_seconds_count', { route: 'api' }) >= 4);
    t.ok(promSum(text, 'roster_gateway_upstream_duration_seconds_count', { service: 'api' }) >= 4);
    t.equal(promSum(text, 'roster_gateway_pool_size', { service: 'api' }), 2);
    await eventually(
      () =>
        promSum(metrics.render(), 'roster_gateway_requests_total', {
          route: 'slow',
          status_class: '5xx',
        }) === 1,
    );
  });

  await t.test('admin snapshot of the pools', async (t) => {
    const api = gateway.pools().find((p) => p.service === 'api');
    t.equal(api?.size, 2);
    t.equal(api?.synced, true);
    t.same(api?.members.map((m) => m.id).sort(), ['api-a', 'api-b']);
    t.ok(api?.members.every((m) => m.outstanding === 0 && m.ejected === false));
  });
});
