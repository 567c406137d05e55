import { readFile } from 'node:fs/promises';
import t from 'tap';
import { ErrorCodes } from '../../protocol/index.js';

t.test(
  'docs/errors.md lists exactly the codes of the registry, with their status and message',
  async (t) => {
    const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const rows = new Map<string, { status: number; message: string }>();
    for (const line of doc.split('\n')) {
      const m = /^\| `(ROSTER_ERR_[A-Z_]+)` \| (\d{3}) \| ([^|]+) \|/.exec(line);
      if (m) rows.set(m[1]!, { status: Number(m[2]), message: m[3]!.trim() });
    }
    t.same([...rows.keys()].sort(), Object.keys(ErrorCodes).sort(), 'same set of codes');
    for (const [code, spec] of Object.entries(ErrorCodes)) {
      t.same(rows.get(code), { status: spec.status, message: spec.message }, code);
    }
  },
);
