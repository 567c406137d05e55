/**
 * scripts/cluster: the compose topology on localhost. It starts 3 routed nats-servers (with the
 * sample permissions), 3 nodes, 2 gateways and 2 demo services, both gateways route to both
 * services, and Ctrl-C stops all of it with exit 0, leaving every port free again.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { type ProcessExit, watchExit } from '../../cli/nats-server-process.js';
import { REPO_ROOT } from '../helpers/node-process.js';

const BASE_PORTS = [
  4222, 4223, 4224, 6222, 6223, 6224, 8222, 8223, 8224, 8500, 8501, 8502, 9100, 9101, 9102, 8080,
  8081, 9901, 9902, 9000, 9001, 9002, 9010, 9011, 9012,
];

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host: '127.0.0.1', port, exclusive: true }, () =>
      probe.close(() => resolve(true)),
    );
  });
}

/**
 * The lowest port the kernel hands out for port 0 and outgoing connections. Tests running in
 * parallel take such ports at any moment, so the cluster's fixed ports stay below it: a range
 * found free there stays free unless someone binds it by number.
 */
function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/);
    const value = Number(low);
    if (Number.isInteger(value) && value > 0) return value;
  } catch {
    // not Linux: use the kernel's usual default below
  }
  return 32_768;
}

async function freeOffset(): Promise<number> {
  const highest = Math.max(...BASE_PORTS);
  const steps = Math.floor((ephemeralLow() - 1 - highest - 10_000) / 100) + 1;
  if (steps < 1) throw new Error('no port range below the ephemeral ports for scripts/cluster');
  for (let attempt = 0; attempt < 50; attempt++) {
    const offset = 10_000 + Math.floor(Math.random() * steps) * 100;
    const free = await Promise.all(BASE_PORTS.map((p) => isPortFree(p + offset)));
    if (free.every(Boolean)) return offset;
  }
  throw new Error('no free port range for scripts/cluster');
}

t.test('scripts/cluster starts the topology and Ctrl-C stops it', async (t) => {
  const offset = await freeOffset();
  const child: ChildProcess = spawn(
    join(REPO_ROOT, 'scripts', 'cluster'),
    ['--port-offset', String(offset), '--log-level', 'warn'],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  const { exited, hasExited } = watchExit(child);
  t.teardown(async () => {
    if (!hasExited()) {
      child.kill('SIGINT');
      await Promise.race([exited, sleep(30_000)]);
      if (!hasExited()) child.kill('SIGKILL');
    }
  });

  const deadline = Date.now() + 90_000;
  while (!out.includes('Press Ctrl-C to stop.')) {
    if (hasExited()) {
      const exit: ProcessExit = await exited;
      t.fail(`scripts/cluster ${exit.description} before it was up:\n${out}`);
      return;
    }
    if (Date.now() > deadline) {
      t.fail(`scripts/cluster was not up within 90 s:\n${out}`);
      return;
    }
    await sleep(100);
  }
  t.match(out, /registry nodes ready: node-1, node-2, node-3/);
  t.match(out, /gateways ready: /);
  t.match(out, /demo services registered: payments \(3 instances\), orders \(3 instances\)/);

  const seen = new Set<string>();
  for (const [gateway, service] of [
    [8080, 'payments'],
    [8081, 'payments'],
    [8080, 'orders'],
    [8081, 'orders'],
    [8080, 'payments'],
    [8080, 'payments'],
  ] as const) {
    const response = await fetch(`http://127.0.0.1:${gateway + offset}/${service}/hi`);
    t.equal(response.status, 200, `gateway :${gateway + offset} routes /${service}`);
    const body = (await response.json()) as { service: string; instance: string };
    t.equal(body.service, service);
    seen.add(body.instance);
  }
  t.ok(seen.size >= 4, `requests spread over instances (${[...seen].join(', ')})`);

  child.kill('SIGINT');
  const exit = await exited;
  t.equal(exit.code, 0, `Ctrl-C: exit 0 (${exit.description})`);
  t.match(out, /stopped; nothing left running/);
  const free = await Promise.all(BASE_PORTS.map((p) => isPortFree(p + offset)));
  t.same(
    BASE_PORTS.filter((_, i) => !free[i]).map((p) => p + offset),
    [],
    'every port is free again',
  );
});
