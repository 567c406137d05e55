import t from 'tap';
import { bodyLimitPluginFactory, parseByteSize } from '../../gateway/plugins/body-limit.js';
import { expectRosterError } from '../helpers/expect-error.js';
import { fakeEnv, fakeRequestContext, run } from '../helpers/fake-request-context.js';

t.test('sizes', async (t) => {
  t.equal(parseByteSize(0), 0);
  t.equal(parseByteSize(1024), 1024);
  t.equal(parseByteSize('512'), 512);
  t.equal(parseByteSize('64kb'), 64_000);
  t.equal(parseByteSize('64KiB'), 65_536);
  t.equal(parseByteSize('1m'), 1_048_576);
  t.equal(parseByteSize('1.5 MB'), 1_500_000);
  t.equal(parseByteSize('2gib'), 2 * 1024 ** 3);
  for (const bad of [-1, 1.5, '1tb', 'lots', '', '1e3', null, true]) {
    t.equal(parseByteSize(bad), undefined, `${String(bad)} rejected`);
  }
});

t.test('sets ctx.bodyLimit and refuses a larger Content-Length up front', async (t) => {
  const plugin = bodyLimitPluginFactory.create({ maxBytes: '1kb' }, fakeEnv());
  const cases: [string | undefined, number | undefined, string?][] = [
    [undefined, undefined],
    ['0', undefined],
    ['1000', undefined],
    ['0001000', undefined],
    ['1001', 413, 'body_too_large'],
    ['9999', 413, 'body_too_large'],
    ['99999999999999999999999999999', 413, 'body_too_large'],
    ['12abc', 400, 'bad_content_length'],
  ];
  for (const [length, status, reason] of cases) {
    const ctx = fakeRequestContext({
      method: 'POST',
      headers: length === undefined ? {} : { 'content-length': length },
    });
    const out = await run(plugin, ctx);
    t.equal(ctx.bodyLimit, 1000, 'bodyLimit set');
    t.equal(out?.status, status, `Content-Length ${length}: ${status ?? 'passes'}`);
    t.equal(out?.reason, reason);
    if (status === 413) t.equal(out?.headers?.connection, 'close');
  }
  const zero = bodyLimitPluginFactory.create({ maxBytes: 0 }, fakeEnv());
  t.equal(
    (await run(zero, fakeRequestContext({ headers: { 'content-length': '1' } })))?.status,
    413,
  );
  t.equal(await run(zero, fakeRequestContext({ headers: { 'content-length': '0' } })), undefined);
});

t.test('config errors name the key', async (t) => {
  const P = 'routes.up.plugins.body-limit';
  for (const [settings, path] of [
    [{}, `${P}.maxBytes`],
    [{ maxBytes: -1 }, `${P}.maxBytes`],
    [{ maxBytes: '10 parsecs' }, `${P}.maxBytes`],
    [{ maxBytes: '17gib' }, `${P}.maxBytes`],
    [{ maxBytes: 10, max: 5 }, `${P}.max`],
    [[10], P],
  ] as [unknown, string][]) {
    expectRosterError(
      t,
      () => bodyLimitPluginFactory.create(settings, fakeEnv(P)),
      'ROSTER_ERR_CONFIG',
      path,
    );
  }
});
