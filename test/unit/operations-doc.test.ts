/**
 * docs/operations.md's configuration reference is the key table of cli/config.ts: every key
 * documented exists, every key is documented (with its flag and variables), and the section is
 * exactly what scripts/config-reference.ts generates.
 */

import { existsSync, readFileSync } from 'node:fs';
import t from 'tap';
import { CONFIG_KEYS, REFERENCE_BEGIN, REFERENCE_END } from '../../cli/config.js';
import { OPERATIONS_DOC, withReference } from '../../scripts/config-reference.js';

const doc = readFileSync(OPERATIONS_DOC, 'utf8');

function referenceRows(): Map<string, { flag: string; env: string[] }> {
  const begin = doc.indexOf(REFERENCE_BEGIN);
  const end = doc.indexOf(REFERENCE_END);
  const rows = new Map<string, { flag: string; env: string[] }>();
  if (begin < 0 || end < begin) return rows;
  for (const line of doc.slice(begin, end).split('\n')) {
    const m = /^\| `([^`]+)` \| `(--[a-z-]+)[^`]*` \| ([^|]+) \|/.exec(line);
    if (m) {
      rows.set(m[1]!, {
        flag: m[2]!,
        env: [...m[3]!.matchAll(/`([A-Z_]+)`/g)].map((e) => e[1]!),
      });
    }
  }
  return rows;
}

t.test('the reference section exists', async (t) => {
  t.ok(doc.includes(REFERENCE_BEGIN), 'begin marker');
  t.ok(doc.includes(REFERENCE_END), 'end marker');
});

t.test('every key in the reference exists in the table, with its flag and variables', async (t) => {
  const rows = referenceRows();
  t.ok(rows.size > 0, 'the reference has rows');
  const table = new Map(CONFIG_KEYS.map((k) => [k.key, k]));
  for (const [key, row] of rows) {
    const spec = table.get(key);
    t.ok(spec, `${key} is a key of cli/config.ts`);
    if (!spec) continue;
    t.equal(row.flag, spec.flag, `${key}: flag`);
    t.same(row.env, spec.env, `${key}: environment variables`);
  }
});

t.test('every table key is documented', async (t) => {
  const rows = referenceRows();
  for (const key of CONFIG_KEYS) t.ok(rows.has(key.key), `${key.key} is in docs/operations.md`);
});

t.test('the reference is the generated one', async (t) => {
  t.equal(
    withReference(doc),
    doc,
    'up to date (run `node --import=tsx scripts/config-reference.ts --write`)',
  );
});

t.test('the files the doc points at exist', async (t) => {
  for (const file of [
    'docs/examples/nats-server.conf',
    'docker-compose.yml',
    'Dockerfile',
    'scripts/cluster',
    'docs/architecture.md',
    'docs/metrics.md',
    'docs/errors.md',
  ]) {
    t.ok(existsSync(new URL(`../../${file}`, import.meta.url)), file);
  }
});
