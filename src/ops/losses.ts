/**
 * Losses on the tape: softmax cross-entropy and the multiclass SVM on the seed-style kernels,
 * and mean squared error.
 *
 * @packageDocumentation
 */
import { record, withGraphRule } from '../autograd/tape';
import { constant, decomposed } from './graph_rules';
import { allocate, allocateUninit, assertSameDType, dtypeOf, type FloatArray } from '../dtype';
import { GradError, ShapeError, ValueError } from '../errors';
import { softmaxLossAs, svmLossAs } from '../kernels/losses';
import { checkLabels, type Labels } from '../kernels/types';
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
  recompute: (s: Tensor, y: Int32Array) => Tensor,
): Tensor {
  assertTensor(fn, 'scores', scores);
  const reduction = resolveReduction(fn, opts);
  const { loss, dx } = kernel(fn, 'labels', scores, labels);
  const scale = reduction === 'sum' ? scores.shape[0] : 1;
  const od = allocate(dtypeOf(scores.data), 1);
  od[0] = loss * scale;
  const out = record(
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
  if (out._node === null) return out;
  // A snapshot of the labels (the kernel has checked them) for the rule, which may run after
  // the caller changed its array; slice() is a plain copy for the common Int32Array.
  const y = labels instanceof Int32Array ? labels.slice() : Int32Array.from(labels as ArrayLike<number>);
  return withGraphRule(out, (g) => decomposed([scores], (sc) => recompute(sc, y).mul(scale))(g));
}

/** A constant (N, C) one-hot matrix of integer labels. */
function oneHot(y: Int32Array, c: number, like: Tensor): Tensor {
  const d = new Float64Array(y.length * c);
  for (let i = 0; i < y.length; i++) d[i * c + y[i]] = 1;
  return constant(d, [y.length, c], like);
}

/** Mean over rows of logsumexp(s_i) - s_i[y_i], with tapegrad ops (the graph rule's recomputation). */
function softmaxCrossEntropyOps(s: Tensor, y: Int32Array): Tensor {
  const [n, c] = s.shape;
  const rowMax = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let j = 0; j < c; j++) m = Math.max(m, s.data[i * c + j]);
    rowMax[i] = m;
  }
  const m = constant(rowMax, [n, 1], s); // a constant shift: logsumexp's gradient does not depend on it
  const lse = s.sub(m).exp().sum(1, true).log().add(m);
  const picked = s.mul(oneHot(y, c, s)).sum(1, true);
  return lse.sub(picked).sum().div(n);
}

/** Mean over rows of sum_{j != y} max(0, s_j - s_y + 1), with tapegrad ops and a constant active-set mask. */
function svmOps(s: Tensor, y: Int32Array): Tensor {
  const [n, c] = s.shape;
  const mask = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) if (j !== y[i] && s.data[i * c + j] - s.data[i * c + y[i]] + 1 > 0) mask[i * c + j] = 1;
  }
  const picked = s.mul(oneHot(y, c, s)).sum(1, true);
  return s.sub(picked).add(1).mul(constant(mask, [n, c], s)).sum().div(n);
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
  return scalarLoss('nn.softmaxCrossEntropy', 'softmaxCrossEntropy', scores, softmaxLossAs, labels, opts, softmaxCrossEntropyOps);
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
  return scalarLoss('nn.svmLoss', 'svmLoss', scores, svmLossAs, labels, opts, svmOps);
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
  const out = record(new Tensor(od, []), 'mseLoss', [prediction, target], (g) => {
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
  return withGraphRule(
    out,
    decomposed([prediction, target], (pp, tt) => {
      const d = pp.sub(tt);
      return d.mul(d).sum().mul(scale);
    }),
  );
}

/** How an elementwise loss is reduced: the mean over all elements (default), the sum, or none (the per-element losses). */
export type LossReduction = 'mean' | 'sum' | 'none';

/** Options of {@link l1Loss} and {@link nllLoss}. */
export interface ElementwiseLossOptions {
  /** 'mean' (default), 'sum', or 'none' for the per-element losses as a tensor (differentiable). */
  reduction?: LossReduction;
}

/** Options of {@link huberLoss}. */
export interface HuberLossOptions extends ElementwiseLossOptions {
  /** Where the loss turns from quadratic to linear, a finite number > 0. Default 1. */
  delta?: number;
}

/** Options of {@link bceWithLogits}. */
export interface BCEWithLogitsOptions extends ElementwiseLossOptions {
  /**
   * Weight of the positive term, PyTorch's `pos_weight`: a tensor of the logits' dtype whose
   * shape is a suffix of the logits' shape (e.g. [C] for logits (N, C), or [] for one weight),
   * broadcast over the leading axes. Default none (weight 1). Not differentiable: one that
   * requires grad is refused, as PyTorch does.
   */
  posWeight?: Tensor;
}

function resolveFullReduction(fn: string, r: unknown): LossReduction {
  const v = r ?? 'mean';
  if (v !== 'mean' && v !== 'sum' && v !== 'none') {
    throw new ValueError(`${fn}: opts.reduction must be 'mean', 'sum' or 'none', got ${describe(v)}`);
  }
  return v;
}

/**
 * The shared body of the elementwise losses: checks two same-shape tensors, computes each
 * element's loss and its derivatives in one pass (saved for backward), then reduces.
 * `point(a, b, i)` returns the loss and writes the derivatives into `da[i]` and `db[i]`.
 */
function elementwiseLoss(
  op: string,
  a: Tensor,
  b: Tensor,
  reduction: LossReduction,
  point: (x: number, y: number, i: number, da: FloatArray, db: FloatArray) => number,
  elems: (a: Tensor, b: Tensor) => Tensor,
): Tensor {
  const n = a.data.length;
  const dt = dtypeOf(a.data);
  const ad = a.data;
  const bd = b.data;
  const da = allocate(dt, n);
  const db = allocate(dt, n);
  const per = allocate(dt, n);
  let s = 0;
  for (let i = 0; i < n; i++) {
    const l = point(ad[i], bd[i], i, da, db);
    per[i] = l;
    s += l;
  }
  let out: Tensor;
  if (reduction === 'none') {
    out = new Tensor(per, a.shape);
  } else {
    const od = allocate(dt, 1);
    od[0] = reduction === 'mean' ? s / n : s;
    out = new Tensor(od, []);
  }
  const y = record(out, op, [a, b], (g) => {
    const k = reduction === 'mean' ? g[0] / n : g[0];
    const ga = a.requiresGrad ? allocate(dt, n) : null;
    const gb = b.requiresGrad ? allocate(dt, n) : null;
    for (let i = 0; i < n; i++) {
      const gi = reduction === 'none' ? g[i] : k;
      if (ga !== null) ga[i] = gi * da[i];
      if (gb !== null) gb[i] = gi * db[i];
    }
    return [ga, gb];
  });
  if (y._node === null) return y;
  return withGraphRule(
    y,
    decomposed([a, b], (aa, bb) => {
      const e = elems(aa, bb);
      return reduction === 'none' ? e : reduction === 'mean' ? e.mean() : e.sum();
    }),
  );
}

function checkPair(fn: string, argA: string, a: unknown, argB: string, b: unknown): void {
  assertTensor(fn, argA, a);
  assertTensor(fn, argB, b);
  assertShape(fn, argB, b.shape, a.shape, `like ${argA}`);
  assertSameDType(fn, argA, a.data, argB, b.data);
  if (a.data.length === 0) {
    throw new ShapeError(`${fn}: ${argA} must hold at least one element (a loss over an empty batch is undefined), got shape ${formatShape(a.shape)}`);
  }
}

/** log(1 + exp(-|x|)) + max(-x, 0) = softplus(-x) = -log(sigmoid(x)), finite for any finite x. */
function softplusNeg(x: number): number {
  return Math.log1p(Math.exp(-Math.abs(x))) + Math.max(-x, 0);
}

/** sigmoid(x) without overflow for large |x|. */
function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/**
 * Binary cross-entropy on logits, PyTorch's `binary_cross_entropy_with_logits`: per element
 * `(1 - t) x + w (log1p(exp(-|x|)) + max(-x, 0))` with `w = 1 + (posWeight - 1) t`, which equals
 * `max(x, 0) - x t + log1p(exp(-|x|))` without posWeight and stays finite for logits of any size
 * (±100, ±1e4). The gradient with respect to x is `sigmoid(x) - t` (with posWeight,
 * `w sigmoid(x) - posWeight t`).
 *
 * NOTE: for a logit of 100 with target 1 the loss is log1p(e^-100) = 3.7e-44, which PyTorch 1.13
 * (computing log(1 + e^-100)) rounds to 0; otherwise values agree with PyTorch to about 1e-15.
 *
 * NOTE: as in PyTorch, targets are not checked to lie in [0, 1] (soft labels and any real value
 * are accepted, and targets that require grad get a gradient); PyTorch's `weight` is not supported.
 *
 * Shape: logits any, targets like logits -> scalar ('mean' over all elements, 'sum'), or like
 * logits ('none').
 *
 * @param logits - unnormalized scores x.
 * @param targets - probabilities t of the positive class, same shape and dtype.
 * @param opts - reduction = 'mean' ('mean' | 'sum' | 'none'); posWeight (see {@link BCEWithLogitsOptions}).
 * @throws ArgumentError when an input is not a Tensor or opts not an object; ShapeError when the
 *   shapes differ, posWeight's shape is not a suffix of the logits' shape, or the logits hold no
 *   element; DTypeError on mixed dtypes; GradError when posWeight requires grad; ValueError on
 *   an unknown option or reduction; messages
 *   start `nn.bceWithLogits:`.
 * @example
 * ```ts
 * const loss = nn.bceWithLogits(model.forward(x), tensor([[1], [0]]));
 * ```
 */
export function bceWithLogits(logits: Tensor, targets: Tensor, opts?: BCEWithLogitsOptions): Tensor {
  const fn = 'nn.bceWithLogits';
  checkPair(fn, 'logits', logits, 'targets', targets);
  const o = checkOptions(fn, opts, ['reduction', 'posWeight']);
  const reduction = resolveFullReduction(fn, o.reduction);
  const pw = o.posWeight;
  if (pw === undefined) {
    return elementwiseLoss('bceWithLogits', logits, targets, reduction, (x, t, i, da, db) => {
      da[i] = sigmoid(x) - t;
      db[i] = -x;
      return Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));
    }, (x, t) => t.neg().add(1).mul(x).add(x.neg().softplus()));
  }
  assertTensor(fn, 'opts.posWeight', pw);
  const k = pw.shape.length;
  const suffix = logits.shape.slice(logits.shape.length - k);
  if (k > logits.shape.length || !suffix.every((d, j) => d === pw.shape[j])) {
    throw new ShapeError(
      `${fn}: opts.posWeight must have a shape that is a suffix of logits' ${formatShape(logits.shape)} (e.g. the last axis), got ${formatShape(pw.shape)}`,
    );
  }
  assertSameDType(fn, 'logits', logits.data, 'opts.posWeight', pw.data);
  if (pw.requiresGrad) {
    throw new GradError(`${fn}: opts.posWeight must not require grad (PyTorch's pos_weight is not differentiable either); pass posWeight.detach()`);
  }
  const m = pw.data.length;
  const w = pw.data;
  return elementwiseLoss(
    'bceWithLogits',
    logits,
    targets,
    reduction,
    (x, t, i, da, db) => {
      const p = w[i % m];
      const lw = (p - 1) * t + 1;
      const s = softplusNeg(x);
      da[i] = lw * sigmoid(x) - p * t; // = (1 - t) - lw sigmoid(-x), in PyTorch's arrangement
      db[i] = -x + (p - 1) * s;
      return (1 - t) * x + lw * s;
    },
    (x, t) => t.mul(constant(w, pw.shape, x).sub(1)).add(1).mul(x.neg().softplus()).add(t.neg().add(1).mul(x)),
  );
}

/**
 * Mean absolute error, PyTorch's `l1_loss`: `|input - target|` per element. The gradient is
 * `sign(input - target)`, 0 where they are equal (as torch.sign).
 *
 * Shape: input any, target like input -> scalar ('mean' over all elements, 'sum'), or like input ('none').
 *
 * @param input - predictions.
 * @param target - values to match, same shape and dtype (gets a gradient when it requires grad).
 * @param opts - reduction = 'mean' ('mean' | 'sum' | 'none').
 * @throws ArgumentError, ShapeError, DTypeError, ValueError as {@link bceWithLogits}; messages start `nn.l1Loss:`.
 * @example
 * ```ts
 * const loss = nn.l1Loss(pred, y, { reduction: 'sum' });
 * ```
 */
export function l1Loss(input: Tensor, target: Tensor, opts?: ElementwiseLossOptions): Tensor {
  const fn = 'nn.l1Loss';
  checkPair(fn, 'input', input, 'target', target);
  const reduction = resolveFullReduction(fn, checkOptions(fn, opts, ['reduction']).reduction);
  return elementwiseLoss('l1Loss', input, target, reduction, (x, y, i, da, db) => {
    const d = x - y;
    const s = d > 0 ? 1 : d < 0 ? -1 : 0;
    da[i] = s;
    db[i] = -s;
    return Math.abs(d);
  }, (x, t) => x.sub(t).abs());
}

/**
 * Huber loss, PyTorch's `huber_loss`: with d = input - target, `0.5 d^2` where |d| < delta and
 * `delta (|d| - 0.5 delta)` elsewhere. Its gradient is d clamped to [-delta, delta], so at
 * |d| = delta both pieces give the same value and gradient (±delta).
 *
 * Shape: input any, target like input -> scalar ('mean' over all elements, 'sum'), or like input ('none').
 *
 * @param input - predictions.
 * @param target - values to match, same shape and dtype.
 * @param opts - delta = 1 (finite, > 0); reduction = 'mean' ('mean' | 'sum' | 'none').
 * @throws ValueError when delta is not a finite number > 0; otherwise as {@link bceWithLogits};
 *   messages start `nn.huberLoss:`.
 * @example
 * ```ts
 * const loss = nn.huberLoss(pred, y, { delta: 0.5 });
 * ```
 */
export function huberLoss(input: Tensor, target: Tensor, opts?: HuberLossOptions): Tensor {
  const fn = 'nn.huberLoss';
  checkPair(fn, 'input', input, 'target', target);
  const o = checkOptions(fn, opts, ['reduction', 'delta']);
  const reduction = resolveFullReduction(fn, o.reduction);
  const delta = o.delta ?? 1;
  if (typeof delta !== 'number' || !Number.isFinite(delta) || delta <= 0) {
    throw new ValueError(`${fn}: opts.delta must be a finite number > 0, got ${describe(delta)}`);
  }
  return elementwiseLoss('huberLoss', input, target, reduction, (x, y, i, da, db) => {
    const d = x - y;
    const z = Math.abs(d);
    const gd = d < -delta ? -delta : d > delta ? delta : d;
    da[i] = gd;
    db[i] = -gd;
    return z < delta ? 0.5 * d * d : delta * (z - 0.5 * delta);
  }, (x, t) => {
    const d = x.sub(t);
    // Constant masks of the two pieces (as the forward chose them).
    const inner = constant(Array.from(d.data, (v) => (Math.abs(v) < delta ? 1 : 0)), d.shape, d);
    const outer = constant(Array.from(d.data, (v) => (Math.abs(v) < delta ? 0 : 1)), d.shape, d);
    return d.mul(d).mul(0.5).mul(inner).add(d.abs().sub(0.5 * delta).mul(delta).mul(outer));
  });
}

/**
 * Negative log-likelihood of integer labels under log-probabilities, PyTorch's `nll_loss`:
 * `-logProbs[i, labels[i]]` per row, so `nllLoss(x.logSoftmax(), y)` is the cross-entropy.
 * 'mean' divides by N (the number of rows).
 *
 * NOTE: PyTorch's `weight` and `ignore_index` are not supported: every label must be a class
 * index (PyTorch's default ignore_index -100 is refused as out of range).
 *
 * Shape: logProbs (N, C), labels (N) -> scalar ('mean', 'sum'), or (N) ('none').
 *
 * @param logProbs - log-probabilities (any real values are accepted, as in PyTorch).
 * @param labels - class indices in [0, C), as number[] or Int32Array.
 * @param opts - reduction = 'mean' ('mean' | 'sum' | 'none').
 * @throws ArgumentError when logProbs is not a Tensor or opts not an object; ShapeError when
 *   logProbs is not (N, C) with N, C >= 1 or labels' length is not N; ValueError on a
 *   non-integer or out-of-range label, an unknown option or reduction; messages start `nn.nllLoss:`.
 * @example
 * ```ts
 * const loss = nn.nllLoss(scores.logSoftmax(), [3, 1, 4]);
 * ```
 */
export function nllLoss(logProbs: Tensor, labels: Labels, opts?: ElementwiseLossOptions): Tensor {
  const fn = 'nn.nllLoss';
  assertTensor(fn, 'logProbs', logProbs);
  if (logProbs.shape.length !== 2 || logProbs.shape[0] === 0 || logProbs.shape[1] === 0) {
    throw new ShapeError(`${fn}: logProbs must have shape (N, C) with N, C >= 1, got ${formatShape(logProbs.shape)}`);
  }
  const [n, c] = logProbs.shape;
  const y = checkLabels(fn, 'labels', labels, n, c);
  const reduction = resolveFullReduction(fn, checkOptions(fn, opts, ['reduction']).reduction);
  const dt = dtypeOf(logProbs.data);
  const x = logProbs.data;
  let out: Tensor;
  if (reduction === 'none') {
    const od = allocate(dt, n);
    for (let i = 0; i < n; i++) od[i] = -x[i * c + y[i]];
    out = new Tensor(od, [n]);
  } else {
    let s = 0;
    for (let i = 0; i < n; i++) s -= x[i * c + y[i]];
    const od = allocate(dt, 1);
    od[0] = reduction === 'mean' ? s / n : s;
    out = new Tensor(od, []);
  }
  const res = record(out, 'nllLoss', [logProbs], (g) => {
    const dx = allocate(dt, n * c);
    const k = reduction === 'mean' ? g[0] / n : g[0];
    for (let i = 0; i < n; i++) dx[i * c + y[i]] = -(reduction === 'none' ? g[i] : k);
    return [dx];
  });
  if (res._node === null) return res;
  return withGraphRule(
    res,
    decomposed([logProbs], (lp) => {
      const picked = lp.mul(oneHot(y, c, lp)).sum(1).neg();
      return reduction === 'none' ? picked : reduction === 'mean' ? picked.sum().div(n) : picked.sum();
    }),
  );
}
