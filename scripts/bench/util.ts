/**
 * Small helpers shared by the cluster benchmarks: argument parsing, quantiles, rounding and a
 * clock that is comparable across processes on one machine.
 */

/** Milliseconds since the epoch with sub-millisecond resolution (comparable across processes). */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** `--flag N` as a positive integer, or `fallback` when absent. */
export function intArg(args: readonly string[], flag: string, fallback: number): number {
  const i = args.indexOf(flag);
  if (i === -1) return fallback;
  const value = Number(args[i + 1]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${flag} needs a positive integer`);
  return value;
}

/** `--flag VALUE` as a string, or undefined when absent. */
export function stringArg(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  if (i === -1) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`${flag} needs a value`);
  return value;
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** The median of the values (the mean of the middle two when their count is even). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The q-quantile (0..1) of sorted values, nearest-rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export interface Summary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** p50/p90/p99/max/mean of a list of samples (rounded to µs). */
export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return {
    count: sorted.length,
    p50: round(quantile(sorted, 0.5), 3),
    p90: round(quantile(sorted, 0.9), 3),
    p99: round(quantile(sorted, 0.99), 3),
    max: round(sorted.at(-1) ?? Number.NaN, 3),
    mean: round(mean, 3),
  };
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The order of `n` peers in round `round` of a Williams design (a Latin square balanced for
 * first-order carry-over): over n rounds (2n when n is odd) each peer runs once in every
 * position and right after each other peer equally often, so what one peer leaves behind (an
 * idle-time GC, sockets closing) falls into the others' rounds alike. Round 0 is
 * 0, n-1, 1, n-2, …; round r adds r to each (mod n), reversed in the second n rounds for odd n.
 */
export function balancedOrder(n: number, round: number): number[] {
  const r = round % (2 * n);
  const row: number[] = [];
  for (let lo = 0, hi = n - 1; row.length < n; ) {
    row.push((lo++ + r) % n);
    if (row.length < n) row.push((hi-- + r) % n);
  }
  return r >= n && n % 2 === 1 ? row.reverse() : row;
}
