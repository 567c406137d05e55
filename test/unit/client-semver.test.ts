import t from 'tap';
import { compareVersions, parseRange, parseVersion } from '../../client/semver.js';
import { expectRosterError } from '../helpers/expect-error.js';

const cases: [range: string, yes: string[], no: string[]][] = [
  ['*', ['0.0.0', '1.2.3', '99.0.0'], ['1.0.0-beta', 'junk']],
  ['1.x', ['1.0.0', '1.9.9'], ['0.9.9', '2.0.0', '2.0.0-0']],
  ['1.2', ['1.2.0', '1.2.99'], ['1.3.0', '1.1.9']],
  ['=1.2.3', ['1.2.3', 'v1.2.3', '1.2.3+build.5'], ['1.2.4', '1.2.3-rc.1']],
  ['>1.2', ['1.3.0', '2.0.0'], ['1.2.9']],
  ['>=1.2.3', ['1.2.3', '5.0.0'], ['1.2.2', '1.2.3-rc.1']],
  ['<1.2', ['1.1.9', '0.0.1'], ['1.2.0', '1.2.0-beta']],
  ['<=1.2', ['1.2.9'], ['1.3.0']],
  ['^1.4', ['1.4.0', '1.9.0'], ['1.3.9', '2.0.0']],
  ['^1.2.3', ['1.2.3', '1.99.0'], ['1.2.2', '2.0.0', '1.5.0-beta']],
  ['^0.2.3', ['0.2.3', '0.2.9'], ['0.3.0', '0.2.2']],
  ['^0.0.3', ['0.0.3'], ['0.0.4', '0.0.2']],
  ['^0.x', ['0.0.0', '0.9.9'], ['1.0.0']],
  ['~1.2.3', ['1.2.3', '1.2.9'], ['1.3.0', '1.2.2']],
  ['~1', ['1.0.0', '1.9.9'], ['2.0.0']],
  ['~>1.2', ['1.2.0', '1.2.5'], ['1.3.0']],
  [
    '^1.2.3-beta.2',
    ['1.2.3-beta.2', '1.2.3-beta.10', '1.2.3', '1.3.0'],
    ['1.2.3-beta.1', '1.3.0-beta'],
  ],
  ['1.2.3 - 2.3', ['1.2.3', '2.3.9'], ['2.4.0', '1.2.2']],
  ['1.2 - 2.3.4', ['1.2.0', '2.3.4'], ['2.3.5']],
  ['>=1.2.0 <2.0.0', ['1.2.0', '1.9.9'], ['2.0.0', '1.1.0', '2.0.0-rc.1']],
  ['>= 1.2.0 < 2.0.0', ['1.5.0'], ['2.0.0']],
  ['<1.0.0 || >=3.0.0', ['0.5.0', '3.0.0'], ['1.0.0', '2.9.9']],
  ['1.x || >=2.5.0 || 5.0.0 - 7.2.3', ['1.2.3', '2.5.0', '7.2.3'], ['2.4.0']],
  ['>*', [], ['0.0.0', '1.0.0']],
];

t.test('range matrix (cross-checked against npm semver 7)', async (t) => {
  for (const [range, yes, no] of cases) {
    const r = parseRange(range);
    for (const v of yes) t.ok(r.test(v), `${v} satisfies ${range}`);
    for (const v of no) t.notOk(r.test(v), `${v} does not satisfy ${range}`);
  }
});

t.test('versions parse and order by semver precedence', async (t) => {
  t.same(parseVersion('v1.2.3-rc.1+b'), { major: 1, minor: 2, patch: 3, prerelease: ['rc', 1] });
  t.equal(parseVersion('1.2'), undefined);
  t.equal(parseVersion(undefined), undefined);
  const order = [
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.1',
    '1.1.0',
    '2.0.0',
  ];
  for (let i = 1; i < order.length; i++) {
    t.ok(
      compareVersions(parseVersion(order[i - 1])!, parseVersion(order[i])!) < 0,
      `${order[i - 1]} < ${order[i]}`,
    );
  }
  t.notOk(parseRange('^1').test(undefined), 'an unversioned instance never matches');
  t.notOk(parseRange('*').test('not-a-version'));
});

t.test('bad ranges are typed errors; input length is bounded', async (t) => {
  for (const bad of [
    '>=1.2.x.4',
    'abc',
    '^1.2.3.4',
    '>=',
    '1.2.3 - ',
    '1.2.3-',
    `${'1'.repeat(20)}.0.0`,
  ]) {
    expectRosterError(t, () => parseRange(bad), 'ROSTER_ERR_INVALID_ARGUMENT', 'filter.version');
  }
  expectRosterError(
    t,
    () => parseRange(`>=1.0.0 ${'<2.0.0 '.repeat(60)}`),
    'ROSTER_ERR_INVALID_ARGUMENT',
  );
  expectRosterError(
    t,
    () => parseRange(Array(40).fill('1.x').join('||')),
    'ROSTER_ERR_INVALID_ARGUMENT',
  );
});
