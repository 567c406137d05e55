/**
 * The gateway benchmark's handle floor (scripts/bench/handle-floor.ts) on real loopback
 * sockets: it starts on this Node (this fails if a Node upgrade takes away the bindings it
 * relies on), passes bodiless requests and their responses through on keep-alive connections
 * without mixing up connections, closes a connection whose request is outside its subset, and
 * with its options adds field lines to every request and runs its work before every write.
 * The benchmark reads its p99 as a peer, so a floor that answered wrongly would go unnoticed
 * there.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { startHandleFloor } from '../../scripts/bench/handle-floor.js';
import { Wire } from '../helpers/http-wire.js';

/** An upstream that answers every request with its own path, and counts what it served. */
async function echoUpstream(
  t: Test,
): Promise<{ port: number; served: () => number; heads: string[][] }> {
  let served = 0;
  const heads: string[][] = [];
  const server = createServer((req, res) => {
    served++;
    heads.push(req.rawHeaders);
    req.resume();
    const body = `path=${req.url}`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length) });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, served: () => served, heads };
}

/** The next response on `w`: its status and body. */
async function answer(w: Wire): Promise<{ status: number; body: string }> {
  const r = await w.response();
  return { status: r.status, body: r.body.toString('latin1') };
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: bench\r\n\r\n`;

t.test('passes requests through on keep-alive connections, each to its own client', async (t) => {
  const upstream = await echoUpstream(t);
  const floor = startHandleFloor(upstream.port);
  t.teardown(() => floor.close());
  const clients = await Promise.all(Array.from({ length: 6 }, () => Wire.tcp(floor.port)));
  t.teardown(() => {
    for (const c of clients) c.destroy();
  });
  for (let round = 0; round < 10; round++) {
    for (const [i, c] of clients.entries()) c.write(get(`/c${i}/r${round}`));
    const answers = await Promise.all(clients.map((c) => answer(c)));
    t.same(
      answers,
      clients.map((_, i) => ({ status: 200, body: `path=/c${i}/r${round}` })),
      `round ${round}: every client gets the answer to its own request`,
    );
  }
  t.equal(upstream.served(), 60, 'every request reached the upstream once');
});

t.test('closes a connection whose request has a body, without forwarding it', async (t) => {
  const upstream = await echoUpstream(t);
  const floor = startHandleFloor(upstream.port);
  t.teardown(() => floor.close());
  const c = await Wire.tcp(floor.port);
  t.teardown(() => c.destroy());
  c.write(get('/first'));
  t.same(await answer(c), { status: 200, body: 'path=/first' });
  c.write('POST /body HTTP/1.1\r\nHost: bench\r\nContent-Length: 3\r\n\r\nabc');
  await t.resolves(c.closes(), 'the floor closed the connection');
  t.equal(upstream.served(), 1, 'the request with a body never reached the upstream');
});

t.test('adds its field lines to every request and runs its work before each write', async (t) => {
  const upstream = await echoUpstream(t);
  let works = 0;
  const floor = startHandleFloor(upstream.port, {
    work: () => {
      works++;
    },
    requestFields: 'x-forwarded-for: 127.0.0.1\r\nx-request-id: abc\r\n',
  });
  t.teardown(() => floor.close());
  const c = await Wire.tcp(floor.port);
  t.teardown(() => c.destroy());
  for (const path of ['/one', '/two']) {
    c.write(get(path));
    t.same(await answer(c), { status: 200, body: `path=${path}` });
  }
  t.same(
    upstream.heads,
    [0, 1].map(() => ['Host', 'bench', 'x-forwarded-for', '127.0.0.1', 'x-request-id', 'abc']),
    "the upstream got each head with the fields after the client's own",
  );
  t.equal(works, 4, 'the work ran before each of the two writes of both requests');
});
