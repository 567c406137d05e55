/**
 * Configuration layering of the `roster` commands, end to end: flag > environment > file >
 * default, ROSTER_CONFIG, errors naming the flag, variable or file key (exit 2), and --help on
 * every command. A fake registry node (a catalog responder) stands in for the cluster.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { encodeTrusted, Subjects } from '../../protocol/index.js';
import { connectNatsBus } from '../../transport/index.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { runCli } from '../helpers/node-process.js';

const server = await natsServerFor(t);
const url = server.url;
const bus = await connectNatsBus({ servers: url });
t.teardown(() => bus.close());
bus.subscribe(new Subjects().catalog, (m) =>
  m.respond(
    encodeTrusted('catalogReply', {
      services: [{ name: 'layered', instances: 1, passing: 1 }],
      node: 'fake',
    }),
  ),
);
await bus.flush();

const dir = mkdtempSync(join(tmpdir(), 'roster-cli-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Environment of every command: no inherited NATS_URL or ROSTER_* settings. */
const CLEAN_ENV: NodeJS.ProcessEnv = Object.fromEntries(
  Object.keys(process.env)
    .filter((k) => k.startsWith('ROSTER_') || k === 'NATS_URL')
    .map((k) => [k, '']),
);

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCli(args, { env: { ...CLEAN_ENV, ...env } });
}

t.test('configuration layering: flag > environment > file > default', async (t) => {
  const dead = 'nats://127.0.0.1:1';
  const config = join(dir, 'roster.yaml');
  writeFileSync(config, `nats:\n  servers: [${dead}]\ntimeoutMs: 300\nprefix: nobody\n`);

  const fileOnly = await cli(['services', '--config', config]);
  t.equal(fileOnly.code, 1, 'the file is read');
  t.match(
    fileOnly.stderr,
    /could not connect to NATS at nats:\/\/127\.0\.0\.1:1 within 0 s/,
    'servers and timeout from the file',
  );

  const envOverFile = await cli(['services', '--config', config], {
    ROSTER_NATS_URL: url,
    ROSTER_PREFIX: 'roster',
  });
  t.equal(envOverFile.code, 0, `environment over file (${envOverFile.stderr})`);
  t.match(envOverFile.stdout, /^layered\s+1\s+1$/m);

  const viaEnvFile = await cli(['services'], {
    ROSTER_CONFIG: config,
    NATS_URL: url,
    ROSTER_PREFIX: 'roster',
  });
  t.equal(
    viaEnvFile.code,
    0,
    `ROSTER_CONFIG names the file; NATS_URL still beats it (${viaEnvFile.stderr})`,
  );

  const flagOverEnv = await cli(['services', '--nats', dead, '--timeout-ms', '300'], {
    ROSTER_NATS_URL: url,
  });
  t.equal(flagOverEnv.code, 1, 'flag over environment');
  t.match(flagOverEnv.stderr, /could not connect to NATS at nats:\/\/127\.0\.0\.1:1/);

  const prefixFromFile = await cli(['services', '--config', config, '--nats', url]);
  t.equal(prefixFromFile.code, 1, 'prefix from the file');
  t.match(prefixFromFile.stderr, /nobody\.v1\.catalog/);

  const defaults = await cli(['services', '--nats', url]);
  t.equal(defaults.code, 0, 'default prefix roster');
});

t.test('configuration errors name the key and exit 2', async (t) => {
  const badUrl = join(dir, 'bad-url.yaml');
  writeFileSync(badUrl, 'nats:\n  servers:\n    - http://example.com:4222\n');
  const typo = join(dir, 'typo.json');
  writeFileSync(typo, '{"node": {"heartbeatMS": 300}}');
  const cases: Array<{ args: string[]; env?: NodeJS.ProcessEnv; line: RegExp }> = [
    {
      args: ['services', '--config', badUrl],
      line: /^error: nats\.servers\[0\]: not a nats:\/\/ URL \("http:\/\/example\.com:4222"; expected nats:\/\/host:port\) in .*bad-url\.yaml$/,
    },
    {
      args: ['node'],
      env: { ROSTER_HEARTBEAT_MS: 'fast' },
      line: /^error: ROSTER_HEARTBEAT_MS: not a positive integer \("fast"\)$/,
    },
    {
      args: ['node'],
      env: { ROSTER_HEARTBEAT_MS: '5' },
      line: /^error: ROSTER_HEARTBEAT_MS: must be from 10 to 60000 \(got 5\)$/,
    },
    {
      args: ['node', '--config', typo],
      line: /^error: node\.heartbeatMS: unknown key \(did you mean node\.heartbeatMs\?\) in .*typo\.json$/,
    },
    {
      args: ['services'],
      env: { ROSTER_CONFIG: join(dir, 'absent.yaml') },
      line: /^error: ROSTER_CONFIG: cannot read configuration file .*absent\.yaml \(ENOENT\)$/,
    },
    {
      args: ['nodes'],
      env: { ROSTER_WAIT_MS: '0' },
      line: /^error: ROSTER_WAIT_MS: must be from 10 to 60000 \(got 0\)$/,
    },
    {
      args: ['watch', 'x'],
      env: { ROSTER_NATS_URL: 'http://x' },
      line: /^error: ROSTER_NATS_URL: not a nats:\/\/ URL/,
    },
    {
      args: ['services', '--timeout-ms', '0'],
      line: /^error: option '--timeout-ms <ms>' argument '0' is invalid\. must be from 1 to 600000 \(got 0\)$/,
    },
    {
      args: ['instances', 'Not_Valid!'],
      line: /^error: command-argument value 'Not_Valid!' is invalid for argument 'service'\./,
    },
    {
      args: ['services', '--user', 'u'],
      env: { ROSTER_NATS_TOKEN: 't' },
      line: /^error: --user cannot be combined with ROSTER_NATS_TOKEN$/,
    },
    { args: ['services', '--user', 'u'], line: /^error: --user needs --pass/ },
  ];
  await Promise.all(
    cases.map(async ({ args, env, line }) => {
      const result = await cli(args, env ?? {});
      const label = `roster ${args.join(' ')}${env ? ` with ${JSON.stringify(env)}` : ''}`;
      t.equal(result.code, 2, `${label}: exit 2`);
      const lines = result.stderr.trim().split('\n');
      t.equal(lines.length, 1, `${label}: one line (${result.stderr.trim()})`);
      t.match(lines[0], line, `${label}: names the key`);
      t.equal(result.stdout, '', `${label}: nothing on stdout`);
    }),
  );
});

t.test('--help on every command, --json on the listing ones, --version', async (t) => {
  const commands = [
    'node',
    'services',
    'instances',
    'watch',
    'nodes',
    'health',
    'register',
    'demo-service',
  ];
  const results = await Promise.all(commands.map((c) => cli([c, '--help'])));
  for (const [i, command] of commands.entries()) {
    const r = results[i]!;
    t.equal(r.code, 0, `${command} --help exits 0`);
    t.match(r.stdout, new RegExp(`^Usage: roster ${command}`, 'm'), `${command}: usage`);
    t.match(r.stdout, /--config <file>/, `${command}: --config`);
    t.match(r.stdout, /--nats <urls>/, `${command}: --nats`);
    t.match(r.stdout, /\[env:\s+ROSTER_PREFIX\]/, `${command}: names the environment variables`);
    if (['services', 'instances', 'watch', 'nodes', 'health'].includes(command)) {
      t.match(r.stdout, /--json/, `${command}: --json`);
    }
  }
  const top = await cli(['--help']);
  for (const command of commands)
    t.match(top.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), `roster --help lists ${command}`);
  const version = await cli(['--version']);
  t.equal(version.code, 0);
  t.match(version.stdout.trim(), /^\d+\.\d+\.\d+/);
});
