/**
 * What the auth plugins keep from the upstream (gateway/plugins/credentials.ts): the header
 * that carried an accepted JWT or API key, and an API key's query parameter, unless the route
 * sets `forward`. The header withheld is the same set object on every request (the head memo
 * relies on it); a rejected request withholds nothing (it never reaches the upstream anyway).
 */
import t from 'tap';
import { createApiKeyPlugin, hashApiKey } from '../../gateway/plugins/api-key.js';
import { queryWithout, withholdHeaders } from '../../gateway/plugins/credentials.js';
import { createJwtPlugin } from '../../gateway/plugins/jwt.js';
import { fakeEnv, fakeRequestContext, run } from '../helpers/fake-request-context.js';
import { bearer, enc, SECRET, sign } from '../helpers/jwt-tokens.js';

t.test(
  'queryWithout takes out every parameter of that name, as URLSearchParams names it',
  async (t) => {
    const cases: [string, string][] = [
      ['', ''],
      ['?', '?'],
      ['?api_key=k', ''],
      ['?a=1&api_key=k&b=2', '?a=1&b=2'],
      ['?api_key=k&a=1&api_key=again', '?a=1'],
      ['?ap%69_key=k&a=1', '?a=1'],
      ['?api%5Fkey=k', ''],
      ['?api_key&a=1', '?a=1'],
      ['?a=%zz&api_key=k&b=x+y', '?a=%zz&b=x+y'],
      ['?a=1&&b=2', '?a=1&&b=2'],
      ['?api_keys=k&xapi_key=k', '?api_keys=k&xapi_key=k'],
      ['?api+key=k', '?api+key=k'],
    ];
    for (const [query, expected] of cases) {
      t.equal(queryWithout(query, 'api_key'), expected, JSON.stringify(query));
    }
    t.equal(queryWithout('?my+key=k&a=1', 'my key'), '?a=1', '+ reads as a space');
  },
);

t.test('withholdHeaders keeps one set per route, one union for two plugins', async (t) => {
  const ctx = fakeRequestContext();
  const jwt = new Set(['authorization']);
  const key = new Set(['x-api-key']);
  withholdHeaders(ctx, jwt);
  t.equal(ctx.withheldHeaders, jwt, 'the plugin\u2019s own set');
  withholdHeaders(ctx, jwt);
  t.equal(ctx.withheldHeaders, jwt, 'the same set again: unchanged');
  withholdHeaders(ctx, key);
  t.same([...(ctx.withheldHeaders ?? [])].sort(), ['authorization', 'x-api-key'], 'both');
  t.same([...jwt], ['authorization'], 'the plugin\u2019s set is not changed');
  const next = fakeRequestContext();
  withholdHeaders(next, jwt);
  withholdHeaders(next, key);
  t.equal(next.withheldHeaders, ctx.withheldHeaders, 'the next request gets the same union');
});

t.test('jwt: the token header is withheld on every accepting path, unless forward', async (t) => {
  const token = await sign({ sub: 'alice' }, 'HS256', enc.encode(SECRET));
  const plugin = createJwtPlugin({ algorithms: ['HS256'], secret: SECRET }, fakeEnv());
  const seen: (ReadonlySet<string> | undefined)[] = [];
  // Verified, then from the cache, then the same header as the last hit's.
  for (const path of ['verified', 'cached', 'same header']) {
    const ctx = bearer(token);
    t.equal(await run(plugin, ctx), undefined, `${path}: accepted`);
    t.equal(ctx.consumer, 'alice');
    t.same([...(ctx.withheldHeaders ?? [])], ['authorization'], `${path}: Authorization withheld`);
    seen.push(ctx.withheldHeaders);
  }
  t.ok(
    seen.every((s) => s === seen[0]),
    'one set object for every request of the route',
  );

  const refused = bearer(`${token}x`);
  t.not(await run(plugin, refused), undefined, 'a bad signature is refused');
  t.equal(refused.withheldHeaders, undefined, 'and withholds nothing');

  const forwarding = createJwtPlugin(
    { algorithms: ['HS256'], secret: SECRET, forward: true },
    fakeEnv(),
  );
  for (const path of ['verified', 'cached']) {
    const ctx = bearer(token);
    t.equal(await run(forwarding, ctx), undefined, `forward, ${path}: accepted`);
    t.equal(ctx.withheldHeaders, undefined, `forward, ${path}: nothing withheld`);
  }

  const custom = createJwtPlugin(
    { algorithms: ['HS256'], secret: SECRET, header: 'X-Token', cookie: 'session' },
    fakeEnv(),
  );
  const inHeader = fakeRequestContext({ headers: { 'x-token': token } });
  t.equal(await run(custom, inHeader), undefined);
  t.same([...(inHeader.withheldHeaders ?? [])], ['x-token'], 'a configured header is withheld');
  const inCookie = fakeRequestContext({ headers: { cookie: `theme=dark; session=${token}` } });
  t.equal(await run(custom, inCookie), undefined);
  t.equal(inCookie.withheldHeaders, undefined, 'a token from a cookie leaves the Cookie header');

  t.throws(
    () => createJwtPlugin({ algorithms: ['HS256'], secret: SECRET, forward: 'yes' }, fakeEnv()),
    /forward/,
    'forward must be a boolean',
  );
});

t.test('api-key: the header is withheld, a query key taken out, unless forward', async (t) => {
  const KEY = 'alice-key-0123456789abcdef';
  const settings = { keys: [{ consumer: 'alice', hash: hashApiKey(KEY) }], queryParam: 'api_key' };
  const plugin = createApiKeyPlugin(settings, fakeEnv());

  const inHeader = fakeRequestContext({ headers: { 'x-api-key': KEY }, query: '?a=1' });
  t.equal(await run(plugin, inHeader), undefined, 'a key in the header is accepted');
  t.same([...(inHeader.withheldHeaders ?? [])], ['x-api-key'], 'its header is withheld');
  t.equal(inHeader.query, '?a=1', 'the query is left alone');

  const inQuery = fakeRequestContext({ query: `?a=1&api_key=${KEY}&b=2` });
  t.equal(await run(plugin, inQuery), undefined, 'a key in the query is accepted');
  t.equal(inQuery.query, '?a=1&b=2', 'and taken out of the query the upstream gets');
  t.equal(inQuery.withheldHeaders, undefined, 'no header withheld');

  const wrong = fakeRequestContext({ query: '?api_key=not-a-key-0123456789' });
  t.not(await run(plugin, wrong), undefined, 'an unknown key is refused');
  t.equal(wrong.query, '?api_key=not-a-key-0123456789', 'and the query is not rewritten');

  const forwarding = createApiKeyPlugin({ ...settings, forward: true }, fakeEnv());
  const both = [
    fakeRequestContext({ headers: { 'x-api-key': KEY } }),
    fakeRequestContext({ query: `?api_key=${KEY}` }),
  ];
  for (const ctx of both) t.equal(await run(forwarding, ctx), undefined);
  t.equal(both[0]!.withheldHeaders, undefined, 'forward: the header passes');
  t.equal(both[1]!.query, `?api_key=${KEY}`, 'forward: the query keeps the key');
});
