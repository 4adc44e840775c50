/**
 * The two floating-point dtypes and the typed arrays behind them.
 *
 * @packageDocumentation
 */
import { DTypeError } from './errors';
import { describe } from './shape';

/** A tensor's element type: `'float64'` (Float64Array, the default) or `'float32'` (Float32Array). */
export type DType = 'float64' | 'float32';

/** The storage of a tensor: a row-major typed array of its dtype. */
export type FloatArray = Float64Array | Float32Array;

/**
 * The dtype of a typed array.
 *
 * @param data - a Float64Array or Float32Array.
 * @example
 * ```ts
 * dtypeOf(new Float32Array(2)); // 'float32'
 * ```
 */
export function dtypeOf(data: FloatArray): DType {
  return data instanceof Float32Array ? 'float32' : 'float64';
}

/**
 * A zero-filled typed array of the dtype.
 *
 * @param dtype - element type.
 * @param n - length.
 * @example
 * ```ts
 * allocate('float32', 4); // Float32Array(4)
 * ```
 */
export function allocate(dtype: DType, n: number): FloatArray {
  return dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
}

/**
 * Checks a dtype option: `'float64'`, `'float32'` or undefined (meaning float64).
 *
 * @param fn - calling function, for the message.
 * @param dtype - the value to check.
 * @throws DTypeError otherwise.
 * @example
 * ```ts
 * const dt = resolveDType('zeros', opts.dtype);
 * ```
 */
export function resolveDType(fn: string, dtype: unknown): DType {
  if (dtype === undefined) return 'float64';
  if (dtype === 'float64' || dtype === 'float32') return dtype;
  throw new DTypeError(`${fn}: dtype must be 'float64' or 'float32', got ${describe(dtype)}`);
}

/**
 * Checks that two arrays share a dtype; tapegrad never promotes silently.
 *
 * @param fn - calling function.
 * @param argA - name of the first argument.
 * @param a - its data.
 * @param argB - name of the second argument.
 * @param b - its data.
 * @throws DTypeError `add: b must have dtype 'float64' like a, got 'float32'`.
 * @example
 * ```ts
 * assertSameDType('matmul', 'a', a.data, 'b', b.data);
 * ```
 */
export function assertSameDType(fn: string, argA: string, a: FloatArray, argB: string, b: FloatArray): void {
  if ((a instanceof Float32Array) !== (b instanceof Float32Array)) {
    throw new DTypeError(
      `${fn}: ${argB} must have dtype '${dtypeOf(a)}' like ${argA}, got '${dtypeOf(b)}' (no silent promotion; convert one with .to())`,
    );
  }
}
