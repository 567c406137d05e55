/**
 * gateway/config.ts: a full config normalizes with its defaults, validation is idempotent, and
 * every kind of mistake is one ROSTER_ERR_CONFIG naming the bad key.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  ConfigLimits,
  loadConfigFile,
  parseConfigText,
  validateConfig,
} from '../../gateway/config.js';
import { RosterError } from '../../protocol/index.js';

const TOKEN = 'admin-token-0123456789abcdef';

function base(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listeners: [{ port: 8080 }],
    admin: { port: 9901, token: TOKEN },
    routes: [{ name: 'users', match: { path: { prefix: '/users' } }, service: 'users' }],
    ...extra,
  };
}

function errorOf(raw: unknown): RosterError {
  try {
    validateConfig(raw, { skipFileChecks: true });
  } catch (err) {
    if (err instanceof RosterError) return err;
    throw err;
  }
  throw new Error('expected a config error, validation passed');
}

t.test('a minimal config gets its defaults', async (t) => {
  const c = validateConfig(base());
  t.same(c.listeners, [{ port: 8080, host: '0.0.0.0' }]);
  t.same(c.nats, { servers: ['nats://127.0.0.1:4222'], connectTimeoutMs: 30_000 });
  t.equal(c.prefix, 'roster');
  t.same(c.admin, {
    port: 9901,
    host: '127.0.0.1',
    token: TOKEN,
    metricsPublic: false,
    probesPublic: false,
  });
  t.equal(c.trustedHops, 0);
  t.same(c.defaults, { plugins: {} });
  t.same(c.registryRoutes, { enabled: true, plugins: {}, resyncMs: 30_000 });
  t.same(c.gateway, { name: 'roster-gateway', shutdownGraceMs: 10_000 });
  t.same(c.routes, [{ name: 'users', match: { path: { prefix: '/users' } }, service: 'users' }]);
  t.same(validateConfig(c), c, 'validating a validated config changes nothing');
});

t.test('a full route is normalized', async (t) => {
  const c = validateConfig(
    base({
      routes: [
        {
          name: 'orders',
          match: {
            hosts: ['API.example.com', '*.example.org', 'api.example.com'],
            path: { template: '/orders/:id/*' },
            methods: ['get', 'POST'],
            headers: { 'X-Api-Version': 2 },
          },
          service: 'orders',
          stripPrefix: true,
          timeoutMs: 5000,
          retries: { attempts: 2, budgetPercent: 10, onStatus: [503, 503, 502] },
          strategy: 'least-outstanding',
          filter: { tags: { all: ['http'] }, version: '^2', statuses: ['passing'] },
          plugins: { cors: true, 'rate-limit': { limit: 10 }, jwt: false },
        },
      ],
    }),
  );
  t.same(c.routes[0], {
    name: 'orders',
    match: {
      path: { template: '/orders/:id/*' },
      hosts: ['api.example.com', '*.example.org'],
      methods: ['GET', 'POST'],
      headers: { 'x-api-version': '2' },
    },
    service: 'orders',
    stripPrefix: true,
    timeoutMs: 5000,
    retries: { attempts: 2, budgetPercent: 10, onStatus: [503, 502] },
    strategy: 'least-outstanding',
    filter: { tags: { all: ['http'] }, version: '^2', statuses: ['passing'] },
    plugins: { cors: {}, 'rate-limit': { limit: 10 }, jwt: false },
  });
});

const route = (patch: Record<string, unknown>, match: Record<string, unknown> = {}) => ({
  name: 'r',
  service: 'svc',
  ...patch,
  match: { path: { prefix: '/r' }, ...match },
});

const mistakes: [string, unknown, string, RegExp?][] = [
  ['not a map', [], '', /must be a map/],
  ['unknown top-level key', { ...base(), listner: [] }, 'listner', /unknown key/],
  ['no listeners', { ...base(), listeners: undefined }, 'listeners', /required/],
  ['empty listeners', base({ listeners: [] }), 'listeners', /at least 1/],
  ['port out of range', base({ listeners: [{ port: 70000 }] }), 'listeners[0].port'],
  ['port as text', base({ listeners: [{ port: '80' }] }), 'listeners[0].port'],
  ['duplicate listener', base({ listeners: [{ port: 80 }, { port: 80 }] }), 'listeners[1].port'],
  [
    'tls without key',
    base({ listeners: [{ port: 443, tls: { cert: 'c.pem' } }] }),
    'listeners[0].tls.key',
  ],
  [
    'unknown tls key',
    base({ listeners: [{ port: 443, tls: { crt: 'x' } }] }),
    'listeners[0].tls.crt',
  ],
  ['bad prefix', base({ prefix: 'a b' }), 'prefix'],
  ['admin without token', base({ admin: { port: 1 } }), 'admin.token', /required/],
  ['short admin token', base({ admin: { port: 1, token: 'short' } }), 'admin.token', /at least 16/],
  [
    'token and tokenFile',
    base({ admin: { port: 1, token: TOKEN, tokenFile: 'x' } }),
    'admin.tokenFile',
  ],
  [
    'metricsPublic not boolean',
    base({ admin: { port: 1, token: TOKEN, metricsPublic: 'yes' } }),
    'admin.metricsPublic',
  ],
  ['trustedHops negative', base({ trustedHops: -1 }), 'trustedHops'],
  ['nats url', base({ nats: { servers: ['http://x:1'] } }), 'nats.servers[0]'],
  ['nats user without pass', base({ nats: { user: 'u' } }), 'nats.pass'],
  ['nats user and token', base({ nats: { user: 'u', pass: 'p', token: 't' } }), 'nats.token'],
  ['unknown nats key', base({ nats: { server: 'x' } }), 'nats.server'],
  ['gateway id', base({ gateway: { id: 'a b' } }), 'gateway.id'],
  ['unknown gateway key', base({ gateway: { ids: 'x' } }), 'gateway.ids'],
  [
    'defaults strategy',
    base({ defaults: { strategy: 'fastest' } }),
    'defaults.strategy',
    /unknown strategy/,
  ],
  [
    'defaults plugin value',
    base({ defaults: { plugins: { cors: 'on' } } }),
    'defaults.plugins.cors',
  ],
  [
    'registry services',
    base({ registryRoutes: { services: ['Bad Name'] } }),
    'registryRoutes.services[0]',
  ],
  ['registry resync', base({ registryRoutes: { resyncMs: 10 } }), 'registryRoutes.resyncMs'],
  ['routes not a list', base({ routes: {} }), 'routes', /must be a list/],
  [
    'route without name',
    base({ routes: [{ match: { path: { prefix: '/' } }, service: 's' }] }),
    'routes[0].name',
    /required/,
  ],
  ['route name with colon', base({ routes: [route({ name: 'a:b' })] }), 'routes[0].name'],
  [
    'duplicate names',
    base({ routes: [route({}), route({})] }),
    'routes[1].name',
    /also the name of routes\[0\]/,
  ],
  [
    'unknown route key',
    base({ routes: [route({ timeout: 5 })] }),
    'routes[0].timeout',
    /unknown key/,
  ],
  ['bad service', base({ routes: [route({ service: 'Users' })] }), 'routes[0].service'],
  [
    'prefix without slash',
    base({ routes: [route({}, { path: { prefix: 'users' } })] }),
    'routes[0].match.path.prefix',
    /must start with \//,
  ],
  [
    'two path kinds',
    base({ routes: [route({}, { path: { prefix: '/a', exact: '/a' } })] }),
    'routes[0].match.path',
    /exactly one/,
  ],
  [
    'unnormalized path',
    base({ routes: [route({}, { path: { exact: '/a//b' } })] }),
    'routes[0].match.path.exact',
    /normalized/,
  ],
  [
    'encoded slash',
    base({ routes: [route({}, { path: { prefix: '/a%2Fb' } })] }),
    'routes[0].match.path.prefix',
  ],
  [
    'dot segment',
    base({ routes: [route({}, { path: { prefix: '/a/../b' } })] }),
    'routes[0].match.path.prefix',
  ],
  [
    'template star not last',
    base({ routes: [route({}, { path: { template: '/a/*/b' } })] }),
    'routes[0].match.path.template',
  ],
  [
    'template param twice',
    base({ routes: [route({}, { path: { template: '/a/:id/:id' } })] }),
    'routes[0].match.path.template',
  ],
  [
    'unsafe regex',
    base({ routes: [route({}, { path: { regex: '/(a+)+' } })] }),
    'routes[0].match.path.regex',
    /backtracking/,
  ],
  [
    'invalid regex',
    base({ routes: [route({}, { path: { regex: '/(a' } })] }),
    'routes[0].match.path.regex',
  ],
  [
    'host with port',
    base({ routes: [route({}, { hosts: ['api.example.com:80'] })] }),
    'routes[0].match.hosts[0]',
    /without port/,
  ],
  [
    'host wildcard in the middle',
    base({ routes: [route({}, { hosts: ['a.*.com'] })] }),
    'routes[0].match.hosts[0]',
  ],
  [
    'bad method',
    base({ routes: [route({}, { methods: ['GET POST'] })] }),
    'routes[0].match.methods[0]',
  ],
  [
    'bad header name',
    base({ routes: [route({}, { headers: { 'x y': '1' } })] }),
    'routes[0].match.headers["x y"]',
  ],
  [
    'header value a map',
    base({ routes: [route({}, { headers: { x: {} } })] }),
    'routes[0].match.headers.x',
  ],
  ['unknown match key', base({ routes: [route({}, { host: 'a' })] }), 'routes[0].match.host'],
  [
    'strip on exact',
    base({ routes: [route({ stripPrefix: true }, { path: { exact: '/a' } })] }),
    'routes[0].stripPrefix',
  ],
  [
    'strip and rewrite',
    base({ routes: [route({ stripPrefix: true, rewrite: '/x' })] }),
    'routes[0].rewrite',
  ],
  ['rewrite not absolute', base({ routes: [route({ rewrite: 'x' })] }), 'routes[0].rewrite'],
  ['timeout zero', base({ routes: [route({ timeoutMs: 0 })] }), 'routes[0].timeoutMs'],
  [
    'timeout huge',
    base({ routes: [route({ timeoutMs: ConfigLimits.maxTimeoutMs + 1 })] }),
    'routes[0].timeoutMs',
  ],
  [
    'retries without attempts',
    base({ routes: [route({ retries: {} })] }),
    'routes[0].retries.attempts',
  ],
  [
    'retries too many',
    base({ routes: [route({ retries: { attempts: 11 } })] }),
    'routes[0].retries.attempts',
  ],
  [
    'retry status 200',
    base({ routes: [route({ retries: { attempts: 1, onStatus: [200] } })] }),
    'routes[0].retries.onStatus[0]',
  ],
  [
    'filter unknown key',
    base({ routes: [route({ filter: { tag: 'x' } })] }),
    'routes[0].filter.tag',
  ],
  [
    'filter bad range',
    base({ routes: [route({ filter: { version: '>=>1' } })] }),
    'routes[0].filter.version',
  ],
  [
    'filter bad status',
    base({ routes: [route({ filter: { statuses: ['up'] } })] }),
    'routes[0].filter.statuses[0]',
  ],
  ['plugin name', base({ routes: [route({ plugins: { JWT: {} } })] }), 'routes[0].plugins.JWT'],
  [
    'plugin forbidden key',
    base({ routes: [route({ plugins: JSON.parse('{"cors":{"__proto__":{"x":1}}}') })] }),
    'routes[0].plugins.cors.__proto__',
  ],
  ['upstream idle timeout 0', base({ upstream: { idleTimeoutMs: 0 } }), 'upstream.idleTimeoutMs'],
  ['upstream head limit', base({ upstream: { maxHeadBytes: 100 } }), 'upstream.maxHeadBytes'],
  ['upstream pending', base({ upstream: { maxPending: -1 } }), 'upstream.maxPending'],
  ['upstream idle cap 0', base({ upstream: { idleTimeoutMaxMs: 0 } }), 'upstream.idleTimeoutMaxMs'],
  ['access log without a path', base({ accessLog: {} }), 'accessLog.path'],
  ['access log empty path', base({ accessLog: { path: '' } }), 'accessLog.path'],
  [
    'access log unknown key',
    base({ accessLog: { path: 'a.log', format: 'x' } }),
    'accessLog.format',
  ],
  [
    'access log tiny buffer',
    base({ accessLog: { path: 'a.log', maxBufferBytes: 1024 } }),
    'accessLog.maxBufferBytes',
  ],
  [
    'too many hosts',
    base({
      routes: [route({}, { hosts: Array.from({ length: 33 }, (_, i) => `h${i}.example.com`) })],
    }),
    'routes[0].match.hosts',
    /at most 32/,
  ],
];

t.test('every mistake names its key', async (t) => {
  for (const [what, raw, path, message] of mistakes) {
    const err = errorOf(raw);
    t.equal(err.code, 'ROSTER_ERR_CONFIG', `${what}: code`);
    t.equal(err.data?.path, path, `${what}: data.path`);
    t.ok(
      path === '' || err.message.startsWith(`${path}: `),
      `${what}: message starts with the path (${err.message})`,
    );
    if (message) t.match(err.message, message, `${what}: message`);
  }
});

t.test('the upstream section keeps its connection settings', async (t) => {
  const upstream = {
    connections: 64,
    maxPending: 0,
    connectTimeoutMs: 500,
    bodyTimeoutMs: 30_000,
    rejectUnauthorized: false,
    idleTimeoutMs: 2000,
    idleTimeoutMaxMs: 30000,
    maxHeadBytes: 8192,
  };
  t.same(validateConfig(base({ upstream })).upstream, upstream);
});

t.test('the access log: a path resolved against the config folder, or a stream', async (t) => {
  t.equal(validateConfig(base()).accessLog, undefined, 'none by default');
  t.same(
    validateConfig(base({ accessLog: { path: 'logs/access.log' } }), { baseDir: '/etc/roster' })
      .accessLog,
    {
      path: '/etc/roster/logs/access.log',
      maxBufferBytes: 4 * 1024 * 1024,
    },
  );
  t.same(
    validateConfig(base({ accessLog: { path: 'stdout', maxBufferBytes: 65_536 } })).accessLog,
    {
      path: 'stdout',
      maxBufferBytes: 65_536,
    },
  );
  const c = validateConfig(base({ accessLog: { path: '/var/log/a.log' } }));
  t.same(validateConfig(c), c, 'validating again changes nothing');
});

t.test('routes are bounded', async (t) => {
  const routes = Array.from({ length: ConfigLimits.maxRoutes + 1 }, (_, i) =>
    route({ name: `r${i}` }),
  );
  t.equal(errorOf(base({ routes })).data?.path, 'routes');
});

t.test(
  'YAML: syntax errors name the line, duplicate keys are refused, JSON works too',
  async (t) => {
    t.throws(() => parseConfigText('listeners:\n  - port: 1\n   bad: [', 'g.yaml'), {
      code: 'ROSTER_ERR_CONFIG',
      message: /g\.yaml: not valid YAML\/JSON at line \d+/,
    });
    t.throws(() => parseConfigText('prefix: a\nprefix: b\n'), { code: 'ROSTER_ERR_CONFIG' });
    t.same(parseConfigText('{"prefix": "x", "listeners": [{"port": 1}]}'), {
      prefix: 'x',
      listeners: [{ port: 1 }],
    });
    t.throws(() => parseConfigText('x'.repeat(ConfigLimits.maxFileBytes + 1)), {
      code: 'ROSTER_ERR_CONFIG',
      message: /larger than/,
    });
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i++)
      bomb.push(
        `${'b'.repeat(i + 1)}: &${'b'.repeat(i + 1)} [${Array(10)
          .fill(i === 0 ? '*a' : `*${'b'.repeat(i)}`)
          .join(', ')}]`,
      );
    t.throws(
      () => parseConfigText(bomb.join('\n')),
      { code: 'ROSTER_ERR_CONFIG' },
      'alias bombs are refused',
    );
  },
);

t.test('files: relative paths resolve against the config folder, tokenFile is read', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-gw-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'cert.pem'), '-----BEGIN CERTIFICATE-----\n');
  writeFileSync(join(dir, 'key.pem'), '-----BEGIN PRIVATE KEY-----\n');
  writeFileSync(join(dir, 'admin.token'), `${TOKEN}\n`);
  const file = join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    [
      'listeners:',
      '  - port: 8443',
      '    tls: { cert: cert.pem, key: ./key.pem }',
      'admin:',
      '  port: 9901',
      '  tokenFile: admin.token',
      'routes: []',
    ].join('\n'),
  );
  const { config, text } = loadConfigFile(file);
  t.same(config.listeners[0]?.tls, { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') });
  t.equal(config.admin?.token, TOKEN, 'token read and trimmed');
  t.match(text, /listeners/);

  writeFileSync(file, 'listeners:\n  - port: 8443\n    tls: { cert: missing.pem, key: key.pem }\n');
  t.throws(() => loadConfigFile(file), {
    code: 'ROSTER_ERR_CONFIG',
    message: /listeners\[0\]\.tls\.cert: cannot read .*missing\.pem \(ENOENT\)/,
  });
  t.throws(() => loadConfigFile(join(dir, 'nope.yaml')), {
    code: 'ROSTER_ERR_CONFIG',
    message: /cannot read the gateway config/,
  });
});
