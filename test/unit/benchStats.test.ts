import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { median, medianInterval } from '../../bench/harness';

describe('bench statistics: the median of per-round ratios and its interval', () => {
  const ranks = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

  it('gives the order-statistic ranks of the standard table for a 95 % interval', () => {
    // Rank k (1-based) of the lower bound; the upper bound is rank n − k + 1. Coverage 1 − 2·P(B(n,½) ≤ k − 1).
    const table: [number, number][] = [
      [6, 1],
      [8, 1],
      [9, 2],
      [10, 2],
      [12, 3],
      [15, 4],
      [20, 6],
      [25, 8],
      [30, 10],
    ];
    for (const [n, k] of table) assert.deepEqual(medianInterval(ranks(n)), [k, n - k + 1], `n = ${n}`);
  });

  it('has no 95 % interval under six rounds, and sorts its input', () => {
    assert.equal(medianInterval(ranks(5)), undefined);
    assert.equal(medianInterval([]), undefined);
    assert.deepEqual(medianInterval([1.3, 1.1, 1.5, 1.2, 1.4, 1.25, 1.35, 1.28, 1.31, 1.22]), [1.2, 1.4]);
    assert.equal(median([1.3, 1.1, 1.5, 1.2]), 1.25);
  });

  it('narrows with a lower level', () => {
    assert.deepEqual(medianInterval(ranks(10), 0.8), [3, 8]);
  });
});
