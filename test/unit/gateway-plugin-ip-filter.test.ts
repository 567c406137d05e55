import t from 'tap';
import { createIpFilterPlugin, ipFilterPluginFactory } from '../../gateway/plugins/ip-filter.js';
import { expectRosterError } from '../helpers/expect-error.js';
import { fakeEnv, fakeRequestContext, runSync } from '../helpers/fake-request-context.js';

const verdict = (plugin: ReturnType<typeof createIpFilterPlugin>, clientIp: string) =>
  runSync(plugin, fakeRequestContext({ clientIp }))?.reason ?? 'pass';

t.test('CIDR matrix: allow and deny, IPv4 and IPv6, deny wins', async (t) => {
  const plugin = createIpFilterPlugin(
    {
      allow: ['10.0.0.0/8', '192.168.1.10', '2001:db8::/32', '::1', '172.16.0.0/12'],
      deny: ['10.66.0.0/16', '2001:db8:bad::/48', '172.16.5.5'],
    },
    fakeEnv(),
  );
  const matrix: [string, string][] = [
    ['10.0.0.1', 'pass'],
    ['10.255.255.255', 'pass'],
    ['11.0.0.1', 'ip_not_allowed'],
    ['9.255.255.255', 'ip_not_allowed'],
    ['10.66.1.2', 'ip_denied'],
    ['10.65.255.255', 'pass'],
    ['10.67.0.0', 'pass'],
    ['192.168.1.10', 'pass'],
    ['192.168.1.11', 'ip_not_allowed'],
    ['172.16.5.5', 'ip_denied'],
    ['172.16.5.6', 'pass'],
    ['172.31.255.255', 'pass'],
    ['172.32.0.0', 'ip_not_allowed'],
    ['::ffff:10.0.0.1', 'pass'],
    ['::ffff:10.66.0.1', 'ip_denied'],
    ['::ffff:11.0.0.1', 'ip_not_allowed'],
    ['2001:db8::1', 'pass'],
    ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', 'pass'],
    ['2001:db9::1', 'ip_not_allowed'],
    ['2001:db8:bad::1', 'ip_denied'],
    ['2001:DB8:BAD:0::1', 'ip_denied'],
    ['2001:db8:bae::1', 'pass'],
    ['::1', 'pass'],
    ['::2', 'ip_not_allowed'],
    ['fe80::1%eth0', 'ip_not_allowed'],
    ['', 'ip_invalid'],
    ['unknown', 'ip_invalid'],
    ['10.0.0.1, 11.0.0.1', 'ip_invalid'],
    ['10.0.0.256', 'ip_invalid'],
  ];
  for (const [ip, expected] of matrix) {
    t.equal(verdict(plugin, ip), expected, `${ip || '(empty)'} → ${expected}`);
  }
  t.equal(runSync(plugin, fakeRequestContext({ clientIp: '11.0.0.1' }))?.status, 403);
});

t.test('deny only, allow only', async (t) => {
  const denyOnly = createIpFilterPlugin({ deny: ['203.0.113.0/24', '2001:db8::/64'] }, fakeEnv());
  t.equal(verdict(denyOnly, '203.0.113.9'), 'ip_denied');
  t.equal(verdict(denyOnly, '203.0.114.9'), 'pass');
  t.equal(verdict(denyOnly, '2001:db8::5'), 'ip_denied');
  t.equal(verdict(denyOnly, '2001:db8:0:1::5'), 'pass');
  t.equal(
    verdict(denyOnly, 'garbage'),
    'ip_invalid',
    'unparsable is refused even with only a deny list',
  );
  const allowOnly = createIpFilterPlugin({ allow: '127.0.0.1' }, fakeEnv());
  t.equal(verdict(allowOnly, '127.0.0.1'), 'pass');
  t.equal(verdict(allowOnly, '::ffff:127.0.0.1'), 'pass');
  t.equal(verdict(allowOnly, '127.0.0.2'), 'ip_not_allowed');
  const everything = createIpFilterPlugin(
    { allow: ['0.0.0.0/0', '::/0'], deny: ['10.0.0.0/8'] },
    fakeEnv(),
  );
  t.equal(verdict(everything, '8.8.8.8'), 'pass');
  t.equal(verdict(everything, '2606:4700::1'), 'pass');
  t.equal(verdict(everything, '10.1.1.1'), 'ip_denied');
  const mappedRule = createIpFilterPlugin({ deny: ['::ffff:10.0.0.0/104'] }, fakeEnv());
  t.equal(verdict(mappedRule, '10.1.2.3'), 'ip_denied', 'an IPv4-mapped rule covers plain IPv4');
});

t.test('config errors name the key', async (t) => {
  const P = 'routes.admin.plugins.ip-filter';
  for (const [settings, path] of [
    [{}, P],
    [{ allow: [], deny: [] }, P],
    [{ allow: ['10.0.0.0/33'] }, `${P}.allow[0]`],
    [{ allow: ['10.0.0.1', '::/129'] }, `${P}.allow[1]`],
    [{ deny: ['example.com'] }, `${P}.deny[0]`],
    [{ deny: ['10.0.0.0/'] }, `${P}.deny[0]`],
    [{ deny: ['10.0.0.0/-1'] }, `${P}.deny[0]`],
    [{ deny: ['10.0.0.0/8/8'] }, `${P}.deny[0]`],
    [{ deny: '10.0.0.1', block: ['1.2.3.4'] }, `${P}.block`],
    [{ allow: [42] }, `${P}.allow[0]`],
  ] as [unknown, string][]) {
    expectRosterError(
      t,
      () => ipFilterPluginFactory.create(settings, fakeEnv(P)),
      'ROSTER_ERR_CONFIG',
      path,
    );
  }
});
