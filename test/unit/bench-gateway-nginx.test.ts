/**
 * The gateway benchmark's nginx peers (scripts/bench/gateway.ts nginxConfig): `minimal` sets
 * Host and X-Forwarded-For only, and `forwarding` sets every field the gateway itself adds to an
 * upstream request (gateway/forwarding.ts), so that the two proxies do the same work when they
 * are compared. Should the gateway add a field, this fails until nginx's peer sets it too.
 */
import t from 'tap';
import { upstreamRequestHeaders } from '../../gateway/forwarding.js';
import { nginxConfig } from '../../scripts/bench/gateway.js';

/** The field names a config sets with proxy_set_header (lower-case). */
function setFields(config: string): Set<string> {
  const names = [...config.matchAll(/proxy_set_header\s+([^\s]+)\s/g)].map((m) =>
    m[1]!.toLowerCase(),
  );
  return new Set(names);
}

/** The names of the fields the gateway adds to a request that came with no fields but Host. */
function gatewayFieldNames(): string[] {
  const list = upstreamRequestHeaders(
    [],
    { host: 'example.test' },
    {
      chain: ['10.0.0.1'],
      trustedHops: 0,
      encrypted: false,
      requestId: 'a-request-id',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: undefined,
      upgrade: false,
    },
  );
  return list.filter((_, i) => i % 2 === 0);
}

t.test('the forwarding peer sets every field the gateway adds', async (t) => {
  const fields = setFields(nginxConfig('/tmp/x', 1, 2, 'forwarding'));
  const gateway = gatewayFieldNames();
  t.ok(gateway.length >= 6, `the gateway adds ${gateway.join(', ')}`);
  for (const name of gateway) t.ok(fields.has(name), `nginx sets ${name}`);
});

t.test('the minimal peer sets Host and X-Forwarded-For only', async (t) => {
  const fields = setFields(nginxConfig('/tmp/x', 1, 2, 'minimal'));
  t.same([...fields].sort(), ['connection', 'host', 'x-forwarded-for']);
});

t.test('the forwarding peer derives a 16-digit span id for traceparent', async (t) => {
  const config = nginxConfig('/tmp/x', 1, 2, 'forwarding');
  t.match(config, /map \$request_id \$span_id \{ "~\^\(\?<id>\[0-9a-f\]\{16\}\)" \$id; \}/);
  t.match(config, /traceparent 00-\$request_id-\$span_id-01;/);
});
