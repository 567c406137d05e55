/**
 * The gateway's own HTTP/1.1 upstream client (gateway/upstream/) against real local servers:
 * node:http servers for well-behaved upstreams, raw `net` servers for misbehaving ones.
 * Keep-alive reuse, the connection limit and its queue, streamed request bodies, timeouts,
 * connect errors, backpressure, aborts, pool close, TLS. What decides whether a connection is
 * used again (the stale keep-alive race, malformed responses, bytes after a response, the
 * Keep-Alive hint and idle timeouts) is in gateway-upstream-pool-reuse.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { fieldLinesOf } from '../../gateway/upstream/field-lines.js';
import { UpstreamErrorCode } from '../../gateway/upstream/types.js';
import { eventually } from '../helpers/eventually.js';
import { selfSignedCert } from '../helpers/self-signed.js';
import {
  Collector,
  chunksOf,
  httpUpstream,
  listen,
  makePool,
  rawUpstream,
  readBody,
  req,
  run,
  sleep,
  within,
} from '../helpers/upstream-pool-rig.js';

t.test('sequential requests reuse one keep-alive connection', async (t) => {
  const up = await httpUpstream(t, (req, res) => {
    void readBody(req).then((body) => {
      res.setHeader('x-method', req.method ?? '');
      res.setHeader('x-host', req.headers.host ?? '');
      res.end(`${req.url} ${body.length}`);
    });
  });
  const pool = makePool(t, up.port);
  for (let i = 0; i < 25; i++) {
    const o = await run(pool, req('GET', `/n/${i}?q=${i}`));
    t.equal(o.status, 200);
    if (o.body.toString() !== `/n/${i}?q=${i} 0`) t.fail(`body of request ${i}: ${o.body}`);
  }
  const post = await run(pool, req('POST', '/p', { body: Buffer.from('hello') }));
  t.equal(post.body.toString(), '/p 5', 'buffered body sent with its length');
  const empty = await run(pool, req('POST', '/e'));
  t.equal(empty.body.toString(), '/e 0', 'POST without a body sends Content-Length: 0');
  const head = await run(pool, req('HEAD', '/h'));
  t.equal(head.status, 200);
  t.equal(head.body.length, 0);
  t.equal(head.headers?.['x-method'], 'HEAD');
  t.equal(head.headers?.['x-host'], `127.0.0.1:${up.port}`, 'Host added from the origin');
  t.same(head.calls, ['requestStart', 'responseStart', 'end']);
  t.equal(up.accepted, 1, 'one server-side connection for all 28 requests');
  t.equal(pool.connections, 1);
  const [connection] = (pool as unknown as { open: Set<{ socket: Socket }> }).open;
  t.equal(
    (connection!.socket as unknown as { _handle: { onread: { name: string } } })._handle.onread
      .name,
    'onDirectRead',
    'plain-TCP reads skip net’s dispatcher',
  );
});

t.test('Connection: close from the upstream is honoured', async (t) => {
  const up = await httpUpstream(t, (_req, res) => {
    res.setHeader('connection', 'close');
    res.end('bye');
  });
  const pool = makePool(t, up.port);
  for (let i = 0; i < 3; i++) t.equal((await run(pool, req('GET', '/'))).body.toString(), 'bye');
  t.equal(up.accepted, 3, 'a new connection each time');
});

t.test('connection limit: requests beyond it wait in order', async (t) => {
  let inFlight = 0;
  let maxInFlight = 0;
  const order: string[] = [];
  const up = await httpUpstream(t, (req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    order.push(req.url ?? '');
    setTimeout(() => {
      inFlight--;
      res.end(req.url);
    }, 30);
  });
  const pool = makePool(t, up.port, { connections: 2 });
  const collectors = Array.from({ length: 10 }, () => new Collector());
  collectors.forEach((c, i) => {
    pool.dispatch(req('GET', `/${i}`), c);
  });
  t.equal(pool.queued, 8, 'eight wait');
  t.equal(pool.connections, 2, 'two connect');
  const outs = await within(Promise.all(collectors.map((c) => c.done)), 10_000, 'all answered');
  outs.forEach((o, i) => {
    t.equal(o.body.toString(), `/${i}`, `request ${i} answered`);
  });
  t.equal(up.accepted, 2, 'two server-side connections');
  t.equal(maxInFlight, 2, 'never more than two at once');
  t.same(order.slice(2), ['/2', '/3', '/4', '/5', '/6', '/7', '/8', '/9'], 'queue is FIFO');
  t.equal(pool.queued, 0);
});

t.test('streamed request bodies: chunked, and raw with a declared Content-Length', async (t) => {
  const seen: { te: string | undefined; cl: string | undefined; body: Buffer }[] = [];
  const up = await httpUpstream(t, (req, res) => {
    void readBody(req).then((body) => {
      seen.push({
        te: req.headers['transfer-encoding'],
        cl: req.headers['content-length'],
        body,
      });
      res.end(String(body.length));
    });
  });
  const pool = makePool(t, up.port);
  const parts = [
    Buffer.from('first part,'),
    Buffer.alloc(0),
    Buffer.alloc(70_000, 0x61),
    Buffer.from([0, 1, 2, 13, 10, 255]),
  ];
  const all = Buffer.concat(parts);
  const chunked = await run(pool, req('POST', '/c', { body: chunksOf(parts, 5) }));
  t.equal(chunked.status, 200);
  t.equal(seen[0]?.te, 'chunked');
  t.equal(seen[0]?.cl, undefined);
  t.ok(seen[0]?.body.equals(all), 'server received the exact bytes (chunked)');
  const declared = await run(
    pool,
    req('PUT', '/l', {
      headers: fieldLinesOf(['Content-Length', String(all.length)]),
      body: chunksOf(parts, 5),
    }),
  );
  t.equal(declared.body.toString(), String(all.length));
  t.equal(seen[1]?.te, undefined);
  t.equal(seen[1]?.cl, String(all.length));
  t.ok(seen[1]?.body.equals(all), 'server received the exact bytes (Content-Length)');
  t.equal(up.accepted, 1, 'a fully sent streamed body leaves the connection reusable');
});

t.test('request body length mismatches fail with requestLength', async (t) => {
  const up = await httpUpstream(t, (req, res) => {
    req.on('error', () => {});
    void readBody(req).then(
      (b) => res.end(String(b.length)),
      () => {},
    );
  });
  const pool = makePool(t, up.port);
  const longer = await run(
    pool,
    req('POST', '/', {
      headers: fieldLinesOf(['content-length', '4']),
      body: chunksOf([Buffer.from('abcdef')]),
    }),
  );
  t.equal(longer.errors[0]?.code, UpstreamErrorCode.requestLength, 'longer stream');
  t.equal(longer.ended, false);
  const shorter = await run(
    pool,
    req('POST', '/', {
      headers: fieldLinesOf(['content-length', '10']),
      body: chunksOf([Buffer.from('abc')]),
    }),
  );
  t.equal(shorter.errors[0]?.code, UpstreamErrorCode.requestLength, 'shorter stream');
  const buffered = await run(
    pool,
    req('POST', '/', { headers: fieldLinesOf(['Content-Length', '2']), body: Buffer.from('abc') }),
  );
  t.equal(buffered.errors[0]?.code, UpstreamErrorCode.requestLength, 'buffered body');
  const invalid = await run(pool, req('GET', '/a b'));
  t.equal(invalid.errors[0]?.code, UpstreamErrorCode.invalidRequest, 'space in the path');
  const ok = await run(pool, req('POST', '/', { body: Buffer.from('abc') }));
  t.equal(ok.body.toString(), '3', 'the pool still works');
});

t.test('headers timeout', async (t) => {
  const up = await rawUpstream(t, (s) => {
    s.on('data', () => {}); // never answers
  });
  const pool = makePool(t, up.port);
  const started = Date.now();
  const o = await run(pool, req('GET', '/', { headersTimeout: 300 }));
  const took = Date.now() - started;
  t.equal(o.errors[0]?.code, UpstreamErrorCode.headersTimeout);
  t.ok(took >= 250 && took < 3000, `after about 300 ms (${took})`);
  t.same(o.calls, ['requestStart', 'error']);
  await eventually(() => up.open.size === 0, { timeoutMs: 2000, what: 'socket closed' });
});

t.test('body timeout: the body stalls after a few bytes', async (t) => {
  const up = await rawUpstream(t, (s) => {
    s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'));
  });
  const pool = makePool(t, up.port, { bodyTimeoutMs: 300 });
  const started = Date.now();
  const o = await run(pool, req('GET', '/'));
  const took = Date.now() - started;
  t.equal(o.status, 200);
  t.equal(o.body.toString(), '0123456789', 'the bytes before the stall arrived');
  t.equal(o.errors[0]?.code, UpstreamErrorCode.bodyTimeout);
  t.same(o.calls, ['requestStart', 'responseStart', 'data', 'error']);
  t.ok(took >= 250 && took < 3000, `after about 300 ms (${took})`);
});

t.test('body chunks handed to the handler stay intact after later reads', async (t) => {
  // Plain-TCP connections read into one shared buffer: a handler may keep the chunks it is
  // given (the gateway writes them to a client that may be slow), so they must be copies.
  const SIZE = 3 * 1024 * 1024;
  const bodies = [0, 1].map((seed) => {
    const b = Buffer.allocUnsafe(SIZE);
    let x = 0x9e3779b9 ^ seed;
    for (let i = 0; i < SIZE; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      b[i] = x >>> 24;
    }
    return b;
  });
  const up = await httpUpstream(t, (request, res) => {
    const body = bodies[request.url === '/1' ? 1 : 0]!;
    res.setHeader('content-length', body.length);
    // Written in pieces so that both responses interleave on the gateway's side.
    let at = 0;
    const next = (): void => {
      while (at < body.length) {
        const piece = body.subarray(at, at + 100_000);
        at += piece.length;
        if (!res.write(piece)) {
          res.once('drain', next);
          return;
        }
      }
      res.end();
    };
    next();
  });
  const pool = makePool(t, up.port);
  const kept: Buffer[][] = [[], []];
  const download = (i: number) =>
    run(pool, req('GET', `/${i}`), {
      onResponseData(controller, chunk) {
        kept[i]!.push(chunk); // the chunk itself, not a copy
        if (kept[i]!.length % 7 === 0) {
          controller.pause();
          setTimeout(() => controller.resume(), 5);
        }
      },
    });
  const outcomes = await Promise.all([download(0), download(1)]);
  t.equal(pool.connections, 2, 'two connections read at the same time');
  for (const i of [0, 1]) {
    t.same(outcomes[i]!.errors, []);
    t.ok(kept[i]!.length > 10, `response ${i} arrived in many chunks (${kept[i]!.length})`);
    t.ok(Buffer.concat(kept[i]!).equals(bodies[i]!), `response ${i}: every kept chunk intact`);
  }
});

t.test('body timeout does not count time paused by the handler', async (t) => {
  const SIZE = 4 * 1024 * 1024;
  const up = await httpUpstream(t, (_req, res) => {
    res.setHeader('content-length', SIZE);
    res.end(Buffer.alloc(SIZE, 0x62));
  });
  const pool = makePool(t, up.port, { bodyTimeoutMs: 300 });
  let paused = false;
  const o = await run(pool, req('GET', '/'), {
    onResponseData(controller) {
      if (paused) return;
      paused = true;
      controller.pause();
      setTimeout(() => controller.resume(), 900);
    },
  });
  t.same(o.errors, [], 'no body timeout while paused');
  t.equal(o.body.length, SIZE);
  // The timeout still applies once resumed.
  const stall = await rawUpstream(t, (s) => {
    s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'));
  });
  const pool2 = makePool(t, stall.port, { bodyTimeoutMs: 300 });
  const s = await run(pool2, req('GET', '/'), {
    onResponseData(controller) {
      controller.pause();
      setTimeout(() => controller.resume(), 100);
    },
  });
  t.equal(s.errors[0]?.code, UpstreamErrorCode.bodyTimeout, 'a stall after resuming times out');
});

t.test('connect refused', async (t) => {
  const probe = createNetServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const pool = makePool(t, port, { connections: 1 });
  const [a, b] = await Promise.all([run(pool, req('GET', '/a')), run(pool, req('GET', '/b'))]);
  t.equal(a.errors[0]?.code, 'ECONNREFUSED');
  t.equal(b.errors[0]?.code, 'ECONNREFUSED', 'the queued request fails on its own attempt');
  t.same(a.calls, ['requestStart', 'error']);
  await eventually(() => pool.connections === 0, { timeoutMs: 2000, what: 'no connections' });
});

t.test('pause and resume: backpressure on a large body', async (t) => {
  const SIZE = 8 * 1024 * 1024;
  const payload = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i += 4) payload.writeUInt32BE(i, i);
  let serverBlocked = false;
  const up = await httpUpstream(t, (_req, res) => {
    res.setHeader('content-length', SIZE);
    let at = 0;
    const pump = (): void => {
      while (at < SIZE) {
        const ok = res.write(payload.subarray(at, at + 65_536));
        at += 65_536;
        if (!ok) {
          serverBlocked = true;
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  const pool = makePool(t, up.port);
  let pauses = 0;
  let stalledChecked = false;
  const checks: Promise<void>[] = [];
  const o = await run(
    pool,
    req('GET', '/big'),
    {
      onResponseData(controller, _chunk, c) {
        // Pause after every ~1 MB for 30 ms; once, check that nothing arrives while paused.
        if (c.received < (pauses + 1) * 1024 * 1024) return;
        pauses++;
        controller.pause();
        const at = c.received;
        checks.push(
          sleep(stalledChecked ? 30 : 200).then(() => {
            if (!stalledChecked) {
              stalledChecked = true;
              t.equal(c.received, at, 'nothing arrives while paused');
              t.ok(serverBlocked, 'the upstream felt the backpressure');
            }
            controller.resume();
          }),
        );
      },
    },
    20_000,
  );
  await Promise.all(checks);
  t.equal(o.ended, true);
  t.equal(o.body.length, SIZE, 'all 8 MB arrived');
  t.ok(o.body.equals(payload), 'intact');
  t.ok(pauses >= 7, `paused ${pauses} times`);
  const again = await run(pool, req('GET', '/big'), {}, 20_000);
  t.equal(again.body.length, SIZE);
  t.equal(up.accepted, 1, 'the connection is reused after a paused exchange');
});

t.test('abort', async (t) => {
  const serverClosed: boolean[] = [];
  const up = await httpUpstream(t, (req, res) => {
    if (req.url === '/small') {
      res.end('small');
      return;
    }
    if (req.url === '/empty') {
      res.statusCode = 204;
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('tick\n'), 10);
    res.on('close', () => {
      clearInterval(timer);
      serverClosed.push(true);
    });
  });
  const pool = makePool(t, up.port);

  const reason = new Error('client went away');
  const o = await run(pool, req('GET', '/stream'), {
    onResponseData(controller, _chunk, c) {
      if (c.received >= 20) {
        controller.abort(reason);
        controller.abort(new Error('again'));
      }
    },
  });
  await sleep(100);
  t.equal(o.errors.length, 1, 'one error');
  t.equal(o.errors[0], reason, 'the reason given');
  t.equal(o.ended, false);
  t.equal(o.calls.at(-1), 'error');
  t.equal(o.calls.filter((c) => c === 'error').length, 1, 'onResponseError once');
  await eventually(() => serverClosed.length === 1, { timeoutMs: 2000, what: 'socket closed' });

  // Aborting in the last data callback of a complete response (same read as its end).
  const small = await run(pool, req('GET', '/small'), {
    onResponseData(controller) {
      controller.abort(reason);
    },
  });
  await sleep(50);
  t.same(small.calls, ['requestStart', 'responseStart', 'data', 'error'], 'no end after abort');
  t.equal(small.errors[0], reason);

  // Aborting in onResponseStart of a bodiless response.
  const empty = await run(pool, req('GET', '/empty'), {
    onResponseStart(controller) {
      controller.abort(reason);
    },
  });
  await sleep(50);
  t.same(empty.calls, ['requestStart', 'responseStart', 'error']);

  // Aborting before anything is sent.
  const before = up.accepted;
  const early = await run(pool, req('GET', '/small'), {
    onRequestStart(controller) {
      controller.abort(reason);
    },
  });
  await sleep(50);
  t.same(early.calls, ['requestStart', 'error']);
  t.equal(early.errors[0], reason);

  // The pool goes on working; aborted connections were not reused.
  const after = await run(pool, req('GET', '/small'));
  t.equal(after.body.toString(), 'small');
  t.ok(up.accepted > before, 'a fresh connection after the aborts');
  await eventually(() => pool.connections === 1, { timeoutMs: 2000, what: 'aborted ones gone' });
});

t.test('graceful pool close lets the running exchange finish', async (t) => {
  const up = await httpUpstream(t, (_req, res) => {
    setTimeout(() => res.end('finished'), 200);
  });
  const pool = makePool(t, up.port, { connections: 1 });
  const running = new Collector();
  pool.dispatch(req('GET', '/'), running);
  const queued = new Collector();
  pool.dispatch(req('GET', '/q'), queued);
  await eventually(() => up.accepted === 1, { timeoutMs: 2000, what: 'connected' });
  pool.close(true);
  const q = await within(queued.done, 2000, 'queued');
  t.equal(q.errors[0]?.code, UpstreamErrorCode.poolClosed, 'waiting requests fail');
  const o = await within(running.done, 5000, 'running');
  t.equal(o.ended, true);
  t.equal(o.body.toString(), 'finished', 'the running exchange finished');
  const late = await run(pool, req('GET', '/'));
  t.equal(late.errors[0]?.code, UpstreamErrorCode.poolClosed, 'no new requests');
  await eventually(() => up.open.size === 0 && pool.connections === 0, {
    timeoutMs: 2000,
    what: 'connection closed after its exchange',
  });
});

t.test('forced pool close fails the running exchange', async (t) => {
  const up = await httpUpstream(t, (_req, res) => {
    res.writeHead(200);
    res.write('part');
    setTimeout(() => res.end('rest'), 2000);
  });
  const pool = makePool(t, up.port);
  const c = new Collector({
    onResponseData: () => pool.close(false),
  });
  pool.dispatch(req('GET', '/'), c);
  const o = await within(c.done, 5000, 'forced');
  t.equal(o.errors.length, 1);
  t.equal(o.errors[0]?.code, UpstreamErrorCode.poolClosed);
  t.equal(o.ended, false);
  await eventually(() => up.open.size === 0, { timeoutMs: 2000, what: 'socket closed' });
});

t.test('TLS upstream', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-upstream-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pair = selfSignedCert(dir, 'upstream.test', 'IP:127.0.0.1');
  const server = createHttpsServer(
    {
      key: pair.key,
      cert: pair.cert,
      keepAliveTimeout: 30_000,
    },
    (req, res) => {
      res.end(`secure ${req.url} ${(req.socket as import('node:tls').TLSSocket).alpnProtocol}`);
    },
  );
  let secured = 0;
  server.on('secureConnection', () => secured++);
  const up = await listen(t, server);

  const lax = makePool(t, up.port, { rejectUnauthorized: false }, true);
  for (let i = 0; i < 3; i++) {
    const o = await run(lax, req('GET', `/s${i}`));
    t.equal(o.status, 200);
    t.equal(o.body.toString(), `secure /s${i} http/1.1`);
  }
  t.equal(secured, 1, 'one TLS connection, kept alive');

  const strict = makePool(t, up.port, {}, true);
  const o = await run(strict, req('GET', '/'));
  t.equal(o.ended, false);
  t.match(
    o.errors[0]?.code ?? '',
    /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/,
    `certificate refused (${o.errors[0]?.code})`,
  );
  t.equal(secured, 1, 'no request made it through');
});
