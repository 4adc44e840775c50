/**
 * Index maps for numpy broadcasting: where each element of a broadcast result reads from an
 * input, and how a gradient of the result folds back to the input's shape.
 *
 * @packageDocumentation
 */
import { allocate, dtypeOf, type FloatArray } from '../dtype';
import { shapesEqual, sizeOf, stridesOf, type Shape } from '../shape';

/**
 * For each flat index of `outShape`, the flat index of `inShape` it reads under broadcasting.
 *
 * @param inShape - the input's shape (broadcastable to outShape).
 * @param outShape - the broadcast result's shape.
 * @example
 * ```ts
 * broadcastIndex([3], [2, 3]); // Int32Array [0, 1, 2, 0, 1, 2]
 * ```
 */
export function broadcastIndex(inShape: Shape, outShape: Shape): Int32Array {
  const rank = outShape.length;
  const offset = rank - inShape.length;
  const inStrides = stridesOf(inShape);
  // Stride of each output axis in the input; 0 where the input is broadcast along it.
  const strides = new Array<number>(rank).fill(0);
  for (let i = 0; i < inShape.length; i++) strides[i + offset] = inShape[i] === 1 ? 0 : inStrides[i];
  return stridedIndex(outShape, strides);
}

/**
 * For each flat index of `outShape`, the source offset sum_ax(counter[ax] * strides[ax]): the
 * one odometer behind broadcasting and axis permutation.
 *
 * @param outShape - the shape walked in row-major order.
 * @param strides - per axis of outShape, how far the source moves (0 to repeat).
 * @example
 * ```ts
 * stridedIndex([3, 2], [1, 3]); // Int32Array [0, 3, 1, 4, 2, 5]: a 2x3 matrix read transposed
 * ```
 */
export function stridedIndex(outShape: Shape, strides: readonly number[]): Int32Array {
  const n = sizeOf(outShape);
  const rank = outShape.length;
  const index = new Int32Array(n);
  const counter = new Array<number>(rank).fill(0);
  let src = 0;
  for (let k = 0; k < n; k++) {
    index[k] = src;
    // Advance the odometer over outShape, moving src by the matching strides.
    for (let ax = rank - 1; ax >= 0; ax--) {
      counter[ax]++;
      src += strides[ax];
      if (counter[ax] < outShape[ax]) break;
      src -= strides[ax] * counter[ax];
      counter[ax] = 0;
    }
  }
  return index;
}

/**
 * Folds a gradient of a broadcast result back to an input's shape by summing over the
 * broadcast axes. Returns `grad` itself when the shapes already agree.
 *
 * @param grad - gradient with `outShape`.
 * @param outShape - the broadcast result's shape.
 * @param inShape - the input's shape.
 * @example
 * ```ts
 * sumToShape(Float64Array.of(1, 2, 3, 4, 5, 6), [2, 3], [3]); // [5, 7, 9]
 * ```
 */
export function sumToShape(grad: FloatArray, outShape: Shape, inShape: Shape): FloatArray {
  if (shapesEqual(outShape, inShape)) return grad;
  const out = allocate(dtypeOf(grad), sizeOf(inShape));
  if (out.length === 1) {
    let s = 0;
    for (let k = 0; k < grad.length; k++) s += grad[k];
    out[0] = s;
    return out;
  }
  const index = broadcastIndex(inShape, outShape);
  for (let k = 0; k < grad.length; k++) out[index[k]] += grad[k];
  return out;
}
