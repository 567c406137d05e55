import t from 'tap';
import {
  GC_MODE_ENV,
  gatewayGcMode,
  gcModeFlags,
  REEXEC_ENV,
  reexecFlags,
} from '../../cli/gateway-runtime.js';
import { UsageError } from '../../cli/options.js';

t.test('the GC mode: auto follows the CPU count, explicit modes win', async (t) => {
  t.equal(gatewayGcMode(undefined, 1), 'single-threaded');
  t.equal(gatewayGcMode(undefined, 2), 'single-threaded');
  t.equal(gatewayGcMode(undefined, 3), 'parallel');
  t.equal(gatewayGcMode('auto', 16), 'parallel');
  t.equal(gatewayGcMode('', 2), 'single-threaded', 'an empty setting is auto');
  t.equal(gatewayGcMode('single-threaded', 64), 'single-threaded');
  t.equal(gatewayGcMode('parallel', 1), 'parallel');
  t.throws(() => gatewayGcMode('fast', 2), UsageError);
  t.same(gcModeFlags('single-threaded'), [
    '--single-threaded-gc',
    '--min-semi-space-size=32',
    '--max-semi-space-size=32',
    '--no-memory-reducer',
  ]);
  t.same(gcModeFlags('parallel'), []);
});

t.test(
  're-execution: only `roster gateway`, only once, only when the flags are missing',
  async (t) => {
    const argv = (...args: string[]) => ['/usr/bin/node', '/app/cli/main.js', ...args];
    const small = gcModeFlags('single-threaded');
    t.same(reexecFlags(argv('gateway', '-c', 'g.yaml'), [], {}, 2), small);
    t.same(reexecFlags(argv('gateway'), ['--import=tsx'], {}, 2), small);
    t.same(reexecFlags(argv('node'), [], {}, 2), [], 'other commands run in place');
    t.same(reexecFlags(argv(), [], {}, 2), []);
    t.same(reexecFlags(argv('gateway'), [], { [REEXEC_ENV]: '1' }, 2), [], 'never twice');
    t.same(reexecFlags(argv('gateway'), small, {}, 2), [], 'flags already given');
    t.same(reexecFlags(argv('gateway'), ['--single-threaded-gc'], {}, 2), small, 'one missing');
    t.same(reexecFlags(argv('gateway'), [], {}, 8), [], 'a bigger machine: parallel, in place');
    t.same(reexecFlags(argv('gateway'), [], { [GC_MODE_ENV]: 'parallel' }, 2), []);
    t.same(reexecFlags(argv('gateway'), [], { [GC_MODE_ENV]: 'single-threaded' }, 8), small);
    t.throws(() => reexecFlags(argv('gateway'), [], { [GC_MODE_ENV]: 'x' }, 2), UsageError);
    t.same(reexecFlags(argv('node'), [], { [GC_MODE_ENV]: 'x' }, 2), [], 'not read for others');
  },
);
