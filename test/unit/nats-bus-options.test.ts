import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Authenticator, errors, type NKeyAuth, nkeys } from '@nats-io/transport-node';
import t from 'tap';
import { RosterError } from '../../protocol/errors.js';
import { toRosterError } from '../../transport/nats-bus.js';
import { buildConnectionOptions, readNkeySeedFile } from '../../transport/nats-options.js';

t.test('defaults: one local server, reconnect forever', async (t) => {
  const o = buildConnectionOptions();
  t.equal(o.servers, 'nats://127.0.0.1:4222');
  t.equal(o.maxReconnectAttempts, -1);
  t.equal(o.reconnectTimeWait, 500);
  t.equal(o.authenticator, undefined);
  t.equal(o.tls, undefined);
});

t.test('plain settings pass through', async (t) => {
  const o = buildConnectionOptions({
    servers: ['nats://a:4222', 'nats://b:4222'],
    name: 'node-1',
    user: 'u',
    pass: 'p',
    token: 'tk',
    maxReconnectAttempts: 5,
    reconnectTimeWait: 100,
    reconnectJitter: 10,
    pingInterval: 5000,
    maxPingOut: 3,
    connectTimeoutMs: 1234,
    waitOnFirstConnect: true,
    inboxPrefix: '_I.roster',
  });
  t.same(o, {
    servers: ['nats://a:4222', 'nats://b:4222'],
    name: 'node-1',
    user: 'u',
    pass: 'p',
    token: 'tk',
    maxReconnectAttempts: 5,
    reconnectTimeWait: 100,
    reconnectJitter: 10,
    pingInterval: 5000,
    maxPingOut: 3,
    timeout: 1234,
    waitOnFirstConnect: true,
    inboxPrefix: '_I.roster',
    noAsyncTraces: true,
  });
  t.equal(
    buildConnectionOptions({ asyncTraces: true }).noAsyncTraces,
    false,
    'async traces on demand',
  );
});

t.test('TLS options', async (t) => {
  t.same(buildConnectionOptions({ tls: true }).tls, {}, 'tls: true requires TLS with system CAs');
  t.same(
    buildConnectionOptions({
      tls: { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem', rejectUnauthorized: false },
    }).tls,
    { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem', rejectUnauthorized: false },
  );
});

t.test('nkey seed and creds become authenticators', async (t) => {
  const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
  const o = buildConnectionOptions({ nkeySeed: seed });
  t.type(o.authenticator, 'function', 'nkey authenticator');
  const auth = (o.authenticator as Authenticator)('nonce-1') as NKeyAuth;
  t.equal(
    auth.nkey,
    nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey(),
    'signs as the user',
  );
  t.type(auth.sig, 'string', 'with a signature of the nonce');

  const dir = mkdtempSync(join(tmpdir(), 'roster-creds-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'user.creds');
  writeFileSync(file, 'not parsed until connect');
  const both = buildConnectionOptions({ credsFile: file, nkeySeed: seed });
  t.ok(Array.isArray(both.authenticator), 'several authenticators are combined');
  t.throws(
    () => buildConnectionOptions({ credsFile: join(dir, 'missing.creds') }),
    'a missing creds file fails early',
  );
});

t.test('connectionOptions are applied last', async (t) => {
  const o = buildConnectionOptions({ name: 'a', connectionOptions: { name: 'b', noEcho: true } });
  t.equal(o.name, 'b');
  t.equal(o.noEcho, true);
});

t.test('client errors map to RosterError codes', async (t) => {
  const cases: [unknown, string][] = [
    [new errors.TimeoutError(), 'ROSTER_ERR_TIMEOUT'],
    [
      new errors.RequestError('x', { cause: new errors.NoRespondersError('s') }),
      'ROSTER_ERR_NO_RESPONDERS',
    ],
    [new errors.NoRespondersError('s'), 'ROSTER_ERR_NO_RESPONDERS'],
    [new errors.ClosedConnectionError(), 'ROSTER_ERR_BUS_CLOSED'],
    [new errors.DrainingConnectionError(), 'ROSTER_ERR_BUS_CLOSED'],
    [new errors.AuthorizationError('Authorization Violation'), 'ROSTER_ERR_UNAUTHORIZED'],
    [new errors.PermissionViolationError('p', 'publish', 's'), 'ROSTER_ERR_FORBIDDEN'],
    [new errors.ConnectionError('refused'), 'ROSTER_ERR_NOT_CONNECTED'],
    [new errors.InvalidSubjectError('a b'), 'ROSTER_ERR_INVALID_SUBJECT'],
    [
      errors.InvalidArgumentError.format('payload', 'max_payload size exceeded'),
      'ROSTER_ERR_MESSAGE_TOO_LARGE',
    ],
    [new Error('something else'), 'ROSTER_ERR_INTERNAL'],
    ['a string', 'ROSTER_ERR_INTERNAL'],
  ];
  for (const [err, code] of cases) {
    const mapped = toRosterError(err);
    t.equal(mapped.code, code, `${String(err)} → ${code}`);
    t.equal(mapped.cause, err, 'keeps the cause');
  }
  const typed = new RosterError('ROSTER_ERR_TIMEOUT');
  t.equal(toRosterError(typed), typed, 'a RosterError passes through');
});

t.test('an NKey seed file: the trimmed seed, or undefined when it holds none', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-nkey-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
  const good = join(dir, 'user.nk');
  writeFileSync(good, `  ${seed}\n`);
  t.equal(readNkeySeedFile(good), seed);
  const bad = join(dir, 'not-a-seed.nk');
  writeFileSync(bad, 'UAJ3… a public key, not a seed\n');
  t.equal(readNkeySeedFile(bad), undefined);
  t.throws(() => readNkeySeedFile(join(dir, 'missing.nk')), { code: 'ENOENT' });
});
