/**
 * Both places that turn an NKey seed file into bus options — the command line's flags
 * (cli/options.ts) and a gateway config (gateway/config-files.ts) — read it through
 * transport's readNkeySeedFile, and each refuses a file without a seed with its own typed error.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import t from 'tap';
import { natsBusOptions, UsageError } from '../../cli/options.js';
import { natsBusOptionsFor } from '../../gateway/config-files.js';
import { RosterError } from '../../protocol/errors.js';

t.test('a seed file becomes nkeySeed; a file without one is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-nkey-options-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
  const good = join(dir, 'user.nk');
  writeFileSync(good, `${seed}\n`);
  const bad = join(dir, 'bad.nk');
  writeFileSync(bad, 'not a seed\n');
  const servers = ['nats://127.0.0.1:4222'];

  t.equal(natsBusOptions({ nats: servers, nkeySeedFile: good }).nkeySeed, seed);
  t.throws(() => natsBusOptions({ nats: servers, nkeySeedFile: bad }), UsageError);

  const config = { servers, connectTimeoutMs: 1000 };
  t.equal(natsBusOptionsFor({ ...config, nkeySeedFile: good }).nkeySeed, seed);
  const err = t.throws(() => natsBusOptionsFor({ ...config, nkeySeedFile: bad }));
  t.ok(err instanceof RosterError && err.code === 'ROSTER_ERR_CONFIG', 'a config error');
});
