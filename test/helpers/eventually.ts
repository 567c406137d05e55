/**
 * Poll-until-condition with a deadline: the test waits for a state, never sleeps and hopes.
 * `fn` may be sync or async; an attempt fails when it throws or returns false, null or
 * undefined, and passes otherwise (so `() => list.find(...)` waits for the item, and an
 * assertion-style function returns true after its checks). The last failure is included in
 * the timeout error, so a failed wait says what it was still seeing.
 */

export interface EventuallyOptions {
  /** Give up after this long (default 10 000 ms). */
  readonly timeoutMs?: number;
  /** Wait between attempts (default 25 ms). */
  readonly intervalMs?: number;
  /** What is being waited for, for the error message. */
  readonly what?: string;
}

/** Calls `fn` until an attempt passes (resolves with its value); rejects after `timeoutMs`. */
export async function eventually<T>(
  fn: () => T | Promise<T>,
  options: EventuallyOptions = {},
): Promise<Exclude<T, false | null | undefined>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let last: unknown = 'condition was false';
  for (;;) {
    try {
      const value = await fn();
      if (value !== false && value !== null && value !== undefined)
        return value as Exclude<T, false | null | undefined>;
      last = `returned ${String(value)}`;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : String(last);
      throw new Error(
        `eventually: ${options.what ?? 'condition'} not met within ${timeoutMs} ms (last: ${detail})`,
        { cause: last },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Milliseconds since `start` (performance.now() based). */
export function since(start: number): number {
  return Math.round(performance.now() - start);
}

export interface AlwaysOptions {
  /** How long the property must keep holding. */
  readonly forMs: number;
  /** Wait between checks (default 50 ms). */
  readonly intervalMs?: number;
  readonly what?: string;
}

/**
 * The observation window of a "never" property: calls `fn` every interval for `forMs` and
 * rejects at the first attempt that throws or returns false/null. Use it only where nothing
 * observable marks the end of the risk (for example "no removal, even after the orphan grace
 * period has run out"); wait for a condition with eventually() everywhere else.
 */
export async function always(fn: () => unknown, options: AlwaysOptions): Promise<void> {
  const intervalMs = options.intervalMs ?? 50;
  const end = Date.now() + options.forMs;
  for (;;) {
    let value: unknown;
    try {
      value = await fn();
    } catch (err) {
      throw new Error(
        `always: ${options.what ?? 'property'} broke: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    if (value === false || value === null)
      throw new Error(`always: ${options.what ?? 'property'} broke (returned ${String(value)})`);
    if (Date.now() >= end) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, end - Date.now())));
  }
}
