/**
 * The node's OpenAPI document and its HTTP server agree: every route the server answers is
 * in the document with the same method, and every documented operation is answered by a
 * route (a request to it never gets the router's "no route" 404). Security matches access:
 * open routes document `security: []`, routes that may be public by option document an
 * optional token, every other route inherits the bearer requirement. Every `$ref` resolves.
 * Also: a node that has not caught up answers 503 ROSTER_ERR_NOT_READY.
 */
import t from 'tap';
import { openApiDocument, startNodeHttpServer } from '../../nodes/http/index.js';
import { RegistryNode } from '../../nodes/index.js';
import { createMemoryBuses } from '../../transport/memory-bus.js';

type Json = Record<string, unknown>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

function operations(doc: Json): Array<{ method: string; path: string; op: Json }> {
  const out: Array<{ method: string; path: string; op: Json }> = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const m of METHODS) {
      const op = item[m];
      if (op) out.push({ method: m.toUpperCase(), path, op: op as Json });
    }
  }
  return out;
}

t.test('every server route is documented, and every documented operation is served', async (t) => {
  const { buses } = createMemoryBuses(1);
  const bus = buses[0]!;
  const node = new RegistryNode(bus, { id: 'openapi-node', heartbeatMs: 50, discoveryMs: 20 });
  t.teardown(async () => {
    await node.close();
    await bus.close();
  });
  const server = await startNodeHttpServer({ node, bus, port: 0, host: '127.0.0.1' });
  t.teardown(() => server.close());

  // Not ready yet: the registry answers 503, probes say so, the document is still served.
  const notReady = await fetch(`${server.url}/v1/services`);
  t.equal(notReady.status, 503, 'GET /v1/services before ready: 503');
  t.equal(((await notReady.json()) as Json).code, 'ROSTER_ERR_NOT_READY');
  t.equal((await fetch(`${server.url}/readyz`)).status, 503, '/readyz: 503');
  t.equal((await fetch(`${server.url}/v1/health`)).status, 503, '/v1/health: 503');
  await node.start();
  t.equal((await fetch(`${server.url}/readyz`)).status, 200, '/readyz: 200 once ready');

  const doc = openApiDocument();
  t.equal(doc.openapi, '3.1.0');
  const documented = operations(doc);
  const key = (r: { method: string; path: string }) => `${r.method} ${r.path}`;
  t.same(
    documented.map(key).sort(),
    server.routes.map(key).sort(),
    'the same set of METHOD /path in the document and in the server',
  );

  const ids = documented.map((d) => d.op.operationId);
  t.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  for (const d of documented) {
    t.ok(d.op.responses && Object.keys(d.op.responses as Json).length > 0, `${key(d)} responses`);
    const route = server.routes.find((r) => key(r) === key(d))!;
    if (route.access === 'open') t.same(d.op.security, [], `${key(d)}: open`);
    else if (route.access === 'api') t.equal(d.op.security, undefined, `${key(d)}: token`);
    else t.same(d.op.security, [{}, { bearerAuth: [] }], `${key(d)}: public by option`);
  }

  // Every $ref points at a schema that exists.
  const schemas = (doc.components as { schemas: Json }).schemas;
  const refs = JSON.stringify(doc).match(/"#\/components\/schemas\/[A-Za-z]+"/g) ?? [];
  for (const ref of new Set(refs)) {
    const name = ref.slice('"#/components/schemas/'.length, -1);
    t.ok(Object.hasOwn(schemas, name), `${ref} resolves`);
  }

  // The served document is this one; every documented operation reaches a route.
  const served = await fetch(`${server.url}/openapi.json`);
  t.same(await served.json(), doc, '/openapi.json serves the document');
  for (const d of documented) {
    const path = d.path.replace('{name}', 'svc').replace(/\{id\}/g, 'x-1');
    const res = await fetch(`${server.url}${path}`, { method: d.method, redirect: 'manual' });
    const text = await res.text();
    t.notOk(
      res.status === 404 && text.includes('no route'),
      `${key(d)} is answered by a route (${res.status})`,
    );
  }
});
