/**
 * The JWT plugin (gateway/plugins/jwt.ts) with static keys: every algorithm family, the attack
 * set, claims and clock tolerance, cached verdicts, token sources and config errors. Keys from
 * a JWKS URL are in gateway-plugin-jwt-jwks.test.ts.
 */
import { createHmac, createPrivateKey, type JsonWebKey } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import t from 'tap';
import { createJwtPlugin, jwtPluginFactory, MAX_TOKEN_LENGTH } from '../../gateway/plugins/jwt.js';
import { expectRosterError } from '../helpers/expect-error.js';
import { fakeEnv, fakeRequestContext, run } from '../helpers/fake-request-context.js';
import { b64, bearer, enc, expectReject, nowSec, SECRET, sign } from '../helpers/jwt-tokens.js';

t.test('HS256 happy path sets the consumer from sub, and caches the verdict', async (t) => {
  const plugin = createJwtPlugin({ algorithms: ['HS256'], secret: SECRET }, fakeEnv());
  const token = await sign({ sub: 'alice' }, 'HS256', enc.encode(SECRET));
  const ctx = bearer(token);
  const first = plugin.onRequest(ctx);
  t.ok(first instanceof Promise, 'first sight verifies asynchronously');
  t.equal(await first, undefined, 'accepted');
  t.equal(ctx.consumer, 'alice');
  const ctx2 = bearer(token);
  const second = plugin.onRequest(ctx2);
  t.equal(second, undefined, 'second sight answers synchronously from the cache');
  t.equal(ctx2.consumer, 'alice');
});

t.test('every supported algorithm family verifies', async (t) => {
  for (const alg of ['HS384', 'HS512']) {
    const plugin = createJwtPlugin({ algorithms: [alg], secret: SECRET.repeat(2) }, fakeEnv());
    const token = await sign({ sub: alg }, alg, enc.encode(SECRET.repeat(2)));
    const ctx = bearer(token);
    t.equal(await run(plugin, ctx), undefined, `${alg} accepted`);
    t.equal(ctx.consumer, alg);
  }
  const asymmetric: [string, Record<string, unknown>?][] = [
    ['RS256'],
    ['RS384'],
    ['RS512'],
    ['PS256'],
    ['PS384'],
    ['PS512'],
    ['ES256'],
    ['ES384'],
    ['ES512'],
    ['EdDSA', { crv: 'Ed25519' }],
    ['Ed25519'],
  ];
  for (const [alg, opts] of asymmetric) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...opts });
    const pem = await exportSPKI(publicKey);
    const plugin = createJwtPlugin({ algorithms: [alg], publicKey: pem }, fakeEnv());
    const ctx = bearer(await sign({ sub: alg }, alg, privateKey));
    t.equal(await run(plugin, ctx), undefined, `${alg} (PEM) accepted`);
    t.equal(ctx.consumer, alg);
    const jwk = await exportJWK(publicKey);
    const viaJwk = createJwtPlugin({ algorithms: [alg], publicKey: jwk }, fakeEnv());
    t.equal(
      await run(viaJwk, bearer(await sign({ sub: alg }, alg, privateKey))),
      undefined,
      `${alg} (JWK) accepted`,
    );
  }
});

t.test('attack set: all refused with 401 and a precise reason', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const pem = await exportSPKI(publicKey);
  const plugin = createJwtPlugin(
    {
      algorithms: ['RS256'],
      publicKey: pem,
      issuer: 'https://issuer.test',
      audience: 'api',
      clockToleranceSec: 30,
    },
    fakeEnv(),
  );
  const good = { sub: 'bob', iss: 'https://issuer.test', aud: 'api' };
  t.equal(
    await run(plugin, bearer(await sign(good, 'RS256', privateKey))),
    undefined,
    'baseline token accepted',
  );

  await t.test('missing', async (t) => {
    await expectReject(t, plugin, undefined, 'jwt_missing');
    const out = await run(
      plugin,
      fakeRequestContext({ headers: { authorization: 'Basic Zm9vOmJhcg==' } }),
    );
    t.equal(out?.reason, 'jwt_missing', 'a non-bearer Authorization is no token');
    t.equal(
      out?.headers?.['www-authenticate'],
      'Bearer',
      'RFC 6750: no error code without credentials',
    );
    t.equal(
      (await run(plugin, fakeRequestContext({ headers: { authorization: 'Bearer ' } })))?.reason,
      'jwt_missing',
    );
  });

  await t.test('alg none', async (t) => {
    const payload = b64({ ...good, exp: nowSec() + 300 });
    await expectReject(t, plugin, `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`, 'jwt_alg');
    await expectReject(t, plugin, `${b64({ alg: 'NONE' })}.${payload}.`, 'jwt_alg');
    // alg none with the original signature kept
    const real = (await sign(good, 'RS256', privateKey)).split('.');
    await expectReject(t, plugin, `${b64({ alg: 'none' })}.${real[1]}.${real[2]}`, 'jwt_alg');
  });

  await t.test('HS256 signed with the RSA public key as HMAC secret (alg confusion)', async (t) => {
    const viaJose = await sign(good, 'HS256', enc.encode(pem));
    await expectReject(t, plugin, viaJose, 'jwt_alg');
    // the same by hand, with the PEM without its trailing newline as well
    for (const secret of [pem, pem.trim()]) {
      const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ ...good, exp: nowSec() + 300 })}`;
      const mac = createHmac('sha256', secret).update(head).digest('base64url');
      await expectReject(t, plugin, `${head}.${mac}`, 'jwt_alg');
    }
  });

  await t.test('expired, beyond the clock tolerance', async (t) => {
    await expectReject(
      t,
      plugin,
      await sign({ ...good, exp: nowSec() - 31 }, 'RS256', privateKey),
      'jwt_expired',
    );
    t.equal(
      await run(plugin, bearer(await sign({ ...good, exp: nowSec() - 20 }, 'RS256', privateKey))),
      undefined,
      'within the tolerance: accepted',
    );
  });

  await t.test('not yet valid', async (t) => {
    await expectReject(
      t,
      plugin,
      await sign({ ...good, nbf: nowSec() + 120 }, 'RS256', privateKey),
      'jwt_not_yet_valid',
    );
  });

  await t.test('wrong audience and issuer', async (t) => {
    await expectReject(
      t,
      plugin,
      await sign({ ...good, aud: 'other' }, 'RS256', privateKey),
      'jwt_aud',
    );
    await expectReject(
      t,
      plugin,
      await sign({ ...good, aud: undefined }, 'RS256', privateKey),
      'jwt_aud',
    );
    await expectReject(
      t,
      plugin,
      await sign({ ...good, iss: 'https://evil.test' }, 'RS256', privateKey),
      'jwt_iss',
    );
    await expectReject(
      t,
      plugin,
      await sign({ ...good, iss: undefined }, 'RS256', privateKey),
      'jwt_iss',
    );
  });

  await t.test('bad signature', async (t) => {
    const [h, , sig] = (await sign(good, 'RS256', privateKey)).split('.');
    const forged = `${h}.${b64({ ...good, sub: 'admin', exp: nowSec() + 300 })}.${sig}`;
    await expectReject(t, plugin, forged, 'jwt_bad_signature');
    const other = await generateKeyPair('RS256');
    await expectReject(t, plugin, await sign(good, 'RS256', other.privateKey), 'jwt_bad_signature');
    await expectReject(
      t,
      plugin,
      `${h}.${b64({ ...good, exp: nowSec() + 300 })}.`,
      'jwt_bad_signature',
    );
  });

  await t.test('an algorithm outside the pinned list, even with the right key type', async (t) => {
    // the same RSA private key, used for other RSA algorithms
    const rsa = createPrivateKey({
      key: (await exportJWK(privateKey)) as JsonWebKey,
      format: 'jwk',
    });
    await expectReject(t, plugin, await sign(good, 'PS256', rsa), 'jwt_alg');
    await expectReject(t, plugin, await sign(good, 'RS512', rsa), 'jwt_alg');
  });

  await t.test('malformed', async (t) => {
    for (const bad of [
      'abc',
      'a.b',
      'a.b.c.d',
      `${b64({ alg: 'RS256' })}.!!!.x`,
      `${Buffer.from('not json').toString('base64url')}.${b64(good)}.x`,
      `${b64(['RS256'])}.${b64(good)}.x`,
      `${b64({ alg: 12 })}.${b64(good)}.x`,
    ]) {
      await expectReject(t, plugin, bad, 'jwt_malformed');
    }
    const real = await sign(good, 'RS256', privateKey);
    const [h, , s] = real.split('.');
    await expectReject(
      t,
      plugin,
      `${h}.${Buffer.from('[1,2]').toString('base64url')}.${s}`,
      'jwt_bad_signature',
    );
    const huge = `${b64({ alg: 'RS256' })}.${'A'.repeat(MAX_TOKEN_LENGTH)}.x`;
    await expectReject(t, plugin, huge, 'jwt_malformed');
  });
});

t.test('claims: exp required by default, required claims, consumer claim', async (t) => {
  const key = enc.encode(SECRET);
  const plain = async (payload: JWTPayload) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(key);
  const strict = createJwtPlugin({ algorithms: ['HS256'], secret: SECRET }, fakeEnv());
  await expectReject(t, strict, await plain({ sub: 'x' }), 'jwt_claims');
  const lax = createJwtPlugin(
    { algorithms: ['HS256'], secret: SECRET, requireExp: false },
    fakeEnv(),
  );
  t.equal(
    await run(lax, bearer(await plain({ sub: 'x' }))),
    undefined,
    'requireExp: false accepts no exp',
  );
  const needs = createJwtPlugin(
    { algorithms: ['HS256'], secret: SECRET, requiredClaims: ['sub', 'scope'] },
    fakeEnv(),
  );
  await expectReject(t, needs, await sign({ sub: 'x' }, 'HS256', key), 'jwt_claims');
  t.equal(await run(needs, bearer(await sign({ sub: 'x', scope: 'a' }, 'HS256', key))), undefined);
  await expectReject(
    t,
    strict,
    await plain({ sub: 'x', exp: 'soon' as unknown as number }),
    'jwt_malformed',
  );
  const byClient = createJwtPlugin(
    { algorithms: ['HS256'], secret: SECRET, consumerClaim: 'client_id' },
    fakeEnv(),
  );
  const ctx = bearer(await sign({ sub: 'u', client_id: 'app-7' }, 'HS256', key));
  t.equal(await run(byClient, ctx), undefined);
  t.equal(ctx.consumer, 'app-7');
  const noSub = bearer(await sign({}, 'HS256', key));
  t.equal(await run(strict, noSub), undefined, 'no sub: accepted');
  t.equal(noSub.consumer, undefined, 'and no consumer');
  const multi = createJwtPlugin(
    { algorithms: ['HS256'], secret: SECRET, audience: ['a', 'b'], issuer: ['i1', 'i2'] },
    fakeEnv(),
  );
  t.equal(
    await run(multi, bearer(await sign({ aud: ['x', 'b'], iss: 'i2' }, 'HS256', key))),
    undefined,
    'any listed aud/iss',
  );
});

t.test('clock tolerance is applied and bounded', async (t) => {
  const key = enc.encode(SECRET);
  const zero = createJwtPlugin(
    { algorithms: ['HS256'], secret: SECRET, clockToleranceSec: 0 },
    fakeEnv(),
  );
  await expectReject(t, zero, await sign({ exp: nowSec() - 2 }, 'HS256', key), 'jwt_expired');
  await expectReject(t, zero, await sign({ nbf: nowSec() + 5 }, 'HS256', key), 'jwt_not_yet_valid');
  const wide = createJwtPlugin(
    { algorithms: ['HS256'], secret: SECRET, clockToleranceSec: 300 },
    fakeEnv(),
  );
  t.equal(
    await run(wide, bearer(await sign({ exp: nowSec() - 200, nbf: nowSec() + 200 }, 'HS256', key))),
    undefined,
  );
  expectRosterError(
    t,
    () =>
      createJwtPlugin(
        { algorithms: ['HS256'], secret: SECRET, clockToleranceSec: 301 },
        fakeEnv('r.jwt'),
      ),
    'ROSTER_ERR_CONFIG',
    'r.jwt.clockToleranceSec',
  );
});

t.test('a cached verdict ends when the token expires', async (t) => {
  let clock = Date.now();
  const plugin = createJwtPlugin(
    { algorithms: ['HS256'], secret: SECRET, clockToleranceSec: 5, cacheSec: 3600 },
    fakeEnv(),
    { now: () => clock },
  );
  const exp = Math.floor(clock / 1000) + 60;
  const token = await sign({ sub: 'c', exp }, 'HS256', enc.encode(SECRET));
  t.equal(await run(plugin, bearer(token)), undefined);
  clock += 30_000;
  t.equal(plugin.onRequest(bearer(token)), undefined, 'still cached');
  clock = (exp + 5) * 1000;
  await expectReject(t, plugin, token, 'jwt_expired');
  clock = (exp + 4) * 1000;
  t.equal(
    await run(plugin, bearer(token)),
    undefined,
    'inside the tolerance again (clock moved back)',
  );
});

t.test('token sources: custom header and cookie', async (t) => {
  const key = enc.encode(SECRET);
  const token = await sign({ sub: 'h' }, 'HS256', key);
  const byHeader = createJwtPlugin(
    { algorithms: ['HS256'], secret: SECRET, header: 'X-Token' },
    fakeEnv(),
  );
  t.equal(
    await run(byHeader, fakeRequestContext({ headers: { 'x-token': token } })),
    undefined,
    'raw value',
  );
  t.equal(
    await run(byHeader, fakeRequestContext({ headers: { 'x-token': `Bearer ${token}` } })),
    undefined,
    'bearer value',
  );
  t.equal(
    (await run(byHeader, bearer(token)))?.reason,
    'jwt_missing',
    'Authorization is not read then',
  );
  const byCookie = createJwtPlugin(
    { algorithms: ['HS256'], secret: SECRET, cookie: 'session' },
    fakeEnv(),
  );
  const ctx = fakeRequestContext({ headers: { cookie: `theme=dark; session=${token}; x=1` } });
  t.equal(await run(byCookie, ctx), undefined, 'from the cookie');
  t.equal(ctx.consumer, 'h');
  t.equal(await run(byCookie, bearer(token)), undefined, 'Authorization still works');
  t.equal(
    (await run(byCookie, fakeRequestContext({ headers: { cookie: 'sessionx=1; other=2' } })))
      ?.reason,
    'jwt_missing',
  );
  t.equal(
    (await run(byCookie, fakeRequestContext({ headers: { cookie: 'session=garbage' } })))?.reason,
    'jwt_malformed',
  );
  // A header that holds no token, the same on both requests: each request's cookie decides.
  const basic = 'Basic dXNlcjpwYXNz';
  t.equal(
    await run(
      byCookie,
      fakeRequestContext({ headers: { authorization: basic, cookie: `session=${token}` } }),
    ),
    undefined,
    'a Basic header, the token in the cookie',
  );
  t.equal(
    (
      await run(
        byCookie,
        fakeRequestContext({ headers: { authorization: basic, cookie: 'session=garbage' } }),
      )
    )?.reason,
    'jwt_malformed',
    'the same Basic header, a bad cookie: refused',
  );
});

t.test('the same header again: the same verdict, the consumer each time', async (t) => {
  const key = enc.encode(SECRET);
  const plugin = createJwtPlugin({ algorithms: ['HS256'], secret: SECRET }, fakeEnv());
  const alice = await sign({ sub: 'alice' }, 'HS256', key);
  const bob = await sign({ sub: 'bob' }, 'HS256', key);
  const consumers: (string | undefined)[] = [];
  for (const token of [alice, alice, bob, bob, alice]) {
    const ctx = bearer(token);
    t.equal(await run(plugin, ctx), undefined);
    consumers.push(ctx.consumer);
  }
  t.same(consumers, ['alice', 'alice', 'bob', 'bob', 'alice']);
  const forged = `${alice.slice(0, alice.lastIndexOf('.') + 1)}${'A'.repeat(43)}`;
  await expectReject(t, plugin, forged, 'jwt_bad_signature');
  plugin.close?.();
  const ctx = bearer(alice);
  const again = plugin.onRequest(ctx);
  t.ok(again instanceof Promise, 'after close, the token is verified again');
  t.equal(await again, undefined);
  t.equal(ctx.consumer, 'alice');
});

t.test('config errors name the key', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const pem = await exportSPKI(publicKey);
  const ec = await generateKeyPair('ES256', { extractable: true });
  const ecPem = await exportSPKI(ec.publicKey);
  const P = 'routes.api.plugins.jwt';
  const cases: [string, unknown, string][] = [
    [
      'unknown key',
      { algorithms: ['HS256'], secret: SECRET, algoritms: ['HS256'] },
      `${P}.algoritms`,
    ],
    ['algorithms required', { secret: SECRET }, `${P}.algorithms`],
    ['algorithms empty', { algorithms: [], secret: SECRET }, `${P}.algorithms`],
    ['alg none', { algorithms: ['none'], secret: SECRET }, `${P}.algorithms[0]`],
    ['unknown alg', { algorithms: ['HS256', 'XS1'], secret: SECRET }, `${P}.algorithms[1]`],
    ['no key material', { algorithms: ['HS256'] }, P],
    ['two key materials', { algorithms: ['RS256'], secret: SECRET, publicKey: pem }, P],
    ['secret with RS256', { algorithms: ['RS256'], secret: SECRET }, `${P}.algorithms`],
    [
      'public key with HS256',
      { algorithms: ['HS256', 'RS256'], publicKey: pem },
      `${P}.algorithms`,
    ],
    [
      'jwks with HS256',
      { algorithms: ['HS256'], jwksUrl: 'https://idp.test/jwks' },
      `${P}.algorithms`,
    ],
    ['short secret', { algorithms: ['HS256'], secret: 'short' }, `${P}.secret`],
    [
      'short base64 secret',
      { algorithms: ['HS256'], secret: 'AAAA', secretEncoding: 'base64' },
      `${P}.secret`,
    ],
    [
      'bad encoding',
      { algorithms: ['HS256'], secret: SECRET, secretEncoding: 'hex' },
      `${P}.secretEncoding`,
    ],
    [
      'private key',
      { algorithms: ['RS256'], publicKey: 'x-----BEGIN PRIVATE KEY-----' },
      `${P}.publicKey`,
    ],
    ['garbage key', { algorithms: ['RS256'], publicKey: 'not a key' }, `${P}.publicKey`],
    ['key type mismatch', { algorithms: ['ES256'], publicKey: pem }, `${P}.algorithms`],
    ['curve mismatch', { algorithms: ['ES384'], publicKey: ecPem }, `${P}.algorithms`],
    ['RSA key for EdDSA', { algorithms: ['EdDSA'], publicKey: pem }, `${P}.algorithms`],
    [
      'symmetric JWK',
      { algorithms: ['RS256'], publicKey: { kty: 'oct', k: 'AAAA' } },
      `${P}.publicKey`,
    ],
    ['publicKey type', { algorithms: ['RS256'], publicKey: 12 }, `${P}.publicKey`],
    ['jwks url', { algorithms: ['RS256'], jwksUrl: 'not a url' }, `${P}.jwksUrl`],
    ['jwks scheme', { algorithms: ['RS256'], jwksUrl: 'file:///etc/passwd' }, `${P}.jwksUrl`],
    [
      'jwks option without jwks',
      { algorithms: ['RS256'], publicKey: pem, jwksCooldownSec: 1 },
      `${P}.jwksCooldownSec`,
    ],
    [
      'tolerance',
      { algorithms: ['HS256'], secret: SECRET, clockToleranceSec: -1 },
      `${P}.clockToleranceSec`,
    ],
    ['issuer type', { algorithms: ['HS256'], secret: SECRET, issuer: 7 }, `${P}.issuer`],
    ['audience empty', { algorithms: ['HS256'], secret: SECRET, audience: [] }, `${P}.audience`],
    [
      'requiredClaims item',
      { algorithms: ['HS256'], secret: SECRET, requiredClaims: ['a', 3] },
      `${P}.requiredClaims[1]`,
    ],
    ['header name', { algorithms: ['HS256'], secret: SECRET, header: 'bad header' }, `${P}.header`],
    ['requireExp', { algorithms: ['HS256'], secret: SECRET, requireExp: 'yes' }, `${P}.requireExp`],
    ['not an object', 'HS256', P],
  ];
  for (const [name, settings, path] of cases) {
    const err = expectRosterError(
      t,
      () => jwtPluginFactory.create(settings, fakeEnv(P)),
      'ROSTER_ERR_CONFIG',
      path,
    );
    t.ok(err?.message.startsWith(path), `${name}: message names ${path}`);
  }
  const jwk = await exportJWK(privateKey);
  expectRosterError(
    t,
    () => createJwtPlugin({ algorithms: ['RS256'], publicKey: jwk }, fakeEnv(P)),
    'ROSTER_ERR_CONFIG',
    `${P}.publicKey`,
  );
  t.ok(
    createJwtPlugin(
      {
        algorithms: ['HS256'],
        secret: Buffer.alloc(32, 7).toString('base64'),
        secretEncoding: 'base64',
      },
      fakeEnv(),
    ),
  );
});
