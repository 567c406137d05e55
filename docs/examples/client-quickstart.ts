/**
 * Roster client quick start (docs/client.md): a process that serves HTTP, registers itself,
 * finds itself again through a load-balancing pool, sends one request through it, and leaves
 * gracefully.
 *
 *   NATS_URL=nats://127.0.0.1:4222 node --import=tsx docs/examples/client-quickstart.ts
 *
 * It needs a nats-server and at least one registry node on it (`roster node --nats $NATS_URL`).
 * In an application the import is `from 'roster/client'`; this file imports the source so it
 * runs from a checkout.
 */

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from '../../client/index.js';
import { type Instance, isRosterError } from '../../protocol/index.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const SERVICE = 'quickstart';

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

// 1. The service itself: a plain HTTP server on a free port, counting requests in flight.
let inFlight = 0;
let instanceId = '(not registered yet)';
const server = http.createServer((req, res) => {
  inFlight++;
  res.on('close', () => inFlight--);
  if (req.url === '/health') {
    res.writeHead(200).end('ok');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ hello: `from ${instanceId}`, path: req.url }));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;
say(`serving http://127.0.0.1:${port}`);

// 2. Connect: one NATS connection and one session (TTL 6 s) for the whole process.
const client = await connect({ servers: NATS_URL, name: 'quickstart', ttlMs: 6000 });
say(`connected to ${NATS_URL}`);
// On SIGTERM or SIGINT: drain, deregister, disconnect, exit 0.
const offSignals = client.closeOnSignals({ drainMs: 2000, inFlight: () => inFlight });

// 3. Watch the service (the current set, then every change).
const watch = await client.watch(SERVICE);
watch.on((e) => {
  if (e.type === 'added' || e.type === 'updated' || e.type === 'removed') {
    say(`watch: ${e.type} ${e.instance.id} (${e.instance.status})`);
  } else if (e.type === 'stale') {
    // Also emitted once, with reason 'closed', when the watch is closed.
    say(`watch: stale (${e.reason}), keeping the last known set`);
  } else if (e.type === 'fresh') {
    say('watch: fresh again');
  }
});

// 4. Register this process's instance; resolves once a registry node acknowledged it.
const registration = await client.register({
  service: SERVICE,
  host: '127.0.0.1',
  port,
  scheme: 'http',
  tags: ['http', 'example'],
  meta: { team: 'docs' },
  version: '1.0.0',
  // The owning registry node probes GET /health every 2 s; a failure marks it critical.
  check: { kind: 'http', path: '/health', intervalMs: 2000, timeoutMs: 500 },
});
instanceId = registration.id;
say(`registered ${SERVICE}/${registration.id} (owner node ${registration.ownerNode})`);

// 5. A pool over the service: only v1 instances tagged http, least-outstanding picks.
const pool = await client.pool(SERVICE, {
  strategy: 'least-outstanding',
  filter: { tags: { all: ['http'] }, version: '^1.0.0' },
});
// The pool follows a watch: the new instance arrives within one propagation delay.
for (const deadline = Date.now() + 5000; pool.size === 0 && Date.now() < deadline; ) {
  await new Promise((resolve) => setTimeout(resolve, 10));
}
say(`pool: ${pool.size} member(s), ${pool.healthy} healthy`);

// 6. Query discovery: ask the cluster once.
const found = await client.discover(SERVICE);
say(`discovered ${found.length} instance(s): ${found.map((i) => i.id).join(', ')}`);

// 7. One request through the pool; the outcome feeds passive health (ejection on failures).
const picked: Instance | undefined = pool.pick();
if (picked === undefined) throw new Error('the pool is empty');
const url = `${picked.scheme ?? 'http'}://${picked.host}:${picked.port}/hello`;
say(`picked ${picked.id} at ${url}`);
const done = pool.start(picked);
try {
  const response = await fetch(url);
  const body = await response.text();
  done({ ok: response.ok });
  say(`response ${response.status}: ${body}`);
} catch (err) {
  done({ ok: false });
  throw err;
}

// 8. Leave: mark the instance draining (pools stop picking it), wait for in-flight requests
//    (at most 2 s), deregister, wait for the cluster's acknowledgement, disconnect.
offSignals();
say('closing: draining, then deregistering');
try {
  await client.close({ drainMs: 2000, inFlight: () => inFlight });
} catch (err) {
  say(`close failed: ${isRosterError(err) ? err.code : String(err)}`);
  process.exitCode = 1;
}
await new Promise<void>((resolve) => server.close(() => resolve()));
say('closed: deregistered and disconnected');
