/**
 * Reductions on the tape: sum and mean, over everything or one axis.
 *
 * @packageDocumentation
 */
import { record } from '../autograd/tape';
import { allocate, dtypeOf, type FloatArray } from '../dtype';
import { optionalBoolean } from '../options';
import { normalizeAxis, sizeOf } from '../shape';
import { Tensor } from '../tensor';
import { assertTensor } from './util';

/** Splits a shape around `axis` into (outer, size, inner) so element (o, a, i) sits at (o*size + a)*inner + i. */
function split(shape: readonly number[], axis: number): { outer: number; size: number; inner: number } {
  return { outer: sizeOf(shape.slice(0, axis)), size: shape[axis], inner: sizeOf(shape.slice(axis + 1)) };
}

function reduce(fn: 'sum' | 'mean', x: Tensor, axis: number | undefined, keepDimsArg: unknown): Tensor {
  assertTensor(fn, 'x', x);
  const keepDims = optionalBoolean(fn, 'keepDims', keepDimsArg, false);
  const xd = x.data;
  const dt = dtypeOf(xd);
  if (axis === undefined || axis === null) {
    let s = 0;
    for (let i = 0; i < xd.length; i++) s += xd[i];
    const count = xd.length;
    const scale = fn === 'mean' ? 1 / count : 1;
    const od = allocate(dt, 1);
    od[0] = fn === 'mean' ? s / count : s;
    const out = new Tensor(od, keepDims ? x.shape.map(() => 1) : []);
    return record(out, fn, [x], (g) => {
      const r = allocate(dt, xd.length);
      r.fill(g[0] * scale);
      return [r];
    });
  }
  const ax = normalizeAxis(fn, axis, x.shape.length);
  const { outer, size, inner } = split(x.shape, ax);
  const od = allocate(dt, outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let a = 0; a < size; a++) {
      const base = (o * size + a) * inner;
      for (let i = 0; i < inner; i++) od[o * inner + i] += xd[base + i];
    }
  }
  const scale = fn === 'mean' ? 1 / size : 1;
  if (fn === 'mean') for (let i = 0; i < od.length; i++) od[i] /= size;
  const shape = keepDims ? x.shape.map((d, i) => (i === ax ? 1 : d)) : x.shape.filter((_, i) => i !== ax);
  return record(new Tensor(od, shape), fn, [x], (g: FloatArray) => {
    const r = allocate(dt, xd.length);
    for (let o = 0; o < outer; o++) {
      for (let a = 0; a < size; a++) {
        const base = (o * size + a) * inner;
        for (let i = 0; i < inner; i++) r[base + i] = g[o * inner + i] * scale;
      }
    }
    return [r];
  });
}

/**
 * Sum of all elements, or along one axis.
 *
 * Shape: x (d0..dk) -> [] for all, or x's shape without `axis` (kept as 1 with keepDims).
 *
 * @param x - input.
 * @param axis - axis to reduce (negative counts from the end); all axes when undefined.
 * @param keepDims - keep reduced axes as size 1. Default false.
 * @throws ShapeError when the axis is out of range; ArgumentError when keepDims is not a boolean.
 * @example
 * ```ts
 * sum(tensor([[1, 2], [3, 4]]), 0); // [4, 6]
 * ```
 */
export function sum(x: Tensor, axis?: number, keepDims = false): Tensor {
  return reduce('sum', x, axis, keepDims);
}

/**
 * Mean of all elements, or along one axis.
 *
 * Shape: as {@link sum}.
 *
 * @param x - input.
 * @param axis - axis to reduce; all axes when undefined.
 * @param keepDims - keep reduced axes as size 1. Default false.
 * @throws ShapeError when the axis is out of range; ArgumentError when keepDims is not a boolean.
 * @example
 * ```ts
 * mean(tensor([[1, 2], [3, 4]]), 1); // [1.5, 3.5]
 * ```
 */
export function mean(x: Tensor, axis?: number, keepDims = false): Tensor {
  return reduce('mean', x, axis, keepDims);
}
