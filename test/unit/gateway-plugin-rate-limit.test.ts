import t from 'tap';
import {
  createRateLimitPlugin,
  ipKey,
  parseIPv6,
  rateLimitPluginFactory,
} from '../../gateway/plugins/rate-limit.js';
import type { Plugin } from '../../gateway/types.js';
import { expectRosterError } from '../helpers/expect-error.js';
import {
  type FakeRequestOptions,
  fakeEnv,
  fakeRequestContext,
  runSync,
} from '../helpers/fake-request-context.js';

interface Clock {
  ms: number;
  readonly now: () => number;
}
const clock = (): Clock => {
  const c = { ms: 1_000_000, now: () => c.ms };
  return c;
};

/** Sends n requests; returns how many passed. */
function send(plugin: Plugin, n: number, req: FakeRequestOptions = {}): number {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    if (runSync(plugin, fakeRequestContext(req)) === undefined) ok++;
  }
  return ok;
}

t.test('token bucket: burst, refill, headers, Retry-After', async (t) => {
  const c = clock();
  const plugin = createRateLimitPlugin({ limit: 10, windowSec: 1, key: 'ip' }, fakeEnv(), {
    now: c.now,
  });
  const seen: string[] = [];
  for (let i = 0; i < 10; i++) {
    const ctx = fakeRequestContext();
    t.equal(runSync(plugin, ctx), undefined, `request ${i + 1} allowed`);
    t.equal(ctx.responseHeaders['ratelimit-limit'], '10');
    seen.push(ctx.responseHeaders['ratelimit-remaining']!);
  }
  t.same(seen, ['9', '8', '7', '6', '5', '4', '3', '2', '1', '0'], 'Remaining counts down');
  const ctx = fakeRequestContext();
  const out = runSync(plugin, ctx);
  t.equal(out?.status, 429, '11th refused');
  t.equal(out?.reason, 'rate_limited');
  t.equal(out?.headers?.['retry-after'], '1', 'Retry-After rounds up to a whole second');
  t.equal(out?.headers?.['ratelimit-remaining'], '0');
  t.equal(out?.headers?.['ratelimit-reset'], '1', 'full again in 1 s');
  t.equal(ctx.responseHeaders['ratelimit-remaining'], '0', 'headers on the context too');
  t.match(JSON.parse(out?.body ?? '{}'), { error: { code: 'ROSTER_ERR_LIMIT_EXCEEDED' } });

  c.ms += 100;
  t.equal(send(plugin, 3), 1, 'one token back after 100 ms');
  c.ms += 250;
  t.equal(send(plugin, 5), 2, 'two and a half tokens after 250 ms');
  c.ms += 50;
  t.equal(send(plugin, 5), 1, 'the half token completes');
  c.ms += 60_000;
  t.equal(send(plugin, 50), 10, 'a long pause refills to the burst, not beyond');
});

t.test('burst differs from the sustained rate', async (t) => {
  const c = clock();
  const plugin = createRateLimitPlugin(
    { limit: 60, windowSec: 60, burst: 5, key: 'route' },
    fakeEnv(),
    {
      now: c.now,
    },
  );
  t.equal(send(plugin, 20), 5, 'burst of 5');
  c.ms += 1000;
  t.equal(send(plugin, 20), 1, 'then one per second');
  const out = runSync(plugin, fakeRequestContext());
  t.equal(out?.headers?.['retry-after'], '1');
  t.equal(out?.headers?.['ratelimit-limit'], '60');
  t.equal(out?.headers?.['ratelimit-reset'], '5', '5 s to refill 5 tokens');
  const slow = createRateLimitPlugin({ limit: 1, windowSec: 60, key: 'route' }, fakeEnv(), {
    now: c.now,
  });
  t.equal(send(slow, 3), 1);
  t.equal(runSync(slow, fakeRequestContext())?.headers?.['retry-after'], '60');
  c.ms += 59_500;
  t.equal(runSync(slow, fakeRequestContext())?.headers?.['retry-after'], '1');
  c.ms += 500;
  t.equal(send(slow, 3), 1);
});

t.test(
  'cluster-aware: the limit is divided across live gateways, re-read on each refill',
  async (t) => {
    const c = clock();
    const env = fakeEnv('routes.r.plugins.rate-limit', 4);
    const plugin = createRateLimitPlugin({ limit: 100, windowSec: 10, key: 'route' }, env, {
      now: c.now,
    });
    const first = fakeRequestContext();
    t.equal(runSync(plugin, first), undefined);
    t.equal(first.responseHeaders['ratelimit-limit'], '25', 'limit / 4');
    t.equal(send(plugin, 100), 24, 'burst / 4 = 25 in all');
    c.ms += 1000;
    t.equal(send(plugin, 100), 2, '2.5 tokens per second (100 / 4 / 10 s)');
    c.ms += 1000;
    t.equal(send(plugin, 100), 3, 'the half token carried over');

    env.setLiveGateways(2);
    c.ms += 1000;
    t.equal(send(plugin, 100), 5, 'two gateways: 5 tokens per second');
    c.ms += 60_000;
    t.equal(send(plugin, 100), 50, 'capacity grows to burst / 2');

    env.setLiveGateways(5);
    c.ms += 60_000;
    t.equal(send(plugin, 100), 20, 'five gateways: capacity 20 (tokens above it are cut)');

    env.setLiveGateways(0);
    c.ms += 60_000;
    t.equal(send(plugin, 200), 100, 'a count below 1 reads as 1');
    env.setLiveGateways(Number.NaN);
    c.ms += 60_000;
    t.equal(send(plugin, 200), 100, 'NaN reads as 1');
  },
);

t.test('floor: at least one token per window per gateway', async (t) => {
  const c = clock();
  const env = fakeEnv('p', 10);
  const plugin = createRateLimitPlugin({ limit: 3, windowSec: 60, key: 'route' }, env, {
    now: c.now,
  });
  const ctx = fakeRequestContext();
  t.equal(runSync(plugin, ctx), undefined);
  t.equal(ctx.responseHeaders['ratelimit-limit'], '1', 'max(1, 3 / 10)');
  t.equal(send(plugin, 5), 0);
  c.ms += 30_000;
  t.equal(send(plugin, 5), 0, 'half a window: nothing yet');
  c.ms += 30_000;
  t.equal(send(plugin, 5), 1, 'one per window');
});

t.test('keys: consumer (falling back to ip), ip, route', async (t) => {
  const c = clock();
  const byConsumer = createRateLimitPlugin({ limit: 2, windowSec: 60 }, fakeEnv(), { now: c.now });
  t.equal(send(byConsumer, 5, { consumer: 'alice', clientIp: '10.0.0.1' }), 2);
  t.equal(
    send(byConsumer, 5, { consumer: 'alice', clientIp: '10.0.0.2' }),
    0,
    'same consumer, other ip',
  );
  t.equal(send(byConsumer, 5, { consumer: 'bob', clientIp: '10.0.0.1' }), 2, 'other consumer');
  t.equal(send(byConsumer, 5, { clientIp: '10.0.0.1' }), 2, 'anonymous: by ip');
  t.equal(send(byConsumer, 5, { clientIp: '10.0.0.3' }), 2);
  t.equal(
    send(byConsumer, 5, { consumer: '10.0.0.9', clientIp: '10.0.0.9' }),
    2,
    'consumer and ip keys do not collide',
  );
  t.equal(send(byConsumer, 5, { clientIp: '10.0.0.9' }), 2);

  const byIp = createRateLimitPlugin({ limit: 2, windowSec: 60, key: 'ip' }, fakeEnv(), {
    now: c.now,
  });
  t.equal(send(byIp, 5, { consumer: 'alice', clientIp: '10.0.0.1' }), 2);
  t.equal(send(byIp, 5, { consumer: 'bob', clientIp: '10.0.0.1' }), 0, 'same ip, other consumer');
  t.equal(send(byIp, 5, { clientIp: '::ffff:10.0.0.1' }), 0, 'IPv4-mapped is the same client');
  t.equal(send(byIp, 5, { clientIp: '2001:db8:1:2::1' }), 2);
  t.equal(send(byIp, 5, { clientIp: '2001:db8:1:2:ffff:ffff:ffff:ffff' }), 0, 'same /64');
  t.equal(send(byIp, 5, { clientIp: '2001:db8:1:3::1' }), 2, 'other /64');

  const byRoute = createRateLimitPlugin({ limit: 2, windowSec: 60, key: 'route' }, fakeEnv(), {
    now: c.now,
  });
  t.equal(
    send(byRoute, 1, { clientIp: '10.0.0.1' }) +
      send(byRoute, 5, { clientIp: '10.0.0.2', consumer: 'z' }),
    2,
    'one bucket',
  );

  const full = createRateLimitPlugin(
    { limit: 1, windowSec: 60, key: 'ip', ipv6Prefix: 128 },
    fakeEnv(),
    { now: c.now },
  );
  t.equal(
    send(full, 2, { clientIp: '2001:db8::1' }) + send(full, 2, { clientIp: '2001:db8::2' }),
    2,
    '/128: per address',
  );
});

t.test('IPv6 parsing and prefixes', async (t) => {
  t.same(parseIPv6('::'), [0, 0, 0, 0, 0, 0, 0, 0]);
  t.same(parseIPv6('::1'), [0, 0, 0, 0, 0, 0, 0, 1]);
  t.same(parseIPv6('1::'), [1, 0, 0, 0, 0, 0, 0, 0]);
  t.same(parseIPv6('2001:db8::8:800:200c:417a'), [0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]);
  t.same(parseIPv6('::ffff:192.0.2.128'), [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0280]);
  t.same(parseIPv6('fe80::1%eth0'), [0xfe80, 0, 0, 0, 0, 0, 0, 1]);
  t.equal(parseIPv6('1:2:3'), undefined);
  t.equal(parseIPv6('::g'), undefined);
  t.equal(ipKey('192.0.2.1', 64), '192.0.2.1');
  t.equal(ipKey('::ffff:192.0.2.1', 64), '192.0.2.1');
  t.equal(ipKey('2001:db8:aaaa:bbbb:1:2:3:4', 64), '2001:db8:aaaa:bbbb/64');
  t.equal(ipKey('2001:db8:aaaa:bbbb:1:2:3:4', 56), '2001:db8:aaaa:bb00/56');
  t.equal(ipKey('2001:db8:aaaa:bbbb:1:2:3:4', 48), '2001:db8:aaaa/48');
  t.equal(ipKey('2001:db8:aaaa:bbbb:1:2:3:4', 1), '0/1');
  t.equal(ipKey('::1', 128), '0:0:0:0:0:0:0:1/128');
  t.equal(ipKey('not:an:ip', 64), 'not:an:ip', 'unparsable stays as is');
});

t.test('bounded key count with LRU eviction', async (t) => {
  const c = clock();
  const plugin = createRateLimitPlugin(
    { limit: 1, windowSec: 3600, key: 'ip', maxKeys: 3 },
    fakeEnv(),
    {
      now: c.now,
    },
  );
  for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3'])
    t.equal(send(plugin, 2, { clientIp: ip }), 1);
  t.equal(send(plugin, 1, { clientIp: '10.0.0.1' }), 0, 'touching .1 makes .2 the oldest');
  t.equal(send(plugin, 1, { clientIp: '10.0.0.4' }), 1, 'a fourth key evicts .2');
  t.equal(send(plugin, 1, { clientIp: '10.0.0.1' }), 0, '.1 kept');
  t.equal(send(plugin, 1, { clientIp: '10.0.0.3' }), 0, '.3 kept');
  t.equal(send(plugin, 1, { clientIp: '10.0.0.2' }), 1, '.2 was evicted and starts full');

  const big = createRateLimitPlugin(
    { limit: 5, windowSec: 1, key: 'ip', maxKeys: 1000 },
    fakeEnv(),
    { now: c.now },
  );
  const started = performance.now();
  for (let i = 0; i < 50_000; i++)
    runSync(
      big,
      fakeRequestContext({ clientIp: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }),
    );
  t.ok(performance.now() - started < 10_000, 'many distinct keys stay cheap');
});

t.test('headers: false sends none on success, Retry-After only on 429', async (t) => {
  const c = clock();
  const plugin = createRateLimitPlugin({ limit: 1, key: 'route', headers: false }, fakeEnv(), {
    now: c.now,
  });
  const ctx = fakeRequestContext();
  t.equal(runSync(plugin, ctx), undefined);
  t.same(ctx.responseHeaders, {});
  const out = runSync(plugin, fakeRequestContext());
  t.equal(out?.status, 429);
  t.same(Object.keys(out?.headers ?? {}).sort(), ['content-type', 'retry-after']);
});

t.test('factory instances share buckets across route-table rebuilds', async (t) => {
  const env = fakeEnv('routes.shared.plugins.rate-limit');
  const a = rateLimitPluginFactory.create({ limit: 3, windowSec: 3600, key: 'route' }, env);
  t.equal(send(a, 2), 2);
  const b = rateLimitPluginFactory.create({ limit: 3, windowSec: 3600, key: 'route' }, env);
  a.close?.();
  t.equal(send(b, 5), 1, 'the rebuilt instance continues the same bucket');
  b.close?.();
  const c = rateLimitPluginFactory.create({ limit: 3, windowSec: 3600, key: 'route' }, env);
  t.equal(send(c, 5), 0, 'kept through a grace period after the last close');
  c.close?.();
  const changed = rateLimitPluginFactory.create({ limit: 4, windowSec: 3600, key: 'route' }, env);
  t.equal(send(changed, 5), 4, 'changed settings start fresh');
  changed.close?.();
  const other = rateLimitPluginFactory.create(
    { limit: 3, windowSec: 3600, key: 'route' },
    fakeEnv('routes.other.plugins.rate-limit'),
  );
  t.equal(send(other, 5), 3, 'another route has its own');
  other.close?.();
});

t.test('config errors name the key', async (t) => {
  const P = 'routes.r.plugins.rate-limit';
  for (const [settings, path] of [
    [{}, `${P}.limit`],
    [{ limit: 0 }, `${P}.limit`],
    [{ limit: 1.5 }, `${P}.limit`],
    [{ limit: '10' }, `${P}.limit`],
    [{ limit: 10, windowSec: 0 }, `${P}.windowSec`],
    [{ limit: 10, windowSec: 86_401 }, `${P}.windowSec`],
    [{ limit: 10, burst: 0 }, `${P}.burst`],
    [{ limit: 10, key: 'user' }, `${P}.key`],
    [{ limit: 10, maxKeys: 0 }, `${P}.maxKeys`],
    [{ limit: 10, ipv6Prefix: 129 }, `${P}.ipv6Prefix`],
    [{ limit: 10, headers: 'yes' }, `${P}.headers`],
    [{ limit: 10, per: 'minute' }, `${P}.per`],
  ] as [unknown, string][]) {
    expectRosterError(
      t,
      () => rateLimitPluginFactory.create(settings, fakeEnv(P)),
      'ROSTER_ERR_CONFIG',
      path,
    );
  }
});
