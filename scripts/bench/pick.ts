/**
 * Balancer pick throughput: `pool.pick()` per second for each strategy on a 100-instance pool,
 * pure and in-process (no NATS). Instances have weights 1..100 and three zones; the zone-aware
 * pool prefers one zone and picks round-robin inside it; the hashing strategies get one of
 * 4096 precomputed keys per pick. Each strategy is warmed up, then timed over PICKS picks
 * (default 2 000 000) in ROUNDS rounds (default 3); the median round is reported.
 *
 * Arguments: --picks N, --rounds N, --instances N.
 */

import { Pool, type PoolOptions, type PoolSource } from '../../client/pool.js';
import type { Instance } from '../../protocol/index.js';
import type { BenchOptions, BenchResult } from './run.js';
import { formatTable } from './table.js';

const WARMUP_PICKS = 200_000;
const KEY_COUNT = 4096;

interface Case {
  readonly field: string;
  readonly options: PoolOptions;
  readonly keyed: boolean;
}

const CASES: readonly Case[] = [
  { field: 'random_per_s', options: { strategy: 'random' }, keyed: false },
  { field: 'round_robin_per_s', options: { strategy: 'round-robin' }, keyed: false },
  { field: 'weighted_per_s', options: { strategy: 'weighted' }, keyed: false },
  { field: 'least_outstanding_per_s', options: { strategy: 'least-outstanding' }, keyed: false },
  { field: 'consistent_hash_per_s', options: { strategy: 'consistent-hash' }, keyed: true },
  { field: 'maglev_per_s', options: { strategy: 'maglev' }, keyed: true },
  { field: 'zone_aware_per_s', options: { strategy: 'round-robin', zone: 'z1' }, keyed: false },
];

function intArg(args: readonly string[], flag: string, fallback: number): number {
  const i = args.indexOf(flag);
  if (i === -1) return fallback;
  const value = Number(args[i + 1]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${flag} needs a positive integer`);
  return value;
}

function syntheticInstances(n: number): Instance[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `api-${i.toString().padStart(4, '0')}`,
    service: 'api',
    host: `10.0.${i >> 8}.${i & 255}`,
    port: 8080,
    tags: ['http'],
    meta: {},
    weight: 1 + ((i * 37) % 100),
    zone: `z${(i % 3) + 1}`,
    version: '1.4.2',
    status: 'passing',
    sessionId: `s${i}`,
    ownerNode: 'n1',
    registeredAt: 0,
    hlc: 1,
  }));
}

/** A watch that never changes. */
function staticSource(instances: readonly Instance[]): PoolSource {
  return { stale: false, instances: () => instances, on: () => () => undefined };
}

/** Picks per second over `picks` picks (after a warm-up); `sink` defeats dead-code removal. */
function timePicks(pool: Pool, picks: number, keys: readonly string[] | undefined): number {
  let sink = 0;
  const mask = KEY_COUNT - 1;
  if (keys) {
    for (let i = 0; i < WARMUP_PICKS; i++) sink += pool.pick(keys[i & mask])!.port;
  } else {
    for (let i = 0; i < WARMUP_PICKS; i++) sink += pool.pick()!.port;
  }
  const started = process.hrtime.bigint();
  if (keys) {
    for (let i = 0; i < picks; i++) sink += pool.pick(keys[i & mask])!.port;
  } else {
    for (let i = 0; i < picks; i++) sink += pool.pick()!.port;
  }
  const ns = Number(process.hrtime.bigint() - started);
  if (sink === 0) throw new Error('no picks');
  return picks / (ns / 1e9);
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const picks = intArg(options.args, '--picks', 2_000_000);
  const rounds = intArg(options.args, '--rounds', 3);
  const n = intArg(options.args, '--instances', 100);
  const instances = syntheticInstances(n);
  const keys = Array.from({ length: KEY_COUNT }, (_, i) => `session-${i * 7919}`);
  options.log(`${n} instances, ${rounds} × ${picks} picks per strategy after warm-up`);

  const result: Record<string, number> = {};
  const rows: [string, number, number][] = [];
  for (const c of CASES) {
    const pool = new Pool(staticSource(instances), c.options);
    // Some outstanding load for least-outstanding to compare.
    for (const [i, m] of pool.members().entries()) m.outstanding = i % 7;
    const perRound: number[] = [];
    for (let r = 0; r < rounds; r++)
      perRound.push(timePicks(pool, picks, c.keyed ? keys : undefined));
    const perSecond = Math.round(median(perRound));
    result[c.field] = perSecond;
    rows.push([
      pool.strategy.name + (c.options.zone ? ' (round-robin)' : ''),
      perSecond,
      1e9 / perSecond,
    ]);
    await pool.close();
    options.log(`${c.field}: ${perSecond.toLocaleString('en-US')}`);
  }
  options.log(`\n${formatTable(['strategy', 'picks/s', 'ns/pick'], rows)}`);
  return result;
}
