/**
 * `roster node` as an operator runs it: two node processes on a real nats-server join one
 * cluster, agree on their state, serve metrics and stop cleanly on SIGTERM; bad flags are
 * usage errors (exit 2) naming the flag; --version and --help work.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { decodeAs, encode, type MessageOf, Subjects } from '../../protocol/index.js';
import { connectNatsBus } from '../../transport/index.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { clusterInfo, nodeProcessFor, REPO_ROOT, runCli } from '../helpers/node-process.js';

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
};

async function eventually<T>(
  what: string,
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    }
    await sleep(100);
    last = await probe();
  }
  return last;
}

t.test('two node processes form a cluster, serve metrics and stop on SIGTERM', async (t) => {
  const server = await natsServerFor(t);
  const [a, b] = await Promise.all([
    nodeProcessFor(t, { natsUrl: server.url, id: 'cli-a' }),
    nodeProcessFor(t, { natsUrl: server.url, id: 'cli-b' }),
  ]);
  t.equal(a.readyLine.nodeId, 'cli-a', 'the ready line names the node');
  t.equal(a.readyLine.metricsPort, a.metricsPort, 'and its metrics port');
  t.ok(a.metricsPort > 0 && b.metricsPort > 0, 'metrics on real ports');

  const bus = await connectNatsBus({ servers: server.url });
  t.teardown(() => bus.close());

  const infos = await eventually(
    'both nodes answer the cluster-info scatter',
    () => clusterInfo(bus, undefined, { expect: 2 }),
    (list) => list.length === 2 && list.every((i) => i.ready),
  );
  t.same(
    infos.map((i) => i.node),
    ['cli-a', 'cli-b'],
    'cluster info lists both nodes',
  );
  t.equal(infos[0]!.digest, infos[1]!.digest, 'empty replicas have equal digests');

  // A registration through the node queue group reaches both replicas.
  const subjects = new Subjects();
  const request: MessageOf<'registerRequest'> = {
    session: { id: 'cli-test-session', secret: 'cli-test-secret-0123456789', ttlMs: 30_000 },
    instance: {
      id: 'web-1',
      service: 'web',
      host: '127.0.0.1',
      port: 8080,
      tags: [],
      meta: {},
      weight: 1,
    },
  };
  const reply = decodeAs(
    (
      await bus.request(subjects.register('web'), encode('registerRequest', request), {
        timeoutMs: 5_000,
      })
    ).data,
    'registerReply',
  );
  t.ok(['cli-a', 'cli-b'].includes(reply.ownerNode), `registered with ${reply.ownerNode}`);
  const converged = await eventually(
    'both replicas hold the instance with equal digests',
    () => clusterInfo(bus, undefined, { expect: 2 }),
    (list) =>
      list.length === 2 &&
      list.every((i) => i.instances === 1 && i.sessions === 1) &&
      list[0]!.digest === list[1]!.digest,
  );
  t.equal(converged[0]!.digest, converged[1]!.digest, 'digests equal after a registration');
  t.not(converged[0]!.digest, infos[0]!.digest, 'and differ from the empty digest');

  const text = await a.metrics();
  t.match(text, /^roster_node_ready 1$/m, '/metrics serves roster_node_ready 1');
  t.match(text, /^roster_node_instances 1$/m, 'and the instance count');
  const response = await fetch(b.metricsUrl);
  t.equal(
    response.headers.get('content-type'),
    'text/plain; version=0.0.4; charset=utf-8',
    'Prometheus content type',
  );
  await response.text();

  const exit = await b.stop();
  t.equal(exit.code, 0, `SIGTERM: exit code 0 (${exit.description})`);
  t.equal(exit.signal, null, 'not killed by the signal');
  t.match(b.logs(), /"msg":"closed"/, 'the node closed');
  t.match(b.logs(), /"msg":"node stopped"/, 'and the process said so');

  const after = await eventually(
    'only cli-a answers after cli-b stopped',
    () => clusterInfo(bus, undefined, { deadlineMs: 300 }),
    (list) => list.length === 1,
  );
  t.equal(after[0]!.node, 'cli-a', 'cli-a is still up');
});

t.test('usage errors exit 2 with one line naming the flag', async (t) => {
  const cases: Array<{ args: string[]; env?: NodeJS.ProcessEnv; names: RegExp }> = [
    { args: ['node', '--heartbeat-ms', 'fast'], names: /--heartbeat-ms/ },
    { args: ['node', '--metrics-port', '70000'], names: /--metrics-port/ },
    { args: ['node', '--default-ttl-ms', '10'], names: /--default-ttl-ms/ },
    { args: ['node', '--id', 'not a valid id'], names: /--id/ },
    { args: ['node', '--log-level', 'loud'], names: /--log-level/ },
    { args: ['node', '--nats', 'http://example.com'], names: /--nats/ },
    { args: ['node', '--no-such-flag'], names: /--no-such-flag/ },
    { args: ['node', '--user', 'alice'], names: /--pass/ },
    { args: ['node', '--token', 'x', '--user', 'u', '--pass', 'p'], names: /--token|--user/ },
    { args: ['node', '--creds', '/nonexistent/roster.creds'], names: /--creds/ },
    { args: ['node'], env: { ROSTER_PREFIX: 'bad prefix!' }, names: /ROSTER_PREFIX/ },
  ];
  await Promise.all(
    cases.map(async ({ args, env, names }) => {
      const result = await runCli(args, env ? { env } : {});
      const label = `roster ${args.join(' ')}${env ? ` with ${JSON.stringify(env)}` : ''}`;
      t.equal(result.code, 2, `${label}: exit 2`);
      const lines = result.stderr.trim().split('\n');
      t.equal(lines.length, 1, `${label}: one line (${result.stderr.trim()})`);
      t.match(lines[0], /^error: /, `${label}: an error line`);
      t.match(lines[0], names, `${label}: names the flag`);
      t.equal(result.stdout, '', `${label}: nothing on stdout`);
    }),
  );
});

t.test('an unreachable NATS server fails after --connect-timeout-ms with exit 1', async (t) => {
  const started = Date.now();
  const result = await runCli([
    'node',
    '--nats',
    'nats://127.0.0.1:1',
    '--connect-timeout-ms',
    '800',
    '--log-level',
    'silent',
  ]);
  t.equal(result.code, 1, 'exit 1');
  t.match(result.stderr, /^error: could not connect to NATS at nats:\/\/127\.0\.0\.1:1/m);
  t.ok(Date.now() - started < 20_000, 'gave up after the timeout');
});

t.test('--version and --help', async (t) => {
  const [version, help, nodeHelp, none, unknown] = await Promise.all([
    runCli(['--version']),
    runCli(['--help']),
    runCli(['node', '--help']),
    runCli([]),
    runCli(['no-such-command']),
  ]);
  t.equal(version.code, 0, '--version exits 0');
  t.equal(version.stdout.trim(), pkg.version, '--version prints the package version');

  t.equal(help.code, 0, '--help exits 0');
  t.match(help.stdout, /Usage: roster/, 'usage line');
  t.match(help.stdout, /^\s+node\b/m, 'lists the node command');
  t.match(help.stdout, /^\s+demo\b/m, 'lists the demo command');

  t.equal(nodeHelp.code, 0, 'node --help exits 0');
  for (const flag of [
    '--nats',
    '--id',
    '--prefix',
    '--heartbeat-ms',
    '--default-ttl-ms',
    '--metrics-port',
    '--log-level',
    '--creds',
    '--tls-ca',
  ]) {
    t.match(nodeHelp.stdout, flag, `node --help documents ${flag}`);
  }
  t.match(nodeHelp.stdout, /NATS_URL/, 'and the NATS_URL fallback');

  t.equal(none.code, 2, 'no command: usage error');
  t.match(none.stderr, /Usage: roster/, 'with the usage');
  t.equal(unknown.code, 2, 'unknown command: exit 2');
  t.match(unknown.stderr, /unknown command 'no-such-command'/);
});
