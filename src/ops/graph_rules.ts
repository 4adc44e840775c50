/**
 * Helpers for the differentiable backward rules (`withGraphRule`) that make second and higher
 * derivatives work: summing a broadcast gradient back to an input's shape, broadcasting one
 * out, constants, and differentiating a composite op through its decomposition into primitive
 * ops.
 *
 * @packageDocumentation
 */
import { runTensorBackward, type GraphRule } from '../autograd/tape';
import { allocate, type FloatArray } from '../dtype';
import { shapesEqual } from '../shape';
import { Tensor } from '../tensor';

/**
 * Sums a gradient of a broadcast result back to `shape` (the input's), with recorded ops.
 *
 * @param g - gradient of the broadcast output.
 * @param shape - the input's shape.
 * @example
 * ```ts
 * sumTo(g, b.shape); // the gradient of b in a.add(b)
 * ```
 */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  let r = g;
  const lead = r.shape.length - shape.length;
  for (let i = 0; i < lead; i++) r = r.sum(0);
  for (let i = 0; i < shape.length; i++) if (shape[i] === 1 && r.shape[i] !== 1) r = r.sum(i, true);
  return shapesEqual(r.shape, shape) ? r : r.reshape([...shape]);
}

/**
 * Broadcasts `g` to `shape` with a recorded add (the gradient of a reduction).
 *
 * @param g - a tensor whose shape broadcasts to `shape`.
 * @param shape - the target shape.
 * @example
 * ```ts
 * expandTo(g.reshape([1, 4]), [3, 4]);
 * ```
 */
export function expandTo(g: Tensor, shape: readonly number[]): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  return Tensor.zeros(shape, { dtype: g.dtype }).add(g);
}

/**
 * A constant tensor (no grad) holding a copy of `data`.
 *
 * @param data - the values (copied).
 * @param shape - their shape.
 * @example
 * ```ts
 * constant(mask, x.shape);
 * ```
 */
export function constant(data: FloatArray | ArrayLike<number>, shape: readonly number[], like: Tensor): Tensor {
  const a = allocate(like.dtype, data.length);
  for (let i = 0; i < a.length; i++) a[i] = data[i];
  return new Tensor(a, shape);
}

/**
 * A differentiable rule for a composite op from its decomposition: `forward` recomputes the op's
 * output from its tensor inputs with primitive tapegrad ops (each with its own rule), and the
 * rule is the gradient of that recomputation, recorded. Slower than a hand-written rule, but it
 * only runs when gradients are recorded (createGraph), and its correctness follows from the
 * primitives'.
 *
 * @param inputs - the op's tensor inputs.
 * @param forward - recomputes the op's output from (the same) inputs.
 * @example
 * ```ts
 * withGraphRule(out, decomposed([x, gamma, beta], (x, g, b) => layerNormOps(x, g, b, eps)));
 * ```
 */
export function decomposed(inputs: readonly Tensor[], forward: (...xs: Tensor[]) => Tensor): GraphRule {
  return (g) => {
    const y = forward(...inputs);
    const want = inputs.filter((t) => t.requiresGrad);
    const grads = runTensorBackward([y], [g], { createGraph: true, retainGraph: true, capture: want });
    return inputs.map((t) => (t.requiresGrad ? (grads[want.indexOf(t)] ?? Tensor.zeros(t.shape, { dtype: t.dtype })) : null));
  };
}
