/**
 * The gateway's edge (gateway/edge/) end to end, on the wire: how it frames what it serves. A
 * real nats-server, a registry node, an upstream node:http server (test/helpers/edge-rig.ts) and
 * raw TCP/TLS client sockets, so keep-alive, the fields it sets and passes, repeated heads,
 * pipelining, the hand-off to Node's server, bodies of every byte value, bodiless responses,
 * chunked responses and backpressure are seen exactly as a client sees them. What happens to
 * connections (aborts, closes, half-closes, timeouts, bounded backlogs, graceful shutdown) is in
 * gateway-edge-connections.test.ts.
 *
 * Which path served a response is visible on the wire: Node's server adds `Keep-Alive:
 * timeout=…` to keep-alive responses, the edge does not.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import {
  ALL_BYTES,
  BIG_BYTES,
  bigDigest,
  chunkedPost,
  get,
  H,
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
import { selfSignedCert } from '../helpers/self-signed.js';
import { promSum } from '../helpers/watch-log.js';

t.test('the edge on the wire: framing', async (t) => {
  const { up, state, metrics, gateway, open } = await startEdgeRig(t, 'edge-up');

  await t.test('keep-alive: many requests on one client socket', async (t) => {
    const w = await open();
    const before = promSum(metrics.render(), 'roster_gateway_requests_total', {
      route: 'api',
      status_class: '2xx',
    });
    const seenBefore = up.seen.length;
    const urls: string[] = [];
    const statuses = new Set<number>();
    const paths = new Set<string>();
    const connection = new Set<string | undefined>();
    for (let i = 0; i < 50; i++) {
      w.write(get(`/echo?i=${i}`));
      const r = await w.response();
      statuses.add(r.status);
      urls.push((JSON.parse(r.body.toString()) as { url: string }).url);
      paths.add(servedBy(r));
      connection.add(r.headers.connection);
    }
    t.same([...statuses], [200]);
    t.same(
      urls,
      Array.from({ length: 50 }, (_, i) => `/echo?i=${i}`),
      'each response is for its request',
    );
    t.same([...paths], ['edge'], 'all served by the edge');
    t.same([...connection], [undefined], 'no connection: close on kept-alive responses');
    t.equal(w.closed, false, 'the socket stayed open');
    t.equal(up.seen.length - seenBefore, 50, 'the upstream saw every request');
    const after = promSum(metrics.render(), 'roster_gateway_requests_total', {
      route: 'api',
      status_class: '2xx',
    });
    t.equal(after - before, 50, 'roster_gateway_requests_total counts edge-served requests');
  });

  await t.test('x-request-id, Date, and forwarding headers', async (t) => {
    const w = await open();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    w.write(
      get(
        '/echo',
        `X-Request-Id: edge-req-1\r\nTraceparent: ${traceparent}\r\nX-Forwarded-For: 6.6.6.6\r\n`,
      ),
    );
    const r = await w.response();
    t.equal(r.status, 200);
    t.equal(servedBy(r), 'edge');
    t.equal(r.headers['x-request-id'], 'edge-req-1', 'a valid incoming request id is kept');
    t.match(r.headers.date, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    t.ok(Math.abs(Date.parse(r.headers.date!) - Date.now()) < 5000, 'Date is now');
    const seen = JSON.parse(r.body.toString()).headers as Record<string, string>;
    t.equal(seen['x-forwarded-for'], '127.0.0.1', 'the client claim is not trusted (0 hops)');
    t.equal(seen['x-forwarded-proto'], 'http');
    t.equal(seen['x-request-id'], 'edge-req-1');
    t.match(seen.traceparent, /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    t.not(seen.traceparent, traceparent, 'the gateway continues the trace with its own span');
    t.equal(seen.host, 'gw.test');

    w.write(get('/echo'));
    const fresh = await w.response();
    t.match(fresh.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'a request id is made');
    const seen2 = JSON.parse(fresh.body.toString()).headers as Record<string, string>;
    t.match(seen2.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/, 'a new trace');
    t.equal(seen2['x-request-id'], fresh.headers['x-request-id']);
  });

  await t.test('a repeated head: its own id and trace each time, the same fields', async (t) => {
    const w = await open();
    const exchange = async (request: string) => {
      w.write(request);
      const r = await w.response();
      t.equal(r.status, 200);
      return {
        id: r.headers['x-request-id'],
        seen: JSON.parse(r.body.toString()).headers as Record<string, string>,
      };
    };
    const continued = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const withTrace = `Traceparent: ${continued}\r\nTracestate: a=1\r\n`;
    const plain = [await exchange(get('/echo')), await exchange(get('/echo'))];
    const traced = [
      await exchange(get('/echo', withTrace)),
      await exchange(get('/echo', withTrace)),
    ];
    const last = await exchange(get('/echo'));
    const fixed = (seen: Record<string, string>) => ({
      xff: seen['x-forwarded-for'],
      proto: seen['x-forwarded-proto'],
      host: seen['x-forwarded-host'],
      forwarded: seen.forwarded,
    });
    const all = [...plain, ...traced, last];
    t.same(
      new Set(all.map((e) => JSON.stringify(fixed(e.seen)))),
      new Set([
        JSON.stringify({
          xff: '127.0.0.1',
          proto: 'http',
          host: 'gw.test',
          forwarded: 'for=127.0.0.1;host="gw.test";proto=http',
        }),
      ]),
      'the same forwarded fields every time',
    );
    t.equal(new Set(all.map((e) => e.id)).size, 5, 'a new request id each time');
    for (const e of all) t.equal(e.seen['x-request-id'], e.id, 'the upstream sees the client’s id');
    const traces = all.map((e) => e.seen.traceparent!);
    t.equal(new Set(traces).size, 5, 'a new traceparent each time');
    for (const e of [...plain, last]) {
      t.not(e.seen.traceparent!.slice(3, 35), continued.slice(3, 35), 'a new trace');
      t.equal(e.seen.tracestate, undefined, 'no tracestate without a continued trace');
    }
    for (const e of traced) {
      t.match(e.seen.traceparent, /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
      t.equal(e.seen.tracestate, 'a=1', 'tracestate passed with the continued trace');
    }
  });

  await t.test('a repeated head follows a new route table', async (t) => {
    const w = await open();
    const upstreamUrl = async () => {
      w.write(get('/echo?q=1'));
      const r = await w.response();
      return r.status === 200 ? (JSON.parse(r.body.toString()) as { url: string }).url : r.status;
    };
    t.equal(await upstreamUrl(), '/echo?q=1');
    t.equal(await upstreamUrl(), '/echo?q=1', 'repeated: the same route');
    const before = gateway.table;
    // The same route, now with a plugin that answers by itself.
    const teapot = {
      name: 'teapot',
      onRequest: () => ({ status: 418, reason: 'teapot' }),
    };
    gateway.setTable(simpleTable([route('api', 'api')], { api: [teapot] }));
    try {
      t.equal(await upstreamUrl(), 418, 'the same head, the new table');
      t.equal(await upstreamUrl(), 418, 'and again');
      gateway.setTable(simpleTable([route('other', 'api', { match: { path: { exact: '/x' } } })]));
      t.equal(await upstreamUrl(), 404, 'no route any more: 404');
    } finally {
      gateway.setTable(before);
    }
    t.equal(await upstreamUrl(), '/echo?q=1', 'the first table again');
  });

  await t.test('upstream field lines pass as written, hop-by-hop ones dropped', async (t) => {
    const w = await open();
    w.write(get('/raw-fields'));
    const r = await w.response();
    t.equal(r.status, 200);
    t.equal(servedBy(r), 'edge');
    const lines = r.head.split('\r\n').slice(1);
    t.ok(lines.includes('X-Mixed-Case: Keep  Me'), 'name case and value kept byte for byte');
    t.same(
      lines.filter((l) => l.startsWith('Set-Cookie:')),
      ['Set-Cookie: a=1', 'Set-Cookie: b=2'],
      'repeated fields stay separate lines, in order',
    );
    const names = lines.map((l) => l.slice(0, l.indexOf(':')).toLowerCase());
    for (const hop of ['connection', 'keep-alive', 'x-hop', 'proxy-connection']) {
      t.notOk(names.includes(hop), `${hop} is not passed on`);
    }
    t.same(
      names.filter((n) => n === 'x-request-id'),
      ['x-request-id'],
      'one request id: the gateway’s',
    );
    t.not(r.headers['x-request-id'], 'upstream-id');
    t.same(
      names.filter((n) => n === 'date' || n === 'content-length').sort(),
      ['content-length', 'date'],
      'the upstream’s Date and Content-Length, none added',
    );
    t.equal(r.body.toString(), 'ok');
  });

  await t.test('pipelining: three requests at once, three responses in order', async (t) => {
    const w = await open();
    w.write(get('/slow?ms=150&i=0') + get('/echo?i=1') + get('/chunked'));
    const a = await w.response();
    const b = await w.response();
    const c = await w.response();
    t.equal(a.body.toString(), 'slow 0', 'first: the slow one, still first');
    t.equal(JSON.parse(b.body.toString()).url, '/echo?i=1', 'second');
    t.equal(c.body.toString(), `alpha-${'b'.repeat(20_000)}-omega`, 'third, chunked, intact');
    t.same([a, b, c].map(servedBy), ['edge', 'edge', 'edge']);
    t.equal(w.buffered, 0, 'nothing else on the wire');
    // Pipelined heads that arrive in pieces, the second split across writes.
    const two = get('/echo?i=2') + get('/echo?i=3');
    w.write(two.slice(0, 30));
    await new Promise((resolve) => setTimeout(resolve, 30));
    w.write(two.slice(30, two.length - 10));
    await new Promise((resolve) => setTimeout(resolve, 30));
    w.write(two.slice(two.length - 10));
    t.equal(JSON.parse((await w.response()).body.toString()).url, '/echo?i=2');
    t.equal(JSON.parse((await w.response()).body.toString()).url, '/echo?i=3');
  });

  await t.test('a bodiless GET, then a chunked POST (fallback), then a GET', async (t) => {
    const w = await open();
    w.write(get('/echo?step=1'));
    const first = await w.response();
    t.equal(first.status, 200);
    t.equal(servedBy(first), 'edge', 'the GET is served by the edge');
    const seenBefore = up.seen.length;
    w.write(chunkedPost('/echo?step=2', 'hello, chunked world'));
    const second = await w.response();
    t.equal(second.status, 200);
    t.equal(servedBy(second), 'node', 'the POST is served by Node’s server');
    const echoed = JSON.parse(second.body.toString()) as { method: string; body: string };
    t.equal(echoed.method, 'POST');
    t.equal(echoed.body, 'hello, chunked world', 'the body arrived in full');
    t.equal(up.seen[seenBefore]?.body, 'hello, chunked world', 'the upstream got the exact body');
    w.write(get('/echo?step=3'));
    const third = await w.response();
    t.equal(JSON.parse(third.body.toString()).url, '/echo?step=3');
    t.equal(servedBy(third), 'node', 'the connection stays with Node’s server');

    // The same three written at once: the bytes after the GET are handed over untouched.
    const w2 = await open();
    w2.write(
      get('/echo?p=1') + chunkedPost('/echo?p=2', 'pipelined body bytes') + get('/echo?p=3'),
    );
    const r1 = await w2.response();
    const r2 = await w2.response();
    const r3 = await w2.response();
    t.equal(servedBy(r1), 'edge');
    t.equal(JSON.parse(r1.body.toString()).url, '/echo?p=1');
    t.equal(JSON.parse(r2.body.toString()).body, 'pipelined body bytes');
    t.equal(JSON.parse(r3.body.toString()).url, '/echo?p=3');
    t.same([r2, r3].map(servedBy), ['node', 'node']);
  });

  await t.test('every byte value of a body arrives unchanged, on both paths', async (t) => {
    const expected = Buffer.concat([ALL_BYTES, ALL_BYTES]);
    const w = await open();
    w.write(get('/bytes'));
    const viaEdge = await w.response();
    t.equal(servedBy(viaEdge), 'edge');
    t.same([...viaEdge.body], [...expected], 'through the edge');
    w.write(chunkedPost('/bytes', 'a request body'));
    const viaNode = await w.response();
    t.equal(servedBy(viaNode), 'node');
    t.same([...viaNode.body], [...expected], 'through Node’s server');
  });

  await t.test('HEAD, 204 and 304 responses have no body', async (t) => {
    const w = await open();
    w.write(`HEAD /head HTTP/1.1\r\n${H}\r\n`);
    const head = await w.response('HEAD');
    t.equal(head.status, 200);
    t.equal(head.headers['content-length'], '11', 'the length of the GET body is kept');
    t.equal(head.headers['transfer-encoding'], undefined);
    w.write(get('/204'));
    const noContent = await w.response();
    t.equal(noContent.status, 204);
    t.equal(noContent.headers['x-kind'], 'no-content');
    t.equal(noContent.headers['transfer-encoding'], undefined, 'no chunked coding on a 204');
    w.write(get('/304'));
    const notModified = await w.response();
    t.equal(notModified.status, 304);
    t.equal(notModified.headers.etag, '"v1"');
    t.equal(notModified.headers['transfer-encoding'], undefined, 'no chunked coding on a 304');
    // Had any of them carried body bytes, they would be on the wire ahead of this response.
    await new Promise((resolve) => setTimeout(resolve, 50));
    t.equal(w.buffered, 0, 'no stray bytes after the bodiless responses');
    w.write(get('/head'));
    const full = await w.response();
    t.equal(full.body.toString(), 'hello world', 'the next response parses cleanly');
    t.same([head, noContent, notModified, full].map(servedBy), ['edge', 'edge', 'edge', 'edge']);
  });

  await t.test('an upstream response without a length arrives chunked', async (t) => {
    const w = await open();
    w.write(get('/chunked'));
    const r = await w.response();
    t.equal(r.status, 200);
    t.equal(r.chunked, true, 'transfer-encoding: chunked');
    t.equal(r.headers['content-length'], undefined);
    t.equal(r.body.toString(), `alpha-${'b'.repeat(20_000)}-omega`, 'de-chunks to the body');
    t.ok(r.wireBody.toString('latin1').endsWith('\r\n0\r\n\r\n'), 'ends with the last chunk');
    w.write(get('/empty-chunked'));
    const empty = await w.response();
    t.equal(empty.chunked, true);
    t.equal(empty.wireBody.toString('latin1'), '0\r\n\r\n', 'an empty body: just the last chunk');
    w.write(get('/echo'));
    t.equal((await w.response()).status, 200, 'the connection is still in sync');
  });

  await t.test('a large response to a slow reader arrives intact (backpressure)', async (t) => {
    const w = await open();
    // Read the head and about 1 MiB, then stop reading for a while.
    w.socket.pause();
    w.write(get('/big', 'Connection: close\r\n'));
    const socket = w.socket;
    const chunks: Buffer[] = [];
    let received = 0;
    socket.removeAllListeners('data');
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      received += d.length;
    });
    socket.resume();
    await eventually(() => received > 1024 * 1024, { what: '1 MiB received' });
    socket.pause();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stalledAt = state.bigWritten;
    await new Promise((resolve) => setTimeout(resolve, 300));
    t.equal(
      state.bigWritten,
      stalledAt,
      'the upstream is held back while the client reads nothing',
    );
    t.equal(
      state.bigFinished,
      false,
      'the upstream has not finished: the gateway did not buffer it',
    );
    t.ok(state.bigPushedBack, 'the upstream saw backpressure');
    // Now read slowly: short pauses every 2 MiB.
    let nextPause = received + 2 * 1024 * 1024;
    socket.on('data', () => {
      if (received >= nextPause) {
        nextPause += 2 * 1024 * 1024;
        socket.pause();
        setTimeout(() => socket.resume(), 15);
      }
    });
    socket.resume();
    await w.closes(30_000);
    const all = Buffer.concat(chunks);
    const end = all.indexOf('\r\n\r\n');
    const head = all.toString('latin1', 0, end);
    t.match(head, /^HTTP\/1\.1 200 /);
    t.match(head, new RegExp(`\\r\\ncontent-length: ${BIG_BYTES}\\r\\n`, 'i'));
    const body = all.subarray(end + 4);
    t.equal(body.length, BIG_BYTES, 'every byte');
    t.equal(createHash('sha256').update(body).digest('hex'), bigDigest(), 'in order');
    t.ok(state.bigFinished, 'the upstream finished');
  });
});

t.test(
  'TLS: served by the edge, a POST with a body falls back on the same connection',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'roster-edge-tls-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const tls = selfSignedCert(dir, 'edge.test');
    const reg = await startRegistry(t);
    const up = await startUpstream(t, 'edge-tls');
    serve(up, newUpstreamState());
    await reg.services.register({ service: 'api', host: '127.0.0.1', port: up.port });
    const { gateway } = await startGateway(t, reg.url, simpleTable([route('api', 'api')]), {
      listeners: [{ port: 0, host: '127.0.0.1', tls }],
    });
    const port = gateway.addresses()[0]!.port;
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: tls.cert, servername: 'edge.test' });
    t.teardown(() => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const w = new Wire(socket);
    for (let i = 0; i < 3; i++) {
      w.write(get(`/echo?tls=${i}`));
      const r = await w.response();
      t.equal(r.status, 200);
      t.equal(servedBy(r), 'edge', `GET ${i} served by the edge`);
      const seen = JSON.parse(r.body.toString()) as {
        url: string;
        headers: Record<string, string>;
      };
      t.equal(seen.url, `/echo?tls=${i}`);
      t.equal(seen.headers['x-forwarded-proto'], 'https');
    }
    w.write(get('/chunked'));
    const chunked = await w.response();
    t.equal(chunked.chunked, true);
    t.equal(chunked.body.toString(), `alpha-${'b'.repeat(20_000)}-omega`);
    const seenBefore = up.seen.length;
    w.write(chunkedPost('/echo?tls=post', 'a body over TLS, chunked'));
    const post = await w.response();
    t.equal(post.status, 200);
    t.equal(servedBy(post), 'node', 'the POST went to Node’s server');
    t.equal(up.seen[seenBefore]?.body, 'a body over TLS, chunked', 'the upstream got the body');
    t.equal(up.seen[seenBefore]?.headers['x-forwarded-proto'], 'https');
    w.write(get('/echo?tls=after'));
    const after = await w.response();
    t.equal(JSON.parse(after.body.toString()).url, '/echo?tls=after');
    t.equal(servedBy(after), 'node');
    // And a pipelined GET + POST + GET in one write on a fresh TLS connection.
    const s2 = tlsConnect({ host: '127.0.0.1', port, ca: tls.cert, servername: 'edge.test' });
    t.teardown(() => s2.destroy());
    await new Promise<void>((resolve, reject) => {
      s2.once('secureConnect', resolve);
      s2.once('error', reject);
    });
    const w2 = new Wire(s2);
    w2.write(get('/echo?q=1') + chunkedPost('/echo?q=2', 'pipelined over TLS') + get('/echo?q=3'));
    const q1 = await w2.response();
    const q2 = await w2.response();
    const q3 = await w2.response();
    t.equal(servedBy(q1), 'edge');
    t.equal(JSON.parse(q2.body.toString()).body, 'pipelined over TLS');
    t.equal(JSON.parse(q3.body.toString()).url, '/echo?q=3');
  },
);
