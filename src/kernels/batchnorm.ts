/**
 * The seed's batch normalization: train mode normalizes with the batch's mean and biased
 * variance and updates running statistics; test mode uses the running statistics.
 *
 * @packageDocumentation
 */
import { allocate, allocateUninit, assertSameDType, dtypeOf, recycle, type FloatArray } from '../dtype';
import { ArgumentError, ShapeError, ValueError } from '../errors';
import { checkOptions } from '../options';
import { assertShape, describe, formatShape } from '../shape';
import { useSimd } from './backend';
import { simdBatchnormBackward, simdBatchnormTestForward, simdBatchnormTrainForward } from './simd';
import { assertNDArray, type NDArray, type OwnedArray } from './types';

/** BatchNorm's mode: batch statistics (`'train'`) or running statistics (`'test'`). */
export type BatchnormMode = 'train' | 'test';

/**
 * How train mode updates the running statistics:
 * - `'seed'`: `running = momentum * running + (1 - momentum) * batch`, batch variance biased.
 * - `'torch'` (PyTorch's rule): `running = (1 - momentum) * running + momentum * batch`, with
 *   the unbiased batch variance (times N / (N - 1)) in the running variance; the output is
 *   normalized with the biased one in both.
 */
export type BatchnormConvention = 'seed' | 'torch';

/**
 * The seed's `bn_param`, updated in place by {@link batchnormForward}.
 *
 * `runningMean` and `runningVar` start at zeros when absent (as in the seed); when present
 * they are typed arrays of length D and are overwritten in place, so a module's buffers
 * can be passed directly.
 */
export interface BatchnormParam {
  /** 'train' or 'test'; required. */
  mode: BatchnormMode;
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  /** Weight of the old running value ('seed') or of the batch statistic ('torch'). Default 0.9 ('seed'), 0.1 ('torch'). */
  momentum?: number;
  /** The running-statistics rule, see {@link BatchnormConvention}. Default 'seed'. */
  convention?: BatchnormConvention;
  /** Running mean, shape (D). Default zeros. */
  runningMean?: FloatArray;
  /** Running (biased) variance, shape (D). Default zeros. */
  runningVar?: FloatArray;
}

/** What {@link batchnormForward} keeps for the backward pass (the seed's cache, plus the mode). */
export interface BatchnormCache {
  /** Which formula made the output. */
  readonly mode: BatchnormMode;
  /** Rows N and features D. */
  readonly n: number;
  readonly d: number;
  /** x - mean, shape (N, D) (train) or x - runningMean (test). */
  readonly xMinusMean: FloatArray;
  /** (x - mean) / sqrt(var + eps), shape (N, D). */
  readonly normalizedData: FloatArray;
  /** gamma, shape (D). */
  readonly gamma: FloatArray;
  /** 1 / sqrt(var + eps), shape (D). */
  readonly ivar: FloatArray;
  /** sqrt(var + eps), shape (D). */
  readonly sqrtvar: FloatArray;
}

/**
 * Forward pass of batch normalization, the seed's formulas exactly.
 *
 * train: mean and biased variance over the batch, out = gamma * (x - mean) / sqrt(var + eps)
 * + beta, running statistics updated in `bnParam`. test: out = gamma / sqrt(rv + eps) * x +
 * (beta - gamma * rm / sqrt(rv + eps)).
 *
 * NOTE: the variance is biased (divides by N), as numpy's `np.var` does; train mode needs
 * N >= 2, since one row has zero variance and normalizes to exactly beta (PyTorch rejects it too).
 *
 * float32: every per-element operation (over the N x D values) is a float32 operation, each
 * +, -, *, / rounded to float32, in the order the formulas are written (numpy / PyTorch float32
 * arithmetic; sums over rows accumulate in row order into float32). Per-feature quantities
 * (mean / N, variance / N, sqrt(var + eps), 1 / sqrtvar, test mode's scale and shift, the running
 * statistics) are computed in float64 from the float32 values and rounded to float32 once.
 * The SIMD and TypeScript paths give the same bits.
 *
 * Shape: x (N, D), gamma (D), beta (D) -> out (N, D).
 *
 * @param x - input batch.
 * @param gamma - scale.
 * @param beta - shift.
 * @param bnParam - mode, eps (1e-5), momentum (0.9; 0.1 in the 'torch' convention), convention
 *   ('seed'), runningMean/runningVar (zeros); updated in place.
 * @throws ShapeError / DTypeError on shapes and dtypes; ArgumentError when bnParam is not an
 *   object; ValueError on a bad mode, eps or momentum, or a key bnParam does not have.
 * @example
 * ```ts
 * const bnParam: BatchnormParam = { mode: 'train' };
 * const { out, cache } = batchnormForward(x, gamma, beta, bnParam); // bnParam.runningMean is set
 * ```
 */
export function batchnormForward(
  x: NDArray,
  gamma: NDArray,
  beta: NDArray,
  bnParam: BatchnormParam,
): { out: OwnedArray; cache: BatchnormCache } {
  const fn = 'batchnormForward';
  assertNDArray(fn, 'x', x);
  assertNDArray(fn, 'gamma', gamma);
  assertNDArray(fn, 'beta', beta);
  if (x.shape.length !== 2) {
    throw new ShapeError(`${fn}: x must be 2-D (N, D), got ${x.shape.length}-D shape ${formatShape(x.shape)}`);
  }
  const [n, d] = x.shape;
  assertShape(fn, 'gamma', gamma.shape, [d], () => `(D = ${d} from x ${formatShape(x.shape)})`);
  assertShape(fn, 'beta', beta.shape, [d], () => `(D = ${d} from x ${formatShape(x.shape)})`);
  assertSameDType(fn, 'x', x.data, 'gamma', gamma.data);
  assertSameDType(fn, 'x', x.data, 'beta', beta.data);
  const bn = checkBnParam(fn, bnParam, x.data, d);
  const { mode, eps, momentum } = bn;
  const dt = dtypeOf(x.data);
  const runningMean = bn.runningMean ?? allocate(dt, d);
  const runningVar = bn.runningVar ?? allocate(dt, d);
  const xs = x.data;
  const g = gamma.data;
  const bt = beta.data;
  // Every path below writes each element of these five.
  const out = allocateUninit(dt, n * d);
  const xMinusMean = allocateUninit(dt, n * d);
  const normalizedData = allocateUninit(dt, n * d);
  const ivar = allocateUninit(dt, d);
  const sqrtvar = allocateUninit(dt, d);

  if (mode === 'train') {
    if (n < 2) {
      throw new ShapeError(
        `${fn}: x must have at least 2 rows in 'train' mode (batch statistics of fewer are degenerate), got ${n} row${n === 1 ? '' : 's'}, x ${formatShape(x.shape)}`,
      );
    }
    // The 'torch' convention runs the kernel with momentum 0 on scratch arrays, which then hold
    // the batch mean and biased variance exactly (0 * 0 + 1 * v), and applies PyTorch's rule here;
    // the seed's path is the kernel as it always was.
    const torch = bn.convention === 'torch';
    const rm = torch ? allocate(dt, d) : runningMean;
    const rv = torch ? allocate(dt, d) : runningVar;
    const m = torch ? 0 : momentum;
    if (useSimd(n * d)) {
      simdBatchnormTrainForward(xs, g, bt, n, d, eps, m, rm, rv, out, xMinusMean, normalizedData, ivar, sqrtvar);
    } else if (xs instanceof Float32Array) {
      trainForwardLoopsF32(xs, g, bt, n, d, eps, m, rm, rv, out, xMinusMean, normalizedData, ivar, sqrtvar);
    } else {
      trainForwardLoops(xs, g, bt, n, d, eps, m, rm, rv, out, xMinusMean, normalizedData, ivar, sqrtvar);
    }
    if (torch) {
      const unbias = n / (n - 1);
      for (let j = 0; j < d; j++) {
        runningMean[j] = momentum * rm[j] + (1 - momentum) * runningMean[j];
        runningVar[j] = momentum * (rv[j] * unbias) + (1 - momentum) * runningVar[j];
      }
      recycle(rm);
      recycle(rv);
    }
  } else if (useSimd(n * d)) {
    simdBatchnormTestForward(xs, g, bt, n, d, eps, runningMean, runningVar, out, xMinusMean, normalizedData, ivar, sqrtvar);
  } else if (xs instanceof Float32Array) {
    testForwardLoopsF32(xs, g, bt, n, d, eps, runningMean, runningVar, out, xMinusMean, normalizedData, ivar, sqrtvar);
  } else {
    testForwardLoops(xs, g, bt, n, d, eps, runningMean, runningVar, out, xMinusMean, normalizedData, ivar, sqrtvar);
  }
  bnParam.runningMean = runningMean;
  bnParam.runningVar = runningVar;
  return {
    out: { shape: [n, d], data: out },
    cache: { mode, n, d, xMinusMean, normalizedData, gamma: g, ivar, sqrtvar },
  };
}

/** The train-mode forward in TypeScript: the reference the SIMD kernel matches bit for bit. */
function trainForwardLoops(
  xs: FloatArray, g: FloatArray, bt: FloatArray, n: number, d: number, eps: number, momentum: number,
  runningMean: FloatArray, runningVar: FloatArray,
  out: FloatArray, xMinusMean: FloatArray, normalizedData: FloatArray, ivar: FloatArray, sqrtvar: FloatArray,
): void {
  const dt = dtypeOf(xs);
  const mean = allocate(dt, d);
  const variance = allocate(dt, d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += xs[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const c = xs[i * d + j] - mean[j];
      xMinusMean[i * d + j] = c;
      variance[j] += c * c;
    }
  }
  for (let j = 0; j < d; j++) {
    variance[j] /= n;
    sqrtvar[j] = Math.sqrt(variance[j] + eps);
    ivar[j] = 1 / sqrtvar[j];
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0, k = i * d; j < d; j++, k++) {
      const xhat = xMinusMean[k] / sqrtvar[j];
      normalizedData[k] = xhat;
      out[k] = g[j] * xhat + bt[j];
    }
  }
  for (let j = 0; j < d; j++) {
    runningMean[j] = momentum * runningMean[j] + (1 - momentum) * mean[j];
    runningVar[j] = momentum * runningVar[j] + (1 - momentum) * variance[j];
  }
  recycle(mean);
  recycle(variance);
}

/**
 * {@link trainForwardLoops} for float32 data: every per-element operation is a float32 operation
 * (`Math.fround` after each one, or the rounding of a Float32Array store), in the same order.
 * Per-feature steps are as in trainForwardLoops (float64 arithmetic on the stored float32
 * values, rounded when stored). The SIMD kernel matches this bit for bit with f32x4.
 */
function trainForwardLoopsF32(
  xs: FloatArray, g: FloatArray, bt: FloatArray, n: number, d: number, eps: number, momentum: number,
  runningMean: FloatArray, runningVar: FloatArray,
  out: FloatArray, xMinusMean: FloatArray, normalizedData: FloatArray, ivar: FloatArray, sqrtvar: FloatArray,
): void {
  const fr = Math.fround;
  const mean = allocate('float32', d);
  const variance = allocate('float32', d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += xs[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  for (let i = 0; i < n; i++) {
    for (let j = 0, k = i * d; j < d; j++, k++) {
      const c = fr(xs[k] - mean[j]);
      xMinusMean[k] = c;
      variance[j] += fr(c * c);
    }
  }
  for (let j = 0; j < d; j++) {
    variance[j] /= n;
    sqrtvar[j] = Math.sqrt(variance[j] + eps);
    ivar[j] = 1 / sqrtvar[j];
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0, k = i * d; j < d; j++, k++) {
      const xhat = fr(xMinusMean[k] / sqrtvar[j]);
      normalizedData[k] = xhat;
      out[k] = fr(g[j] * xhat) + bt[j];
    }
  }
  for (let j = 0; j < d; j++) {
    runningMean[j] = momentum * runningMean[j] + (1 - momentum) * mean[j];
    runningVar[j] = momentum * runningVar[j] + (1 - momentum) * variance[j];
  }
  recycle(mean);
  recycle(variance);
}

/** The test-mode forward in TypeScript: the seed's formula with the running statistics. */
function testForwardLoops(
  xs: FloatArray, g: FloatArray, bt: FloatArray, n: number, d: number, eps: number,
  runningMean: FloatArray, runningVar: FloatArray,
  out: FloatArray, xMinusMean: FloatArray, normalizedData: FloatArray, ivar: FloatArray, sqrtvar: FloatArray,
): void {
  const dt = dtypeOf(xs);
  const scale = allocate(dt, d);
  const shift = allocate(dt, d);
  for (let j = 0; j < d; j++) {
    sqrtvar[j] = Math.sqrt(runningVar[j] + eps);
    ivar[j] = 1 / sqrtvar[j];
    scale[j] = g[j] / sqrtvar[j];
    shift[j] = bt[j] - (g[j] * runningMean[j]) / sqrtvar[j];
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0, k = i * d; j < d; j++, k++) {
      out[k] = scale[j] * xs[k] + shift[j];
      const c = xs[k] - runningMean[j];
      xMinusMean[k] = c;
      normalizedData[k] = c / sqrtvar[j];
    }
  }
  recycle(scale);
  recycle(shift);
}

/**
 * {@link testForwardLoops} for float32 data: per-element operations in float32 (see
 * {@link trainForwardLoopsF32}); scale and shift per feature as in testForwardLoops.
 */
function testForwardLoopsF32(
  xs: FloatArray, g: FloatArray, bt: FloatArray, n: number, d: number, eps: number,
  runningMean: FloatArray, runningVar: FloatArray,
  out: FloatArray, xMinusMean: FloatArray, normalizedData: FloatArray, ivar: FloatArray, sqrtvar: FloatArray,
): void {
  const fr = Math.fround;
  const scale = allocate('float32', d);
  const shift = allocate('float32', d);
  for (let j = 0; j < d; j++) {
    sqrtvar[j] = Math.sqrt(runningVar[j] + eps);
    ivar[j] = 1 / sqrtvar[j];
    scale[j] = g[j] / sqrtvar[j];
    shift[j] = bt[j] - (g[j] * runningMean[j]) / sqrtvar[j];
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0, k = i * d; j < d; j++, k++) {
      out[k] = fr(scale[j] * xs[k]) + shift[j];
      const c = fr(xs[k] - runningMean[j]);
      xMinusMean[k] = c;
      normalizedData[k] = c / sqrtvar[j];
    }
  }
  recycle(scale);
  recycle(shift);
}

/**
 * Backward pass of batch normalization, the seed's step-by-step graph (steps 1-10).
 * In test mode the statistics are constants, so dx = dout * gamma / sqrt(rv + eps).
 * float32 as in {@link batchnormForward}: per-element operations in float32; the per-feature
 * dvar, (1 / N) * dvar * 2 and dmu computed in float64 and rounded to float32 once.
 *
 * Shape: dout (N, D) -> dx (N, D), dgamma (D), dbeta (D).
 *
 * @param dout - upstream gradient.
 * @param cache - from {@link batchnormForward}.
 * @example
 * ```ts
 * const { dx, dgamma, dbeta } = batchnormBackward(dout, cache);
 * ```
 */
export function batchnormBackward(
  dout: NDArray,
  cache: BatchnormCache,
): { dx: OwnedArray; dgamma: OwnedArray; dbeta: OwnedArray } {
  const fn = 'batchnormBackward';
  checkCache(fn, cache);
  const { n, d, normalizedData, gamma, ivar, xMinusMean, sqrtvar } = cache;
  assertNDArray(fn, 'dout', dout);
  assertShape(fn, 'dout', dout.shape, [n, d], 'like the forward output');
  assertSameDType(fn, 'x', xMinusMean, 'dout', dout.data);
  const dt = dtypeOf(dout.data);
  const g = dout.data;
  const dx = allocateUninit(dt, n * d); // every path assigns each element
  if (useSimd(n * d)) {
    const dgamma = allocateUninit(dt, d); // stored whole by the kernel
    const dbeta = allocateUninit(dt, d);
    simdBatchnormBackward(cache.mode, g, n, d, xMinusMean, normalizedData, gamma, ivar, sqrtvar, dx, dgamma, dbeta);
    return pack(n, d, dx, dgamma, dbeta);
  }
  if (dt === 'float32') return backwardLoopsF32(cache, g, dx);
  if (cache.mode === 'test') {
    const { dgamma, dbeta } = paramGrads(dt, g, normalizedData, n, d);
    for (let i = 0; i < n; i++) for (let j = 0, k = i * d; j < d; j++, k++) dx[k] = g[k] * gamma[j] * ivar[j];
    return pack(n, d, dx, dgamma, dbeta);
  }
  // One pass for dbeta = sum(dout), dgamma = sum(dout * xhat) and step 3:
  // divar = sum(dxhat * x_minus_mean) with dxhat = dout * gamma (step 1).
  const dgamma = allocate(dt, d);
  const dbeta = allocate(dt, d);
  const divar = allocate(dt, d);
  for (let i = 0; i < n; i++) {
    for (let j = 0, k = i * d; j < d; j++, k++) {
      const gk = g[k];
      dbeta[j] += gk;
      dgamma[j] += gk * normalizedData[k];
      divar[j] += gk * gamma[j] * xMinusMean[k];
    }
  }
  // Steps 4-5: dvar = divar * (-1 / sqrtvar^2) * 0.5 * (1 / sqrtvar).
  const dvar = allocate(dt, d);
  for (let j = 0; j < d; j++) dvar[j] = divar[j] * (-1 / (sqrtvar[j] * sqrtvar[j])) * 0.5 * (1 / sqrtvar[j]);
  // Steps 2, 6-8: dx1 = dxhat * ivar + (1/N) * dvar * 2 * x_minus_mean; dmu = -sum(dx1).
  const dmu = allocate(dt, d);
  for (let i = 0; i < n; i++) {
    for (let j = 0, k = i * d; j < d; j++, k++) {
      const dx1 = g[k] * gamma[j] * ivar[j] + (1 / n) * dvar[j] * 2 * xMinusMean[k];
      dx[k] = dx1;
      dmu[j] += dx1;
    }
  }
  // Steps 9-10: dx = dx1 + (1/N) * dmu.
  for (let j = 0; j < d; j++) dmu[j] = (1 / n) * -dmu[j];
  for (let i = 0; i < n; i++) for (let j = 0, k = i * d; j < d; j++, k++) dx[k] = dmu[j] + dx[k];
  recycle(divar);
  recycle(dvar);
  recycle(dmu);
  return pack(n, d, dx, dgamma, dbeta);
}

/**
 * The float32 {@link batchnormBackward} in TypeScript: the same steps, every per-element operation
 * a float32 operation (`Math.fround` after each one, or a Float32Array store), per-feature steps
 * in float64 rounded when stored (dvar, t = (1 / N) * dvar * 2, dmu). The reference the SIMD
 * kernel matches bit for bit.
 */
function backwardLoopsF32(cache: BatchnormCache, g: FloatArray, dx: FloatArray) {
  const fr = Math.fround;
  const { n, d, normalizedData: xn, gamma, ivar, xMinusMean: xmm, sqrtvar } = cache;
  const dgamma = allocate('float32', d);
  const dbeta = allocate('float32', d);
  if (cache.mode === 'test') {
    for (let i = 0; i < n; i++) {
      for (let j = 0, k = i * d; j < d; j++, k++) {
        const gk = g[k];
        dbeta[j] += gk;
        dgamma[j] += fr(gk * xn[k]);
        dx[k] = fr(gk * gamma[j]) * ivar[j];
      }
    }
    return pack(n, d, dx, dgamma, dbeta);
  }
  const divar = allocate('float32', d);
  for (let i = 0; i < n; i++) {
    for (let j = 0, k = i * d; j < d; j++, k++) {
      const gk = g[k];
      dbeta[j] += gk;
      dgamma[j] += fr(gk * xn[k]);
      divar[j] += fr(fr(gk * gamma[j]) * xmm[k]);
    }
  }
  const t = allocate('float32', d);
  for (let j = 0; j < d; j++) {
    const dvar = fr(divar[j] * (-1 / (sqrtvar[j] * sqrtvar[j])) * 0.5 * (1 / sqrtvar[j]));
    t[j] = (1 / n) * dvar * 2;
  }
  const dmu = allocate('float32', d);
  for (let i = 0; i < n; i++) {
    for (let j = 0, k = i * d; j < d; j++, k++) {
      const dx1 = fr(fr(fr(g[k] * gamma[j]) * ivar[j]) + fr(t[j] * xmm[k]));
      dx[k] = dx1;
      dmu[j] += dx1;
    }
  }
  for (let j = 0; j < d; j++) dmu[j] = (1 / n) * -dmu[j];
  for (let i = 0; i < n; i++) for (let j = 0, k = i * d; j < d; j++, k++) dx[k] = dmu[j] + dx[k];
  recycle(divar);
  recycle(t);
  recycle(dmu);
  return pack(n, d, dx, dgamma, dbeta);
}

/**
 * Backward pass of batch normalization in one closed form, the same result as
 * {@link batchnormBackward} with fewer passes:
 * dx = (gamma * ivar / N) * (N * dout - sum(dout) - xhat * sum(dout * xhat)).
 *
 * Shape: dout (N, D) -> dx (N, D), dgamma (D), dbeta (D).
 *
 * @param dout - upstream gradient.
 * @param cache - from {@link batchnormForward}.
 * @example
 * ```ts
 * const { dx } = batchnormBackwardAlt(dout, cache);
 * ```
 */
export function batchnormBackwardAlt(
  dout: NDArray,
  cache: BatchnormCache,
): { dx: OwnedArray; dgamma: OwnedArray; dbeta: OwnedArray } {
  const fn = 'batchnormBackwardAlt';
  checkCache(fn, cache);
  const { n, d, normalizedData: xhat, gamma, ivar } = cache;
  assertNDArray(fn, 'dout', dout);
  assertShape(fn, 'dout', dout.shape, [n, d], 'like the forward output');
  assertSameDType(fn, 'x', xhat, 'dout', dout.data);
  const dt = dtypeOf(dout.data);
  const g = dout.data;
  const { dgamma, dbeta } = paramGrads(dt, g, xhat, n, d);
  const dx = allocate(dt, n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0, k = i * d; j < d; j++, k++) {
      dx[k] =
        cache.mode === 'test'
          ? g[k] * gamma[j] * ivar[j]
          : ((gamma[j] * ivar[j]) / n) * (n * g[k] - dbeta[j] - xhat[k] * dgamma[j]);
    }
  }
  return pack(n, d, dx, dgamma, dbeta);
}

/** Checks that `cache` is what batchnormForward returned (its arrays present and sized n * d). */
function checkCache(fn: string, cache: unknown): void {
  const c = cache as Partial<BatchnormCache> | null;
  const ok =
    typeof c === 'object' && c !== null && (c.mode === 'train' || c.mode === 'test') &&
    Number.isSafeInteger(c.n) && Number.isSafeInteger(c.d) &&
    [c.xMinusMean, c.normalizedData].every((a) => (a instanceof Float64Array || a instanceof Float32Array) && a.length === c.n! * c.d!) &&
    [c.gamma, c.ivar, c.sqrtvar].every((a) => (a instanceof Float64Array || a instanceof Float32Array) && a.length === c.d);
  if (!ok) throw new ArgumentError(`${fn}: cache must be the cache batchnormForward returned, got ${describe(cache)}`);
}

/** dbeta = sum(dout), dgamma = sum(dout * xhat), over rows. */
function paramGrads(dt: 'float32' | 'float64', g: FloatArray, xhat: FloatArray, n: number, d: number) {
  const dgamma = allocate(dt, d);
  const dbeta = allocate(dt, d);
  for (let i = 0; i < n; i++) {
    for (let j = 0, k = i * d; j < d; j++, k++) {
      dbeta[j] += g[k];
      dgamma[j] += g[k] * xhat[k];
    }
  }
  return { dgamma, dbeta };
}

function pack(n: number, d: number, dx: FloatArray, dgamma: FloatArray, dbeta: FloatArray) {
  return { dx: { shape: [n, d], data: dx }, dgamma: { shape: [d], data: dgamma }, dbeta: { shape: [d], data: dbeta } };
}

function checkBnParam(
  fn: string,
  bnParam: unknown,
  x: FloatArray,
  d: number,
): { mode: BatchnormMode; eps: number; momentum: number; convention: BatchnormConvention; runningMean?: FloatArray; runningVar?: FloatArray } {
  if (bnParam === null || typeof bnParam !== 'object' || Array.isArray(bnParam) || ArrayBuffer.isView(bnParam)) {
    throw new ArgumentError(`${fn}: bnParam must be an object { mode: 'train' | 'test', ... }, got ${describe(bnParam)}`);
  }
  // Own keys only, and no unknown ones: `{ momentun: 0.1 }` is an error, not momentum 0.9.
  const p = checkOptions(fn, bnParam, ['mode', 'eps', 'momentum', 'convention', 'runningMean', 'runningVar'], 'bnParam');
  if (p.mode !== 'train' && p.mode !== 'test') {
    throw new ValueError(`${fn}: bnParam.mode must be 'train' or 'test', got ${describe(p.mode)}`);
  }
  const convention = p.convention ?? 'seed';
  if (convention !== 'seed' && convention !== 'torch') {
    throw new ValueError(`${fn}: bnParam.convention must be 'seed' or 'torch', got ${describe(convention)}`);
  }
  const eps = p.eps ?? 1e-5;
  const momentum = p.momentum ?? (convention === 'torch' ? 0.1 : 0.9);
  if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) {
    throw new ValueError(`${fn}: bnParam.eps must be a finite number >= 0, got ${describe(eps)}`);
  }
  if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) {
    throw new ValueError(`${fn}: bnParam.momentum must be a number in [0, 1], got ${describe(momentum)}`);
  }
  const running: { runningMean?: FloatArray; runningVar?: FloatArray } = {};
  for (const key of ['runningMean', 'runningVar'] as const) {
    const r = p[key];
    if (r === undefined) continue;
    if (!(r instanceof Float64Array) && !(r instanceof Float32Array)) {
      throw new ValueError(`${fn}: bnParam.${key} must be a Float64Array or Float32Array, got ${describe(r)}`);
    }
    assertShape(fn, `bnParam.${key}`, [r.length], [d], '(one value per feature)');
    assertSameDType(fn, 'x', x, `bnParam.${key}`, r);
    running[key] = r;
  }
  return { mode: p.mode, eps, momentum, convention, ...running };
}
