/**
 * The seed's ReLU layer.
 *
 * @packageDocumentation
 */
import { allocateUninit, assertSameDType, dtypeOf } from '../dtype';
import { assertShape } from '../shape';
import { useSimd } from './backend';
import { simdReluBackward, simdReluForward } from './simd';
import { assertNDArray, type NDArray, type OwnedArray } from './types';

/**
 * Forward pass of a ReLU: out = max(x, 0), elementwise.
 *
 * Shape: x (any) -> out (same).
 *
 * @param x - input.
 * @returns `{ out, cache }` where the cache is x.
 * @example
 * ```ts
 * const { out, cache } = reluForward({ shape: [2], data: Float64Array.of(-1, 2) }); // out [0, 2]
 * ```
 */
export function reluForward(x: NDArray): { out: OwnedArray; cache: NDArray } {
  assertNDArray('reluForward', 'x', x);
  const src = x.data;
  const out = allocateUninit(dtypeOf(src), src.length);
  if (useSimd(src.length)) {
    simdReluForward(src, out);
  } else {
    for (let i = 0; i < src.length; i++) {
      const v = src[i];
      out[i] = v < 0 ? 0 : v; // NaN stays NaN, as in the seed's `out[out < 0] = 0`
    }
  }
  return { out: { shape: [...x.shape], data: out }, cache: x };
}

/**
 * Backward pass of a ReLU: dx = dout where x >= 0, else 0.
 *
 * NOTE: the gradient passes at x == 0 exactly (the seed's `x >= 0` mask); finite differences
 * are meaningless at that kink, so gradient tests keep inputs away from it.
 *
 * Shape: dout (like x) -> dx (like x).
 *
 * @param dout - upstream gradient.
 * @param cache - x, from {@link reluForward}.
 * @example
 * ```ts
 * const dx = reluBackward(dout, cache);
 * ```
 */
export function reluBackward(dout: NDArray, cache: NDArray): OwnedArray {
  const fn = 'reluBackward';
  assertNDArray(fn, 'dout', dout);
  assertNDArray(fn, 'cache', cache);
  assertShape(fn, 'dout', dout.shape, cache.shape, 'like x');
  assertSameDType(fn, 'x', cache.data, 'dout', dout.data);
  const x = cache.data;
  const g = dout.data;
  const dx = allocateUninit(dtypeOf(g), g.length);
  if (useSimd(g.length)) simdReluBackward(g, x, dx);
  else for (let i = 0; i < g.length; i++) dx[i] = x[i] >= 0 ? g[i] : 0;
  return { shape: [...dout.shape], data: dx };
}
