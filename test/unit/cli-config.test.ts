/**
 * cli/config.ts: the key table is consistent, layering is flag > environment > file > default,
 * and every bad value is one ROSTER_ERR_CONFIG naming the flag, variable or file key.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import t from 'tap';
import {
  attributeOf,
  CONFIG_COMMANDS,
  CONFIG_KEYS,
  configKey,
  configure,
  keysFor,
  loadConfigFile,
  resolveConfig,
} from '../../cli/config.js';
import { createProgram } from '../../cli/program.js';
import { isRosterError } from '../../protocol/index.js';

const dir = mkdtempSync(join(tmpdir(), 'roster-config-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function configMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isRosterError(err, 'ROSTER_ERR_CONFIG')) return err.message;
    throw err;
  }
  throw new Error('expected a ROSTER_ERR_CONFIG');
}

t.test('the table is consistent', async (t) => {
  const keys = CONFIG_KEYS.map((k) => k.key);
  t.equal(new Set(keys).size, keys.length, 'keys are unique');
  const envs = CONFIG_KEYS.flatMap((k) => k.env);
  t.equal(new Set(envs).size, envs.length, 'environment variables are unique');
  for (const key of CONFIG_KEYS) {
    t.match(key.key, /^[a-z][A-Za-z]*(\.[a-z][A-Za-z]*)*$/, `${key.key}: a dotted camelCase path`);
    t.match(key.flag, /^--[a-z][a-z-]*$/, `${key.key}: a long flag`);
    t.ok(key.env.length > 0, `${key.key}: has an environment variable`);
    for (const env of key.env) {
      t.ok(env.startsWith('ROSTER_') || env === 'NATS_URL', `${env}: ROSTER_* (or NATS_URL)`);
    }
    t.ok(key.commands.length > 0, `${key.key}: used by a command`);
    t.ok(key.description.length > 10, `${key.key}: described`);
    for (const other of key.conflicts ?? []) t.ok(configKey(other), `${key.key}: conflicts exist`);
    if (key.default !== undefined) {
      t.doesNotThrow(
        () => key.type.fromFile(key.default),
        `${key.key}: the default is a valid value`,
      );
    }
    // no key is a prefix section of another key
    t.notOk(
      keys.some((k) => k.startsWith(`${key.key}.`)),
      `${key.key}: not both a key and a section`,
    );
  }
  for (const command of CONFIG_COMMANDS) {
    const flags = keysFor(command).map((k) => k.flag);
    t.equal(new Set(flags).size, flags.length, `${command}: flags are unique`);
  }
  t.doesNotThrow(() => createProgram(), 'every command builds its options from the table');
});

t.test('every table key is an option of each command that lists it', async (t) => {
  const program = createProgram();
  for (const command of CONFIG_COMMANDS) {
    const cmd = program.commands.find((c) => c.name() === command);
    t.ok(cmd, `roster ${command} exists`);
    const longs = new Set(cmd?.options.map((o) => o.long));
    for (const key of keysFor(command)) {
      t.ok(longs.has(key.flag), `roster ${command} has ${key.flag} (${key.key})`);
    }
    t.ok(longs.has('--config'), `roster ${command} has --config`);
  }
});

t.test('precedence: flag > environment > file > default', async (t) => {
  const keys = [configKey('node.heartbeatMs'), configKey('prefix'), configKey('nats.servers')];
  const config = loadConfigFile(
    file(
      'layers.yaml',
      'node:\n  heartbeatMs: 300\nprefix: fromfile\nnats:\n  servers: [nats://a:4222, b:4223]\n',
    ),
  );
  const resolve = (flags: Record<string, unknown>, env: NodeJS.ProcessEnv) =>
    resolveConfig(keys, { flags: new Map(Object.entries(flags)), env, file: config });

  let r = resolve({}, {});
  t.same(r.get('node.heartbeatMs'), {
    value: 300,
    source: 'file',
    origin: `node.heartbeatMs in ${config.path}`,
  });
  t.equal(r.get('prefix')?.value, 'fromfile');
  t.same(r.get('nats.servers')?.value, ['nats://a:4222', 'b:4223'], 'file list');

  r = resolve({}, { ROSTER_HEARTBEAT_MS: '400', ROSTER_PREFIX: 'fromenv', NATS_URL: 'nats://n:1' });
  t.equal(r.get('node.heartbeatMs')?.value, 400, 'environment over file');
  t.equal(r.get('node.heartbeatMs')?.origin, 'ROSTER_HEARTBEAT_MS');
  t.equal(r.get('prefix')?.value, 'fromenv');
  t.same(r.get('nats.servers')?.value, ['nats://n:1'], 'NATS_URL is a fallback variable');

  r = resolve({}, { ROSTER_NATS_URL: 'nats://r:1', NATS_URL: 'nats://n:1' });
  t.same(r.get('nats.servers')?.value, ['nats://r:1'], 'ROSTER_NATS_URL first');

  r = resolve({ 'node.heartbeatMs': 500 }, { ROSTER_HEARTBEAT_MS: '400' });
  t.same(r.get('node.heartbeatMs'), { value: 500, source: 'flag', origin: '--heartbeat-ms' });

  r = resolveConfig(keys, { flags: new Map(), env: { ROSTER_HEARTBEAT_MS: '  ' } });
  t.same(
    r.get('node.heartbeatMs'),
    { value: 1000, source: 'default', origin: 'default' },
    'empty variable: unset',
  );
  t.equal(r.get('prefix')?.value, 'roster');
});

t.test('per-command defaults', async (t) => {
  const key = [configKey('log.level')];
  const none = { flags: new Map(), env: {} };
  t.equal(resolveConfig(key, { ...none, command: 'node' }).get('log.level')?.value, 'info');
  t.equal(resolveConfig(key, { ...none, command: 'services' }).get('log.level')?.value, 'warn');
});

t.test('errors name the variable, the flag or the file key', async (t) => {
  const hb = [configKey('node.heartbeatMs')];
  t.equal(
    configMessage(() =>
      resolveConfig(hb, { flags: new Map(), env: { ROSTER_HEARTBEAT_MS: 'abc' } }),
    ),
    'ROSTER_HEARTBEAT_MS: not a positive integer ("abc")',
  );
  t.equal(
    configMessage(() => resolveConfig(hb, { flags: new Map(), env: { ROSTER_HEARTBEAT_MS: '5' } })),
    'ROSTER_HEARTBEAT_MS: must be from 10 to 60000 (got 5)',
  );
  const bad = loadConfigFile(file('bad-url.yaml', 'nats:\n  servers:\n    - http://x:4222\n'));
  t.match(
    configMessage(() =>
      resolveConfig([configKey('nats.servers')], { flags: new Map(), env: {}, file: bad }),
    ),
    /^nats\.servers\[0\]: not a nats:\/\/ URL \("http:\/\/x:4222"; .*\) in .*bad-url\.yaml$/,
  );
  const meta = loadConfigFile(file('meta.json', '{"register": {"meta": {"a": ["x"]}}}'));
  t.match(
    configMessage(() =>
      resolveConfig([configKey('register.meta')], { flags: new Map(), env: {}, file: meta }),
    ),
    /^register\.meta\.a: expected a string, got a list in /,
  );
  t.match(
    configMessage(() =>
      resolveConfig([configKey('register.service')], { flags: new Map(), env: {} }),
    ),
    /^register\.service is required: give --service, ROSTER_REGISTER_SERVICE or register\.service/,
  );
  t.equal(
    configMessage(() =>
      resolveConfig([configKey('nats.user'), configKey('nats.token')], {
        flags: new Map([['nats.user', 'u']]),
        env: { ROSTER_NATS_TOKEN: 'secret' },
      }),
    ),
    '--user cannot be combined with ROSTER_NATS_TOKEN',
  );
  t.equal(
    resolveConfig([configKey('nats.pass')], { flags: new Map(), env: { ROSTER_NATS_PASS: ' ' } })
      .size,
    0,
    'an empty password variable counts as unset',
  );
});

t.test('the file: YAML or JSON, unknown keys refused with a suggestion', async (t) => {
  t.match(
    configMessage(() => loadConfigFile(file('typo.yaml', 'node:\n  heartbeatMS: 5\n'))),
    /^node\.heartbeatMS: unknown key \(did you mean node\.heartbeatMs\?\) in /,
  );
  t.match(
    configMessage(() => loadConfigFile(file('top.yaml', 'nodes: 3\n'))),
    /^nodes: unknown key in /,
  );
  t.match(
    configMessage(() => loadConfigFile(file('section.yaml', 'nats: nats://x:4222\n'))),
    /^nats: expected a mapping/,
  );
  t.match(
    configMessage(() => loadConfigFile(file('broken.json', '{"a":'))),
    /not valid JSON/,
  );
  t.match(
    configMessage(() => loadConfigFile(file('broken.yaml', 'a: 1\na: 2\n'))),
    /not valid YAML \(line 2, column 1\): Map keys must be unique$/,
  );
  t.match(
    configMessage(() => loadConfigFile(join(dir, 'missing.yaml'), 'ROSTER_CONFIG')),
    /^ROSTER_CONFIG: cannot read configuration file .*missing\.yaml \(ENOENT\)$/,
  );
  t.doesNotThrow(
    () => loadConfigFile(file('gateway-section.yaml', 'gateway:\n  anything: goes\nprefix: x\n')),
    'the gateway section belongs to `roster gateway`',
  );
  t.same(loadConfigFile(file('empty.yaml', '')).data, {}, 'an empty file is an empty mapping');
});

t.test('commander integration: the action sees layered values', async (t) => {
  const seen: Record<string, unknown>[] = [];
  const build = () => {
    const program = new Command('roster').exitOverride();
    const cmd = program.command('node');
    configure(cmd, 'node').action((options: Record<string, unknown>) => {
      seen.push(options);
    });
    return program;
  };
  const config = file(
    'node.yaml',
    'node:\n  heartbeatMs: 250\n  id: from-file\nlog:\n  level: debug\n',
  );
  const saved = { ...process.env };
  t.teardown(() => {
    process.env = saved;
  });
  process.env.ROSTER_NODE_ID = 'from-env';
  await build().parseAsync(['node', '--config', config, '--log-level', 'error'], { from: 'user' });
  t.equal(seen[0]?.heartbeatMs, 250, 'file');
  t.equal(seen[0]?.id, 'from-env', 'environment over file');
  t.equal(seen[0]?.logLevel, 'error', 'flag over file');
  t.equal(seen[0]?.metricsHost, '0.0.0.0', 'default');
  t.equal(seen[0]?.metricsPort, undefined, 'unset without a default');
  t.equal(attributeOf('--heartbeat-ms'), 'heartbeatMs');

  process.env.ROSTER_CONFIG = config;
  delete process.env.ROSTER_NODE_ID;
  await build().parseAsync(['node'], { from: 'user' });
  t.equal(seen[1]?.id, 'from-file', 'ROSTER_CONFIG names the file');
});

t.test('repeatable flags collect their values', async (t) => {
  let seen: Record<string, unknown> = {};
  const program = new Command('roster').exitOverride();
  const cmd = program.command('register');
  configure(cmd, 'register').action((options: Record<string, unknown>) => {
    seen = options;
  });
  await program.parseAsync(
    [
      'register',
      '--service',
      'payments',
      '--host',
      'h',
      '--port',
      '1',
      '--tag',
      'a',
      '--tag',
      'b,c',
      '--meta',
      'k=v',
      '--meta',
      'roster.route.path-prefix=/p',
      '--check-tcp',
    ],
    { from: 'user' },
  );
  t.same(seen.tag, ['a', 'b', 'c']);
  t.same(seen.meta, { k: 'v', 'roster.route.path-prefix': '/p' });
  t.equal(seen.checkTcp, true);
  t.equal(seen.weight, 1);
});
