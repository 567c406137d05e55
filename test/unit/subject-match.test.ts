import t from 'tap';
import {
  hasWildcard,
  isValidPublishSubject,
  isValidSubscribeSubject,
  subjectMatches,
} from '../../transport/subject-match.js';

t.test('subjectMatches', async (t) => {
  const cases: [string, string, boolean][] = [
    ['a', 'a', true],
    ['a', 'b', false],
    ['a.b', 'a.b', true],
    ['a.b', 'a', false],
    ['a', 'a.b', false],
    ['a.*', 'a.b', true],
    ['a.*', 'a', false],
    ['a.*', 'a.b.c', false],
    ['*', 'a', true],
    ['*', 'a.b', false],
    ['*.b', 'a.b', true],
    ['*.b', 'a.c', false],
    ['a.*.c', 'a.b.c', true],
    ['a.*.c', 'a.b.d', false],
    ['a.>', 'a.b', true],
    ['a.>', 'a.b.c.d', true],
    ['a.>', 'a', false],
    ['>', 'a', true],
    ['>', 'a.b.c', true],
    ['*.>', 'a', false],
    ['*.>', 'a.b', true],
    ['a.*.>', 'a.b.c', true],
    ['a.*.>', 'a.b', false],
    ['a.b*', 'a.b*', true],
    ['a.b*', 'a.bc', false],
    ['roster.v1.delta.*', 'roster.v1.delta.payments', true],
    ['roster.v1.delta.*', 'roster.v1.heartbeat.n1', false],
  ];
  for (const [pattern, subject, expected] of cases) {
    t.equal(subjectMatches(pattern, subject), expected, `${pattern} ~ ${subject}`);
  }
});

t.test('publish subjects', async (t) => {
  for (const s of ['a', 'a.b', 'roster.v1.x-y_z', '_INBOX.abc123', 'A.B.C', 'ü.ß']) {
    t.ok(isValidPublishSubject(s), `valid: ${s}`);
  }
  for (const s of [
    '',
    '.',
    'a.',
    '.a',
    'a..b',
    'a b',
    'a\tb',
    'a\nb',
    '*',
    'a.*',
    'a.>',
    '>',
    'a.b*',
  ]) {
    t.notOk(isValidPublishSubject(s), `invalid: ${JSON.stringify(s)}`);
  }
});

t.test('subscribe subjects', async (t) => {
  for (const s of ['a', '*', '>', 'a.*', 'a.>', '*.*', 'a.*.c', '*.>', 'a.b*']) {
    t.ok(isValidSubscribeSubject(s), `valid: ${s}`);
  }
  for (const s of ['', 'a.', '.a', 'a..b', 'a b', '>.a', 'a.>.b', '>.>']) {
    t.notOk(isValidSubscribeSubject(s), `invalid: ${JSON.stringify(s)}`);
  }
});

t.test('hasWildcard', async (t) => {
  t.ok(hasWildcard('a.*'));
  t.ok(hasWildcard('>'));
  t.notOk(hasWildcard('a.b'));
  t.notOk(hasWildcard('a.b*'));
});
