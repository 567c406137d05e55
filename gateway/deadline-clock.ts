/**
 * One coarse ticker for the gateway's connection timeouts (upstream connections and the edge's
 * client connections), instead of socket timers that Node re-arms on every read and write. A
 * connection keeps a deadline (performance.now() based, 0 for none) and the clock checks every
 * watched connection each tick: a timeout fires at most one tick late, never early.
 */
import { performance } from 'node:perf_hooks';

export interface DeadlineHolder {
  /** Called each tick with the current time; fires the holder's timeout when due. */
  checkDeadline(now: number): void;
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
