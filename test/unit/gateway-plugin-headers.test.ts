/** What plugin response headers may be written (gateway/plugin-headers.ts). */
import t from 'tap';
import {
  appendPluginHeaders,
  MAX_PLUGIN_HEADER_VALUE,
  pluginHeaderProblem,
} from '../../gateway/plugin-headers.js';

t.test('pluginHeaderProblem', async (t) => {
  t.equal(pluginHeaderProblem('x-ok', 'value with\ttab and spaces'), undefined);
  t.equal(pluginHeaderProblem('Vary', 'Origin'), undefined);
  t.equal(pluginHeaderProblem('', 'v'), 'invalid name');
  t.equal(pluginHeaderProblem('bad name', 'v'), 'invalid name');
  t.equal(pluginHeaderProblem('x-a\r\nx-b', 'v'), 'invalid name');
  for (const name of ['Content-Length', 'transfer-encoding', 'Connection', 'keep-alive', 'TE']) {
    t.equal(pluginHeaderProblem(name, '1'), 'set by the gateway', name);
  }
  t.equal(pluginHeaderProblem('x-request-id', 'mine'), 'set by the gateway');
  t.equal(pluginHeaderProblem('x-a', 'a\r\nb'), 'control character in value');
  t.equal(pluginHeaderProblem('x-a', 'a\nb'), 'control character in value');
  t.equal(pluginHeaderProblem('x-a', 'a\u007fb'), 'control character in value');
  t.equal(pluginHeaderProblem('x-a', 42), 'not a string');
  t.equal(pluginHeaderProblem('x-a', 'v'.repeat(MAX_PLUGIN_HEADER_VALUE)), undefined);
  t.equal(pluginHeaderProblem('x-a', 'v'.repeat(MAX_PLUGIN_HEADER_VALUE + 1)), 'value too long');
});

t.test('appendPluginHeaders keeps the good ones and names the first refused', async (t) => {
  const out = ['content-type', 'text/plain'];
  const refused = appendPluginHeaders(
    { 'x-a': '1', 'content-length': '0', 'x-b': 'a\rb', 'x-c': '3' },
    out,
  );
  t.same(out, ['content-type', 'text/plain', 'x-a', '1', 'x-c', '3']);
  t.same(refused, { header: 'content-length', problem: 'set by the gateway' });
  t.equal(appendPluginHeaders({ 'x-d': '4' }, out), undefined);
  t.same(out.slice(-2), ['x-d', '4']);
});

t.test('names are judged alike every time, and their lower-case forms given', async (t) => {
  const names = ['X-Rate', 'Content-Length', 'bad name', 'x-request-id', 'Vary', 'n'.repeat(200)];
  const first = names.map((n) => pluginHeaderProblem(n, 'v'));
  t.same(first, [
    undefined,
    'set by the gateway',
    'invalid name',
    'set by the gateway',
    undefined,
    undefined,
  ]);
  // More names than are kept: the kept ones are dropped and judged again.
  for (let i = 0; i < 600; i++) t.equal(pluginHeaderProblem(`x-${i}`, 'v'), undefined);
  t.same(
    names.map((n) => pluginHeaderProblem(n, 'v')),
    first,
    'the same verdicts again',
  );
  const out: string[] = [];
  const lower: string[] = [];
  const refused = appendPluginHeaders(
    { 'X-Rate': '1', 'Content-Length': '2', VARY: '3' },
    out,
    lower,
  );
  t.same(out, ['X-Rate', '1', 'VARY', '3']);
  t.same(lower, ['x-rate', 'vary'], 'lower-case names of the written ones');
  t.same(refused, { header: 'Content-Length', problem: 'set by the gateway' });
});
