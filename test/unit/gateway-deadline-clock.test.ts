/**
 * Deadlines (gateway/deadline-clock.ts): `deadlineAfter` gives a whole millisecond, never
 * earlier than asked (connections keep their deadlines as small integers), and the shared
 * clock fires a watched holder's check on its tick until it is unwatched.
 */
import fc from 'fast-check';
import t from 'tap';
import { DeadlineClock, deadlineAfter } from '../../gateway/deadline-clock.js';

t.test('deadlineAfter: a whole millisecond, not early, at most one late', async (t) => {
  fc.assert(
    fc.property(
      fc.double({ min: 0, max: 2 ** 30, noNaN: true }),
      fc.double({ min: 0, max: 3_600_000, noNaN: true }),
      (now, ms) => {
        const deadline = deadlineAfter(ms, now);
        return Number.isInteger(deadline) && deadline >= now + ms && deadline <= now + ms + 1;
      },
    ),
    { numRuns: 2000 },
  );
  t.equal(deadlineAfter(5_000, 1_234), 6_234, 'whole times stay as they are');
  t.equal(deadlineAfter(5_000, 1_234.001), 6_235);
  const before = performance.now();
  const fromNow = deadlineAfter(1_000);
  t.ok(
    fromNow >= before + 1_000 && fromNow <= performance.now() + 1_001,
    'from the clock by default',
  );
});

t.test('the clock checks each watched holder on its tick, until unwatched', async (t) => {
  const clock = new DeadlineClock(5);
  const seen: number[] = [];
  const holder = { checkDeadline: (now: number) => seen.push(now) };
  clock.watch(holder);
  await new Promise((resolve) => setTimeout(resolve, 60));
  clock.unwatch(holder);
  const count = seen.length;
  t.ok(count >= 2, `${count} ticks`);
  t.ok(
    seen.every((now, i) => i === 0 || now > seen[i - 1]!),
    'each with the time of its tick',
  );
  await new Promise((resolve) => setTimeout(resolve, 30));
  t.equal(seen.length, count, 'none after unwatch');
});
