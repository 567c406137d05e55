/**
 * gateway/config-watcher.ts: a save reloads (debounced: a burst of events is one reload), a
 * save that changes nothing does not, a rename-over save is seen, a change to a referenced
 * file (a certificate) reloads, the signal always reloads, reloads never overlap.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ConfigWatcher, type ReloadTrigger } from '../../gateway/config-watcher.js';
import { eventually } from '../helpers/eventually.js';

function setup(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'roster-gw-watch-'));
  const certDir = mkdtempSync(join(tmpdir(), 'roster-gw-watch-cert-'));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(certDir, { recursive: true, force: true });
  });
  const file = join(dir, 'gateway.yaml');
  const cert = join(certDir, 'cert.pem');
  writeFileSync(file, 'a: 1\n');
  writeFileSync(cert, 'cert-1');
  const reloads: ReloadTrigger[] = [];
  let running = 0;
  let overlapped = false;
  const watcher = new ConfigWatcher({
    file,
    extraFiles: () => [cert],
    debounceMs: 30,
    signal: 'SIGUSR2',
    reload: async (trigger) => {
      running++;
      if (running > 1) overlapped = true;
      reloads.push(trigger);
      await new Promise((r) => setTimeout(r, 20));
      running--;
    },
  });
  const before = new Set(process.listeners('SIGUSR2'));
  watcher.start();
  t.teardown(() => watcher.close());
  // process.emit would also reach tap's signal-exit handler (which re-raises the signal and
  // kills the test): call the handler the watcher installed instead.
  const signal = () => {
    for (const l of process.listeners('SIGUSR2')) if (!before.has(l)) l('SIGUSR2');
  };
  return { file, cert, dir, reloads, watcher, signal, overlapped: () => overlapped };
}

const settle = () => new Promise((r) => setTimeout(r, 200));

t.test('saves reload once per burst; no-op saves do not', async (t) => {
  const { file, reloads, watcher } = setup(t);
  writeFileSync(file, 'a: 2\n');
  writeFileSync(file, 'a: 3\n');
  writeFileSync(file, 'a: 4\n');
  await eventually(() => reloads.length === 1, { what: 'one reload' });
  await settle();
  await watcher.idle();
  t.same(reloads, ['file']);

  writeFileSync(file, 'a: 4\n'); // same content
  await settle();
  t.same(reloads, ['file'], 'unchanged contents: no reload');
});

t.test('a rename-over save (editors, ConfigMaps) is seen', async (t) => {
  const { file, dir, reloads } = setup(t);
  const tmp = join(dir, '.gateway.yaml.swp');
  writeFileSync(tmp, 'a: 9\n');
  renameSync(tmp, file);
  await eventually(() => reloads.length === 1, { what: 'reload after rename' });
  t.same(reloads, ['file']);
});

t.test('a referenced file in another folder reloads', async (t) => {
  const { cert, reloads } = setup(t);
  writeFileSync(cert, 'cert-2');
  await eventually(() => reloads.length === 1, { what: 'reload after certificate change' });
});

t.test('the signal always reloads; reloads never overlap', async (t) => {
  const { file, reloads, watcher, overlapped, signal } = setup(t);
  signal();
  signal();
  writeFileSync(file, 'a: 5\n');
  await eventually(() => reloads.length >= 2, { what: 'reloads' });
  await settle();
  await watcher.idle();
  // The second signal waited for the first; the save during them is covered by it (same hash).
  t.same(reloads, ['signal', 'signal'], 'coalesced');
  t.notOk(overlapped(), 'one reload at a time');
  const before = reloads.length;
  signal();
  await eventually(() => reloads.length === before + 1, { what: 'signal with unchanged files' });
  await watcher.close();
  signal(); // the handler is gone: nothing
  writeFileSync(file, 'a: 6\n');
  await settle();
  t.equal(reloads.length, before + 1, 'nothing after close');
});
