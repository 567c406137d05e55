import t from 'tap';
import { createPluginChain, pluginFactories, pluginFactory } from '../../gateway/plugins/index.js';
import type { RequestContext } from '../../gateway/types.js';
import { expectRosterError } from '../helpers/expect-error.js';
import { fakeEnv, fakeRequestContext, run } from '../helpers/fake-request-context.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256!';

/** Minimal valid settings per plugin. */
const valid: Record<string, Record<string, unknown>> = {
  'ip-filter': { deny: ['10.0.0.0/8'] },
  cors: { origins: ['https://a.test'] },
  jwt: { algorithms: ['HS256'], secret: SECRET },
  'api-key': { keys: [{ consumer: 'c', key: 'k'.repeat(20) }] },
  'rate-limit': { limit: 10 },
  'body-limit': { maxBytes: 1024 },
};

t.test('the factory list', async (t) => {
  t.same(
    pluginFactories.map((f) => [f.name, f.order]),
    [
      ['ip-filter', 10],
      ['cors', 20],
      ['jwt', 30],
      ['api-key', 31],
      ['rate-limit', 40],
      ['body-limit', 50],
    ],
    'sorted by chain order',
  );
  t.ok(Object.isFrozen(pluginFactories));
  for (const f of pluginFactories) t.equal(pluginFactory(f.name), f);
  t.equal(pluginFactory('nope'), undefined);
  t.equal(pluginFactory('__proto__'), undefined);
  t.same(
    Object.keys(valid).sort(),
    pluginFactories.map((f) => f.name).sort(),
    'every plugin covered here',
  );
});

t.test(
  'every plugin: valid settings build, unknown keys and non-objects are rejected by name',
  async (t) => {
    for (const f of pluginFactories) {
      const path = `routes.r1.plugins.${f.name}`;
      const plugin = f.create(valid[f.name], fakeEnv(path));
      t.equal(plugin.name, f.name);
      plugin.close?.();
      expectRosterError(
        t,
        () => f.create({ ...valid[f.name], bogus: 1 }, fakeEnv(path)),
        'ROSTER_ERR_CONFIG',
        `${path}.bogus`,
      );
      expectRosterError(
        t,
        () => f.create(JSON.parse(`{"__proto__": 1}`), fakeEnv(path)),
        'ROSTER_ERR_CONFIG',
        `${path}.__proto__`,
      );
      expectRosterError(t, () => f.create([], fakeEnv(path)), 'ROSTER_ERR_CONFIG', path);
      expectRosterError(t, () => f.create(42, fakeEnv(path)), 'ROSTER_ERR_CONFIG', path);
    }
  },
);

t.test('createPluginChain: order, false disables, unknown plugins, a chain run', async (t) => {
  const env = fakeEnv();
  const chain = createPluginChain(
    {
      'body-limit': { maxBytes: 10 },
      'rate-limit': { limit: 1, windowSec: 3600, key: 'consumer' },
      jwt: { algorithms: ['HS256'], secret: SECRET },
      cors: false,
      'ip-filter': { allow: ['203.0.113.0/24'] },
    },
    'routes.api.plugins',
    env,
  );
  t.same(
    chain.map((p) => p.name),
    ['ip-filter', 'jwt', 'rate-limit', 'body-limit'],
  );
  t.same(createPluginChain(undefined, 'x', env), []);
  t.same(createPluginChain({}, 'x', env), []);
  expectRosterError(
    t,
    () => createPluginChain({ oauth: {} }, 'routes.api.plugins', env),
    'ROSTER_ERR_CONFIG',
    'routes.api.plugins.oauth',
  );
  expectRosterError(
    t,
    () =>
      createPluginChain(
        { jwt: { algorithms: ['HS256'], secret: SECRET, audiance: 'x' } },
        'routes.api.plugins',
        env,
      ),
    'ROSTER_ERR_CONFIG',
    'routes.api.plugins.jwt.audiance',
  );
  expectRosterError(
    t,
    () => createPluginChain({ 'rate-limit': true }, 'routes.api.plugins', env),
    'ROSTER_ERR_CONFIG',
    'routes.api.plugins.rate-limit.limit',
  );

  // Run the chain the way the proxy does: stop at the first answer.
  const { SignJWT } = await import('jose');
  const token = await new SignJWT({ sub: 'alice' })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));
  const through = async (ctx: RequestContext) => {
    for (const p of chain) {
      const out = await run(p, ctx);
      if (out) return out;
    }
    return undefined;
  };
  const headers = { authorization: `Bearer ${token}` };
  t.equal(
    (await through(fakeRequestContext({ headers, clientIp: '198.51.100.1' })))?.reason,
    'ip_not_allowed',
  );
  t.equal((await through(fakeRequestContext({ clientIp: '203.0.113.1' })))?.reason, 'jwt_missing');
  const ok = fakeRequestContext({
    headers: { ...headers, 'content-length': '5' },
    clientIp: '203.0.113.1',
  });
  t.equal(await through(ok), undefined, 'passes every plugin');
  t.equal(ok.consumer, 'alice');
  t.equal(ok.bodyLimit, 10);
  t.equal(ok.responseHeaders['ratelimit-remaining'], '0');
  t.equal(
    (await through(fakeRequestContext({ headers, clientIp: '203.0.113.2' })))?.status,
    429,
    'limited per consumer across ips',
  );
  for (const p of chain) p.close?.();
});
