/**
 * Zero failed requests while three upstream instances restart one by one under continuous
 * bounded load (issue 5 item 7): each instance is its own process that drains gracefully on
 * SIGTERM (client.close with drainMs) and is replaced by a new one, while GET requests flow
 * through the gateway at a few hundred per second.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { eventually } from '../helpers/eventually.js';
import {
  httpRequest,
  route,
  simpleTable,
  startGateway,
  startRegistry,
} from '../helpers/gateway-harness.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/http-service-process.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TARGET_RPS = 300;
const WORKERS = 6;

interface Service {
  readonly child: ChildProcess;
  readonly id: string;
  stop(): Promise<number | null>;
}

async function startService(
  natsUrl: string,
  id: string,
  live: Set<ChildProcess>,
): Promise<Service> {
  const child = spawn(process.execPath, ['--import=tsx', FIXTURE, natsUrl, 'rolling', id], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  live.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', () => resolve());
    child.once('exit', (code) => reject(new Error(`service ${id} exited ${code} before ready`)));
  });
  child.stdout!.resume();
  return {
    child,
    id,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

t.test('three instances restart one by one: zero failed requests', async (t) => {
  const reg = await startRegistry(t);
  const live = new Set<ChildProcess>();
  t.teardown(() => {
    for (const c of live) c.kill('SIGKILL');
  });
  let generation = 0;
  const services = await Promise.all(
    ['s0', 's1', 's2'].map((id) => startService(reg.url, `${id}-g0`, live)),
  );
  const { port, gateway } = await startGateway(
    t,
    reg.url,
    simpleTable([route('rolling', 'rolling')]),
  );
  await eventually(() => gateway.pools()[0]?.size === 3, { what: 'three instances in the pool' });

  const agent = new Agent({ keepAlive: true, maxSockets: WORKERS });
  t.teardown(() => agent.destroy());
  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const seen = new Set<string>();
  const started = Date.now();
  const workers = Array.from({ length: WORKERS }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      const due = started + ((i * WORKERS + w) * 1000) / TARGET_RPS;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      try {
        const r = await httpRequest(port, { path: `/r/${w}/${i}`, agent });
        if (r.status === 200) {
          ok++;
          seen.add(JSON.parse(r.body).id);
        } else failures.push(`${r.status} ${r.body}`);
      } catch (err) {
        failures.push(String(err));
      }
    }
  });

  await new Promise((resolve) => setTimeout(resolve, 2000));
  for (let i = 0; i < services.length; i++) {
    generation++;
    const old = services[i]!;
    const replacement = await startService(reg.url, `s${i}-g${generation}`, live);
    await eventually(() => gateway.pools()[0]?.members.some((m) => m.id === replacement.id), {
      what: `${replacement.id} in the pool`,
    });
    const code = await old.stop();
    t.equal(code, 0, `${old.id} drained and exited cleanly`);
    services[i] = replacement;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  stop = true;
  await Promise.all(workers);
  const seconds = (Date.now() - started) / 1000;
  t.comment(`${ok} requests in ${seconds.toFixed(1)} s (${Math.round(ok / seconds)}/s)`);
  t.same(failures.slice(0, 5), [], 'no failed request');
  t.equal(failures.length, 0, `0 failures of ${ok + failures.length}`);
  t.ok(ok / seconds > TARGET_RPS * 0.6, 'the load was kept up');
  t.ok(seen.size >= 6, `every generation served (${[...seen].sort().join(' ')})`);
  for (const s of services) await s.stop();
});
