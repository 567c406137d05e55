/**
 * The JWT plugin (gateway/plugins/jwt.ts) with keys from a JWKS URL, served by a local
 * node:http server: verify, cache, rotate, fail closed, and key sets shared across rebuilt
 * plugin instances.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import t from 'tap';
import { createJwtPlugin, jwtPluginFactory } from '../../gateway/plugins/jwt.js';
import { fakeEnv, run } from '../helpers/fake-request-context.js';
import { bearer, enc, expectReject, SECRET, sign } from '../helpers/jwt-tokens.js';

interface JwksServer {
  readonly url: string;
  keys: unknown[];
  fetches: number;
  status: number;
  close(): Promise<void>;
}

async function jwksServer(): Promise<JwksServer> {
  const state = { keys: [] as unknown[], fetches: 0, status: 200 };
  const server: Server = createServer((_req, res) => {
    state.fetches++;
    res.writeHead(state.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

t.test('JWKS over a local http server: verify, cache, rotate, fail closed', async (t) => {
  const server = await jwksServer();
  t.teardown(() => server.close());
  const k1 = await generateKeyPair('ES256', { extractable: true });
  const k2 = await generateKeyPair('ES256', { extractable: true });
  server.keys = [{ ...(await exportJWK(k1.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }];
  const env = fakeEnv('routes.jwks.plugins.jwt');
  const plugin = createJwtPlugin(
    { algorithms: ['ES256'], jwksUrl: server.url, jwksCooldownSec: 0, audience: 'api' },
    env,
  );
  const ctx = bearer(await sign({ sub: 'j1', aud: 'api' }, 'ES256', k1.privateKey, { kid: 'k1' }));
  t.equal(await run(plugin, ctx), undefined, 'token signed by a JWKS key accepted');
  t.equal(ctx.consumer, 'j1');
  t.equal(server.fetches, 1, 'fetched once');
  for (let i = 0; i < 5; i++) {
    t.equal(
      await run(
        plugin,
        bearer(await sign({ sub: `u${i}`, aud: 'api' }, 'ES256', k1.privateKey, { kid: 'k1' })),
      ),
      undefined,
    );
  }
  t.equal(server.fetches, 1, 'the key set is cached across tokens');

  await expectReject(
    t,
    plugin,
    await sign({ sub: 'x', aud: 'api' }, 'ES256', k2.privateKey, { kid: 'k2' }),
    'jwt_bad_signature',
  );
  t.equal(server.fetches, 2, 'an unknown kid triggers one refetch (cooldown 0)');
  await expectReject(
    t,
    plugin,
    await sign({ sub: 'x', aud: 'api' }, 'ES256', k2.privateKey, { kid: 'k1' }),
    'jwt_bad_signature',
  );

  server.keys = [...server.keys, { ...(await exportJWK(k2.publicKey)), kid: 'k2', alg: 'ES256' }];
  t.equal(
    await run(
      plugin,
      bearer(await sign({ sub: 'r', aud: 'api' }, 'ES256', k2.privateKey, { kid: 'k2' })),
    ),
    undefined,
    'rotated-in key picked up',
  );
  await expectReject(
    t,
    plugin,
    await sign({ sub: 'x', aud: 'other' }, 'ES256', k2.privateKey, { kid: 'k2' }),
    'jwt_aud',
  );

  const fetchesBefore = server.fetches;
  const cooled = createJwtPlugin(
    { algorithms: ['ES256'], jwksUrl: `${server.url}?cooled`, jwksCooldownSec: 3600 },
    fakeEnv(),
  );
  t.equal(
    await run(cooled, bearer(await sign({ sub: 'a' }, 'ES256', k1.privateKey, { kid: 'k1' }))),
    undefined,
  );
  for (let i = 0; i < 5; i++) {
    await expectReject(
      t,
      cooled,
      await sign({ sub: 'x' }, 'ES256', k1.privateKey, { kid: `nope${i}` }),
      'jwt_bad_signature',
    );
  }
  t.equal(server.fetches - fetchesBefore, 1, 'unknown kids do not refetch during the cooldown');

  server.status = 500;
  const failing = createJwtPlugin({ algorithms: ['ES256'], jwksUrl: `${server.url}?down` }, env);
  const out = await run(
    failing,
    bearer(await sign({ sub: 'a' }, 'ES256', k1.privateKey, { kid: 'k1' })),
  );
  t.equal(out?.status, 503, 'JWKS unavailable: 503, fail closed');
  t.equal(out?.reason, 'jwt_jwks_unavailable');
  t.ok(
    env.lines.some((l) => l.msg === 'JWKS could not be fetched'),
    'logged',
  );

  const closedPort = createJwtPlugin(
    { algorithms: ['ES256'], jwksUrl: 'http://127.0.0.1:9/jwks', jwksTimeoutMs: 500 },
    fakeEnv(),
  );
  const down = await run(
    closedPort,
    bearer(await sign({ sub: 'a' }, 'ES256', k1.privateKey, { kid: 'k1' })),
  );
  t.equal(down?.reason, 'jwt_jwks_unavailable', 'connection refused: fail closed');
  await expectReject(
    t,
    closedPort,
    await sign({ sub: 'a' }, 'HS256', enc.encode(SECRET)),
    'jwt_alg',
  );
});

t.test('JWKS key sets are shared across rebuilt plugin instances', async (t) => {
  const server = await jwksServer();
  t.teardown(() => server.close());
  const k = await generateKeyPair('RS256', { extractable: true });
  server.keys = [{ ...(await exportJWK(k.publicKey)), kid: 'a', alg: 'RS256' }];
  for (let i = 0; i < 3; i++) {
    const plugin = jwtPluginFactory.create(
      { algorithms: ['RS256'], jwksUrl: server.url },
      fakeEnv(),
    );
    t.equal(
      await run(plugin, bearer(await sign({ sub: `s${i}` }, 'RS256', k.privateKey, { kid: 'a' }))),
      undefined,
    );
    plugin.close?.();
  }
  t.equal(server.fetches, 1, 'one fetch for three route-table builds');
});
