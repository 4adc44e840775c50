/**
 * Layer normalization: each row normalized by its own mean and biased variance, then scaled
 * and shifted per feature. The same statistics in train and eval, so no running state.
 *
 * @packageDocumentation
 */
import { allocate, assertSameDType, dtypeOf, type FloatArray } from '../dtype';
import { ArgumentError, ShapeError, ValueError } from '../errors';
import { assertShape, describe, formatShape } from '../shape';
import { assertNDArray, type NDArray, type OwnedArray } from './types';

/** What {@link layernormForward} keeps for the backward pass. */
export interface LayernormCache {
  readonly n: number;
  readonly d: number;
  /** Normalized rows, shape (N, D). */
  readonly xhat: FloatArray;
  /** 1 / sqrt(var + eps) per row, shape (N). */
  readonly ivar: FloatArray;
  /** gamma, shape (D). */
  readonly gamma: FloatArray;
}

/**
 * Forward pass of layer normalization: out = gamma * (x - mean_row) / sqrt(var_row + eps) + beta.
 *
 * Shape: x (N, D), gamma (D), beta (D) -> out (N, D).
 *
 * @param x - input batch.
 * @param gamma - scale.
 * @param beta - shift.
 * @param eps - added to the variance. Default 1e-5.
 * @example
 * ```ts
 * const { out, cache } = layernormForward(x, gamma, beta);
 * ```
 */
export function layernormForward(
  x: NDArray,
  gamma: NDArray,
  beta: NDArray,
  eps = 1e-5,
): { out: OwnedArray; cache: LayernormCache } {
  const fn = 'layernormForward';
  assertNDArray(fn, 'x', x);
  assertNDArray(fn, 'gamma', gamma);
  assertNDArray(fn, 'beta', beta);
  if (x.shape.length !== 2) throw new ShapeError(`${fn}: x must be 2-D (N, D), got ${x.shape.length}-D shape ${formatShape(x.shape)}`);
  const [n, d] = x.shape;
  assertShape(fn, 'gamma', gamma.shape, [d], () => `(D = ${d} from x ${formatShape(x.shape)})`);
  assertShape(fn, 'beta', beta.shape, [d], () => `(D = ${d} from x ${formatShape(x.shape)})`);
  assertSameDType(fn, 'x', x.data, 'gamma', gamma.data);
  assertSameDType(fn, 'x', x.data, 'beta', beta.data);
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) {
    throw new ValueError(`${fn}: eps must be a finite number >= 0, got ${describe(eps)}`);
  }
  const dt = dtypeOf(x.data);
  const xs = x.data;
  const out = allocate(dt, n * d);
  const xhat = allocate(dt, n * d);
  const ivar = allocate(dt, n);
  for (let i = 0; i < n; i++) {
    const r = i * d;
    let mean = 0;
    for (let j = 0; j < d; j++) mean += xs[r + j];
    mean /= d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (xs[r + j] - mean) * (xs[r + j] - mean);
    const iv = 1 / Math.sqrt(v / d + eps);
    ivar[i] = iv;
    for (let j = 0; j < d; j++) {
      const h = (xs[r + j] - mean) * iv;
      xhat[r + j] = h;
      out[r + j] = gamma.data[j] * h + beta.data[j];
    }
  }
  return { out: { shape: [n, d], data: out }, cache: { n, d, xhat, ivar, gamma: gamma.data } };
}

/**
 * Backward pass of layer normalization (the closed form, per row):
 * dx = ivar / D * (D * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)), dxhat = dout * gamma.
 *
 * Shape: dout (N, D) -> dx (N, D), dgamma (D), dbeta (D).
 *
 * @param dout - upstream gradient.
 * @param cache - from {@link layernormForward}.
 * @example
 * ```ts
 * const { dx, dgamma, dbeta } = layernormBackward(dout, cache);
 * ```
 */
export function layernormBackward(
  dout: NDArray,
  cache: LayernormCache,
): { dx: OwnedArray; dgamma: OwnedArray; dbeta: OwnedArray } {
  const fn = 'layernormBackward';
  const c = cache as Partial<LayernormCache> | null;
  const ok =
    typeof c === 'object' && c !== null && Number.isSafeInteger(c.n) && Number.isSafeInteger(c.d) &&
    (c.xhat instanceof Float64Array || c.xhat instanceof Float32Array) && c.xhat.length === c.n! * c.d! &&
    (c.ivar instanceof Float64Array || c.ivar instanceof Float32Array) && c.ivar.length === c.n &&
    (c.gamma instanceof Float64Array || c.gamma instanceof Float32Array) && c.gamma.length === c.d;
  if (!ok) throw new ArgumentError(`${fn}: cache must be the cache layernormForward returned, got ${describe(cache)}`);
  const { n, d, xhat, ivar, gamma } = cache;
  assertNDArray(fn, 'dout', dout);
  assertShape(fn, 'dout', dout.shape, [n, d], 'like the forward output');
  assertSameDType(fn, 'x', xhat, 'dout', dout.data);
  const dt = dtypeOf(dout.data);
  const g = dout.data;
  const dx = allocate(dt, n * d);
  const dgamma = allocate(dt, d);
  const dbeta = allocate(dt, d);
  for (let i = 0; i < n; i++) {
    const r = i * d;
    let sum = 0;
    let dot = 0;
    for (let j = 0; j < d; j++) {
      const dh = g[r + j] * gamma[j];
      sum += dh;
      dot += dh * xhat[r + j];
      dgamma[j] += g[r + j] * xhat[r + j];
      dbeta[j] += g[r + j];
    }
    for (let j = 0; j < d; j++) dx[r + j] = (ivar[i] / d) * (d * g[r + j] * gamma[j] - sum - xhat[r + j] * dot);
  }
  return { dx: { shape: [n, d], data: dx }, dgamma: { shape: [d], data: dgamma }, dbeta: { shape: [d], data: dbeta } };
}
