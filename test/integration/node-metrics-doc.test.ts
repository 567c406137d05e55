/**
 * docs/metrics.md lists every metric a running registry node registers, with the type the
 * node declares; and every metric of its "Process" and "Registry node" sections is one a
 * node registers (no stale rows). A `roster node` process with --http-port is scraped on its
 * API port (GET /metrics) and on --metrics-port: both serve the same registry.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { declared, documented } from '../helpers/metrics-doc.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { nodeProcessFor, REPO_ROOT } from '../helpers/node-process.js';

t.test('docs/metrics.md and the metrics of a running node agree', async (t) => {
  const server = await natsServerFor(t);
  const node = await nodeProcessFor(t, {
    natsUrl: server.url,
    id: 'metrics-doc',
    args: ['--http-port', '0', '--http-host', '127.0.0.1'],
  });
  const httpPort = Number(node.readyLine.httpPort);
  t.ok(httpPort > 0, 'the ready line reports the HTTP port');
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  t.equal(res.status, 200, 'GET /metrics on the API port');
  const fromApi = declared(await res.text());
  const fromMetricsPort = declared(await node.metrics());
  t.same(
    [...fromApi.keys()].sort(),
    [...fromMetricsPort.keys()].sort(),
    'both ports, one registry',
  );
  t.ok(fromApi.size > 20, `${fromApi.size} metrics registered`);

  const doc = documented(await readFile(join(REPO_ROOT, 'docs', 'metrics.md'), 'utf8'));
  const everywhere = new Map<string, string>();
  for (const rows of doc.values()) for (const [name, row] of rows) everywhere.set(name, row.type);
  for (const [name, type] of fromApi) {
    t.equal(everywhere.get(name), type, `${name} (${type}) is in docs/metrics.md`);
  }
  const nodeSections = ['Process', 'Registry node'];
  for (const section of nodeSections) t.ok(doc.has(section), `a "## ${section}" section`);
  for (const section of nodeSections) {
    for (const name of doc.get(section)?.keys() ?? []) {
      t.ok(fromApi.has(name), `${name} (documented under ${section}) is registered by a node`);
    }
  }
});
