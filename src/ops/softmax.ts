/**
 * Softmax and log-softmax along one axis, on the tape, numerically stable: each line has its
 * maximum subtracted before exponentiation (the log-sum-exp trick), so logits of ±1e4 give
 * finite values and gradients.
 *
 * @packageDocumentation
 */
import { record, withGraphRule } from '../autograd/tape';
import { allocate, dtypeOf } from '../dtype';
import { useSimd } from '../kernels/backend';
import { simdSoftmaxRows, simdSoftmaxRowsBackward } from '../kernels/simd';
import { expNeg } from '../kernels/transcendental';
import { Tensor } from '../tensor';
import { lineAxis } from './reduce';
import { assertTensor } from './util';

/**
 * softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m) along `axis`, with m the line's maximum.
 *
 * NOTE: subtracting m changes nothing mathematically and keeps every exponent <= 0, so nothing
 * overflows; the largest term is exp(0) = 1, so the sum is >= 1 and the division is safe. As in
 * PyTorch, a line holding NaN, or +Infinity, or only -Infinity, gives NaN. The exponentials are
 * src/kernels/transcendental.ts's expNeg and each line's sums run as two interleaved partial
 * sums, so the WebAssembly SIMD path (large inputs, last axis) gives the same bits.
 * The backward is dx = y * (g - sum(g * y)) along the axis, from the saved output y.
 *
 * Shape: any -> same (each line along `axis` sums to 1).
 *
 * @param x - logits.
 * @param axis - the axis to normalise over (negative counts from the end). Default -1.
 * @throws ShapeError when the axis is out of range.
 * @example
 * ```ts
 * softmax(tensor([[1, 2, 3]])); // [[0.0900, 0.2447, 0.6652]]
 * ```
 */
export function softmax(x: Tensor, axis = -1): Tensor {
  const fn = 'softmax';
  assertTensor(fn, 'x', x);
  const { outer, size, inner } = lineAxis(fn, axis, x.shape);
  const xd = x.data;
  const dt = dtypeOf(xd);
  const yd = allocate(dt, xd.length);
  if (inner === 1 && useSimd(xd.length)) {
    simdSoftmaxRows(xd, yd, outer, size);
  } else {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * size * inner + i;
        const m = lineMax(xd, base, size, inner);
        // Two interleaved partial sums (even / odd positions), the order of the SIMD twin.
        let s0 = 0;
        let s1 = 0;
        let a = 0;
        for (; a + 1 < size; a += 2) {
          const k = base + a * inner;
          const e0 = expNeg(xd[k] - m);
          const e1 = expNeg(xd[k + inner] - m);
          yd[k] = e0;
          yd[k + inner] = e1;
          s0 += e0;
          s1 += e1;
        }
        if (a < size) {
          const e = expNeg(xd[base + a * inner] - m);
          yd[base + a * inner] = e;
          s0 += e;
        }
        const s = s0 + s1;
        for (a = 0; a < size; a++) yd[base + a * inner] /= s;
      }
    }
  }
  const out = new Tensor(yd, x.shape);
  const rec = record(out, fn, [x], (g) => {
    const r = allocate(dt, xd.length);
    if (inner === 1 && useSimd(xd.length)) {
      simdSoftmaxRowsBackward(g, yd, r, outer, size);
      return [r];
    }
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * size * inner + i;
        let d0 = 0;
        let d1 = 0;
        let a = 0;
        for (; a + 1 < size; a += 2) {
          const k = base + a * inner;
          d0 += g[k] * yd[k];
          d1 += g[k + inner] * yd[k + inner];
        }
        if (a < size) d0 += g[base + a * inner] * yd[base + a * inner];
        const dot = d0 + d1;
        for (a = 0; a < size; a++) {
          const k = base + a * inner;
          r[k] = yd[k] * (g[k] - dot);
        }
      }
    }
    return [r];
  });
  // y * (g - sum(g * y)) along the axis, through the output y (a 0-D x is one line of one element).
  const ax = lineAxis(fn, axis, x.shape).ax;
  return withGraphRule(rec, (g) => {
    const gy = g.mul(out);
    return [gy.sub(out.mul(x.shape.length === 0 ? gy : gy.sum(ax, true)))];
  });
}

/**
 * logSoftmax(x)_i = x_i - m - log(sum_j exp(x_j - m)) along `axis`, with m the line's maximum.
 *
 * NOTE: computed as above (log-sum-exp with the maximum subtracted), never as log(softmax(x)),
 * whose small probabilities underflow to 0 and give -Infinity: logits of ±1e4 give finite
 * results. The backward is dx = g - exp(y) * sum(g) along the axis, from the saved output y.
 *
 * Shape: any -> same.
 *
 * @param x - logits.
 * @param axis - the axis to normalise over (negative counts from the end). Default -1.
 * @throws ShapeError when the axis is out of range.
 * @example
 * ```ts
 * logSoftmax(tensor([0, 0])); // [-0.6931, -0.6931]
 * ```
 */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const fn = 'logSoftmax';
  assertTensor(fn, 'x', x);
  const { outer, size, inner } = lineAxis(fn, axis, x.shape);
  const xd = x.data;
  const dt = dtypeOf(xd);
  const yd = allocate(dt, xd.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      const m = lineMax(xd, base, size, inner);
      let s = 0;
      for (let a = 0; a < size; a++) s += Math.exp(xd[base + a * inner] - m);
      const lse = Math.log(s);
      for (let a = 0; a < size; a++) {
        const k = base + a * inner;
        yd[k] = xd[k] - m - lse;
      }
    }
  }
  const out = new Tensor(yd, x.shape);
  const rec = record(out, fn, [x], (g) => {
    const r = allocate(dt, xd.length);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * size * inner + i;
        let s = 0;
        for (let a = 0; a < size; a++) s += g[base + a * inner];
        for (let a = 0; a < size; a++) {
          const k = base + a * inner;
          r[k] = g[k] - Math.exp(yd[k]) * s;
        }
      }
    }
    return [r];
  });
  // g - exp(y) * sum(g) along the axis, through the output y.
  const ax = lineAxis(fn, axis, x.shape).ax;
  return withGraphRule(rec, (g) => [g.sub(out.exp().mul(x.shape.length === 0 ? g : g.sum(ax, true)))]);
}

/** The largest value of one line (-Infinity for an empty line; NaN values are skipped, they poison the sum anyway). */
function lineMax(xd: ArrayLike<number>, base: number, size: number, inner: number): number {
  let m = -Infinity;
  for (let a = 0; a < size; a++) {
    const v = xd[base + a * inner];
    if (v > m) m = v;
  }
  return m;
}
