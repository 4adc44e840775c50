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
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    // A zero anywhere means no elements, even after a product of huge dimensions overflowed to Infinity.
    if (d === 0) return 0;
    n *= d;
  }
  return n;
}

/**
 * The most elements one tensor can hold: the longest typed array the engine makes (2^32 in
 * Node's V8). A shape beyond it can never be allocated, so it is refused with a ShapeError
 * instead of the engine's RangeError.
 */
export const MAX_ELEMENTS = 2 ** 32;

/**
 * Checks that a tensor of `shape` could exist: at most {@link MAX_ELEMENTS} elements.
 *
 * @param fn - calling function, for the message.
 * @param arg - what `shape` is the shape of, for the message (e.g. 'shape', 'the result').
 * @param shape - a shape of non-negative integers.
 * @throws ShapeError naming `fn`, `arg`, the shape and its element count.
 * @example
 * ```ts
 * assertSizeFits('matmul', 'the result', [m, n]);
 * ```
 */
export function assertSizeFits(fn: string, arg: string, shape: Shape): void {
  if (sizeOf(shape) > MAX_ELEMENTS) {
    // The exact count, which a float64 product of large dimensions cannot always hold.
    let exact = 1n;
    for (const d of shape) exact *= BigInt(d);
    throw new ShapeError(
      `${fn}: ${arg} must hold at most ${MAX_ELEMENTS} elements (the largest typed array), got ${formatShape(shape)} (${exact} elements)`,
    );
  }
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
 * Checks that `shape` is a valid tensor shape: an array of non-negative safe integers holding
 * at most {@link MAX_ELEMENTS} elements in all.
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
  let ok: boolean;
  try {
    ok = Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
  } catch {
    ok = false; // a Proxy whose traps throw is not a shape
  }
  if (!ok) {
    throw new ShapeError(
      `${fn}: ${arg} must be an array of non-negative integers, got ${describe(shape)}`,
    );
  }
  assertSizeFits(fn, arg, shape as number[]);
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
  assertSizeFits(fn, 'the broadcast result', out);
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
 * A short description of any value for error messages: arrays show their elements (or their
 * length when long), typed arrays their length, other values their type and value. Total: it
 * never throws, whatever it is given (BigInts, symbols, cyclic arrays, objects whose getters
 * or traps throw, revoked Proxies), so building a message can never hide the error.
 *
 * @param v - anything.
 * @example
 * ```ts
 * describe(new Float32Array(3)); // 'Float32Array(3)'
 * describe([1, NaN]);            // '[1,NaN]'
 * describe(3n);                  // 'bigint 3n'
 * ```
 */
export function describe(v: unknown): string {
  try {
    return describeValue(v);
  } catch {
    return `${typeof v} (that cannot be displayed)`;
  }
}

/** Longest array rendering shown in full; longer ones show as `array(length)`. */
const MAX_SHOWN = 60;

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'undefined':
      return 'undefined';
    case 'string':
      return quote(v);
    case 'bigint':
      return `bigint ${v}n`;
    case 'symbol':
      return `symbol ${v.description === undefined ? 'Symbol()' : `Symbol(${v.description})`}`;
    case 'function':
      return `function ${typeof v.name === 'string' && v.name !== '' ? v.name : '(anonymous)'}`;
    case 'object':
      break;
    default:
      return `${typeof v} ${String(v)}`;
  }
  if (ArrayBuffer.isView(v)) {
    const length = v instanceof DataView ? v.byteLength : (v as unknown as ArrayLike<number>).length;
    return `${className(v) ?? 'ArrayBufferView'}(${length})`;
  }
  if (Array.isArray(v)) return formatArray(v, 0, new Set()) ?? `array(${v.length})`;
  const name = className(v);
  return name && name !== 'Object' ? name : 'object';
}

/** JSON quoting, shortened past MAX_SHOWN characters. */
function quote(s: string): string {
  return s.length <= MAX_SHOWN ? JSON.stringify(s) : `${JSON.stringify(s.slice(0, MAX_SHOWN))}... (${s.length} characters)`;
}

/** The name of an object's class, read through its prototype (not an own `constructor` key). */
function className(v: object): string | undefined {
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === null || typeof proto !== 'object') return undefined;
  const ctor: unknown = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value;
  const name: unknown = typeof ctor === 'function' ? Object.getOwnPropertyDescriptor(ctor, 'name')?.value : undefined;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/**
 * `[1,2,[3]]` as JSON writes it (but NaN, Infinity, undefined and BigInts as themselves), or
 * undefined when it would exceed MAX_SHOWN characters. `seen` holds the arrays being written,
 * so a cycle shows as `[...]`.
 */
function formatArray(a: readonly unknown[], depth: number, seen: Set<unknown>): string | undefined {
  if (seen.has(a) || depth > 8) return '[...]';
  const n = a.length;
  if (n > MAX_SHOWN / 2) return undefined;
  seen.add(a);
  let out = '[';
  for (let i = 0; i < n; i++) {
    const e = a[i];
    let s: string | undefined;
    if (typeof e === 'number' || typeof e === 'boolean') s = String(e);
    else if (typeof e === 'bigint') s = `${e}n`;
    else if (typeof e === 'string') s = JSON.stringify(e);
    else if (Array.isArray(e)) s = formatArray(e, depth + 1, seen);
    else s = e === null ? 'null' : e === undefined ? 'undefined' : describeValue(e);
    if (s === undefined) return undefined;
    out += (i > 0 ? ',' : '') + s;
    if (out.length > MAX_SHOWN) return undefined;
  }
  seen.delete(a);
  return `${out}]`;
}
