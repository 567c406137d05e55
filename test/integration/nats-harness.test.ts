/**
 * Tests of the real-NATS harness itself (test/helpers/nats-server.ts), over plain TCP sockets so
 * that they depend on nothing but nats-server.
 */

import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import {
  type NatsServerHandle,
  natsClusterFor,
  natsServerFor,
  startNatsServer,
} from '../helpers/nats-server.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

interface Info {
  server_id: string;
  port: number;
  auth_required?: boolean;
  jetstream?: boolean;
  connect_urls?: string[];
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Connects, reads the first protocol line, which must be `INFO {...}`, and returns its JSON. */
async function readInfo(port: number): Promise<Info> {
  const socket = await openSocket(port);
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let buffer = '';
      const timer = setTimeout(() => reject(new Error(`no INFO line: ${buffer}`)), 5_000);
      socket.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        const end = buffer.indexOf('\r\n');
        if (end >= 0) {
          clearTimeout(timer);
          resolve(buffer.slice(0, end));
        }
      });
      socket.once('error', reject);
    });
    if (!line.startsWith('INFO ')) throw new Error(`expected an INFO banner, got ${line}`);
    return JSON.parse(line.slice('INFO '.length)) as Info;
  } finally {
    socket.destroy();
  }
}

async function routeCount(server: NatsServerHandle): Promise<number> {
  const response = await fetch(`${server.monitorUrl}/routez`);
  const body = (await response.json()) as { num_routes: number };
  return body.num_routes;
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

t.test('start and stop leave no process behind', async (t) => {
  const server = await startNatsServer({ jetstream: false });
  t.teardown(() => server.stop());
  const pid = server.pid;
  t.ok(pid !== undefined && pid > 0, 'has a pid');
  t.ok(server.running, 'running');
  t.match(server.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  t.equal(server.url, `nats://127.0.0.1:${server.port}`);
  t.ok(isAlive(pid!), 'process is alive');

  const info = await readInfo(server.port);
  t.equal(info.port, server.port, 'INFO banner names the same port');

  await server.stop();
  t.notOk(server.running, 'not running after stop');
  t.notOk(isAlive(pid!), 'process is gone (ESRCH)');
  t.equal(server.pid, pid, 'pid still names the last process');
  await server.stop();
  t.pass('stop() is idempotent');
  await t.rejects(openSocket(server.port), 'nothing listens on the port any more');
  t.match(server.logs(), /Server Exiting/, 'graceful shutdown was logged');
});

t.test('restart keeps the port and serves INFO again', async (t) => {
  const server = await natsServerFor(t);
  const { port, url } = server;
  const firstPid = server.pid!;
  const before = await readInfo(port);

  await server.restart();
  t.ok(server.running, 'running after restart');
  t.equal(server.port, port, 'same port');
  t.equal(server.url, url, 'same url');
  t.not(server.pid, firstPid, 'a new process');
  t.notOk(isAlive(firstPid), 'the old process is gone');
  const after = await readInfo(port);
  t.equal(after.port, port);
  t.not(after.server_id, before.server_id, 'a new server instance answers');
  t.match(server.logs(), /--- restart #1 ---/, 'logs span restarts');

  await server.stop();
  await server.restart();
  t.ok(server.running, 'restart() also starts a stopped server');
  t.equal((await readInfo(port)).port, port);
});

t.test('kill() simulates a crash', async (t) => {
  const server = await natsServerFor(t, { jetstream: false });
  const pid = server.pid!;
  const socket = await openSocket(server.port);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  // Read (and drop) the INFO line: a paused socket with unread data never emits 'close'.
  socket.resume();

  await server.kill();
  t.notOk(server.running, 'not running');
  t.notOk(isAlive(pid), 'process is gone');
  await closed;
  t.pass('connected clients see the connection drop');
  t.notMatch(server.logs(), /Server Exiting/, 'no graceful shutdown');

  await server.restart();
  t.equal((await readInfo(server.port)).port, server.port, 'back after a crash on the same port');
});

t.test('options: config text, jetstream, args', async (t) => {
  const plain = await natsServerFor(t, { jetstream: false });
  t.notOk((await readInfo(plain.port)).jetstream, 'jetstream: false turns JetStream off');

  const withJs = await natsServerFor(t);
  t.ok((await readInfo(withJs.port)).jetstream, 'JetStream on by default');

  const secured = await natsServerFor(t, {
    jetstream: false,
    config: 'authorization { token: "s3cret" }\n',
  });
  t.ok((await readInfo(secured.port)).auth_required, 'config text is applied');

  const named = await natsServerFor(t, { jetstream: false, args: ['--server_name', 'harness-x'] });
  const varz = (await (await fetch(`${named.monitorUrl}/varz`)).json()) as { server_name: string };
  t.equal(varz.server_name, 'harness-x', 'extra args are passed through');
});

t.test('logs are bounded to about 64 KiB', async (t) => {
  const server = await natsServerFor(t, { jetstream: false, args: ['-V'] });
  const socket = await openSocket(server.port);
  t.teardown(() => socket.destroy());
  socket.on('error', () => {});
  const payload = 'x'.repeat(1000);
  let commands = 'CONNECT {"verbose":false,"pedantic":false}\r\n';
  for (let i = 0; i < 300; i++) commands += `PUB harness.fill ${payload.length}\r\n${payload}\r\n`;
  commands += 'PUB harness.last 4\r\ndone\r\nPING\r\n';
  socket.write(commands);

  await waitFor(() => server.logs().includes('harness.last'), 'the last traced PUB');
  const logs = server.logs();
  t.ok(logs.length <= 64 * 1024, `bounded (${logs.length} chars)`);
  t.ok(logs.length > 32 * 1024, 'keeps the recent part');
  t.notMatch(logs, /Starting nats-server/, 'the oldest lines were dropped');
});

t.test('an early exit rejects with the server log', async (t) => {
  const err = await startNatsServer({ args: ['--bogus'] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof Error, 'rejects');
  t.match((err as Error).message, /exited with code \d+ before it was ready/);
  t.match((err as Error).message, /flag provided but not defined: -bogus/, 'includes the log');

  const holder = await natsServerFor(t, { jetstream: false });
  await t.rejects(
    startNatsServer({ port: holder.port, jetstream: false }),
    /address already in use/,
    'a taken port fails with the reason from the log',
  );
});

t.test('a 3-server cluster forms routes and survives a member restart', async (t) => {
  const cluster = await natsClusterFor(t, 3);
  t.equal(cluster.servers.length, 3);
  t.same(
    cluster.urls,
    cluster.servers.map((server) => server.url),
  );
  t.equal(new Set(cluster.urls).size, 3, 'distinct client ports');
  for (const server of cluster.servers) {
    t.ok((await routeCount(server)) >= 2, `${server.url} has routes to both peers`);
    t.ok(server.clusterUrl !== undefined, 'has a cluster url');
  }
  const info = await readInfo(cluster.servers[0]!.port);
  t.equal(info.connect_urls?.length, 3, 'clients are told about every member');

  const member = cluster.servers[1]!;
  const { port, clusterUrl } = member;
  await member.kill();
  await member.restart();
  t.equal(member.port, port, 'same client port after restart');
  t.equal(member.clusterUrl, clusterUrl, 'same cluster port after restart');
  for (const server of cluster.servers) {
    t.ok((await routeCount(server)) >= 2, `${server.url} routes re-formed`);
  }

  const pids = cluster.servers.map((server) => server.pid!);
  await cluster.stop();
  t.ok(
    pids.every((pid) => !isAlive(pid)),
    'cluster.stop() leaves no process',
  );
});

/** Runs a node process that starts a server, prints its pid, then ends as `how` says. */
async function orphanCheck(how: 'throw' | 'SIGTERM' | 'SIGKILL'): Promise<number> {
  const helper = new URL('../helpers/nats-server.ts', import.meta.url).href;
  const code = [
    `import { startNatsServer } from ${JSON.stringify(helper)};`,
    'const server = await startNatsServer({ jetstream: false });',
    'console.log(String(server.pid));',
    how === 'throw'
      ? 'setTimeout(() => { throw new Error("test crashed"); }, 10);'
      : `setTimeout(() => process.kill(process.pid, ${JSON.stringify(how)}), 10);`,
    'setInterval(() => {}, 1000);',
  ].join('\n');
  const child = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  await new Promise<void>((resolve) => child.once('close', () => resolve()));
  const pid = Number.parseInt(out.trim(), 10);
  if (!Number.isInteger(pid)) throw new Error(`child printed no pid: ${out} ${err}`);
  return pid;
}

for (const how of ['throw', 'SIGTERM', 'SIGKILL'] as const) {
  t.test(`no nats-server survives a test process that dies by ${how}`, async (t) => {
    const pid = await orphanCheck(how);
    await waitFor(() => !isAlive(pid), `nats-server ${pid} to go away`);
    t.pass(`nats-server ${pid} is gone`);
  });
}

t.test('natsServerFor stops the server in teardown', async (t) => {
  const teardowns: (() => unknown)[] = [];
  const server = await natsServerFor(
    { teardown: (fn) => teardowns.push(fn) },
    { jetstream: false },
  );
  t.teardown(() => server.stop());
  t.equal(teardowns.length, 1, 'registered one teardown');
  const pid = server.pid!;
  await teardowns[0]!();
  t.notOk(isAlive(pid), 'stopped by the teardown');
});
