import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  ensureNatsServerBinary,
  findNatsServerBinary,
  NATS_SERVER_INSTALL_HINT,
  natsServerVersion,
  natsUrlFromEnv,
} from '../../cli/nats-server-binary.js';
import { isRosterError } from '../../protocol/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'roster-bin-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function fakeServer(path: string, mode = 0o755): string {
  writeFileSync(path, '#!/bin/sh\necho "nats-server: v9.9.9-fake"\n');
  chmodSync(path, mode);
  return path;
}

/** Sets (or with undefined, removes) env variables for one test and restores them after. */
function withEnv(
  t: { teardown(fn: () => unknown): void },
  vars: Record<string, string | undefined>,
): void {
  const saved = Object.fromEntries(Object.keys(vars).map((key) => [key, process.env[key]]));
  const apply = (values: Record<string, string | undefined>): void => {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  apply(vars);
  t.teardown(() => apply(saved));
}

const executable = fakeServer(join(dir, 'my-nats'));
const notExecutable = fakeServer(join(dir, 'not-exec'), 0o644);
const pathDir = join(dir, 'bin');
mkdirSync(pathDir);
fakeServer(join(pathDir, 'nats-server'));
const emptyDir = join(dir, 'empty');
mkdirSync(emptyDir);

t.test('NATS_SERVER_BIN pointing at an executable wins', async (t) => {
  withEnv(t, { NATS_SERVER_BIN: executable, PATH: pathDir });
  t.equal(findNatsServerBinary(), executable);
  t.equal(await ensureNatsServerBinary({ install: false }), executable);
});

t.test('NATS_SERVER_BIN is resolved to an absolute path', async (t) => {
  withEnv(t, { NATS_SERVER_BIN: join(dir, '.', 'bin', '..', 'my-nats') });
  t.equal(findNatsServerBinary(), executable);
});

t.test('NATS_SERVER_BIN that is not executable is not replaced by another binary', async (t) => {
  withEnv(t, { NATS_SERVER_BIN: notExecutable, PATH: pathDir });
  t.equal(findNatsServerBinary(), undefined);
  const err = await ensureNatsServerBinary().catch((e: unknown) => e);
  t.ok(isRosterError(err, 'ROSTER_ERR_NATS_SERVER_MISSING'), 'typed error');
  t.match((err as Error).message, /NATS_SERVER_BIN=.*not-exec is not an executable file/);
});

t.test('a directory named by NATS_SERVER_BIN does not count', async (t) => {
  withEnv(t, { NATS_SERVER_BIN: pathDir });
  t.equal(findNatsServerBinary(), undefined);
});

t.test('nats-server on PATH is found when NATS_SERVER_BIN is unset', async (t) => {
  withEnv(t, { NATS_SERVER_BIN: undefined, PATH: [emptyDir, 'relative/dir', pathDir].join(':') });
  t.equal(findNatsServerBinary([]), join(pathDir, 'nats-server'));
});

t.test('well-known paths are tried after PATH', async (t) => {
  withEnv(t, { NATS_SERVER_BIN: '', PATH: emptyDir });
  t.equal(findNatsServerBinary([join(dir, 'missing'), notExecutable, executable]), executable);
  t.equal(findNatsServerBinary([]), undefined);
});

t.test('no binary and no install: one clear line', async (t) => {
  withEnv(t, { NATS_SERVER_BIN: undefined, PATH: emptyDir });
  const lines: string[] = [];
  const err = await ensureNatsServerBinary({
    install: false,
    wellKnownPaths: [],
    log: (line) => lines.push(line),
  }).catch((e: unknown) => e);
  t.ok(isRosterError(err, 'ROSTER_ERR_NATS_SERVER_MISSING'), 'typed error');
  const message = (err as Error).message;
  t.equal(message, NATS_SERVER_INSTALL_HINT);
  t.notMatch(message, /\n/, 'one line');
  t.match(message, /apt-get install nats-server/);
  t.match(message, /NATS_SERVER_BIN/);
  t.match(message, /NATS_URL/);
  t.same(lines, [], 'nothing installed, nothing logged');
});

t.test('natsUrlFromEnv', async (t) => {
  withEnv(t, { NATS_URL: 'nats://example:4222' });
  t.equal(natsUrlFromEnv(), 'nats://example:4222');
  process.env.NATS_URL = '  ';
  t.equal(natsUrlFromEnv(), undefined, 'blank counts as unset');
  delete process.env.NATS_URL;
  t.equal(natsUrlFromEnv(), undefined);
});

t.test('natsServerVersion reads the first line of --version', async (t) => {
  t.equal(await natsServerVersion(executable), 'nats-server: v9.9.9-fake');
});
