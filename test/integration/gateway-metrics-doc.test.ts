/**
 * The "## Gateway" section of docs/metrics.md and the metrics of a running gateway agree:
 * a real nats-server, a `roster node` process and a `roster gateway --config …` process
 * (as an operator runs them), with upstream HTTP servers registered through a RosterClient.
 * After a little traffic (a proxied request, a 404, a plugin rejection, a refused target, an
 * upstream connect error, a WebSocket upgrade rejected by a plugin, a SIGHUP reload), the admin
 * API's GET /metrics is scraped and:
 *
 * - every metric it declares (`# TYPE`) is a row of the Gateway section, with that type;
 * - every row of the Gateway section is declared;
 * - every series of a metric has exactly the label names its row lists (histograms: `le` on
 *   `_bucket` besides);
 * - every metric has at least one series, except those whose row says "on demand" (the drop
 *   counter, which has none until a series is dropped).
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { connect } from '../../client/client.js';
import { hashApiKey } from '../../gateway/plugins/api-key.js';
import { eventually } from '../helpers/eventually.js';
import { type DocRow, declared, documented } from '../helpers/metrics-doc.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { nodeProcessFor, REPO_ROOT, startCli } from '../helpers/node-process.js';
import { promSeries } from '../helpers/watch-log.js';

const TOKEN = 'metrics-doc-admin-token-0123456789';
const SECTION = 'Gateway';

/** The sample lines of `name` (for a histogram: its `_bucket`, `_sum` and `_count` lines). */
function samples(text: string, name: string, type: string): Record<string, string>[] {
  const names = type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
  return names.flatMap((n) =>
    promSeries(text, n).map(([labels]) => {
      if (n.endsWith('_bucket')) {
        const { le: _le, ...rest } = labels;
        return rest;
      }
      return labels;
    }),
  );
}

function value(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels);
  const hit = promSeries(text, name).find(
    ([l]) => Object.keys(l).length === want.length && want.every(([k, v]) => l[k] === v),
  );
  return hit?.[1] ?? 0;
}

interface Reply {
  readonly status: number;
  readonly body: string;
}

/** A request on a fresh connection; `path` is sent as written (no URL normalization). */
function send(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method, headers, agent: false },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** An upstream answering `echo <path>`. */
async function upstream(t: Test): Promise<number> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`echo ${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function yamlConfig(natsUrl: string): string {
  return [
    'gateway:',
    '  id: gw-metrics-doc',
    '  shutdownGraceMs: 2000',
    'listeners:',
    '  - { port: 0, host: 127.0.0.1 }',
    'nats:',
    `  servers: [${natsUrl}]`,
    'admin:',
    '  port: 0',
    '  host: 127.0.0.1',
    `  token: ${TOKEN}`,
    'accessLog:',
    '  path: access.log',
    'registryRoutes:',
    '  resyncMs: 2000',
    'routes:',
    '  - name: echo',
    '    match: { path: { prefix: /echo } }',
    '    service: echo',
    '    stripPrefix: true',
    '  - name: guarded',
    '    match: { path: { prefix: /guarded } }',
    '    service: echo',
    '    plugins:',
    '      api-key:',
    `        keys: [{ consumer: doc, hash: "${hashApiKey('metrics-doc-api-key-0123456789')}" }]`,
    '  - name: dead',
    '    match: { path: { prefix: /dead } }',
    '    service: dead',
  ].join('\n');
}

t.test('docs/metrics.md "## Gateway" and the metrics of a running gateway agree', async (t) => {
  const server = await natsServerFor(t);
  await nodeProcessFor(t, { natsUrl: server.url, id: 'gmd-node-1' });

  const echoPort = await upstream(t);
  const deadPort = await closedPort();
  const services = await connect({ servers: server.url, name: 'gmd-upstreams' });
  t.teardown(() => services.close());
  await services.register({ service: 'echo', id: 'echo-1', host: '127.0.0.1', port: echoPort });
  await services.register({ service: 'dead', id: 'dead-1', host: '127.0.0.1', port: deadPort });

  const dir = mkdtempSync(join(tmpdir(), 'roster-gmd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, yamlConfig(server.url));

  const gw = startCli(['gateway', '--config', file, '--log-level', 'info']);
  t.teardown(() => gw.kill('SIGKILL'));
  const started = await gw.waitForOutput(/^(\{.*"msg":"gateway started".*\})$/m);
  const line = JSON.parse(started[1]!) as { listeners: { port: number }[]; adminPort: number };
  const port = line.listeners[0]!.port;
  const admin = `http://127.0.0.1:${line.adminPort}`;
  const scrape = async (): Promise<string> => {
    const res = await fetch(`${admin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
    return res.text();
  };

  // Traffic, so that the labelled series exist.
  const ok = await eventually(
    async () => {
      const r = await send(port, '/echo/hello');
      return r.status === 200 ? r : undefined;
    },
    { what: 'a proxied request through the echo route', timeoutMs: 15_000 },
  );
  t.equal(ok.body, 'echo /hello', 'proxied, prefix stripped');
  t.equal((await send(port, '/nowhere')).status, 404, 'no route: 404');
  t.equal((await send(port, '/guarded/x')).status, 401, 'api-key without a key: 401');
  t.equal((await send(port, '/echo/a%2Fb')).status, 400, 'an encoded slash is refused: 400');
  t.equal((await send(port, '/dead/x')).status, 502, 'upstream refuses connections: 502');
  const upgrade = await send(port, '/guarded/ws', {
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-version': '13',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  });
  t.equal(upgrade.status, 401, 'a WebSocket upgrade rejected by api-key: 401');
  process.kill(gw.pid, 'SIGHUP');

  const text = await eventually(
    async () => {
      const s = await scrape();
      return value(s, 'roster_gateway_config_reloads_total', { result: 'ok', trigger: 'signal' }) >=
        1
        ? s
        : undefined;
    },
    { what: 'the SIGHUP reload in the metrics', timeoutMs: 10_000 },
  );

  await t.test('the traffic made the series it should', async (t) => {
    const has = (name: string, labels: Record<string, string>) =>
      t.ok(value(text, name, labels) >= 1, `${name}${JSON.stringify(labels)} >= 1`);
    has('roster_gateway_requests_total', { route: 'echo', status_class: '2xx' });
    has('roster_gateway_requests_total', { route: '', status_class: '4xx' });
    has('roster_gateway_requests_total', { route: 'guarded', status_class: '4xx' });
    has('roster_gateway_requests_total', { route: 'dead', status_class: '5xx' });
    has('roster_gateway_request_duration_seconds_count', { route: 'echo' });
    has('roster_gateway_upstream_duration_seconds_count', { service: 'echo' });
    t.equal(
      value(text, 'roster_gateway_plugin_rejections_total', {
        plugin: 'api-key',
        reason: 'api_key_missing',
      }),
      2,
      'two api-key rejections (a request and an upgrade)',
    );
    has('roster_gateway_refused_total', { reason: 'encoded_slash' });
    has('roster_gateway_upstream_errors_total', { service: 'dead', kind: 'connect' });
    has('roster_gateway_websocket_upgrades_total', { route: 'guarded', outcome: 'rejected' });
    has('roster_gateway_route_table_builds_total', { result: 'ok', cause: 'start' });
    has('roster_gateway_route_table_builds_total', { result: 'ok', cause: 'config' });
    has('roster_gateway_pool_size', { service: 'echo' });
    has('roster_gateway_pool_size', { service: 'dead' });
    t.equal(value(text, 'roster_gateway_routes', { source: 'file' }), 3, 'three file routes');
  });

  const exposed = declared(text);
  const doc = documented(readFileSync(join(REPO_ROOT, 'docs', 'metrics.md'), 'utf8'));
  const rows = doc.get(SECTION);
  t.ok(rows, `docs/metrics.md has a "## ${SECTION}" section`);
  // The gateway process also serves the process gauges, documented once under "## Process".
  const section = new Map([
    ...(doc.get('Process') ?? new Map<string, DocRow>()),
    ...(rows ?? new Map<string, DocRow>()),
  ]);
  t.ok(exposed.size > 20, `${exposed.size} metrics exposed`);

  await t.test('every exposed metric is documented, with its type', async (t) => {
    for (const [name, type] of exposed) {
      t.equal(section.get(name)?.type, type, `${name} (${type}) is in the ${SECTION} section`);
    }
  });

  await t.test('every documented metric is exposed', async (t) => {
    t.ok(section.size > 0, 'the section lists metrics');
    for (const name of section.keys()) {
      t.ok(exposed.has(name), `${name} (documented under ${SECTION}) is exposed`);
    }
    const gatewayNames = [...exposed.keys()].filter((n) => n.startsWith('roster_gateway_'));
    t.ok(gatewayNames.length >= 20, `${gatewayNames.length} roster_gateway_* metrics`);
  });

  await t.test('series carry the documented labels; only on-demand metrics lack one', async (t) => {
    for (const [name, type] of exposed) {
      const row = section.get(name);
      if (row === undefined) continue; // reported by the first subtest
      const lines = samples(text, name, type);
      if (lines.length === 0) {
        t.ok(row.onDemand, `${name} has no series: its row must say "on demand"`);
        continue;
      }
      const seen = new Set(lines.map((l) => Object.keys(l).sort().join(',')));
      t.same([...seen], [row.labels.join(',')], `${name} labels: ${row.labels.join(', ')}`);
    }
  });
});
