/**
 * The gateway's own HTTP/1.1 upstream client (gateway/upstream/) against real local servers:
 * node:http servers for well-behaved upstreams, raw `net` servers for misbehaving ones.
 * Keep-alive reuse, the connection limit and its queue, streamed request bodies, timeouts,
 * the stale keep-alive race, malformed responses, the Keep-Alive hint, backpressure, aborts,
 * pool close, TLS.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { fieldLinesOf } from '../../gateway/upstream/field-lines.js';
import { UpstreamPool } from '../../gateway/upstream/pool.js';
import type { ResponseHead } from '../../gateway/upstream/response-head.js';
import {
  type UpstreamController,
  UpstreamErrorCode,
  type UpstreamHandler,
  type UpstreamPoolOptions,
  type UpstreamRequest,
} from '../../gateway/upstream/types.js';
import { eventually } from '../helpers/eventually.js';
import { selfSignedCert } from '../helpers/self-signed.js';

type CodedError = Error & { code?: string };

interface Outcome {
  status: number | undefined;
  headers: Record<string, string | string[]> | undefined;
  body: Buffer;
  ended: boolean;
  errors: CodedError[];
  /** Callback names in order. */
  calls: string[];
}

interface Hooks {
  onRequestStart?(controller: UpstreamController, c: Collector): void;
  onResponseStart?(controller: UpstreamController, c: Collector): void;
  onResponseData?(controller: UpstreamController, chunk: Buffer, c: Collector): void;
}

/** A handler that records its callbacks; `done` settles at the end or the error. */
class Collector implements UpstreamHandler {
  readonly out: Outcome = {
    status: undefined,
    headers: undefined,
    body: Buffer.alloc(0),
    ended: false,
    errors: [],
    calls: [],
  };
  readonly done: Promise<Outcome>;
  received = 0;
  private readonly chunks: Buffer[] = [];
  private settle!: (o: Outcome) => void;

  constructor(private readonly hooks: Hooks = {}) {
    this.done = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  onRequestStart(controller: UpstreamController): void {
    this.out.calls.push('requestStart');
    this.hooks.onRequestStart?.(controller, this);
  }

  onResponseStart(controller: UpstreamController, head: ResponseHead): void {
    this.out.calls.push('responseStart');
    this.out.status = head.status;
    this.out.headers = head.headers;
    this.hooks.onResponseStart?.(controller, this);
  }

  onResponseData(controller: UpstreamController, chunk: Buffer): void {
    if (this.out.calls.at(-1) !== 'data') this.out.calls.push('data');
    this.received += chunk.length;
    this.chunks.push(Buffer.from(chunk));
    this.hooks.onResponseData?.(controller, chunk, this);
  }

  onResponseEnd(): void {
    this.out.calls.push('end');
    this.out.ended = true;
    this.out.body = Buffer.concat(this.chunks);
    this.settle(this.out);
  }

  onResponseError(_controller: UpstreamController | undefined, err: Error): void {
    this.out.calls.push('error');
    this.out.errors.push(err);
    this.out.body = Buffer.concat(this.chunks);
    this.settle(this.out);
  }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function req(method: string, path: string, extra: Partial<UpstreamRequest> = {}): UpstreamRequest {
  return { method, path, headers: fieldLinesOf([]), body: null, headersTimeout: 5000, ...extra };
}

/** Dispatches and waits (bounded) for the outcome. */
function run(
  pool: UpstreamPool,
  request: UpstreamRequest,
  hooks?: Hooks,
  ms = 10_000,
): Promise<Outcome> {
  const c = new Collector(hooks);
  pool.dispatch(request, c);
  return within(c.done, ms, `${request.method} ${request.path}`);
}

function makePool(
  t: Test,
  port: number,
  options: UpstreamPoolOptions = {},
  tls = false,
): UpstreamPool {
  const pool = new UpstreamPool({ host: '127.0.0.1', port, tls }, options);
  t.teardown(() => pool.close(false));
  return pool;
}

interface Served<S> {
  server: S;
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Connections open now. */
  open: Set<Socket>;
}

async function listen<S extends Server | NetServer>(t: Test, server: S): Promise<Served<S>> {
  const served: Served<S> = { server, port: 0, accepted: 0, open: new Set() };
  server.on('connection', (s: Socket) => {
    served.accepted++;
    served.open.add(s);
    s.on('close', () => served.open.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  served.port = (server.address() as { port: number }).port;
  t.teardown(async () => {
    for (const s of served.open) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return served;
}

/** A node:http upstream (long keep-alive so only the client closes idle connections). */
async function httpUpstream(
  t: Test,
  handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void,
): Promise<Served<Server>> {
  const server = createHttpServer({ keepAliveTimeout: 30_000 }, handler);
  return listen(t, server);
}

/** A raw TCP upstream for misbehaviour. */
function rawUpstream(t: Test, onSocket: (s: Socket) => void): Promise<Served<NetServer>> {
  return listen(t, createNetServer(onSocket));
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function* chunksOf(parts: readonly Buffer[], gapMs = 0): AsyncGenerator<Buffer> {
  for (const p of parts) {
    if (gapMs > 0) await sleep(gapMs);
    yield p;
  }
}

// ---------------------------------------------------------------------------------------------

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

/**
 * An upstream that answers the first request on each connection (keep-alive implied, no
 * Keep-Alive hint) and closes the connection right after; it records whatever else arrives.
 */
async function closingUpstream(t: Test) {
  const late: string[] = [];
  const up = await rawUpstream(t, (s) => {
    let head = '';
    let answered = false;
    s.on('data', (d: Buffer) => {
      if (answered) {
        late.push(d.toString('latin1'));
        return;
      }
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      answered = true;
      s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    s.on('error', () => {});
  });
  return { up, late };
}

t.test('stale keep-alive race: an idempotent request is sent again', async (t) => {
  const { up, late } = await closingUpstream(t);
  const pool = makePool(t, up.port);
  const first = await run(pool, req('GET', '/one'));
  t.equal(first.body.toString(), 'ok');
  // Right away, before the client has seen the upstream's FIN: the idle connection is reused.
  const second = await run(pool, req('GET', '/two'));
  t.equal(second.status, 200, 'the GET succeeded');
  t.equal(second.body.toString(), 'ok');
  t.same(second.calls, ['requestStart', 'requestStart', 'responseStart', 'data', 'end']);
  t.equal(up.accepted, 2, 'on a fresh connection');
  await eventually(() => late.join('').includes('GET /two'), {
    timeoutMs: 2000,
    what: 'the first attempt reached the closing connection',
  });
  // A buffered PUT is idempotent and replayable too.
  await run(pool, req('GET', '/three'));
  const put = await run(pool, req('PUT', '/four', { body: Buffer.from('x') }));
  t.equal(put.status, 200, 'the PUT was sent again');
});

t.test('stale keep-alive race with a single-connection pool', async (t) => {
  const { up, late } = await closingUpstream(t);
  const pool = makePool(t, up.port, { connections: 1 });
  await run(pool, req('GET', '/one'));
  const second = await run(pool, req('GET', '/two'));
  t.equal(second.body.toString(), 'ok', 'sent again once the closed connection is gone');
  t.equal(up.accepted, 2);
  await eventually(() => late.join('').includes('GET /two'), { timeoutMs: 2000, what: 'race' });
});

t.test('an early response to a streamed body ends the exchange; no reuse', async (t) => {
  const up = await rawUpstream(t, (s) => {
    s.once('data', () =>
      s.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nnope'),
    );
    s.on('error', () => {});
  });
  const pool = makePool(t, up.port);
  let pulled = 0;
  async function* slow(): AsyncGenerator<Buffer> {
    for (let i = 0; i < 50; i++) {
      pulled++;
      await sleep(20);
      yield Buffer.alloc(1000, 0x61);
    }
  }
  const o = await run(pool, req('POST', '/', { body: slow() }));
  t.equal(o.status, 413);
  t.equal(o.body.toString(), 'nope');
  t.equal(o.ended, true);
  await sleep(100);
  t.ok(pulled < 50, `the body stopped being read (${pulled} chunks)`);
  await eventually(() => up.open.size === 0, { timeoutMs: 2000, what: 'not kept' });
  await run(pool, req('GET', '/'));
  t.equal(up.accepted, 2, 'a half-sent request leaves the connection unusable');
});

t.test('stale keep-alive race: a POST is not sent again', async (t) => {
  const { up, late } = await closingUpstream(t);
  const pool = makePool(t, up.port);
  await run(pool, req('GET', '/one'));
  const post = await run(pool, req('POST', '/two', { body: Buffer.from('data') }));
  t.equal(post.ended, false);
  t.equal(post.errors.length, 1);
  t.ok(
    [UpstreamErrorCode.closed, 'ECONNRESET', 'EPIPE'].includes(post.errors[0]?.code ?? ''),
    `closed or reset (${post.errors[0]?.code})`,
  );
  t.same(post.calls, ['requestStart', 'error']);
  await eventually(() => late.join('').includes('POST /two'), {
    timeoutMs: 2000,
    what: 'the POST reached the closing connection',
  });
  t.equal(up.accepted, 1, 'no second attempt');
});

t.test('a request on a connection that never answered is not sent again', async (t) => {
  const up = await rawUpstream(t, (s) => {
    s.once('data', () => s.destroy());
  });
  const pool = makePool(t, up.port);
  const o = await run(pool, req('GET', '/'));
  t.ok(o.errors.length === 1, `fails (${o.errors[0]?.code})`);
  t.equal(up.accepted, 1, 'a fresh connection closing is no keep-alive race');
});

t.test('malformed responses fail with invalidResponse', async (t) => {
  const responses = [
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 2OO OK\r\n\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n',
  ];
  for (const response of responses) {
    const up = await rawUpstream(t, (s) => {
      s.once('data', () => s.write(response));
      s.on('error', () => {});
    });
    const pool = makePool(t, up.port);
    const o = await run(pool, req('GET', '/'));
    t.equal(o.errors[0]?.code, UpstreamErrorCode.invalidResponse, JSON.stringify(response));
    t.equal(o.ended, false);
    await eventually(() => up.open.size === 0, { timeoutMs: 2000, what: 'closed' });
  }
  // A head over maxHeadBytes.
  const up = await rawUpstream(t, (s) => {
    s.once('data', () => s.write(`HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(3000)}\r\n\r\n`));
    s.on('error', () => {});
  });
  const pool = makePool(t, up.port, { maxHeadBytes: 1024 });
  const o = await run(pool, req('GET', '/'));
  t.equal(o.errors[0]?.code, UpstreamErrorCode.invalidResponse, 'head over the limit');
});

t.test('bytes after a complete response: delivered, connection not reused', async (t) => {
  const up = await rawUpstream(t, (s) => {
    s.on('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE'));
    s.on('error', () => {});
  });
  const pool = makePool(t, up.port);
  const a = await run(pool, req('GET', '/'));
  t.equal(a.body.toString(), 'ok');
  t.equal(a.ended, true);
  const b = await run(pool, req('GET', '/'));
  t.equal(b.body.toString(), 'ok');
  t.equal(up.accepted, 2);
});

t.test('Keep-Alive timeout hint sets the idle time', async (t) => {
  const up = await httpUpstream(t, (req, res) => {
    res.setHeader('keep-alive', `timeout=${req.url === '/one' ? 1 : 2}`);
    res.end('x');
  });
  // timeout=1: one second minus the 1 s margin leaves nothing; the connection closes at once.
  const pool1 = makePool(t, up.port);
  await run(pool1, req('GET', '/one'));
  await eventually(() => up.open.size === 0, { timeoutMs: 1000, what: 'closed by the client' });
  await run(pool1, req('GET', '/one'));
  t.equal(up.accepted, 2, 'not reused');
  await eventually(() => up.open.size === 0, { timeoutMs: 1000, what: 'closed again' });

  // timeout=2: reused at once, closed after about one idle second.
  const pool2 = makePool(t, up.port);
  await run(pool2, req('GET', '/two'));
  await run(pool2, req('GET', '/two'));
  t.equal(up.accepted, 3, 'reused while fresh');
  const idleSince = Date.now();
  await eventually(() => up.open.size === 0, { timeoutMs: 3000, what: 'idle close' });
  const idle = Date.now() - idleSince;
  t.ok(idle >= 800 && idle < 2000, `closed by the client after about 1 s (${idle} ms)`);
  await run(pool2, req('GET', '/two'));
  t.equal(up.accepted, 4, 'the closed connection is not reused');
  await eventually(() => up.open.size === 0, { timeoutMs: 3000, what: 'idle close' });

  // A longer hint than the default idle time is taken: still reused after 500 ms idle...
  const pool3 = makePool(t, up.port, { idleTimeoutMs: 200 });
  await run(pool3, req('GET', '/two'));
  await sleep(500);
  await run(pool3, req('GET', '/two'));
  t.equal(up.accepted, 5, 'timeout=2 keeps the connection past idleTimeoutMs');
  await eventually(() => up.open.size === 0, { timeoutMs: 3000, what: 'idle close' });
});

t.test('a Keep-Alive hint grants at most idleTimeoutMaxMs', async (t) => {
  const up = await httpUpstream(t, (_req, res) => {
    res.setHeader('keep-alive', 'timeout=60');
    res.end('x');
  });
  const pool = makePool(t, up.port, { idleTimeoutMaxMs: 300 });
  await run(pool, req('GET', '/'));
  const idleSince = Date.now();
  await eventually(() => up.open.size === 0, { timeoutMs: 3000, what: 'idle close' });
  const idle = Date.now() - idleSince;
  t.ok(idle >= 250 && idle < 1500, `closed after about 300 ms, not 59 s (${idle} ms)`);
});

t.test('idle timeout from the options when the upstream gives no hint', async (t) => {
  const up = await rawUpstream(t, (s) => {
    s.on('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx'));
    s.on('error', () => {});
  });
  const pool = makePool(t, up.port, { idleTimeoutMs: 200 });
  await run(pool, req('GET', '/'));
  t.equal(up.open.size, 1);
  await eventually(() => up.open.size === 0, { timeoutMs: 2000, what: 'idle close' });
  await eventually(() => pool.connections === 0, { timeoutMs: 1000, what: 'pool forgot it' });
});

t.test('a connection paused by the handler at the very end reads again when reused', async (t) => {
  const up = await httpUpstream(t, (_req, res) => res.end('done'));
  const pool = makePool(t, up.port, { connections: 1 });
  const first = await run(pool, req('GET', '/first'), {
    // Backpressure on the last chunk, and the handler never resumes: its exchange is over.
    onResponseData: (controller) => controller.pause(),
  });
  t.equal(first.body.toString(), 'done');
  t.ok(first.ended, 'the first exchange completed while paused');
  const second = await run(pool, req('GET', '/second'), undefined, 3000);
  t.same(second.errors, [], 'no timeout on the reused connection');
  t.equal(second.body.toString(), 'done');
  t.equal(up.accepted, 1, 'the same connection served both');
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
