/**
 * gateway/admin.ts: every endpoint needs the bearer token (401 with WWW-Authenticate
 * otherwise), except /metrics with metricsPublic and /health, /ready with probesPublic; the
 * token is read per request (a reload changes it at once); /ready is 200 or 503; only GET and
 * HEAD; a failing source is a 500 without details.
 */
import t from 'tap';
import { type AdminAccess, bearerMatches, startAdminServer } from '../../gateway/admin.js';

const TOKEN = 'admin-token-0123456789';

t.test('bearerMatches', async (t) => {
  t.ok(bearerMatches(`Bearer ${TOKEN}`, TOKEN));
  t.ok(bearerMatches(`bearer ${TOKEN}`, TOKEN), 'scheme is case-insensitive');
  t.notOk(bearerMatches(undefined, TOKEN));
  t.notOk(bearerMatches(TOKEN, TOKEN), 'no scheme');
  t.notOk(bearerMatches(`Basic ${TOKEN}`, TOKEN));
  t.notOk(bearerMatches(`Bearer ${TOKEN}x`, TOKEN));
  t.notOk(bearerMatches(`Bearer ${TOKEN.slice(0, -1)}`, TOKEN));
  t.notOk(bearerMatches('Bearer ', TOKEN));
  t.notOk(bearerMatches(`Bearer ${TOKEN} extra`, TOKEN));
  t.notOk(bearerMatches('Bearer x', ''), 'an empty token never matches');
  t.notOk(bearerMatches(`Bearer ${'a'.repeat(10_000)}`, TOKEN));
});

t.test('the admin server', async (t) => {
  let access: AdminAccess = { token: TOKEN, metricsPublic: false, probesPublic: false };
  let ready = false;
  let failRoutes = false;
  const admin = await startAdminServer({
    host: '127.0.0.1',
    port: 0,
    access: () => access,
    source: {
      routes: () => {
        if (failRoutes) throw new Error('secret detail');
        return { routes: [{ name: 'a' }] };
      },
      pools: () => ({ pools: [] }),
      ready: () => ({ ready, waitingFor: ready ? [] : ['upstream pools: users'] }),
      health: () => ({ status: 'ok' }),
      configErrors: () => ({ error: null }),
      metrics: () => 'roster_x 1\n',
    },
  });
  t.teardown(() => admin.close());
  const get = (path: string, token?: string, method = 'GET') =>
    fetch(`${admin.url}${path}`, {
      method,
      ...(token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {}),
    });

  for (const path of ['/routes', '/pools', '/ready', '/health', '/metrics', '/config/errors']) {
    const res = await get(path);
    t.equal(res.status, 401, `${path} without a token`);
    t.equal(res.headers.get('www-authenticate'), 'Bearer realm="roster-gateway"');
    t.same(await res.json(), {
      error: { code: 'ROSTER_ERR_UNAUTHORIZED', message: 'a valid bearer token is required' },
    });
    t.equal((await get(path, 'wrong-token-0123456789')).status, 401, `${path} with a wrong token`);
  }
  let res = await get('/routes', TOKEN);
  t.equal(res.status, 200);
  t.equal(res.headers.get('cache-control'), 'no-store');
  t.same(await res.json(), { routes: [{ name: 'a' }] });
  t.same(
    await (await get('/routes/?x=1', TOKEN)).json(),
    { routes: [{ name: 'a' }] },
    'trailing slash and query',
  );

  res = await get('/ready', TOKEN);
  t.equal(res.status, 503);
  t.same(await res.json(), { ready: false, waitingFor: ['upstream pools: users'] });
  ready = true;
  t.equal((await get('/ready', TOKEN)).status, 200);

  res = await get('/metrics', TOKEN);
  t.match(res.headers.get('content-type'), /text\/plain; version=0\.0\.4/);
  t.equal(await res.text(), 'roster_x 1\n');

  // Public switches and a new token take effect at once.
  access = { token: 'another-token-0123456789', metricsPublic: true, probesPublic: true };
  t.equal((await get('/metrics')).status, 200, 'metrics public');
  t.equal((await get('/health')).status, 200, 'health public');
  t.equal((await get('/ready')).status, 200, 'ready public');
  t.equal((await get('/routes')).status, 401, 'routes never public');
  t.equal((await get('/routes', TOKEN)).status, 401, 'the old token no longer works');
  t.equal((await get('/routes', 'another-token-0123456789')).status, 200);

  t.equal((await get('/nope', 'another-token-0123456789')).status, 404);
  res = await get('/routes', 'another-token-0123456789', 'POST');
  t.equal(res.status, 405);
  t.equal(res.headers.get('allow'), 'GET, HEAD');
  res = await get('/routes', 'another-token-0123456789', 'HEAD');
  t.equal(res.status, 200);
  t.equal(await res.text(), '');

  failRoutes = true;
  res = await get('/routes', 'another-token-0123456789');
  t.equal(res.status, 500);
  t.notMatch(await res.text(), /secret detail/, 'no internals in the answer');
});

t.test('a taken port is a clear error', async (t) => {
  const first = await startAdminServer({
    host: '127.0.0.1',
    port: 0,
    access: () => ({ token: TOKEN, metricsPublic: false, probesPublic: false }),
    source: {
      routes: () => ({}),
      pools: () => ({}),
      ready: () => ({ ready: true, waitingFor: [] }),
      health: () => ({}),
      configErrors: () => ({}),
      metrics: () => '',
    },
  });
  t.teardown(() => first.close());
  await t.rejects(
    startAdminServer({
      host: '127.0.0.1',
      port: first.port,
      access: () => ({ token: TOKEN, metricsPublic: false, probesPublic: false }),
      source: {
        routes: () => ({}),
        pools: () => ({}),
        ready: () => ({ ready: true, waitingFor: [] }),
        health: () => ({}),
        configErrors: () => ({}),
        metrics: () => '',
      },
    }),
    { message: /admin API: cannot listen on 127\.0\.0\.1:\d+: address already in use/ },
  );
});
