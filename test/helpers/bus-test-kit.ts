/**
 * What the Bus tests share (test/helpers/bus-conformance.ts and the bus test files): unique
 * subject tokens, polling, proof that a publisher reaches a subscriber (awaitInterest), byte
 * and text payload helpers, and assertions on typed RosterErrors.
 */
import type { Test } from 'tap';
import { type ErrorCode, isRosterError } from '../../protocol/errors.js';
import type { Bus, BusMessage } from '../../transport/bus.js';

export const EMPTY = new Uint8Array(0);
let tokenCounter = 0;

/** A subject token unique within this process. */
export function uniqueToken(): string {
  tokenCounter++;
  return `${process.pid}x${Date.now().toString(36)}x${tokenCounter}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 5 ms; throws with `what` after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * Resolves once `publisher` can reach subscriptions made on `subscriber` before this call.
 * It subscribes a probe responder on `subscriber` (after the caller's subscriptions, so on
 * NATS its interest travels behind theirs on every route) and requests it from `publisher`
 * until it answers.
 */
export async function awaitInterest(subscriber: Bus, publisher: Bus, timeoutMs = 10_000) {
  const subject = `conformance.ready.${uniqueToken()}`;
  const sub = subscriber.subscribe(subject, (msg) => {
    msg.respond(EMPTY);
  });
  try {
    await subscriber.flush();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await publisher.request(subject, EMPTY, { timeoutMs: 250 });
        return;
      } catch (err) {
        const retry =
          isRosterError(err, 'ROSTER_ERR_NO_RESPONDERS') ||
          isRosterError(err, 'ROSTER_ERR_TIMEOUT');
        if (!retry) throw err;
        if (Date.now() > deadline)
          throw new Error(`no interest on ${subject} after ${timeoutMs} ms`);
        await sleep(20);
      }
    }
  } finally {
    sub.unsubscribe();
  }
}

export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

export function readU32(data: Uint8Array, offset = 0): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(offset);
}

export function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function str(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

/** Asserts that `promise` rejects with a RosterError of `code`; returns the error. */
export async function rejectsWith(
  t: Test,
  promise: Promise<unknown>,
  code: ErrorCode,
  message: string,
): Promise<unknown> {
  try {
    await promise;
    t.fail(`${message}: resolved, expected ${code}`);
    return undefined;
  } catch (err) {
    t.ok(isRosterError(err, code), `${message}: ${code}`, { found: err });
    return err;
  }
}

/** Asserts that `fn` throws a RosterError of `code`. */
export function throwsWith(t: Test, fn: () => unknown, code: ErrorCode, message: string): void {
  try {
    fn();
    t.fail(`${message}: did not throw, expected ${code}`);
  } catch (err) {
    t.ok(isRosterError(err, code), `${message}: ${code}`, { found: err });
  }
}

/** Subscribes a responder on `responder` and requests it from `asker` until it answers. */
export async function requestUntil(
  asker: Bus,
  responder: Bus,
  subject: string,
): Promise<BusMessage> {
  const sub = responder.subscribe(subject, (m) => {
    m.respond(text('pong'));
  });
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        return await asker.request(subject, EMPTY, { timeoutMs: 500 });
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(50);
      }
    }
  } finally {
    sub.unsubscribe();
  }
}
