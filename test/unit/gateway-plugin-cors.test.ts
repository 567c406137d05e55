import t from 'tap';
import { corsPluginFactory, createCorsPlugin } from '../../gateway/plugins/cors.js';
import { expectRosterError } from '../helpers/expect-error.js';
import { fakeEnv, fakeRequestContext, runSync } from '../helpers/fake-request-context.js';

const preflight = (origin: string, method = 'PUT', headers?: string) =>
  fakeRequestContext({
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': method,
      ...(headers === undefined ? {} : { 'access-control-request-headers': headers }),
    },
  });

t.test('origin matrix', async (t) => {
  const plugin = createCorsPlugin(
    {
      origins: [
        'https://app.example.com',
        'http://localhost:3000',
        'https://*.example.org',
        'https://*.svc.example.net:8443',
      ],
    },
    fakeEnv(),
  );
  const matrix: [string, boolean][] = [
    ['https://app.example.com', true],
    ['HTTPS://APP.EXAMPLE.COM', true],
    ['http://app.example.com', false],
    ['https://app.example.com:443', false],
    ['https://app.example.com.evil.com', false],
    ['https://evilapp.example.com', false],
    ['https://example.com', false],
    ['http://localhost:3000', true],
    ['http://localhost:3001', false],
    ['http://localhost', false],
    ['https://a.example.org', true],
    ['https://a.b.example.org', true],
    ['https://example.org', false],
    ['https://.example.org', false],
    ['https://a..example.org', false],
    ['https://evilexample.org', false],
    ['https://a.example.org.evil.com', false],
    ['http://a.example.org', false],
    ['https://a.example.org:8443', false],
    ['https://a_b.example.org', false],
    ['https://a.svc.example.net:8443', true],
    ['https://a.svc.example.net', false],
    ['null', false],
    ['', false],
    [`https://${'a.'.repeat(1100)}example.org`, false],
  ];
  for (const [origin, allowed] of matrix) {
    const simple = fakeRequestContext({ headers: { origin } });
    t.equal(
      runSync(plugin, simple),
      undefined,
      `simple request from ${origin.slice(0, 40)} passes through`,
    );
    t.equal(simple.responseHeaders.vary, 'Origin', 'Vary: Origin');
    t.equal(
      simple.responseHeaders['access-control-allow-origin'],
      allowed ? origin : undefined,
      `${origin.slice(0, 40)} ${allowed ? 'gets' : 'does not get'} ACAO`,
    );
    const pre = runSync(plugin, preflight(origin));
    t.equal(
      pre?.status,
      allowed ? 204 : 403,
      `preflight from ${origin.slice(0, 40)}: ${allowed ? 204 : 403}`,
    );
    if (!allowed) t.equal(pre?.reason, 'cors_origin');
  }
});

t.test('preflight answer', async (t) => {
  const plugin = createCorsPlugin(
    {
      origins: ['https://app.example.com'],
      methods: ['GET', 'post', 'PUT'],
      headers: ['Authorization', 'Content-Type', 'X-Trace'],
      exposeHeaders: ['X-Request-Id'],
      credentials: true,
      maxAgeSec: 3600,
    },
    fakeEnv(),
  );
  const ok = runSync(plugin, preflight('https://app.example.com', 'PUT', 'content-type, X-Trace'));
  t.equal(ok?.status, 204);
  t.equal(ok?.reason, 'cors_preflight');
  t.equal(ok?.body, undefined);
  t.same(ok?.headers, {
    'access-control-allow-origin': 'https://app.example.com',
    'access-control-allow-methods': 'GET, POST, PUT',
    'access-control-allow-headers': 'authorization, content-type, x-trace',
    'access-control-allow-credentials': 'true',
    'access-control-max-age': '3600',
    vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
  });
  t.equal(
    runSync(plugin, preflight('https://app.example.com', 'post'))?.status,
    204,
    'method case-insensitive',
  );
  const badMethod = runSync(plugin, preflight('https://app.example.com', 'DELETE'));
  t.equal(badMethod?.status, 403);
  t.equal(badMethod?.reason, 'cors_method');
  const badHeader = runSync(
    plugin,
    preflight('https://app.example.com', 'GET', 'authorization, x-admin'),
  );
  t.equal(badHeader?.status, 403);
  t.equal(badHeader?.reason, 'cors_headers');
  t.equal(
    runSync(plugin, preflight('https://app.example.com', 'GET', ' , '))?.status,
    204,
    'empty header list',
  );

  const simple = fakeRequestContext({
    method: 'POST',
    headers: { origin: 'https://app.example.com' },
  });
  t.equal(runSync(plugin, simple), undefined);
  t.same(simple.responseHeaders, {
    vary: 'Origin',
    'access-control-allow-origin': 'https://app.example.com',
    'access-control-allow-credentials': 'true',
    'access-control-expose-headers': 'x-request-id',
  });
  const plainOptions = fakeRequestContext({
    method: 'OPTIONS',
    headers: { origin: 'https://app.example.com' },
  });
  t.equal(
    runSync(plugin, plainOptions),
    undefined,
    'OPTIONS without Access-Control-Request-Method is not a preflight',
  );
  t.equal(plainOptions.responseHeaders['access-control-allow-origin'], 'https://app.example.com');
  const noOrigin = fakeRequestContext({
    method: 'OPTIONS',
    headers: { 'access-control-request-method': 'GET' },
  });
  t.equal(runSync(plugin, noOrigin), undefined, 'no Origin: not CORS');
  t.same(noOrigin.responseHeaders, { vary: 'Origin' });
});

t.test('defaults and the * origin', async (t) => {
  const any = createCorsPlugin({ origins: '*' }, fakeEnv());
  const pre = runSync(
    any,
    preflight('https://whoever.test', 'PATCH', 'authorization, content-type'),
  );
  t.equal(pre?.status, 204);
  t.equal(pre?.headers?.['access-control-allow-origin'], '*');
  t.equal(pre?.headers?.['access-control-allow-methods'], 'GET, HEAD, POST, PUT, PATCH, DELETE');
  t.equal(
    pre?.headers?.['access-control-allow-headers'],
    'accept, authorization, content-type, x-requested-with',
  );
  t.equal(pre?.headers?.['access-control-max-age'], '600');
  t.equal(pre?.headers?.['access-control-allow-credentials'], undefined);
  t.equal(
    runSync(any, preflight('https://whoever.test', 'OPTIONS'))?.status,
    403,
    'OPTIONS not in defaults',
  );
  const simple = fakeRequestContext({ headers: { origin: 'https://x.test' } });
  runSync(any, simple);
  t.same(
    simple.responseHeaders,
    { 'access-control-allow-origin': '*' },
    'no Vary when the answer never varies',
  );
  const noHeaders = createCorsPlugin({ origins: ['https://a.test'], headers: [] }, fakeEnv());
  const p2 = runSync(noHeaders, preflight('https://a.test', 'GET'));
  t.equal(p2?.status, 204);
  t.equal(p2?.headers?.['access-control-allow-headers'], undefined);
  t.equal(runSync(noHeaders, preflight('https://a.test', 'GET', 'x-any'))?.reason, 'cors_headers');
});

t.test('config errors name the key', async (t) => {
  const P = 'routes.web.plugins.cors';
  for (const [settings, path] of [
    [{}, `${P}.origins`],
    [{ origins: [] }, `${P}.origins`],
    [{ origins: ['app.example.com'] }, `${P}.origins[0]`],
    [{ origins: ['https://a.test', 'https://a.test/path'] }, `${P}.origins[1]`],
    [{ origins: ['null'] }, `${P}.origins[0]`],
    [{ origins: ['https://*.com'] }, `${P}.origins[0]`],
    [{ origins: ['https://a.*.example.com'] }, `${P}.origins[0]`],
    [{ origins: ['ftp://a.test'] }, `${P}.origins[0]`],
    [{ origins: ['*'], credentials: true }, `${P}.origins`],
    [{ origins: ['https://a.test'], methods: ['GET', 'BAD METHOD'] }, `${P}.methods[1]`],
    [{ origins: ['https://a.test'], headers: ['x y'] }, `${P}.headers[0]`],
    [{ origins: ['https://a.test'], exposeHeaders: [1] }, `${P}.exposeHeaders[0]`],
    [{ origins: ['https://a.test'], credentials: 'true' }, `${P}.credentials`],
    [{ origins: ['https://a.test'], maxAgeSec: 86_401 }, `${P}.maxAgeSec`],
    [{ origins: ['https://a.test'], allowOrigins: ['*'] }, `${P}.allowOrigins`],
  ] as [unknown, string][]) {
    expectRosterError(
      t,
      () => corsPluginFactory.create(settings, fakeEnv(P)),
      'ROSTER_ERR_CONFIG',
      path,
    );
  }
});
