/**
 * WebAssembly SIMD versions of the training step's elementwise and reduction loops: BatchNorm
 * forward (train and test mode) and backward, ReLU forward and backward, the tape's gradient
 * accumulation, and the SGD, Adam and RMSProp updates, for float32 and float64. Built from `asm/elementwise.ts` by `scripts/build-wasm-elementwise.js` into
 * `build/elementwise.wasm` at the package root.
 *
 * Results are BIT-IDENTICAL to the TypeScript kernels in `../batchnorm.ts` and `../relu.ts`
 * and to the loops in `../../autograd/tape.ts` and `../../optim/{sgd,adam,rmsprop}.ts`, which stay the
 * readable reference and the fallback: the module vectorizes across features, so every
 * per-feature sum runs over rows in the same order, and evaluates each expression with the
 * same operations in the same order; float32 data is computed in f64 and rounded where the TS
 * code stores into a Float32Array (see the header of asm/elementwise.ts).
 *
 * The module is compiled and instantiated synchronously on first use (it is ~6 KB). Each call
 * copies its inputs into the module's linear memory with one `TypedArray.set` each, runs, and
 * copies the results into the caller's arrays. The memory is reused across calls and only grows
 * when a call needs more, so calls allocate nothing.
 *
 * These functions do no shape inference: the TS kernels validate their arguments and then call
 * in here with plain typed arrays. Lengths and dtypes are still checked, since a short array
 * would otherwise silently read stale memory.
 *
 * @packageDocumentation
 */


import type { FloatArray } from '../../dtype';
import { DTypeError, ShapeError, ValueError } from '../../errors';
import { compileWasm } from '../../platform';

export type { FloatArray };

type BnForwardFn = (
  x: number, g: number, bt: number, rm: number, rv: number, out: number, xmm: number, xn: number, ivar: number,
  sv: number, s: number, n: number, d: number, eps: number, momentum: number,
) => void;
type BnBackwardFn = (
  train: number, dout: number, xmm: number, xn: number, gamma: number, ivar: number, sv: number,
  dx: number, dgamma: number, dbeta: number, s: number, n: number, d: number,
) => void;
type ReluForwardFn = (x: number, out: number, len: number) => void;
type ReluBackwardFn = (dout: number, x: number, dx: number, len: number) => void;
type AddFn = (acc: number, g: number, len: number) => void;
type SgdFn = (p: number, g: number, len: number, lr: number, wd: number) => void;
type SgdMomentumFn = (
  p: number, g: number, buf: number, len: number, lr: number, wd: number, momentum: number, keep: number,
  nesterov: number, fresh: number,
) => void;
type RmspropFn = (
  p: number, g: number, v: number, buf: number, len: number, lr: number, alpha: number, c: number, eps: number,
  wd: number, momentum: number,
) => void;
type AdamFn = (
  p: number, g: number, m: number, v: number, len: number, stepSize: number, bc2Sqrt: number, b1: number, c1: number,
  b2: number, c2: number, eps: number, decay: number, l2: number,
) => void;

type UnaryFn = (x: number, out: number, len: number) => void;
type UnaryGradFn = (g: number, x: number, dx: number, len: number) => void;
type RowsFn = (x: number, y: number, rows: number, size: number) => void;
type RowsGradFn = (g: number, y: number, dx: number, rows: number, size: number) => void;

interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** What build/elementwise.wasm exports (pointers and lengths are numbers). */
interface Exports {
  memory: WasmMemory;
  heapBase(): number;
  scratchBytes(d: number): number;
  bnTrainForwardF64: BnForwardFn;
  bnTrainForwardF32: BnForwardFn;
  // Test mode takes no momentum; the extra argument is ignored by the engine.
  bnTestForwardF64: BnForwardFn;
  bnTestForwardF32: BnForwardFn;
  bnBackwardF64: BnBackwardFn;
  bnBackwardF32: BnBackwardFn;
  reluForwardF64: ReluForwardFn;
  reluForwardF32: ReluForwardFn;
  reluBackwardF64: ReluBackwardFn;
  reluBackwardF32: ReluBackwardFn;
  addF64: AddFn;
  addF32: AddFn;
  sgdF64: SgdFn;
  sgdF32: SgdFn;
  sgdMomentumF64: SgdMomentumFn;
  sgdMomentumF32: SgdMomentumFn;
  adamF64: AdamFn;
  adamF32: AdamFn;
  rmspropF64: RmspropFn;
  rmspropF32: RmspropFn;
  tanhF64: UnaryFn;
  tanhF32: UnaryFn;
  sigmoidF64: UnaryFn;
  sigmoidF32: UnaryFn;
  tanhBackwardF64: UnaryGradFn;
  tanhBackwardF32: UnaryGradFn;
  sigmoidBackwardF64: UnaryGradFn;
  sigmoidBackwardF32: UnaryGradFn;
  geluF64: UnaryFn;
  geluF32: UnaryFn;
  geluBackwardF64: UnaryGradFn;
  geluBackwardF32: UnaryGradFn;
  softmaxRowsF64: RowsFn;
  softmaxRowsF32: RowsFn;
  softmaxRowsBackwardF64: RowsGradFn;
  softmaxRowsBackwardF32: RowsGradFn;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

/** The loaded module and typed views over its memory (replaced whenever the memory grows). */
interface Arena {
  w: Exports;
  heap32: Float32Array;
  heap64: Float64Array;
  /** First byte the loader may use, 64-byte aligned. */
  base: number;
}

const PAGE = 65536;
/** wasm32 addresses at most 65536 pages = 4 GiB. */
const MAX_BYTES = 65536 * PAGE;

/** The module; `null` once loading failed (then it is never retried). */
let arena: Arena | null | undefined;

/** Loads and instantiates the module once; returns null (never throws) if that is impossible. */
function load(): Arena | null {
  if (arena !== undefined) return arena;
  arena = null;
  try {
    const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    if (api === undefined) return null;
    // Synchronous compile (unless preloadWasm compiled it) is fine for a ~30 KB module. It
    // throws a CompileError if the engine lacks SIMD128, which is exactly the "unavailable" case.
    const module = compileWasm('elementwise.wasm');
    const w = new api.Instance(module, {}).exports as Exports;
    const a: Arena = { w, heap32: new Float32Array(0), heap64: new Float64Array(0), base: (w.heapBase() + 63) & ~63 };
    refreshViews(a);
    arena = a;
  } catch {
    arena = null;
  }
  return arena;
}

/** Re-creates the views after the memory grew (growing detaches the old ArrayBuffer). */
function refreshViews(a: Arena): void {
  const buf = a.w.memory.buffer;
  if (a.heap32.buffer !== buf) {
    a.heap32 = new Float32Array(buf);
    a.heap64 = new Float64Array(buf);
  }
}

/** Grows the memory (never shrinks) so that bytes [0, end) are addressable. */
function ensureMemory(a: Arena, end: number): void {
  const mem = a.w.memory;
  const have = mem.buffer.byteLength;
  if (end > have) {
    if (end > MAX_BYTES) throw new RangeError(`simd: needs ${end} bytes of wasm memory, the maximum is ${MAX_BYTES}`);
    // Grow by at least 1/4 of the current size so a slowly increasing workload regrows rarely.
    const want = Math.min(Math.max(end, have + (have >> 2)), MAX_BYTES);
    try {
      mem.grow(Math.ceil((want - have) / PAGE));
    } catch {
      mem.grow(Math.ceil((end - have) / PAGE)); // the minimum; throws RangeError if still too big
    }
  }
  refreshViews(a);
}

const align64 = (x: number): number => Math.ceil(x / 64) * 64;

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
  return load() !== null;
}

function arenaOrThrow(fn: string): Arena {
  const a = load();
  if (a === null) throw new Error(`${fn}: the WebAssembly SIMD kernels are unavailable (build/elementwise.wasm missing or no SIMD)`);
  return a;
}

function checkDim(fn: string, name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new ValueError(`${fn}: ${name} must be a non-negative integer, got ${v}`);
}

/** Checks that `arr` has the first argument's dtype and at least `need` elements. */
function check(fn: string, f64: boolean, name: string, arr: FloatArray, need: number): void {
  if (!(f64 ? arr instanceof Float64Array : arr instanceof Float32Array)) {
    const got = (arr as object)?.constructor?.name ?? typeof arr;
    throw new DTypeError(`${fn}: ${name} must be a ${f64 ? 'Float64Array' : 'Float32Array'} like the first argument, got ${got}`);
  }
  if (arr.length < need) throw new ShapeError(`${fn}: ${name} must hold ${need} elements, got ${arr.length}`);
}

function isF64(fn: string, x: FloatArray): boolean {
  if (x instanceof Float64Array) return true;
  if (x instanceof Float32Array) return false;
  throw new DTypeError(`${fn}: expected a Float32Array or Float64Array, got ${Object.prototype.toString.call(x)}`);
}

/** Copies the first `len` elements of `src` into the heap at byte offset `at`. */
function put(heap: FloatArray, shift: number, at: number, src: FloatArray, len: number): void {
  heap.set(src.length === len ? src : src.subarray(0, len), at >>> shift);
}

/** Copies `len` elements from the heap at byte offset `at` into the start of `dst`. */
function get(heap: FloatArray, shift: number, at: number, dst: FloatArray, len: number): void {
  dst.set(heap.subarray(at >>> shift, (at >>> shift) + len));
}

/** Byte offsets filled by {@link place}; one module-level array reused by every call. */
const offs: number[] = new Array<number>(10).fill(0);

/**
 * Lays out regions of the given byte sizes one after the other from the arena's base, each
 * 64-byte aligned, writes their offsets into `offs`, and grows the memory to fit.
 */
function place(a: Arena, ...sizes: number[]): void {
  let at = a.base;
  for (let i = 0; i < sizes.length; i++) {
    offs[i] = at;
    at += align64(sizes[i]);
  }
  ensureMemory(a, at);
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
  const a = arenaOrThrow(fn);
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
  const sz = f64 ? 8 : 4;
  const shift = f64 ? 3 : 2;
  // x and out share a region: the kernel reads x fully before writing out (train) or reads
  // each element before overwriting it (test), which keeps the working set at 3 (N, D) arrays.
  place(a, nd * sz, nd * sz, nd * sz, d * sz, d * sz, d * sz, d * sz, d * sz, d * sz, a.w.scratchBytes(d));
  const [px, pxmm, pxn, pg, pbt, prm, prv, pivar, psv, ps] = offs;
  const heap: FloatArray = f64 ? a.heap64 : a.heap32;
  put(heap, shift, px, x, nd);
  put(heap, shift, pg, gamma, d);
  put(heap, shift, pbt, beta, d);
  put(heap, shift, prm, runningMean, d);
  put(heap, shift, prv, runningVar, d);
  const k = train ? (f64 ? a.w.bnTrainForwardF64 : a.w.bnTrainForwardF32) : f64 ? a.w.bnTestForwardF64 : a.w.bnTestForwardF32;
  k(px, pg, pbt, prm, prv, px, pxmm, pxn, pivar, psv, ps, n, d, eps, momentum);
  get(heap, shift, px, out, nd);
  get(heap, shift, pxmm, xMinusMean, nd);
  get(heap, shift, pxn, normalizedData, nd);
  get(heap, shift, pivar, ivar, d);
  get(heap, shift, psv, sqrtvar, d);
  if (train) {
    get(heap, shift, prm, runningMean, d);
    get(heap, shift, prv, runningVar, d);
  }
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
  const a = arenaOrThrow(fn);
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
  const sz = f64 ? 8 : 4;
  const shift = f64 ? 3 : 2;
  // dout and dx share a region: every element of dout is read before dx at its index is written.
  place(a, nd * sz, train ? nd * sz : 0, nd * sz, d * sz, d * sz, d * sz, d * sz, d * sz, a.w.scratchBytes(d));
  const [pg, pxmm, pxn, pgam, pivar, psv, pdg, pdb, ps] = offs;
  const heap: FloatArray = f64 ? a.heap64 : a.heap32;
  put(heap, shift, pg, dout, nd);
  put(heap, shift, pxn, normalizedData, nd);
  put(heap, shift, pgam, gamma, d);
  put(heap, shift, pivar, ivar, d);
  if (train) {
    put(heap, shift, pxmm, xMinusMean, nd);
    put(heap, shift, psv, sqrtvar, d);
  }
  (f64 ? a.w.bnBackwardF64 : a.w.bnBackwardF32)(+train, pg, pxmm, pxn, pgam, pivar, psv, pg, pdg, pdb, ps, n, d);
  get(heap, shift, pg, dx, nd);
  get(heap, shift, pdg, dgamma, d);
  get(heap, shift, pdb, dbeta, d);
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

/** An elementwise kernel over wasm memory: (in, out, len) or (g, x, out, len), offsets in bytes. */
type MapKernel = (...args: number[]) => void;

/**
 * out = kernel(x), elementwise: x copied into wasm memory, the kernel run in place there, the
 * result copied out. The runner of every one-input elementwise kernel.
 */
function runMap<T extends FloatArray>(fn: string, x: T, out: T, pick: (w: Arena['w'], f64: boolean) => MapKernel): void {
  const a = arenaOrThrow(fn);
  const f64 = isF64(fn, x);
  const len = x.length;
  check(fn, f64, 'out', out, len);
  const shift = f64 ? 3 : 2;
  place(a, len * (f64 ? 8 : 4));
  const px = offs[0];
  const heap: FloatArray = f64 ? a.heap64 : a.heap32;
  put(heap, shift, px, x, len);
  pick(a.w, f64)(px, px, len);
  get(heap, shift, px, out, len);
}

/**
 * dx = kernel(g, x), elementwise (a backward rule over the forward input): g and x copied
 * into wasm memory, the result written over g there and copied out. The runner of every
 * two-input elementwise backward kernel.
 */
function runGradMap<T extends FloatArray>(fn: string, g: T, x: T, dx: T, pick: (w: Arena['w'], f64: boolean) => MapKernel): void {
  const a = arenaOrThrow(fn);
  const f64 = isF64(fn, g);
  const len = g.length;
  check(fn, f64, 'x', x, len);
  check(fn, f64, 'dx', dx, len);
  const shift = f64 ? 3 : 2;
  const bytes = len * (f64 ? 8 : 4);
  place(a, bytes, bytes);
  const [pg, px] = offs;
  const heap: FloatArray = f64 ? a.heap64 : a.heap32;
  put(heap, shift, pg, g, len);
  put(heap, shift, px, x, len);
  pick(a.w, f64)(pg, px, pg, len);
  get(heap, shift, pg, dx, len);
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
 * Elements per pass of {@link runInPlace}: 16 Ki elements is 64 KiB (f32) or 128 KiB (f64) per
 * operand, so the four regions of an Adam step stay in L2 from copy-in to copy-out, and the
 * arena does not grow with the size of the largest parameter.
 */
const UPDATE_CHUNK = 16384;

/**
 * Runs an in-place update kernel over the elements of `first`, in passes of at most
 * UPDATE_CHUNK elements (the kernels are elementwise, so passes give the same bits as one):
 * checks every operand's dtype and length, then per pass copies `first` and each read operand
 * into consecutive regions of the arena, calls `call` with the dtype, the regions' byte offsets
 * (`ptrs[0]` first's, then the operands' in order; entries past those are stale) and the pass
 * length, and copies `first` and each written operand back.
 */
function runInPlace(
  fn: string, first: FloatArray, ops: readonly Operand[], call: (w: Exports, f64: boolean, ptrs: readonly number[], len: number) => void,
): void {
  const a = arenaOrThrow(fn);
  const f64 = isF64(fn, first);
  const len = first.length;
  for (const o of ops) check(fn, f64, o.name, o.arr, len);
  const shift = f64 ? 3 : 2;
  // Equal regions, one per array, each 64-byte aligned; offs[0..ops.length] are their offsets.
  const region = align64(Math.min(len, UPDATE_CHUNK) * (f64 ? 8 : 4));
  for (let i = 0; i <= ops.length; i++) offs[i] = a.base + i * region;
  ensureMemory(a, a.base + (ops.length + 1) * region);
  const heap: FloatArray = f64 ? a.heap64 : a.heap32;
  for (let start = 0; start < len; start += UPDATE_CHUNK) {
    const n = Math.min(UPDATE_CHUNK, len - start);
    // put/get copy the leading n elements; a view moves the window to this pass.
    const at = (arr: FloatArray): FloatArray => (start === 0 ? arr : arr.subarray(start));
    put(heap, shift, offs[0], at(first), n);
    for (let i = 0; i < ops.length; i++) if (ops[i].read) put(heap, shift, offs[i + 1], at(ops[i].arr), n);
    call(a.w, f64, offs, n);
    get(heap, shift, offs[0], at(first), n);
    for (let i = 0; i < ops.length; i++) if (ops[i].write) get(heap, shift, offs[i + 1], at(ops[i].arr), n);
  }
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
  const a = arenaOrThrow(fn);
  checkDim(fn, 'rows', rows);
  checkDim(fn, 'size', size);
  const f64 = isF64(fn, x);
  const len = rows * size;
  check(fn, f64, 'x', x, len);
  check(fn, f64, 'y', y, len);
  const shift = f64 ? 3 : 2;
  place(a, len * (f64 ? 8 : 4));
  const px = offs[0];
  const heap: FloatArray = f64 ? a.heap64 : a.heap32;
  put(heap, shift, px, x, len);
  (f64 ? a.w.softmaxRowsF64 : a.w.softmaxRowsF32)(px, px, rows, size);
  get(heap, shift, px, y, len);
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
  const a = arenaOrThrow(fn);
  checkDim(fn, 'rows', rows);
  checkDim(fn, 'size', size);
  const f64 = isF64(fn, g);
  const len = rows * size;
  check(fn, f64, 'g', g, len);
  check(fn, f64, 'y', y, len);
  check(fn, f64, 'dx', dx, len);
  const shift = f64 ? 3 : 2;
  const bytes = len * (f64 ? 8 : 4);
  place(a, bytes, bytes);
  const [pg, py] = offs;
  const heap: FloatArray = f64 ? a.heap64 : a.heap32;
  put(heap, shift, pg, g, len);
  put(heap, shift, py, y, len);
  (f64 ? a.w.softmaxRowsBackwardF64 : a.w.softmaxRowsBackwardF32)(pg, py, pg, rows, size);
  get(heap, shift, pg, dx, len);
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
