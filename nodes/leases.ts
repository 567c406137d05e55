/**
 * The leases of the sessions this node owns. Only the owner expires a session, and never
 * for a cause of its own: while the node is cut off from the bus no lease expires, and after
 * a stall or a reconnect every lease gets one full TTL of grace.
 */
export interface Lease {
  readonly sessionId: string;
  readonly ttlMs: number;
  readonly secretHash: string;
  deadline: number;
}

export class LeaseTable {
  private readonly leases = new Map<string, Lease>();
  private paused = false;

  get size(): number {
    return this.leases.size;
  }

  get(sessionId: string): Lease | undefined {
    return this.leases.get(sessionId);
  }

  has(sessionId: string): boolean {
    return this.leases.has(sessionId);
  }

  /** Adds or replaces a lease, due `ttlMs` from now. */
  grant(sessionId: string, ttlMs: number, secretHash: string, now: number): Lease {
    const lease: Lease = { sessionId, ttlMs, secretHash, deadline: now + ttlMs };
    this.leases.set(sessionId, lease);
    return lease;
  }

  renew(lease: Lease, now: number): void {
    lease.deadline = Math.max(lease.deadline, now + lease.ttlMs);
  }

  release(sessionId: string): boolean {
    return this.leases.delete(sessionId);
  }

  /** Stops expiry (the bus is down: renewals cannot reach us). */
  pause(): void {
    this.paused = true;
  }

  /** Resumes expiry and gives every lease one full TTL from now. */
  resume(now: number): void {
    this.paused = false;
    this.graceAll(now);
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Every lease gets at least one full TTL from now (after a stall of our own). */
  graceAll(now: number): void {
    for (const lease of this.leases.values())
      lease.deadline = Math.max(lease.deadline, now + lease.ttlMs);
  }

  /** Removes and returns the leases past their deadline (none while paused). */
  takeExpired(now: number): Lease[] {
    if (this.paused) return [];
    const expired: Lease[] = [];
    for (const lease of this.leases.values()) if (lease.deadline <= now) expired.push(lease);
    for (const lease of expired) this.leases.delete(lease.sessionId);
    return expired;
  }

  values(): IterableIterator<Lease> {
    return this.leases.values();
  }
}
