/** Small helpers shared by the optimizer tests. */
import type { DType } from '../../src/dtype';
import { Tensor } from '../../src/tensor';

/** A 1-D parameter tensor (leaf, requiresGrad) holding `values`. */
export function param(values: number[], dtype: DType = 'float64'): Tensor {
  const data = dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values);
  return new Tensor(data, [values.length], { requiresGrad: true });
}

/** Sets `p.grad` to a fresh tensor of p's dtype holding `values`. */
export function setGrad(p: Tensor, values: number[]): void {
  const data = p.dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values);
  p.grad = new Tensor(data, [...p.shape]);
}

/** The values of a tensor's data as a plain array. */
export function vals(p: Tensor): number[] {
  return Array.from(p.data);
}

/** Largest relative error |a - b| / max(|a|, |b|) over two equal-length arrays. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(a[i]), Math.abs(b[i])));
  }
  return worst;
}

/** Expects two typed arrays to be the same type and bit-identical (NaN and -0 included). */
export function expectBitIdentical(a: Float64Array | Float32Array, b: Float64Array | Float32Array): void {
  expect(a.constructor).toBe(b.constructor);
  expect(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))).toBe(true);
}

export { expectThrows } from '../helpers/errors';

/**
 * A deterministic, nonlinear gradient of the parameters' current values, so a resumed run
 * sees exactly the gradients the uninterrupted run saw.
 */
export function syntheticGrad(p: Tensor, salt: number): number[] {
  return Array.from(p.data, (x, i) => Math.sin(3 * x + i + salt) + 0.1 * x);
}
