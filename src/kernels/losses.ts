/**
 * Classification losses over scores (N, C) and integer labels, each returning the mean loss
 * over the batch and its gradient with respect to the scores (CS231n's `softmax_loss` and
 * `svm_loss`).
 *
 * @packageDocumentation
 */
import { allocate, allocateUninit, dtypeOf } from '../dtype';
import { ShapeError } from '../errors';
import { formatShape } from '../shape';
import { assertNDArray, checkLabels, type Labels, type NDArray, type OwnedArray } from './types';

function checkScores(fn: string, scores: unknown): { n: number; c: number } {
  assertNDArray(fn, 'scores', scores);
  if (scores.shape.length !== 2 || scores.shape[0] < 1 || scores.shape[1] < 1) {
    throw new ShapeError(`${fn}: scores must be 2-D (N, C) with N >= 1 and C >= 1, got ${formatShape(scores.shape)}`);
  }
  return { n: scores.shape[0], c: scores.shape[1] };
}

/**
 * Softmax cross-entropy: loss = -mean_i log softmax(scores_i)[y_i], numerically stable
 * (each row is shifted by its maximum before exponentiating).
 *
 * Shape: scores (N, C), y (N) -> loss (number), dx (N, C).
 *
 * @param scores - unnormalized class scores.
 * @param y - integer labels in [0, C).
 * @returns `{ loss, dx }`, dx = (softmax - onehot(y)) / N.
 * @throws ShapeError on a wrong rank or label count, ValueError on a bad label.
 * @example
 * ```ts
 * const { loss, dx } = softmaxLoss(scores, [0, 2, 1]);
 * ```
 */
export function softmaxLoss(scores: NDArray, y: Labels): { loss: number; dx: OwnedArray } {
  return softmaxLossAs('softmaxLoss', 'y', scores, y);
}

/**
 * {@link softmaxLoss} reporting errors as `fn`: the loss ops name what the user called
 * (`nn.softmaxCrossEntropy`), not this kernel.
 *
 * @internal
 * @param fn - the name error messages start with.
 * @param yArg - the labels' name in messages ('labels').
 * @param scores - as {@link softmaxLoss}.
 * @param y - as {@link softmaxLoss}.
 * @example
 * ```ts
 * softmaxLossAs('nn.softmaxCrossEntropy', 'labels', scores, labels);
 * ```
 */
export function softmaxLossAs(fn: string, yArg: string, scores: NDArray, y: Labels): { loss: number; dx: OwnedArray } {
  const { n, c } = checkScores(fn, scores);
  const labels = checkLabels(fn, yArg, y, n, c);
  const s = scores.data;
  const dx = allocateUninit(dtypeOf(s), n * c); // every element is assigned below
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const r = i * c;
    let max = -Infinity;
    for (let j = 0; j < c; j++) if (s[r + j] > max) max = s[r + j];
    // One exp per element: softmax = e / z (CS231n's exp(shifted - log z) costs a second).
    let z = 0;
    for (let j = 0; j < c; j++) {
      const e = Math.exp(s[r + j] - max);
      dx[r + j] = e;
      z += e;
    }
    const logZ = Math.log(z);
    for (let j = 0; j < c; j++) dx[r + j] = dx[r + j] / z / n;
    dx[r + labels[i]] -= 1 / n;
    loss -= s[r + labels[i]] - max - logZ;
  }
  return { loss: loss / n, dx: { shape: [n, c], data: dx } };
}

/**
 * Multiclass SVM (hinge) loss with margin 1:
 * loss = mean_i sum_{j != y_i} max(0, s_ij - s_iy_i + 1).
 *
 * Shape: scores (N, C), y (N) -> loss (number), dx (N, C).
 *
 * @param scores - class scores.
 * @param y - integer labels in [0, C).
 * @returns `{ loss, dx }`.
 * @throws ShapeError on a wrong rank or label count, ValueError on a bad label.
 * @example
 * ```ts
 * const { loss, dx } = svmLoss(scores, Int32Array.of(0, 2, 1));
 * ```
 */
export function svmLoss(scores: NDArray, y: Labels): { loss: number; dx: OwnedArray } {
  return svmLossAs('svmLoss', 'y', scores, y);
}

/**
 * {@link svmLoss} reporting errors as `fn` (`nn.svmLoss`).
 *
 * @internal
 * @param fn - the name error messages start with.
 * @param yArg - the labels' name in messages ('labels').
 * @param scores - as {@link svmLoss}.
 * @param y - as {@link svmLoss}.
 * @example
 * ```ts
 * svmLossAs('nn.svmLoss', 'labels', scores, labels);
 * ```
 */
export function svmLossAs(fn: string, yArg: string, scores: NDArray, y: Labels): { loss: number; dx: OwnedArray } {
  const { n, c } = checkScores(fn, scores);
  const labels = checkLabels(fn, yArg, y, n, c);
  const s = scores.data;
  const dx = allocate(dtypeOf(s), n * c);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const r = i * c;
    const yi = labels[i];
    const correct = s[r + yi];
    let positive = 0;
    for (let j = 0; j < c; j++) {
      if (j === yi) continue;
      const margin = s[r + j] - correct + 1;
      if (margin > 0) {
        loss += margin;
        dx[r + j] = 1 / n;
        positive++;
      }
    }
    dx[r + yi] = -positive / n;
  }
  return { loss: loss / n, dx: { shape: [n, c], data: dx } };
}
