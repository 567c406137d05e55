/**
 * The quick start of docs/client.md runs as documented: a real nats-server, one `roster node`
 * process, and docs/examples/client-quickstart.ts as a child process with NATS_URL. It must
 * register an instance it serves, find it through a pool, get an answer from it through
 * pool.pick(), close with a drain and exit 0; afterwards the cluster no longer has it.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { connect } from '../../client/index.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { nodeProcessFor, REPO_ROOT } from '../helpers/node-process.js';

const EXAMPLE = join(REPO_ROOT, 'docs', 'examples', 'client-quickstart.ts');
const RUN_TIMEOUT_MS = 60_000;

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runExample(natsUrl: string, onChild: (child: ChildProcess) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', EXAMPLE], {
      cwd: REPO_ROOT,
      env: { ...process.env, NATS_URL: natsUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

t.test('docs/examples/client-quickstart.ts runs against a real cluster', async (t) => {
  const server = await natsServerFor(t);
  await nodeProcessFor(t, { natsUrl: server.url, id: 'n1' });

  let child: ChildProcess | undefined;
  t.teardown(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const run = await runExample(server.url, (c) => {
    child = c;
  });
  const output = `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
  t.equal(run.code, 0, 'the example exits 0', { output });
  t.equal(run.signal, null, 'and was not killed', { output });

  const line = (pattern: RegExp): RegExpMatchArray | null => run.stdout.match(pattern);
  const serving = line(/^serving http:\/\/127\.0\.0\.1:(\d+)$/m);
  t.ok(serving, 'it serves HTTP', { output });
  t.match(run.stdout, new RegExp(`^connected to ${server.url}$`, 'm'), 'it connects to NATS_URL');
  const registered = line(/^registered quickstart\/(quickstart-[0-9a-f]+) \(owner node n1\)$/m);
  t.ok(registered, 'it registers one instance, owned by the one node', { output });
  const id = registered?.[1] ?? '(none)';
  t.match(run.stdout, /^pool: 1 member\(s\), 1 healthy$/m, 'the pool holds it');
  t.match(
    run.stdout,
    new RegExp(`^discovered 1 instance\\(s\\): ${id}$`, 'm'),
    'discover finds it',
  );
  t.match(
    run.stdout,
    new RegExp(`^picked ${id} at http://127\\.0\\.0\\.1:${serving?.[1]}/hello$`, 'm'),
    'pool.pick() returns the instance it serves',
  );
  const response = line(/^response 200: (.*)$/m);
  t.ok(response, 'the request through the pool got 200', { output });
  t.same(
    JSON.parse(response?.[1] ?? 'null'),
    { hello: `from ${id}`, path: '/hello' },
    'answered by the example itself',
  );
  t.match(run.stdout, new RegExp(`^watch: added ${id} \\(passing\\)$`, 'm'), 'the watch saw it');
  t.match(run.stdout, /^closing: draining, then deregistering$/m, 'it closes with a drain');
  t.match(
    run.stdout,
    /closed: deregistered and disconnected\n$/,
    'and says so last (after the close resolved)',
  );
  const lines = run.stdout.split('\n');
  const order = [
    'serving ',
    'registered ',
    'pool: ',
    'discovered ',
    'picked ',
    'response 200',
    'closing: ',
    'closed: ',
  ].map((prefix) => lines.findIndex((l) => l.startsWith(prefix)));
  t.ok(
    order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]!)),
    'the steps run in the documented order',
    { output },
  );

  // close() resolved only once the owner acknowledged the removal, so the one node (which
  // answers every query) no longer has it, right after the exit (the 6 s TTL is far off).
  const observer = await connect({ servers: server.url, name: 'client-example-observer' });
  t.teardown(() => observer.close());
  t.same(await observer.discover('quickstart'), [], 'the cluster no longer lists the instance');
});
