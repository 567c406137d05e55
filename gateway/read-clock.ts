/**
 * The clock of the gateway's hot path (docs/adr/0007-gateway-hot-path.md). Node's
 * performance.now() checks its receiver and reads the system clock, ~50 ns here, and a request
 * read it seven times. Reads of data that skip net's dispatcher (direct-reads.ts) note once when
 * they arrived, and whatever runs synchronously in that read's callback — parsing, routing, the
 * response and its accounting, the timeouts it sets — takes that time. Outside such a callback
 * (timers, promise continuations, TLS sockets, Node's server) clockNow() is performance.now().
 *
 * A time taken this way is early by however long the callback has run so far: microseconds,
 * well inside the millisecond timeouts and the latency histograms' buckets.
 */
import { performance } from 'node:perf_hooks';

/** performance.now() when the read being handled arrived; 0 outside a read callback. */
let readArrivedAt = 0;

/** The current time in performance.now() milliseconds (see above). */
export function clockNow(): number {
  return readArrivedAt !== 0 ? readArrivedAt : performance.now();
}

/** A read arrived: until readHandled(), clockNow() is now. */
export function readArrived(): void {
  readArrivedAt = performance.now();
}

/** The read's callback returned. */
export function readHandled(): void {
  readArrivedAt = 0;
}
