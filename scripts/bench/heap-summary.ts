/**
 * Summarises a V8 heap snapshot (`.heapsnapshot`, as written by the scale bench's
 * `--heap-snapshot DIR` or `v8.writeHeapSnapshot()`): total self size and the largest groups
 * of objects by type and constructor name, with counts and average size.
 *
 *   node --import=tsx scripts/bench/heap-summary.ts [--top N] FILE.heapsnapshot…
 *
 * Self sizes only (no retained sizes): a plain object's properties held out of line show as
 * `array (object properties)`, array contents as `array (object elements)`, strings by kind.
 */

import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatTable } from './table.js';

interface HeapSnapshot {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: readonly string[];
      readonly node_types: readonly [readonly string[], ...unknown[]];
    };
  };
  readonly nodes: readonly number[];
  readonly strings: readonly string[];
}

export interface HeapGroup {
  readonly group: string;
  readonly count: number;
  readonly bytes: number;
}

export function summarizeHeap(snap: HeapSnapshot): { total: number; groups: HeapGroup[] } {
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!] ?? 'unknown';
    const size = snap.nodes[i + sizeAt]!;
    total += size;
    let name: string;
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') {
      name = type;
    } else if (type === 'number') {
      name = 'heap number';
    } else {
      const raw = snap.strings[snap.nodes[i + nameAt]!] ?? '';
      name = `${type} ${raw.length > 60 ? `${raw.slice(0, 57)}...` : raw}`;
    }
    const g = groups.get(name) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += size;
    groups.set(name, g);
  }
  return {
    total,
    groups: [...groups].map(([group, g]) => ({ group, ...g })).sort((a, b) => b.bytes - a.bytes),
  };
}

function main(argv: readonly string[]): void {
  let top = 30;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--top') top = Number(argv[++i]);
    else files.push(argv[i]!);
  }
  if (files.length === 0) {
    process.stderr.write('usage: heap-summary.ts [--top N] FILE.heapsnapshot…\n');
    process.exitCode = 2;
    return;
  }
  for (const file of files) {
    const { total, groups } = summarizeHeap(JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot);
    const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
    process.stdout.write(
      `== ${basename(file)}: ${mb(total)} MB in ${groups.reduce((n, g) => n + g.count, 0)} objects\n` +
        formatTable(
          ['group', 'count', 'MB', 'share', 'avg B'],
          groups
            .slice(0, top)
            .map((g) => [
              g.group,
              g.count,
              mb(g.bytes),
              `${((g.bytes / total) * 100).toFixed(1)}%`,
              Math.round(g.bytes / g.count),
            ]),
        ) +
        '\n\n',
    );
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2));
}
