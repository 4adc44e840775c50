/**
 * The loss kernels' values against their definitions, written out directly in float64:
 * softmax cross-entropy = -mean_i log(exp(s_iy) / sum_j exp(s_ij)), its gradient
 * (softmax - onehot) / N, and the multiclass hinge loss. Gradient checks alone would accept a
 * loss and a gradient that are wrong in the same way; these pin the values.
 */
import fc from 'fast-check';

import { softmaxLoss, svmLoss } from '../../src/kernels';

const caseArb = fc
  .record({ n: fc.integer({ min: 1, max: 12 }), c: fc.integer({ min: 1, max: 9 }) })
  .chain(({ n, c }) =>
    fc.record({
      n: fc.constant(n),
      c: fc.constant(c),
      // Moderate scores, so the unshifted definition below neither overflows nor underflows.
      scores: fc.array(fc.double({ min: -20, max: 20, noNaN: true }), { minLength: n * c, maxLength: n * c }),
      labels: fc.array(fc.integer({ min: 0, max: c - 1 }), { minLength: n, maxLength: n }),
    }),
  );

const close = (got: number, want: number): boolean => Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want));

describe('loss kernels', () => {
  test('softmaxLoss matches the definition, loss and gradient', () => {
    fc.assert(
      fc.property(caseArb, ({ n, c, scores, labels }) => {
        const { loss, dx } = softmaxLoss({ shape: [n, c], data: Float64Array.from(scores) }, labels);
        let want = 0;
        for (let i = 0; i < n; i++) {
          const row = scores.slice(i * c, (i + 1) * c);
          const z = row.reduce((acc, v) => acc + Math.exp(v), 0);
          want -= Math.log(Math.exp(row[labels[i]]) / z) / n;
          for (let j = 0; j < c; j++) {
            const g = (Math.exp(row[j]) / z - (j === labels[i] ? 1 : 0)) / n;
            if (!close(dx.data[i * c + j], g)) return false;
          }
        }
        return close(loss, want);
      }),
      { seed: 20261126, numRuns: 200 },
    );
  });

  test('softmaxLoss stays finite and exact on scores whose exp overflows', () => {
    // Row [1000, 1001]: log-softmax is [-log(1 + e), 1 - log(1 + e)].
    const { loss, dx } = softmaxLoss({ shape: [1, 2], data: Float64Array.of(1000, 1001) }, [0]);
    expect(loss).toBeCloseTo(Math.log(1 + Math.E), 14);
    expect(dx.data[0]).toBeCloseTo(1 / (1 + Math.E) - 1, 14);
    expect(dx.data[1]).toBeCloseTo(Math.E / (1 + Math.E), 14);
  });

  test('svmLoss matches the definition, loss and gradient', () => {
    fc.assert(
      fc.property(caseArb, ({ n, c, scores, labels }) => {
        const { loss, dx } = svmLoss({ shape: [n, c], data: Float64Array.from(scores) }, labels);
        let want = 0;
        for (let i = 0; i < n; i++) {
          const y = labels[i];
          let positive = 0;
          for (let j = 0; j < c; j++) {
            if (j === y) continue;
            const margin = scores[i * c + j] - scores[i * c + y] + 1;
            if (margin > 0) positive++;
            want += Math.max(0, margin) / n;
            if (dx.data[i * c + j] !== (margin > 0 ? 1 / n : 0)) return false;
          }
          if (dx.data[i * c + y] !== -positive / n) return false;
        }
        return close(loss, want);
      }),
      { seed: 20261126, numRuns: 200 },
    );
  });
});
