/**
 * The access log on the wire: a real nats-server and registry node, upstream HTTP and
 * WebSocket servers, and the gateway started from a config with `accessLog`. One line per
 * request names what happened: a proxied request (route, upstream, consumer, no query), a
 * plugin's refusal, no route, a refused target, no instance, a client that left, a POST on
 * Node's path, a WebSocket tunnel (logged when it ends). A reload opens the path again, so
 * lines go on to a new file after rotation; a changed `accessLog` needs a restart. Heads
 * refused before they are requests (a smuggling shape, an oversized head, a head that stops)
 * get a line and an answer that names it, as does a refused upgrade; a body that stops is its
 * exchange's 408, unless the response had begun, when the connection is cut.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import { startGateway } from '../../gateway/index.js';
import { eventually } from '../helpers/eventually.js';
import {
  httpRequest,
  rawExchange,
  rawStatus,
  startRegistry,
  startUpstream,
} from '../helpers/gateway-harness.js';

const KEY = 'alice-key-0123456789abcdef';

type Line = Record<string, unknown>;

function linesOf(file: string): Line[] {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

t.test('one access log line per request, and rotation on reload', async (t) => {
  const reg = await startRegistry(t);
  const up = await startUpstream(t, 'log-up');
  await reg.services.register({ service: 'api', host: '127.0.0.1', port: up.port });

  const wsHttp = createServer();
  const wss = new WebSocketServer({ server: wsHttp });
  wss.on('connection', (ws) => ws.on('message', (d: Buffer) => ws.send(`echo:${d}`)));
  await new Promise<void>((resolve) => wsHttp.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => wsHttp.close(() => resolve())));
  t.teardown(() => wss.close());
  const wsPort = (wsHttp.address() as AddressInfo).port;
  await reg.services.register({ service: 'chat', host: '127.0.0.1', port: wsPort });

  const dir = mkdtempSync(join(tmpdir(), 'roster-gw-access-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'access.log');
  const config = {
    listeners: [{ port: 0, host: '127.0.0.1' }],
    nats: { servers: [reg.url] },
    routes: [
      {
        name: 'keyed',
        match: { path: { prefix: '/keyed' } },
        service: 'api',
        plugins: { 'api-key': { keys: [{ consumer: 'alice', key: KEY }] } },
      },
      { name: 'open', match: { path: { prefix: '/open' } }, service: 'api' },
      { name: 'chat', match: { path: { prefix: '/chat' } }, service: 'chat' },
      { name: 'ghost', match: { path: { prefix: '/ghost' } }, service: 'ghost' },
    ],
    accessLog: { path: file },
  };
  const gw = await startGateway(config);
  t.teardown(() => gw.close(0));
  await gw.gateway.whenReady();
  const port = gw.gateway.addresses()[0]!.port;

  const sent: { what: string; status: number; requestId: string }[] = [];
  const send = async (what: string, options: Parameters<typeof httpRequest>[1]): Promise<void> => {
    const r = await httpRequest(port, options);
    sent.push({ what, status: r.status, requestId: String(r.headers['x-request-id']) });
  };
  await send('proxied', { path: '/keyed/a?token=secret', headers: { 'x-api-key': KEY } });
  await send('refused by a plugin', { path: '/keyed/a' });
  await send('no route', { path: '/nowhere?q=secret' });
  await send('refused target', { path: '/open/%2e%2e/etc' });
  await send('no instance', { path: '/ghost/x' });
  await send('POST', { method: 'POST', path: '/open/p', body: 'hello' });
  t.same(
    sent.map((s) => s.status),
    [200, 401, 404, 400, 503, 200],
    'the answers',
  );

  // A client that leaves before the upstream answers.
  up.handler = (_req, res) => setTimeout(() => res.end('late'), 300);
  await new Promise<void>((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1', () => {
      socket.write('GET /open/slow HTTP/1.1\r\nHost: gw.test\r\nX-Request-Id: gone-1\r\n\r\n');
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 50);
    });
    socket.on('error', reject);
  });

  // A WebSocket tunnel, logged when it ends.
  const ws = new WebSocket(`ws://127.0.0.1:${port}/chat/room?k=secret`, {
    headers: { 'x-request-id': 'ws-1' },
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const echoed = new Promise<string>((resolve) =>
    ws.once('message', (d: Buffer) => resolve(`${d}`)),
  );
  ws.send('hi');
  t.equal(await echoed, 'echo:hi');
  ws.close();

  await eventually(() => linesOf(file).length >= sent.length + 2, {
    what: 'every request logged',
  });
  const lines = linesOf(file);
  const byId = new Map(lines.map((l) => [l.requestId, l]));
  const of = (what: string): Line => {
    const s = sent.find((x) => x.what === what)!;
    const line = byId.get(s.requestId);
    if (line === undefined) throw new Error(`no line for ${what}`);
    return line;
  };

  const proxied = of('proxied');
  t.match(proxied, {
    client: '127.0.0.1',
    method: 'GET',
    path: '/keyed/a',
    route: 'keyed',
    status: 200,
    upstream: `127.0.0.1:${up.port}`,
    attempts: 1,
    consumer: 'alice',
  });
  t.type(proxied.upstreamMs, 'number');
  t.ok(
    (proxied.durationMs as number) >= (proxied.upstreamMs as number),
    'duration covers upstream',
  );
  t.notOk(JSON.stringify(lines).includes('secret'), 'no query string is logged');
  t.ok(gw.metrics.get('roster_gateway_access_log_dropped_total'), 'drops are counted');

  t.match(of('refused by a plugin'), {
    status: 401,
    route: 'keyed',
    reason: 'api_key_missing',
    attempts: 0,
  });
  t.notOk('upstream' in of('refused by a plugin'), 'no upstream was tried');
  const unrouted = of('no route');
  t.match(unrouted, { status: 404, path: '/nowhere', reason: 'no_route' });
  t.notOk('route' in unrouted);
  t.match(of('refused target'), {
    status: 400,
    path: '/open/%2e%2e/etc',
    reason: 'encoded_dot_segment',
  });
  t.match(of('no instance'), { status: 503, route: 'ghost', reason: 'no_upstream' });
  t.match(of('POST'), {
    method: 'POST',
    status: 200,
    route: 'open',
    upstream: `127.0.0.1:${up.port}`,
  });
  t.match(byId.get('gone-1'), { status: 499, route: 'open', reason: 'client_closed', attempts: 1 });
  t.match(byId.get('ws-1'), {
    status: 101,
    websocket: true,
    route: 'chat',
    path: '/chat/room',
    upstream: `127.0.0.1:${wsPort}`,
  });

  // Rotation: the file is moved away, a reload opens the path again.
  up.handler = (_req, res) => res.end('ok');
  renameSync(file, `${file}.1`);
  const reloaded = await gw.reload(config);
  t.ok(reloaded.ok, 'the reload worked');
  await send('after rotation', { path: '/open/after' });
  await eventually(() => linesOf(file).length === 1, { what: 'a line in the new file' });
  t.equal(linesOf(file)[0]!.requestId, sent.at(-1)!.requestId, 'the new file has the new line');
  t.equal(linesOf(`${file}.1`).length, lines.length, 'the rotated file kept the old lines');

  const moved = await gw.reload({ ...config, accessLog: { path: join(dir, 'other.log') } });
  t.same(moved.restartRequired, ['accessLog'], 'another access log needs a restart');
  await send('after a changed path', { path: '/open/again' });
  await eventually(() => linesOf(file).length === 2, { what: 'the line in the file in use' });
  t.same(linesOf(join(dir, 'other.log')), [], 'the new path is not used before a restart');
});

/** The value of a field in raw response text, or undefined. */
function fieldOf(text: string, name: string): string | undefined {
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  const m = new RegExp(`\\r\\n${name}: *([^\\r]*)`, 'i').exec(head);
  return m?.[1];
}

t.test('heads refused before they are requests are answered with an id and logged', async (t) => {
  const reg = await startRegistry(t);
  const up = await startUpstream(t, 'refusal-up');
  await reg.services.register({ service: 'api', host: '127.0.0.1', port: up.port });
  // An upstream that answers as soon as a request's head arrives, without reading its body.
  const early = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('partial');
  });
  await new Promise<void>((resolve) => early.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    early.closeAllConnections();
    return new Promise<void>((resolve) => early.close(() => resolve()));
  });
  const earlyPort = (early.address() as AddressInfo).port;
  await reg.services.register({ service: 'early', host: '127.0.0.1', port: earlyPort });

  const dir = mkdtempSync(join(tmpdir(), 'roster-gw-refusals-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'access.log');
  const gw = await startGateway({
    listeners: [{ port: 0, host: '127.0.0.1' }],
    nats: { servers: [reg.url] },
    server: { requestTimeoutMs: 1000, maxHeaderBytes: 1024 },
    routes: [
      { name: 'open', match: { path: { prefix: '/open' } }, service: 'api' },
      // No retries: the body streams to the upstream as it arrives (nothing to replay).
      {
        name: 'early',
        match: { path: { prefix: '/early' } },
        service: 'early',
        retries: { attempts: 0 },
      },
    ],
    accessLog: { path: file },
  });
  t.teardown(() => gw.close(0));
  await gw.gateway.whenReady();
  const port = gw.gateway.addresses()[0]!.port;

  const smuggled = await rawExchange(
    port,
    'POST /open/a HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  );
  const oversized = await rawExchange(
    port,
    `GET /open/a HTTP/1.1\r\nHost: gw.test\r\nX-Big: ${'b'.repeat(2000)}\r\n\r\n`,
  );
  // A head that stops halfway: the edge's headers timeout (1 s) answers it.
  const slowHead = await rawExchange(port, 'GET /open/a HTTP/1.1\r\nHost: gw.test\r\n', 3000);
  // A body that stops halfway: Node's request timeout, while the exchange waits for the upstream.
  const slowBody = await rawExchange(
    port,
    'POST /open/b HTTP/1.1\r\nHost: gw.test\r\nX-Request-Id: slow-body-1\r\nContent-Length: 100\r\n\r\nhalf',
    3000,
  );
  // An upgrade the gateway does not proxy: refused on the raw socket, under an id of its own.
  const h2c = await rawExchange(
    port,
    'GET /open/up HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n',
  );
  // The same after the upstream's response began: the connection is cut, no 408 mixed in.
  const begun = await rawExchange(
    port,
    'POST /early/c HTTP/1.1\r\nHost: gw.test\r\nX-Request-Id: begun-1\r\nContent-Length: 100\r\n\r\nhalf',
    3000,
  );

  t.equal(rawStatus(smuggled), 400, 'Content-Length with Transfer-Encoding: 400');
  t.equal(rawStatus(oversized), 431, 'an oversized head: 431');
  t.equal(rawStatus(slowHead), 408, 'a head that stops: 408');
  t.equal(rawStatus(slowBody), 408, 'a body that stops: 408');
  t.equal(fieldOf(slowBody, 'x-request-id'), 'slow-body-1', "the 408 names the exchange's id");
  t.equal(rawStatus(begun), 200, 'the response that began is what the client got');
  t.notOk(/HTTP\/1\.1 408/.test(begun), 'no 408 was written into a response on its way');
  t.equal(up.seen.length, 0, 'no refused request reached the upstream whole');
  t.equal(rawStatus(h2c), 400, 'an h2c upgrade: 400');
  const h2cId = fieldOf(h2c, 'x-request-id');
  t.match(h2cId, /^[0-9a-f-]{36}$/, 'the refused handshake names its request id');

  const ids = [smuggled, oversized, slowHead].map((text) => fieldOf(text, 'x-request-id'));
  for (const id of ids) t.match(id, /^[0-9a-f-]{36}$/, 'each refusal carries a new request id');
  t.equal(new Set(ids).size, 3, 'three different ids');

  await eventually(() => linesOf(file).length >= 6, { what: 'six lines' });
  const byId = new Map(linesOf(file).map((l) => [l.requestId, l]));
  const [smuggledLine, oversizedLine, slowHeadLine] = ids.map((id) => byId.get(id));
  t.match(smuggledLine, { client: '127.0.0.1', status: 400, reason: /^HPE_/, attempts: 0 });
  t.match(oversizedLine, { status: 431, reason: 'HPE_HEADER_OVERFLOW' });
  t.match(slowHeadLine, { client: '127.0.0.1', status: 408, reason: 'ERR_HTTP_REQUEST_TIMEOUT' });
  for (const line of [smuggledLine, oversizedLine, slowHeadLine]) {
    t.notOk(line !== undefined && ('method' in line || 'path' in line), 'no method or path');
    t.notOk(line !== undefined && 'durationMs' in line, 'no duration');
  }
  t.match(byId.get('slow-body-1'), {
    method: 'POST',
    path: '/open/b',
    route: 'open',
    status: 408,
    reason: 'ERR_HTTP_REQUEST_TIMEOUT',
  });
  t.match(byId.get('begun-1'), { route: 'early', status: 200 });
  t.match(byId.get(h2cId), { status: 400, reason: 'unsupported_upgrade', path: '/open/up' });
  t.equal(linesOf(file).length, 6, 'one line each, none twice');

  const refused = gw.metrics.render();
  t.match(
    refused,
    /roster_gateway_refused_total\{reason="ERR_HTTP_REQUEST_TIMEOUT"\} 3/,
    'the three timeouts counted',
  );
  t.match(
    refused,
    /roster_gateway_refused_total\{reason="HPE_HEADER_OVERFLOW"\} 1/,
    'the oversized head counted',
  );
});
