/**
 * The seed's layers on the tape: each op runs the kernel's forward and records the kernel's
 * backward, so the hand-written gradients are the ones training uses.
 *
 * @packageDocumentation
 */
import { record, withGraphRule, type GraphRule } from '../autograd/tape';
import { constant, decomposed } from './graph_rules';
import { affineDb, affineDw, affineForward, affineDx } from '../kernels/affine';
import { batchnormBackward, batchnormForward, type BatchnormCache, type BatchnormParam } from '../kernels/batchnorm';
import { reluBackward, reluForward } from '../kernels/relu';
import { layernormBackward, layernormForward } from '../kernels/layernorm';
import { allocateUninit, dtypeOf, recycle } from '../dtype';
import { ValueError } from '../errors';
import { randomUniform } from '../random';
import { describe } from '../shape';
import { bumpVersion, Tensor } from '../tensor';
import { assertTensor } from './util';

/**
 * Affine layer: reshape(x, [N, D]) @ w + b, on the seed's kernels.
 *
 * Shape: x (N, d1..dk), w (D, M), b (M) -> (N, M).
 *
 * @param x - input batch.
 * @param w - weights (in, out).
 * @param b - bias.
 * @throws ShapeError / DTypeError as {@link affineForward}.
 * @example
 * ```ts
 * const h = affine(x, w, b);
 * ```
 */
export function affine(x: Tensor, w: Tensor, b: Tensor): Tensor {
  assertTensor('affine', 'x', x);
  assertTensor('affine', 'w', w);
  assertTensor('affine', 'b', b);
  const { out, cache } = affineForward(x, w, b);
  // The tape hands the backward the gradient of this very output: the kernels' checks are done.
  const y = record(new Tensor(out.data, out.shape), 'affine', [x, w, b], (g) => [
    x.requiresGrad ? affineDx(g, cache) : null,
    w.requiresGrad ? affineDw(g, cache) : null,
    b.requiresGrad ? affineDb(g, cache) : null,
  ]);
  return withGraphRule(y, (g) => {
    const n = x.shape[0];
    const x2 = x.reshape([n, x.size / Math.max(n, 1)]);
    return [
      x.requiresGrad ? g.matmul(w.transpose()).reshape(x.shape) : null,
      w.requiresGrad ? x2.transpose().matmul(g) : null,
      b.requiresGrad ? g.sum(0) : null,
    ];
  });
}

/**
 * Rectified linear unit, max(x, 0), on the seed's kernels (gradient passes where x >= 0).
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @example
 * ```ts
 * relu(tensor([-1, 0, 2])); // [0, 0, 2]
 * ```
 */
export function relu(x: Tensor): Tensor {
  assertTensor('relu', 'x', x);
  const { out, cache } = reluForward(x);
  const y = record(new Tensor(out.data, out.shape), 'relu', [x], (g) => [
    reluBackward({ shape: out.shape, data: g }, cache).data,
  ]);
  // NOTE: the mask is a constant: ReLU's second derivative is 0 away from the kink.
  return withGraphRule(y, (g) => [g.mul(constant(x.data.map((v) => (v >= 0 ? 1 : 0)), x.shape, x))]);
}

/**
 * Batch normalization on the seed's kernels; `bnParam` (mode, eps, momentum, running
 * statistics) is updated in place exactly as the seed's `bn_param`, and in train mode the
 * running statistics' version goes up (see {@link bumpVersion}).
 *
 * Shape: x (N, D), gamma (D), beta (D) -> (N, D).
 *
 * @param x - input batch.
 * @param gamma - scale.
 * @param beta - shift.
 * @param bnParam - see {@link BatchnormParam}.
 * @throws ShapeError on shapes (or N < 2 in train mode), ValueError on a bad mode.
 * @example
 * ```ts
 * const y = batchnorm(x, gamma, beta, { mode: 'train', runningMean, runningVar });
 * ```
 */
export function batchnorm(x: Tensor, gamma: Tensor, beta: Tensor, bnParam: BatchnormParam): Tensor {
  assertTensor('batchnorm', 'x', x);
  assertTensor('batchnorm', 'gamma', gamma);
  assertTensor('batchnorm', 'beta', beta);
  const { out, cache } = batchnormForward(x, gamma, beta, bnParam);
  if (cache.mode === 'train') {
    // The running statistics were updated in place: a graph that read them must see that.
    bumpVersion(bnParam.runningMean!);
    bumpVersion(bnParam.runningVar!);
  }
  const y = record(
    new Tensor(out.data, out.shape),
    'batchnorm',
    [x, gamma, beta],
    (g) => {
      const { dx, dgamma, dbeta } = batchnormBackward({ shape: out.shape, data: g }, cache);
      return [dx.data, dgamma.data, dbeta.data];
    },
    // Only the backward reads these (cache.gamma is gamma's own data: never recycled).
    [cache.xMinusMean, cache.normalizedData, cache.ivar, cache.sqrtvar],
  );
  if (y._node === null) return y;
  return withGraphRule(y, batchnormGraphRule(x, gamma, beta, cache, bnParam.eps ?? 1e-5));
}

/**
 * Batch normalization followed by a ReLU, as one op on the tape: `relu(batchnorm(x, ...))`,
 * bit for bit, with one node instead of two and the normalized values (the ReLU's input) kept
 * only as the node's scratch. `nn.Sequential` runs a BatchNorm1d followed by a ReLU this way.
 *
 * Shape: x (N, D), gamma (D), beta (D) -> (N, D).
 *
 * @internal
 * @param x - input batch.
 * @param gamma - scale.
 * @param beta - shift.
 * @param bnParam - as {@link batchnorm}.
 * @throws as {@link batchnorm}.
 * @example
 * ```ts
 * const y = batchnormRelu(x, gamma, beta, { mode: 'train', runningMean, runningVar });
 * ```
 */
export function batchnormRelu(x: Tensor, gamma: Tensor, beta: Tensor, bnParam: BatchnormParam): Tensor {
  assertTensor('batchnorm', 'x', x);
  assertTensor('batchnorm', 'gamma', gamma);
  assertTensor('batchnorm', 'beta', beta);
  const { out: bn, cache } = batchnormForward(x, gamma, beta, bnParam);
  if (cache.mode === 'train') {
    bumpVersion(bnParam.runningMean!);
    bumpVersion(bnParam.runningVar!);
  }
  const { out, cache: reluCache } = reluForward(bn);
  const y = record(
    new Tensor(out.data, out.shape),
    'batchnorm+relu',
    [x, gamma, beta],
    (g) => {
      const dr = reluBackward({ shape: out.shape, data: g }, reluCache).data;
      const { dx, dgamma, dbeta } = batchnormBackward({ shape: out.shape, data: dr }, cache);
      recycle(dr); // made here, read by the line above only
      return [dx.data, dgamma.data, dbeta.data];
    },
    [cache.xMinusMean, cache.normalizedData, cache.ivar, cache.sqrtvar, bn.data],
  );
  if (y._node === null) {
    recycle(bn.data); // nothing records the ReLU's input: it is dead
    return y;
  }
  const bnRule = batchnormGraphRule(x, gamma, beta, cache, bnParam.eps ?? 1e-5);
  // The rule runs while the node lives, so its scratch (bn.data) is still valid here.
  return withGraphRule(y, (g) => bnRule(g.mul(constant(bn.data.map((v) => (v >= 0 ? 1 : 0)), bn.shape, x))));
}

/**
 * The differentiable backward rule of {@link batchnorm}: the gradients of x, gamma and beta
 * from the output's gradient, with Tensor ops, for `createGraph`.
 */
function batchnormGraphRule(x: Tensor, gamma: Tensor, beta: Tensor, cache: BatchnormCache, eps: number): GraphRule {
  return (g) => {
    // The rule runs while the node lives, so the cache is still valid here.
    let recompute: (x: Tensor, gamma: Tensor, beta: Tensor) => Tensor;
    if (cache.mode === 'train') {
      // Batch statistics are functions of x: differentiate through them (the double backward
      // of batch normalization in training mode).
      recompute = (xx, gm, bt) => {
        const xc = xx.sub(xx.mean(0, true));
        return xc.div(xc.mul(xc).mean(0, true).add(eps).sqrt()).mul(gm).add(bt);
      };
    } else {
      // Running statistics are constants: xhat = x * ivar + c, with ivar and c as the forward
      // pass computed them.
      const d = cache.d;
      const ivar = constant(cache.ivar, [d], x);
      const c = x.data.map((v, k) => cache.normalizedData[k] - v * cache.ivar[k % d]);
      const shift = constant(c, x.shape, x);
      recompute = (xx, gm, bt) => xx.mul(ivar).add(shift).mul(gm).add(bt);
    }
    return decomposed([x, gamma, beta], recompute)(g);
  };
}

/**
 * Layer normalization over the features of each row.
 *
 * Shape: x (N, D), gamma (D), beta (D) -> (N, D).
 *
 * @param x - input batch.
 * @param gamma - scale.
 * @param beta - shift.
 * @param eps - added to the variance. Default 1e-5.
 * @example
 * ```ts
 * const y = layernorm(x, gamma, beta);
 * ```
 */
export function layernorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  assertTensor('layernorm', 'x', x);
  assertTensor('layernorm', 'gamma', gamma);
  assertTensor('layernorm', 'beta', beta);
  const { out, cache } = layernormForward(x, gamma, beta, eps);
  const y = record(
    new Tensor(out.data, out.shape),
    'layernorm',
    [x, gamma, beta],
    (g) => {
      const { dx, dgamma, dbeta } = layernormBackward({ shape: out.shape, data: g }, cache);
      return [dx.data, dgamma.data, dbeta.data];
    },
    [cache.xhat, cache.ivar], // only the backward reads these
  );
  if (y._node === null) return y;
  return withGraphRule(
    y,
    decomposed([x, gamma, beta], (xx, gm, bt) => {
      const xc = xx.sub(xx.mean(1, true));
      return xc.div(xc.mul(xc).mean(1, true).add(eps).sqrt()).mul(gm).add(bt);
    }),
  );
}

/**
 * Inverted dropout: zeroes each element with probability p and scales the survivors by
 * 1 / (1 - p), so the expected value is unchanged. The mask comes from the seeded PRNG.
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @param p - drop probability in [0, 1).
 * @example
 * ```ts
 * const y = dropout(h, 0.5);
 * ```
 */
export function dropout(x: Tensor, p: number): Tensor {
  assertTensor('dropout', 'x', x);
  if (typeof p !== 'number' || !(p >= 0 && p < 1)) {
    throw new ValueError(`dropout: p must be a number in [0, 1), got ${describe(p)}`);
  }
  const xd = x.data;
  const scale = 1 / (1 - p);
  const mask = allocateUninit(x.dtype, xd.length);
  const od = allocateUninit(x.dtype, xd.length);
  for (let i = 0; i < xd.length; i++) {
    const keep = randomUniform() >= p ? scale : 0;
    mask[i] = keep;
    od[i] = xd[i] * keep;
  }
  const y = record(
    new Tensor(od, x.shape),
    'dropout',
    [x],
    (g) => {
      const r = allocateUninit(dtypeOf(g), g.length);
      for (let i = 0; i < g.length; i++) r[i] = g[i] * mask[i];
      return [r];
    },
    [mask],
  );
  if (y._node === null) return y;
  return withGraphRule(y, (g) => [g.mul(constant(mask, x.shape, x))]);
}
