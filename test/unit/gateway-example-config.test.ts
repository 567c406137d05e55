/**
 * docs/examples/gateway.yaml is valid: it parses, validates (its certificate and token files
 * are placeholders, so their existence is not checked) and its route table builds with the
 * real plugins. docs/gateway.md documents every top-level key the loader accepts.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { parseConfigText, validateConfig } from '../../gateway/config.js';
import { pluginFactories } from '../../gateway/plugins/index.js';
import { ROUTE_META_FIELDS } from '../../gateway/route-metadata.js';
import { RouteTableBuilder } from '../../gateway/route-table.js';

const example = new URL('../../docs/examples/gateway.yaml', import.meta.url);
const doc = readFileSync(new URL('../../docs/gateway.md', import.meta.url), 'utf8');

t.test('the example config loads and builds', async (t) => {
  const raw = parseConfigText(readFileSync(example, 'utf8'), 'docs/examples/gateway.yaml');
  const config = validateConfig(raw, { skipFileChecks: true });
  t.equal(config.routes.length, 4);
  t.equal(config.listeners[1]?.tls?.cert, '/etc/roster/tls/gateway.pem');
  const builder = new RouteTableBuilder({ factories: pluginFactories });
  const { table, report } = builder.build({
    fileRoutes: config.routes,
    defaults: config.defaults,
    registryRoutes: config.registryRoutes,
    registry: { routes: [], errors: [], disagreements: [] },
  });
  t.same(
    report.routes.map((r) => [r.name, r.plugins]),
    [
      ['api-users', ['ip-filter', 'jwt', 'rate-limit', 'body-limit']],
      ['orders-by-id', ['ip-filter', 'rate-limit', 'body-limit']],
      ['partner-catalog', ['ip-filter', 'cors', 'api-key', 'rate-limit', 'body-limit']],
      ['health', ['body-limit']],
    ],
  );
  t.equal(table.match('api.example.com', 'GET', '/v1/orders/42', {})?.upstreamPath, '/orders/42');
  t.equal(table.match('api.example.com', 'GET', '/v1/users/7', {})?.upstreamPath, '/users/7');
  t.equal(
    table.match('x.partners.example.com', 'GET', '/catalog/items', { 'x-api-version': '2' })
      ?.upstreamPath,
    '/items',
  );
  table.close();
  builder.close();
});

t.test('docs/gateway.md documents every key and metadata field', async (t) => {
  const config = validateConfig(parseConfigText(readFileSync(example, 'utf8')), {
    skipFileChecks: true,
  });
  for (const section of Object.keys(config)) {
    t.match(doc, new RegExp(`\`${section}\``), `section ${section}`);
  }
  for (const field of ROUTE_META_FIELDS) {
    t.match(doc, `roster.route.${field}`, `metadata field ${field}`);
  }
});
