import t, { type Test } from 'tap';
import { schema as s } from '../../protocol/index.js';
import { expectRosterError } from '../helpers/expect-error.js';

const rejects = (t: Test, fn: () => unknown, path?: string) =>
  expectRosterError(t, fn, 'ROSTER_ERR_INVALID_MESSAGE', path);

t.test('scalars are bounded', async (t) => {
  const name = s.string({ min: 1, max: 3, pattern: /^[a-z]+$/ });
  t.equal(name.parse('abc'), 'abc');
  rejects(t, () => name.parse('abcd'));
  rejects(t, () => name.parse(''));
  rejects(t, () => name.parse('AB'));
  rejects(t, () => name.parse(1));
  const n = s.int({ min: 0, max: 10 });
  t.equal(n.parse(10), 10);
  for (const bad of [11, -1, 1.5, Number.NaN, '1', null]) rejects(t, () => n.parse(bad));
  rejects(t, () => s.number({ min: 0, max: 1 }).parse(Number.POSITIVE_INFINITY));
  rejects(t, () => s.boolean.parse(0));
  rejects(t, () => s.literal('a', 'b').parse('c'));
  rejects(t, () => s.bytes({ max: 2 }).parse(new Uint8Array(3)));
});

t.test('objects keep known fields, drop unknown ones and report the path', async (t) => {
  const o = s.object({
    a: s.int({ min: 0, max: 9 }),
    b: s.optional(s.string({ max: 5 })),
    c: s.object({ d: s.boolean }),
  });
  t.same(o.parse({ a: 1, c: { d: true }, z: 'dropped' }), { a: 1, c: { d: true } });
  t.same(
    o.parse({ a: 1, b: null, c: { d: false } }),
    { a: 1, c: { d: false } },
    'null optional dropped',
  );
  rejects(t, () => o.parse({ a: 1, c: { d: 'x' } }), 'c.d');
  rejects(t, () => o.parse({ c: { d: true } }), 'a');
  rejects(t, () => o.parse([1]));
  rejects(t, () => o.parse(new Map()));
  t.throws(() => s.object({ ['__proto__']: s.boolean }));
});

t.test('arrays, tuples and records are bounded', async (t) => {
  const a = s.array(s.int({ min: 0, max: 9 }), { max: 3 });
  t.same(a.parse([1, 2, 3]), [1, 2, 3]);
  rejects(t, () => a.parse([1, 2, 3, 4]));
  rejects(t, () => a.parse([1, 'x']), '[1]');
  const tu = s.tuple(s.string({ max: 3 }), s.int({ min: 0, max: 9 }));
  t.same(tu.parse(['a', 1]), ['a', 1]);
  rejects(t, () => tu.parse(['a']));
  const r = s.record(s.string({ max: 3 }), { maxKeys: 2, key: s.string({ min: 1, max: 4 }) });
  const parsed = r.parse({ a: 'x', b: 'y' });
  t.same(parsed, { a: 'x', b: 'y' });
  t.equal(
    Object.getPrototypeOf(parsed),
    Object.prototype,
    'a plain object (forbidden keys are refused instead)',
  );
  rejects(t, () => r.parse({ a: 'x', b: 'y', c: 'z' }));
  rejects(t, () => r.parse({ toolong: 'x' }));
  rejects(t, () => r.parse(JSON.parse('{"__proto__": "x"}')));
  rejects(t, () => r.parse({ constructor: 'x' }));
});

t.test('tagged unions pick their member by tag', async (t) => {
  const u = s.tagged('op', {
    a: s.object({ x: s.int({ min: 0, max: 1 }) }),
    b: s.object({ y: s.string({ max: 1 }) }),
  });
  t.same(u.parse({ op: 'a', x: 1 }), { op: 'a', x: 1 });
  t.same(u.parse({ op: 'b', y: 'z', x: 5 }), { op: 'b', y: 'z' });
  rejects(t, () => u.parse({ op: 'c' }), 'op');
  rejects(t, () => u.parse({ op: 'toString' }), 'op');
  rejects(t, () => u.parse({ op: 'a', x: 2 }), 'x');
});

t.test('object() outputs are plain objects holding only the fields present', (t) => {
  const S = s.object({
    a: s.int({ min: 0, max: 9 }),
    b: s.optional(s.string({ max: 9 })),
    'c-d': s.boolean,
  });
  const out = S.parse({ a: 1, 'c-d': true, extra: 5 });
  t.equal(Object.getPrototypeOf(out), Object.prototype);
  t.equal(out.constructor, Object);
  t.same(Object.keys(out), ['a', 'c-d'], 'absent optional and unknown fields are not there');
  t.notOk('b' in out);
  t.same(S.parse({ a: 2, b: 'x', 'c-d': false }), { a: 2, b: 'x', 'c-d': false });
  t.same(JSON.parse(JSON.stringify(out)), { a: 1, 'c-d': true });
  t.same(S.parse(S.parse({ a: 3, 'c-d': true })), { a: 3, 'c-d': true }, 'an output parses again');
  t.equal(s.literal('passing', 'warning').parse(`pass${'ing'}`), 'passing');
  t.end();
});
