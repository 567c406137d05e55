/**
 * Gateway lifecycle and resilience: readiness only after the initial sync, graceful close with
 * requests in flight, route-table swaps under load, TLS certificate reload, upstream keep-alive,
 * streaming of large bodies, client aborts, and passive ejection fed by proxied outcomes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { connect } from '../../client/index.js';
import { Gateway } from '../../gateway/gateway.js';
import { RegistryNode } from '../../nodes/index.js';
import { connectNatsBus } from '../../transport/index.js';
import { eventually } from '../helpers/eventually.js';
import {
  httpRequest,
  route,
  simpleTable,
  startGateway,
  startRegistry,
  startUpstream,
} from '../helpers/gateway-harness.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { selfSignedCert } from '../helpers/self-signed.js';

t.test('ready only after the initial sync of every routed service', async (t) => {
  const server = await natsServerFor(t);
  const client = await connect({ servers: server.url, name: 'gw-ready' });
  const gateway = new Gateway({
    client,
    table: simpleTable([route('api', 'api', { timeoutMs: 300 })]),
    listeners: [{ port: 0, host: '127.0.0.1' }],
  });
  t.teardown(async () => {
    await gateway.close(500);
    await client.close();
  });
  await gateway.start();
  const port = gateway.addresses()[0]!.port;
  t.equal(gateway.ready, false, 'no registry node yet: not ready');
  const early = await httpRequest(port, { path: '/x' });
  t.equal(early.status, 503, 'requests before the sync get 503');
  t.equal(JSON.parse(early.body).code, 'ROSTER_ERR_NOT_READY');

  const bus = await connectNatsBus({ servers: server.url, name: 'gw-ready-node' });
  const node = new RegistryNode(bus, { id: 'late' });
  await node.start();
  t.teardown(async () => {
    await node.close();
    await bus.close();
  });
  const up = await startUpstream(t);
  const services = await connect({ servers: server.url });
  t.teardown(() => services.close());
  await services.register({ service: 'api', host: '127.0.0.1', port: up.port });
  await eventually(() => gateway.ready, {
    what: 'ready after the node came up',
    timeoutMs: 15_000,
  });
  await gateway.whenReady();
  await eventually(async () => (await httpRequest(port, { path: '/x' })).status === 200, {
    what: 'proxying once synced',
  });
});

t.test('gateway behaviour with a registry', async (t) => {
  const reg = await startRegistry(t);
  const slow = await startUpstream(t, 'slow');
  slow.handler = (_req, res) => {
    setTimeout(() => res.writeHead(200).end('done'), 400).unref();
  };
  const a = await startUpstream(t, 'a');
  const b = await startUpstream(t, 'b');
  const bad = await startUpstream(t, 'bad');
  bad.handler = (_req, res) => res.writeHead(500).end('broken');
  const big = await startUpstream(t, 'big');
  big.handler = (req, res, body) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    // Echo the upload twice, in many writes.
    const chunk = Buffer.from(body);
    let i = 0;
    const step = () => {
      if (i++ >= 2) return res.end();
      if (res.write(chunk)) setImmediate(step);
      else res.once('drain', step);
    };
    step();
    void req;
  };
  let aborted = 0;
  const stream = await startUpstream(t, 'stream');
  stream.handler = (_req, res) => {
    res.writeHead(200);
    const timer = setInterval(() => res.write('tick\n'), 20);
    res.on('close', () => {
      clearInterval(timer);
      aborted++;
    });
  };
  await reg.services.register({ service: 'slow', host: '127.0.0.1', port: slow.port });
  await reg.services.register({ service: 'a', host: '127.0.0.1', port: a.port });
  await reg.services.register({ service: 'b', host: '127.0.0.1', port: b.port });
  await reg.services.register({
    service: 'mixed',
    host: '127.0.0.1',
    port: a.port,
    id: 'mixed-ok',
  });
  await reg.services.register({
    service: 'mixed',
    host: '127.0.0.1',
    port: bad.port,
    id: 'mixed-bad',
  });
  await reg.services.register({ service: 'big', host: '127.0.0.1', port: big.port });
  await reg.services.register({ service: 'stream', host: '127.0.0.1', port: stream.port });

  const tableA = simpleTable([
    route('v', 'a', { match: { path: { prefix: '/v' } } }),
    route('slow', 'slow', { match: { path: { prefix: '/slow' } } }),
    route('mixed', 'mixed', { match: { path: { prefix: '/mixed' } } }),
    route('big', 'big', { match: { path: { prefix: '/big' } } }),
    route('stream', 'stream', { match: { path: { prefix: '/stream' } } }),
  ]);
  const tableB = simpleTable([
    route('v', 'b', { match: { path: { prefix: '/v' } } }),
    route('slow', 'slow', { match: { path: { prefix: '/slow' } } }),
  ]);
  const { gateway, port } = await startGateway(t, reg.url, tableA);

  await t.test('upstream connections are kept alive', async (t) => {
    let connections = 0;
    a.server.on('connection', () => connections++);
    for (let i = 0; i < 50; i++) t.equal((await httpRequest(port, { path: '/v/k' })).status, 200);
    t.ok(connections <= 2, `50 sequential requests used ${connections} upstream connection(s)`);
  });

  await t.test('large bodies stream both ways', async (t) => {
    const body = Buffer.alloc(3 * 1024 * 1024, 'z');
    const r = await httpRequest(port, { method: 'PUT', path: '/big/up', body });
    t.equal(r.status, 200);
    t.equal(r.body.length, body.length * 2, '6 MiB echoed back');
    t.equal(big.seen.at(-1)?.body.length, body.length, '3 MiB arrived upstream');
  });

  await t.test('a client abort aborts the upstream request', async (_t) => {
    await new Promise<void>((resolve, reject) => {
      const req = httpClientRequest(
        { host: '127.0.0.1', port, path: '/stream', agent: false },
        (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on('error', () => undefined);
      req.once('error', reject);
      req.end();
    });
    await eventually(() => aborted === 1, { what: 'the upstream response closed' });
    await eventually(() => gateway.inFlight === 0, { what: 'no request in flight' });
  });

  await t.test('passive ejection from proxied 5xx outcomes', async (t) => {
    for (let i = 0; i < 30; i++) await httpRequest(port, { path: '/mixed' });
    const mixed = gateway.pools().find((p) => p.service === 'mixed')!;
    const badMember = mixed.members.find((m) => m.id === 'mixed-bad')!;
    t.ok(badMember.ejections >= 1, 'the failing instance was ejected');
    let ok = 0;
    for (let i = 0; i < 10; i++)
      if ((await httpRequest(port, { path: '/mixed' })).status === 200) ok++;
    t.ok(ok >= 9, `while ejected, requests go to the healthy one (${ok}/10)`);
  });

  await t.test('setTable under load: no failed request', async (t) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    t.teardown(() => agent.destroy());
    let stop = false;
    let failures = 0;
    let done = 0;
    const names = new Set<string>();
    const workers = Array.from({ length: 16 }, async () => {
      while (!stop) {
        try {
          const r = await httpRequest(port, { path: '/v/x', agent });
          if (r.status !== 200) failures++;
          else names.add(JSON.parse(r.body).name);
          done++;
        } catch {
          failures++;
        }
      }
    });
    for (let i = 0; i < 30; i++) {
      gateway.setTable(i % 2 === 0 ? tableB : tableA);
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    stop = true;
    await Promise.all(workers);
    gateway.setTable(tableA);
    t.equal(failures, 0, `0 failures in ${done} requests across 30 swaps`);
    t.same([...names].sort(), ['a', 'b'], 'both tables served');
  });

  await t.test('graceful close: in-flight requests complete, new ones are refused', async (t) => {
    const inFlight = Array.from({ length: 5 }, (_, i) => httpRequest(port, { path: `/slow/${i}` }));
    await eventually(() => gateway.inFlight === 5, { what: '5 requests in flight' });
    const closing = gateway.close(5000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    t.equal(gateway.ready, false, 'not ready while closing');
    await t.rejects(
      httpRequest(port, { path: '/v/x' }),
      { code: 'ECONNREFUSED' },
      'no new connections',
    );
    const results = await Promise.all(inFlight);
    t.same(
      results.map((r) => r.status),
      [200, 200, 200, 200, 200],
      'all in-flight requests completed',
    );
    await closing;
    t.equal(gateway.inFlight, 0);
  });
});

t.test('TLS listener with a certificate reload', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-gw-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const make = (cn: string) => selfSignedCert(dir, cn);
  const one = make('one.test');
  const two = make('two.test');
  const reg = await startRegistry(t);
  const up = await startUpstream(t);
  await reg.services.register({ service: 'api', host: '127.0.0.1', port: up.port });
  const { gateway } = await startGateway(t, reg.url, simpleTable([route('api', 'api')]), {
    listeners: [{ port: 0, host: '127.0.0.1', tls: one }],
  });
  const port = gateway.addresses()[0]!.port;
  const get = (ca: string, servername: string) =>
    new Promise<{ status: number; cn: string; proto: string }>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port, path: '/tls', ca, servername, agent: false },
        (res) => {
          const cert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
          res.resume();
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              cn: String(cert.subject?.CN),
              proto: String(up.seen.at(-1)?.headers['x-forwarded-proto']),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
  const first = await get(one.cert, 'one.test');
  t.same(
    first,
    { status: 200, cn: 'one.test', proto: 'https' },
    'served with the first certificate',
  );
  gateway.updateTls(0, two);
  const second = await get(two.cert, 'two.test');
  t.same(
    second,
    { status: 200, cn: 'two.test', proto: 'https' },
    'new connections get the new certificate',
  );
  t.throws(() => gateway.updateTls(5, two), 'an unknown listener is an error');
});
