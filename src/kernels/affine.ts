/**
 * The seed's affine (fully connected) layer: out = reshape(x, [N, D]) @ w + b.
 *
 * @packageDocumentation
 */
import { allocateUninit, assertSameDType, dtypeOf, type FloatArray } from '../dtype';
import { ArgumentError, DTypeError, ShapeError, ValueError } from '../errors';
import { checkOptions, optionalBoolean } from '../options';
import { describe, formatShape, assertShape, sizeOf } from '../shape';
import { useSimd } from './backend';
import { gemmChecked } from './gemm';
import { simdColSums } from './simd';
import { assertNDArray, type NDArray, type OwnedArray } from './types';

/** What {@link affineForward} keeps for the backward pass: the seed's `(x, w, b)`. */
export interface AffineCache {
  /** The input, shape (N, d1..dk). */
  readonly x: NDArray;
  /** The weights, shape (D, M). */
  readonly w: NDArray;
  /** The bias, shape (M). */
  readonly b: NDArray;
}

/**
 * Forward pass of an affine layer; each row of x is flattened to D = d1 * ... * dk.
 *
 * Shape: x (N, d1, ..., dk), w (D, M), b (M) -> out (N, M).
 *
 * @param x - input batch.
 * @param w - weights, the seed's layout (in, out).
 * @param b - bias.
 * @returns `{ out, cache }`.
 * @throws ShapeError when w is not (D, M) for x's D or b is not (M); DTypeError on mixed dtypes.
 * @example
 * ```ts
 * const { out, cache } = affineForward(x, w, b);
 * ```
 */
export function affineForward(x: NDArray, w: NDArray, b: NDArray): { out: OwnedArray; cache: AffineCache } {
  const fn = 'affineForward';
  const { n, d, m } = checkAffine(fn, x, w, b);
  const out = allocateUninit(dtypeOf(x.data), n * m); // gemm writes every element
  gemmChecked(x.data, w.data, out, n, m, d, b.data, 0);
  return { out: { shape: [n, m], data: out }, cache: { x, w, b } };
}

/**
 * Backward pass of an affine layer: dx = dout @ wᵀ (reshaped like x), dw = xᵀ @ dout,
 * db = sum of dout over rows.
 *
 * Shape: dout (N, M) -> dx (N, d1..dk), dw (D, M), db (M).
 *
 * @param dout - upstream gradient.
 * @param cache - from {@link affineForward}.
 * @example
 * ```ts
 * const { dx, dw, db } = affineBackward(dout, cache);
 * ```
 */
export function affineBackward(
  dout: NDArray,
  cache: AffineCache,
): { dx: OwnedArray; dw: OwnedArray; db: OwnedArray } {
  const { dx, dw, db } = affineGrads(dout, cache, { dx: true, dw: true, db: true });
  return { dx: dx!, dw: dw!, db: db! };
}

/**
 * {@link affineBackward} computing only the gradients asked for (null for the others): the
 * tape skips dx for a first layer whose input needs no gradient, a third of that layer's work.
 *
 * @param dout - upstream gradient (N, M).
 * @param cache - from {@link affineForward}.
 * @param want - which of dx, dw, db to compute (each a boolean; an omitted one is false).
 * @throws ArgumentError when want is not an object or holds a non-boolean; ValueError on an
 *   unknown key; ShapeError / DTypeError when dout does not match the cache.
 * @example
 * ```ts
 * const { dw, db } = affineGrads(dout, cache, { dx: false, dw: true, db: true });
 * ```
 */
export function affineGrads(
  dout: NDArray,
  cache: AffineCache,
  want: { dx: boolean; dw: boolean; db: boolean },
): { dx: OwnedArray | null; dw: OwnedArray | null; db: OwnedArray | null } {
  const fn = 'affineBackward';
  if (want === null || typeof want !== 'object') {
    throw new ArgumentError(`affineGrads: want must be an object { dx, dw, db } of booleans, got ${describe(want)}`);
  }
  const w8 = checkOptions('affineGrads', want, ['dx', 'dw', 'db'], 'want');
  const wantDx = optionalBoolean('affineGrads', 'want.dx', w8.dx, false);
  const wantDw = optionalBoolean('affineGrads', 'want.dw', w8.dw, false);
  const wantDb = optionalBoolean('affineGrads', 'want.db', w8.db, false);
  if (typeof cache !== 'object' || cache === null) {
    throw new ArgumentError(`${fn}: cache must be the cache affineForward returned, got ${describe(cache)}`);
  }
  const { x, w } = cache;
  assertNDArray(fn, 'cache.x', x);
  assertNDArray(fn, 'cache.w', w);
  assertNDArray(fn, 'dout', dout);
  const n = x.shape[0];
  const d = w.shape[0];
  const m = w.shape[1];
  assertShape(fn, 'dout', dout.shape, [n, m], 'like the forward output');
  assertSameDType(fn, 'x', x.data, 'dout', dout.data);
  const dx = wantDx ? { shape: [...x.shape], data: affineDx(dout.data, cache) } : null;
  const dw = wantDw ? { shape: [d, m], data: affineDw(dout.data, cache) } : null;
  const db = wantDb ? { shape: [m], data: affineDb(dout.data, cache) } : null;
  return { dx, dw, db };
}

/**
 * dx = dout @ wᵀ (flat, x's size) for the tape, whose `dout` is the gradient of the output
 * {@link affineForward} made with this cache: no checks.
 *
 * @internal
 * @param dout - the output's gradient, (N, M) flat.
 * @param cache - from {@link affineForward}.
 * @example
 * ```ts
 * const dx = affineDx(g, cache);
 * ```
 */
export function affineDx(dout: FloatArray, cache: AffineCache): FloatArray {
  const { x, w } = cache;
  const n = x.shape[0], d = w.shape[0], m = w.shape[1];
  const data = allocateUninit(dtypeOf(dout), n * d);
  gemmChecked(dout, w.data, data, n, d, m, null, 1);
  return data;
}

/**
 * dw = xᵀ @ dout for the tape (see {@link affineDx}).
 *
 * @internal
 * @param dout - the output's gradient, (N, M) flat.
 * @param cache - from {@link affineForward}.
 * @example
 * ```ts
 * const dw = affineDw(g, cache);
 * ```
 */
export function affineDw(dout: FloatArray, cache: AffineCache): FloatArray {
  const { x, w } = cache;
  const n = x.shape[0], d = w.shape[0], m = w.shape[1];
  const data = allocateUninit(dtypeOf(dout), d * m);
  gemmChecked(x.data, dout, data, d, m, n, null, 2);
  return data;
}

/**
 * db = the column sums of dout, for the tape (see {@link affineDx}).
 *
 * @internal
 * @param dout - the output's gradient, (N, M) flat.
 * @param cache - from {@link affineForward}.
 * @example
 * ```ts
 * const db = affineDb(g, cache);
 * ```
 */
export function affineDb(dout: FloatArray, cache: AffineCache): FloatArray {
  const n = cache.x.shape[0], m = cache.w.shape[1];
  const data = allocateUninit(dtypeOf(dout), m);
  sumRows(dout, data, n, m);
  return data;
}

/**
 * Column sums of a row-major matrix: out[j] = sum_i a[i, j], summed in float64 and rounded
 * once into out.
 *
 * Shape: a (rows, cols) -> out (cols).
 *
 * @param a - the matrix.
 * @param out - receives the sums (overwritten).
 * @param rows - number of rows.
 * @param cols - number of columns.
 * @example
 * ```ts
 * const db = new Float64Array(m); sumRows(dout.data, db, n, m);
 * ```
 */
export function sumRows(a: FloatArray, out: FloatArray, rows: number, cols: number): void {
  const fn = 'sumRows';
  for (const [name, v] of [['rows', rows], ['cols', cols]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new ValueError(`${fn}: ${name} must be a non-negative integer, got ${describe(v)}`);
  }
  if (!(a instanceof Float64Array) && !(a instanceof Float32Array)) {
    throw new DTypeError(`${fn}: a must be a Float64Array or Float32Array, got ${describe(a)}`);
  }
  if (!(out instanceof Float64Array) && !(out instanceof Float32Array)) {
    throw new DTypeError(`${fn}: out must be a Float64Array or Float32Array, got ${describe(out)}`);
  }
  if (a.length < rows * cols) throw new ShapeError(`${fn}: a must hold at least rows * cols = ${rows * cols} elements, got ${a.length}`);
  if (out.length < cols) throw new ShapeError(`${fn}: out must hold at least cols = ${cols} elements, got ${out.length}`);
  if (useSimd(rows * cols) && dtypeOf(a) === dtypeOf(out)) {
    simdColSums(a, out, rows, cols); // the same sums, bit for bit
    return;
  }
  // Four columns at a time, each summed down the rows in a local (float64) accumulator: one
  // rounding per output instead of one per row in float32, and 3x faster than accumulating
  // into `out` row by row (measured on [64, 64]: 8.4 against 25 µs per three calls).
  const end = rows * cols;
  let j = 0;
  for (; j + 4 <= cols; j += 4) {
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let p = j; p < end; p += cols) {
      s0 += a[p];
      s1 += a[p + 1];
      s2 += a[p + 2];
      s3 += a[p + 3];
    }
    out[j] = s0;
    out[j + 1] = s1;
    out[j + 2] = s2;
    out[j + 3] = s3;
  }
  for (; j < cols; j++) {
    let s = 0;
    for (let p = j; p < end; p += cols) s += a[p];
    out[j] = s;
  }
}

function checkAffine(fn: string, x: unknown, w: unknown, b: unknown): { n: number; d: number; m: number } {
  assertNDArray(fn, 'x', x);
  assertNDArray(fn, 'w', w);
  assertNDArray(fn, 'b', b);
  if (x.shape.length < 1) {
    throw new ShapeError(`${fn}: x must have a batch dimension, shape (N, d1, ..., dk), got ${formatShape(x.shape)}`);
  }
  const n = x.shape[0];
  const d = sizeOf(x.shape.slice(1));
  if (w.shape.length !== 2 || w.shape[0] !== d) {
    throw new ShapeError(
      `${fn}: w must have shape [D, M] with D = ${d} from x ${formatShape(x.shape)}, got ${formatShape(w.shape)}`,
    );
  }
  const m = w.shape[1];
  assertShape(fn, 'b', b.shape, [m], () => `(M = ${m} from w ${formatShape(w.shape)})`);
  assertSameDType(fn, 'x', x.data, 'w', w.data);
  assertSameDType(fn, 'x', x.data, 'b', b.data);
  return { n, d, m };
}
