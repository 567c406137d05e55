/**
 * Records what a ServiceWatch emitted, with timestamps, so a test can assert on what a
 * watcher saw over a whole scenario (never a removal; every removal within a bound; stale
 * then fresh) instead of sampling its state now and then.
 */
import type { ServiceWatch, WatchEvent } from '../../client/index.js';

export interface WatchLog {
  /** performance.now() of the last 'added' or 'updated' event, by instance id. */
  readonly present: Map<string, number>;
  /** performance.now() of every 'removed' event, by instance id. */
  readonly removed: Map<string, number[]>;
  /** Every event type seen, in order (snapshot events are not emitted to listeners). */
  readonly types: WatchEvent['type'][];
  /** Removals of any of `ids`. */
  removalsOf(ids: Iterable<string>): string[];
  stop(): void;
}

export function logWatch(watch: ServiceWatch): WatchLog {
  const present = new Map<string, number>();
  const removed = new Map<string, number[]>();
  const types: WatchEvent['type'][] = [];
  const off = watch.on((e) => {
    types.push(e.type);
    const now = performance.now();
    if (e.type === 'added' || e.type === 'updated') present.set(e.instance.id, now);
    else if (e.type === 'removed') {
      const list = removed.get(e.instance.id) ?? [];
      list.push(now);
      removed.set(e.instance.id, list);
    }
  });
  return {
    present,
    removed,
    types,
    removalsOf(ids) {
      return [...ids].filter((id) => removed.has(id));
    },
    stop: off,
  };
}

/** The sum of every series of `name` in Prometheus text (optionally only those with `labels`). */
export function promSum(
  text: string,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labelText = m[2] ?? '';
    if (Object.entries(labels).some(([k, v]) => !labelText.includes(`${k}="${v}"`))) continue;
    sum += Number(m[3]);
  }
  return sum;
}

/** Every label set of `name` with its value: `[{labels}, value]`. */
export function promSeries(text: string, name: string): [Record<string, string>, number][] {
  const out: [Record<string, string>, number][] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[lm[1]!] = lm[2]!;
    out.push([labels, Number(m[3])]);
  }
  return out;
}
