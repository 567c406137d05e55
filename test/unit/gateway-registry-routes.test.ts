/**
 * gateway/registry-routes.ts: metadata keys parse into routes (errors name the key), live
 * instances vote (majority, ties to the lowest id), and RegistryRoutes follows a real registry
 * node on the in-process bus: routes appear with the first declaring instance, survive while
 * one live instance declares them, go with the last, and changes are debounced.
 */
import t from 'tap';
import { connect } from '../../client/client.js';
import { RegistryRoutes } from '../../gateway/registry-routes.js';
import {
  parseRouteMetadata,
  type RegistryRouteSet,
  resolveServiceRoutes,
} from '../../gateway/route-metadata.js';
import { RegistryNode } from '../../nodes/registry-node.js';
import { Subjects } from '../../protocol/index.js';
import { createMemoryBuses } from '../../transport/memory-bus.js';
import { eventually } from '../helpers/eventually.js';
import { instance } from '../helpers/synthetic-instances.js';

t.test('metadata keys become a route', async (t) => {
  const { routes, errors } = parseRouteMetadata('users', {
    'roster.route.path-prefix': '/users',
    'roster.route.host': 'API.example.com, *.example.org',
    'roster.route.methods': 'get,POST',
    'roster.route.headers': 'x-version:2, X-Tenant: acme',
    'roster.route.strip-prefix': 'true',
    'roster.route.timeout-ms': '5000',
    'roster.route.retries': '2',
    'roster.route.strategy': 'least-outstanding',
    'roster.route.filter-tags': 'http,eu',
    'roster.route.filter-version': '^2',
    'roster.route.path-template.1': '/u/:id/*',
    'roster.route.rewrite.1': '/v2/users/:id/*',
    'roster.route.path-exact.2': '/users-health',
    'other.key': 'ignored',
  });
  t.same(errors, []);
  t.same([...routes.keys()], [0, 1, 2]);
  t.same(routes.get(0), {
    name: 'users:route',
    match: {
      path: { prefix: '/users' },
      hosts: ['api.example.com', '*.example.org'],
      methods: ['GET', 'POST'],
      headers: { 'x-version': '2', 'x-tenant': 'acme' },
    },
    service: 'users',
    source: 'registry',
    stripPrefix: true,
    timeoutMs: 5000,
    retries: { attempts: 2 },
    strategy: 'least-outstanding',
    filter: { tags: { all: ['http', 'eu'] }, version: '^2' },
  });
  t.same(routes.get(1), {
    name: 'users:route.1',
    match: { path: { template: '/u/:id/*' } },
    service: 'users',
    source: 'registry',
    rewrite: '/v2/users/:id/*',
  });
  t.same(routes.get(2)?.match.path, { exact: '/users-health' });
});

t.test('host and method lists: repeats dropped, an empty list is no condition', async (t) => {
  const { routes, errors } = parseRouteMetadata('users', {
    'roster.route.path-prefix': '/users',
    'roster.route.host': 'a.io, A.io, b.io',
    'roster.route.methods': 'get, GET',
    'roster.route.path-prefix.1': '/other',
    'roster.route.host.1': ' , ',
    'roster.route.methods.1': '',
  });
  t.same(errors, []);
  t.same(routes.get(0)?.match, {
    path: { prefix: '/users' },
    hosts: ['a.io', 'b.io'],
    methods: ['GET'],
  });
  t.same(routes.get(1)?.match, { path: { prefix: '/other' } });
});

t.test('bad metadata: the route is left out and the key named', async (t) => {
  const cases: [Record<string, string>, string | undefined, RegExp][] = [
    [{ 'roster.route.host': 'a.io' }, undefined, /needs one of roster\.route\.path-prefix/],
    [{ 'roster.route.path-prefix': 'users' }, 'roster.route.path-prefix', /must start with \//],
    [{ 'roster.route.path-prefix': '/a//b' }, 'roster.route.path-prefix', /normalized/],
    [
      { 'roster.route.path-prefix': '/a', 'roster.route.path-exact': '/a' },
      'roster.route.path-exact',
      /cannot be combined/,
    ],
    [{ 'roster.route.path-regex': '/(a+)+' }, 'roster.route.path-regex', /backtracking/],
    [
      { 'roster.route.path-prefix': '/a', 'roster.route.host': 'a.io:80' },
      'roster.route.host',
      /without port/,
    ],
    [
      { 'roster.route.path-prefix': '/a', 'roster.route.methods': 'GET POST' },
      'roster.route.methods',
      /method/,
    ],
    [
      {
        'roster.route.path-prefix': '/a',
        'roster.route.host': Array.from({ length: 33 }, (_, i) => `h${i}.io`).join(','),
      },
      'roster.route.host',
      /at most 32 hosts/,
    ],
    [
      {
        'roster.route.path-prefix': '/a',
        'roster.route.methods': Array.from({ length: 17 }, () => 'GET').join(','),
      },
      'roster.route.methods',
      /at most 16 methods/,
    ],
    [
      { 'roster.route.path-prefix': '/a', 'roster.route.headers': 'novalue' },
      'roster.route.headers',
      /name:value/,
    ],
    [
      { 'roster.route.path-prefix': '/a', 'roster.route.strip-prefix': 'maybe' },
      'roster.route.strip-prefix',
      /true or false/,
    ],
    [
      { 'roster.route.path-exact': '/a', 'roster.route.strip-prefix': 'true' },
      'roster.route.strip-prefix',
      /only applies/,
    ],
    [
      { 'roster.route.path-prefix': '/a', 'roster.route.timeout-ms': '5s' },
      'roster.route.timeout-ms',
      /integer/,
    ],
    [
      { 'roster.route.path-prefix': '/a', 'roster.route.retries': '11' },
      'roster.route.retries',
      /0 to 10/,
    ],
    [
      { 'roster.route.path-prefix': '/a', 'roster.route.strategy': 'fastest' },
      'roster.route.strategy',
      /unknown strategy/,
    ],
    [
      { 'roster.route.path-prefix': '/a', 'roster.route.filter-version': '>=>' },
      'roster.route.filter-version',
      /./,
    ],
    [
      { 'roster.route.path-prefix': '/a', 'roster.route.rewrite': 'x' },
      'roster.route.rewrite',
      /must start with \//,
    ],
    [{ 'roster.route.path-prefx': '/a' }, 'roster.route.path-prefx', /unknown route key/],
    [{ 'roster.route.path-prefix.10': '/a' }, 'roster.route.path-prefix.10', /unknown route key/],
  ];
  for (const [meta, key, message] of cases) {
    const { routes, errors } = parseRouteMetadata('svc', meta);
    t.equal(routes.size, 0, `${JSON.stringify(meta)}: no route`);
    t.equal(errors.length, 1, 'one error');
    t.equal(errors[0]?.key, key, `names ${key}`);
    t.match(errors[0]?.message, message);
    if (key !== undefined)
      t.ok(errors[0]?.message.startsWith(`${key}: `), 'the message starts with the key');
  }
  const mixed = parseRouteMetadata('svc', {
    'roster.route.path-prefix': '/ok',
    'roster.route.path-prefix.2': 'bad',
  });
  t.same([...mixed.routes.keys()], [0], 'a bad route does not take the good one with it');
  t.equal(mixed.errors[0]?.route, 'svc:route.2');
});

t.test('live instances vote: majority, ties to the lowest id; others do not count', async (t) => {
  const decl = (prefix: string) => ({ 'roster.route.path-prefix': prefix });
  const svc = (
    id: string,
    meta: Record<string, string>,
    status: 'passing' | 'critical' | 'draining' | 'warning' = 'passing',
  ) => instance(id, { service: 'api', meta, status });

  let r = resolveServiceRoutes('api', [
    svc('c', decl('/a')),
    svc('b', decl('/b')),
    svc('a', decl('/b')),
  ]);
  t.same(
    r.routes.map((x) => x.match.path),
    [{ prefix: '/b' }],
    'majority',
  );
  t.same(r.disagreements, [
    { service: 'api', route: 'api:route', chosenFrom: 'a', overruled: ['c'] },
  ]);

  r = resolveServiceRoutes('api', [svc('z', decl('/z')), svc('m', decl('/m'))]);
  t.same(
    r.routes.map((x) => x.match.path),
    [{ prefix: '/m' }],
    'tie: lowest id',
  );

  r = resolveServiceRoutes('api', [
    svc('a', decl('/dead'), 'critical'),
    svc('b', decl('/draining'), 'draining'),
    svc('c', decl('/warn'), 'warning'),
  ]);
  t.same(
    r.routes.map((x) => x.match.path),
    [{ prefix: '/warn' }],
    'only passing and warning count',
  );

  r = resolveServiceRoutes('api', [svc('a', decl('/x'), 'critical')]);
  t.same(r.routes, [], 'no live declaring instance: no route');

  r = resolveServiceRoutes('api', [
    svc('a', { 'roster.route.path-prefix': 'bad' }),
    svc('b', decl('/ok')),
  ]);
  t.same(
    r.routes.map((x) => x.match.path),
    [{ prefix: '/ok' }],
  );
  t.same(
    r.errors.map((e) => [e.instance, e.key]),
    [['a', 'roster.route.path-prefix']],
  );
  t.same(r.disagreements, [], 'an invalid declaration is not a vote');
});

async function until(cond: () => boolean, what: string): Promise<void> {
  await eventually(cond, { what, timeoutMs: 5000, intervalMs: 10 });
}

t.test('RegistryRoutes follows a registry node', async (t) => {
  const { buses } = createMemoryBuses(3);
  const node = new RegistryNode(buses[0]!, { id: 'n1' });
  await node.start();
  t.teardown(() => node.close());
  const svc = await connect({ bus: buses[1]! });
  t.teardown(() => svc.close());

  // One instance exists before the follower starts: it is found through the catalogue.
  const a1 = await svc.register({
    service: 'users',
    id: 'u1',
    host: '127.0.0.1',
    port: 9001,
    meta: { 'roster.route.path-prefix': '/users' },
  });
  await svc.register({ service: 'plain', id: 'p1', host: '127.0.0.1', port: 9002 });

  const follower = new RegistryRoutes(buses[2]!, new Subjects(), { debounceMs: 20 });
  t.teardown(() => follower.close());
  const emitted: RegistryRouteSet[] = [];
  follower.onChange((s) => emitted.push(s));
  await follower.start();
  t.ok(follower.synced);
  t.same(
    follower.routes().routes.map((r) => r.name),
    ['users:route'],
  );
  t.equal(follower.serviceCount, 2);

  // A new service appears through its first delta.
  const o1 = await svc.register({
    service: 'orders',
    id: 'o1',
    host: '127.0.0.1',
    port: 9003,
    meta: { 'roster.route.path-prefix': '/orders', 'roster.route.host': 'shop.io' },
  });
  await until(() => follower.routes().routes.length === 2, 'the orders route');
  t.same(
    follower.routes().routes.map((r) => [r.name, r.match.hosts]),
    [
      ['orders:route', ['shop.io']],
      ['users:route', undefined],
    ],
  );

  // A second users instance that disagrees: a tie, the lowest id (u1) wins, reported.
  const a2 = await svc.register({
    service: 'users',
    id: 'u2',
    host: '127.0.0.1',
    port: 9004,
    meta: { 'roster.route.path-prefix': '/people' },
  });
  await until(() => follower.routes().disagreements.length === 1, 'the disagreement');
  t.same(follower.routes().routes.find((r) => r.service === 'users')?.match.path, {
    prefix: '/users',
  });

  // u1 goes critical: u2's declaration is the only live one.
  await a1.setStatus('critical');
  await until(
    () =>
      JSON.stringify(follower.routes().routes.find((r) => r.service === 'users')?.match.path) ===
      '{"prefix":"/people"}',
    'u2 declaration',
  );
  t.same(follower.routes().disagreements, []);

  // Changes that do not change the routes are not emitted.
  const before = emitted.length;
  await svc.register({ service: 'plain', id: 'p2', host: '127.0.0.1', port: 9005 });
  await new Promise((r) => setTimeout(r, 100));
  t.equal(emitted.length, before, 'no emit for an unrelated change');

  // The last declaring instances leave: the routes go.
  await a2.deregister();
  await o1.deregister();
  await until(() => follower.routes().routes.length === 0, 'routes removed');
  t.same(emitted.at(-1)?.routes, []);
});
