/** Closeness checks shared by the tests. */
import type { FloatArray } from '../../src/dtype';

/** Largest elementwise relative error max|a-b| / max(|a|, |b|, tiny), CS231n-style. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(a[i] - b[i]);
    if (diff === 0) continue;
    const e = diff / Math.max(Math.abs(a[i]), Math.abs(b[i]), 1e-300);
    if (e > worst) worst = e;
  }
  return worst;
}

/** max|a-b| / max|b|: error relative to the array's scale, for results with cancellation. */
export function normRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

/** A fixture array as stored by gen_fixtures.py. */
export interface FixtureArray {
  shape: number[];
  data: number[];
}

/** The fixture as an NDArray of float64. */
export function nd(f: FixtureArray): { shape: number[]; data: Float64Array } {
  return { shape: [...f.shape], data: Float64Array.from(f.data) };
}

/** The fixture as an NDArray of float32. */
export function nd32(f: FixtureArray): { shape: number[]; data: Float32Array } {
  return { shape: [...f.shape], data: Float32Array.from(f.data) };
}

/** Expects `actual` to match the fixture's shape and values to relative error `tol`. */
export function expectClose(actual: { shape: readonly number[]; data: FloatArray }, expected: FixtureArray, tol = 1e-12): void {
  expect([...actual.shape]).toEqual(expected.shape);
  expect(maxRelError(actual.data, expected.data)).toBeLessThanOrEqual(tol);
}
