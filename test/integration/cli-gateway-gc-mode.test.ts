/**
 * `roster gateway` under a GC mode (cli/gateway-runtime.ts), as an operator runs it, against a
 * real nats-server and a `roster node` process:
 *
 * - single-threaded: the gateway runs as a child under `--single-threaded-gc`, a young
 *   generation of fixed size and no memory reducer; SIGHUP sent to the `roster` process
 *   reloads the child's config, SIGTERM stops it cleanly with exit code 0; and when the
 *   `roster` process is killed outright, the child stops by itself;
 * - parallel: the gateway runs in the `roster` process itself, with no such flag.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { eventually } from '../helpers/eventually.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { type CliProcess, nodeProcessFor, startCli } from '../helpers/node-process.js';

function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(/\s+/).map(Number);
}

function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
}

function gone(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return true;
  // A zombie waiting for its (already dead) parent's reaper counts as gone too.
  return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

t.test('roster gateway and its GC mode', async (t) => {
  const server = await natsServerFor(t);
  await nodeProcessFor(t, { natsUrl: server.url, id: 'gc-mode-node-1' });
  const dir = mkdtempSync(join(tmpdir(), 'roster-gc-mode-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    [
      'gateway:',
      '  id: gw-gc-mode',
      '  shutdownGraceMs: 1000',
      'listeners:',
      '  - { port: 0, host: 127.0.0.1 }',
      'nats:',
      `  servers: [${server.url}]`,
      'routes: []',
    ].join('\n'),
  );
  const start = async (t: Test, mode: string): Promise<CliProcess> => {
    const gw = startCli(['gateway', '--config', file, '--log-level', 'info'], {
      env: { ROSTER_GATEWAY_GC: mode },
    });
    t.teardown(() => gw.kill('SIGKILL'));
    await gw.waitForOutput(/"msg":"gateway started"/);
    return gw;
  };

  await t.test('single-threaded: a child under the flag that follows its parent', async (t) => {
    const gw = await start(t, 'single-threaded');
    const [child, ...more] = childrenOf(gw.pid);
    t.equal(more.length, 0, 'one child');
    t.ok(child !== undefined && commandLine(child).includes('--single-threaded-gc'));
    t.ok(
      commandLine(child!).includes('--min-semi-space-size=32'),
      'a young generation of fixed size',
    );
    t.ok(commandLine(child!).includes('--no-memory-reducer'), 'no idle-time major GCs');
    t.notOk(commandLine(gw.pid).includes('--single-threaded-gc'), 'the parent has no flag');

    process.kill(gw.pid, 'SIGHUP');
    await gw.waitForOutput(/"msg":"reload requested by signal"/, 10_000);
    t.ok(gw.running, 'SIGHUP reloads, it does not stop the gateway');

    const exit = await gw.kill('SIGTERM');
    t.equal(exit.code, 0, `a clean stop passes exit code 0 back (${exit.description})`);
    t.match(gw.stdout(), /"msg":"gateway exited"/, 'the child stopped cleanly');
    t.ok(gone(child!), 'the child is gone');
  });

  await t.test('single-threaded: the parent killed outright, the child stops', async (t) => {
    const gw = await start(t, 'single-threaded');
    const [child] = childrenOf(gw.pid);
    t.ok(child !== undefined);
    await gw.kill('SIGKILL');
    await eventually(() => gone(child!) || undefined, {
      what: 'the orphaned gateway to stop',
      timeoutMs: 15_000,
    });
    t.pass('the child stopped by itself');
  });

  await t.test('parallel: the gateway runs in place', async (t) => {
    const gw = await start(t, 'parallel');
    t.same(childrenOf(gw.pid), [], 'no child process');
    t.notOk(commandLine(gw.pid).includes('--single-threaded-gc'));
    const exit = await gw.kill('SIGTERM');
    t.equal(exit.code, 0);
  });
});
