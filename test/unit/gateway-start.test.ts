/**
 * startGateway on the in-process bus with a real registry node: two gateways see each other
 * (liveGateways 2, back to 1 when one stops); reload() from an object applies routes, lists
 * keys that need a restart, refuses a bad config without changing anything; a TLS listener
 * serves its certificate and a reload with new certificate files swaps it for new
 * connections; registry routes reach the table.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { connect } from '../../client/client.js';
import { startGateway } from '../../gateway/index.js';
import { RegistryNode } from '../../nodes/registry-node.js';
import { createMemoryBuses } from '../../transport/memory-bus.js';
import { eventually } from '../helpers/eventually.js';

const TOKEN = 'unit-admin-token-0123456789';
const FIXTURES = new URL('../fixtures/tls/', import.meta.url).pathname;

function base(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listeners: [{ port: 0, host: '127.0.0.1' }],
    admin: { port: 0, token: TOKEN },
    routes: [{ name: 'api', match: { path: { prefix: '/api' } }, service: 'api' }],
    ...extra,
  };
}

function peerCn(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.end();
      resolve(String(cn));
    });
    socket.on('error', reject);
  });
}

t.test('two gateways, reloads and TLS', async (t) => {
  const { buses } = createMemoryBuses(4);
  const node = new RegistryNode(buses[0]!, { id: 'n1' });
  await node.start();
  t.teardown(() => node.close());

  const upstream = createServer((req, res) => res.end(`api ${req.url}`));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.teardown(() => upstream.close());
  const svc = await connect({ bus: buses[1]! });
  t.teardown(() => svc.close());
  await svc.register({
    service: 'api',
    id: 'api-1',
    host: '127.0.0.1',
    port: (upstream.address() as AddressInfo).port,
    meta: { 'roster.route.path-prefix': '/from-registry' },
  });

  const dir = mkdtempSync(join(tmpdir(), 'roster-gw-start-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(join(FIXTURES, 'server.pem'), join(dir, 'cert.pem'));
  copyFileSync(join(FIXTURES, 'server-key.pem'), join(dir, 'key.pem'));
  const tlsListeners = [
    { port: 0, host: '127.0.0.1' },
    { port: 0, host: '127.0.0.1', tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } },
  ];

  const a = await startGateway(base({ gateway: { id: 'gw-a' }, listeners: tlsListeners }), {
    bus: buses[2]!,
  });
  t.teardown(() => a.close(0));
  const b = await startGateway(base({ gateway: { id: 'gw-b' } }), { bus: buses[3]! });
  t.teardown(() => b.close(0));

  await eventually(() => a.presence.liveGateways() === 2 && b.presence.liveGateways() === 2, {
    what: 'both gateways counted',
  });
  t.same(
    a.report().routes.map((r) => r.name),
    ['api', 'api:route'],
    'file and registry routes',
  );
  const port = a.gateway.addresses()[0]!.port;
  await eventually(
    async () => (await fetch(`http://127.0.0.1:${port}/from-registry/x`)).status === 200,
    {
      what: 'the registry route serves',
    },
  );

  // Reload from an object: routes change, restart-only keys are listed and kept.
  let outcome = await a.reload(
    base({
      gateway: { id: 'gw-a', shutdownGraceMs: 1234 },
      listeners: [{ port: 1, host: '127.0.0.1' }, tlsListeners[1]],
      trustedHops: 2,
      routes: [{ name: 'api2', match: { path: { prefix: '/api2' } }, service: 'api' }],
    }),
  );
  t.match(outcome, { ok: true, trigger: 'manual', restartRequired: ['listeners', 'trustedHops'] });
  t.same(
    a.report().routes.map((r) => r.name),
    ['api2', 'api:route'],
  );
  t.equal(a.config.gateway.shutdownGraceMs, 1234, 'a reloadable key changed');
  t.equal(a.config.trustedHops, 0, 'a restart-only key kept');
  t.equal(a.config.listeners[0]?.port, 0);

  // A bad config changes nothing.
  outcome = await a.reload(
    base({ routes: [{ name: 'x', match: { path: { prefix: 'x' } }, service: 'api' }] }),
  );
  t.match(outcome, {
    ok: false,
    code: 'ROSTER_ERR_CONFIG',
    error: /routes\[0\]\.match\.path\.prefix: must start with \//,
  });
  t.same(
    a.report().routes.map((r) => r.name),
    ['api2', 'api:route'],
  );
  t.equal(a.lastReload(), outcome);

  // TLS: the listener serves server.pem; new certificate files apply to new connections.
  const tlsPort = a.gateway.addresses()[1]!.port;
  t.equal(await peerCn(tlsPort), 'localhost');
  copyFileSync(join(FIXTURES, 'client.pem'), join(dir, 'cert.pem'));
  copyFileSync(join(FIXTURES, 'client-key.pem'), join(dir, 'key.pem'));
  outcome = await a.reload(base({ gateway: { id: 'gw-a' }, listeners: tlsListeners }));
  t.equal(outcome.ok, true);
  t.equal(await peerCn(tlsPort), 'roster-test-client', 'the new certificate is served');
  // A key that does not fit the certificate is refused; the served one stays.
  copyFileSync(join(FIXTURES, 'server-key.pem'), join(dir, 'key.pem'));
  outcome = await a.reload(base({ gateway: { id: 'gw-a' }, listeners: tlsListeners }));
  t.match(outcome, {
    ok: false,
    error: /listeners\[1\]\.tls: the certificate and key cannot be used/,
  });
  t.equal(await peerCn(tlsPort), 'roster-test-client');

  // Admin readiness and the second gateway's view when the first stops.
  const ready = await fetch(`${a.admin!.url}/ready`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  t.equal(ready.status, 200);
  await a.close(0);
  await eventually(() => b.presence.liveGateways() === 1, { what: 'b sees a leave' });
  t.equal((await svc.discover('roster-gateway')).map((i) => i.id).join(), 'gw-b');
});

t.test('a file conflict stops the start and leaves nothing behind', async (t) => {
  const { buses } = createMemoryBuses(2);
  const node = new RegistryNode(buses[0]!, { id: 'n1' });
  await node.start();
  t.teardown(() => node.close());
  await t.rejects(
    startGateway(
      base({
        routes: [
          { name: 'a', match: { path: { prefix: '/x' } }, service: 'a' },
          { name: 'b', match: { path: { prefix: '/x' } }, service: 'b' },
        ],
      }),
      { bus: buses[1]! },
    ),
    { code: 'ROSTER_ERR_CONFLICT', message: /routes\[1\] \(b\) conflicts with routes\[0\] \(a\)/ },
  );
});
