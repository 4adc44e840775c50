/**
 * Shape ops on the tape: reshape (a view on the same data) and transpose (a copy).
 *
 * @packageDocumentation
 */
import { record } from '../autograd/tape';
import { allocate, dtypeOf } from '../dtype';
import { ShapeError } from '../errors';
import { describe, formatShape, sizeOf, stridesOf } from '../shape';
import { Tensor } from '../tensor';
import { stridedIndex } from './broadcast';
import { assertTensor } from './util';

/**
 * The same data under a new shape; one dimension may be -1 and is inferred. The result
 * shares x's data (like a numpy view).
 *
 * Shape: x (any) -> `shape` (same number of elements).
 *
 * @param x - input.
 * @param shape - the new shape.
 * @throws ShapeError when the element counts differ or more than one -1 is given.
 * @example
 * ```ts
 * reshape(tensor([1, 2, 3, 4]), [2, -1]); // [[1, 2], [3, 4]]
 * ```
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const fn = 'reshape';
  assertTensor(fn, 'x', x);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= -1)) {
    throw new ShapeError(`${fn}: shape must be an array of non-negative integers (one may be -1), got ${describe(shape)}`);
  }
  const inferred = shape.filter((d) => d === -1).length;
  const known = sizeOf(shape.filter((d) => d !== -1));
  let resolved = [...shape];
  if (inferred > 1) throw new ShapeError(`${fn}: shape may hold at most one -1, got ${formatShape(shape)}`);
  if (inferred === 1) {
    if (known === 0 || x.data.length % known !== 0) {
      throw new ShapeError(`${fn}: cannot infer the -1 in ${formatShape(shape)} for x ${formatShape(x.shape)} (${x.data.length} elements)`);
    }
    resolved = shape.map((d) => (d === -1 ? x.data.length / known : d));
  }
  if (sizeOf(resolved) !== x.data.length) {
    throw new ShapeError(
      `${fn}: shape must hold ${x.data.length} elements like x ${formatShape(x.shape)}, got ${formatShape(shape)} (${sizeOf(resolved)} elements)`,
    );
  }
  return record(new Tensor(x.data, resolved), fn, [x], (g) => [g]);
}

/**
 * Permutes the axes (reverses them by default, so a matrix is transposed). Returns a copy.
 *
 * Shape: x (d0..dk) -> (d[axes[0]], ..., d[axes[k]]).
 *
 * @param x - input.
 * @param axes - a permutation of 0..rank-1. Default: reversed.
 * @throws ShapeError when axes is not a permutation of x's axes.
 * @example
 * ```ts
 * transpose(tensor([[1, 2, 3]])); // [[1], [2], [3]]
 * ```
 */
export function transpose(x: Tensor, axes?: readonly number[]): Tensor {
  const fn = 'transpose';
  assertTensor(fn, 'x', x);
  const rank = x.shape.length;
  if (axes !== undefined && !Array.isArray(axes)) {
    throw new ShapeError(`${fn}: axes must be a permutation of 0..${rank - 1} for x ${formatShape(x.shape)}, got ${describe(axes)}`);
  }
  const perm = axes === undefined ? x.shape.map((_, i) => rank - 1 - i) : [...axes];
  const seen = new Set(perm);
  if (perm.length !== rank || seen.size !== rank || !perm.every((a) => Number.isInteger(a) && a >= 0 && a < rank)) {
    throw new ShapeError(`${fn}: axes must be a permutation of 0..${rank - 1} for x ${formatShape(x.shape)}, got ${describe(axes)}`);
  }
  const outShape = perm.map((a) => x.shape[a]);
  const od = permute(x.data, x.shape, perm);
  const inverse = new Array<number>(rank);
  perm.forEach((a, i) => (inverse[a] = i));
  return record(new Tensor(od, outShape), fn, [x], (g) => [permute(g, outShape, inverse)]);
}

function permute<T extends Float64Array | Float32Array>(data: T, shape: readonly number[], perm: readonly number[]): T {
  const rank = shape.length;
  const out = allocate(dtypeOf(data), data.length) as T;
  if (rank === 2 && perm[0] === 1) {
    const [r, c] = shape;
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = data[i * c + j];
    return out;
  }
  const inStrides = stridesOf(shape);
  const index = stridedIndex(
    perm.map((a) => shape[a]),
    perm.map((a) => inStrides[a]),
  );
  for (let k = 0; k < out.length; k++) out[k] = data[index[k]];
  return out;
}
