/**
 * Matrix product on the tape, over the GEMM kernel.
 *
 * @packageDocumentation
 */
import { record, withGraphRule } from '../autograd/tape';
import { allocateUninit, assertSameDType, dtypeOf } from '../dtype';
import { ShapeError } from '../errors';
import { assertSizeFits, formatShape } from '../shape';
import { Tensor } from '../tensor';
import { gemm } from '../kernels/gemm';
import { assertTensor } from './util';

/**
 * a @ b for 2-D tensors. Backward: da = g @ bᵀ, db = aᵀ @ g, computed by GEMM without
 * transposed copies.
 *
 * Shape: a (M, K), b (K, N) -> (M, N).
 *
 * @param a - left matrix.
 * @param b - right matrix.
 * @throws ShapeError when either is not 2-D, the inner dimensions differ, or the result would
 *   hold more elements than a typed array can.
 * @example
 * ```ts
 * matmul(tensor([[1, 2]]), tensor([[3], [4]])); // [[11]]
 * ```
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const fn = 'matmul';
  assertTensor(fn, 'a', a);
  assertTensor(fn, 'b', b);
  if (a.shape.length !== 2) throw new ShapeError(`${fn}: a must be 2-D (M, K), got ${a.shape.length}-D shape ${formatShape(a.shape)}`);
  if (b.shape.length !== 2) throw new ShapeError(`${fn}: b must be 2-D (K, N), got ${b.shape.length}-D shape ${formatShape(b.shape)}`);
  const [m, k] = a.shape;
  const [k2, n] = b.shape;
  if (k !== k2) {
    throw new ShapeError(
      `${fn}: b must have ${k} rows to match a ${formatShape(a.shape)} (inner dimensions), got b ${formatShape(b.shape)}`,
    );
  }
  assertSameDType(fn, 'a', a.data, 'b', b.data);
  assertSizeFits(fn, 'the result (M, N)', [m, n]);
  const dt = dtypeOf(a.data);
  const c = allocateUninit(dt, m * n); // gemm overwrites C
  gemm(a.data, b.data, c, m, n, k);
  const out = record(new Tensor(c, [m, n]), fn, [a, b], (g) => {
    let da = null;
    let db = null;
    if (a.requiresGrad) {
      da = allocateUninit(dt, m * k);
      gemm(g, b.data, da, m, k, n, { transB: true });
    }
    if (b.requiresGrad) {
      db = allocateUninit(dt, k * n);
      gemm(a.data, g, db, k, n, m, { transA: true });
    }
    return [da, db];
  });
  return withGraphRule(out, (g) => [a.requiresGrad ? g.matmul(b.transpose()) : null, b.requiresGrad ? a.transpose().matmul(g) : null]);
}
