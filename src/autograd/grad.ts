/**
 * Gradients as values: `autograd.grad` (like `torch.autograd.grad`), and the Hessian- and
 * Jacobian-vector products built on it.
 *
 * @packageDocumentation
 */
import { dtypeOf } from '../dtype';
import { ArgumentError, GradError } from '../errors';
import { checkOptions, optionalBoolean } from '../options';
import { describe, formatShape, shapesEqual } from '../shape';
import { Tensor } from '../tensor';
import { runTensorBackward } from './tape';

/** Options of {@link grad}. */
export interface GradOptions {
  /** d(objective)/d(output) for each output; required for outputs with more than one element. Default: ones for one-element outputs. */
  gradOutputs?: readonly (Tensor | null)[];
  /** Record the gradient computation so the result can be differentiated again. Default false. */
  createGraph?: boolean;
  /** Keep the graph for another backward pass. Default: createGraph. */
  retainGraph?: boolean;
  /** Give null for an input the outputs do not depend on, instead of throwing. Default false. */
  allowUnused?: boolean;
}

/**
 * The gradients of `outputs` with respect to `inputs`, returned rather than accumulated into
 * `.grad` (which stays untouched), like `torch.autograd.grad`. With several outputs, or a
 * `gradOutputs` seed, it is the gradient of `sum_i <outputs[i], gradOutputs[i]>`.
 *
 * Shape: each result has its input's shape.
 *
 * @param outputs - the tensors to differentiate (they must require grad).
 * @param inputs - the tensors to differentiate with respect to (leaves or intermediates of the graph).
 * @param opts - gradOutputs, createGraph (false), retainGraph (createGraph), allowUnused (false).
 * @returns one gradient per input (null for an unused input with allowUnused).
 * @throws GradError when an output does not require grad, a non-scalar output has no gradOutput,
 *   an input is unused (without allowUnused), or the graph was freed by an earlier backward.
 * @example
 * ```ts
 * const x = tensor([1, 2, 3], { requiresGrad: true });
 * const [dx] = autograd.grad([x.tanh().sum()], [x], { createGraph: true });
 * const [d2x] = autograd.grad([dx!.sum()], [x]);   // second derivative of tanh, elementwise
 * ```
 */
export function grad(outputs: readonly Tensor[], inputs: readonly Tensor[], opts?: GradOptions): (Tensor | null)[] {
  const fn = 'autograd.grad';
  const o = checkOptions(fn, opts, ['gradOutputs', 'createGraph', 'retainGraph', 'allowUnused']);
  const createGraph = optionalBoolean(fn, 'opts.createGraph', o.createGraph, false);
  const retainGraph = optionalBoolean(fn, 'opts.retainGraph', o.retainGraph, createGraph);
  const allowUnused = optionalBoolean(fn, 'opts.allowUnused', o.allowUnused, false);
  const outs = tensorList(fn, 'outputs', outputs);
  const ins = tensorList(fn, 'inputs', inputs);
  const gradOutputs = o.gradOutputs as readonly (Tensor | null)[] | undefined;
  if (gradOutputs !== undefined && (!Array.isArray(gradOutputs) || gradOutputs.length !== outs.length)) {
    throw new ArgumentError(`${fn}: opts.gradOutputs must be an array of ${outs.length} (one per output), got ${describe(gradOutputs)}`);
  }
  const seeds = outs.map((y, i) => {
    if (!y.requiresGrad) {
      throw new GradError(`${fn}: outputs[${i}] (${formatShape(y.shape)}) does not require grad: no input of the ops that made it requires grad, or it was made under noGrad`);
    }
    const s = gradOutputs?.[i] ?? null;
    if (s === null) {
      if (y.size !== 1) {
        throw new GradError(`${fn}: outputs[${i}] has shape ${formatShape(y.shape)}; a non-scalar output needs opts.gradOutputs[${i}] (d objective / d output), got none`);
      }
      return Tensor.ones(y.shape, { dtype: y.dtype });
    }
    if (!(s instanceof Tensor)) throw new ArgumentError(`${fn}: opts.gradOutputs[${i}] must be a Tensor or null, got ${describe(s)}`);
    if (!shapesEqual(s.shape, y.shape)) throw new GradError(`${fn}: opts.gradOutputs[${i}] must have shape ${formatShape(y.shape)} like outputs[${i}], got ${formatShape(s.shape)}`);
    if (s.dtype !== y.dtype) throw new GradError(`${fn}: opts.gradOutputs[${i}] must have dtype '${y.dtype}' like outputs[${i}], got '${dtypeOf(s.data)}'`);
    return s;
  });
  ins.forEach((x, i) => {
    if (!x.requiresGrad) throw new GradError(`${fn}: inputs[${i}] (${formatShape(x.shape)}) does not require grad, so nothing depends on it through the tape`);
  });
  const res = runTensorBackward(outs, seeds, { createGraph, retainGraph, capture: ins });
  res.forEach((g, i) => {
    if (g === null && !allowUnused) {
      throw new GradError(
        `${fn}: inputs[${i}] (${formatShape(ins[i].shape)}) is not used to compute the outputs, so it has no gradient; pass { allowUnused: true } to get null for it`,
      );
    }
  });
  return res;
}

/**
 * Hessian-vector product: H v for a scalar `f(...params)`, H its Hessian with respect to
 * `params`, without forming H. Cost: one forward, one backward with createGraph, and one more
 * backward through that: about 3-4 times one gradient, whatever the number of parameters.
 *
 * @param f - the scalar function (built from tapegrad ops).
 * @param params - where to evaluate (each must require grad).
 * @param v - one tensor per param, of its shape.
 * @returns H v, one tensor per param.
 * @throws GradError / ArgumentError as {@link grad}, or when v does not match params.
 * @example
 * ```ts
 * const x = tensor([1, 2], { requiresGrad: true });
 * hvp((x) => x.mul(x).mul(x).sum(), [x], [tensor([1, 0])]); // [6 * 1, 0]
 * ```
 */
export function hvp(f: (...params: Tensor[]) => Tensor, params: readonly Tensor[], v: readonly Tensor[]): Tensor[] {
  const fn = 'hvp';
  if (typeof f !== 'function') throw new ArgumentError(`${fn}: f must be a function, got ${describe(f)}`);
  const ps = tensorList(fn, 'params', params);
  const vs = matchList(fn, ps, v);
  const y = f(...ps);
  if (!(y instanceof Tensor)) throw new ArgumentError(`${fn}: f must return a Tensor, got ${describe(y)}`);
  const gs = grad([y], ps, { createGraph: true, allowUnused: true });
  let dot: Tensor | null = null;
  gs.forEach((g, i) => {
    if (g === null) return;
    const term = g.mul(vs[i]).sum();
    dot = dot === null ? term : dot.add(term);
  });
  if (dot === null) return ps.map((p) => Tensor.zeros(p.shape, { dtype: p.dtype }));
  const hv = grad([dot], ps, { allowUnused: true });
  return hv.map((h, i) => h ?? Tensor.zeros(ps[i].shape, { dtype: ps[i].dtype }));
}

/**
 * Jacobian-vector product: J v for `y = f(...params)`, J its Jacobian, by the double-backward
 * trick (the gradient of u -> <J^T u, v> with respect to u). Cost: one forward and two backward
 * passes (the first with createGraph), about 3 times one gradient.
 *
 * @param f - the function (built from tapegrad ops), any output shape.
 * @param params - where to evaluate (each must require grad).
 * @param v - one tensor per param, of its shape (the direction).
 * @returns J v, of the output's shape.
 * @throws GradError / ArgumentError as {@link grad}, or when v does not match params.
 * @example
 * ```ts
 * const x = tensor([1, 2], { requiresGrad: true });
 * jvp((x) => x.mul(x), [x], [tensor([1, 1])]); // [2, 4]
 * ```
 */
export function jvp(f: (...params: Tensor[]) => Tensor, params: readonly Tensor[], v: readonly Tensor[]): Tensor {
  const fn = 'jvp';
  if (typeof f !== 'function') throw new ArgumentError(`${fn}: f must be a function, got ${describe(f)}`);
  const ps = tensorList(fn, 'params', params);
  const vs = matchList(fn, ps, v);
  const y = f(...ps);
  if (!(y instanceof Tensor)) throw new ArgumentError(`${fn}: f must return a Tensor, got ${describe(y)}`);
  const u = Tensor.zeros(y.shape, { dtype: y.dtype, requiresGrad: true });
  const gs = grad([y], ps, { gradOutputs: [u], createGraph: true, allowUnused: true });
  let dot: Tensor | null = null;
  gs.forEach((g, i) => {
    if (g === null) return;
    const term = g.mul(vs[i]).sum();
    dot = dot === null ? term : dot.add(term);
  });
  if (dot === null) return Tensor.zeros(y.shape, { dtype: y.dtype });
  const [jv] = grad([dot], [u], { allowUnused: true });
  return jv ?? Tensor.zeros(y.shape, { dtype: y.dtype });
}

function tensorList(fn: string, arg: string, v: unknown): Tensor[] {
  if (!Array.isArray(v) || v.length === 0) throw new ArgumentError(`${fn}: ${arg} must be a non-empty array of Tensors, got ${describe(v)}`);
  v.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new ArgumentError(`${fn}: ${arg}[${i}] must be a Tensor, got ${describe(t)}`);
  });
  return v as Tensor[];
}

function matchList(fn: string, ps: readonly Tensor[], v: unknown): Tensor[] {
  const vs = tensorList(fn, 'v', v);
  if (vs.length !== ps.length) throw new ArgumentError(`${fn}: v must hold one tensor per param (${ps.length}), got ${vs.length}`);
  vs.forEach((t, i) => {
    if (!shapesEqual(t.shape, ps[i].shape) || t.dtype !== ps[i].dtype) {
      throw new ArgumentError(`${fn}: v[${i}] must have shape ${formatShape(ps[i].shape)} and dtype '${ps[i].dtype}' like params[${i}], got ${formatShape(t.shape)} '${t.dtype}'`);
    }
  });
  return vs;
}
