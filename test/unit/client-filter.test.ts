import t from 'tap';
import { compileFilter, type InstanceFilter } from '../../client/filter.js';
import type { Instance } from '../../protocol/index.js';
import { expectRosterError } from '../helpers/expect-error.js';
import { instance } from '../helpers/synthetic-instances.js';

const fleet: Instance[] = [
  instance('a', { tags: ['http', 'eu'], meta: { tier: 'gold' }, zone: 'z1', version: '1.2.0' }),
  instance('b', { tags: ['http'], meta: { tier: 'silver' }, zone: 'z2', version: '1.4.7' }),
  instance('c', {
    tags: ['grpc', 'eu'],
    meta: {},
    zone: 'z1',
    version: '2.0.0',
    status: 'warning',
  }),
  instance('d', { tags: ['http', 'eu'], meta: { tier: 'gold' }, zone: 'z1', status: 'critical' }),
  instance('e', {
    tags: ['http'],
    meta: { tier: 'gold' },
    version: '1.5.0-beta.1',
    status: 'draining',
  }),
  instance('f', { tags: [], meta: { tier: 'gold', x: '' }, zone: 'z2', version: 'v1.9.0' }),
];

const matrix: [name: string, filter: InstanceFilter, ids: string][] = [
  ['empty filter: passing and warning', {}, 'abcf'],
  ['tags.all', { tags: { all: ['http', 'eu'] } }, 'a'],
  ['tags.any', { tags: { any: ['grpc', 'eu'] } }, 'ac'],
  ['tags.all + tags.any', { tags: { all: ['http'], any: ['eu', 'nope'] } }, 'a'],
  ['empty tags.any matches all', { tags: { any: [] } }, 'abcf'],
  ['meta equality', { meta: { tier: 'gold' } }, 'af'],
  ['meta empty value', { meta: { x: '' } }, 'f'],
  ['meta never matches inherited keys', { meta: { toString: 'x' } }, ''],
  ['zone', { zone: 'z1' }, 'ac'],
  ['version caret', { version: '^1.4' }, 'bf'],
  ['version and', { version: '>=1.2.0 <2.0.0' }, 'abf'],
  ['version or', { version: '~1.2 || >=2' }, 'ac'],
  ['unversioned never match a range', { version: '*' }, 'abcf'],
  ['statuses', { statuses: ['critical', 'draining'] }, 'de'],
  [
    'prerelease needs an explicit prerelease range',
    { statuses: ['draining'], version: '^1.5.0-beta' },
    'e',
  ],
  [
    'everything at once',
    {
      tags: { all: ['http'] },
      meta: { tier: 'gold' },
      zone: 'z1',
      version: '1.x',
      statuses: ['passing', 'critical'],
    },
    'a',
  ],
];

t.test('filter matrix', async (t) => {
  for (const [name, filter, ids] of matrix) {
    const accepts = compileFilter(filter);
    t.equal(
      fleet
        .filter(accepts)
        .map((i) => i.id)
        .join(''),
      ids,
      name,
    );
  }
});

t.test('a malformed filter is a typed error', async (t) => {
  expectRosterError(
    t,
    () => compileFilter({ version: '>=banana' }),
    'ROSTER_ERR_INVALID_ARGUMENT',
    'filter.version',
  );
  expectRosterError(
    t,
    () => compileFilter({ version: 'x'.repeat(300) }),
    'ROSTER_ERR_INVALID_ARGUMENT',
  );
  expectRosterError(
    t,
    () => compileFilter({ statuses: ['up' as 'passing'] }),
    'ROSTER_ERR_INVALID_ARGUMENT',
    'filter.statuses',
  );
  expectRosterError(
    t,
    () => compileFilter({ tags: { all: 'http' as unknown as string[] } }),
    'ROSTER_ERR_INVALID_ARGUMENT',
    'filter.tags.all',
  );
  expectRosterError(
    t,
    () => compileFilter({ meta: { tier: 1 as unknown as string } }),
    'ROSTER_ERR_INVALID_ARGUMENT',
    'filter.meta.tier',
  );
});
