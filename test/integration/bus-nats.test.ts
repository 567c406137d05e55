import { fileURLToPath } from 'node:url';
import { connect, nkeys } from '@nats-io/transport-node';
import t, { type Test } from 'tap';
import { isRosterError } from '../../protocol/errors.js';
import type { BusStatus } from '../../transport/bus.js';
import { connectNatsBus, type NatsBus, natsBusFromConnection } from '../../transport/nats-bus.js';
import { busConformance } from '../helpers/bus-conformance.js';
import { awaitInterest, waitFor } from '../helpers/bus-test-kit.js';
import { natsClusterFor, natsServerFor } from '../helpers/nats-server.js';

const EMPTY = new Uint8Array(0);
const tlsDir = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));

/** Options that make restarts quick to recover from in tests. */
const fast = { reconnectTimeWait: 100, reconnectJitter: 0 } as const;

async function roundTrip(t: Test, bus: NatsBus, subject = 'auth.check'): Promise<void> {
  const got: string[] = [];
  bus.subscribe(subject, (m) => got.push(new TextDecoder().decode(m.data)));
  await bus.flush();
  bus.publish(subject, new TextEncoder().encode('ok'));
  await waitFor(() => got.length === 1, 'the round trip');
  t.same(got, ['ok'], 'pub/sub works on the connection');
}

t.test('conformance: NATS bus on one server', async (t) => {
  const server = await natsServerFor(t);
  await busConformance(t, async () => {
    const buses = await Promise.all(
      [0, 1, 2].map((i) => connectNatsBus({ servers: server.url, name: `conf-${i}`, ...fast })),
    );
    return {
      buses,
      restart: () => server.restart(),
      cleanup: async () => {
        await Promise.all(buses.map((bus) => bus.close()));
      },
    };
  });
});

t.test('conformance: NATS bus on a 3-server cluster', async (t) => {
  const cluster = await natsClusterFor(t, 3);
  await busConformance(t, async () => {
    // bus i is attached to server i: every test crosses routes
    const buses = await Promise.all(
      [0, 1, 2].map((i) =>
        connectNatsBus({ servers: cluster.urls[i]!, name: `cluster-${i}`, ...fast }),
      ),
    );
    if (new Set(buses.map((bus) => bus.server)).size !== buses.length) {
      throw new Error(`buses share a server: ${buses.map((bus) => bus.server).join(', ')}`);
    }
    return {
      buses,
      restart: () => cluster.servers[0]!.restart(),
      cleanup: async () => {
        await Promise.all(buses.map((bus) => bus.close()));
      },
    };
  });
});

t.test('user/password auth is passed through', async (t) => {
  const server = await natsServerFor(t, { args: ['--user', 'roster', '--pass', 's3cret'] });
  const bus = await connectNatsBus({ servers: server.url, user: 'roster', pass: 's3cret' });
  t.teardown(() => bus.close());
  await roundTrip(t, bus);

  const wrong = await connectNatsBus({ servers: server.url, user: 'roster', pass: 'nope' }).catch(
    (err: unknown) => err,
  );
  t.ok(isRosterError(wrong, 'ROSTER_ERR_UNAUTHORIZED'), 'wrong password: ROSTER_ERR_UNAUTHORIZED', {
    found: wrong,
  });
  const none = await connectNatsBus({ servers: server.url }).catch((err: unknown) => err);
  t.ok(isRosterError(none, 'ROSTER_ERR_UNAUTHORIZED'), 'no credentials: ROSTER_ERR_UNAUTHORIZED');
});

t.test('token auth is passed through', async (t) => {
  const server = await natsServerFor(t, { args: ['--auth', 'tok3n-abc'] });
  const bus = await connectNatsBus({ servers: server.url, token: 'tok3n-abc' });
  t.teardown(() => bus.close());
  await roundTrip(t, bus);
  const wrong = await connectNatsBus({ servers: server.url, token: 'other' }).catch(
    (err: unknown) => err,
  );
  t.ok(isRosterError(wrong, 'ROSTER_ERR_UNAUTHORIZED'), 'wrong token: ROSTER_ERR_UNAUTHORIZED');
});

t.test('nkey auth is passed through', async (t) => {
  const user = nkeys.createUser();
  const publicKey = user.getPublicKey();
  const seed = new TextDecoder().decode(user.getSeed());
  const server = await natsServerFor(t, {
    config: `authorization { users: [ { nkey: "${publicKey}" } ] }\n`,
  });
  const bus = await connectNatsBus({ servers: server.url, nkeySeed: seed });
  t.teardown(() => bus.close());
  await roundTrip(t, bus);
  const other = new TextDecoder().decode(nkeys.createUser().getSeed());
  const wrong = await connectNatsBus({ servers: server.url, nkeySeed: other }).catch(
    (err: unknown) => err,
  );
  t.ok(isRosterError(wrong, 'ROSTER_ERR_UNAUTHORIZED'), 'unknown nkey: ROSTER_ERR_UNAUTHORIZED');
});

t.test('TLS options (mutual TLS) are passed through', async (t) => {
  const server = await natsServerFor(t, {
    config: [
      'tls {',
      `  cert_file: "${tlsDir}server.pem"`,
      `  key_file: "${tlsDir}server-key.pem"`,
      `  ca_file: "${tlsDir}ca.pem"`,
      '  verify: true',
      '}',
      '',
    ].join('\n'),
  });
  const bus = await connectNatsBus({
    servers: server.url,
    tls: {
      caFile: `${tlsDir}ca.pem`,
      certFile: `${tlsDir}client.pem`,
      keyFile: `${tlsDir}client-key.pem`,
    },
  });
  t.teardown(() => bus.close());
  await roundTrip(t, bus);

  const noClientCert = await connectNatsBus({
    servers: server.url,
    tls: { caFile: `${tlsDir}ca.pem` },
    maxReconnectAttempts: 0,
    connectTimeoutMs: 1500,
  }).catch((err: unknown) => err);
  t.comment(`without a client certificate: ${String(noClientCert)}`);
  t.ok(isRosterError(noClientCert, 'ROSTER_ERR_NOT_CONNECTED'), 'without a client certificate', {
    found: noClientCert,
  });
  const untrusted = await connectNatsBus({
    servers: server.url,
    tls: true,
    maxReconnectAttempts: 0,
    connectTimeoutMs: 1500,
  }).catch((err: unknown) => err);
  t.comment(`without the CA: ${String(untrusted)}`);
  t.ok(isRosterError(untrusted, 'ROSTER_ERR_NOT_CONNECTED'), 'without the CA', {
    found: untrusted,
  });
});

t.test('messages above max_payload fail with ROSTER_ERR_MESSAGE_TOO_LARGE', async (t) => {
  const server = await natsServerFor(t, { config: 'max_payload: 4096\n' });
  const bus = await connectNatsBus({ servers: server.url });
  t.teardown(() => bus.close());
  t.equal(bus.maxPayload, 4096, "maxPayload is the server's max_payload");
  const got: number[] = [];
  bus.subscribe('big', (m) => got.push(m.data.length));
  await bus.flush();
  bus.publish('big', new Uint8Array(4096));
  t.throws(() => bus.publish('big', new Uint8Array(4097)), {
    code: 'ROSTER_ERR_MESSAGE_TOO_LARGE',
  });
  await t.rejects(bus.request('big', new Uint8Array(5000), { timeoutMs: 500 }), {
    code: 'ROSTER_ERR_MESSAGE_TOO_LARGE',
  });
  await t.rejects(bus.scatter('big', new Uint8Array(5000), { deadlineMs: 500 }), {
    code: 'ROSTER_ERR_MESSAGE_TOO_LARGE',
  });
  bus.publish('big', new Uint8Array(10));
  await waitFor(() => got.length === 2, 'the two messages within the limit');
  t.same(got, [4096, 10], 'the connection survived; only the oversized messages were refused');
  t.ok(bus.isOpen, 'still open');
});

t.test('no reachable server fails with ROSTER_ERR_NOT_CONNECTED', async (t) => {
  const server = await natsServerFor(t);
  const url = server.url;
  await server.stop();
  const err = await connectNatsBus({ servers: url, connectTimeoutMs: 2000 }).catch(
    (e: unknown) => e,
  );
  t.ok(isRosterError(err, 'ROSTER_ERR_NOT_CONNECTED'), 'ROSTER_ERR_NOT_CONNECTED', { found: err });
});

t.test('lame duck mode is reported', async (t) => {
  const server = await natsServerFor(t, { jetstream: false });
  const bus = await connectNatsBus({ servers: server.url });
  t.teardown(() => bus.close());
  const statuses: BusStatus[] = [];
  bus.onStatus((s) => statuses.push(s));
  server.lameDuck();
  await waitFor(() => statuses.some((s) => s.type === 'lameDuck'), "a 'lameDuck' status", 10_000);
  t.pass("'lameDuck' status received");
});

t.test('a connection that gives up reports closed', async (t) => {
  const server = await natsServerFor(t);
  const bus = await connectNatsBus({ servers: server.url, maxReconnectAttempts: 0 });
  const statuses: BusStatus[] = [];
  bus.onStatus((s) => statuses.push(s));
  await server.stop();
  await waitFor(() => statuses.some((s) => s.type === 'closed'), "a 'closed' status");
  const types = statuses.map((s) => s.type);
  t.equal(types[0], 'disconnect', 'disconnect first');
  t.equal(types.at(-1), 'closed', 'closed last');
  t.equal(types.filter((type) => type === 'closed').length, 1, 'closed once');
  t.equal(bus.isOpen, false, 'no longer open');
  t.throws(() => bus.publish('x', EMPTY), { code: 'ROSTER_ERR_BUS_CLOSED' });
  await bus.close();
});

t.test('wrapping an existing connection', async (t) => {
  const server = await natsServerFor(t);
  const nc = await connect({ servers: server.url });
  const bus = natsBusFromConnection(nc);
  const other = await connectNatsBus({ servers: server.url });
  t.teardown(() => other.close());
  t.equal(bus.raw, nc, 'raw is the connection');
  t.equal(bus.kind, 'nats');
  t.same(bus.capabilities, {
    brokered: true,
    nativeQueueGroups: true,
    nativeRequest: true,
    crossProcess: true,
  });
  other.subscribe('wrapped', (m) => m.respond(new TextEncoder().encode('yes')));
  await awaitInterest(other, bus);
  const reply = await bus.request('wrapped', EMPTY, { timeoutMs: 1000 });
  t.equal(new TextDecoder().decode(reply.data), 'yes');
  await bus.close();
  t.ok(nc.isClosed(), 'close() closed the wrapped connection');
});
