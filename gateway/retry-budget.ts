/**
 * A retry budget (as in Envoy and Finagle): retries may add at most `percent` of the requests
 * seen over the last 10 seconds (at least `minPerWindow` retries, default 10, so a quiet route
 * can still retry), which keeps retries from multiplying load on an upstream that is already failing.
 * Ten one-second buckets; time from an injectable clock.
 */
export class RetryBudget {
  private readonly requests = new Float64Array(10);
  private readonly retries = new Float64Array(10);
  private second = 0;

  constructor(
    readonly percent = 20,
    readonly minPerWindow = 10,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one request (first attempts only). */
  request(): void {
    this.advance();
    this.requests[this.second % 10]!++;
  }

  /** Takes one retry from the budget; false when it is spent. */
  tryRetry(): boolean {
    this.advance();
    let reqs = 0;
    let rets = 0;
    for (let i = 0; i < 10; i++) {
      reqs += this.requests[i]!;
      rets += this.retries[i]!;
    }
    if (rets + 1 > Math.max(this.minPerWindow, (reqs * this.percent) / 100)) return false;
    this.retries[this.second % 10]!++;
    return true;
  }

  private advance(): void {
    const s = Math.floor(this.now() / 1000);
    if (s === this.second) return;
    const gap = Math.min(10, s - this.second);
    for (let i = 1; i <= gap; i++) {
      const slot = (this.second + i) % 10;
      this.requests[slot] = 0;
      this.retries[slot] = 0;
    }
    this.second = s;
  }
}
