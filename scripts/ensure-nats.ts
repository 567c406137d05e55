/**
 * Run by `npm test` before tap: makes sure a nats-server binary exists (installing Debian's
 * package when root on Debian/Ubuntu), prints where it is and its version to stderr, and exits 1
 * with one clear line when no server can be had. Tests then fail rather than skip.
 */

import {
  ensureNatsServerBinary,
  natsServerVersion,
  natsUrlFromEnv,
} from '../cli/nats-server-binary.js';

try {
  const binary = await ensureNatsServerBinary({ log: (line) => console.error(line) });
  const version = await natsServerVersion(binary).catch(
    (err: unknown) => `version unknown (${err instanceof Error ? err.message : String(err)})`,
  );
  console.error(`using ${binary} (${version})`);
  const url = natsUrlFromEnv();
  if (url !== undefined) {
    console.error(`NATS_URL=${url} is set; the tests still start their own servers on free ports`);
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
