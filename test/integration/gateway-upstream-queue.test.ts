/**
 * Requests waiting for a connection to an upstream (gateway/upstream/pool.ts), on real local
 * servers: the line is bounded by `maxPending` (one more fails at once with `overflow`), a
 * waiting request's timeout runs while it waits (`queueTimeout`), and one sent after a wait
 * gets only what is left of its timeout; one given up while it waits leaves the line unsent.
 * Through the gateway (real nats-server and registry): an overflow is a 503 that does not count
 * against the instance, a queue timeout a 504, /pools and the gauges show the connections and
 * the waiting request, and a client that leaves while its request waits costs no connection.
 */
import type { ServerResponse } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import t from 'tap';
import { ControlMetrics } from '../../gateway/control-metrics.js';
import { UpstreamErrorCode } from '../../gateway/upstream/types.js';
import { MetricsRegistry } from '../../transport/metrics.js';
import { eventually } from '../helpers/eventually.js';
import {
  httpRequest,
  route,
  simpleTable,
  startGateway,
  startRegistry,
} from '../helpers/gateway-harness.js';
import {
  Collector,
  httpUpstream,
  makePool,
  req,
  run,
  within,
} from '../helpers/upstream-pool-rig.js';

t.test('the waiting line is bounded by maxPending', async (t) => {
  const held: ServerResponse[] = [];
  const up = await httpUpstream(t, (_req, res) => held.push(res));
  const pool = makePool(t, up.port, { connections: 1, maxPending: 2 });
  const collectors = [new Collector(), new Collector(), new Collector(), new Collector()];
  for (const [i, c] of collectors.entries()) pool.dispatch(req('GET', `/r${i}`), c);
  t.equal(pool.queued, 2, 'two wait');
  const overflow = await within(collectors[3]!.done, 1000, 'the fourth fails at once');
  t.equal(overflow.errors[0]?.code, UpstreamErrorCode.overflow, 'the fourth overflowed');
  t.same(overflow.calls, ['error'], 'it was never started');
  const answered = (async () => {
    for (let i = 0; i < 3; i++) {
      while (held.length <= i) await new Promise((r) => setTimeout(r, 5));
      held[i]!.end(`r${i}`);
    }
  })();
  const outs = await Promise.all(collectors.slice(0, 3).map((c) => within(c.done, 5000, 'done')));
  await answered;
  t.same(
    outs.map((o) => [o.status, o.body.toString()]),
    [
      [200, 'r0'],
      [200, 'r1'],
      [200, 'r2'],
    ],
    'the others are answered in order',
  );
  t.equal(up.accepted, 1, 'on the one connection');

  const none = makePool(t, up.port, { connections: 1, maxPending: 0 });
  const first = new Collector();
  none.dispatch(req('GET', '/first'), first);
  const second = await run(none, req('GET', '/second'), undefined, 1000);
  t.equal(second.errors[0]?.code, UpstreamErrorCode.overflow, 'maxPending 0: no waiting at all');
  while (held.length < 4) await new Promise((r) => setTimeout(r, 5));
  held[3]!.end('first');
  t.equal((await within(first.done, 5000, 'first')).status, 200);
});

t.test("a waiting request's timeout runs while it waits", async (t) => {
  const up = await httpUpstream(t, (r, res) => {
    setTimeout(() => res.end(r.url), r.url === '/slow' ? 600 : 0);
  });
  const pool = makePool(t, up.port, { connections: 1 });
  const started = performance.now();
  const slow = run(pool, req('GET', '/slow'));
  const waiting = await run(pool, req('GET', '/fast', { headersTimeout: 150 }));
  const waited = performance.now() - started;
  t.equal(waiting.errors[0]?.code, UpstreamErrorCode.queueTimeout, 'it timed out in the line');
  t.ok(waited >= 150 && waited < 450, `after its timeout, not after the slow one (${waited} ms)`);
  t.equal(pool.queued, 0, 'and left the line');
  t.equal((await slow).status, 200, 'the running request is untouched');
});

t.test('a request sent after waiting gets what is left of its timeout', async (t) => {
  const up = await httpUpstream(t, (r, res) => setTimeout(() => res.end(r.url), 300));
  const pool = makePool(t, up.port, { connections: 1 });
  const first = run(pool, req('GET', '/first'));
  // 450 ms would cover the 300 ms answer, but ~300 ms of it go by in the line.
  const second = await run(pool, req('GET', '/second', { headersTimeout: 450 }));
  t.equal((await first).status, 200);
  t.equal(second.errors[0]?.code, UpstreamErrorCode.headersTimeout, 'the rest ran out upstream');
  t.same(second.calls, ['requestStart', 'error'], 'it was sent, then timed out');
});

t.test('a request whose timeout passed in the line is never sent', async (t) => {
  const seen: string[] = [];
  const up = await httpUpstream(t, (r, res) => {
    seen.push(r.url ?? '');
    setTimeout(() => res.end(r.url), 20);
  });
  const pool = makePool(t, up.port, { connections: 1 });
  const first = run(pool, req('GET', '/first'));
  // 1 ms: gone long before the first answer frees the connection, and before the clock ticks.
  const second = await run(pool, req('POST', '/second', { headersTimeout: 1 }));
  t.equal((await first).status, 200);
  t.equal(second.errors[0]?.code, UpstreamErrorCode.queueTimeout);
  t.same(second.calls, ['error'], 'never started');
  t.same(seen, ['/first'], 'the upstream got only the first');
});

t.test('a request given up in the line leaves it, never sent', async (t) => {
  const held: ServerResponse[] = [];
  const seen: string[] = [];
  const up = await httpUpstream(t, (r, res) => {
    seen.push(r.url ?? '');
    held.push(res);
  });
  const pool = makePool(t, up.port, { connections: 1, maxPending: 1 });
  const first = new Collector();
  pool.dispatch(req('GET', '/first'), first);
  const given = new Collector();
  pool.dispatch(req('GET', '/given-up'), given);
  t.equal(pool.queued, 1, 'it waits');
  given.abandoned = true;
  const out = await within(given.done, 1000, 'it leaves the line at the next tick');
  t.equal(out.errors[0]?.code, UpstreamErrorCode.abandoned);
  t.same(out.calls, ['error'], 'never started');
  t.equal(pool.queued, 0, 'the line is empty');

  // A full line of given-up requests makes room for a live one at once.
  const stale = new Collector();
  pool.dispatch(req('GET', '/stale'), stale);
  stale.abandoned = true;
  const live = new Collector();
  pool.dispatch(req('GET', '/live'), live);
  t.equal((await within(stale.done, 1000, 'stale')).errors[0]?.code, UpstreamErrorCode.abandoned);
  t.equal(pool.queued, 1, 'the live one waits in its place');

  while (held.length < 1) await new Promise((r) => setTimeout(r, 5));
  held[0]!.end('first');
  t.equal((await within(first.done, 5000, 'first')).status, 200);
  while (held.length < 2) await new Promise((r) => setTimeout(r, 5));
  held[1]!.end('live');
  t.equal((await within(live.done, 5000, 'live')).status, 200);
  t.same(seen, ['/first', '/live'], 'the upstream never got the given-up requests');
  t.equal(up.accepted, 1, 'and the one connection was kept');
});

t.test('through the gateway: overflow is 503, a timeout in the line 504', async (t) => {
  const reg = await startRegistry(t);
  const held: ServerResponse[] = [];
  const up = await httpUpstream(t, (_req, res) => held.push(res));
  await reg.services.register({ service: 'api', host: '127.0.0.1', port: up.port });
  const table = simpleTable([
    route('api', 'api', { match: { path: { prefix: '/api' } }, timeoutMs: 200 }),
  ]);
  const full = await startGateway(t, reg.url, table, {
    upstream: { connections: 1, maxPending: 0 },
  });
  const running = httpRequest(full.port, { path: '/api/held' });
  while (held.length < 1) await new Promise((r) => setTimeout(r, 5));
  const over = await httpRequest(full.port, { path: '/api/more' });
  t.equal(over.status, 503, 'no room to wait: 503');
  t.match(JSON.parse(over.body), { message: 'too many requests wait for the upstream' });
  held[0]!.end('done');
  t.equal((await running).status, 200);
  const snapshot = full.gateway.pools().find((p) => p.service === 'api')!;
  t.ok(
    snapshot.members.every((m) => !m.ejected && m.ejections === 0),
    'the instance is not blamed',
  );

  const queued = await startGateway(t, reg.url, table, { upstream: { connections: 1 } });
  const metrics = new MetricsRegistry();
  new ControlMetrics(metrics, {
    report: () => ({ routes: [], problems: [] }),
    liveGateways: () => 1,
    registry: () => undefined,
    pools: () => queued.gateway.pools(),
  });
  const holding = httpRequest(queued.port, { path: '/api/held' });
  while (held.length < 2) await new Promise((r) => setTimeout(r, 5));
  const started = performance.now();
  const lateReply = httpRequest(queued.port, { path: '/api/waits' });
  await eventually(() => queued.gateway.pools()[0]?.members[0]?.queued === 1, {
    what: 'the second request waiting',
  });
  t.match(queued.gateway.pools()[0]!.members[0], { connections: 1, queued: 1 }, '/pools shows it');
  const text = metrics.render();
  t.match(text, /roster_gateway_upstream_queued\{service="api"\} 1/, 'the queued gauge');
  t.match(text, /roster_gateway_upstream_connections\{service="api"\} 1/, 'the connections gauge');
  const late = await lateReply;
  t.equal(late.status, 504, 'the route timeout ran out in the line: 504');
  t.ok(performance.now() - started < 1000, 'at the route timeout');
  t.equal((await holding).status, 504, 'the held one timed out upstream');
  held[1]!.end('late');
});

t.test(
  'through the gateway: a client that leaves while it waits costs no connection',
  async (t) => {
    const reg = await startRegistry(t);
    const held: ServerResponse[] = [];
    const seen: string[] = [];
    const up = await httpUpstream(t, (r, res) => {
      seen.push(r.url ?? '');
      held.push(res);
    });
    await reg.services.register({ service: 'api', host: '127.0.0.1', port: up.port });
    const table = simpleTable([route('api', 'api', { match: { path: { prefix: '/api' } } })]);
    const gw = await startGateway(t, reg.url, table, { upstream: { connections: 1 } });
    const holding = httpRequest(gw.port, { path: '/api/held' });
    while (held.length < 1) await new Promise((r) => setTimeout(r, 5));
    const leaving = tcpConnect(gw.port, '127.0.0.1', () => {
      leaving.write('GET /api/gone HTTP/1.1\r\nHost: gw.test\r\n\r\n');
    });
    leaving.on('error', () => undefined);
    const member = () => gw.gateway.pools()[0]?.members[0];
    await eventually(() => member()?.queued === 1, { what: 'the second request waiting' });
    leaving.destroy();
    await eventually(() => member()?.queued === 0, { what: 'it left the line with its client' });
    held[0]!.end('held');
    t.equal((await holding).status, 200, 'the held request is answered');
    const after = httpRequest(gw.port, { path: '/api/after' });
    while (held.length < 2) await new Promise((r) => setTimeout(r, 5));
    t.same(seen, ['/api/held', '/api/after'], 'the upstream never got the one whose client left');
    held[1]!.end('after');
    t.equal((await after).status, 200);
    t.equal(up.accepted, 1, 'on the one connection, kept');
  },
);
