/**
 * What kernels take and return: a row-major `{ shape, data }` pair. A `Tensor` qualifies.
 *
 * @packageDocumentation
 */
import { DTypeError, ShapeError, ValueError } from '../errors';
import type { FloatArray } from '../dtype';
import { describe, formatShape, sizeOf, type Shape } from '../shape';

/** A row-major array: its shape and a Float64Array or Float32Array holding `prod(shape)` values. */
export interface NDArray {
  /** Dimensions, outermost first. */
  readonly shape: Shape;
  /** Row-major values. */
  readonly data: FloatArray;
}

/** An NDArray a kernel made: it owns its shape array. */
export interface OwnedArray extends NDArray {
  /** Dimensions, outermost first. */
  readonly shape: number[];
}

/** Integer class labels: a plain array or an Int32Array (any integer array-like). */
export type Labels = ArrayLike<number>;

/**
 * Checks that `v` is an NDArray whose data length matches its shape.
 *
 * @param fn - calling function.
 * @param arg - argument name.
 * @param v - the value.
 * @throws ShapeError or DTypeError naming `fn` and `arg`.
 * @example
 * ```ts
 * assertNDArray('reluForward', 'x', x);
 * ```
 */
export function assertNDArray(fn: string, arg: string, v: unknown): asserts v is NDArray {
  if (typeof v !== 'object' || v === null || !('shape' in v) || !('data' in v)) {
    throw new ShapeError(`${fn}: ${arg} must be a Tensor or { shape, data } array, got ${describe(v)}`);
  }
  const { shape, data } = v as { shape: unknown; data: unknown };
  if (!(data instanceof Float64Array) && !(data instanceof Float32Array)) {
    throw new DTypeError(`${fn}: ${arg}.data must be a Float64Array or Float32Array, got ${describe(data)}`);
  }
  if (!Array.isArray(shape)) {
    throw new ShapeError(`${fn}: ${arg}.shape must be an array of non-negative integers, got ${describe(shape)}`);
  }
  let size = 1;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (!Number.isSafeInteger(d) || (d as number) < 0) {
      throw new ShapeError(`${fn}: ${arg}.shape must be an array of non-negative integers, got ${describe(shape)}`);
    }
    size *= d as number;
  }
  if (size !== data.length) {
    throw new ShapeError(
      `${fn}: ${arg}.data must hold ${sizeOf(shape as number[])} elements for shape ${formatShape(shape as number[])}, got ${data.length}`,
    );
  }
}

/**
 * Checks class labels for `n` rows of `c` classes and returns them as an Int32Array.
 *
 * @param fn - calling function.
 * @param arg - argument name (usually `'y'`).
 * @param y - the labels.
 * @param n - expected count.
 * @param c - number of classes.
 * @throws ShapeError on a wrong length, ValueError on a non-integer or out-of-range label.
 * @example
 * ```ts
 * const labels = checkLabels('softmaxLoss', 'y', [0, 2], 2, 3);
 * ```
 */
export function checkLabels(fn: string, arg: string, y: unknown, n: number, c: number): Int32Array {
  if (
    typeof y !== 'object' || y === null ||
    typeof (y as { length?: unknown }).length !== 'number' ||
    (!Array.isArray(y) && !ArrayBuffer.isView(y))
  ) {
    throw new ValueError(`${fn}: ${arg} must be an Int32Array or number[] of class labels, got ${describe(y)}`);
  }
  const labels = y as ArrayLike<number>;
  if (labels.length !== n) {
    throw new ShapeError(`${fn}: ${arg} must hold ${n} labels (one per row of scores), got ${labels.length}`);
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = labels[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= c) {
      throw new ValueError(`${fn}: ${arg}[${i}] must be an integer class label in [0, ${c}), got ${describe(v)}`);
    }
    out[i] = v;
  }
  return out;
}

/**
 * Options of a GEMM `C[M, N] = op(A) @ op(B)`: both the public `kernels.gemm` and the raw
 * WebAssembly entry take them. Every flag defaults to off.
 *
 * @example
 * ```ts
 * const opts: GemmOptions = { transB: true, bias, relu: true }; // relu(A @ Bᵀ + bias)
 * ```
 */
export interface GemmOptions<T extends FloatArray = FloatArray> {
  /** Read A as its transpose: A is stored [K, M]. Default false. */
  transA?: boolean;
  /** Read B as its transpose: B is stored [N, K]. Default false. */
  transB?: boolean;
  /** Add into C instead of overwriting it (C += op(A) op(B)). Default false. */
  accumulate?: boolean;
  /** A length-N vector added to every row of C after the product (and after accumulate). Default none. */
  bias?: T | null;
  /** Apply max(x, 0) to the final result (after accumulate and bias). Default false. */
  relu?: boolean;
}
