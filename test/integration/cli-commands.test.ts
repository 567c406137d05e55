/**
 * The operator commands against a real nats-server and registry node processes: services,
 * instances, nodes and health (human and --json), watch printing the events of a registration
 * made during the test, register keeping an instance alive until SIGTERM, and demo-service.
 * Configuration layering and --help: cli-config-layering.test.ts.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { connect, type RosterClient } from '../../client/index.js';
import { encodeTrusted, type MessageOf, Subjects } from '../../protocol/index.js';
import { connectNatsBus, type NatsBus } from '../../transport/index.js';
import { eventually } from '../helpers/eventually.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { clusterInfo, nodeProcessFor, runCli, startCli } from '../helpers/node-process.js';

const server = await natsServerFor(t);
const url = server.url;
await Promise.all([
  nodeProcessFor(t, { natsUrl: url, id: 'cmd-a' }),
  nodeProcessFor(t, { natsUrl: url, id: 'cmd-b' }),
]);
const bus = await connectNatsBus({ servers: url });
t.teardown(() => bus.close());

/** Environment of every command: no inherited NATS_URL or ROSTER_* settings. */
const CLEAN_ENV: NodeJS.ProcessEnv = Object.fromEntries(
  Object.keys(process.env)
    .filter((k) => k.startsWith('ROSTER_') || k === 'NATS_URL')
    .map((k) => [k, '']),
);

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCli(args, { env: { ...CLEAN_ENV, ...env } });
}

async function client(t: { teardown(fn: () => unknown): void }): Promise<RosterClient> {
  const c = await connect({ servers: url, ttlMs: 3_000 });
  t.teardown(() => c.close());
  return c;
}

/** Waits until both nodes hold `instances` instances with equal digests. */
async function converged(instances: number): Promise<void> {
  await eventually(
    async () => {
      const infos = await clusterInfo(bus, undefined, { expect: 2 });
      return (
        infos.length === 2 &&
        infos.every((i) => i.ready && i.instances === instances) &&
        infos[0]!.digest === infos[1]!.digest
      );
    },
    { what: `both nodes hold ${instances} instance(s)`, timeoutMs: 15_000 },
  );
}

t.test('services, instances, nodes and health: tables and --json', async (t) => {
  const c = await client(t);
  const reg = await c.register({
    service: 'payments',
    id: 'payments-1',
    host: '127.0.0.1',
    port: 9000,
    tags: ['eu'],
    meta: { team: 'core' },
  });
  t.teardown(() => reg.deregister().catch(() => undefined));
  await converged(1);

  const [services, servicesJson, instances, instancesJson, none, noneJson] = await Promise.all([
    cli(['services', '--nats', url]),
    cli(['services', '--nats', url, '--json']),
    cli(['instances', 'payments', '--nats', url]),
    cli(['instances', 'payments', '--nats', url, '--json']),
    cli(['instances', 'nothing-here', '--nats', url]),
    cli(['instances', 'nothing-here', '--nats', url, '--json']),
  ]);
  t.equal(services.code, 0, `services exits 0 (${services.stderr})`);
  t.match(services.stdout, /^SERVICE\s+INSTANCES\s+PASSING$/m, 'services: a header');
  t.match(services.stdout, /^payments\s+1\s+1$/m, 'services: payments with 1 passing instance');
  t.equal(servicesJson.code, 0);
  t.same(JSON.parse(servicesJson.stdout), [{ name: 'payments', instances: 1, passing: 1 }]);

  t.equal(instances.code, 0, `instances exits 0 (${instances.stderr})`);
  t.match(instances.stdout, /^ID\s+ADDRESS\s+STATUS/m, 'instances: a header');
  t.match(
    instances.stdout,
    /^payments-1\s+127\.0\.0\.1:9000\s+passing\s+1\s+-\s+-\s+cmd-[ab]\s+\d+s\s+eu\s+team=core$/m,
    'instances: one row with address, status, owner, tags and meta',
  );
  const list = JSON.parse(instancesJson.stdout) as MessageOf<'queryReply'>['instances'];
  t.equal(list.length, 1, 'instances --json: one record');
  t.match(list[0], {
    id: 'payments-1',
    service: 'payments',
    host: '127.0.0.1',
    port: 9000,
    status: 'passing',
    tags: ['eu'],
    meta: { team: 'core' },
  });
  t.equal(none.code, 0);
  t.match(none.stdout, /no instances of nothing-here/);
  t.same(JSON.parse(noneJson.stdout), [], 'an unknown service: an empty array');

  const [nodes, nodesJson, health, healthJson, expect3] = await Promise.all([
    cli(['nodes', '--nats', url]),
    cli(['nodes', '--nats', url, '--json', '--expect-nodes', '2']),
    cli(['health', '--nats', url]),
    cli(['health', '--nats', url, '--json']),
    cli(['health', '--nats', url, '--expect-nodes', '3', '--timeout-ms', '800']),
  ]);
  t.equal(nodes.code, 0, `nodes exits 0 (${nodes.stderr})`);
  t.match(
    nodes.stdout,
    /^NODE\s+INCARNATION\s+READY\s+SEQ\s+INSTANCES\s+SESSIONS\s+DIGEST\s+VECTOR$/m,
  );
  t.match(nodes.stdout, /^cmd-a\s+\d+\s+yes\s+\d+\s+1\s+1\s+[0-9a-f]{12}\s+\S+:\d+/m, 'cmd-a row');
  t.match(nodes.stdout, /^cmd-b\s+\d+\s+yes\s+/m, 'cmd-b row');
  t.match(nodes.stdout, /2 node\(s\); digests agree/, 'agreement line');
  t.notMatch(nodes.stdout, /≠/, 'no disagreement mark');
  const nodeList = JSON.parse(nodesJson.stdout) as Array<Record<string, unknown>>;
  t.same(
    nodeList.map((n) => n.node),
    ['cmd-a', 'cmd-b'],
  );
  for (const n of nodeList) {
    t.match(n, {
      ready: true,
      instances: 1,
      sessions: 1,
      digestAgrees: true,
      digest: /^[0-9a-f]+$/,
      incarnation: Number,
      vector: Array,
    });
  }
  t.equal(health.code, 0, `health exits 0 (${health.stderr})`);
  t.match(health.stdout, /^healthy: 2 node\(s\) ready, digests agree/m);
  t.equal(healthJson.code, 0);
  t.match(JSON.parse(healthJson.stdout), { healthy: true, reasons: [], nodes: Array });
  t.equal(expect3.code, 1, 'fewer nodes than --expect-nodes: exit 1');
  t.match(expect3.stderr, /^error: unhealthy: 2 of 3 expected nodes answered \(cmd-a, cmd-b\)$/m);
});

t.test('nodes marks a digest that differs; health fails with the reason', async (t) => {
  // Three fake nodes under their own prefix: one with a different digest, one not ready.
  const subjects = new Subjects('fake');
  const state = (node: string, digest: string, ready: boolean): MessageOf<'clusterInfo'> => ({
    node,
    inc: 1,
    seq: 3,
    hlc: 1,
    vector: [[node, 1, 3]],
    digest,
    sessions: 1,
    instances: 2,
    ready,
    startedAt: Date.now(),
  });
  const fakes = [
    state('fake-1', 'aaaaaaaaaaaaaaaa', true),
    state('fake-2', 'aaaaaaaaaaaaaaaa', false),
    state('fake-3', 'bbbbbbbbbbbbbbbb', true),
  ];
  const responders: NatsBus[] = [];
  for (const info of fakes) {
    const b = await connectNatsBus({ servers: url });
    responders.push(b);
    b.subscribe(subjects.clusterInfo, (m) => m.respond(encodeTrusted('clusterInfo', info)));
    await b.flush();
  }
  t.teardown(() => Promise.all(responders.map((b) => b.close())));

  const [nodes, nodesJson, health, healthJson] = await Promise.all([
    cli(['nodes', '--nats', url, '--prefix', 'fake']),
    cli(['nodes', '--nats', url, '--prefix', 'fake', '--json']),
    cli(['health', '--nats', url, '--prefix', 'fake', '--timeout-ms', '600']),
    cli(['health', '--nats', url, '--prefix', 'fake', '--timeout-ms', '600', '--json']),
  ]);
  t.equal(nodes.code, 0, 'nodes reports; it does not judge');
  t.match(
    nodes.stdout,
    /^fake-3\s+1\s+yes\s+3\s+2\s+1\s+bbbbbbbbbbbb ≠\s+fake-3:3$/m,
    'fake-3 marked',
  );
  t.match(nodes.stdout, /^fake-1\s+.*aaaaaaaaaaaa\s+fake-1:3$/m, 'fake-1 not marked');
  t.match(nodes.stdout, /^fake-2\s+1\s+no\s/m, 'fake-2 not ready');
  t.match(nodes.stdout, /digests differ \(≠\): fake-3 disagree/);
  t.same(
    (JSON.parse(nodesJson.stdout) as Array<{ node: string; digestAgrees: boolean }>).map((n) => [
      n.node,
      n.digestAgrees,
    ]),
    [
      ['fake-1', true],
      ['fake-2', true],
      ['fake-3', false],
    ],
  );
  t.equal(health.code, 1, 'health: exit 1');
  t.match(
    health.stderr,
    /^error: unhealthy: not ready: fake-2; digests differ: fake-3 bbbbbbbbbbbb/m,
  );
  t.equal(healthJson.code, 1);
  t.match(JSON.parse(healthJson.stdout), {
    healthy: false,
    reasons: ['not ready: fake-2', /^digests differ: fake-3/],
  });
});

t.test('no registry node: a clear error, exit 1', async (t) => {
  const [services, nodes, health] = await Promise.all([
    cli(['services', '--nats', url, '--prefix', 'nobody']),
    cli(['nodes', '--nats', url, '--prefix', 'nobody']),
    cli(['health', '--nats', url, '--prefix', 'nobody', '--timeout-ms', '300']),
  ]);
  t.equal(services.code, 1);
  t.match(services.stderr, /error: no registry node answered on nobody\.v1\.catalog/);
  t.equal(nodes.code, 1);
  t.match(
    nodes.stderr,
    /error: no registry node answered on nobody\.v1\.cluster\.info within 500 ms/,
  );
  t.equal(health.code, 1);
  t.match(health.stderr, /error: unhealthy: no registry node answered/);
  const unreachable = await cli([
    'services',
    '--nats',
    'nats://127.0.0.1:1',
    '--timeout-ms',
    '300',
  ]);
  t.equal(unreachable.code, 1);
  t.match(unreachable.stderr, /error: could not connect to NATS at nats:\/\/127\.0\.0\.1:1/);
});

t.test('watch prints the snapshot, then each event, until Ctrl-C', async (t) => {
  const human = startCli(['watch', 'orders', '--nats', url], { env: CLEAN_ENV });
  const json = startCli(['watch', 'orders', '--nats', url, '--json'], { env: CLEAN_ENV });
  t.teardown(() => Promise.all([human.kill(), json.kill()]));
  await human.waitForOutput(/= 0 instance\(s\)/);
  await json.waitForOutput(/"type":"snapshot"/);

  const c = await client(t);
  const reg = await c.register({
    service: 'orders',
    id: 'orders-1',
    host: '127.0.0.1',
    port: 9100,
  });
  await human.waitForOutput(/\+ added\s+orders-1\s+127\.0\.0\.1:9100\s+passing\s+owner cmd-[ab]/);
  await json.waitForOutput(/"type":"added"/);
  await reg.update({ weight: 5 });
  await human.waitForOutput(/~ updated\s+orders-1\s+weight 1 → 5/);
  await reg.deregister();
  await human.waitForOutput(/- removed\s+orders-1/);
  await json.waitForOutput(/"type":"removed"/);

  const [humanExit, jsonExit] = await Promise.all([human.kill('SIGINT'), json.kill('SIGINT')]);
  t.equal(humanExit.code, 0, `Ctrl-C: exit 0 (${humanExit.description})`);
  t.equal(jsonExit.code, 0, 'Ctrl-C: exit 0 (--json)');

  const lines = json
    .stdout()
    .trim()
    .split('\n')
    .map(
      (line) =>
        JSON.parse(line) as {
          type: string;
          service: string;
          at: string;
          instance?: { id: string };
        },
    );
  t.same(
    lines.map((l) => l.type),
    ['snapshot', 'added', 'updated', 'removed'],
    '--json: one object per line, in order',
  );
  t.ok(
    lines.every((l) => l.service === 'orders' && !Number.isNaN(Date.parse(l.at))),
    'service and time',
  );
  t.equal(lines[1]?.instance?.id, 'orders-1');
});

t.test('register keeps an instance alive until SIGTERM, then removes it', async (t) => {
  const proc = startCli(
    [
      'register',
      '--nats',
      url,
      '--service',
      'billing',
      '--host',
      '127.0.0.1',
      '--port',
      '9200',
      '--tag',
      'eu',
      '--tag',
      'blue',
      '--meta',
      'team=core',
      '--weight',
      '3',
      '--ttl-ms',
      '1500',
    ],
    { env: CLEAN_ENV },
  );
  t.teardown(() => proc.kill());
  await proc.waitForOutput(
    /registered billing\/billing-127\.0\.0\.1-9200 at 127\.0\.0\.1:9200 \(owner cmd-[ab], session TTL 1500 ms\)/,
  );
  const c = await client(t);
  const [first] = await c.discover('billing');
  t.match(first, {
    id: 'billing-127.0.0.1-9200',
    tags: ['eu', 'blue'],
    meta: { team: 'core' },
    weight: 3,
  });

  await sleep(4_000); // well past two TTLs: only renewals keep it
  t.equal((await c.discover('billing')).length, 1, 'still registered after 2+ TTLs');

  const exit = await proc.kill('SIGTERM');
  t.equal(exit.code, 0, `SIGTERM: exit 0 (${exit.description}; ${proc.stderr()})`);
  t.match(proc.stdout(), /deregistered billing\/billing-127\.0\.0\.1-9200/);
  t.same(await c.discover('billing'), [], 'gone as soon as the command exited');
});

t.test('register: health check flags and bad input', async (t) => {
  const proc = startCli(
    [
      'register',
      '--nats',
      url,
      '--service',
      'ledger',
      '--host',
      '127.0.0.1',
      '--port',
      '1',
      '--id',
      'ledger-x',
      '--check-tcp',
      '--check-interval-ms',
      '200',
    ],
    { env: CLEAN_ENV },
  );
  t.teardown(() => proc.kill());
  await proc.waitForOutput(/registered ledger\/ledger-x/);
  const c = await client(t);
  const [instance] = await c.discover('ledger');
  t.match(instance?.check, { kind: 'tcp', intervalMs: 200 }, 'the check is registered');
  await eventually(async () => (await c.discover('ledger'))[0]?.status === 'critical', {
    what: 'the owner marks a closed port critical',
  });
  t.equal((await proc.kill('SIGINT')).code, 0, 'Ctrl-C: exit 0');

  const [both, missing] = await Promise.all([
    cli([
      'register',
      '--service',
      's',
      '--host',
      'h',
      '--port',
      '1',
      '--check-http',
      '/h',
      '--check-tcp',
    ]),
    cli(['register', '--host', 'h', '--port', '1']),
  ]);
  t.equal(both.code, 2);
  t.match(both.stderr, /^error: --check-http cannot be combined with --check-tcp$/m);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /^error: register\.service is required/m);
});

t.test('demo-service registers its instances with a route and answers JSON', async (t) => {
  const proc = startCli(
    ['demo-service', '--nats', url, '--name', 'shop', '--instances', '2', '--ttl-ms', '2000'],
    { env: CLEAN_ENV },
  );
  t.teardown(() => proc.kill());
  const out = await proc.waitForOutput(/(shop-2-\d+)\s+(http:\/\/127\.0\.0\.1:\d+)/);
  t.match(proc.stdout(), /demo-service shop: 2 instance\(s\) registered with route \/shop/);
  const c = await client(t);
  const instances = await eventually(async () => {
    const list = await c.discover('shop');
    return list.length === 2 ? list : undefined;
  });
  for (const i of instances)
    t.same(i.meta, { 'roster.route.path-prefix': '/shop' }, `${i.id} route`);
  const response = await fetch(`${out[2]}/shop/hello?x=1`);
  t.equal(response.status, 200);
  t.match(await response.json(), {
    service: 'shop',
    instance: out[1],
    method: 'GET',
    url: '/shop/hello?x=1',
  });
  t.equal((await proc.kill('SIGTERM')).code, 0, 'SIGTERM: exit 0');
  t.same(await c.discover('shop'), [], 'deregistered before exit');
});
