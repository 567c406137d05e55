/**
 * The gateway's control plane as an operator runs it: a real nats-server, a registry node
 * process and `roster gateway --config gateway.yaml` as a process, with upstream HTTP servers
 * registered through a RosterClient.
 *
 * - a service declaring `roster.route.path-prefix` in its metadata is reachable through the
 *   gateway, and a file route to another service too;
 * - the admin API requires the token;
 * - saving a changed file swaps the routes while a request is in flight on a keep-alive
 *   connection: that request completes, and the next one reuses the same connection;
 * - a file with conflicting routes is refused: the old routes keep serving and /routes and
 *   /config/errors report the error; fixing the file applies it; SIGHUP reloads too;
 * - a registry route that conflicts with a file route is dropped and reported;
 * - the gateway registers itself as `roster-gateway`; SIGTERM deregisters it and exits 0.
 */

import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { connect } from '../../client/client.js';
import { eventually } from '../helpers/eventually.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { nodeProcessFor, runCli, startCli } from '../helpers/node-process.js';

const TOKEN = 'integration-admin-token-0123456789';

interface Reply {
  status: number;
  body: string;
  reusedSocket: boolean;
}

function get(
  port: number,
  path: string,
  agent?: Agent,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: 'GET', headers, ...(agent ? { agent } : {}) },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            reusedSocket: req.reusedSocket,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** An upstream that answers `<name> <path>`; `/slow?ms=N` waits N ms first. */
async function upstream(t: Test, name: string): Promise<number> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const ms = url.pathname.endsWith('/slow') ? Number(url.searchParams.get('ms') ?? 0) : 0;
    setTimeout(() => {
      res.setHeader('content-type', 'text/plain');
      res.end(`${name} ${url.pathname}`);
    }, ms);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

function yamlConfig(natsUrl: string, routes: string): string {
  return [
    'gateway:',
    '  id: gw-it-1',
    '  shutdownGraceMs: 5000',
    'listeners:',
    '  - { port: 0, host: 127.0.0.1 }',
    'nats:',
    `  servers: [${natsUrl}]`,
    'admin:',
    '  port: 0',
    `  token: ${TOKEN}`,
    'registryRoutes:',
    '  resyncMs: 2000',
    'routes:',
    routes,
  ].join('\n');
}

const ORDERS_V1 = `  - name: orders
    match: { path: { prefix: /v1/orders } }
    service: orders
    stripPrefix: true`;
const ORDERS_V2 = `  - name: orders
    match: { path: { prefix: /v2/orders } }
    service: orders
    stripPrefix: true`;
const CONFLICTING = `${ORDERS_V2}
  - name: orders-copy
    match: { path: { prefix: /v2/orders/ } }
    service: orders`;

t.test('gateway control plane end to end', async (t) => {
  const server = await natsServerFor(t);
  await nodeProcessFor(t, { natsUrl: server.url, id: 'gcp-node-1' });

  const usersPort = await upstream(t, 'users');
  const ordersPort = await upstream(t, 'orders');
  const shadowPort = await upstream(t, 'shadow');
  const services = await connect({ servers: server.url, name: 'gcp-upstreams' });
  t.teardown(() => services.close());
  await services.register({
    service: 'users',
    id: 'users-1',
    host: '127.0.0.1',
    port: usersPort,
    meta: { 'roster.route.path-prefix': '/users' },
  });
  await services.register({
    service: 'orders',
    id: 'orders-1',
    host: '127.0.0.1',
    port: ordersPort,
  });

  const dir = mkdtempSync(join(tmpdir(), 'roster-gcp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gateway.yaml');
  /** Saves like an editor: write a temp file, rename it over the config. */
  const save = (text: string) => {
    const tmp = join(dir, `.gateway.yaml.${Date.now()}`);
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  };
  save(yamlConfig(server.url, ORDERS_V1));

  const gw = startCli(['gateway', '--config', file, '--log-level', 'info']);
  t.teardown(() => gw.kill('SIGKILL'));
  const started = await gw.waitForOutput(/^(\{.*"msg":"gateway started".*\})$/m);
  const line = JSON.parse(started[1]!) as { listeners: { port: number }[]; adminPort: number };
  const port = line.listeners[0]!.port;
  const admin = `http://127.0.0.1:${line.adminPort}`;
  const adminGet = async (path: string, token: string | undefined = TOKEN) => {
    const res = await fetch(
      `${admin}${path}`,
      token ? { headers: { authorization: `Bearer ${token}` } } : {},
    );
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  await t.test('the admin API requires the token', async (t) => {
    for (const path of ['/routes', '/pools', '/ready', '/health', '/metrics', '/config/errors']) {
      t.equal((await fetch(`${admin}${path}`)).status, 401, `${path} without a token`);
      t.equal(
        (
          await fetch(`${admin}${path}`, {
            headers: { authorization: 'Bearer not-the-token-0123456789' },
          })
        ).status,
        401,
        `${path} with a wrong token`,
      );
    }
    const health = await adminGet('/health');
    t.equal(health.status, 200);
    t.equal(health.json.gateway, 'gw-it-1');
  });

  await t.test('registry and file routes are reachable', async (t) => {
    await eventually(async () => (await adminGet('/ready')).status === 200, {
      what: 'gateway ready',
      timeoutMs: 15_000,
    });
    const users = await eventually(
      async () => {
        const r = await get(port, '/users/42');
        return r.status === 200 ? r : undefined;
      },
      { what: 'the registry route /users', timeoutMs: 15_000 },
    );
    t.equal(users.body, 'users /users/42');
    const orders = await get(port, '/v1/orders/7');
    t.equal(orders.status, 200);
    t.equal(orders.body, 'orders /7', 'prefix stripped');
    t.equal((await get(port, '/nope')).status, 404);

    const routes = await adminGet('/routes');
    t.same(
      (routes.json.routes as { name: string; source: string; service: string }[]).map((r) => [
        r.name,
        r.source,
        r.service,
      ]),
      [
        ['orders', 'file', 'orders'],
        ['users:route', 'registry', 'users'],
      ],
    );
    t.equal(routes.json.configError, null);
    const pools = await adminGet('/pools');
    t.ok(
      (pools.json.pools as { service: string; size: number }[]).some(
        (p) => p.service === 'users' && p.size === 1,
      ),
      'the users pool has its instance',
    );
  });

  await t.test(
    'a saved route change keeps an in-flight keep-alive request and its connection',
    async (t) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      t.teardown(() => agent.destroy());
      const warm = await get(port, '/v1/orders/warm', agent);
      t.equal(warm.status, 200);
      const slow = get(port, '/v1/orders/slow?ms=1500', agent);
      await new Promise((r) => setTimeout(r, 200)); // the slow request is at the upstream now
      save(yamlConfig(server.url, ORDERS_V2));
      await eventually(
        async () => {
          const routes = (await adminGet('/routes')).json.routes as {
            match: { path: { prefix?: string } };
          }[];
          return routes.some((r) => r.match.path.prefix === '/v2/orders');
        },
        { what: 'the new route in the table', timeoutMs: 5_000 },
      );
      const inFlight = await slow;
      t.equal(inFlight.status, 200, 'the in-flight request completed');
      t.equal(inFlight.body, 'orders /slow');
      t.ok(inFlight.reusedSocket, 'it ran on the kept-alive connection');
      const after = await get(port, '/v2/orders/1', agent);
      t.equal(after.status, 200);
      t.equal(after.body, 'orders /1');
      t.ok(after.reusedSocket, 'the next request reused the same connection');
      t.equal((await get(port, '/v1/orders/1', agent)).status, 404, 'the old route is gone');
      const errors = await adminGet('/config/errors');
      t.match(errors.json.lastReload, { ok: true, trigger: 'file' });
    },
  );

  await t.test(
    'a conflicting file is refused and reported; fixing it applies; SIGHUP reloads',
    async (t) => {
      save(yamlConfig(server.url, CONFLICTING));
      const refused = await eventually(
        async () => {
          const r = await adminGet('/routes');
          return r.json.configError ? r : undefined;
        },
        { what: 'the refused reload on /routes', timeoutMs: 5_000 },
      );
      t.match(refused.json.configError, {
        code: 'ROSTER_ERR_CONFLICT',
        message: /routes\[1\] \(orders-copy\) conflicts with routes\[0\] \(orders\)/,
      });
      t.same(
        (refused.json.routes as { name: string }[]).map((r) => r.name),
        ['orders', 'users:route'],
        'the routes in effect are the old ones',
      );
      t.equal((await get(port, '/v2/orders/2')).status, 200, 'and still serve');
      const errors = await adminGet('/config/errors');
      t.match(errors.json.error, { code: 'ROSTER_ERR_CONFLICT' });
      const metrics = await (
        await fetch(`${admin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
      ).text();
      t.match(metrics, /roster_gateway_config_reloads_total\{result="failed",trigger="file"\} 1/);

      save(yamlConfig(server.url, ORDERS_V2.replace('/v2/orders', '/v3/orders')));
      await eventually(async () => (await get(port, '/v3/orders/3')).status === 200, {
        what: 'the fixed file applied',
        timeoutMs: 5_000,
      });
      t.equal((await adminGet('/routes')).json.configError, null);

      process.kill(gw.pid, 'SIGHUP');
      await eventually(
        async () =>
          ((await adminGet('/config/errors')).json.lastReload as { trigger?: string } | null)
            ?.trigger === 'signal',
        { what: 'a reload by SIGHUP', timeoutMs: 5_000 },
      );
      t.ok(gw.running, 'SIGHUP does not stop the gateway');
    },
  );

  await t.test(
    'a registry route conflicting with a file route is dropped and reported',
    async (t) => {
      await services.register({
        service: 'shadow',
        id: 'shadow-1',
        host: '127.0.0.1',
        port: shadowPort,
        meta: { 'roster.route.path-prefix': '/v3/orders' },
      });
      const problem = await eventually(
        async () =>
          (
            (await adminGet('/routes')).json.problems as {
              kind: string;
              route: string;
              conflictsWith?: string;
            }[]
          ).find((p) => p.route === 'shadow:route'),
        { what: 'the conflict report', timeoutMs: 5_000 },
      );
      t.match(problem, { kind: 'conflict', conflictsWith: 'orders' });
      t.equal((await get(port, '/v3/orders/4')).body, 'orders /4', 'the file route wins');
    },
  );

  await t.test('presence, then a graceful stop', async (t) => {
    const gateways = await eventually(
      async () => {
        const list = await services.discover('roster-gateway');
        return list.length === 1 ? list : undefined;
      },
      { what: 'the gateway registered', timeoutMs: 5_000 },
    );
    t.equal(gateways[0]?.id, 'gw-it-1');
    t.equal(gateways[0]?.port, line.adminPort, 'registered with its admin port');
    const exit = await gw.kill('SIGTERM');
    t.equal(exit.code, 0, `exit code 0 (${exit.description})`);
    t.match(gw.stdout(), /"msg":"gateway stopped"/);
    t.same(await services.discover('roster-gateway'), [], 'deregistered');
  });
});

t.test('bad configs are usage errors naming the key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-gcp-bad-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gateway.yaml');

  let r = await runCli(['gateway']);
  t.equal(r.code, 2, 'no --config');
  t.match(r.stderr, /--config/);

  writeFileSync(
    file,
    yamlConfig('nats://127.0.0.1:1', ORDERS_V1.replace('/v1/orders', 'v1/orders')),
  );
  r = await runCli(['gateway', '--config', file]);
  t.equal(r.code, 2, 'a bad key');
  t.match(
    r.stderr,
    /^error: .*gateway\.yaml: routes\[0\]\.match\.path\.prefix: must start with \//m,
  );

  writeFileSync(
    file,
    yamlConfig('nats://127.0.0.1:1', ORDERS_V1).replace('listeners:', 'listners:'),
  );
  r = await runCli(['gateway', '--config', file]);
  t.equal(r.code, 2, 'an unknown key');
  t.match(r.stderr, /listners: unknown key/);
});
