import t from 'tap';
import {
  apiKeyPluginFactory,
  createApiKeyPlugin,
  hashApiKey,
} from '../../gateway/plugins/api-key.js';
import { expectRosterError } from '../helpers/expect-error.js';
import { fakeEnv, fakeRequestContext, run } from '../helpers/fake-request-context.js';

const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef-xyz';

t.test('hashed and plain keys map to their consumers', async (t) => {
  const env = fakeEnv('routes.a.plugins.api-key');
  const plugin = createApiKeyPlugin(
    {
      keys: [
        { consumer: 'alice', hash: hashApiKey(ALICE) },
        {
          consumer: 'alice',
          hash: hashApiKey(`${ALICE}-rotated`).toUpperCase().replace('SHA256', 'sha256'),
        },
        { consumer: 'bob', key: BOB },
      ],
    },
    env,
  );
  t.match(hashApiKey(ALICE), /^sha256:[0-9a-f]{64}$/);
  const warn = env.lines.find((l) => l.level === 40);
  t.ok(warn, 'plain keys in the config are warned about');
  t.notOk(JSON.stringify(env.lines).includes(BOB), 'the plain key itself is never logged');

  for (const [key, consumer] of [
    [ALICE, 'alice'],
    [`${ALICE}-rotated`, 'alice'],
    [BOB, 'bob'],
  ] as const) {
    const ctx = fakeRequestContext({ headers: { 'x-api-key': key } });
    t.equal(await run(plugin, ctx), undefined, `${consumer} accepted`);
    t.equal(ctx.consumer, consumer);
  }
});

t.test('missing and unknown keys are 401', async (t) => {
  const plugin = createApiKeyPlugin({ keys: [{ consumer: 'alice', key: ALICE }] }, fakeEnv());
  const missing = fakeRequestContext();
  const out = await run(plugin, missing);
  t.equal(out?.status, 401);
  t.equal(out?.reason, 'api_key_missing');
  t.equal(missing.consumer, undefined);
  t.equal(
    (await run(plugin, fakeRequestContext({ headers: { 'x-api-key': '' } })))?.reason,
    'api_key_missing',
  );
  for (const wrong of [
    `${ALICE}x`,
    ALICE.slice(0, -1),
    ALICE.toUpperCase(),
    hashApiKey(ALICE),
    'x'.repeat(5000),
  ]) {
    const ctx = fakeRequestContext({ headers: { 'x-api-key': wrong } });
    const o = await run(plugin, ctx);
    t.equal(o?.status, 401, 'unknown key refused');
    t.equal(o?.reason, 'api_key_invalid');
    t.equal(ctx.consumer, undefined);
    t.match(o?.headers?.['www-authenticate'], /ApiKey/);
  }
  t.equal(
    (await run(plugin, fakeRequestContext({ query: `?api_key=${ALICE}` })))?.reason,
    'api_key_missing',
    'the query is not read unless configured',
  );
});

t.test('custom header and query parameter', async (t) => {
  const plugin = createApiKeyPlugin(
    { keys: [{ consumer: 'alice', key: ALICE }], header: 'X-Custom-Key', queryParam: 'api_key' },
    fakeEnv(),
  );
  const byHeader = fakeRequestContext({ headers: { 'x-custom-key': ALICE } });
  t.equal(await run(plugin, byHeader), undefined);
  t.equal(byHeader.consumer, 'alice');
  t.equal(
    (await run(plugin, fakeRequestContext({ headers: { 'x-api-key': ALICE } })))?.reason,
    'api_key_missing',
  );
  const byQuery = fakeRequestContext({ query: `?a=1&api_key=${encodeURIComponent(ALICE)}` });
  t.equal(await run(plugin, byQuery), undefined, 'from the query');
  t.equal(byQuery.consumer, 'alice');
  t.equal(
    (await run(plugin, fakeRequestContext({ query: '?api_key=nope-nope-nope-nope' })))?.reason,
    'api_key_invalid',
  );
});

t.test('config errors name the key', async (t) => {
  const P = 'routes.a.plugins.api-key';
  const cases: [unknown, string][] = [
    [{}, `${P}.keys`],
    [{ keys: [] }, `${P}.keys`],
    [{ keys: 'k' }, `${P}.keys`],
    [{ keys: [{ consumer: 'a', key: ALICE }], headr: 'x' }, `${P}.headr`],
    [{ keys: ['plain'] }, `${P}.keys[0]`],
    [{ keys: [{ key: ALICE }] }, `${P}.keys[0].consumer`],
    [{ keys: [{ consumer: 'a' }] }, `${P}.keys[0]`],
    [{ keys: [{ consumer: 'a', key: ALICE, hash: hashApiKey(ALICE) }] }, `${P}.keys[0]`],
    [{ keys: [{ consumer: 'a', hash: 'md5:abc' }] }, `${P}.keys[0].hash`],
    [{ keys: [{ consumer: 'a', hash: `sha256:${'g'.repeat(64)}` }] }, `${P}.keys[0].hash`],
    [{ keys: [{ consumer: 'a', key: 'short' }] }, `${P}.keys[0].key`],
    [{ keys: [{ consumer: 'a', key: ALICE, note: 'x' }] }, `${P}.keys[0].note`],
    [
      {
        keys: [
          { consumer: 'a', key: ALICE },
          { consumer: 'b', hash: hashApiKey(ALICE) },
        ],
      },
      `${P}.keys[1]`,
    ],
    [{ keys: [{ consumer: 'a', key: ALICE }], header: 'bad header' }, `${P}.header`],
    [{ keys: [{ consumer: 'a', key: ALICE }], queryParam: '' }, `${P}.queryParam`],
  ];
  for (const [settings, path] of cases) {
    expectRosterError(
      t,
      () => apiKeyPluginFactory.create(settings, fakeEnv(P)),
      'ROSTER_ERR_CONFIG',
      path,
    );
  }
});
