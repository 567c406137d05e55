import http from 'node:http';
import net from 'node:net';
import t, { type Test } from 'tap';
import {
  type CheckResult,
  type CheckTarget,
  HealthChecker,
  runCheck,
} from '../../nodes/health-checker.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('waitFor timed out');
    await sleep(10);
  }
}

interface TestServer {
  readonly port: number;
  requests: number;
  /** Requests currently being handled (not yet finished). */
  open: number;
  maxOpen: number;
}

/** An HTTP server on 127.0.0.1:0 (or `host`), closed at teardown. */
async function httpServer(
  t: Test,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  host = '127.0.0.1',
): Promise<TestServer> {
  const state = { port: 0, requests: 0, open: 0, maxOpen: 0 };
  const server = http.createServer((req, res) => {
    state.requests++;
    state.open++;
    state.maxOpen = Math.max(state.maxOpen, state.open);
    res.once('close', () => state.open--);
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  state.port = (server.address() as net.AddressInfo).port;
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return state;
}

function httpTarget(port: number, extra: Partial<CheckTarget['check']> = {}): CheckTarget {
  return {
    host: '127.0.0.1',
    port,
    check: { kind: 'http', intervalMs: 200, timeoutMs: 150, ...extra },
  };
}

/** A port that was just free: nothing listens there. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function collector(t: Test, options: { maxConcurrent?: number } = {}) {
  const results: Array<[string, CheckResult]> = [];
  const checker = new HealthChecker({
    ...options,
    maxFirstDelayMs: 20,
    onResult: (key, result) => results.push([key, result]),
  });
  t.teardown(() => checker.close());
  return { checker, results };
}

t.test('http 200 is passing, 500 is critical', async (t) => {
  const ok = await httpServer(t, (req, res) => {
    t.equal(req.url, '/health', 'default path');
    res.end('ok');
  });
  const bad = await httpServer(t, (_req, res) => {
    res.writeHead(500, 'Internal Server Error').end('database down\nretry later');
  });
  const custom = await httpServer(t, (req, res) => {
    res.writeHead(req.url === '/ready?x=1' ? 204 : 404).end();
  });
  const { checker, results } = collector(t);
  checker.set('ok', httpTarget(ok.port));
  checker.set('bad', httpTarget(bad.port));
  checker.set('custom', httpTarget(custom.port, { path: '/ready?x=1' }));
  await waitFor(() => results.length === 3);
  const byKey = new Map(results);
  t.match(byKey.get('ok'), { ok: true, status: 'passing', detail: 'HTTP 200 OK' });
  t.match(byKey.get('bad'), {
    ok: false,
    status: 'critical',
    detail: 'HTTP 500 Internal Server Error: database down retry later',
  });
  t.match(byKey.get('custom'), { ok: true, status: 'passing', detail: 'HTTP 204 No Content' });
  t.ok(byKey.get('ok')!.latencyMs >= 0);
});

t.test('a server that never answers is critical after the timeout', async (t) => {
  const hang = await httpServer(t, () => {});
  const start = Date.now();
  const result = await runCheck(httpTarget(hang.port, { timeoutMs: 100 }));
  const took = Date.now() - start;
  t.match(result, { ok: false, status: 'critical', detail: 'timeout after 100 ms' });
  t.ok(took >= 90 && took < 1000, `took ${took} ms`);
  await waitFor(() => hang.open === 0);
  t.pass('the probe connection was closed');
});

t.test('tcp: open port passing, closed port critical', async (t) => {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const open = (server.address() as net.AddressInfo).port;
  const closed = await closedPort();
  const tcp = (port: number): CheckTarget => ({
    host: '127.0.0.1',
    port,
    check: { kind: 'tcp', intervalMs: 200, timeoutMs: 150 },
  });
  const { checker, results } = collector(t);
  checker.set('open', tcp(open));
  checker.set('closed', tcp(closed));
  await waitFor(() => results.length === 2);
  const byKey = new Map(results);
  t.match(byKey.get('open'), { ok: true, status: 'passing', detail: 'TCP connect ok' });
  t.match(byKey.get('closed'), { ok: false, status: 'critical', detail: /ECONNREFUSED/ });

  const httpClosed = await runCheck(httpTarget(closed));
  t.match(httpClosed, { status: 'critical', detail: /^HTTP .*ECONNREFUSED/ });
});

t.test('only status changes are reported', async (t) => {
  let code = 200;
  const server = await httpServer(t, (_req, res) => {
    res.writeHead(code).end();
  });
  const { checker, results } = collector(t);
  checker.set('svc', httpTarget(server.port));
  await waitFor(() => results.length === 1);
  await waitFor(() => server.requests >= 3);
  t.equal(results.length, 1, 'repeated passing probes are not reported');
  code = 503;
  await waitFor(() => results.length === 2);
  const seen = server.requests;
  await waitFor(() => server.requests >= seen + 2);
  code = 200;
  await waitFor(() => results.length === 3);
  await waitFor(() => server.requests >= seen + 5);
  t.same(
    results.map(([key, r]) => `${key}:${r.status}`),
    ['svc:passing', 'svc:critical', 'svc:passing'],
  );

  // Setting the same target again is a no-op; a changed target reports its first result.
  checker.set('svc', httpTarget(server.port));
  await sleep(250);
  t.equal(results.length, 3);
  checker.set('svc', httpTarget(server.port, { timeoutMs: 160 }));
  await waitFor(() => results.length === 4);
  t.equal(results[3]![1].status, 'passing');
});

t.test('delete and close stop probing', async (t) => {
  const server = await httpServer(t, (_req, res) => res.end());
  const { checker, results } = collector(t);
  checker.set('a', httpTarget(server.port));
  checker.set('b', httpTarget(server.port));
  await waitFor(() => server.requests >= 4);
  checker.delete('a');
  checker.delete('missing');
  t.equal(checker.size, 1);
  await sleep(50);
  const before = server.requests;
  await sleep(650);
  const during = server.requests - before;
  t.ok(during >= 2 && during <= 4, `only b is probed (${during} requests)`);
  checker.close();
  await sleep(50);
  const afterClose = server.requests;
  const reported = results.length;
  await sleep(500);
  t.equal(server.requests, afterClose, 'no probes after close');
  t.equal(results.length, reported, 'no results after close');
  checker.set('c', httpTarget(server.port));
  t.equal(checker.size, 0, 'set after close is ignored');
});

t.test('no callback after close even with a probe in flight', async (t) => {
  const hang = await httpServer(t, () => {});
  const { checker, results } = collector(t);
  checker.set('x', httpTarget(hang.port, { timeoutMs: 300 }));
  await waitFor(() => hang.requests === 1);
  checker.close();
  await waitFor(() => hang.open === 0);
  await sleep(400);
  t.equal(results.length, 0);
  t.equal(checker.inFlight, 0, 'the aborted probe settled');
});

t.test('concurrency is bounded', async (t) => {
  const slow = await httpServer(t, (_req, res) => {
    setTimeout(() => res.end(), 80);
  });
  const { checker, results } = collector(t, { maxConcurrent: 2 });
  for (let i = 0; i < 6; i++) checker.set(`k${i}`, httpTarget(slow.port, { timeoutMs: 500 }));
  await waitFor(() => results.length === 6);
  t.ok(slow.maxOpen <= 2, `at most 2 probes at once (saw ${slow.maxOpen})`);
  t.ok(results.every(([, r]) => r.status === 'passing'));
});

t.test('a large or endless response body does not hang or buffer', async (t) => {
  let written = 0;
  const endless = await httpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 * 1024, 120);
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk)) written += chunk.length;
    };
    res.on('drain', pump);
    pump();
  });
  const start = Date.now();
  const result = await runCheck(httpTarget(endless.port, { timeoutMs: 2000 }));
  t.match(result, { ok: true, status: 'passing' });
  t.ok(Date.now() - start < 1000, 'resolved without waiting for the body');
  await waitFor(() => endless.open === 0);
  t.ok(written < 64 * 1024 * 1024, 'the server was cut off');

  const bigError = await httpServer(t, (_req, res) => {
    res.writeHead(502).end('x'.repeat(8 * 1024 * 1024));
  });
  const r2 = await runCheck(httpTarget(bigError.port, { timeoutMs: 2000 }));
  t.equal(r2.status, 'critical');
  t.ok(r2.detail.length < 400, 'detail is bounded');

  const trickle = await httpServer(t, (_req, res) => {
    res.writeHead(200);
    res.write('a');
  });
  const r3 = await runCheck(httpTarget(trickle.port, { timeoutMs: 150 }));
  t.equal(r3.status, 'passing', 'a body that never ends: the status line decides');
});

t.test('IPv6 host literals', async (t) => {
  // CI machines have an IPv6 loopback; a machine without one fails here rather than skipping.
  const server: TestServer = await httpServer(t, (_req, res) => res.end(), '::1');
  for (const host of ['::1', '[::1]']) {
    const target: CheckTarget = {
      host,
      port: server.port,
      check: { kind: 'http', intervalMs: 200, timeoutMs: 500 },
    };
    t.match(await runCheck(target), { status: 'passing' }, `http ${host}`);
    t.match(
      await runCheck({ ...target, check: { ...target.check, kind: 'tcp' } }),
      { status: 'passing' },
      `tcp ${host}`,
    );
  }
});

t.test('an onResult that throws does not stop checking', async (t) => {
  const server = await httpServer(t, (_req, res) => res.end());
  let calls = 0;
  const checker = new HealthChecker({
    maxFirstDelayMs: 0,
    onResult: () => {
      calls++;
      throw new Error('boom');
    },
  });
  t.teardown(() => checker.close());
  checker.set('a', httpTarget(server.port));
  await waitFor(() => server.requests >= 3);
  t.equal(calls, 1);
});

t.test('an aborted probe resolves critical', async (t) => {
  const hang = await httpServer(t, () => {});
  const ac = new AbortController();
  const p = runCheck(httpTarget(hang.port, { timeoutMs: 5000 }), ac.signal);
  await waitFor(() => hang.requests === 1);
  ac.abort();
  t.match(await p, { status: 'critical', detail: 'aborted' });
  ac.abort();
  t.match(await runCheck(httpTarget(hang.port), ac.signal), { detail: 'aborted' });
});
