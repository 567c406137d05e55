/**
 * `roster demo` (npm start): nats-server and registry nodes come up, the printed metrics URLs
 * serve, and Ctrl-C (SIGINT) stops everything with exit 0 and no nats-server left running.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { startCli } from '../helpers/node-process.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

t.test('demo starts nats-server and nodes, and Ctrl-C stops them all', async (t) => {
  // NATS_URL empty counts as unset: the demo starts its own server (on a free port here, so
  // the test never depends on 4222 being free).
  const demo = startCli(['demo', '--nats-port', '0', '--nodes', '2'], { env: { NATS_URL: '' } });
  t.teardown(() => demo.kill('SIGKILL'));

  await demo.waitForOutput(/Press Ctrl-C to stop/, 60_000);
  const out = demo.stdout();
  const nats = /NATS\s+(nats:\/\/127\.0\.0\.1:\d+)\s+\(.*pid (\d+)\)/.exec(out);
  t.ok(nats, `prints the NATS URL and the server pid:\n${out}`);
  const serverPid = Number(nats?.[2]);
  // The demo runs nats-server in its own process group: should the demo be SIGKILLed by the
  // teardown above (a failed test), the server would survive it, so kill it here too.
  t.teardown(() => {
    if (serverPid > 0 && isAlive(serverPid)) process.kill(serverPid, 'SIGKILL');
  });
  t.ok(isAlive(serverPid), 'nats-server is running');

  const metricsUrls = [...out.matchAll(/^\s+(node-\d)\s+registry node, metrics (\S+)$/gm)];
  t.same(
    metricsUrls.map((m) => m[1]),
    ['node-1', 'node-2'],
    'one line per node',
  );
  for (const [, id, url] of metricsUrls) {
    const text = await (await fetch(url!)).text();
    t.match(text, /^roster_node_ready 1$/m, `${id} serves its metrics, ready`);
  }
  t.match(out, /gateway/, 'says the gateway is still to come');

  const exit = await demo.kill('SIGINT');
  t.equal(exit.code, 0, `Ctrl-C: exit 0 (${exit.description}); stderr:\n${demo.stderr()}`);
  const deadline = Date.now() + 5_000;
  while (isAlive(serverPid) && Date.now() < deadline) await sleep(20);
  t.notOk(isAlive(serverPid), 'nats-server is gone');
  t.match(demo.stderr(), /nothing left running/);
});
