import t from 'tap';
import { commonHeaderName } from '../../gateway/header-names.js';

t.test('common names in any letter case give the lower-case constant', async (t) => {
  for (const [text, want] of [
    ['Content-Type', 'content-type'],
    ['content-length', 'content-length'],
    ['CONTENT-LENGTH', 'content-length'],
    ['Host', 'host'],
    ['X-Request-ID', 'x-request-id'],
    ['Transfer-Encoding', 'transfer-encoding'],
    ['keep-ALIVE', 'keep-alive'],
  ] as const) {
    t.equal(commonHeaderName(text, 0, text.length), want, text);
  }
});

t.test('only the given range is compared', async (t) => {
  const line = 'Date: Fri, 27 Nov 2026 17:05:42 GMT';
  t.equal(commonHeaderName(line, 0, 4), 'date');
  t.equal(commonHeaderName(`xx${line}`, 2, 6), 'date');
  t.equal(commonHeaderName(line, 0, 5), undefined, 'the colon is not part of a name');
});

t.test('anything else is not a common name', async (t) => {
  for (const text of [
    'X-Custom',
    'Content_Type', // "_" is not "-": only letters are folded
    'Content-Typ',
    'Content-Types',
    'Dat3',
    '',
  ]) {
    t.equal(commonHeaderName(text, 0, text.length), undefined, JSON.stringify(text));
  }
});
