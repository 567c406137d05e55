/**
 * The benchmarks' helpers for rounds (scripts/bench/util.ts): the balanced round order — every
 * round a permutation, each peer in every position, each ordered pair of neighbours equally
 * often (once over n rounds for even n, twice over 2n rounds for odd n) — and the median.
 */
import t from 'tap';
import { balancedOrder, median } from '../../scripts/bench/util.js';

function rounds(n: number): number[][] {
  const count = n % 2 === 0 ? n : 2 * n;
  return Array.from({ length: count }, (_, r) => balancedOrder(n, r));
}

for (const n of [2, 3, 4, 5, 6]) {
  t.test(`${n} peers`, async (t) => {
    const rows = rounds(n);
    const all = Array.from({ length: n }, (_, i) => i);
    for (const row of rows) {
      const sorted = [...row].sort((a, b) => a - b);
      t.same(sorted, all, `${row} is a permutation`);
    }
    for (let position = 0; position < n; position++) {
      const seen = new Set(rows.map((row) => row[position]));
      t.equal(seen.size, n, `every peer runs in position ${position}`);
    }
    const follows = new Map<string, number>();
    for (const row of rows) {
      for (let i = 1; i < n; i++) {
        const pair = `${row[i - 1]}>${row[i]}`;
        follows.set(pair, (follows.get(pair) ?? 0) + 1);
      }
    }
    t.equal(follows.size, n * (n - 1), 'every ordered pair of neighbours occurs');
    t.same(new Set(follows.values()), new Set([n % 2 === 0 ? 1 : 2]), 'and equally often');
  });
}

t.test('the design repeats after its length', async (t) => {
  t.same(balancedOrder(4, 4), balancedOrder(4, 0));
  t.same(balancedOrder(3, 7), balancedOrder(3, 1));
});

t.test('median: the middle value, or the mean of the middle two', async (t) => {
  t.equal(median([3]), 3);
  t.equal(median([5, 1, 3]), 3);
  t.equal(median([3.9, 3.61, 3.17, 3.24]), (3.24 + 3.61) / 2);
  t.equal(median([2, 1]), 1.5);
  const values = [4, 2, 8, 6];
  median(values);
  t.same(values, [4, 2, 8, 6], 'the input is left in its order');
});
