/**
 * One coarse ticker for the gateway's connection timeouts (upstream connections and the edge's
 * client connections), instead of socket timers that Node re-arms on every read and write. A
 * connection keeps a deadline (performance.now() based, 0 for none) and the clock checks every
 * watched connection each tick: a timeout fires at most one tick late, never early.
 */
import { performance } from 'node:perf_hooks';
import { clockNow } from './read-clock.js';

export interface DeadlineHolder {
  /** Called each tick with the current time; fires the holder's timeout when due. */
  checkDeadline(now: number): void;
}

/**
 * The deadline `ms` from now (the read clock's time), rounded up to a whole millisecond, never
 * early. A whole number stays a small integer inside the connection object; a fraction would
 * make V8 keep every connection's deadline in a separate heap number, one more object for each
 * read and write to bring back into the CPU's cache (a process up for more than ~24 days gets
 * those again: its clock outgrows small integers).
 */
export function deadlineAfter(ms: number, now = clockNow()): number {
  return Math.ceil(now + ms);
}

export class DeadlineClock {
  private readonly watched = new Set<DeadlineHolder>();
  private timer: NodeJS.Timeout | undefined = undefined;

  constructor(private readonly tickMs = 50) {}

  watch(holder: DeadlineHolder): void {
    this.watched.add(holder);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    }
  }

  unwatch(holder: DeadlineHolder): void {
    this.watched.delete(holder);
    if (this.watched.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private tick(): void {
    const now = performance.now();
    for (const holder of this.watched) holder.checkDeadline(now);
  }
}

/** The clock all connections of the process share. */
export const deadlineClock = new DeadlineClock();
