/**
 * Reductions on the tape: sum, mean, max and min, over everything or one axis; argmax (off
 * the tape, it has no gradient).
 *
 * @packageDocumentation
 */
import { record, withGraphRule } from '../autograd/tape';
import { expandTo } from './graph_rules';
import { allocate, dtypeOf, type FloatArray } from '../dtype';
import { optionalBoolean } from '../options';
import { ShapeError } from '../errors';
import { formatShape, normalizeAxis, sizeOf } from '../shape';
import { Tensor } from '../tensor';
import { assertTensor } from './util';

/** Splits a shape around `axis` into (outer, size, inner) so element (o, a, i) sits at (o*size + a)*inner + i. */
export function split(shape: readonly number[], axis: number): { outer: number; size: number; inner: number } {
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
    const rec = record(out, fn, [x], (g) => {
      const r = allocate(dt, xd.length);
      r.fill(g[0] * scale);
      return [r];
    });
    return withGraphRule(rec, (g) => [expandTo(scale === 1 ? g : g.mul(scale), x.shape)]);
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
  const rec = record(new Tensor(od, shape), fn, [x], (g: FloatArray) => {
    const r = allocate(dt, xd.length);
    for (let o = 0; o < outer; o++) {
      for (let a = 0; a < size; a++) {
        const base = (o * size + a) * inner;
        for (let i = 0; i < inner; i++) r[base + i] = g[o * inner + i] * scale;
      }
    }
    return [r];
  });
  const kept = x.shape.map((d, i) => (i === ax ? 1 : d));
  return withGraphRule(rec, (g) => [expandTo((scale === 1 ? g : g.mul(scale)).reshape(kept), x.shape)]);
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

/**
 * Resolves `axis` of a tensor of `shape` for an op that works along lines (softmax, max, argmax):
 * negative axes count from the end; a 0-D tensor is one line of one element, with axis 0 or -1
 * (as PyTorch allows).
 *
 * @internal
 * @param fn - the op's name, for the message.
 * @param axis - the axis as the user gave it.
 * @param shape - the tensor's shape.
 * @returns the non-negative axis (0 for a 0-D tensor) and the (outer, size, inner) split around it.
 * @throws ShapeError when the axis is not an integer in [-rank, rank) (in [-1, 1) for 0-D).
 * @example
 * ```ts
 * lineAxis('softmax', -1, [2, 3]); // { ax: 1, outer: 2, size: 3, inner: 1 }
 * ```
 */
export function lineAxis(fn: string, axis: unknown, shape: readonly number[]): { ax: number; outer: number; size: number; inner: number } {
  if (shape.length === 0) {
    normalizeAxis(fn, axis as number, 1);
    return { ax: 0, outer: 1, size: 1, inner: 1 };
  }
  const ax = normalizeAxis(fn, axis as number, shape.length);
  return { ax, ...split(shape, ax) };
}

function emptyError(fn: string, shape: readonly number[], axis: number | undefined): ShapeError {
  const where = axis === undefined ? 'over all elements' : `along axis ${axis}`;
  return new ShapeError(`${fn}: cannot reduce ${where} of x ${formatShape(shape)}: there are no elements to choose from (size 0)`);
}

/** a beats b for `fn` (NaN beats everything, as in PyTorch, which propagates NaN). */
function beats(fn: 'max' | 'min', a: number, b: number): boolean {
  if (a !== a) return b === b;
  return fn === 'max' ? a > b : a < b;
}

/** x is one of the extremes `m` of its line: equal to it, or NaN when m is NaN. */
function hits(x: number, m: number): boolean {
  return x === m || (m !== m && x !== x);
}

/**
 * Calls `visit(k, line, count)` for every element k equal to its line's extreme `od[line]`
 * (NaN matching NaN), `count` being how many tie in that line: the one place both backward
 * rules of max/min find where the gradient goes.
 */
function forEachExtreme(
  xd: FloatArray, od: FloatArray, outer: number, size: number, inner: number,
  visit: (k: number, line: number, count: number) => void,
): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      const line = o * inner + i;
      const m = od[line];
      let count = 0;
      for (let a = 0; a < size; a++) if (hits(xd[base + a * inner], m)) count++;
      for (let a = 0; a < size; a++) if (hits(xd[base + a * inner], m)) visit(base + a * inner, line, count);
    }
  }
}

function extreme(fn: 'max' | 'min', x: Tensor, axis: number | undefined | null, keepDimsArg: unknown): Tensor {
  assertTensor(fn, 'x', x);
  const keepDims = optionalBoolean(fn, 'keepDims', keepDimsArg, false);
  const xd = x.data;
  const dt = dtypeOf(xd);
  // Over all elements: one line of every element; along an axis: the lines of that axis.
  let outer = 1;
  let size = xd.length;
  let inner = 1;
  let shape: number[];
  let kept: number[];
  if (axis === undefined || axis === null) {
    if (xd.length === 0) throw emptyError(fn, x.shape, undefined);
    kept = x.shape.map(() => 1);
    shape = keepDims ? kept : [];
  } else {
    const l = lineAxis(fn, axis, x.shape);
    if (l.size === 0) throw emptyError(fn, x.shape, axis);
    ({ outer, size, inner } = l);
    kept = x.shape.map((d, i) => (i === l.ax ? 1 : d));
    shape = x.shape.length === 0 ? [] : keepDims ? kept : x.shape.filter((_, i) => i !== l.ax);
  }
  const od = allocate(dt, outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      let m = xd[base];
      for (let a = 1; a < size; a++) {
        const v = xd[base + a * inner];
        if (beats(fn, v, m)) m = v;
      }
      od[o * inner + i] = m;
    }
  }
  const rec = record(new Tensor(od, shape), fn, [x], (g: FloatArray) => {
    const r = allocate(dt, xd.length);
    forEachExtreme(xd, od, outer, size, inner, (k, line, count) => (r[k] = g[line] / count));
    return [r];
  });
  // g broadcast back, times the constant split (1/k on each of the k extremes, 0 elsewhere).
  return withGraphRule(rec, (g) => {
    const split = allocate(dt, xd.length);
    forEachExtreme(xd, od, outer, size, inner, (k, _line, count) => (split[k] = 1 / count));
    return [expandTo(g.reshape(kept), x.shape).mul(new Tensor(split, x.shape))];
  });
}

/**
 * Largest element, of all elements or along one axis, like PyTorch's `amax`. NaN propagates
 * (a line holding NaN has maximum NaN), as in PyTorch.
 *
 * NOTE: the gradient goes to the arg-extreme and is split evenly among ties: each of the k
 * elements equal to the maximum gets g / k, which is what PyTorch's `amax` and `torch.max(x)`
 * (without dim) do; `torch.max(x, dim)` instead sends it all to the one index it returns. The
 * even split is the subgradient that does not depend on an arbitrary choice. Where the maximum
 * is NaN, the gradient is split among the NaN elements, with or without an axis (as
 * `torch.max(x)` does; PyTorch 1.13's `amax` along an axis gives NaN gradients to that line).
 *
 * Shape: x (d0..dk) -> [] for all, or x's shape without `axis` (kept as 1 with keepDims).
 *
 * @param x - input.
 * @param axis - axis to reduce (negative counts from the end); all elements when undefined.
 * @param keepDims - keep reduced axes as size 1. Default false.
 * @throws ShapeError when the axis is out of range or there is nothing to reduce (size 0);
 *   ArgumentError when keepDims is not a boolean.
 * @example
 * ```ts
 * max(tensor([[1, 5], [3, 2]]), 1); // [5, 3]
 * ```
 */
export function max(x: Tensor, axis?: number, keepDims = false): Tensor {
  return extreme('max', x, axis, keepDims);
}

/**
 * Smallest element, of all elements or along one axis, like PyTorch's `amin`; NaN propagates.
 *
 * NOTE: as {@link max}, the gradient is split evenly among the elements equal to the minimum.
 *
 * Shape: as {@link max}.
 *
 * @param x - input.
 * @param axis - axis to reduce (negative counts from the end); all elements when undefined.
 * @param keepDims - keep reduced axes as size 1. Default false.
 * @throws ShapeError when the axis is out of range or there is nothing to reduce (size 0);
 *   ArgumentError when keepDims is not a boolean.
 * @example
 * ```ts
 * min(tensor([[1, 5], [3, 2]]), 0); // [1, 2]
 * ```
 */
export function min(x: Tensor, axis?: number, keepDims = false): Tensor {
  return extreme('min', x, axis, keepDims);
}

/**
 * Index of the largest element along `axis` (or in the flattened tensor when `axis` is
 * undefined), as an Int32Array laid out row-major over x's shape without `axis`. Ties give the
 * first index and NaN counts as larger than any number, as in PyTorch. Not on the tape: indices
 * have no gradient.
 *
 * Shape: x (d0..dk) -> x's shape without `axis` (one element when axis is undefined).
 *
 * @param x - input.
 * @param axis - axis to search (negative counts from the end); the flattened tensor when undefined.
 * @throws ShapeError when the axis is out of range or the searched axis is empty.
 * @example
 * ```ts
 * argmax(tensor([[1, 5], [7, 2]]), 1); // Int32Array [1, 0]
 * ```
 */
export function argmax(x: Tensor, axis?: number): Int32Array {
  const fn = 'argmax';
  assertTensor(fn, 'x', x);
  const xd = x.data;
  if (axis === undefined || axis === null) {
    if (xd.length === 0) throw emptyError(fn, x.shape, undefined);
    let best = 0;
    for (let i = 1; i < xd.length; i++) if (beats('max', xd[i], xd[best])) best = i;
    return Int32Array.of(best);
  }
  const { outer, size, inner } = lineAxis(fn, axis, x.shape);
  if (size === 0) throw emptyError(fn, x.shape, axis);
  const out = new Int32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      let best = 0;
      for (let a = 1; a < size; a++) if (beats('max', xd[base + a * inner], xd[base + best * inner])) best = a;
      out[o * inner + i] = best;
    }
  }
  return out;
}
