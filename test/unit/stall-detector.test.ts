/**
 * nodes/stall-detector.ts with an injected clock: a check that comes later than one tick plus
 * the threshold reports the gap.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { StallDetector } from '../../nodes/stall-detector.js';

function fakeClock(start = 1_000) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

t.test('on-time ticks are not stalls; a late one reports its gap', async (t) => {
  const clock = fakeClock();
  const stalls: number[] = [];
  const detector = new StallDetector(1_000, (gap) => stalls.push(gap), 100, clock.now);
  detector.start();
  t.teardown(() => detector.close());

  for (let i = 0; i < 20; i++) {
    clock.advance(100);
    detector.check();
  }
  t.same(stalls, [], 'twenty on-time ticks: no stall');

  clock.advance(100 + 1_000);
  detector.check();
  t.same(stalls, [], 'late by exactly the threshold: not a stall');

  clock.advance(100 + 1_001);
  detector.check();
  t.same(stalls, [1_001], 'late by more than the threshold: a stall of that gap');

  clock.advance(100);
  detector.check();
  t.same(stalls, [1_001], 'the next on-time tick is fine again (the gap is not counted twice)');

  clock.advance(100 + 5_000);
  detector.check();
  t.same(stalls, [1_001, 5_000], 'every stall is reported');
});

t.test('start() measures from the moment it is called', async (t) => {
  const clock = fakeClock();
  const stalls: number[] = [];
  const detector = new StallDetector(500, (gap) => stalls.push(gap), 50, clock.now);
  clock.advance(60_000); // time passing before start() is not a stall
  detector.start();
  t.teardown(() => detector.close());
  clock.advance(50);
  detector.check();
  t.same(stalls, [], 'no stall right after start');
});

t.test('the timer runs the checks; close() stops them', async (t) => {
  const clock = fakeClock();
  const stalls: number[] = [];
  const detector = new StallDetector(1_000, (gap) => stalls.push(gap), 20, clock.now);
  detector.start();
  clock.advance(5_000); // the fake clock jumps: the next timer tick sees a 5 s gap
  const deadline = Date.now() + 2_000;
  while (stalls.length === 0 && Date.now() < deadline) await sleep(10);
  t.equal(stalls.length, 1, 'the timer noticed the stall');
  t.equal(stalls[0], 5_000 - 20, 'gap = elapsed - tick');

  detector.close();
  clock.advance(10_000);
  await sleep(100);
  t.equal(stalls.length, 1, 'no checks after close()');
  detector.close(); // idempotent
});

t.test('the default tick is a quarter of the threshold, within 20..250 ms', async (t) => {
  // Observable through the gap arithmetic: gap = elapsed - tick.
  const cases: Array<[threshold: number, tick: number]> = [
    [40, 20],
    [400, 100],
    [1_000, 250],
    [10_000, 250],
  ];
  for (const [threshold, tick] of cases) {
    const clock = fakeClock();
    const gaps: number[] = [];
    const detector = new StallDetector(threshold, (gap) => gaps.push(gap), undefined, clock.now);
    detector.start();
    clock.advance(tick + threshold + 1);
    detector.check();
    detector.close();
    t.same(gaps, [threshold + 1], `threshold ${threshold}: tick ${tick}`);
  }
});
