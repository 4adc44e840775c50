/**
 * WebAssembly SIMD versions of the training step's elementwise and reduction loops: BatchNorm
 * forward (train and test mode) and backward, ReLU forward and backward, the tape's gradient
 * accumulation, and the SGD, Adam and RMSProp updates, for float32 and float64. Built from `asm/elementwise.ts` by `scripts/build-wasm.js` into
 * `build/elementwise.wasm` at the package root.
 *
 * Results are BIT-IDENTICAL to the TypeScript kernels in `../batchnorm.ts` and `../relu.ts`
 * and to the loops in `../../autograd/tape.ts` and `../../optim/{sgd,adam,rmsprop}.ts`, which stay the
 * readable reference and the fallback: the module vectorizes across features, so every
 * per-feature sum runs over rows in the same order, and evaluates each expression with the
 * same operations in the same order; BatchNorm's float32 per-element operations are float32
 * operations (f32x4), other float32 data is computed in f64 and rounded where the TS code stores
 * into a Float32Array (see the header of asm/elementwise.ts).
 *
 * The module runs on the kernels' one memory (src/kernels/wasm/runtime.ts): operands that
 * live there (the library's tensors, where shared memory exists) are used in place; others are
 * copied into temporary regions and, if written, back. Calls allocate no JS memory.
 *
 * These functions do no shape inference: the TS kernels validate their arguments and then call
 * in here with plain typed arrays. Lengths and dtypes are still checked, since a short array
 * would otherwise silently read stale memory.
 *
 * @packageDocumentation
 */


import type { FloatArray } from '../../dtype';
import { ValueError } from '../../errors';
import {
  checkArray as check, checkDim, frame, isF64, isHeapBuffer, runtime, type ElementwiseExports, type Frame, type MapFn,
} from '../wasm/runtime';

export type { FloatArray };

type Exports = ElementwiseExports;

/**
 * Whether the SIMD kernels can run here: build/elementwise.wasm was found and the engine
 * supports SIMD128. Never throws; the first call loads the module.
 *
 * @returns true if the `simd*` functions of this module are usable.
 * @example
 * ```ts
 * if (simdAvailable()) simdReluForward(x, out);
 * ```
 */
export function simdAvailable(): boolean {
  return runtime()?.ew != null;
}

/** The elementwise module, or an error naming what the user called. */
function kernels(fn: string): Exports {
  const w = runtime()?.ew;
  if (w == null) throw new Error(`${fn}: the WebAssembly SIMD kernels are unavailable (build/elementwise.wasm missing or no SIMD)`);
  return w;
}

/** Runs `call` if every temporary region could be had, then copies back and frees. */
function finish(fn: string, f: Frame, call: () => void): void {
  if (!f.ok) {
    f.end(false);
    throw new ValueError(`${fn}: the WebAssembly memory cannot grow to hold the operands (the engine refused)`);
  }
  call();
  f.end();
}

/**
 * BatchNorm forward in train mode, the exact computation of `batchnormForward` in
 * src/kernels/batchnorm.ts for `mode: 'train'`: batch mean and biased variance per feature,
 * out = gamma * (x - mean) / sqrt(var + eps) + beta, running statistics updated in place.
 * Does not check N >= 2 (the TS kernel does before calling).
 *
 * Shape: x (N, D), gamma / beta / runningMean / runningVar (D) -> out, xMinusMean,
 * normalizedData (N, D), ivar, sqrtvar (D). All arrays of one dtype.
 *
 * @param x - input batch, row-major (N, D).
 * @param gamma - scale.
 * @param beta - shift.
 * @param n - rows N.
 * @param d - features D.
 * @param eps - added to the variance before the square root.
 * @param momentum - running = momentum * running + (1 - momentum) * batch statistic.
 * @param runningMean - read and overwritten.
 * @param runningVar - read and overwritten.
 * @param out - receives the output.
 * @param xMinusMean - receives x - mean (cache).
 * @param normalizedData - receives (x - mean) / sqrtvar (cache).
 * @param ivar - receives 1 / sqrtvar.
 * @param sqrtvar - receives sqrt(var + eps).
 * @throws Error if {@link simdAvailable} is false; DTypeError on mixed dtypes; ShapeError if an
 *   array is too short; ValueError if n or d is not a non-negative integer.
 * @example
 * ```ts
 * simdBatchnormTrainForward(xs, g, bt, n, d, eps, momentum, runningMean, runningVar, out, xMinusMean, normalizedData, ivar, sqrtvar);
 * ```
 */
export function simdBatchnormTrainForward<T extends FloatArray>(
  x: T, gamma: T, beta: T, n: number, d: number, eps: number, momentum: number, runningMean: T, runningVar: T,
  out: T, xMinusMean: T, normalizedData: T, ivar: T, sqrtvar: T,
): void {
  bnForward('simdBatchnormTrainForward', true, x, gamma, beta, n, d, eps, momentum, runningMean, runningVar, out,
    xMinusMean, normalizedData, ivar, sqrtvar);
}

/**
 * BatchNorm forward in test mode, the exact computation of `batchnormForward` for
 * `mode: 'test'`: out = gamma / sqrt(rv + eps) * x + (beta - gamma * rm / sqrt(rv + eps)), with
 * the same cache as train mode (x - runningMean, its normalization, ivar, sqrtvar). The running
 * statistics are only read.
 *
 * Shape: as {@link simdBatchnormTrainForward}.
 *
 * @param x - input batch, row-major (N, D).
 * @param gamma - scale.
 * @param beta - shift.
 * @param n - rows N.
 * @param d - features D.
 * @param eps - added to the running variance before the square root.
 * @param runningMean - read only.
 * @param runningVar - read only.
 * @param out - receives the output.
 * @param xMinusMean - receives x - runningMean.
 * @param normalizedData - receives (x - runningMean) / sqrtvar.
 * @param ivar - receives 1 / sqrtvar.
 * @param sqrtvar - receives sqrt(runningVar + eps).
 * @throws as {@link simdBatchnormTrainForward}.
 * @example
 * ```ts
 * simdBatchnormTestForward(xs, g, bt, n, d, eps, runningMean, runningVar, out, xMinusMean, normalizedData, ivar, sqrtvar);
 * ```
 */
export function simdBatchnormTestForward<T extends FloatArray>(
  x: T, gamma: T, beta: T, n: number, d: number, eps: number, runningMean: T, runningVar: T,
  out: T, xMinusMean: T, normalizedData: T, ivar: T, sqrtvar: T,
): void {
  bnForward('simdBatchnormTestForward', false, x, gamma, beta, n, d, eps, 0, runningMean, runningVar, out,
    xMinusMean, normalizedData, ivar, sqrtvar);
}

function bnForward(
  fn: string, train: boolean, x: FloatArray, gamma: FloatArray, beta: FloatArray, n: number, d: number, eps: number,
  momentum: number, runningMean: FloatArray, runningVar: FloatArray, out: FloatArray, xMinusMean: FloatArray,
  normalizedData: FloatArray, ivar: FloatArray, sqrtvar: FloatArray,
): void {
  const w = kernels(fn);
  checkDim(fn, 'n', n);
  checkDim(fn, 'd', d);
  const f64 = isF64(fn, x);
  const nd = n * d;
  check(fn, f64, 'x', x, nd);
  check(fn, f64, 'gamma', gamma, d);
  check(fn, f64, 'beta', beta, d);
  check(fn, f64, 'runningMean', runningMean, d);
  check(fn, f64, 'runningVar', runningVar, d);
  check(fn, f64, 'out', out, nd);
  check(fn, f64, 'xMinusMean', xMinusMean, nd);
  check(fn, f64, 'normalizedData', normalizedData, nd);
  check(fn, f64, 'ivar', ivar, d);
  check(fn, f64, 'sqrtvar', sqrtvar, d);
  const f = frame(f64);
  const px = f.input(x, nd);
  const pg = f.input(gamma, d);
  const pbt = f.input(beta, d);
  // Train mode updates the running statistics in place; test mode only reads them.
  const prm = train ? f.output(runningMean, d, true) : f.input(runningMean, d);
  const prv = train ? f.output(runningVar, d, true) : f.input(runningVar, d);
  const pout = f.output(out, nd);
  const pxmm = f.output(xMinusMean, nd);
  const pxn = f.output(normalizedData, nd);
  const pivar = f.output(ivar, d);
  const psv = f.output(sqrtvar, d);
  const ps = f.scratch(w.scratchBytes(d));
  const k = train ? (f64 ? w.bnTrainForwardF64 : w.bnTrainForwardF32) : f64 ? w.bnTestForwardF64 : w.bnTestForwardF32;
  finish(fn, f, () => k(px, pg, pbt, prm, prv, pout, pxmm, pxn, pivar, psv, ps, n, d, eps, momentum));
}

/**
 * BatchNorm backward, the exact computation of `batchnormBackward` in src/kernels/batchnorm.ts
 * (the seed's step-by-step graph): dbeta = sum(dout), dgamma = sum(dout * xhat) and, in train
 * mode, dx through the batch statistics (steps 1-10); in test mode dx = dout * gamma * ivar.
 * `xMinusMean` and `sqrtvar` are only read (and copied) in train mode.
 *
 * Shape: dout (N, D), cache arrays as from the forward -> dx (N, D), dgamma, dbeta (D).
 *
 * @param mode - the mode of the forward pass that made the cache.
 * @param dout - upstream gradient (N, D).
 * @param n - rows N.
 * @param d - features D.
 * @param xMinusMean - cache.xMinusMean.
 * @param normalizedData - cache.normalizedData.
 * @param gamma - cache.gamma.
 * @param ivar - cache.ivar.
 * @param sqrtvar - cache.sqrtvar.
 * @param dx - receives the input gradient.
 * @param dgamma - receives the gamma gradient (overwritten, not accumulated).
 * @param dbeta - receives the beta gradient (overwritten, not accumulated).
 * @throws as {@link simdBatchnormTrainForward}.
 * @example
 * ```ts
 * simdBatchnormBackward(cache.mode, g, n, d, xMinusMean, normalizedData, gamma, ivar, sqrtvar, dx, dgamma, dbeta);
 * ```
 */
export function simdBatchnormBackward<T extends FloatArray>(
  mode: 'train' | 'test', dout: T, n: number, d: number, xMinusMean: T, normalizedData: T, gamma: T, ivar: T,
  sqrtvar: T, dx: T, dgamma: T, dbeta: T,
): void {
  const fn = 'simdBatchnormBackward';
  const w = kernels(fn);
  if (mode !== 'train' && mode !== 'test') throw new ValueError(`${fn}: mode must be 'train' or 'test', got ${String(mode)}`);
  checkDim(fn, 'n', n);
  checkDim(fn, 'd', d);
  const f64 = isF64(fn, dout);
  const nd = n * d;
  const train = mode === 'train';
  check(fn, f64, 'normalizedData', normalizedData, nd);
  check(fn, f64, 'gamma', gamma, d);
  check(fn, f64, 'ivar', ivar, d);
  check(fn, f64, 'dx', dx, nd);
  check(fn, f64, 'dgamma', dgamma, d);
  check(fn, f64, 'dbeta', dbeta, d);
  if (train) {
    check(fn, f64, 'xMinusMean', xMinusMean, nd);
    check(fn, f64, 'sqrtvar', sqrtvar, d);
  }
  const f = frame(f64);
  const pg = f.input(dout, nd);
  const pxn = f.input(normalizedData, nd);
  const pgam = f.input(gamma, d);
  const pivar = f.input(ivar, d);
  // Test mode never reads the centred data or sqrtvar.
  const pxmm = train ? f.input(xMinusMean, nd) : 0;
  const psv = train ? f.input(sqrtvar, d) : 0;
  const pdx = f.output(dx, nd);
  const pdg = f.output(dgamma, d);
  const pdb = f.output(dbeta, d);
  const ps = f.scratch(w.scratchBytes(d));
  finish(fn, f, () => (f64 ? w.bnBackwardF64 : w.bnBackwardF32)(+train, pg, pxmm, pxn, pgam, pivar, psv, pdx, pdg, pdb, ps, n, d));
}

/**
 * ReLU forward, the exact computation of `reluForward` in src/kernels/relu.ts:
 * out[i] = x[i] < 0 ? 0 : x[i] (NaN and -0 pass through unchanged).
 *
 * @param x - input, any shape, flattened.
 * @param out - receives the output; at least x.length elements of x's dtype. May be x itself.
 * @throws Error if {@link simdAvailable} is false; DTypeError on mixed dtypes; ShapeError if out is too short.
 * @example
 * ```ts
 * simdReluForward(x.data, out);
 * ```
 */
export function simdReluForward<T extends FloatArray>(x: T, out: T): void {
  runMap('simdReluForward', x, out, (w, f64) => (f64 ? w.reluForwardF64 : w.reluForwardF32));
}
/**
 * ReLU backward, the exact computation of `reluBackward` in src/kernels/relu.ts:
 * dx[i] = x[i] >= 0 ? dout[i] : 0 (the gradient passes at x == 0; NaN in x gives 0).
 *
 * @param dout - upstream gradient, flattened.
 * @param x - the forward input (the cache), at least dout.length elements.
 * @param dx - receives the gradient; at least dout.length elements. May be dout itself.
 * @throws as {@link simdReluForward}.
 * @example
 * ```ts
 * simdReluBackward(dout.data, cache.data, dx);
 * ```
 */
export function simdReluBackward<T extends FloatArray>(dout: T, x: T, dx: T): void {
  runGradMap('simdReluBackward', dout, x, dx, (w, f64) => (f64 ? w.reluBackwardF64 : w.reluBackwardF32));
}

/**
 * Column sums, the exact computation of `sumRows` in src/kernels/affine.ts: out[j] = the sum
 * over rows of a[i, j], in float64 from 0 in row order, rounded once into out.
 *
 * Shape: a (rows, cols) -> out (cols).
 *
 * @param a - the matrix, row-major.
 * @param out - receives the sums; at least cols elements of a's dtype.
 * @param rows - rows.
 * @param cols - columns.
 * @throws as {@link simdReluForward}.
 * @example
 * ```ts
 * simdColSums(dout, db, n, m);
 * ```
 */
export function simdColSums<T extends FloatArray>(a: T, out: T, rows: number, cols: number): void {
  const fn = 'simdColSums';
  const w = kernels(fn);
  const f64 = isF64(fn, a);
  checkDim(fn, 'rows', rows);
  checkDim(fn, 'cols', cols);
  check(fn, f64, 'a', a, rows * cols);
  check(fn, f64, 'out', out, cols);
  const f = frame(f64);
  const pa = f.input(a, rows * cols);
  const po = f.output(out, cols);
  finish(fn, f, () => (f64 ? w.colSumsF64 : w.colSumsF32)(pa, po, rows, cols));
}

/**
 * out = kernel(x), elementwise: the runner of every one-input elementwise kernel.
 */
function runMap<T extends FloatArray>(fn: string, x: T, out: T, pick: (w: Exports, f64: boolean) => MapFn): void {
  const w = kernels(fn);
  const f64 = isF64(fn, x);
  const len = x.length;
  check(fn, f64, 'out', out, len);
  const f = frame(f64);
  const px = f.input(x, len);
  const po = f.output(out, len);
  finish(fn, f, () => pick(w, f64)(px, po, len));
}

/**
 * dx = kernel(g, x), elementwise (a backward rule over the forward input): the runner of every
 * two-input elementwise backward kernel.
 */
function runGradMap<T extends FloatArray>(fn: string, g: T, x: T, dx: T, pick: (w: Exports, f64: boolean) => MapFn): void {
  const w = kernels(fn);
  const f64 = isF64(fn, g);
  const len = g.length;
  check(fn, f64, 'x', x, len);
  check(fn, f64, 'dx', dx, len);
  const f = frame(f64);
  const pg = f.input(g, len);
  const px = f.input(x, len);
  const pd = f.output(dx, len);
  finish(fn, f, () => pick(w, f64)(pg, px, pd, len));
}

/** One array operand of an in-place update kernel (besides the first, which is read and written). */
interface Operand {
  name: string;
  arr: FloatArray;
  /** Copy into wasm memory before the call (false for a buffer the kernel only writes). */
  read: boolean;
  /** Copy back after the call. */
  write: boolean;
}

/**
 * Elements per pass of {@link runInPlace} when some operand must be copied: 16 Ki elements is
 * 64 KiB (f32) or 128 KiB (f64) per operand, so the regions of an Adam step stay in L2 from
 * copy-in to copy-out, and the temporaries do not grow with the size of the largest parameter.
 */
const UPDATE_CHUNK = 16384;

/** Offsets of one pass's operands; one array reused by every call. */
const ptrs: number[] = new Array<number>(8).fill(0);

/**
 * Runs an in-place update kernel over the elements of `first` (read and written): checks every
 * operand's dtype and length, then calls `call` with the dtype, the operands' byte offsets
 * (`ptrs[0]` first's, then the operands' in order) and the length. When every operand lives in
 * wasm memory that is one call on the arrays themselves; otherwise it runs in passes of at most
 * UPDATE_CHUNK elements, each through a frame (the kernels are elementwise, so passes give the
 * same bits as one).
 */
function runInPlace(
  fn: string, first: FloatArray, ops: readonly Operand[], call: (w: Exports, f64: boolean, ptrs: readonly number[], len: number) => void,
): void {
  const w = kernels(fn);
  const f64 = isF64(fn, first);
  const len = first.length;
  for (const o of ops) check(fn, f64, o.name, o.arr, len);
  const chunk = allResident(first, ops) ? Math.max(len, 1) : UPDATE_CHUNK;
  for (let start = 0; start < len; start += chunk) {
    const n = Math.min(chunk, len - start);
    // A view moves the window to this pass (whole arrays when there is one pass).
    const at = (arr: FloatArray): FloatArray => (start === 0 ? arr : arr.subarray(start));
    const f = frame(f64);
    // Inputs first, so that a written operand overlapping one of them gets its own region.
    for (let i = 0; i < ops.length; i++) if (!ops[i].write) ptrs[i + 1] = f.input(at(ops[i].arr), n);
    ptrs[0] = f.output(at(first), n, true);
    for (let i = 0; i < ops.length; i++) if (ops[i].write) ptrs[i + 1] = f.output(at(ops[i].arr), n, ops[i].read);
    finish(fn, f, () => call(w, f64, ptrs, n));
  }
}

/** Whether every operand is in wasm memory (one pass, no copies). */
function allResident(first: FloatArray, ops: readonly Operand[]): boolean {
  if (!isHeapBuffer(first.buffer)) return false;
  for (const o of ops) if (!isHeapBuffer(o.arr.buffer)) return false;
  return true;
}

const input = (name: string, arr: FloatArray): Operand => ({ name, arr, read: true, write: false });
const state = (name: string, arr: FloatArray, read = true): Operand => ({ name, arr, read, write: true });

/**
 * In-place accumulation `acc[i] += g[i]`, the exact computation of the tape's gradient
 * accumulation (one IEEE addition per element, so float32 gives the bits the JS loop gives).
 *
 * Shape: acc and g of one length (g may be longer: its leading elements are used).
 *
 * @param acc - read and overwritten.
 * @param g - added; same dtype, at least acc.length elements.
 * @throws Error if {@link simdAvailable} is false; DTypeError on mixed dtypes; ShapeError if g
 *   is too short.
 * @example
 * ```ts
 * simdAddInto(param.grad.data, g);
 * ```
 */
export function simdAddInto<T extends FloatArray>(acc: T, g: T): void {
  runInPlace('simdAddInto', acc, [input('g', g)], (w, f64, [pa, pg], len) => (f64 ? w.addF64 : w.addF32)(pa, pg, len));
}

/**
 * The plain SGD update in place, `p[i] -= lr * (wd !== 0 ? g[i] + wd * p[i] : g[i])`, the exact
 * computation of `SGD` without momentum: evaluated in float64 (lr and wd are not rounded to
 * float32) and rounded once when stored into a Float32Array.
 *
 * Shape: p and g of one length (g may be longer: its leading elements are used).
 *
 * @param p - parameter values, read and overwritten.
 * @param g - gradient; same dtype, at least p.length elements.
 * @param lr - learning rate.
 * @param wd - L2 weight decay (0: none).
 * @throws as {@link simdAddInto}.
 * @example
 * ```ts
 * simdSgdStep(w.data, w.grad.data, 0.1, 0);
 * ```
 */
export function simdSgdStep<T extends FloatArray>(p: T, g: T, lr: number, wd: number): void {
  runInPlace('simdSgdStep', p, [input('g', g)], (w, f64, [pp, pg], len) => (f64 ? w.sgdF64 : w.sgdF32)(pp, pg, len, lr, wd));
}

/** Hyper-parameters of {@link simdSgdMomentumStep}, as `SGD.update` derives them. */
export interface SgdMomentumArgs {
  /** Learning rate. */
  lr: number;
  /** L2 weight decay added to the gradient (0: none). */
  wd: number;
  /** Momentum factor (> 0). */
  momentum: number;
  /** 1 - dampening. */
  keep: number;
  /** Nesterov momentum. */
  nesterov: boolean;
  /** First update of this parameter: the buffer starts as the gradient. */
  fresh: boolean;
}

/**
 * SGD with momentum in place, the exact computation of `SGD.update` for momentum > 0:
 * `gi = wd ? g + wd·p : g; buf = fresh ? gi : momentum·buf + keep·gi; p -= lr·(nesterov ?
 * gi + momentum·buf : buf)`, in float64, with buf and p rounded where the TS loop stores them.
 *
 * Shape: p, g, buf of one length (g and buf may be longer).
 *
 * @param p - parameter values, read and overwritten.
 * @param g - gradient; same dtype.
 * @param buf - momentum buffer, read (unless fresh) and overwritten.
 * @param h - {@link SgdMomentumArgs}.
 * @throws as {@link simdAddInto}.
 * @example
 * ```ts
 * simdSgdMomentumStep(w, dw, buf, { lr: 0.1, wd: 0, momentum: 0.9, keep: 1, nesterov: false, fresh: false });
 * ```
 */
export function simdSgdMomentumStep<T extends FloatArray>(p: T, g: T, buf: T, h: SgdMomentumArgs): void {
  runInPlace('simdSgdMomentumStep', p, [input('g', g), state('buf', buf, !h.fresh)], (w, f64, [pp, pg, pb], len) =>
    (f64 ? w.sgdMomentumF64 : w.sgdMomentumF32)(pp, pg, pb, len, h.lr, h.wd, h.momentum, h.keep, h.nesterov ? 1 : 0, h.fresh ? 1 : 0),
  );
}

/** Per-step constants of {@link simdAdamStep}, as `Adam.update` derives them. */
export interface AdamArgs {
  /** lr / (1 - beta1^t). */
  stepSize: number;
  /** sqrt(1 - beta2^t). */
  bc2Sqrt: number;
  /** beta1. */
  b1: number;
  /** 1 - beta1. */
  c1: number;
  /** beta2. */
  b2: number;
  /** 1 - beta2. */
  c2: number;
  /** Added to the denominator. */
  eps: number;
  /** Decoupled weight decay factor applied to p first (1: none). */
  decay: number;
  /** L2 weight decay added to the gradient (0: none). */
  l2: number;
}

/**
 * One Adam update in place, the exact computation of `Adam.update`: `p *= decay; gi = l2 ?
 * g + l2·p : g; m = b1·m + c1·gi; v = b2·v + c2·gi·gi; p -= stepSize·(m / (sqrt(v) / bc2Sqrt +
 * eps))`, in float64, with p, m and v rounded where the TS loop stores them.
 *
 * Shape: p, g, m, v of one length (g, m, v may be longer).
 *
 * @param p - parameter values, read and overwritten.
 * @param g - gradient; same dtype.
 * @param m - first-moment buffer, read and overwritten.
 * @param v - second-moment buffer, read and overwritten.
 * @param h - {@link AdamArgs}.
 * @throws as {@link simdAddInto}.
 * @example
 * ```ts
 * simdAdamStep(w, dw, m, v, { stepSize, bc2Sqrt, b1: 0.9, c1: 0.1, b2: 0.999, c2: 0.001, eps: 1e-8, decay: 1, l2: 0 });
 * ```
 */
export function simdAdamStep<T extends FloatArray>(p: T, g: T, m: T, v: T, h: AdamArgs): void {
  runInPlace('simdAdamStep', p, [input('g', g), state('m', m), state('v', v)], (w, f64, [pp, pg, pm, pv], len) =>
    (f64 ? w.adamF64 : w.adamF32)(pp, pg, pm, pv, len, h.stepSize, h.bc2Sqrt, h.b1, h.c1, h.b2, h.c2, h.eps, h.decay, h.l2),
  );
}

/** Hyper-parameters of {@link simdRmspropStep}, as `RMSProp.update` uses them. */
export interface RmspropArgs {
  /** Learning rate. */
  lr: number;
  /** Smoothing constant of the squared-gradient average. */
  alpha: number;
  /** 1 - alpha. */
  c: number;
  /** Added to the denominator. */
  eps: number;
  /** L2 weight decay added to the gradient (0: none). */
  wd: number;
  /** Momentum factor (0: none, and `buf` is not touched). */
  momentum: number;
}

/**
 * One RMSProp update in place, the exact computation of `RMSProp.update`: `gi = wd ? g + wd·p :
 * g; v = alpha·v + c·gi·gi; q = gi / (sqrt(v) + eps)`, then `p -= lr·q`, or with momentum
 * `buf = momentum·buf + q; p -= lr·buf`; in float64, with p, v and buf rounded where the TS
 * loop stores them.
 *
 * Shape: p, g, v (and buf with momentum) of one length (the others may be longer).
 *
 * @param p - parameter values, read and overwritten.
 * @param g - gradient; same dtype.
 * @param v - squared-gradient average, read and overwritten.
 * @param buf - momentum buffer (read and overwritten when momentum != 0; else ignored, may be null).
 * @param h - {@link RmspropArgs}.
 * @throws as {@link simdAddInto}.
 * @example
 * ```ts
 * simdRmspropStep(w, dw, sq, null, { lr: 1e-3, alpha: 0.99, c: 0.01, eps: 1e-8, wd: 0, momentum: 0 });
 * ```
 */
export function simdRmspropStep<T extends FloatArray>(p: T, g: T, v: T, buf: T | null, h: RmspropArgs): void {
  const fn = 'simdRmspropStep';
  const ops = [input('g', g), state('v', v)];
  if (h.momentum !== 0) {
    if (buf === null) throw new ValueError(`${fn}: buf must be an array when momentum is not 0, got null`);
    ops.push(state('buf', buf));
  }
  runInPlace(fn, p, ops, (w, f64, [pp, pg, pv, pb], len) =>
    // Without momentum the kernel never touches buf: pass v's offset rather than a stale one.
    (f64 ? w.rmspropF64 : w.rmspropF32)(pp, pg, pv, h.momentum !== 0 ? pb : pv, len, h.lr, h.alpha, h.c, h.eps, h.wd, h.momentum),
  );
}

/** The elementwise transcendental functions with a SIMD twin of src/kernels/transcendental.ts. */
export type SimdUnaryOp = 'tanh' | 'sigmoid' | 'gelu';

/**
 * out[i] = f(x[i]) for f = tanh or sigmoid, bit-identical to a loop over `tanhOf` / `sigmoidOf`
 * of src/kernels/transcendental.ts, or gelu (exact form), bit-identical to `gelu`'s loop in
 * src/ops/activations.ts (float32: computed in double, rounded on store).
 *
 * @param op - 'tanh', 'sigmoid' or 'gelu'.
 * @param x - input.
 * @param out - output, at least x.length elements, same dtype (may be x).
 * @throws DTypeError when the dtypes differ; ShapeError when out is too short.
 * @example
 * ```ts
 * simdUnary('tanh', x, out);
 * ```
 */
export function simdUnary<T extends FloatArray>(op: SimdUnaryOp, x: T, out: T): void {
  runMap('simdUnary', x, out, (w, f64) =>
    op === 'tanh' ? (f64 ? w.tanhF64 : w.tanhF32) : op === 'sigmoid' ? (f64 ? w.sigmoidF64 : w.sigmoidF32) : f64 ? w.geluF64 : w.geluF32,
  );
}
/**
 * dx[i] = g[i] * f'(x[i]) for f = tanh (g * sech2Of(x)) or sigmoid (sigmoidBackwardOf(g, x)),
 * bit-identical to those loops over src/kernels/transcendental.ts.
 *
 * @param op - 'tanh', 'sigmoid' or 'gelu' (g * (Phi(x) + x phi(x)), as `gelu`'s backward).
 * @param g - upstream gradient.
 * @param x - the forward input, at least g.length elements, same dtype.
 * @param dx - output, at least g.length elements, same dtype (may be g).
 * @throws as {@link simdUnary}.
 * @example
 * ```ts
 * simdUnaryBackward('sigmoid', g, x, dx);
 * ```
 */
export function simdUnaryBackward<T extends FloatArray>(op: SimdUnaryOp, g: T, x: T, dx: T): void {
  runGradMap('simdUnaryBackward', g, x, dx, (w, f64) =>
    op === 'tanh'
      ? f64 ? w.tanhBackwardF64 : w.tanhBackwardF32
      : op === 'sigmoid'
        ? f64 ? w.sigmoidBackwardF64 : w.sigmoidBackwardF32
        : f64 ? w.geluBackwardF64 : w.geluBackwardF32,
  );
}

/**
 * Softmax along the last axis of `rows` contiguous lines of `size` values, the exact
 * computation of `softmax` in src/ops/softmax.ts for the last axis (line maximum, expNeg of
 * src/kernels/transcendental.ts, the sum in two interleaved partial sums, division).
 *
 * @param x - input, rows * size elements.
 * @param y - output, rows * size elements, same dtype (may be x).
 * @param rows - number of lines.
 * @param size - length of each line.
 * @throws DTypeError when the dtypes differ; ShapeError when an array is too short; ValueError on a bad count.
 * @example
 * ```ts
 * simdSoftmaxRows(logits, probs, 256, 10);
 * ```
 */
export function simdSoftmaxRows<T extends FloatArray>(x: T, y: T, rows: number, size: number): void {
  const fn = 'simdSoftmaxRows';
  const w = kernels(fn);
  checkDim(fn, 'rows', rows);
  checkDim(fn, 'size', size);
  const f64 = isF64(fn, x);
  const len = rows * size;
  check(fn, f64, 'x', x, len);
  check(fn, f64, 'y', y, len);
  const f = frame(f64);
  const px = f.input(x, len);
  const py = f.output(y, len);
  finish(fn, f, () => (f64 ? w.softmaxRowsF64 : w.softmaxRowsF32)(px, py, rows, size));
}

/**
 * Softmax backward along the last axis: dx = y * (g - sum(g * y)) per line, the sum in two
 * interleaved partial sums, as `softmax`'s backward in src/ops/softmax.ts.
 *
 * @param g - upstream gradient, rows * size elements.
 * @param y - the forward output, same dtype.
 * @param dx - output, same dtype (may be g).
 * @param rows - number of lines.
 * @param size - length of each line.
 * @throws as {@link simdSoftmaxRows}.
 * @example
 * ```ts
 * simdSoftmaxRowsBackward(g, probs, dx, 256, 10);
 * ```
 */
export function simdSoftmaxRowsBackward<T extends FloatArray>(g: T, y: T, dx: T, rows: number, size: number): void {
  const fn = 'simdSoftmaxRowsBackward';
  const w = kernels(fn);
  checkDim(fn, 'rows', rows);
  checkDim(fn, 'size', size);
  const f64 = isF64(fn, g);
  const len = rows * size;
  check(fn, f64, 'g', g, len);
  check(fn, f64, 'y', y, len);
  check(fn, f64, 'dx', dx, len);
  const f = frame(f64);
  const pg = f.input(g, len);
  const py = f.input(y, len);
  const pd = f.output(dx, len);
  finish(fn, f, () => (f64 ? w.softmaxRowsBackwardF64 : w.softmaxRowsBackwardF32)(pg, py, pd, rows, size));
}

/**
 * GELU (exact form) backward: dx = g * (Phi(x) + x phi(x)), bit-identical to `gelu`'s loop.
 *
 * @param g - upstream gradient.
 * @param x - the forward input.
 * @param dx - output (may be g).
 * @example
 * ```ts
 * simdGeluBackward(g, x, dx);
 * ```
 */
export function simdGeluBackward<T extends FloatArray>(g: T, x: T, dx: T): void {
  simdUnaryBackward('gelu', g, x, dx);
}
