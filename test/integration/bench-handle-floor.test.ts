/**
 * The gateway benchmark's handle floor (scripts/bench/handle-floor.ts) on real loopback
 * sockets: it starts on this Node (this fails if a Node upgrade takes away the bindings it
 * relies on), passes bodiless requests and their responses through on keep-alive connections
 * without mixing up connections, and closes a connection whose request is outside its subset.
 * The benchmark reads its p99 as a peer, so a floor that answered wrongly would go unnoticed
 * there.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { startHandleFloor } from '../../scripts/bench/handle-floor.js';

/** An upstream that answers every request with its own path, and counts what it served. */
async function echoUpstream(t: Test): Promise<{ port: number; served: () => number }> {
  let served = 0;
  const server = createServer((req, res) => {
    served++;
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
  return { port: (server.address() as AddressInfo).port, served: () => served };
}

/** A client connection that reads whole responses (Content-Length bodies) one at a time. */
async function client(port: number) {
  const socket: Socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let buffered = '';
  let waiter: (() => void) | undefined;
  let closed = false;
  socket.setEncoding('latin1');
  socket.on('data', (text: string) => {
    buffered += text;
    waiter?.();
  });
  socket.on('close', () => {
    closed = true;
    waiter?.();
  });
  async function response(): Promise<{ status: number; body: string } | 'closed'> {
    for (;;) {
      const end = buffered.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = buffered.slice(0, end);
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length >= end + 4 + length) {
          const body = buffered.slice(end + 4, end + 4 + length);
          buffered = buffered.slice(end + 4 + length);
          return { status: Number(head.split(' ')[1]), body };
        }
      }
      if (closed) return 'closed';
      await new Promise<void>((resolve) => {
        waiter = resolve;
      });
      waiter = undefined;
    }
  }
  return {
    async get(path: string) {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: bench\r\n\r\n`);
      return response();
    },
    async send(raw: string) {
      socket.write(raw);
      return response();
    },
    end: () => socket.destroy(),
  };
}

t.test('passes requests through on keep-alive connections, each to its own client', async (t) => {
  const upstream = await echoUpstream(t);
  const floor = startHandleFloor(upstream.port);
  t.teardown(() => floor.close());
  const clients = await Promise.all(Array.from({ length: 6 }, () => client(floor.port)));
  t.teardown(() => {
    for (const c of clients) c.end();
  });
  for (let round = 0; round < 10; round++) {
    const answers = await Promise.all(clients.map((c, i) => c.get(`/c${i}/r${round}`)));
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
  const c = await client(floor.port);
  t.teardown(() => c.end());
  t.same(await c.get('/first'), { status: 200, body: 'path=/first' });
  const answer = await c.send('POST /body HTTP/1.1\r\nHost: bench\r\nContent-Length: 3\r\n\r\nabc');
  t.equal(answer, 'closed', 'the floor closed the connection');
  t.equal(upstream.served(), 1, 'the request with a body never reached the upstream');
});
