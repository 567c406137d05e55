/**
 * The sample nats-server configuration in docs/examples/nats-server.conf, for real: nats-server
 * runs with that very file (the harness's -a/-p/-m flags override its `listen` and `http`), a
 * registry node connects as `node`, and the service users are held to their own service:
 * `payments` registers `payments` but not `orders`, cannot publish deltas or heartbeats, and
 * cannot read other users' replies; `ops` reads the cluster but registers nothing.
 */

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { connect } from '../../client/index.js';
import { encodeTrusted, isRosterError, Subjects } from '../../protocol/index.js';
import { type BusStatus, connectNatsBus, type NatsBus } from '../../transport/index.js';
import { eventually } from '../helpers/eventually.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { nodeProcessFor, REPO_ROOT, runCli } from '../helpers/node-process.js';

const configText = readFileSync(`${REPO_ROOT}docs/examples/nats-server.conf`, 'utf8');

function passwordOf(user: string): string {
  const m = new RegExp(`\\{\\s*user:\\s*${user},\\s*password:\\s*"([^"]+)"`).exec(configText);
  if (!m) throw new Error(`docs/examples/nats-server.conf has no user ${user}`);
  return m[1]!;
}

const server = await natsServerFor(t, { config: configText, jetstream: false });
const url = server.url;
const subjects = new Subjects();
await nodeProcessFor(t, {
  natsUrl: url,
  id: 'perm-node',
  args: ['--user', 'node', '--pass', passwordOf('node')],
});

const CLEAN_ENV: NodeJS.ProcessEnv = Object.fromEntries(
  Object.keys(process.env)
    .filter((k) => k.startsWith('ROSTER_') || k === 'NATS_URL')
    .map((k) => [k, '']),
);

/** A bus as `user`, with its inbox prefix, recording the errors NATS reports. */
async function busAs(
  t: { teardown(fn: () => unknown): void },
  user: string,
  /** null: the client's default `_INBOX`. */
  inboxPrefix: string | null = `_INBOX.${user}`,
): Promise<{ bus: NatsBus; errors: Error[] }> {
  const bus = await connectNatsBus({
    servers: url,
    user,
    pass: passwordOf(user),
    ...(inboxPrefix !== null ? { inboxPrefix } : {}),
  });
  t.teardown(() => bus.close());
  const errors: Error[] = [];
  bus.onStatus((s: BusStatus) => {
    if (s.type === 'error') errors.push(s.error);
  });
  return { bus, errors };
}

function refused(errors: readonly Error[], subject: string): boolean {
  return errors.some(
    (e) => isRosterError(e, 'ROSTER_ERR_FORBIDDEN') && e.message.includes(`"${subject}"`),
  );
}

t.test('nats-server accepts the sample configuration', async (t) => {
  t.match(server.logs(), /Using configuration file: .*nats-server\.conf/);
  t.notMatch(server.logs(), /\[ERR\]/, 'no errors in its log');
});

t.test('payments may register payments, and not orders', async (t) => {
  const { bus, errors } = await busAs(t, 'payments');
  const client = await connect({ bus, ttlMs: 3_000, requestTimeoutMs: 1_500 });
  t.teardown(() => client.close());

  const reg = await client.register({
    service: 'payments',
    id: 'pay-1',
    host: '127.0.0.1',
    port: 9000,
  });
  t.equal(reg.ownerNode, 'perm-node', 'registered at the node');
  t.same(
    (await client.discover('payments')).map((i) => i.id),
    ['pay-1'],
    'and the node holds it',
  );
  await reg.update({ weight: 3 }); // a session request at the owner node: allowed
  t.equal((await client.discover('payments'))[0]?.weight, 3, 'session updates are allowed');

  const attempt = await client
    .register({ service: 'orders', id: 'ord-1', host: '127.0.0.1', port: 9001 })
    .then(
      () => 'registered',
      (err: unknown) => err,
    );
  t.ok(
    isRosterError(attempt, 'ROSTER_ERR_FORBIDDEN'),
    `registering orders fails: ${String(attempt)}`,
  );
  // at the queue group, or (this session has an owner now) at the owner: both refused
  await eventually(
    () =>
      errors.some((e) =>
        /Permissions Violation for Publish to "roster\.v1\.reg\.orders(\.perm-node)?"/.test(
          e.message,
        ),
      ),
    { what: 'NATS reports a permissions violation' },
  );
  t.same(await client.discover('orders'), [], 'no orders instance exists');

  await reg.deregister();
  t.same(await client.discover('payments'), [], 'deregistered');
});

t.test('roster register as payments: orders is refused with the reason', async (t) => {
  const result = await runCli(
    [
      'register',
      '--nats',
      url,
      '--user',
      'payments',
      '--pass',
      passwordOf('payments'),
      '--inbox-prefix',
      '_INBOX.payments',
      '--service',
      'orders',
      '--host',
      '127.0.0.1',
      '--port',
      '9001',
      '--timeout-ms',
      '1000',
      '--log-level',
      'silent',
    ],
    { env: CLEAN_ENV },
  );
  t.equal(result.code, 1, 'exit 1');
  t.match(
    result.stderr,
    /^error: registration of orders refused by NATS: Permissions Violation for Publish to "roster\.v1\.reg\.orders"/m,
  );
});

t.test('payments cannot publish deltas or heartbeats, nor read others’ replies', async (t) => {
  const observer = await busAs(t, 'node', null);
  const seen: string[] = [];
  observer.bus.subscribe(subjects.deltaAll, (m) => seen.push(m.subject));
  observer.bus.subscribe(subjects.heartbeat, (m) => {
    // real heartbeats come from perm-node; count only forged ones
    if (m.data.length === 1) seen.push(m.subject);
  });
  await observer.bus.flush();

  const { bus, errors } = await busAs(t, 'payments');
  bus.publish(subjects.delta('payments'), encodeTrusted('ok', {}));
  bus.publish(subjects.delta('orders'), encodeTrusted('ok', {}));
  bus.publish(subjects.heartbeat, new Uint8Array([0]));
  bus.publish(subjects.sessionDelta, new Uint8Array([0]));
  bus.subscribe('_INBOX.>', () => undefined);
  await bus.flush();
  await eventually(() => errors.length >= 5, { what: 'five refusals' });
  await observer.bus.flush();
  await sleep(200);
  t.same(seen, [], 'nothing reached the subscribers');
  for (const subject of [
    subjects.delta('payments'),
    subjects.delta('orders'),
    subjects.heartbeat,
    subjects.sessionDelta,
  ]) {
    t.ok(refused(errors, subject), `publishing ${subject} is refused`);
  }
  t.ok(
    errors.some((e) => /Permissions Violation for Subscription to "_INBOX\.>"/.test(e.message)),
    'subscribing to every inbox is refused',
  );
});

t.test('a client without its inbox prefix cannot get replies', async (t) => {
  const { bus } = await busAs(t, 'payments', null);
  const client = await connect({ bus, ttlMs: 3_000, requestTimeoutMs: 1_000 });
  t.teardown(() => client.close());
  await t.rejects(
    client.discover('payments'),
    { message: /Permissions Violation for Subscription to "_INBOX\./ },
    'the default _INBOX is not this user’s',
  );
});

t.test('ops reads the cluster and registers nothing', async (t) => {
  const auth = ['--nats', url, '--user', 'ops', '--pass', passwordOf('ops')];
  const [health, nodes, services, register] = await Promise.all([
    runCli(['health', ...auth, '--inbox-prefix', '_INBOX.ops'], { env: CLEAN_ENV }),
    runCli(['nodes', ...auth, '--inbox-prefix', '_INBOX.ops', '--json'], { env: CLEAN_ENV }),
    runCli(['services', ...auth], {
      env: { ...CLEAN_ENV, ROSTER_NATS_INBOX_PREFIX: '_INBOX.ops' },
    }),
    runCli(
      [
        'register',
        ...auth,
        '--inbox-prefix',
        '_INBOX.ops',
        '--service',
        'payments',
        '--host',
        'h',
        '--port',
        '1',
        '--timeout-ms',
        '1000',
        '--log-level',
        'silent',
      ],
      { env: CLEAN_ENV },
    ),
  ]);
  t.equal(health.code, 0, `roster health as ops (${health.stderr})`);
  t.match(health.stdout, /healthy: 1 node\(s\) ready/);
  t.equal(nodes.code, 0, `roster nodes as ops (${nodes.stderr})`);
  t.match(JSON.parse(nodes.stdout), [{ node: 'perm-node', ready: true }]);
  t.equal(services.code, 0, `roster services as ops (${services.stderr})`);
  t.equal(register.code, 1, 'roster register as ops fails');
  t.match(
    register.stderr,
    /refused by NATS: Permissions Violation for Publish to "roster\.v1\.reg\.payments"/,
  );
});
