/**
 * Losses on the tape: softmax cross-entropy and the multiclass SVM on the seed-style kernels,
 * and mean squared error.
 *
 * @packageDocumentation
 */
import { record } from '../autograd/tape';
import { allocate, allocateUninit, assertSameDType, dtypeOf, type FloatArray } from '../dtype';
import { ShapeError, ValueError } from '../errors';
import { softmaxLossAs, svmLossAs } from '../kernels/losses';
import type { Labels } from '../kernels/types';
import { assertShape, describe, formatShape } from '../shape';
import { checkOptions } from '../options';
import { Tensor } from '../tensor';
import { assertTensor } from './util';

/** How a loss over a batch is reduced: the mean over rows (default) or the sum. */
export type Reduction = 'mean' | 'sum';

/** Options of the losses. */
export interface LossOptions {
  /** 'mean' (default) or 'sum' over the batch. */
  reduction?: Reduction;
}

function resolveReduction(fn: string, opts: LossOptions | undefined): Reduction {
  const r = checkOptions(fn, opts, ['reduction']).reduction ?? 'mean';
  if (r !== 'mean' && r !== 'sum') throw new ValueError(`${fn}: opts.reduction must be 'mean' or 'sum', got ${describe(r)}`);
  return r;
}

function scalarLoss(
  fn: string,
  op: string,
  scores: Tensor,
  kernel: (fn: string, yArg: string, s: Tensor, y: Labels) => { loss: number; dx: { data: FloatArray } },
  labels: Labels,
  opts: LossOptions | undefined,
): Tensor {
  assertTensor(fn, 'scores', scores);
  const reduction = resolveReduction(fn, opts);
  const { loss, dx } = kernel(fn, 'labels', scores, labels);
  const scale = reduction === 'sum' ? scores.shape[0] : 1;
  const od = allocate(dtypeOf(scores.data), 1);
  od[0] = loss * scale;
  return record(
    new Tensor(od, []),
    op,
    [scores],
    (g) => {
      const k = g[0] * scale;
      const r = allocateUninit(dtypeOf(g), dx.data.length);
      for (let i = 0; i < r.length; i++) r[i] = dx.data[i] * k;
      return [r];
    },
    [dx.data], // the kernel's gradient: only this backward reads it
  );
}

/**
 * Softmax cross-entropy of class scores against integer labels, numerically stable.
 *
 * Shape: scores (N, C), labels (N) -> scalar.
 *
 * @param scores - unnormalized scores (logits).
 * @param labels - class indices in [0, C), as number[] or Int32Array.
 * @param opts - reduction: 'mean' (default) or 'sum'.
 * @throws ShapeError on shapes, ValueError on a non-integer or out-of-range label or a bad
 *   option, ArgumentError when opts is not an object; messages start `nn.softmaxCrossEntropy:`.
 * @example
 * ```ts
 * const loss = softmaxCrossEntropy(model.forward(x), [3, 1, 4]);
 * ```
 */
export function softmaxCrossEntropy(scores: Tensor, labels: Labels, opts?: LossOptions): Tensor {
  return scalarLoss('nn.softmaxCrossEntropy', 'softmaxCrossEntropy', scores, softmaxLossAs, labels, opts);
}

/**
 * Multiclass SVM (hinge) loss with margin 1, as CS231n's `svm_loss`.
 *
 * Shape: scores (N, C), labels (N) -> scalar.
 *
 * @param scores - class scores.
 * @param labels - class indices in [0, C).
 * @param opts - reduction: 'mean' (default) or 'sum'.
 * @throws as {@link softmaxCrossEntropy}, with messages starting `nn.svmLoss:`.
 * @example
 * ```ts
 * const loss = svmLoss(scores, Int32Array.of(0, 2));
 * ```
 */
export function svmLoss(scores: Tensor, labels: Labels, opts?: LossOptions): Tensor {
  return scalarLoss('nn.svmLoss', 'svmLoss', scores, svmLossAs, labels, opts);
}

/**
 * Mean squared error: mean (or sum) of (prediction - target)^2 over all elements.
 *
 * Shape: prediction and target of one shape -> scalar.
 *
 * @param prediction - the model's output.
 * @param target - the values to match (no gradient flows into it unless it requires grad).
 * @param opts - reduction: 'mean' (default) or 'sum'.
 * @throws ShapeError when the shapes differ or hold no element, DTypeError on mixed dtypes,
 *   ValueError or ArgumentError on bad options; messages start `nn.mseLoss:`.
 * @example
 * ```ts
 * const loss = mseLoss(model.forward(x), y);
 * ```
 */
export function mseLoss(prediction: Tensor, target: Tensor, opts?: LossOptions): Tensor {
  const fn = 'nn.mseLoss';
  assertTensor(fn, 'prediction', prediction);
  assertTensor(fn, 'target', target);
  assertShape(fn, 'target', target.shape, prediction.shape, 'like prediction');
  assertSameDType(fn, 'prediction', prediction.data, 'target', target.data);
  const reduction = resolveReduction(fn, opts);
  if (prediction.data.length === 0) {
    throw new ShapeError(`${fn}: prediction must hold at least one element (a loss over an empty batch is undefined), got shape ${formatShape(prediction.shape)}`);
  }
  const p = prediction.data;
  const t = target.data;
  const n = p.length;
  const scale = reduction === 'mean' ? 1 / n : 1;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const d = p[i] - t[i];
    s += d * d;
  }
  const od = allocate(dtypeOf(p), 1);
  od[0] = s * scale;
  return record(new Tensor(od, []), 'mseLoss', [prediction, target], (g) => {
    const k = 2 * g[0] * scale;
    const dp = allocate(dtypeOf(p), n);
    for (let i = 0; i < n; i++) dp[i] = k * (p[i] - t[i]);
    let dt: FloatArray | null = null;
    if (target.requiresGrad) {
      dt = allocate(dtypeOf(p), n);
      for (let i = 0; i < n; i++) dt[i] = -dp[i];
    }
    return [prediction.requiresGrad ? dp : null, dt];
  });
}
