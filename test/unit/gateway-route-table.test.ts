/**
 * gateway/route-table.ts: file and registry routes merged; file conflicts refuse the config,
 * registry conflicts are dropped and reported (file routes win, then the earlier name);
 * defaults apply; plugin chains are merged, ordered, cached across builds and closed when no
 * table uses them any more.
 */
import t from 'tap';
import { type FileRouteConfig, validateConfig } from '../../gateway/config.js';
import { pluginFactories } from '../../gateway/plugins/index.js';
import type { RegistryRouteSet } from '../../gateway/route-metadata.js';
import {
  mergePluginSettings,
  RouteTableBuilder,
  type RouteTableInput,
  routeConflict,
} from '../../gateway/route-table.js';
import type { Plugin, PluginFactory, RouteConfig, RouteMatch } from '../../gateway/types.js';
import { RosterError } from '../../protocol/index.js';

const NO_REGISTRY: RegistryRouteSet = { routes: [], errors: [], disagreements: [] };

function input(
  fileRoutes: FileRouteConfig[],
  registry: RouteConfig[] = [],
  patch: Partial<RouteTableInput> = {},
): RouteTableInput {
  return {
    fileRoutes,
    defaults: { plugins: {} },
    registryRoutes: { enabled: true, plugins: {} },
    registry: { ...NO_REGISTRY, routes: registry },
    ...patch,
  };
}

const file = (name: string, match: RouteMatch, extra: Partial<FileRouteConfig> = {}) =>
  ({ name, match, service: name.replace(/[^a-z0-9-]/g, '') || 'svc', ...extra }) as FileRouteConfig;
const reg = (service: string, match: RouteMatch, index = 0): RouteConfig => ({
  name: index === 0 ? `${service}:route` : `${service}:route.${index}`,
  match,
  service,
  source: 'registry',
});

t.test('conflict rule follows the router precedence', async (t) => {
  const p = (prefix: string) => ({ prefix });
  const cases: [string, RouteMatch, RouteMatch, boolean][] = [
    ['same prefix, any host', { path: p('/a') }, { path: p('/a') }, true],
    ['trailing slash is the same prefix', { path: p('/a/') }, { path: p('/a') }, true],
    ['different prefix', { path: p('/a') }, { path: p('/b') }, false],
    ['prefix vs exact', { path: p('/a') }, { path: { exact: '/a' } }, false],
    [
      'template params renamed',
      { path: { template: '/u/:id' } },
      { path: { template: '/u/:uid' } },
      true,
    ],
    [
      'shared exact host',
      { path: p('/a'), hosts: ['x.io', 'y.io'] },
      { path: p('/a'), hosts: ['y.io'] },
      true,
    ],
    ['host vs any host: host wins', { path: p('/a'), hosts: ['x.io'] }, { path: p('/a') }, false],
    [
      'wildcard vs exact',
      { path: p('/a'), hosts: ['*.x.io'] },
      { path: p('/a'), hosts: ['a.x.io'] },
      false,
    ],
    [
      'same wildcard',
      { path: p('/a'), hosts: ['*.x.io'] },
      { path: p('/a'), hosts: ['*.x.io'] },
      true,
    ],
    [
      'disjoint methods',
      { path: p('/a'), methods: ['GET'] },
      { path: p('/a'), methods: ['POST'] },
      false,
    ],
    [
      'shared method',
      { path: p('/a'), methods: ['GET', 'PUT'] },
      { path: p('/a'), methods: ['PUT'] },
      true,
    ],
    ['methods vs none: methods win', { path: p('/a'), methods: ['GET'] }, { path: p('/a') }, false],
    [
      'header vs none: header wins',
      { path: p('/a'), headers: { x: '1' } },
      { path: p('/a') },
      false,
    ],
    [
      'same header',
      { path: p('/a'), headers: { x: '1' } },
      { path: p('/a'), headers: { x: '1' } },
      true,
    ],
    [
      'header values differ',
      { path: p('/a'), headers: { x: '1' } },
      { path: p('/a'), headers: { x: '2' } },
      false,
    ],
    [
      'one header each, compatible',
      { path: p('/a'), headers: { x: '1' } },
      { path: p('/a'), headers: { y: '1' } },
      true,
    ],
    [
      'method vs header: same weight',
      { path: p('/a'), methods: ['GET'] },
      { path: p('/a'), headers: { y: '1' } },
      true,
    ],
  ];
  for (const [what, a, b, conflict] of cases) {
    t.equal(routeConflict(a, b) !== undefined, conflict, what);
    t.equal(routeConflict(b, a) !== undefined, conflict, `${what} (swapped)`);
  }
  t.match(
    routeConflict({ path: p('/a') }, { path: p('/a') }),
    /path prefix \/a on any host for any method/,
  );
});

t.test('file conflicts refuse the config and name both routes', async (t) => {
  const b = new RouteTableBuilder();
  t.throws(
    () =>
      b.build(
        input([
          file('users', { path: { prefix: '/users' } }),
          file('other', { path: { prefix: '/other' } }),
          file('users-v2', { path: { prefix: '/users' }, methods: ['GET'] }, { service: 'users' }),
          file('users-v3', { path: { prefix: '/users/' } }, { service: 'users' }),
        ]),
      ),
    {
      code: 'ROSTER_ERR_CONFLICT',
      message:
        /^routes\[3\] \(users-v3\) conflicts with routes\[0\] \(users\): both match path prefix/,
      data: { path: 'routes[3]', route: 'users-v3', conflictsWith: 'users' },
    },
  );
});

t.test('registry routes merge; conflicts are dropped and reported, file routes win', async (t) => {
  const b = new RouteTableBuilder();
  const { table, report } = b.build(
    input(
      [file('users', { path: { prefix: '/users' } }, { service: 'users' })],
      [
        reg('zeta', { path: { prefix: '/shared' } }),
        reg('alpha', { path: { prefix: '/shared' } }),
        reg('users', { path: { prefix: '/users' } }),
        reg('orders', { path: { prefix: '/orders' } }),
        reg('users', { path: { prefix: '/users' }, hosts: ['api.io'] }, 2),
      ],
    ),
  );
  t.same(
    table.routes.map((r) => `${r.source}:${r.name}`),
    ['file:users', 'registry:alpha:route', 'registry:orders:route', 'registry:users:route.2'],
  );
  t.same(table.services, ['alpha', 'orders', 'users']);
  t.same(
    report.problems.map((p) => [p.kind, p.route, p.conflictsWith]),
    [
      ['conflict', 'users:route', 'users'],
      ['conflict', 'zeta:route', 'alpha:route'],
    ],
  );
  t.match(report.problems[0]?.message, /conflicts with file route users \(which wins\)/);
  t.equal(table.match('x.io', 'GET', '/shared/1', {})?.route.service, 'alpha');
  t.equal(table.match('api.io', 'GET', '/users/1', {})?.route.name, 'users:route.2');
  t.equal(table.match('x.io', 'GET', '/users/1', {})?.route.name, 'users');
  t.equal(table.match('x.io', 'GET', '/nope', {}), undefined);
});

t.test('registry allow-list, bad declarations and disagreements are reported', async (t) => {
  const b = new RouteTableBuilder();
  const { table, report } = b.build({
    ...input([], [reg('a', { path: { prefix: '/a' } }), reg('b', { path: { prefix: '/b' } })]),
    registryRoutes: { enabled: true, plugins: {}, services: ['a'] },
    registry: {
      routes: [reg('a', { path: { prefix: '/a' } }), reg('b', { path: { prefix: '/b' } })],
      errors: [
        {
          service: 'c',
          instance: 'c1',
          route: 'c:route',
          key: 'roster.route.path-prefix',
          message: 'x',
        },
      ],
      disagreements: [{ service: 'a', route: 'a:route', chosenFrom: 'a1', overruled: ['a2'] }],
    },
  });
  t.same(
    table.routes.map((r) => r.name),
    ['a:route'],
  );
  t.same(
    report.problems.map((p) => [p.kind, p.route]),
    [
      ['invalid', 'c:route'],
      ['disagreement', 'a:route'],
      ['not-allowed', 'b:route'],
    ],
  );
  const off = b.build({
    ...input([], [reg('a', { path: { prefix: '/a' } })]),
    registryRoutes: { enabled: false, plugins: {} },
  });
  t.same(off.table.routes, [], 'registry routes off');
});

t.test('defaults fill what a route leaves open', async (t) => {
  const b = new RouteTableBuilder();
  const { table } = b.build(
    input(
      [file('a', { path: { prefix: '/a' } }, { timeoutMs: 1000 })],
      [reg('b', { path: { prefix: '/b' } })],
      {
        defaults: {
          plugins: {},
          timeoutMs: 5000,
          strategy: 'least-outstanding',
          retries: { attempts: 1 },
        },
      },
    ),
  );
  t.same(
    table.routes.map((r) => [r.name, r.timeoutMs, r.strategy, r.retries?.attempts]),
    [
      ['a', 1000, 'least-outstanding', 1],
      ['b:route', 5000, 'least-outstanding', 1],
    ],
  );
});

t.test('plugin settings merge per plugin', async (t) => {
  t.same(
    mergePluginSettings(
      { cors: { origins: ['*'], maxAgeSec: 5 }, 'rate-limit': { limit: 1 }, jwt: { a: 1 } },
      { cors: { maxAgeSec: 10 }, jwt: false, 'body-limit': true },
    ),
    {
      cors: { origins: ['*'], maxAgeSec: 10 },
      'rate-limit': { limit: 1 },
      jwt: false,
      'body-limit': {},
    },
  );
});

function recordingFactories(log: string[]): PluginFactory[] {
  const make = (name: string, order: number): PluginFactory => ({
    name,
    order,
    create(settings: unknown, env): Plugin {
      if (settings && typeof settings === 'object' && 'bad' in settings) {
        throw new RosterError('ROSTER_ERR_CONFIG', `${env.configPath}.bad: nope`, {
          path: `${env.configPath}.bad`,
        });
      }
      log.push(`create ${name} ${env.configPath} gw=${env.liveGateways()}`);
      return {
        name,
        onRequest: () => undefined,
        close: () => log.push(`close ${name} ${env.configPath}`),
      };
    },
  });
  return [make('late', 50), make('early', 10), make('mid', 30)];
}

t.test('plugin chains: ordered, cached across builds, closed when unused', async (t) => {
  const log: string[] = [];
  const b = new RouteTableBuilder({ factories: recordingFactories(log), liveGateways: () => 3 });
  const defaults = { plugins: { late: {}, early: {} } };
  const first = b.build(
    input(
      [file('a', { path: { prefix: '/a' } }, { plugins: { mid: {}, early: false } })],
      [reg('r', { path: { prefix: '/r' } })],
      { defaults },
    ),
  );
  const a = first.table.routes.find((r) => r.name === 'a')!;
  t.same(
    first.table.plugins(a).map((p) => p.name),
    ['mid', 'late'],
  );
  t.same(
    first.report.routes.map((r) => [r.name, r.plugins]),
    [
      ['a', ['mid', 'late']],
      ['r:route', ['early', 'late']],
    ],
  );
  t.same(log, [
    'create mid routes.a.plugins.mid gw=3',
    'create late routes.a.plugins.late gw=3',
    'create early routes.r:route.plugins.early gw=3',
    'create late routes.r:route.plugins.late gw=3',
  ]);
  log.length = 0;

  // Same settings for a, changed ones for r: a's chain is reused, r's rebuilt.
  const second = b.build(
    input(
      [file('a', { path: { prefix: '/a' } }, { plugins: { mid: {}, early: false } })],
      [reg('r', { path: { prefix: '/r' } })],
      {
        defaults,
        registryRoutes: { enabled: true, plugins: { mid: { x: 1 } } },
      },
    ),
  );
  t.same(log, [
    'create early routes.r:route.plugins.early gw=3',
    'create mid routes.r:route.plugins.mid gw=3',
    'create late routes.r:route.plugins.late gw=3',
  ]);
  t.equal(
    second.table.plugins(second.table.routes[0]!)[0],
    first.table.plugins(a)[0],
    'the same plugin instance',
  );
  log.length = 0;
  first.table.close();
  first.table.close();
  t.same(
    log,
    ['close early routes.r:route.plugins.early', 'close late routes.r:route.plugins.late'],
    'only the chain no table uses is closed, once',
  );
  log.length = 0;
  b.close();
  t.equal(log.length, 5, 'closing the builder closes the rest');
});

t.test('plugin errors: a file route refuses the config, a registry route is dropped', async (t) => {
  const log: string[] = [];
  const b = new RouteTableBuilder({ factories: recordingFactories(log) });
  t.throws(
    () => b.build(input([file('a', { path: { prefix: '/a' } }, { plugins: { nope: {} } })])),
    {
      code: 'ROSTER_ERR_CONFIG',
      message: /^routes\.a\.plugins\.nope: unknown plugin \(known: early, mid, late\)/,
    },
  );
  t.throws(
    () =>
      b.build(
        input([file('a', { path: { prefix: '/a' } })], [], { defaults: { plugins: { nope: {} } } }),
      ),
    {
      message: /^defaults\.plugins\.nope: unknown plugin/,
    },
  );
  t.throws(
    () =>
      b.build(
        input([file('a', { path: { prefix: '/a' } })], [], {
          defaults: { plugins: { mid: { bad: 1 } } },
        }),
      ),
    {
      message: /^routes\.a\.plugins\.mid\.bad: nope \(inherited from defaults\.plugins\.mid\)/,
    },
  );
  log.length = 0;
  const { table, report } = b.build(
    input(
      [file('a', { path: { prefix: '/a' } }, { plugins: { early: {} } })],
      [reg('r', { path: { prefix: '/r' } })],
      {
        registryRoutes: { enabled: true, plugins: { mid: { bad: 1 } } },
      },
    ),
  );
  t.same(
    table.routes.map((r) => r.name),
    ['a'],
  );
  t.same(
    report.problems.map((p) => [p.kind, p.route]),
    [['plugin', 'r:route']],
  );
  t.same(
    log,
    ['create early routes.a.plugins.early gw=1'],
    'the failed build released nothing it should keep',
  );
});

t.test('the real plugin factories build from a validated config', async (t) => {
  const config = validateConfig({
    listeners: [{ port: 0 }],
    defaults: {
      plugins: { 'body-limit': { maxBytes: 1024 }, cors: { origins: ['https://app.example.com'] } },
    },
    routes: [
      {
        name: 'api',
        match: { path: { prefix: '/api' } },
        service: 'api',
        plugins: { 'rate-limit': { limit: 10, windowSec: 1 }, cors: false },
      },
    ],
  });
  const b = new RouteTableBuilder({ factories: pluginFactories });
  const { table } = b.build({
    fileRoutes: config.routes,
    defaults: config.defaults,
    registryRoutes: config.registryRoutes,
    registry: NO_REGISTRY,
  });
  t.same(
    table.plugins(table.routes[0]!).map((p) => p.name),
    ['rate-limit', 'body-limit'],
  );
  table.close();
  b.close();
});
