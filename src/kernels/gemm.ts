/**
 * General matrix multiply on row-major typed arrays, the primitive under affine and matmul.
 * The three forms the forward and backward passes need are computed in place, without
 * materializing a transposed copy.
 *
 * @packageDocumentation
 */
import type { FloatArray } from '../dtype';
import { DTypeError, ShapeError, ValueError } from '../errors';
import { checkOptions, optionalBoolean } from '../options';
import { describe } from '../shape';
import type { GemmOptions } from './types';
import { gemmUnchecked as gemmWasm, wasmAvailable } from './wasm';

export type { GemmOptions };

/** The checked options of one call, read once from the user's object's own keys. */
interface GemmFlags {
  bias: FloatArray | null;
  transA: boolean;
  transB: boolean;
  accumulate: boolean;
  relu: boolean;
}

const GEMM_OPTIONS = ['bias', 'transA', 'transB', 'accumulate', 'relu'] as const;

/**
 * Checks gemm's arguments (O(1)): float arrays of one dtype, long enough, integer sizes, and
 * an options object with only known keys and boolean flags.
 */
function checkGemm(fn: string, a: unknown, b: unknown, c: unknown, m: unknown, n: unknown, k: unknown, opts: unknown): GemmFlags {
  checkSize(fn, 'm', m);
  checkSize(fn, 'n', n);
  checkSize(fn, 'k', k);
  if (!(a instanceof Float64Array) && !(a instanceof Float32Array)) {
    throw new DTypeError(`${fn}: a must be a Float64Array or Float32Array, got ${describe(a)}`);
  }
  const o = checkOptions(fn, opts, GEMM_OPTIONS);
  const flags: GemmFlags = {
    bias: (o.bias ?? null) as FloatArray | null,
    transA: optionalBoolean(fn, 'opts.transA', o.transA, false),
    transB: optionalBoolean(fn, 'opts.transB', o.transB, false),
    accumulate: optionalBoolean(fn, 'opts.accumulate', o.accumulate, false),
    relu: optionalBoolean(fn, 'opts.relu', o.relu, false),
  };
  const mm = m as number, nn = n as number, kk = k as number;
  checkOperand(fn, 'a', a, a, mm * kk, mm, nn, kk);
  checkOperand(fn, 'b', b, a, kk * nn, mm, nn, kk);
  checkOperand(fn, 'c', c, a, mm * nn, mm, nn, kk);
  if (flags.bias !== null) checkOperand(fn, 'opts.bias', flags.bias, a, nn, mm, nn, kk);
  return flags;
}

function checkSize(fn: string, name: string, v: unknown): void {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new ValueError(`${fn}: ${name} must be a non-negative integer, got ${describe(v)}`);
}

function checkOperand(
  fn: string, name: string, v: unknown, a: FloatArray, need: number, m: number, n: number, k: number,
): void {
  const f64 = a instanceof Float64Array;
  if (!(f64 ? v instanceof Float64Array : v instanceof Float32Array)) {
    throw new DTypeError(`${fn}: ${name} must be a ${f64 ? 'Float64Array' : 'Float32Array'} like a, got ${describe(v)}`);
  }
  if ((v as FloatArray).length < need) {
    throw new ShapeError(
      `${fn}: ${name} must hold at least ${need} elements for m = ${m}, n = ${n}, k = ${k}, got ${(v as FloatArray).length}`,
    );
  }
}

/** Below this many multiply-adds the plain TypeScript loops beat the copy into WebAssembly. */
const WASM_MIN_WORK = 4096;

/** Which GEMM runs: by size ('auto', the default), always WebAssembly, or always TypeScript. */
export type GemmBackend = 'auto' | 'wasm' | 'js';
let backend: GemmBackend = 'auto';

/**
 * Chooses the GEMM implementation: 'auto' (WebAssembly SIMD for large products when the module
 * is built and the engine has SIMD, TypeScript loops otherwise), 'wasm' (WebAssembly whenever
 * available) or 'js' (the TypeScript reference). All agree up to rounding; the tests run the
 * kernels under each.
 *
 * @param mode - the backend.
 * @returns the previous setting.
 * @example
 * ```ts
 * const prev = setGemmBackend('js'); try { ... } finally { setGemmBackend(prev); }
 * ```
 */
export function setGemmBackend(mode: GemmBackend): GemmBackend {
  if (mode !== 'auto' && mode !== 'wasm' && mode !== 'js') {
    throw new ValueError(`setGemmBackend: mode must be 'auto', 'wasm' or 'js', got ${describe(mode)}`);
  }
  const prev = backend;
  backend = mode;
  return prev;
}

/**
 * C[M, N] = op(A) @ op(B) (+ bias per row), optionally accumulated into C. Large products
 * run in the WebAssembly SIMD kernel (packed, register-blocked; see asm/gemm.ts), small ones
 * and the fallback in {@link gemmReference}.
 *
 * Shape: op(A) is [M, K] (A is [M, K], or [K, M] with `transA`); op(B) is [K, N] (B is
 * [K, N], or [N, K] with `transB`); C is [M, N].
 *
 * @param a - A's values.
 * @param b - B's values.
 * @param c - C, written (or accumulated into).
 * @param m - rows of C.
 * @param n - columns of C.
 * @param k - the inner dimension.
 * @param opts - {@link GemmOptions}: transA, transB, accumulate, relu (all default false), bias (none).
 * @throws DTypeError when the arrays are not one float dtype; ShapeError when one is too short;
 *   ValueError when m, n or k is not a non-negative integer or opts has an unknown key;
 *   ArgumentError when opts is not an object or a flag is not a boolean.
 * @example
 * ```ts
 * const c = new Float64Array(4);
 * gemm(Float64Array.of(1, 2, 3, 4), Float64Array.of(1, 0, 0, 1), c, 2, 2, 2); // c = [1, 2, 3, 4]
 * ```
 */
export function gemm(
  a: FloatArray,
  b: FloatArray,
  c: FloatArray,
  m: number,
  n: number,
  k: number,
  opts: GemmOptions = {},
): void {
  const flags = checkGemm('gemm', a, b, c, m, n, k, opts);
  // The WebAssembly GEMM declines (returns false, C untouched) only when its memory cannot grow
  // to hold even a small tile of the product: the loops below then give the same result.
  if (backend !== 'js' && (backend === 'wasm' || m * n * k >= WASM_MIN_WORK) && wasmAvailable() && gemmWasm(a, b, c, m, n, k, flags)) {
    return;
  }
  gemmLoops(a, b, c, m, n, k, flags);
  epilogue(c, flags, m, n);
}

/** The flags of the library's own products (no bias, no accumulate, no ReLU), by transposes. */
const PLAIN: readonly GemmFlags[] = [
  { bias: null, transA: false, transB: false, accumulate: false, relu: false },
  { bias: null, transA: false, transB: true, accumulate: false, relu: false },
  { bias: null, transA: true, transB: false, accumulate: false, relu: false },
];

/**
 * {@link gemm} for the library's own kernels, whose callers have checked the operands' dtypes
 * and lengths already: no argument checks, no options object to read. `bias` (or null) is
 * added per row; `trans` is 0 (A @ B), 1 (A @ Bᵀ) or 2 (Aᵀ @ B). Same results as gemm.
 *
 * @internal
 * @param a - A's values.
 * @param b - B's values.
 * @param c - C, overwritten.
 * @param m - rows of C.
 * @param n - columns of C.
 * @param k - the inner dimension.
 * @param bias - added to every row, or null.
 * @param trans - 0, 1 (transB) or 2 (transA).
 * @example
 * ```ts
 * gemmChecked(x, w, out, n, m, d, b, 0); // out = x @ w + b, after the caller checked shapes
 * ```
 */
export function gemmChecked<T extends FloatArray>(
  a: T, b: T, c: T, m: number, n: number, k: number, bias: T | null, trans: 0 | 1 | 2,
): void {
  const flags = bias === null ? PLAIN[trans] : { ...PLAIN[trans], bias };
  if (backend !== 'js' && (backend === 'wasm' || m * n * k >= WASM_MIN_WORK) && wasmAvailable() && gemmWasm(a, b, c, m, n, k, flags)) {
    return;
  }
  gemmLoops(a, b, c, m, n, k, flags);
  epilogue(c, flags, m, n);
}

/** C[i, j] += bias[j] for every row (nothing without a bias), then max(C, 0) with `relu`. */
function epilogue(c: FloatArray, flags: GemmFlags, m: number, n: number): void {
  const bias = flags.bias;
  if (bias) for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) c[i * n + j] += bias[j];
  // max(x, +0) as WebAssembly's f32x4.max / f64x2.max computes it: NaN stays NaN, -0 becomes +0.
  if (flags.relu) for (let i = 0; i < m * n; i++) if (!(c[i] > 0) && c[i] === c[i]) c[i] = 0;
}

/**
 * The readable reference GEMM in plain TypeScript: C[M, N] = op(A) @ op(B) (+ bias per row),
 * optionally accumulated into C. All arrays are tight row-major and of one dtype.
 *
 * Shape: op(A) is [M, K] (A is [M, K], or [K, M] with `transA`); op(B) is [K, N] (B is
 * [K, N], or [N, K] with `transB`); C is [M, N].
 *
 * @param a - A's values.
 * @param b - B's values.
 * @param c - C, written (or accumulated into).
 * @param m - rows of C.
 * @param n - columns of C.
 * @param k - the inner dimension.
 * @param opts - {@link GemmOptions}: transA, transB, accumulate, relu (all default false), bias (none).
 * @throws as {@link gemm}.
 * @example
 * ```ts
 * const c = new Float64Array(4);
 * gemmReference(Float64Array.of(1, 2, 3, 4), Float64Array.of(1, 0, 0, 1), c, 2, 2, 2);
 * ```
 */
export function gemmReference(
  a: FloatArray,
  b: FloatArray,
  c: FloatArray,
  m: number,
  n: number,
  k: number,
  opts: GemmOptions = {},
): void {
  const flags = checkGemm('gemmReference', a, b, c, m, n, k, opts);
  gemmLoops(a, b, c, m, n, k, flags);
  epilogue(c, flags, m, n);
}

/** The reference loops, arguments already checked. */
function gemmLoops(a: FloatArray, b: FloatArray, c: FloatArray, m: number, n: number, k: number, opts: GemmFlags): void {
  const { transA, transB } = opts;
  if (!opts.accumulate) c.fill(0);
  if (transB && !transA) {
    // C[i, j] = sum_k A[i, k] * B[j, k]: both rows contiguous, a dot product per element.
    for (let i = 0; i < m; i++) {
      const ai = i * k;
      for (let j = 0; j < n; j++) {
        const bj = j * k;
        let s = 0;
        for (let p = 0; p < k; p++) s += a[ai + p] * b[bj + p];
        c[i * n + j] += s;
      }
    }
    return;
  }
  if (transA && transB) {
    // C[i, j] = sum_k A[k, i] * B[j, k]. Rare; kept simple.
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[p * m + i] * b[j * k + p];
        c[i * n + j] += s;
      }
    }
    return;
  }
  // A @ B and Aᵀ @ B: stream rows of B into rows of C (axpy), contiguous innermost loop.
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const aip = transA ? a[p * m + i] : a[i * k + p];
      const bp = p * n;
      for (let j = 0; j < n; j++) c[ci + j] += aip * b[bp + j];
    }
  }
}
