import t from 'tap';
import {
  isPathRejection,
  MAX_TARGET_LENGTH,
  normalizePath,
  normalizeTarget,
} from '../../gateway/path.js';

function reason(target: string): string | undefined {
  const r = normalizeTarget(target);
  return isPathRejection(r) ? r.reason : undefined;
}

t.test('normal paths come back as the same string', async (t) => {
  for (const p of [
    '/',
    '/a',
    '/a/b/c',
    '/api/v1/users/42',
    '/a-b_c~d.e',
    '/a/b/',
    '/x:y@z!$&()*+,;=',
  ]) {
    t.equal(normalizePath(p), p, p);
  }
});

t.test('normalization', async (t) => {
  const cases: [string, string][] = [
    ['//a//b///c', '/a/b/c'],
    ['/a/./b', '/a/b'],
    ['/a/b/..', '/a/'],
    ['/a/b/../c', '/a/c'],
    ['/a/b/.', '/a/b/'],
    ['/./', '/'],
    ['/.well-known/x', '/.well-known/x'],
    ['/a/..', '/'],
    ['/%41%62%63', '/Abc'],
    ['/%7euser', '/~user'],
    ['/a%2db', '/a-b'],
    ['/file%2etxt', '/file.txt'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a%20b', '/a%20b'],
    ['/a%3fb', '/a%3Fb'],
    ['/%25', '/%25'],
    ['/%252e%252e/x', '/%252e%252e/x'],
    ['/a/...', '/a/...'],
    ['/a/..b', '/a/..b'],
  ];
  for (const [input, want] of cases) t.equal(normalizePath(input), want, input);
});

t.test('query strings pass unchanged, path normalized', async (t) => {
  t.same(normalizeTarget('/a//b?x=1&y=%2F'), { path: '/a/b', query: '?x=1&y=%2F' });
  t.same(normalizeTarget('/a?'), { path: '/a', query: '?' });
  t.same(normalizeTarget('/a?b?c'), { path: '/a', query: '?b?c' });
});

t.test('the attack list is refused with a reason', async (t) => {
  const attacks: [string, string][] = [
    ['/admin/%2e%2e/secret', 'encoded_dot_segment'],
    ['/public/%2e%2e/%2e%2e/etc/passwd', 'encoded_dot_segment'],
    ['/public/.%2e/admin', 'encoded_dot_segment'],
    ['/public/%2e./admin', 'encoded_dot_segment'],
    ['/public/%2E%2E/admin', 'encoded_dot_segment'],
    ['/public/%2e/admin', 'encoded_dot_segment'],
    ['/public%2f..%2fadmin', 'encoded_slash'],
    ['/public%2F..%2Fadmin', 'encoded_slash'],
    ['/public/..%2fadmin', 'encoded_slash'],
    ['/public%5c..%5cadmin', 'encoded_slash'],
    ['/public\\..\\admin', 'backslash'],
    ['/public/..;/admin', 'dot_segment_parameters'],
    ['/public/.;/admin', 'dot_segment_parameters'],
    ['/..', 'above_root'],
    ['/../etc/passwd', 'above_root'],
    ['/a/../../etc/passwd', 'above_root'],
    ['/a/b/../../../x', 'above_root'],
    ['/a%00b', 'control_character'],
    ['/a%0d%0aSet-Cookie:x', 'control_character'],
    ['/a%0Ab', 'control_character'],
    ['/a%7fb', 'control_character'],
    ['/a\u0000b', 'control_character'],
    ['/a\tb', 'control_character'],
    ['/a b', 'control_character'],
    ['/a%', 'invalid_percent_encoding'],
    ['/a%2', 'invalid_percent_encoding'],
    ['/a%zz', 'invalid_percent_encoding'],
    ['/a%%32%65', 'invalid_percent_encoding'],
    ['/a%u002e', 'invalid_percent_encoding'],
    ['/caf\u00e9', 'non_ascii'],
    ['/a#frag', 'fragment'],
    ['*', 'target_not_origin_form'],
    ['http://evil.example/admin', 'target_not_origin_form'],
    ['admin', 'target_not_origin_form'],
    ['', 'target_not_origin_form'],
    ['/a?x=\u0000', 'control_character'],
    ['/a?x=1#y', 'fragment'],
    ['/a?x= y', 'control_character'],
    [`/${'a'.repeat(MAX_TARGET_LENGTH)}`, 'target_too_long'],
  ];
  for (const [target, want] of attacks) {
    t.equal(reason(target), want, JSON.stringify(target));
  }
});

t.test('a double-encoded traversal stays literal (decoded once, by the upstream)', async (t) => {
  // %252e decodes to the literal text %2e: never a dot segment for us or the upstream.
  t.equal(normalizePath('/a/%252e%252e/b'), '/a/%252e%252e/b');
});

t.test('normalization is idempotent', async (t) => {
  for (const p of ['//a/./b/../c/', '/%41/%7e/x%2dy', '/a/b/c/../../d', '/caf%c3%a9/']) {
    const once = normalizePath(p) as string;
    t.equal(normalizePath(once), once, p);
  }
});
