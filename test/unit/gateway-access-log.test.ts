/**
 * The access log (gateway/access-log-line.ts, gateway/access-log.ts): a line is one JSON
 * object in printable ASCII that reads back to the record whatever its strings hold; the
 * writer appends every line it takes, drops (and counts) what would pass its buffer bound
 * while the file does not take more, writes on to a new file after reopen(), and a path that
 * cannot be opened is a config error.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { AccessLog } from '../../gateway/access-log.js';
import {
  type AccessLogRecord,
  accessLogLine,
  MAX_LOGGED_STRING,
  pathOfTarget,
} from '../../gateway/access-log-line.js';
import { RosterError } from '../../protocol/index.js';
import { silentLogger } from '../../transport/logger.js';
import { eventually } from '../helpers/eventually.js';

const record: AccessLogRecord = {
  time: 1_780_000_000_000,
  requestId: 'rid-1',
  client: '203.0.113.9',
  method: 'GET',
  host: 'shop.example',
  path: '/api/items',
  route: 'api',
  status: 200,
  durationMs: 1.23456,
  upstream: '127.0.0.1:8080',
  upstreamMs: 0.5,
  attempts: 1,
  consumer: 'alice',
  reason: undefined,
};

const PRINTABLE_LINE = /^[\x20-\x7e]*\n$/;

t.test('a line is one JSON object with the record, absent values left out', async (t) => {
  const line = accessLogLine(record);
  t.match(line, PRINTABLE_LINE);
  t.same(JSON.parse(line), {
    time: 1_780_000_000_000,
    requestId: 'rid-1',
    client: '203.0.113.9',
    method: 'GET',
    host: 'shop.example',
    path: '/api/items',
    route: 'api',
    status: 200,
    durationMs: 1.235,
    upstream: '127.0.0.1:8080',
    upstreamMs: 0.5,
    attempts: 1,
    consumer: 'alice',
  });
  const bare = JSON.parse(
    accessLogLine({
      ...record,
      host: undefined,
      route: undefined,
      upstream: undefined,
      upstreamMs: undefined,
      consumer: undefined,
      attempts: 0,
      status: 404,
      reason: 'no_route',
      websocket: false,
    }),
  ) as Record<string, unknown>;
  t.same(Object.keys(bare), [
    'time',
    'requestId',
    'client',
    'method',
    'path',
    'status',
    'durationMs',
    'attempts',
    'reason',
  ]);
  t.equal(JSON.parse(accessLogLine({ ...record, status: 101, websocket: true })).websocket, true);
  // A head refused before it was read as a request: no method, path or duration.
  const refusedHead = JSON.parse(
    accessLogLine({
      ...record,
      method: undefined,
      host: undefined,
      path: undefined,
      route: undefined,
      status: 431,
      durationMs: undefined,
      upstream: undefined,
      upstreamMs: undefined,
      attempts: 0,
      consumer: undefined,
      reason: 'HPE_HEADER_OVERFLOW',
    }),
  ) as Record<string, unknown>;
  t.same(refusedHead, {
    time: 1_780_000_000_000,
    requestId: 'rid-1',
    client: '203.0.113.9',
    status: 431,
    attempts: 0,
    reason: 'HPE_HEADER_OVERFLOW',
  });
});

t.test('whatever the strings hold, the line is printable ASCII and reads back', async (t) => {
  const text = fc.string({ unit: 'binary', maxLength: 40 });
  fc.assert(
    fc.property(text, text, text, text, (path, host, consumer, method) => {
      const line = accessLogLine({ ...record, path, host, consumer, method });
      const back = JSON.parse(line) as Record<string, unknown>;
      return (
        PRINTABLE_LINE.test(line) &&
        back.path === path &&
        back.host === host &&
        back.consumer === consumer &&
        back.method === method
      );
    }),
    { numRuns: 1000 },
  );
  const line = accessLogLine({ ...record, path: '/a\r\n{"status":200}', consumer: 'é\uD800' });
  t.equal(line.split('\n').length, 2, 'a CR LF in the path starts no line');
  t.equal(JSON.parse(line).consumer, 'é\uD800', 'a lone surrogate reads back');
  t.equal(
    JSON.parse(accessLogLine({ ...record, path: '/a"b\\c' })).path,
    '/a"b\\c',
    'quotes and backslashes are escaped',
  );
  const long = JSON.parse(accessLogLine({ ...record, path: `/${'x'.repeat(5000)}` })).path;
  t.equal(long.length, MAX_LOGGED_STRING, 'a long path is cut to the bound');
  t.ok(long.endsWith('…'), 'and marked');
  t.equal(pathOfTarget('/a/b?key=secret'), '/a/b', 'a target is logged without its query');
  t.equal(pathOfTarget(undefined), '');
});

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'roster-access-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function linesOf(file: string): Record<string, unknown>[] {
  const text = readFileSync(file, 'latin1');
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error('a line was cut');
  return text
    .slice(0, -1)
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

t.test('every line taken is appended; close() writes what waits', async (t) => {
  const file = join(tempDir(t), 'access.log');
  const log = new AccessLog({ path: file, logger: silentLogger });
  for (let batch = 0; batch < 20; batch++) {
    for (let i = 0; i < 100; i++) log.record({ ...record, requestId: `r${batch * 100 + i}` });
    await new Promise((resolve) => setImmediate(resolve));
  }
  await log.close();
  const lines = linesOf(file);
  t.equal(lines.length, 2000);
  t.same(
    lines.map((l) => l.requestId),
    Array.from({ length: 2000 }, (_, i) => `r${i}`),
    'in order, none lost',
  );
  t.equal(log.written, 2000);
  t.equal(log.dropped, 0);
  log.record(record);
  t.equal(linesOf(file).length, 2000, 'nothing is taken once closed');
});

t.test('reopen() writes on to a new file at the path (log rotation)', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'access.log');
  const log = new AccessLog({ path: file, logger: silentLogger });
  log.record({ ...record, requestId: 'before' });
  await eventually(() => log.written === 1, { what: 'the first line written' });
  renameSync(file, join(dir, 'access.log.1'));
  log.record({ ...record, requestId: 'moved' });
  log.reopen();
  log.record({ ...record, requestId: 'after' });
  await log.close();
  const old = linesOf(join(dir, 'access.log.1')).map((l) => l.requestId);
  const now = linesOf(file).map((l) => l.requestId);
  t.same(old, ['before'], 'the rotated file keeps what was written before');
  t.same(now, ['moved', 'after'], 'lines not yet written go to the new file');
});

t.test('a reader that does not keep up costs lines, not memory', async (t) => {
  const dir = tempDir(t);
  const fifo = join(dir, 'access.fifo');
  execFileSync('mkfifo', [fifo]);
  // A reader exists (so the log can open the pipe) but reads nothing yet: the pipe fills.
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  t.teardown(() => closeSync(reader));
  let dropEvents = 0;
  const log = new AccessLog({
    path: fifo,
    maxBufferBytes: 65_536,
    logger: silentLogger,
    onDrop: (n) => {
      dropEvents += n;
    },
  });
  const total = 8000; // ~1.3 MB of lines, far more than the pipe and the bound hold
  for (let i = 0; i < total; i++) {
    log.record({ ...record, requestId: `r${i}` });
    // Time passes: batches are written until the pipe is full, then a write stays stuck.
    if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  t.ok(log.dropped > 0, `lines were dropped (${log.dropped})`);
  t.equal(dropEvents, log.dropped, 'each drop was reported');
  t.ok(log.written + log.dropped < total, 'a write is stuck on the full pipe');
  // Rotated twice while a write is stuck: the middle descriptor is never written to.
  log.reopen();
  log.reopen();
  // Now read: what was taken arrives whole.
  let text = '';
  const buf = Buffer.alloc(65_536);
  const closed = log.close();
  let done = false;
  void closed.then(() => {
    done = true;
  });
  while (!done || text.length === 0) {
    let n = 0;
    try {
      n = readSync(reader, buf);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
    if (n > 0) text += buf.toString('latin1', 0, n);
    else await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await closed;
  for (;;) {
    let n = 0;
    try {
      n = readSync(reader, buf);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
    if (n <= 0) break;
    text += buf.toString('latin1', 0, n);
  }
  const lines = text.slice(0, -1).split('\n');
  t.ok(text.endsWith('\n'), 'no line was cut');
  t.equal(lines.length, log.written, 'every line taken arrived');
  t.equal(log.written + log.dropped, total, 'each line was either written or dropped');
  const ids = lines.map((l) => (JSON.parse(l) as { requestId: string }).requestId);
  t.same(
    ids,
    [...ids].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))),
    'in order',
  );
  const holding = readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === fifo;
    } catch {
      return false;
    }
  });
  t.equal(holding.length, 1, 'after close only the reader holds the pipe (no descriptor leaked)');
});

t.test('a path that cannot be opened is a config error', async (t) => {
  const missing = join(tempDir(t), 'no-such-dir', 'access.log');
  t.throws(() => new AccessLog({ path: missing, logger: silentLogger }), RosterError);
  try {
    new AccessLog({ path: missing, logger: silentLogger });
  } catch (err) {
    t.equal((err as RosterError).code, 'ROSTER_ERR_CONFIG');
    t.match((err as Error).message, /accessLog\.path: cannot open/);
  }
});

t.test('stdout: a full non-blocking pipe delays lines, loses none', async (t) => {
  const lines = 8000;
  const child = spawn(
    process.execPath,
    [
      '--import=tsx',
      new URL('../fixtures/access-log-stdout.ts', import.meta.url).pathname,
      String(lines),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Nothing is read for a while: the pipe (64 KiB) fills and the child's writes meet EAGAIN.
  child.stdout.pause();
  let report = '';
  child.stderr.on('data', (c: Buffer) => {
    report += c.toString();
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  let text = '';
  child.stdout.on('data', (c: Buffer) => {
    text += c.toString('latin1');
  });
  child.stdout.resume();
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  t.equal(code, 0, `the child exited cleanly ${report}`);
  t.same(JSON.parse(report), { written: lines, dropped: 0 });
  const ids = text
    .slice(0, -1)
    .split('\n')
    .map((l) => (JSON.parse(l) as { requestId: string }).requestId);
  t.same(
    ids,
    Array.from({ length: lines }, (_, i) => `r${i}`),
    'every line, whole and in order',
  );
});
