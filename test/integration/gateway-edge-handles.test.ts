/**
 * The edge on bare TCP handles (gateway/edge/accepted-handles.ts, handle-socket.ts; ADR 0010)
 * on real loopback connections, with the edge installed on a plain node:http server: on this
 * Node a plain connection is served on its handle with no net.Socket (this fails if a Node
 * upgrade takes away what that relies on); the server counts it as its own, so
 * `getConnections()` and `server.close()` see it; a connection becomes a net.Socket when a
 * response is streamed in pieces and when it is handed to Node's server, keeping its bytes and
 * its count; `maxConnections` still refuses; a client half-close and a gateway-side destroy
 * close it. The gateway's whole edge suite (gateway-edge.test.ts and
 * gateway-edge-connections.test.ts) runs on these connections too.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { Edge } from '../../gateway/edge/edge.js';
import type { EdgeRequest, EdgeResponse } from '../../gateway/edge/edge-response.js';
import { HandleSocket } from '../../gateway/edge/handle-socket.js';
import { eventually } from '../helpers/eventually.js';
import { Wire } from '../helpers/http-wire.js';

const LIMITS = { maxHeaderBytes: 16 * 1024, headersTimeoutMs: 5000, keepAliveTimeoutMs: 5000 };

interface EdgeServer {
  server: Server;
  edge: Edge;
  port: number;
  /** The edge's connections' sockets (HandleSocket or net.Socket). */
  sockets(): unknown[];
  connections(): Promise<number>;
}

/**
 * A node:http server with the edge in front: the edge answers `edge <url>` (streamed in two
 * pieces for /stream), Node's server answers what the edge hands it with `node <url> <body>`.
 */
async function edgeServer(t: Test): Promise<EdgeServer> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => res.end(`node ${req.url} ${body}`));
  });
  const edge = new Edge(server, false, LIMITS, (req: EdgeRequest, res: EdgeResponse) => {
    if (req.url === '/stream') {
      res.writeHead(200, ['content-type', 'text/plain']);
      res.write(Buffer.from('edge '));
      setTimeout(() => res.end('/stream'), 20);
      return;
    }
    const text = `edge ${req.url}`;
    res.writeHead(200, ['content-length', String(text.length)]);
    res.end(text);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    edge.closeAllConnections();
    server.close();
  });
  const connections = edge as unknown as { connections: Set<{ socket: unknown }> };
  return {
    server,
    edge,
    port: (server.address() as AddressInfo).port,
    sockets: () => [...connections.connections].map((c) => c.socket),
    connections: () =>
      new Promise((resolve, reject) =>
        server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
      ),
  };
}

/** The body of the next response on `w`, as text. */
const text = async (w: Wire): Promise<string> => (await w.response()).body.toString('latin1');

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: edge\r\n\r\n`;

t.test('a plain connection is served on its handle and counted by the server', async (t) => {
  const s = await edgeServer(t);
  const c = await Wire.tcp(s.port);
  t.teardown(() => c.destroy());
  c.write(get('/a'));
  t.equal(await text(c), 'edge /a');
  c.write(get('/b'));
  t.equal(await text(c), 'edge /b', 'and kept alive');
  const [socket] = s.sockets();
  t.ok(socket instanceof HandleSocket, 'no net.Socket was built for it');
  t.equal(await s.connections(), 1, "the server's connection count has it");
  c.socket.end();
  await eventually(async () => s.edge.size === 0 && (await s.connections()) === 0, {
    what: 'the half-closed connection closed and counted off',
  });
  await t.resolves(c.closes(), 'the client sees it close');
});

t.test('server.close() waits for connections served on handles', async (t) => {
  const s = await edgeServer(t);
  const c = await Wire.tcp(s.port);
  t.teardown(() => c.destroy());
  c.write(get('/a'));
  t.equal(await text(c), 'edge /a');
  let closed = false;
  s.server.close(() => {
    closed = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.notOk(closed, 'not closed while the connection is open');
  s.edge.closeIdleConnections();
  await eventually(() => closed, { what: 'server.close() to call back' });
  await t.resolves(c.closes(), 'the idle connection was closed by the edge');
});

t.test('a streamed response makes the connection a socket, and it stays alive', async (t) => {
  const s = await edgeServer(t);
  const c = await Wire.tcp(s.port);
  t.teardown(() => c.destroy());
  c.write(get('/stream'));
  t.equal(await text(c), 'edge /stream');
  c.write(get('/after'));
  t.equal(await text(c), 'edge /after', 'the next request on it is served');
  t.equal(await s.connections(), 1, 'counted once');
  c.destroy();
  await eventually(async () => (await s.connections()) === 0, { what: 'counted off once' });
  t.equal((s.server as unknown as { _connections: number })._connections, 0, 'not below zero');
});

t.test('a hand-off to Node keeps the bytes read and the count', async (t) => {
  const s = await edgeServer(t);
  const c = await Wire.tcp(s.port);
  t.teardown(() => c.destroy());
  // Pipelined in one write: the edge serves the first, Node's server gets the second with its
  // body, read by the edge from the handle before the hand-off.
  c.write(`${get('/first')}POST /second HTTP/1.1\r\nHost: edge\r\nContent-Length: 5\r\n\r\nhello`);
  t.equal(await text(c), 'edge /first');
  t.equal(await text(c), 'node /second hello');
  t.equal(s.edge.size, 0, 'the edge no longer serves it');
  t.equal(await s.connections(), 1, 'the server counts it once');
  c.write(get('/third'));
  t.equal(await text(c), 'node /third ', 'Node serves it from then on');
  c.destroy();
  await eventually(async () => (await s.connections()) === 0, { what: 'counted off once' });
  t.equal((s.server as unknown as { _connections: number })._connections, 0, 'not below zero');
});

t.test('maxConnections still refuses connections over the limit', async (t) => {
  const s = await edgeServer(t);
  s.server.maxConnections = 1;
  const dropped = once(s.server, 'drop');
  const first = await Wire.tcp(s.port);
  t.teardown(() => first.destroy());
  first.write(get('/a'));
  t.equal(await text(first), 'edge /a');
  const second = await Wire.tcp(s.port);
  t.teardown(() => second.destroy());
  await dropped;
  second.write(get('/b'));
  await t.resolves(second.closes(), 'the second connection is closed unanswered');
  t.equal(await s.connections(), 1);
});

t.test('closing all connections closes those on handles', async (t) => {
  const s = await edgeServer(t);
  const clients = await Promise.all([Wire.tcp(s.port), Wire.tcp(s.port), Wire.tcp(s.port)]);
  t.teardown(() => {
    for (const c of clients) c.destroy();
  });
  for (const c of clients) {
    c.write(get('/x'));
    t.equal(await text(c), 'edge /x');
  }
  t.equal(await s.connections(), 3);
  t.ok(
    s.sockets().every((x) => x instanceof HandleSocket),
    'all three on their handles',
  );
  s.edge.closeAllConnections();
  for (const c of clients) await t.resolves(c.closes(), 'closed');
  await eventually(async () => (await s.connections()) === 0, { what: 'all counted off' });
});
