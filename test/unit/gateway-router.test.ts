import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { checkRegexSafety } from '../../gateway/route-patterns.js';
import { compileRoutes } from '../../gateway/router.js';
import type { PathMatch, RouteConfig, RouteMatch } from '../../gateway/types.js';
import { expectRosterError } from '../helpers/expect-error.js';

function r(
  name: string,
  path: PathMatch,
  extra: Omit<Partial<RouteMatch>, 'path'> = {},
  more: Partial<RouteConfig> = {},
): RouteConfig {
  return { name, service: `svc-${name}`, match: { path, ...extra }, source: 'file', ...more };
}

/** A full garbage collection (V8's gc(), exposed for this process). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

const routes: RouteConfig[] = [
  r('root', { prefix: '/' }),
  r('api', { prefix: '/api' }),
  r('api-v1', { prefix: '/api/v1' }),
  r('api-v1-post', { prefix: '/api/v1' }, { methods: ['POST'] }),
  r('api-v1-beta', { prefix: '/api/v1' }, { headers: { 'x-beta': '1' } }),
  r('health', { exact: '/health' }),
  r('health-head', { exact: '/health' }, { methods: ['HEAD'] }),
  r('user', { template: '/users/:id' }),
  r('user-orders', { template: '/users/:id/orders/:order' }),
  r('user-me', { template: '/users/me' }),
  r('files', { template: '/files/*' }, {}, { stripPrefix: true }),
  r('any-thing', { template: '/:tenant/things/:thing' }),
  r('report', { regex: '/reports/(?<year>\\d{4})-(?<month>\\d{2})\\.csv' }),
  r('strip', { prefix: '/strip' }, {}, { stripPrefix: true }),
  r('rewrite', { prefix: '/old' }, {}, { rewrite: '/new' }),
  r('rewrite-root', { prefix: '/gone' }, {}, { rewrite: '/' }),
  r('tpl-rewrite', { template: '/v1/items/:id' }, {}, { rewrite: '/items/:id/detail' }),
  r('exact-rewrite', { exact: '/old-home' }, {}, { rewrite: '/home' }),
  r('host-exact', { prefix: '/' }, { hosts: ['shop.example.com'] }),
  r('host-exact-api', { prefix: '/api' }, { hosts: ['shop.example.com'] }),
  r('host-wild', { prefix: '/' }, { hosts: ['*.example.com'] }),
  r('host-wild-deep', { prefix: '/' }, { hosts: ['*.eu.example.com'] }),
  r('host-only-admin', { prefix: '/admin' }, { hosts: ['admin.internal'] }),
  r('first', { exact: '/tie' }),
  r('second', { exact: '/tie' }),
  r('cond-first', { exact: '/cond' }),
  r('cond-more', { exact: '/cond' }, { methods: ['GET'], headers: { 'x-a': '1' } }),
  r('cond-one', { exact: '/cond' }, { methods: ['GET'] }),
];

const router = compileRoutes(routes);

// [host, method, path, headers, route name | undefined, upstreamPath?, params?]
type Case = [
  string,
  string,
  string,
  Record<string, string | string[]>,
  string | undefined,
  string?,
  Record<string, string>?,
];

const matrix: Case[] = [
  // prefixes, segment-aware, longest wins
  ['a.test', 'GET', '/', {}, 'root', '/'],
  ['a.test', 'GET', '/anything/else', {}, 'root'],
  ['a.test', 'GET', '/api', {}, 'api', '/api'],
  ['a.test', 'GET', '/api/', {}, 'api'],
  ['a.test', 'GET', '/api/x', {}, 'api'],
  ['a.test', 'GET', '/apix', {}, 'root'],
  ['a.test', 'GET', '/api/v1', {}, 'api-v1'],
  ['a.test', 'GET', '/api/v1/users', {}, 'api-v1'],
  ['a.test', 'GET', '/api/v10', {}, 'api'],
  ['a.test', 'GET', '/api/v1x/y', {}, 'api'],
  // more conditions first at equal prefix length
  ['a.test', 'POST', '/api/v1/users', {}, 'api-v1-post'],
  ['a.test', 'GET', '/api/v1/users', { 'x-beta': '1' }, 'api-v1-beta'],
  ['a.test', 'GET', '/api/v1/users', { 'x-beta': '2' }, 'api-v1'],
  ['a.test', 'GET', '/api/v1/users', { 'x-beta': ['0', '1'] }, 'api-v1-beta'],
  // exact beats everything; exact with method condition first
  ['a.test', 'GET', '/health', {}, 'health', '/health'],
  ['a.test', 'HEAD', '/health', {}, 'health-head'],
  ['a.test', 'GET', '/health/', {}, 'root'],
  ['a.test', 'GET', '/healthz', {}, 'root'],
  // templates
  ['a.test', 'GET', '/users/42', {}, 'user', '/users/42', { id: '42' }],
  ['a.test', 'GET', '/users/me', {}, 'user-me', '/users/me', {}],
  ['a.test', 'GET', '/users/42/orders/7', {}, 'user-orders', undefined, { id: '42', order: '7' }],
  ['a.test', 'GET', '/users/42/orders', {}, 'root'],
  ['a.test', 'GET', '/users/42/', {}, 'root'],
  ['a.test', 'GET', '/users', {}, 'root'],
  ['a.test', 'GET', '/acme/things/9', {}, 'any-thing', undefined, { tenant: 'acme', thing: '9' }],
  ['a.test', 'GET', '/users/things/9', {}, 'any-thing', undefined, { tenant: 'users', thing: '9' }],
  ['a.test', 'GET', '/files/a/b.txt', {}, 'files', '/a/b.txt', { '*': 'a/b.txt' }],
  ['a.test', 'GET', '/files', {}, 'files', '/', { '*': '' }],
  ['a.test', 'GET', '/filesx', {}, 'root'],
  // template beats prefix
  ['a.test', 'GET', '/v1/items/5', {}, 'tpl-rewrite', '/items/5/detail', { id: '5' }],
  // regex comes after every prefix: the catch-all '/' wins here (see the regex router below)
  ['a.test', 'GET', '/reports/2024-05.csv', {}, 'root'],
  ['a.test', 'GET', '/legacy/a/b', {}, 'root'],
  // strip / rewrite
  ['a.test', 'GET', '/strip', {}, 'strip', '/'],
  ['a.test', 'GET', '/strip/a/b', {}, 'strip', '/a/b'],
  ['a.test', 'GET', '/old/a', {}, 'rewrite', '/new/a'],
  ['a.test', 'GET', '/old', {}, 'rewrite', '/new'],
  ['a.test', 'GET', '/gone/a', {}, 'rewrite-root', '/a'],
  ['a.test', 'GET', '/gone', {}, 'rewrite-root', '/'],
  ['a.test', 'GET', '/old-home', {}, 'exact-rewrite', '/home'],
  // hosts: exact > wildcard (longest suffix) > any, with fall-through
  ['shop.example.com', 'GET', '/x', {}, 'host-exact'],
  ['shop.example.com', 'GET', '/api/v1/z', {}, 'host-exact-api'],
  ['www.example.com', 'GET', '/api', {}, 'host-wild'],
  ['a.b.example.com', 'GET', '/', {}, 'host-wild'],
  ['x.eu.example.com', 'GET', '/', {}, 'host-wild-deep'],
  ['example.com', 'GET', '/api', {}, 'api'],
  ['badexample.com', 'GET', '/', {}, 'root'],
  ['admin.internal', 'GET', '/admin/x', {}, 'host-only-admin'],
  ['admin.internal', 'GET', '/api', {}, 'api'],
  ['a.test', 'GET', '/admin/x', {}, 'root'],
  // ties in config order; more conditions first
  ['a.test', 'GET', '/tie', {}, 'first'],
  ['a.test', 'GET', '/cond', { 'x-a': '1' }, 'cond-more'],
  ['a.test', 'GET', '/cond', {}, 'cond-one'],
  ['a.test', 'POST', '/cond', { 'x-a': '1' }, 'cond-first'],
];

t.test('routing matrix', async (t) => {
  t.ok(matrix.length >= 40, `${matrix.length} cases`);
  for (const [host, method, path, headers, want, upstreamPath, params] of matrix) {
    const hit = router.match(host, method, path, headers);
    const what = `${method} ${host}${path} ${JSON.stringify(headers)}`;
    t.equal(hit?.route.name, want, what);
    if (upstreamPath !== undefined) t.equal(hit?.upstreamPath, upstreamPath, `${what} upstream`);
    else if (hit !== undefined && params === undefined) t.equal(hit.upstreamPath, path);
    if (params !== undefined) t.same(hit?.params, params, `${what} params`);
  }
});

t.test('regex routes: anchored, named groups, after prefixes', async (t) => {
  const rx = compileRoutes([
    r('report', { regex: '/reports/(?<year>\\d{4})-(?<month>\\d{2})\\.csv' }),
    r('legacy', { regex: '/legacy/.*' }, { methods: ['GET'] }),
    r('legacy-any', { regex: '/legacy/.*' }),
    r('legacy-rw', { regex: '/old/(?<rest>.+)' }, {}, { rewrite: '/new/:rest' }),
    r('reports-prefix', { prefix: '/reports/archive' }),
  ]);
  const hit = rx.match('h', 'GET', '/reports/2024-05.csv', {});
  t.equal(hit?.route.name, 'report');
  t.same(hit?.params, { year: '2024', month: '05' });
  t.equal(rx.match('h', 'GET', '/reports/2024-05.csvx', {}), undefined, 'anchored at the end');
  t.equal(rx.match('h', 'GET', '/x/reports/2024-05.csv', {}), undefined, 'anchored at the start');
  t.equal(rx.match('h', 'GET', '/legacy/a/b', {})?.route.name, 'legacy', 'more conditions first');
  t.equal(rx.match('h', 'PUT', '/legacy/a/b', {})?.route.name, 'legacy-any');
  t.equal(rx.match('h', 'GET', '/old/a/b', {})?.upstreamPath, '/new/a/b', 'rewrite with a group');
  t.equal(rx.match('h', 'GET', '/reports/archive', {})?.route.name, 'reports-prefix');
});

t.test('no match without a catch-all', async (t) => {
  const only = compileRoutes([
    r('a', { prefix: '/a' }),
    r('h', { exact: '/h' }, { hosts: ['h.test'] }),
  ]);
  t.equal(only.match('x', 'GET', '/', {}), undefined);
  t.equal(only.match('x', 'GET', '/b', {}), undefined);
  t.equal(only.match('x', 'GET', '/h', {}), undefined);
  t.equal(only.match('h.test', 'GET', '/h', {})?.route.name, 'h');
});

t.test('config errors name the key', async (t) => {
  const bad: [RouteConfig, string][] = [
    [r('b1', { prefix: 'api' }), 'routes.b1.match.path.prefix'],
    [r('b2', { exact: '/a/../b' }), 'routes.b2.match.path.exact'],
    [r('b3', { exact: '/a//b' }), 'routes.b3.match.path.exact'],
    [r('b4', { regex: '(a+)+' }), 'routes.b4.match.path.regex'],
    [r('b5', { regex: '(a|aa)*' }), 'routes.b5.match.path.regex'],
    [r('b6', { regex: '(\\w+\\s?)*$' }), 'routes.b6.match.path.regex'],
    [r('b7', { regex: '(a)\\1' }), 'routes.b7.match.path.regex'],
    [r('b8', { regex: '[' }), 'routes.b8.match.path.regex'],
    [r('b9', { regex: 'x'.repeat(600) }), 'routes.b9.match.path.regex'],
    [r('b10', { template: '/a/:bad-name' }), 'routes.b10.match.path.template'],
    [r('b11', { template: '/a/*/b' }), 'routes.b11.match.path.template'],
    [r('b12', { template: '/a/:x/:x' }), 'routes.b12.match.path.template'],
    [r('b13', { prefix: '/' }, { hosts: ['bad host'] }), 'routes.b13.match.hosts[0]'],
    [r('b14', { prefix: '/' }, { methods: ['get'] }), 'routes.b14.match.methods'],
    [r('b15', { prefix: '/' }, { headers: { 'X-Up': '1' } }), 'routes.b15.match.headers.X-Up'],
    [r('b16', { exact: '/a' }, {}, { stripPrefix: true }), 'routes.b16.stripPrefix'],
    [r('b17', { prefix: '/a' }, {}, { rewrite: 'x' }), 'routes.b17.rewrite'],
    [
      {
        ...r('b18', { prefix: '/' }),
        match: { path: { prefix: '/', exact: '/' } as unknown as PathMatch },
      },
      'routes.b18.match.path',
    ],
  ];
  for (const [route, key] of bad) {
    expectRosterError(t, () => compileRoutes([route]), 'ROSTER_ERR_CONFIG');
    try {
      compileRoutes([route]);
    } catch (err) {
      t.match((err as Error).message, key, route.name);
    }
  }
});

t.test('regex safety check', async (t) => {
  for (const ok of [
    '/a/(\\d+)',
    '/a/(?:ab)+',
    '/x/[a-z]+/(?<id>\\d{1,8})',
    '/(foo|bar)/x',
    '/a(b+)?',
    '/v(\\d)\\.json',
  ]) {
    t.doesNotThrow(() => checkRegexSafety(ok, 'k'), ok);
  }
  for (const bad of [
    '(a+)+',
    '(a*)*',
    '((ab)*)+',
    '(a|b)+',
    '(?:x+y?)+',
    '(a+){2,}',
    '(\\d+){3}',
  ]) {
    t.throws(() => checkRegexSafety(bad, 'k'), bad);
  }
});

t.test('a regex route cannot match very long paths (bounded cost)', async (t) => {
  const rr = compileRoutes([r('re', { regex: '/a/.*' })]);
  t.equal(rr.match('h', 'GET', `/a/${'x'.repeat(100)}`, {})?.route.name, 're');
  t.equal(rr.match('h', 'GET', `/a/${'x'.repeat(3000)}`, {}), undefined);
});

t.test('misses keep nothing: 200k lookups retain under 1 MiB', async (t) => {
  const r2 = compileRoutes([
    r('a', { prefix: '/a' }),
    r('b', { template: '/b/:x' }),
    r('c', { exact: '/c' }),
  ]);
  const headers = {};
  r2.match('h', 'GET', '/zzz/yyy', headers);
  // Full collections on both sides: what is measured is what the lookups keep, whatever
  // garbage they left for the young generation (that made this flaky when counted).
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  let misses = 0;
  for (let i = 0; i < 200_000; i++)
    if (r2.match('h', 'GET', '/zzz/yyy', headers) === undefined) misses++;
  collectGarbage();
  const kept = process.memoryUsage().heapUsed - before;
  t.equal(misses, 200_000);
  t.ok(kept < 1024 * 1024, `${kept} bytes kept`);
});
