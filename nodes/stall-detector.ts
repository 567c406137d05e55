/**
 * Notices when this process's event loop stopped for longer than a threshold (GC pause, CPU
 * starvation, a debugger, a suspended VM): a timer that fires late by more than the
 * threshold reports the gap. Self-preservation hangs off this signal.
 */
export class StallDetector {
  private timer: NodeJS.Timeout | undefined;
  private last = 0;

  constructor(
    private readonly thresholdMs: number,
    private readonly onStall: (gapMs: number) => void,
    private readonly tickMs = Math.max(20, Math.min(250, thresholdMs / 4)),
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(): void {
    this.last = this.now();
    this.timer = setInterval(() => this.check(), this.tickMs);
    this.timer.unref();
  }

  /** Checks the gap since the last check; exposed for tests. */
  check(): void {
    const t = this.now();
    const gap = t - this.last - this.tickMs;
    this.last = t;
    if (gap > this.thresholdMs) this.onStall(gap);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
