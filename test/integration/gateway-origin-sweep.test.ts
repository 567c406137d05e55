/**
 * The gateway's upstream pools per origin (gateway/origins.ts) against a real local server: a
 * pool that still holds keep-alive connections outlives quiet spells, and an unused pool with
 * no connections is closed by the sweep.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { OriginClients } from '../../gateway/origins.js';
import { fieldLinesOf } from '../../gateway/upstream/field-lines.js';
import type { UpstreamPool } from '../../gateway/upstream/pool.js';
import type { UpstreamHandler } from '../../gateway/upstream/types.js';
import { eventually } from '../helpers/eventually.js';
import { instance } from '../helpers/synthetic-instances.js';

const SWEEP_MS = 20;

/** One GET through `pool`; resolves with the status once the response has ended. */
function get(pool: UpstreamPool): Promise<number> {
  return new Promise((resolve, reject) => {
    let status = 0;
    const handler: UpstreamHandler = {
      onRequestStart() {},
      onResponseStart(_controller, head) {
        status = head.status;
      },
      onResponseData() {},
      onResponseEnd() {
        resolve(status);
      },
      onResponseError(_controller, err) {
        reject(err);
      },
    };
    pool.dispatch(
      { method: 'GET', path: '/', headers: fieldLinesOf([]), body: null, headersTimeout: 5000 },
      handler,
    );
  });
}

async function listen(t: Test): Promise<{ server: Server; port: number; accepted: () => number }> {
  let accepted = 0;
  const server = createServer((_req, res) => res.end('ok'));
  server.keepAliveTimeout = 60_000;
  server.on('connection', () => accepted++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { server, port: (server.address() as AddressInfo).port, accepted: () => accepted };
}

t.test('a pool with idle keep-alive connections survives quiet sweeps', async (t) => {
  const up = await listen(t);
  const origins = new OriginClients({ sweepMs: SWEEP_MS });
  t.teardown(() => origins.close());
  const busy = instance('busy', { port: up.port });
  // Another origin, never used for a request: no connection, so two sweeps close it.
  const unused = instance('unused', { host: '127.0.0.2', port: up.port });

  const pool = origins.get(busy);
  t.equal(await get(pool), 200);
  t.equal(pool.connections, 1, 'the connection is kept alive');
  origins.get(unused);
  t.equal(origins.size, 2);

  // The unused, empty pool going proves at least two sweeps ran since both were last used.
  await eventually(() => origins.size < 2, { what: 'a sweep closing a pool' });
  t.equal(origins.size, 1, 'only the empty pool was closed');
  t.equal(origins.get(busy), pool, 'the pool holding a connection is the same pool');
  t.equal(pool.connections, 1, 'its connection is still open');
  t.equal(await get(pool), 200);
  t.equal(up.accepted(), 1, 'the request after the quiet spell reused the connection');
});

t.test('an unused pool is closed once its connections have closed', async (t) => {
  const up = await listen(t);
  const origins = new OriginClients({ sweepMs: SWEEP_MS });
  t.teardown(() => origins.close());
  const member = instance('member', { port: up.port });
  const pool = origins.get(member);
  t.equal(await get(pool), 200);
  t.equal(pool.connections, 1);

  up.server.closeIdleConnections();
  await eventually(() => pool.connections === 0, { what: 'the pool saw its connection close' });
  await eventually(() => origins.size === 0, { what: 'the sweep closed the empty pool' });
  const next = origins.get(member);
  t.not(next, pool, 'a later request gets a new pool');
  t.equal(await get(next), 200);
  t.equal(up.accepted(), 2, 'over a new connection');
});
