/**
 * The gateway's edge (gateway/edge/) end to end, on the wire: what it does with connections. A
 * real nats-server, a registry node, an upstream node:http server (test/helpers/edge-rig.ts) and
 * raw TCP client sockets: a client that disconnects mid-response, `Connection: close`, a
 * half-close, pipelined bytes held back while a response is pending, a client that reads no
 * responses, the headers and keep-alive timeouts, and graceful shutdown. How the edge frames
 * what it serves is in gateway-edge.test.ts.
 */
import { createHash } from 'node:crypto';
import { type Socket, connect as tcpConnect } from 'node:net';
import t from 'tap';
import {
  get,
  H,
  HEADERS_TIMEOUT_MS,
  KEEP_ALIVE_MS,
  newUpstreamState,
  serve,
  servedBy,
  startEdgeRig,
} from '../helpers/edge-rig.js';
import { eventually } from '../helpers/eventually.js';
import {
  route,
  simpleTable,
  startGateway,
  startRegistry,
  startUpstream,
} from '../helpers/gateway-harness.js';
import { Wire } from '../helpers/http-wire.js';

t.test('the edge on the wire: connections', async (t) => {
  const { up, state, port, gateway, open, edgeSocketOf } = await startEdgeRig(t, 'edge-conn');

  await t.test('a client that disconnects mid-response aborts the upstream request', async (t) => {
    const w = await open();
    const closedBefore = state.hangClosed.length;
    w.write(get('/hang'));
    // The head and the first chunk arrive; then the client goes away.
    await eventually(() => w.buffered > 0 && up.arrived.includes('GET /hang'), {
      what: 'the start of the response',
    });
    t.equal(gateway.inFlight, 1, 'in flight while hanging');
    w.destroy();
    await eventually(() => state.hangClosed.length > closedBefore, {
      what: 'the upstream response closed',
    });
    t.same(state.hangClosed.slice(closedBefore), [true], 'closed before it finished');
    await eventually(() => gateway.inFlight === 0, { what: 'nothing in flight' });
    const next = await open();
    next.write(get('/echo?after=abort'));
    t.equal((await next.response()).status, 200, 'the gateway keeps serving');
  });

  await t.test('Connection: close gets connection: close and the socket ends', async (t) => {
    const w = await open();
    w.write(get('/echo', 'Connection: close\r\n'));
    const r = await w.response();
    t.equal(r.status, 200);
    t.equal(r.headers.connection, 'close');
    await w.closes(2000);
    t.pass('the gateway closed the connection');
    // Requests pipelined after it are not served.
    const w2 = await open();
    const seenBefore = up.seen.length;
    w2.write(get('/echo?i=last', 'Connection: close\r\n') + get('/echo?i=never'));
    t.equal(JSON.parse((await w2.response()).body.toString()).url, '/echo?i=last');
    await w2.closes(2000);
    t.equal(w2.buffered, 0, 'no second response');
    t.same(
      up.seen.slice(seenBefore).map((s) => s.url),
      ['/echo?i=last'],
      'the upstream saw only the first',
    );
  });

  await t.test('a client half-close is handled as Node’s server handles it', async (t) => {
    // Idle: the gateway closes its side too, long before the keep-alive timeout.
    const w = await open();
    w.write(get('/echo?half=1'));
    t.equal(JSON.parse((await w.response()).body.toString()).url, '/echo?half=1');
    const endedAt = Date.now();
    w.socket.end();
    const closedAt = await w.closes(KEEP_ALIVE_MS);
    t.ok(closedAt - endedAt < 1000, `closed at once (${closedAt - endedAt} ms)`);

    // Mid-response: the exchange is abandoned and the upstream request aborted, on the edge
    // (a GET) exactly as on Node's path (a POST with a body).
    for (const [path, request] of [
      ['edge', get('/hang?half=edge')],
      ['node', `POST /hang?half=node HTTP/1.1\r\n${H}Content-Length: 4\r\n\r\nbody`],
    ] as const) {
      const closedBefore = state.hangClosed.length;
      const c = await open();
      c.write(request);
      await eventually(() => c.buffered > 0, { what: `${path}: the start of the response` });
      c.socket.end();
      await c.closes(3000);
      await eventually(() => state.hangClosed.length > closedBefore, {
        what: `${path}: the upstream response closed`,
      });
      t.same(state.hangClosed.slice(closedBefore), [true], `${path}: upstream aborted`);
      await eventually(() => gateway.inFlight === 0, { what: `${path}: nothing in flight` });
    }
  });

  await t.test('pipelined bytes are not read ahead while a response is pending', async (t) => {
    const size = 24 * 1024 * 1024;
    const body = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) body.write(`block ${i}`, i, 'latin1');
    const head = `POST /sink HTTP/1.1\r\n${H}Content-Length: ${size}\r\n\r\n`;
    const w = await open();
    // The gateway's side of the connection, to see how much it has read.
    const gatewaySide = await edgeSocketOf(w.socket as Socket);
    w.write(get('/slow?ms=1200&i=first'));
    w.write(Buffer.concat([Buffer.from(head, 'latin1'), body]));
    await new Promise((resolve) => setTimeout(resolve, 900));
    const read = gatewaySide.bytesRead;
    t.ok(read < 1024 * 1024, `the gateway stopped reading (${read} bytes read)`);
    const first = await w.response();
    t.equal(first.body.toString(), 'slow first');
    t.equal(servedBy(first), 'edge');
    const second = await w.response('POST', 20_000);
    t.equal(second.status, 200);
    t.same(
      JSON.parse(second.body.toString()),
      { length: size, sha256: createHash('sha256').update(body).digest('hex') },
      'then the body is read and arrives intact',
    );
    t.equal(servedBy(second), 'node');
  });

  await t.test(
    'a client that reads no responses is served no more than a bounded backlog',
    async (t) => {
      const client = tcpConnect(port, '127.0.0.1');
      t.teardown(() => client.destroy());
      await new Promise((resolve) => client.once('connect', resolve));
      const gatewaySide = await edgeSocketOf(client);
      // Reads nothing: the kernel's socket buffers fill (~4 MiB here), then the
      // gateway's own queue would.
      client.pause();
      // 16 KiB each, small enough to leave in one write: 32 MiB of responses.
      const count = 2000;
      const kib = 16;
      const servedBefore = state.kbServed;
      let requests = '';
      for (let i = 0; i < count; i++) requests += get(`/kb?n=${kib}&i=${i}`);
      client.write(requests);
      let last = -1;
      let still = 0;
      await eventually(
        () => {
          const served = state.kbServed - servedBefore;
          still = served === last ? still + 1 : 0;
          last = served;
          return served > 0 && still >= 5;
        },
        { what: 'the upstream to stop being asked', intervalMs: 100, timeoutMs: 20_000 },
      );
      t.ok(last < count, `the upstream answered ${last} of ${count}, then was asked no more`);
      // The gateway-side socket: Node's Writable and libuv's queue (handle writes) together.
      const handle = (gatewaySide as unknown as { _handle: { writeQueueSize: number } | null })
        ._handle;
      const queued = gatewaySide.writableLength + (handle?.writeQueueSize ?? 0);
      t.ok(queued <= 256 * 1024, `the gateway holds ${queued} unread bytes, not megabytes`);
      t.equal(client.destroyed, false, 'the connection stays open while the client is slow');

      // Then it reads: every response arrives whole and in order (read as a stream: heads
      // parsed, bodies counted, the tag at the start of each body kept).
      const tags: string[] = [];
      let head = '';
      let bodyLeft = 0;
      let bodyStart = '';
      const done = new Promise<void>((resolve, reject) => {
        client.on('data', (chunk: Buffer) => {
          let at = 0;
          while (at < chunk.length) {
            if (bodyLeft === 0) {
              const take = chunk.toString('latin1', at, Math.min(chunk.length, at + 1024));
              const end = (head + take).indexOf('\r\n\r\n');
              if (end < 0) {
                head += take;
                at += take.length;
                continue;
              }
              const whole = (head + take).slice(0, end);
              at += end + 4 - head.length;
              head = '';
              const length = /\r\ncontent-length: (\d+)/i.exec(whole);
              if (!whole.startsWith('HTTP/1.1 200 ') || length === null) {
                reject(new Error(`unexpected head ${JSON.stringify(whole.slice(0, 80))}`));
                return;
              }
              bodyLeft = Number(length[1]);
              bodyStart = '';
            }
            const n = Math.min(bodyLeft, chunk.length - at);
            if (bodyStart.length < 16)
              bodyStart += chunk.toString('latin1', at, at + Math.min(n, 16));
            bodyLeft -= n;
            at += n;
            if (bodyLeft === 0) {
              tags.push(bodyStart.slice(0, bodyStart.indexOf(';') + 1));
              if (tags.length === count) resolve();
            }
          }
        });
      });
      client.resume();
      await done;
      t.same(
        tags,
        Array.from({ length: count }, (_, i) => `#${i};`),
        'once read, every response arrives, in order',
      );
      t.equal(state.kbServed - servedBefore, count);
    },
  );

  await t.test('a partial head, then silence: 408 after the headers timeout', async (t) => {
    const w = await open();
    const started = Date.now();
    w.write(`GET /echo HTTP/1.1\r\n${H}X-Partial: 1`);
    const r = await w.response('GET', 5000);
    const elapsed = Date.now() - started;
    t.equal(r.status, 408);
    t.equal(JSON.parse(r.body.toString()).code, 'ROSTER_ERR_TIMEOUT');
    t.equal(r.headers.connection, 'close');
    t.ok(elapsed >= HEADERS_TIMEOUT_MS - 50, `not before the headers timeout (${elapsed} ms)`);
    t.ok(elapsed < KEEP_ALIVE_MS, `by the headers timeout, not the keep-alive one (${elapsed} ms)`);
    await w.closes(2000);

    // A head trickled in slower than the timeout allows gets 408 too.
    const slow = await open();
    const head = get('/echo');
    const trickleStart = Date.now();
    let i = 0;
    const trickle = setInterval(() => {
      if (i < head.length - 4 && !slow.ended) slow.write(head[i++]!);
    }, 100);
    t.teardown(() => clearInterval(trickle));
    const late = await slow.response('GET', 5000);
    clearInterval(trickle);
    t.equal(late.status, 408, 'a trickled head');
    t.ok(Date.now() - trickleStart < KEEP_ALIVE_MS + 1000);
  });

  await t.test('an idle keep-alive connection is closed after keepAliveTimeoutMs', async (t) => {
    const w = await open();
    w.write(get('/echo'));
    t.equal((await w.response()).status, 200);
    const idleFrom = Date.now();
    const closedAt = await w.closes(KEEP_ALIVE_MS + 3000);
    const idle = closedAt - idleFrom;
    t.ok(idle >= KEEP_ALIVE_MS - 200, `not before the timeout (${idle} ms)`);
    t.ok(idle < KEEP_ALIVE_MS + 2000, `soon after it (${idle} ms)`);
    t.equal(w.buffered, 0, 'closed without a response');
  });
});

t.test(
  'graceful shutdown: idle edge connections close, an in-flight request finishes',
  async (t) => {
    const reg = await startRegistry(t);
    const up = await startUpstream(t, 'edge-shutdown');
    serve(up, newUpstreamState());
    await reg.services.register({ service: 'api', host: '127.0.0.1', port: up.port });
    const { port, gateway } = await startGateway(t, reg.url, simpleTable([route('api', 'api')]));
    const idle = await Wire.tcp(port);
    const busy = await Wire.tcp(port);
    t.teardown(() => {
      idle.destroy();
      busy.destroy();
    });
    idle.write(get('/echo'));
    t.equal((await idle.response()).status, 200);
    busy.write(get('/echo'));
    t.equal((await busy.response()).status, 200);
    busy.write(get('/slow?ms=800&i=inflight'));
    await eventually(() => gateway.inFlight === 1, { what: 'one request in flight' });
    const closeStarted = Date.now();
    const closing = gateway.close(5000);
    const idleClosedAt = await idle.closes(2000);
    t.ok(idleClosedAt - closeStarted < 500, 'the idle connection closed at once');
    t.equal(busy.closed, false, 'the busy one is still open');
    const r = await busy.response();
    t.equal(r.status, 200);
    t.equal(r.body.toString(), 'slow inflight', 'the in-flight request finished');
    t.equal(r.headers.connection, 'close', 'and was told the connection closes');
    await busy.closes(2000);
    await closing;
    t.equal(gateway.inFlight, 0);
  },
);
