/**
 * Shapes: sizes, formatting, validation and numpy broadcasting. Every check builds its
 * message only when it fails, so the happy path costs a comparison.
 *
 * @packageDocumentation
 */
import { ShapeError } from './errors';

/** A tensor's dimensions, outermost first. */
export type Shape = readonly number[];

/**
 * Number of elements in a tensor of the given shape (1 for a scalar shape `[]`).
 *
 * @param shape - dimensions.
 * @example
 * ```ts
 * sizeOf([2, 3]); // 6
 * ```
 */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i];
  return n;
}

/**
 * Formats a shape as `[2, 3]` for error messages.
 *
 * @param shape - dimensions.
 * @example
 * ```ts
 * formatShape([2, 3]); // '[2, 3]'
 * ```
 */
export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/**
 * True when two shapes are equal element by element.
 *
 * @param a - first shape.
 * @param b - second shape.
 * @example
 * ```ts
 * shapesEqual([2, 3], [2, 3]); // true
 * ```
 */
export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Checks that `shape` is a valid tensor shape: an array of non-negative safe integers.
 *
 * @param fn - calling function, for the message.
 * @param arg - argument name, for the message.
 * @param shape - the value to check.
 * @throws ShapeError naming `fn` and `arg` otherwise.
 * @example
 * ```ts
 * assertValidShape('zeros', 'shape', [2, 3]);
 * ```
 */
export function assertValidShape(fn: string, arg: string, shape: unknown): asserts shape is number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new ShapeError(
      `${fn}: ${arg} must be an array of non-negative integers, got ${describe(shape)}`,
    );
  }
}

/**
 * Checks a tensor's rank.
 *
 * @param fn - calling function.
 * @param arg - argument name.
 * @param shape - the actual shape.
 * @param rank - the expected rank.
 * @throws ShapeError `fn: arg must be 2-D, got [2, 3, 4]`.
 * @example
 * ```ts
 * assertRank('matmul', 'a', a.shape, 2);
 * ```
 */
export function assertRank(fn: string, arg: string, shape: Shape, rank: number): void {
  if (shape.length !== rank) {
    throw new ShapeError(`${fn}: ${arg} must be ${rank}-D, got ${shape.length}-D shape ${formatShape(shape)}`);
  }
}

/**
 * Checks that `shape` equals `expected`, with an optional reason in the message.
 *
 * @param fn - calling function.
 * @param arg - argument name.
 * @param shape - the actual shape.
 * @param expected - the expected shape.
 * @param why - optional clause explaining where `expected` comes from, e.g. `'with D = 12 from x [2, 3, 4]'`;
 *   pass a function to build it only on failure.
 * @throws ShapeError `affineForward: w must have shape [12, M] ..., got [10, 5]`.
 * @example
 * ```ts
 * assertShape('affineBackward', 'dout', dout.shape, [n, m], 'like out');
 * ```
 */
export function assertShape(fn: string, arg: string, shape: Shape, expected: Shape, why?: string | (() => string)): void {
  if (!shapesEqual(shape, expected)) {
    throw new ShapeError(
      `${fn}: ${arg} must have shape ${formatShape(expected)}${why ? ` ${typeof why === 'function' ? why() : why}` : ''}, got ${formatShape(shape)}`,
    );
  }
}

/**
 * The numpy broadcast of two shapes: dimensions aligned from the right, each pair equal or one
 * of them 1.
 *
 * @param fn - calling function, for the message.
 * @param a - first shape.
 * @param b - second shape.
 * @returns the broadcast shape.
 * @throws ShapeError when a pair of dimensions differs and neither is 1.
 * @example
 * ```ts
 * broadcastShapes('add', [4, 1, 3], [2, 3]); // [4, 2, 3]
 * ```
 */
export function broadcastShapes(fn: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(
        `${fn}: shapes ${formatShape(a)} and ${formatShape(b)} cannot be broadcast together: ` +
          `each pair of dimensions (aligned from the right) must be equal or 1, got ${da} vs ${db} at dimension ${i} of the result`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Row-major strides of a shape (in elements).
 *
 * @param shape - dimensions.
 * @example
 * ```ts
 * stridesOf([2, 3, 4]); // [12, 4, 1]
 * ```
 */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/**
 * Resolves a possibly negative axis against a rank.
 *
 * @param fn - calling function.
 * @param axis - the axis, in `[-rank, rank)`.
 * @param rank - the tensor's rank.
 * @throws ShapeError when out of range or not an integer.
 * @example
 * ```ts
 * normalizeAxis('sum', -1, 2); // 1
 * ```
 */
export function normalizeAxis(fn: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new ShapeError(`${fn}: axis must be an integer in [${-rank}, ${rank}) for a ${rank}-D tensor, got ${String(axis)}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/**
 * A short description of any value for error messages: arrays and typed arrays show their
 * length, other values their type and value.
 *
 * @param v - anything.
 * @example
 * ```ts
 * describe(new Float32Array(3)); // 'Float32Array(3)'
 * ```
 */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as ArrayLike<number>).length})`;
  if (Array.isArray(v)) {
    const s = JSON.stringify(v);
    return s !== undefined && s.length <= 60 ? s : `array(${v.length})`;
  }
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') {
    const name = (v as object).constructor?.name;
    return name && name !== 'Object' ? name : 'object';
  }
  return `${typeof v} ${String(v)}`;
}
