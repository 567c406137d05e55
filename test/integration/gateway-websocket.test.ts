/**
 * WebSocket upgrades through the gateway (`ws` on both ends): echo through the tunnel, the
 * plugin chain on the handshake (an accepted API key kept from the upstream), 404 for unrouted
 * upgrades, a refused upgrade relayed, and tunnels ended by a graceful close.
 */
import { createServer, type IncomingMessage } from 'node:http';
import t from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import { createApiKeyPlugin, hashApiKey } from '../../gateway/plugins/api-key.js';
import type { Plugin } from '../../gateway/types.js';
import { fakeEnv } from '../helpers/fake-request-context.js';
import {
  rawExchange,
  rawStatus,
  route,
  simpleTable,
  startGateway,
  startRegistry,
  startUpstream,
} from '../helpers/gateway-harness.js';

function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      reject(Object.assign(new Error(`unexpected ${res.statusCode}`), { status: res.statusCode }));
    });
  });
}

function next(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString())));
}

const WS_KEY = 'ws-key-0123456789abcdef';

const needsToken: Plugin = {
  name: 'token',
  onRequest(ctx) {
    return ctx.req.headers['x-token'] === 'yes'
      ? undefined
      : { status: 401, body: 'no token', reason: 'no_token' };
  },
};

/** Sets unsafe response headers (plugin-headers.ts drops them) and wants a token. */
const unsafeHeaders: Plugin = {
  name: 'unsafe-headers',
  onRequest(ctx) {
    ctx.responseHeaders['x-good'] = 'yes';
    ctx.responseHeaders['x-evil'] = 'a\r\nx-injected: 1';
    ctx.responseHeaders['content-length'] = '0';
    return ctx.req.headers['x-token'] === 'yes'
      ? undefined
      : { status: 401, body: 'no', headers: { 'x-split': 'a\nb' }, reason: 'no_token' };
  },
};

t.test('websocket proxying', async (t) => {
  const reg = await startRegistry(t);
  const server = createServer((_req, res) => res.writeHead(426).end('upgrade required'));
  const wss = new WebSocketServer({ server });
  const upgrades: IncomingMessage[] = [];
  wss.on('connection', (socket, req) => {
    upgrades.push(req);
    socket.on('message', (data: Buffer) => socket.send(`echo:${data.toString()}:${req.url}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const port0 = (server.address() as { port: number }).port;
  const plain = await startUpstream(t, 'plain');
  await reg.services.register({ service: 'ws', host: '127.0.0.1', port: port0 });
  await reg.services.register({ service: 'plain', host: '127.0.0.1', port: plain.port });

  const { port, gateway } = await startGateway(
    t,
    reg.url,
    simpleTable(
      [
        route('ws', 'ws', { match: { path: { prefix: '/ws' } }, stripPrefix: true }),
        route('guarded', 'ws', { match: { path: { prefix: '/guarded' } } }),
        route('plain', 'plain', { match: { path: { prefix: '/plain' } } }),
        route('unsafe', 'ws', { match: { path: { prefix: '/unsafe' } } }),
        route('keyed', 'ws', { match: { path: { prefix: '/keyed' } } }),
      ],
      {
        guarded: [needsToken],
        unsafe: [unsafeHeaders],
        keyed: [
          createApiKeyPlugin(
            { keys: [{ consumer: 'alice', hash: hashApiKey(WS_KEY) }], queryParam: 'api_key' },
            fakeEnv(),
          ),
        ],
      },
    ),
  );

  await t.test('echo through the tunnel', async (t) => {
    const ws = await open(`ws://127.0.0.1:${port}/ws/chat?room=1`, {
      'x-request-id': 'ws-1',
      'x-consumer': 'root',
    });
    const reply = next(ws);
    ws.send('hello');
    t.equal(await reply, 'echo:hello:/chat?room=1', 'prefix stripped, query kept');
    for (let i = 0; i < 50; i++) {
      const r = next(ws);
      ws.send(`m${i}`);
      t.equal(await r, `echo:m${i}:/chat?room=1`);
    }
    const req = upgrades.at(-1)!;
    t.equal(req.headers['x-request-id'], 'ws-1');
    t.equal(req.headers['x-forwarded-for'], '127.0.0.1');
    t.match(req.headers.traceparent, /^00-/);
    t.equal(req.headers['x-consumer'], undefined, 'a claimed consumer is dropped');
    ws.close();
  });

  await t.test('plugins run on the handshake', async (t) => {
    await t.rejects(open(`ws://127.0.0.1:${port}/guarded/x`), { message: 'unexpected 401' });
    const ws = await open(`ws://127.0.0.1:${port}/guarded/x`, { 'x-token': 'yes' });
    const reply = next(ws);
    ws.send('in');
    t.equal(await reply, 'echo:in:/guarded/x');
    ws.close();
  });

  await t.test('an accepted API key does not reach the upstream of a tunnel', async (t) => {
    const byHeader = await open(`ws://127.0.0.1:${port}/keyed/h?a=1`, {
      'x-api-key': WS_KEY,
      'x-consumer': 'root',
    });
    const first = upgrades.at(-1)!;
    t.equal(first.url, '/keyed/h?a=1');
    t.equal(first.headers['x-api-key'], undefined, 'the key header was withheld');
    t.equal(first.headers['x-forwarded-for'], '127.0.0.1', 'the rest arrived');
    t.equal(first.headers['x-consumer'], 'alice', "the key's consumer named, the claim replaced");
    byHeader.close();
    const byQuery = await open(`ws://127.0.0.1:${port}/keyed/q?a=1&api_key=${WS_KEY}&b=2`);
    t.equal(upgrades.at(-1)!.url, '/keyed/q?a=1&b=2', 'the key was taken out of the query');
    byQuery.close();
  });

  await t.test('unsafe plugin headers are dropped from handshake answers', async (t) => {
    const upgrade = (token: string) =>
      rawExchange(
        port,
        'GET /unsafe/x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
          `X-Token: ${token}\r\n\r\n`,
        500,
      );
    for (const [token, status] of [
      ['no', 401],
      ['yes', 101],
    ] as const) {
      const raw = await upgrade(token);
      t.equal(rawStatus(raw), status);
      const head = raw.slice(0, raw.indexOf('\r\n\r\n')).toLowerCase().split('\r\n');
      t.ok(head.includes('x-good: yes'), `${status}: the safe header is there`);
      t.notOk(
        head.some((l) => /^(x-injected|x-evil|x-split|b$)/.test(l)),
        `${status}: nothing injected`,
      );
      t.notOk(head.includes('content-length: 0'), `${status}: not the plugin's Content-Length`);
    }
    // The gateway is still serving.
    const ws = await open(`ws://127.0.0.1:${port}/ws/after`);
    ws.close();
  });

  await t.test('unrouted and refused upgrades', async (t) => {
    await t.rejects(open(`ws://127.0.0.1:${port}/nowhere`), { message: 'unexpected 404' });
    await t.rejects(
      open(`ws://127.0.0.1:${port}/ws/..%2fx`),
      { message: 'unexpected 400' },
      'an encoded slash is refused',
    );
    await t.rejects(
      open(`ws://127.0.0.1:${port}/plain/x`),
      { message: 'unexpected 200' },
      'a non-101 answer is relayed',
    );
  });

  await t.test('a graceful close ends open tunnels', async (t) => {
    const ws = await open(`ws://127.0.0.1:${port}/ws/long`);
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    await gateway.close(200);
    await closed;
    t.pass('the tunnel was closed');
  });
});
