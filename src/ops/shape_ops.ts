/**
 * Shape ops on the tape. Views on the same data (their backward passes the gradient through):
 * reshape, flatten, squeeze, unsqueeze. Copies: transpose, slice, gather, concat, stack.
 *
 * @packageDocumentation
 */
import { record, withGraphRule } from '../autograd/tape';
import { allocate, dtypeOf, type DType, type FloatArray } from '../dtype';
import { ArgumentError, DTypeError, ShapeError, ValueError } from '../errors';
import { describe, formatShape, normalizeAxis, sizeOf, stridesOf } from '../shape';
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
  return withGraphRule(record(new Tensor(x.data, resolved), fn, [x], (g) => [g]), (g) => [g.reshape(x.shape)]);
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
  return withGraphRule(record(new Tensor(od, outShape), fn, [x], (g) => [permute(g, outShape, inverse)]), (g) => [g.transpose(inverse)]);
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

/** A view of x's data under `shape`, on the tape as `fn` (the gradient passes through unchanged). */
function view(fn: string, x: Tensor, shape: readonly number[]): Tensor {
  return withGraphRule(record(new Tensor(x.data, shape), fn, [x], (g) => [g]), (g) => [g.reshape(x.shape)]);
}

/**
 * Flattens the axes from `startAxis` to the last into one, like `torch.flatten(x, startAxis)`:
 * (d0..d_{s-1}, d_s..dk) -> (d0..d_{s-1}, d_s * ... * dk). A view: the result shares x's data
 * (like {@link reshape}). A 0-D tensor becomes 1-D with one element, as in PyTorch.
 *
 * Shape: (d0..dk) -> (d0..d_{s-1}, d_s * ... * dk).
 *
 * @param x - input.
 * @param startAxis - first axis to flatten (negative counts from the end). Default 1 (keeps the batch axis).
 * @throws ShapeError when startAxis is out of range (so the default needs x of rank >= 2, as in nn.Flatten).
 * @example
 * ```ts
 * flatten(Tensor.zeros([2, 3, 4])).shape; // [2, 12]
 * ```
 */
export function flatten(x: Tensor, startAxis = 1): Tensor {
  const fn = 'flatten';
  assertTensor(fn, 'x', x);
  if (x.shape.length === 0) {
    normalizeAxis(fn, startAxis, 1);
    return view(fn, x, [1]);
  }
  const s = normalizeAxis(fn, startAxis, x.shape.length);
  return view(fn, x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s))]);
}

/**
 * Removes axes of size 1: the given one, or all of them. A view sharing x's data.
 *
 * NOTE: as in PyTorch (`torch.squeeze(x, dim)`), squeezing an axis whose size is not 1 is not an
 * error: x's shape is kept (tfjs throws instead).
 *
 * Shape: x's shape without the size-1 axis (or without every size-1 axis when axis is undefined).
 *
 * @param x - input.
 * @param axis - the axis to remove (negative counts from the end); all size-1 axes when undefined.
 * @throws ShapeError when the axis is out of range.
 * @example
 * ```ts
 * squeeze(Tensor.zeros([2, 1, 3])).shape; // [2, 3]
 * ```
 */
export function squeeze(x: Tensor, axis?: number): Tensor {
  const fn = 'squeeze';
  assertTensor(fn, 'x', x);
  if (axis === undefined || axis === null) return view(fn, x, x.shape.filter((d) => d !== 1));
  if (x.shape.length === 0) {
    normalizeAxis(fn, axis, 1);
    return view(fn, x, []);
  }
  const ax = normalizeAxis(fn, axis, x.shape.length);
  return view(fn, x, x.shape[ax] === 1 ? x.shape.filter((_, i) => i !== ax) : x.shape);
}

/**
 * Inserts an axis of size 1 at `axis`, like `torch.unsqueeze`. A view sharing x's data.
 *
 * Shape: (d0..dk) -> (d0..d_{axis-1}, 1, d_axis..dk).
 *
 * @param x - input.
 * @param axis - where the new axis goes, in [-(rank+1), rank] (negative counts from the end of the result's axes).
 * @throws ShapeError when the axis is out of range.
 * @example
 * ```ts
 * unsqueeze(Tensor.zeros([3]), 0).shape; // [1, 3]
 * ```
 */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const fn = 'unsqueeze';
  assertTensor(fn, 'x', x);
  const ax = normalizeAxis(fn, axis, x.shape.length + 1);
  return view(fn, x, [...x.shape.slice(0, ax), 1, ...x.shape.slice(ax)]);
}

/**
 * Calls `run(srcOffset, dstOffset, length)` for each contiguous run of the block of `size`
 * starting at `begin` inside an array of `shape` (row-major), in the block's own order.
 */
function forEachRun(shape: readonly number[], begin: readonly number[], size: readonly number[], run: (src: number, dst: number, len: number) => void): void {
  const rank = shape.length;
  if (rank === 0) {
    run(0, 0, 1);
    return;
  }
  const total = sizeOf(size);
  if (total === 0) return;
  const strides = stridesOf(shape);
  const last = size[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0);
  let dst = 0;
  for (;;) {
    let src = begin[rank - 1];
    for (let d = 0; d < rank - 1; d++) src += (begin[d] + idx[d]) * strides[d];
    run(src, dst, last);
    dst += last;
    let d = rank - 2;
    while (d >= 0 && ++idx[d] === size[d]) idx[d--] = 0;
    if (d < 0) return;
  }
}

/**
 * A block of x: `size[d]` elements from `begin[d]` along each axis d, like `tf.slice`. A copy.
 *
 * As in tfjs, `begin` and `size` may be shorter than x's rank (the remaining axes start at 0
 * and run to the end), and a size of -1 runs to the end of its axis. Negative begins are not
 * allowed (tfjs does not allow them either).
 *
 * Shape: x (d0..dk) -> (size0..sizek), with each -1 resolved to d - begin.
 *
 * @param x - input.
 * @param begin - the first index along each axis, each in [0, d].
 * @param size - how many elements along each axis (-1: to the end).
 * @throws ShapeError when begin/size are longer than x's rank, a begin is negative, not an
 *   integer or past its axis, or a block runs past the end of its axis.
 * @example
 * ```ts
 * slice(tensor([[1, 2, 3], [4, 5, 6]]), [0, 1], [2, -1]); // [[2, 3], [5, 6]]
 * ```
 */
export function slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  const fn = 'slice';
  assertTensor(fn, 'x', x);
  const rank = x.shape.length;
  for (const [name, v] of [['begin', begin], ['size', size]] as const) {
    if (!Array.isArray(v) || v.length > rank) {
      throw new ShapeError(`${fn}: ${name} must be an array of at most ${rank} integers (one per axis of x ${formatShape(x.shape)}), got ${describe(v)}`);
    }
  }
  const b = new Array<number>(rank);
  const sz = new Array<number>(rank);
  for (let d = 0; d < rank; d++) {
    const dim = x.shape[d];
    const bd: unknown = d < begin.length ? begin[d] : 0;
    if (typeof bd !== 'number' || !Number.isInteger(bd) || bd < 0 || bd > dim) {
      const neg = typeof bd === 'number' && bd < 0 ? ' (negative begins are not allowed, as in tfjs)' : '';
      throw new ShapeError(`${fn}: begin[${d}] must be an integer in [0, ${dim}] for axis ${d} of x ${formatShape(x.shape)}, got ${describe(bd)}${neg}`);
    }
    const sd: unknown = d < size.length ? size[d] : -1;
    if (typeof sd !== 'number' || !Number.isInteger(sd) || sd < -1) {
      throw new ShapeError(`${fn}: size[${d}] must be a non-negative integer or -1 (to the end), got ${describe(sd)}`);
    }
    const resolved = sd === -1 ? dim - bd : sd;
    if (bd + resolved > dim) {
      throw new ShapeError(
        `${fn}: the block runs past the end of axis ${d} of x ${formatShape(x.shape)}: begin[${d}] ${bd} + size[${d}] ${resolved} = ${bd + resolved} > ${dim}`,
      );
    }
    b[d] = bd;
    sz[d] = resolved;
  }
  const xd = x.data;
  const dt = dtypeOf(xd);
  const od = allocate(dt, sizeOf(sz));
  forEachRun(x.shape, b, sz, (src, dst, len) => od.set(xd.subarray(src, src + len), dst));
  const rec = record(new Tensor(od, sz), fn, [x], (g) => {
    const r = allocate(dt, xd.length);
    forEachRun(x.shape, b, sz, (src, dst, len) => r.set(g.subarray(dst, dst + len), src));
    return [r];
  });
  return withGraphRule(rec, (g) => [padBlock(g, x.shape, b, sz)]);
}

/**
 * The adjoint of {@link slice}: a zero tensor of `shape` with `g` written into the block of
 * `size` at `begin`. On the tape, its gradient is the slice of that block, so slice and
 * padBlock are each other's differentiable rules.
 *
 * Shape: g (size) -> `shape`.
 *
 * @internal
 * @param g - the block's values, of shape `size`.
 * @param shape - the result's shape.
 * @param begin - the block's first index along each axis (resolved, one per axis).
 * @param size - the block's size along each axis (resolved, one per axis).
 * @example
 * ```ts
 * padBlock(tensor([[5]]), [2, 2], [1, 0], [1, 1]); // [[0, 0], [5, 0]]
 * ```
 */
export function padBlock(g: Tensor, shape: readonly number[], begin: readonly number[], size: readonly number[]): Tensor {
  const gd = g.data;
  const dt = dtypeOf(gd);
  const od = allocate(dt, sizeOf(shape));
  forEachRun(shape, begin, size, (src, dst, len) => od.set(gd.subarray(dst, dst + len), src));
  const rec = record(new Tensor(od, shape), 'padBlock', [g], (gg) => {
    const r = allocate(dt, gd.length);
    forEachRun(shape, begin, size, (src, dst, len) => r.set(gg.subarray(src, src + len), dst));
    return [r];
  });
  return withGraphRule(rec, (gg) => [slice(gg, begin, size)]);
}

/**
 * The entries of x at `indices` along `axis`, like `torch.index_select(x, axis, indices)`. A
 * copy; indices may repeat, and the gradient of a repeated entry accumulates (the backward
 * scatter-adds).
 *
 * Shape: x (d0..dk) -> x's shape with d_axis replaced by indices.length.
 *
 * @param x - input.
 * @param indices - integers in [0, d_axis) (negative indices are not allowed, as in
 *   `index_select`); copied, so changing the array later does not change the backward.
 * @param axis - the axis to select along (negative counts from the end). Default 0.
 * @throws ArgumentError when indices is not an Int32Array or an array; ValueError when an index
 *   is not an integer or out of range; ShapeError when the axis is out of range.
 * @example
 * ```ts
 * gather(tensor([[1, 2], [3, 4], [5, 6]]), [2, 0]); // [[5, 6], [1, 2]]
 * ```
 */
export function gather(x: Tensor, indices: Int32Array | readonly number[], axis = 0): Tensor {
  const fn = 'gather';
  assertTensor(fn, 'x', x);
  if (!(indices instanceof Int32Array) && !Array.isArray(indices)) {
    throw new ArgumentError(`${fn}: indices must be an Int32Array or an array of integers, got ${describe(indices)}`);
  }
  const ax = normalizeAxis(fn, axis, x.shape.length);
  const size = x.shape[ax];
  const idx = new Int32Array(indices.length);
  for (let j = 0; j < indices.length; j++) {
    const v: unknown = indices[j];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= size) {
      throw new ValueError(
        `${fn}: indices[${j}] must be an integer in [0, ${size}) (the size of axis ${ax} of x ${formatShape(x.shape)}), got ${describe(v)}`,
      );
    }
    idx[j] = v;
  }
  const outer = sizeOf(x.shape.slice(0, ax));
  const inner = sizeOf(x.shape.slice(ax + 1));
  const k = idx.length;
  const xd = x.data;
  const dt = dtypeOf(xd);
  const od = allocate(dt, outer * k * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const src = (o * size + idx[j]) * inner;
      od.set(xd.subarray(src, src + inner), (o * k + j) * inner);
    }
  }
  const shape = x.shape.map((d, i) => (i === ax ? k : d));
  const rec = record(new Tensor(od, shape), fn, [x], (g) => {
    const r = allocate(dt, xd.length);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < k; j++) {
        const dst = (o * size + idx[j]) * inner;
        const src = (o * k + j) * inner;
        for (let i = 0; i < inner; i++) r[dst + i] += g[src + i];
      }
    }
    return [r];
  });
  return withGraphRule(rec, (g) => [scatterAdd(g, idx, ax, x.shape)]);
}

/**
 * The adjoint of {@link gather}: a zero tensor of `shape` into which each slice j of `g` along
 * `axis` is added at index `idx[j]` (repeats accumulate). On the tape, its gradient is the
 * gather of the same indices, so gather and scatterAdd are each other's differentiable rules.
 *
 * Shape: g (shape with d_axis replaced by idx.length) -> `shape`.
 *
 * @internal
 * @param g - the gathered gradient.
 * @param idx - checked indices in [0, shape[axis]) (not copied: gather's own copy).
 * @param axis - the resolved (non-negative) axis.
 * @param shape - the result's shape (gather's input's).
 * @example
 * ```ts
 * scatterAdd(tensor([[1, 2], [3, 4]]), Int32Array.of(1, 1), 0, [2, 2]); // [[0, 0], [4, 6]]
 * ```
 */
export function scatterAdd(g: Tensor, idx: Int32Array, axis: number, shape: readonly number[]): Tensor {
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  const size = shape[axis];
  const k = idx.length;
  const gd = g.data;
  const dt = dtypeOf(gd);
  const od = allocate(dt, sizeOf(shape));
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const dst = (o * size + idx[j]) * inner;
      const src = (o * k + j) * inner;
      for (let i = 0; i < inner; i++) od[dst + i] += gd[src + i];
    }
  }
  const rec = record(new Tensor(od, shape), 'scatterAdd', [g], (gg) => {
    const r = allocate(dt, gd.length);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < k; j++) {
        const src = (o * size + idx[j]) * inner;
        r.set(gg.subarray(src, src + inner), (o * k + j) * inner);
      }
    }
    return [r];
  });
  return withGraphRule(rec, (gg) => [gather(gg, idx, axis)]);
}

/** Checks a list of tensors for concat/stack: a non-empty array of Tensors of one dtype. */
function checkList(fn: string, tensors: unknown): { list: Tensor[]; dtype: DType } {
  if (!Array.isArray(tensors)) throw new ArgumentError(`${fn}: tensors must be an array of Tensors, got ${describe(tensors)}`);
  if (tensors.length === 0) throw new ValueError(`${fn}: tensors must hold at least one Tensor, got an empty array`);
  const list = tensors as unknown[];
  list.forEach((t, i) => assertTensor(fn, `tensors[${i}]`, t));
  const ts = list as Tensor[];
  const dtype = ts[0].dtype;
  ts.forEach((t, i) => {
    if (t.dtype !== dtype) throw new DTypeError(`${fn}: tensors[${i}] must have dtype '${dtype}' like tensors[0], got '${t.dtype}'`);
  });
  return { list: ts, dtype };
}

/**
 * Lays the tensors side by side: the output is `outer` rows, each the concatenation of
 * `chunks[t]` elements of each tensor t's row. The backward cuts the gradient the same way.
 */
function join(fn: string, list: Tensor[], dtype: DType, outer: number, chunks: readonly number[], shape: readonly number[]): Tensor {
  const row = chunks.reduce((a, c) => a + c, 0);
  const offsets: number[] = [];
  let acc = 0;
  for (const c of chunks) {
    offsets.push(acc);
    acc += c;
  }
  const od = allocate(dtype, outer * row);
  list.forEach((t, n) => {
    const c = chunks[n];
    for (let o = 0; o < outer; o++) od.set(t.data.subarray(o * c, o * c + c), o * row + offsets[n]);
  });
  const rec = record(new Tensor(od, shape), fn, list, (g) =>
    list.map((t, n): FloatArray | null => {
      if (!t.requiresGrad) return null;
      const c = chunks[n];
      const r = allocate(dtype, outer * c);
      for (let o = 0; o < outer; o++) r.set(g.subarray(o * row + offsets[n], o * row + offsets[n] + c), o * c);
      return r;
    }),
  );
  // Each tensor's part of g: as [outer, row], the columns offsets[n] .. + chunks[n], reshaped.
  return withGraphRule(rec, (g) => {
    const rows = g.reshape([outer, row]);
    return list.map((t, n) => (t.requiresGrad ? slice(rows, [0, offsets[n]], [outer, chunks[n]]).reshape(t.shape) : null));
  });
}

/**
 * Joins tensors along an existing axis, like `torch.cat`. All must have the same rank, dtype,
 * and sizes on every other axis; the backward hands each its part of the gradient.
 *
 * Shape: (.., n_i, ..) for each tensor i -> (.., sum of n_i, ..).
 *
 * @param tensors - one or more tensors of rank >= 1.
 * @param axis - the axis to join along (negative counts from the end). Default 0.
 * @throws ValueError when the list is empty; ArgumentError when it is not an array of Tensors;
 *   DTypeError on mixed dtypes; ShapeError on a 0-D tensor, mismatched ranks or sizes, or an
 *   axis out of range.
 * @example
 * ```ts
 * concat([tensor([[1, 2]]), tensor([[3, 4]])], 0); // [[1, 2], [3, 4]]
 * ```
 */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  const fn = 'concat';
  const { list, dtype } = checkList(fn, tensors);
  const first = list[0].shape;
  if (first.length === 0) throw new ShapeError(`${fn}: tensors[0] must have at least one axis (0-D tensors cannot be joined along an axis; use stack), got shape []`);
  const ax = normalizeAxis(fn, axis, first.length);
  list.forEach((t, i) => {
    if (t.shape.length !== first.length || t.shape.some((d, k) => k !== ax && d !== first[k])) {
      throw new ShapeError(
        `${fn}: tensors[${i}] must have shape [${first.map((d, k) => (k === ax ? '*' : String(d))).join(', ')}] like tensors[0] ${formatShape(first)} (any size on axis ${ax}), got ${formatShape(t.shape)}`,
      );
    }
  });
  const outer = sizeOf(first.slice(0, ax));
  const inner = sizeOf(first.slice(ax + 1));
  const total = list.reduce((a, t) => a + t.shape[ax], 0);
  const shape = first.map((d, k) => (k === ax ? total : d));
  return join(fn, list, dtype, outer, list.map((t) => t.shape[ax] * inner), shape);
}

/**
 * Joins tensors of one shape along a new axis, like `torch.stack` (equal to unsqueezing each
 * at `axis` and concatenating); the backward hands each its slice of the gradient.
 *
 * Shape: n tensors (d0..dk) -> (d0..d_{axis-1}, n, d_axis..dk).
 *
 * @param tensors - one or more tensors of the same shape and dtype.
 * @param axis - where the new axis goes, in [-(rank+1), rank]. Default 0.
 * @throws ValueError when the list is empty; ArgumentError when it is not an array of Tensors;
 *   DTypeError on mixed dtypes; ShapeError on mismatched shapes or an axis out of range.
 * @example
 * ```ts
 * stack([tensor([1, 2]), tensor([3, 4])], 1); // [[1, 3], [2, 4]]
 * ```
 */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  const fn = 'stack';
  const { list, dtype } = checkList(fn, tensors);
  const first = list[0].shape;
  const ax = normalizeAxis(fn, axis, first.length + 1);
  list.forEach((t, i) => {
    if (t.shape.length !== first.length || t.shape.some((d, k) => d !== first[k])) {
      throw new ShapeError(`${fn}: tensors[${i}] must have shape ${formatShape(first)} like tensors[0], got ${formatShape(t.shape)}`);
    }
  });
  const outer = sizeOf(first.slice(0, ax));
  const inner = sizeOf(first.slice(ax));
  const shape = [...first.slice(0, ax), list.length, ...first.slice(ax)];
  return join(fn, list, dtype, outer, list.map(() => inner), shape);
}
