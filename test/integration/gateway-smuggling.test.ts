/**
 * Request smuggling and traversal shapes sent as raw bytes: the gateway (Node's strict HTTP
 * parser, insecureHTTPParser off, then the gateway's target normalization) answers 400 (or
 * 431) and the upstream never sees a request.
 */
import t from 'tap';
import {
  rawExchange,
  rawStatus,
  route,
  simpleTable,
  startGateway,
  startRegistry,
  startUpstream,
} from '../helpers/gateway-harness.js';

const H = 'Host: gw.test\r\n';

const attacks: [string, string, number][] = [
  [
    'Content-Length with Transfer-Encoding (CL.TE)',
    `POST /api/x HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/smuggled HTTP/1.1\r\n${H}\r\n`,
    400,
  ],
  [
    'Transfer-Encoding with Content-Length (TE.CL order)',
    `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\nGET /api/smuggled HTTP/1.1\r\n\r\n`,
    400,
  ],
  [
    'duplicate Content-Length (different values)',
    `POST /api/x HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 40\r\n\r\nabcd`,
    400,
  ],
  [
    'duplicate Content-Length (same value)',
    `POST /api/x HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd`,
    400,
  ],
  ['Content-Length list', `POST /api/x HTTP/1.1\r\n${H}Content-Length: 4, 4\r\n\r\nabcd`, 400],
  [
    'obsolete line folding',
    `GET /api/x HTTP/1.1\r\n${H}X-Folded: a\r\n  Transfer-Encoding: chunked\r\n\r\n`,
    400,
  ],
  ['obs-fold with a tab', `GET /api/x HTTP/1.1\r\n${H}X-Folded: a\r\n\tb\r\n\r\n`, 400],
  [
    'Transfer-Encoding not ending in chunked',
    `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
    400,
  ],
  [
    'space before the colon',
    `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
    400,
  ],
  ['bare LF line endings', `GET /api/x HTTP/1.1\n${H.replace('\r', '')}\n`, 400],
  ['NUL in a header value', `GET /api/x HTTP/1.1\r\n${H}X-A: a\u0000b\r\n\r\n`, 400],
  ['CR inside a header value', `GET /api/x HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, 400],
  ['missing Host (HTTP/1.1)', 'GET /api/x HTTP/1.1\r\n\r\n', 400],
  ['encoded dot segments', `GET /api/%2e%2e/admin HTTP/1.1\r\n${H}\r\n`, 400],
  ['mixed encoded dot segment', `GET /api/.%2E/admin HTTP/1.1\r\n${H}\r\n`, 400],
  ['encoded slash', `GET /api/..%2Fadmin HTTP/1.1\r\n${H}\r\n`, 400],
  ['encoded backslash', `GET /api/..%5Cadmin HTTP/1.1\r\n${H}\r\n`, 400],
  ['raw backslash', `GET /api/..\\admin HTTP/1.1\r\n${H}\r\n`, 400],
  ['traversal above the root', `GET /../../etc/passwd HTTP/1.1\r\n${H}\r\n`, 400],
  ['encoded NUL', `GET /api/a%00.txt HTTP/1.1\r\n${H}\r\n`, 400],
  ['servlet path parameter traversal', `GET /api/..;/admin HTTP/1.1\r\n${H}\r\n`, 400],
  ['absolute-form target', `GET http://internal.example/admin HTTP/1.1\r\n${H}\r\n`, 400],
  ['oversized headers', `GET /api/x HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(9000)}\r\n\r\n`, 431],
  [
    'too many oversized header lines',
    `GET /api/x HTTP/1.1\r\n${H}${'X-A: aaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(400)}\r\n`,
    431,
  ],
];

t.test('smuggling shapes and traversal never reach the upstream', async (t) => {
  const reg = await startRegistry(t);
  const up = await startUpstream(t, 'victim');
  await reg.services.register({ service: 'api', host: '127.0.0.1', port: up.port });
  const { port } = await startGateway(
    t,
    reg.url,
    simpleTable([route('api', 'api', { match: { path: { prefix: '/api' } } })]),
    { maxHeaderBytes: 8192 },
  );

  // Sanity: a well-formed request on the same path does reach the upstream.
  const ok = await rawExchange(port, `GET /api/ok HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
  t.equal(rawStatus(ok), 200, 'a well-formed request is proxied');
  t.same(up.arrived, ['GET /api/ok']);
  up.arrived.length = 0;

  for (const [name, bytes, status] of attacks) {
    const answer = await rawExchange(port, bytes);
    t.equal(rawStatus(answer), status, `${name}: ${status}`);
    t.same(up.arrived, [], `${name}: the upstream saw nothing`);
    up.arrived.length = 0;
  }
});
