/**
 * Credentials the gateway has checked stay at the gateway (gateway/plugins/credentials.ts), on
 * the wire: a real nats-server, a registry node, a node:http upstream that records what it
 * got, and raw client sockets. A JWT route withholds Authorization on the edge's path (the
 * same head repeated on one keep-alive connection, so from the second request on the upstream
 * field lines come from the head memo) and on Node's path (a request with a body); a route
 * with `forward` passes it on; an API-key route withholds the key's header or takes the key
 * out of the query. Each tells the upstream who is calling in x-consumer, and a client's own
 * x-consumer reaches no upstream, on a plain route or an auth route.
 */
import t from 'tap';
import { createApiKeyPlugin, hashApiKey } from '../../gateway/plugins/api-key.js';
import { createJwtPlugin } from '../../gateway/plugins/jwt.js';
import { fakeEnv } from '../helpers/fake-request-context.js';
import {
  route,
  simpleTable,
  startGateway,
  startRegistry,
  startUpstream,
} from '../helpers/gateway-harness.js';
import { Wire } from '../helpers/http-wire.js';
import { enc, SECRET, sign } from '../helpers/jwt-tokens.js';

const H = 'Host: gw.test\r\n';
const KEY = 'alice-key-0123456789abcdef';

t.test('checked credentials are kept from the upstream unless forwarded', async (t) => {
  const reg = await startRegistry(t);
  const up = await startUpstream(t, 'cred-up');
  await reg.services.register({ service: 'api', host: '127.0.0.1', port: up.port });
  const jwt = { algorithms: ['HS256'], secret: SECRET };
  const { port } = await startGateway(
    t,
    reg.url,
    simpleTable(
      [
        route('jwt', 'api', { match: { path: { prefix: '/jwt' } } }),
        route('fwd', 'api', { match: { path: { prefix: '/fwd' } } }),
        route('key', 'api', { match: { path: { prefix: '/key' } } }),
        route('open', 'api', { match: { path: { prefix: '/open' } } }),
      ],
      {
        jwt: [createJwtPlugin(jwt, fakeEnv())],
        fwd: [createJwtPlugin({ ...jwt, forward: true }, fakeEnv())],
        key: [
          createApiKeyPlugin(
            { keys: [{ consumer: 'alice', hash: hashApiKey(KEY) }], queryParam: 'api_key' },
            fakeEnv(),
          ),
        ],
      },
    ),
  );
  const token = await sign({ sub: 'alice' }, 'HS256', enc.encode(SECRET));
  // A subject no header could carry as it is: a CR LF, a comma and non-ASCII.
  const oddSubject = 'b\r\nX-Admin: 1, é';
  const oddToken = await sign({ sub: oddSubject }, 'HS256', enc.encode(SECRET));
  const auth = `Authorization: Bearer ${token}\r\n`;
  const w = await Wire.tcp(port);
  t.teardown(() => w.destroy());
  /** Sends `request`, checks the answer, and returns what the upstream got. */
  const exchange = async (request: string, what: string) => {
    const before = up.seen.length;
    w.write(request);
    const r = await w.response(request.startsWith('POST') ? 'POST' : 'GET');
    t.equal(r.status, 200, `${what}: 200`);
    t.equal(up.seen.length, before + 1, `${what}: the upstream got it`);
    return up.seen[before]!;
  };

  for (let i = 0; i < 3; i++) {
    const seen = await exchange(`GET /jwt/a HTTP/1.1\r\n${H}${auth}\r\n`, `jwt GET ${i}`);
    t.equal(seen.headers.authorization, undefined, `jwt GET ${i}: Authorization withheld`);
    t.equal(seen.headers['x-forwarded-for'], '127.0.0.1', `jwt GET ${i}: the rest arrived`);
    t.equal(seen.headers['x-consumer'], 'alice', `jwt GET ${i}: the consumer named`);
  }
  const spoofed = await exchange(
    `GET /jwt/a HTTP/1.1\r\n${H}${auth}X-Consumer: root\r\n\r\n`,
    'jwt GET with a claimed consumer',
  );
  t.equal(spoofed.headers['x-consumer'], 'alice', "the client's claim replaced");
  const odd = await exchange(
    `GET /jwt/o HTTP/1.1\r\n${H}Authorization: Bearer ${oddToken}\r\n\r\n`,
    'jwt GET with an odd subject',
  );
  t.equal(odd.headers['x-admin'], undefined, 'the subject split no field');
  t.equal(
    decodeURIComponent(String(odd.headers['x-consumer'])),
    oddSubject,
    'the subject arrives percent-encoded, whole',
  );
  const posted = await exchange(
    `POST /jwt/b HTTP/1.1\r\n${H}${auth}Content-Length: 4\r\n\r\nbody`,
    'jwt POST',
  );
  t.equal(posted.headers.authorization, undefined, "jwt POST (Node's path): withheld");
  t.equal(posted.body, 'body');
  t.equal(posted.headers['x-consumer'], 'alice', "jwt POST (Node's path): the consumer named");

  for (let i = 0; i < 2; i++) {
    const seen = await exchange(`GET /fwd/a HTTP/1.1\r\n${H}${auth}\r\n`, `forward GET ${i}`);
    t.equal(seen.headers.authorization, `Bearer ${token}`, `forward GET ${i}: passed on`);
  }

  const byHeader = await exchange(
    `GET /key/h?a=1 HTTP/1.1\r\n${H}X-Api-Key: ${KEY}\r\n\r\n`,
    'key in a header',
  );
  t.equal(byHeader.headers['x-api-key'], undefined, 'the key header was withheld');
  t.equal(byHeader.url, '/key/h?a=1', 'the query untouched');
  t.equal(byHeader.headers['x-consumer'], 'alice', "the key's consumer named");
  const byQuery = await exchange(
    `GET /key/q?a=1&api_key=${KEY}&b=2 HTTP/1.1\r\n${H}\r\n`,
    'key in the query',
  );
  t.equal(byQuery.url, '/key/q?a=1&b=2', 'the key was taken out of the query');

  for (let i = 0; i < 2; i++) {
    const open = await exchange(
      `GET /open/a HTTP/1.1\r\n${H}X-Consumer: alice\r\nx-consumer: root\r\n\r\n`,
      `plain route with claimed consumers ${i}`,
    );
    t.equal(open.headers['x-consumer'], undefined, `plain route ${i}: no claim passed on`);
  }
  const noConsumer = await exchange(
    `POST /open/b HTTP/1.1\r\n${H}X-Consumer: alice\r\nContent-Length: 2\r\n\r\nok`,
    "plain route POST (Node's path) with a claimed consumer",
  );
  t.equal(noConsumer.headers['x-consumer'], undefined, "Node's path: no claim passed on");
});
