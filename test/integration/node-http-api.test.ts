/**
 * The registry node's HTTP API against a real nats-server and two in-process nodes (h1 with
 * a bearer token, h2 open): every endpoint, its errors and its authentication. A session
 * opened over HTTP is an ordinary registry session: its instance is visible through a NATS
 * query and on the other node, renewals keep it, and it expires after its TTL when they
 * stop. The node keeps only the secret's hash.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { connect } from '../../client/index.js';
import { startNodeHttpServer } from '../../nodes/http/index.js';
import { eventually } from '../helpers/eventually.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { type CallOptions, call, startHttpNodes } from '../helpers/node-http.js';

const TOKEN = 'http-test-token-0123456789';
type Body = Record<string, unknown>;

t.test('registry node HTTP API', async (t) => {
  const server = await natsServerFor(t);
  const [a, b] = await startHttpNodes(t, server.url, [
    { id: 'h1', http: { token: TOKEN } },
    { id: 'h2' },
  ]);
  const client = await connect({ servers: server.url, name: 'http-api-observer' });
  t.teardown(() => client.close());
  const api = <T = Body>(method: string, path: string, options: CallOptions = {}) =>
    call<T>(a!.url, method, path, { token: TOKEN, ...options });
  const open = async (ttlMs: number) => {
    const res = await api<{ sessionId: string; secret: string }>('POST', '/v1/sessions', {
      json: { ttlMs, name: 'http-test' },
    });
    if (res.status !== 201)
      throw new Error(`open session: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const ids = async (service: string) => (await client.discover(service)).map((i) => i.id).sort();
  /** `service`'s ids once `count` remain: the query may be answered by the node still replicating. */
  const idsWhen = (service: string, count: number, what: string, timeoutMs = 2_000) =>
    eventually(
      async () => {
        const left = await ids(service);
        return left.length === count ? left : undefined;
      },
      { what, timeoutMs },
    );

  await t.test('authentication', async (t) => {
    const none = await call(a!.url, 'GET', '/v1/services');
    t.equal(none.status, 401, 'no token: 401');
    t.equal(none.body.code, 'ROSTER_ERR_UNAUTHORIZED');
    t.match(none.headers.get('www-authenticate'), /^Bearer /, 'WWW-Authenticate: Bearer');
    const wrong = await call(a!.url, 'GET', '/v1/services', { token: 'not-the-token' });
    t.equal(wrong.status, 401, 'wrong token: 401');
    t.match(wrong.body.message, /not valid/);
    const lower = await call(a!.url, 'GET', '/v1/services', {
      headers: { authorization: `bearer ${TOKEN}` },
    });
    t.equal(lower.status, 200, 'the scheme is case-insensitive');
    for (const [method, path] of [
      ['GET', '/v1/services/web'],
      ['GET', '/v1/nodes'],
      ['GET', '/v1/health'],
      ['GET', '/metrics'],
      ['GET', '/openapi.json'],
      ['POST', '/v1/sessions'],
      ['POST', '/v1/sessions/s-1/renew'],
      ['DELETE', '/v1/sessions/s-1'],
      ['PUT', '/v1/services/web/instances/w-1'],
      ['DELETE', '/v1/services/web/instances/w-1'],
    ] as const) {
      const res = await call(a!.url, method, path);
      t.equal(res.status, 401, `${method} ${path} without the token: 401`);
    }
    for (const path of ['/ui/', '/ui/app.js', '/ui/style.css', '/healthz', '/readyz']) {
      t.equal((await call(a!.url, 'GET', path)).status, 200, `${path} is public by default`);
    }
    const redirect = await call(a!.url, 'GET', '/ui?x=1');
    t.equal(redirect.status, 302, '/ui redirects');
    t.equal(redirect.headers.get('location'), '/ui/?x=1', 'to /ui/, keeping the query');
    t.equal((await call(b!.url, 'GET', '/v1/services')).status, 200, 'h2 has no token: open');

    const publicParts = await startNodeHttpServer({
      node: a!.node,
      bus: a!.bus,
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      publicParts: ['metrics', 'openapi', 'health'],
    });
    t.teardown(() => publicParts.close());
    for (const path of ['/metrics', '/openapi.json', '/v1/health']) {
      t.equal((await call(publicParts.url, 'GET', path)).status, 200, `${path} public by option`);
    }
    t.equal((await call(publicParts.url, 'GET', '/ui/')).status, 401, '/ui/ not public there');
    t.equal((await call(publicParts.url, 'GET', '/v1/nodes')).status, 401, '/v1 still needs it');
  });

  await t.test('a session over HTTP: registered, seen over NATS, renewed, expired', async (t) => {
    const opened = await api<Body>('POST', '/v1/sessions', { json: { ttlMs: 1_000 } });
    t.equal(opened.status, 201, 'POST /v1/sessions: 201');
    const { sessionId, secret } = opened.body as { sessionId: string; secret: string };
    t.equal(opened.headers.get('location'), `/v1/sessions/${sessionId}`, 'Location header');
    t.match(opened.body, { ttlMs: 1_000, node: 'h1' });
    t.ok(secret.length >= 16, 'a secret of at least 16 characters');

    const put = await api('PUT', '/v1/services/web/instances/web-1', {
      json: { sessionId, secret, host: '10.1.0.1', port: 8080, tags: ['blue'], meta: { v: '1' } },
    });
    t.equal(put.status, 200, 'PUT instance: 200');
    t.match(put.body, { ownerNode: 'h1', sessionId, instanceId: 'web-1', ttlMs: 1_000 });

    // The query may be answered by h2, which learns of web-1 by replication.
    const seen = await eventually(
      async () => (await client.discover('web')).find((i) => i.id === 'web-1'),
      { what: 'web-1 seen over NATS', timeoutMs: 2_000 },
    );
    t.match(seen, { host: '10.1.0.1', port: 8080, tags: ['blue'], sessionId, ownerNode: 'h1' });
    t.same({ ...seen?.meta }, { v: '1' }, 'meta as given');
    const stored = a!.node.store.getSession(sessionId);
    t.equal(
      stored?.secretHash,
      createHash('sha256').update(secret).digest('hex'),
      'the node keeps the hash',
    );
    t.notOk(JSON.stringify(stored).includes(secret), 'and never the secret');

    await eventually(
      async () => {
        const res = await call<{ instances: { id: string }[] }>(b!.url, 'GET', '/v1/services/web');
        return res.body.instances.some((i) => i.id === 'web-1');
      },
      { what: 'h2 lists web-1' },
    );
    const catalog = await api<{ services: Body[] }>('GET', '/v1/services');
    t.same(catalog.body.services, [{ name: 'web', instances: 1, passing: 1 }], 'the catalog');
    const one = await api<{ revision: unknown[]; node: string }>('GET', '/v1/services/web');
    t.equal(one.body.node, 'h1');
    t.ok(one.body.revision.length > 0, 'with a revision');

    // Renewed every 300 ms, it outlives its 1 s TTL twice over.
    const renewUntil = Date.now() + 2_200;
    while (Date.now() < renewUntil) {
      const renewed = await api('POST', `/v1/sessions/${sessionId}/renew`, { json: { secret } });
      t.equal(renewed.status, 200, 'renew: 200');
      await sleep(300);
    }
    t.same(await ids('web'), ['web-1'], 'still registered after 2.2 s of renewals');

    // Not renewed: gone within the TTL (plus the lease check and propagation).
    const stopped = Date.now();
    await idsWhen('web', 0, 'web-1 expired', 1_000 + 2_000);
    t.comment(`expired ${Date.now() - stopped} ms after the last renewal`);
    const late = await api('POST', `/v1/sessions/${sessionId}/renew`, {
      headers: { 'x-roster-session-secret': secret },
    });
    t.equal(late.status, 404, 'renewing an expired session: 404');
    t.equal(late.body.code, 'ROSTER_ERR_UNKNOWN_SESSION');
  });

  await t.test('deregister an instance, close a session', async (t) => {
    const { sessionId, secret } = await open(30_000);
    for (const id of ['api-1', 'api-2']) {
      const res = await api('PUT', `/v1/services/api/instances/${id}`, {
        json: { sessionId, secret, host: '10.2.0.1', port: 9000, service: 'api', id },
      });
      t.equal(res.status, 200, `PUT ${id}`);
    }
    t.same(await idsWhen('api', 2, 'both instances on both nodes'), ['api-1', 'api-2']);
    const del = await api(
      'DELETE',
      `/v1/services/api/instances/api-1?sessionId=${encodeURIComponent(sessionId)}`,
      { headers: { 'x-roster-session-secret': secret } },
    );
    t.equal(del.status, 200, 'DELETE instance: 200');
    t.same(del.body, { service: 'api', id: 'api-1', removed: true });
    t.same(await idsWhen('api', 1, 'api-1 gone on both nodes'), ['api-2'], 'api-1 is gone');
    const again = await api('DELETE', '/v1/services/api/instances/api-1', {
      headers: { 'x-roster-session-id': sessionId, 'x-roster-session-secret': secret },
    });
    t.equal(again.status, 404, 'deleting it again: 404');
    t.equal(again.body.code, 'ROSTER_ERR_NOT_FOUND');

    const closed = await api('DELETE', `/v1/sessions/${sessionId}?secret=${secret}`);
    t.equal(closed.status, 200, 'DELETE session: 200');
    t.same(closed.body, { sessionId, closed: true });
    t.same(await idsWhen('api', 0, 'the session instances gone'), [], 'its instances are gone');
    const renew = await api('POST', `/v1/sessions/${sessionId}/renew`, { json: { secret } });
    t.equal(renew.body.code, 'ROSTER_ERR_UNKNOWN_SESSION', 'a closed session is unknown');

    // A pending session (no instance yet) can be renewed and closed too.
    const pending = await open(5_000);
    const renewed = await api<Body>('POST', `/v1/sessions/${pending.sessionId}/renew`, {
      json: { secret: pending.secret },
    });
    t.match(renewed.body, { pending: true, ttlMs: 5_000 }, 'renew a pending session');
    const closedPending = await api('DELETE', `/v1/sessions/${pending.sessionId}`, {
      headers: { 'x-roster-session-secret': pending.secret },
    });
    t.equal(closedPending.status, 200, 'close a pending session');
  });

  await t.test('a pending session expires after its TTL', async (t) => {
    const { sessionId, secret } = await open(1_000);
    await sleep(1_200);
    const res = await api('POST', `/v1/sessions/${sessionId}/renew`, { json: { secret } });
    t.equal(res.status, 404, 'renew after the TTL: 404');
    t.equal(res.body.code, 'ROSTER_ERR_UNKNOWN_SESSION');
  });

  await t.test('a session moves to the node its instances are registered on', async (t) => {
    const { sessionId, secret } = await open(30_000);
    const body = { sessionId, secret, host: '10.3.0.1', port: 7000 };
    t.equal(
      (await api('PUT', '/v1/services/mover/instances/m-1', { json: body })).status,
      200,
      'registered on h1',
    );
    const moved = await call(b!.url, 'PUT', '/v1/services/mover/instances/m-1', { json: body });
    t.match(moved.body, { ownerNode: 'h2', sessionId }, 'registered again on h2: h2 owns it');
    await eventually(
      async () =>
        (await api('POST', `/v1/sessions/${sessionId}/renew`, { json: { secret } })).status === 404,
      { what: 'h1 no longer holds the session' },
    );
    const renewed = await call(b!.url, 'POST', `/v1/sessions/${sessionId}/renew`, {
      json: { secret },
    });
    t.equal(renewed.status, 200, 'h2 renews it');
    const owners = async () => (await client.discover('mover')).map((i) => i.ownerNode);
    t.same(
      await eventually(
        async () => {
          const now = await owners();
          return now.length === 1 && now[0] === 'h2' ? now : undefined;
        },
        { what: 'both nodes see h2 as the owner', timeoutMs: 2_000 },
      ),
      ['h2'],
      'the instance moved with it',
    );
    await call(b!.url, 'DELETE', `/v1/sessions/${sessionId}`, {
      headers: { 'x-roster-session-secret': secret },
    });
  });

  await t.test('errors: JSON with the registry status', async (t) => {
    const { sessionId, secret } = await open(30_000);
    const put = (body: unknown, path = '/v1/services/err/instances/e-1') =>
      api('PUT', path, { json: body });
    const base = { sessionId, secret, host: '10.4.0.1', port: 80 };

    const badPort = await put({ ...base, port: 'eighty' });
    t.equal(badPort.status, 400, 'a bad port: 400');
    t.match(badPort.body, { code: 'ROSTER_ERR_INVALID_MESSAGE', data: { path: 'port' } });
    const mismatch = await put({ ...base, service: 'other' });
    t.match(mismatch.body, { code: 'ROSTER_ERR_INVALID_MESSAGE', data: { path: 'service' } });
    const noSecret = await put({ sessionId, host: 'h', port: 1 });
    t.match(noSecret.body, { code: 'ROSTER_ERR_INVALID_MESSAGE', data: { path: 'secret' } });
    const pendingDel = await api('DELETE', '/v1/services/err/instances/e-1', {
      headers: { 'x-roster-session-id': sessionId, 'x-roster-session-secret': secret },
    });
    t.equal(pendingDel.status, 404, 'deregistering from a session without it: 404');
    t.equal((await put(base)).status, 200, 'a good registration');
    const wrongSecret = await put({ ...base, secret: 'x'.repeat(32) });
    t.equal(wrongSecret.status, 403, 'a wrong secret: 403');
    t.equal(wrongSecret.body.code, 'ROSTER_ERR_SESSION_SECRET');
    const wrongRenew = await api('POST', `/v1/sessions/${sessionId}/renew`, {
      json: { secret: 'y'.repeat(32) },
    });
    t.equal(wrongRenew.body.code, 'ROSTER_ERR_SESSION_SECRET', 'renew with a wrong secret: 403');
    const unknown = await api('POST', '/v1/sessions/no-such-session/renew', {
      json: { secret: 'z'.repeat(32) },
    });
    t.equal(unknown.status, 404, 'renewing an unknown session: 404');
    t.equal(unknown.body.code, 'ROSTER_ERR_UNKNOWN_SESSION');

    const text = await api('PUT', '/v1/services/err/instances/e-1', {
      raw: JSON.stringify(base),
      headers: { 'content-type': 'text/plain' },
    });
    t.equal(text.status, 400, 'not application/json: 400');
    t.match(text.body.message, /application\/json/);
    const broken = await api('PUT', '/v1/services/err/instances/e-1', {
      raw: '{"sessionId":',
      headers: { 'content-type': 'application/json' },
    });
    t.match(broken.body, { code: 'ROSTER_ERR_INVALID_MESSAGE', message: /not valid JSON/ });
    const polluted = await api('PUT', '/v1/services/err/instances/e-1', {
      raw: `{"sessionId":"${sessionId}","secret":"${secret}","host":"h","port":1,"meta":{"__proto__":{"x":"1"}}}`,
      headers: { 'content-type': 'application/json' },
    });
    t.equal(polluted.status, 400, 'a __proto__ key: 400');
    const big = await put({ ...base, meta: { big: 'x'.repeat(70 * 1024) } });
    t.equal(big.status, 413, 'a body over 64 KiB: 413');
    t.equal(big.body.code, 'ROSTER_ERR_MESSAGE_TOO_LARGE');
    const badName = await put(base, '/v1/services/Bad_Name/instances/e-1');
    t.match(badName.body, { code: 'ROSTER_ERR_INVALID_MESSAGE', data: { path: 'service' } });
    const badGet = await api('GET', '/v1/services/not%20valid');
    t.equal(badGet.status, 400, 'GET an invalid service name: 400');
    const badEncoding = await api('GET', '/v1/services/%E0%A4%A');
    t.equal(badEncoding.status, 400, 'malformed percent-encoding: 400');
    const ttl = await api('POST', '/v1/sessions', { json: { ttlMs: 10 } });
    t.match(ttl.body, { code: 'ROSTER_ERR_INVALID_MESSAGE', data: { path: 'ttlMs' } });
    const missing = await api('GET', '/v1/nope');
    t.equal(missing.status, 404, 'an unknown path: 404');
    t.equal(missing.body.code, 'ROSTER_ERR_NOT_FOUND');
    const method = await api('POST', '/v1/services');
    t.equal(method.status, 404, 'a method the path does not take: 404');
    t.equal(method.headers.get('allow'), 'GET', 'with Allow');
    const watch = await api('GET', '/v1/watch');
    t.equal(watch.status, 400, 'GET /v1/watch without an upgrade: 400');
    const hugeHeader = await fetch(`${a!.url}/v1/services`, {
      headers: { authorization: `Bearer ${TOKEN}`, 'x-filler': 'x'.repeat(20 * 1024) },
    });
    t.equal(hugeHeader.status, 431, 'a request head over 16 KiB: 431');
    await api('DELETE', `/v1/sessions/${sessionId}`, {
      headers: { 'x-roster-session-secret': secret },
    });
  });

  await t.test('cluster view and health', async (t) => {
    const view = await eventually(
      async () => {
        const res = await api<{ digests: number; nodes: Body[]; source: string }>(
          'GET',
          '/v1/nodes',
        );
        return res.body.digests === 1 && res.body.nodes.length === 2 ? res.body : undefined;
      },
      { what: 'a converged two-node view' },
    );
    t.equal(view.source, 'scatter', 'every node answered itself');
    t.same(
      view.nodes.map((n) => [n.node, n.self, n.answered, n.ready, n.alive]),
      [
        ['h1', true, true, true, true],
        ['h2', false, true, true, true],
      ],
    );
    for (const n of view.nodes) {
      t.ok(Array.isArray(n.vector) && typeof n.digest === 'string' && typeof n.inc === 'number');
    }
    const health = await api<Body & { peers: Body[] }>('GET', '/v1/health');
    t.equal(health.status, 200);
    t.match(health.body, { node: 'h1', ready: true, status: 'ready', peersAlive: 1 });
    t.match(health.body.peers, [{ id: 'h2', alive: true, ready: true }]);
  });

  await t.test('metrics on the API port', async (t) => {
    const res = await api<string>('GET', '/metrics');
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^text\/plain; version=0.0.4/);
    t.match(
      res.body,
      /roster_node_http_requests_total\{route="\/v1\/services",method="GET",status="200"\} \d+/,
    );
    t.match(res.body, /roster_node_instances \d+/);
  });
});
