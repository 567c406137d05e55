/**
 * `roster demo` (npm start): nats-server, registry nodes, the gateway and the two demo services
 * come up; the printed block's URLs work (both services answer through the gateway, the
 * dashboard serves HTML, the admin API lists the routes with the printed token); Ctrl-C
 * (SIGINT) stops everything with exit 0, nats-server and every other child gone, every port
 * closed.
 */

import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

/** Pids of the processes whose parent is `pid` (Linux /proc; empty elsewhere). */
function childrenOf(pid: number): number[] {
  if (!existsSync('/proc')) return [];
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function refused(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return false;
  } catch {
    return true;
  }
}

function field(out: string, label: string): string {
  const m = new RegExp(`^\\s+${label}\\s+(\\S+)`, 'm').exec(out);
  if (!m) throw new Error(`no "${label}" line in:\n${out}`);
  return m[1]!;
}

t.test('demo: gateway, services, dashboard and admin API, and Ctrl-C stops it all', async (t) => {
  // NATS_URL empty counts as unset: the demo starts its own server. Every port is a free one
  // here, so the test never depends on 4222, 8080 or 8500 being free.
  const demo = startCli(
    ['demo', '--nats-port', '0', '--http-port', '0', '--gateway-port', '0', '--log-level', 'warn'],
    { env: { NATS_URL: '' } },
  );
  t.teardown(() => demo.kill('SIGKILL'));

  await demo.waitForOutput(/Ctrl-C to stop/, 30_000);
  const out = demo.stdout();
  t.comment(out);

  const nats = /NATS\s+(nats:\/\/127\.0\.0\.1:\d+)\s+\(.*pid (\d+)\)/.exec(out);
  t.ok(nats, 'prints the NATS URL and the server pid');
  const serverPid = Number(nats?.[2]);
  // The demo runs nats-server in its own process group: should the demo be SIGKILLed by the
  // teardown above (a failed test), the server would survive it, so kill it here too.
  t.teardown(() => {
    if (serverPid > 0 && isAlive(serverPid)) process.kill(serverPid, 'SIGKILL');
  });
  t.ok(isAlive(serverPid), 'nats-server is running');
  // Its children: nats-server, and tsx's esbuild service when a source file had to be compiled.
  const children = childrenOf(demo.pid);
  if (existsSync('/proc')) t.ok(children.includes(serverPid), 'nats-server is its child');

  const gateway = field(out, 'Gateway');
  const dashboard = field(out, 'Dashboard');
  const admin = field(out, 'Admin API');
  const token = /\(token (\S+)\)/.exec(out)?.[1] ?? '';
  t.match(gateway, /^http:\/\/127\.0\.0\.1:\d+$/, 'the gateway URL');
  t.match(dashboard, /^http:\/\/127\.0\.0\.1:\d+\/ui\/?$/, 'the dashboard URL');
  t.ok(token.length >= 16, 'a generated admin token');
  for (const name of ['payments', 'catalog']) {
    t.match(out, `curl ${gateway}/${name}/`, `a curl line for ${name}`);
  }
  const nodeUrls = [...out.matchAll(/(node-\d) (http:\/\/127\.0\.0\.1:\d+)/g)];
  t.same(
    nodeUrls.map((m) => m[1]),
    ['node-1', 'node-2', 'node-3'],
    'three registry nodes',
  );

  // Both services answer through the gateway, from their instances, spread over them.
  const ports = new Set<number>();
  for (const name of ['payments', 'catalog']) {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const response = await fetch(`${gateway}/${name}/hello`);
      t.equal(response.status, 200, `GET /${name}/hello through the gateway: 200`);
      t.match(response.headers.get('content-type'), /application\/json/);
      const body = (await response.json()) as { service: string; instance: string; url: string };
      t.equal(body.service, name, 'answered by the service');
      t.equal(body.url, `/${name}/hello`, 'the path reaches the instance');
      seen.add(body.instance);
      ports.add(Number(body.instance.split('-').at(-1)));
    }
    t.ok(seen.size >= 2, `${name}: answers come from several instances (${[...seen].join(', ')})`);
  }

  const page = await fetch(dashboard);
  t.equal(page.status, 200, 'the dashboard serves');
  t.match(page.headers.get('content-type'), /text\/html/);
  t.match(await page.text(), /<html/i, 'HTML');

  const noToken = await fetch(`${admin}/routes`);
  t.equal(noToken.status, 401, 'the admin API wants the token');
  await noToken.arrayBuffer();
  const routes = await fetch(`${admin}/routes`, { headers: { authorization: `Bearer ${token}` } });
  t.equal(routes.status, 200, 'the admin API answers with the printed token');
  const table = (await routes.json()) as {
    routes: { source: string; service: string; match: { path: { prefix?: string } } }[];
  };
  t.same(
    table.routes
      .map((r) => [r.source, r.service, r.match.path.prefix])
      .sort((a, b) => String(a[1]).localeCompare(String(b[1]))),
    [
      ['registry', 'catalog', '/catalog'],
      ['registry', 'payments', '/payments'],
    ],
    'the two routes come from the registry (service metadata)',
  );

  const exit = await demo.kill('SIGINT');
  t.equal(exit.code, 0, `Ctrl-C: exit 0 (${exit.description}); stderr:\n${demo.stderr()}`);
  const deadline = Date.now() + 5_000;
  while (children.some(isAlive) && Date.now() < deadline) await sleep(20);
  t.notOk(isAlive(serverPid), 'nats-server is gone');
  t.same(children.filter(isAlive), [], `no child is left (it had ${children.join(', ')})`);
  t.match(demo.stderr(), /stopping: demo services, the gateway, registry nodes, then nats-server/);
  t.match(demo.stderr(), /nothing left running/);
  t.ok(await refused(gateway), 'the gateway port is closed');
  t.ok(await refused(dashboard), 'the dashboard port is closed');
  for (const port of ports) {
    t.ok(await refused(`http://127.0.0.1:${port}/`), `instance port ${port} is closed`);
  }
});
