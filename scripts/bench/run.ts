/**
 * The benchmark runner: `npm run bench -- NAME [--json] [bench args…]`.
 *
 * Runs the bench module registered under NAME, prints its result as a table and, with --json,
 * prints exactly one JSON object (`{"bench":NAME,…}`) as the last line of stdout, so scripts
 * and CI can take `tail -n 1`. An unknown or missing NAME lists the benches and exits 2.
 */

import { formatRecord, formatTable } from './table.js';

export interface BenchOptions {
  /** --json was given (a bench may print less chatter then). */
  readonly json: boolean;
  /** Arguments after NAME other than --json, for the bench to interpret. */
  readonly args: readonly string[];
  /** Progress lines (stderr), so stdout keeps the table and the JSON line. */
  readonly log: (line: string) => void;
}

export type BenchResult = Record<string, number | string>;

/** A figure the bench is held to: `metric` of the result compared with `value`. */
export interface BenchTarget {
  readonly metric: string;
  readonly op: '<=' | '>=';
  readonly value: number;
}

export interface BenchModule {
  run(options: BenchOptions): Promise<BenchResult>;
  /** Targets printed next to the figures with pass/fail (and counted in `targets_met`). */
  readonly targets?: readonly BenchTarget[];
}

interface BenchEntry {
  readonly description: string;
  readonly load: () => Promise<BenchModule>;
}

/** Every bench, by name. Add new ones here (scripts/bench/<name>.ts exporting run()). */
export const benches: Readonly<Record<string, BenchEntry>> = {
  bus: {
    description: 'NATS bus floor: pub→sub throughput (200-byte messages) and request-reply latency',
    load: () => import('./bus.js'),
  },
  pick: {
    description: 'balancer pool.pick() per second for each strategy, 100 instances, in-process',
    load: () => import('./pick.js'),
  },
  propagation: {
    description: '3 nodes + watcher: registration ack → watcher applied (p50/p99), bus floor',
    load: () => import('./propagation.js'),
  },
  churn: {
    description: '3 nodes: sustained pipelined register+deregister ops/s, then digest convergence',
    load: () => import('./churn.js'),
  },
  scale: {
    description: '100k instances / 10k sessions on 3 nodes: RSS, 4th-node join, query p99',
    load: () => import('./scale.js'),
  },
  detection: {
    description: '3 nodes + watcher: kill -9 of a client / deregister() → removed (p50/p99)',
    load: () => import('./detection.js'),
  },
  gateway: {
    description:
      'gateway vs nginx (one process each, wrk): rps, p99 at half the peak, JWT + rate limit',
    load: () => import('./gateway.js'),
  },
};

function passes(target: BenchTarget, value: number): boolean {
  return target.op === '<=' ? value <= target.value : value >= target.value;
}

/** The targets table (metric, value, target, PASS/FAIL) and how many targets were met. */
export function formatTargets(
  targets: readonly BenchTarget[],
  record: BenchResult,
): { table: string; met: number } {
  let met = 0;
  const rows = targets.map((t) => {
    const value = record[t.metric];
    const ok = typeof value === 'number' && passes(t, value);
    if (ok) met++;
    return [
      t.metric,
      typeof value === 'number' ? value : String(value),
      `${t.op} ${t.value}`,
      ok ? 'PASS' : 'FAIL',
    ];
  });
  return { table: formatTable(['metric', 'value', 'target', 'result'], rows), met };
}

function usage(): string {
  const names = Object.entries(benches)
    .map(([name, entry]) => `  ${name.padEnd(12)} ${entry.description}`)
    .join('\n');
  return `usage: npm run bench -- NAME [--json] [args]\navailable benches:\n${names}`;
}

function writeOut(text: string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(`${text}\n`, () => resolve()));
}

async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  const rest = argv.filter((arg) => arg !== '--json');
  const name = rest.find((arg) => !arg.startsWith('-'));
  if (name === undefined || rest.includes('--help') || rest.includes('-h')) {
    process.stderr.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const entry = Object.hasOwn(benches, name) ? benches[name] : undefined;
  if (entry === undefined) {
    process.stderr.write(`unknown bench: ${name}\n${usage()}\n`);
    return 2;
  }
  const args = rest.filter((arg) => arg !== name);
  const log = (line: string) => process.stderr.write(`[bench ${name}] ${line}\n`);
  const bench = await entry.load();
  const result = await bench.run({ json, args, log });
  const record: BenchResult = { bench: name, ...result };
  record.bench = name;
  let targetsTable = '';
  if (bench.targets !== undefined && bench.targets.length > 0) {
    const { table, met } = formatTargets(bench.targets, record);
    record.targets_met = `${met}/${bench.targets.length}`;
    targetsTable = `\ntargets:\n${table}\n`;
  }
  await writeOut(`\n${formatRecord(record)}\n${targetsTable}`);
  if (json) await writeOut(JSON.stringify(record));
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(
    `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
}
// Benches close what they open; exit anyway so a stray handle cannot keep CI waiting.
process.exit();
