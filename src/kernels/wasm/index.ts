/**
 * WebAssembly SIMD GEMM: `C = op(A) @ op(B)` for float32 and float64, built from
 * `asm/gemm.ts` by `scripts/build-wasm.js` into `build/gemm.wasm` at the package root.
 *
 * The module is compiled and instantiated synchronously on first use. Inputs live in JS typed
 * arrays, so each call copies A and B (and C when accumulating) into the module's linear
 * memory with one `TypedArray.set` each, runs the packed, register-blocked kernel there, and
 * copies C back. The linear memory is reused across calls and only grows when a call needs more.
 *
 * @packageDocumentation
 */

import * as fs from 'node:fs';
import * as path from 'node:path';

import { DTypeError, ShapeError, ValueError } from '../../errors';

/** A float typed array: the two dtypes the GEMM supports. */
export type FloatArray = Float32Array | Float64Array;

/** Options of {@link gemm}. Every flag defaults to off. */
export interface GemmOptions<T extends FloatArray = FloatArray> {
  /** Use Aᵀ: `a` is stored `[k, m]` instead of `[m, k]`. */
  transA?: boolean;
  /** Use Bᵀ: `b` is stored `[n, k]` instead of `[k, n]`. */
  transB?: boolean;
  /** Add the product to the existing contents of `c` (beta = 1) instead of overwriting (beta = 0). */
  accumulate?: boolean;
  /** Length-`n` vector added to every row of the result. */
  bias?: T | null;
  /** Apply `max(x, 0)` to the final result (after accumulate and bias). */
  relu?: boolean;
}

/**
 * The few members of the WebAssembly JS API used here, typed locally: the project's tsconfig
 * has lib ES2022 without "dom", so the global WebAssembly namespace is not declared.
 */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

interface GemmExports {
  memory: WasmMemory;
  heapBase(): number;
  scratchBytesF32(m: number, n: number): number;
  scratchBytesF64(m: number, n: number): number;
  gemmF32: GemmFn;
  gemmF64: GemmFn;
}

type GemmFn = (
  m: number, n: number, k: number, a: number, b: number, c: number,
  transA: number, transB: number, accumulate: number, bias: number, relu: number, scratch: number,
) => void;

/** Loaded module state; `null` once loading failed, `undefined` before the first attempt. */
let wasm: GemmExports | null | undefined;
/** Cached views of the linear memory; rebuilt after `memory.grow` detaches the old buffer. */
let heap32: Float32Array = new Float32Array(0);
let heap64: Float64Array = new Float64Array(0);
/** First byte the loader may use (above the module's static data), 64-byte aligned. */
let base = 0;

const PAGE = 65536;

/**
 * Candidate locations of gemm.wasm: next to this file (if a build step copies it there), then
 * `build/gemm.wasm` in the nearest ancestor directory whose package.json is named tapegrad.
 * Walking up makes the same code work from src/ (ts-node, jest) and from dist/ (compiled).
 */
function candidatePaths(): string[] {
  const out = [path.join(__dirname, 'gemm.wasm')];
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    try {
      if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'tapegrad') {
        out.push(path.join(dir, 'build', 'gemm.wasm'));
        break;
      }
    } catch {
      // unreadable or malformed package.json: keep walking up
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return out;
}

/** Loads and instantiates the module once; returns null (never throws) if that is impossible. */
function load(): GemmExports | null {
  if (wasm !== undefined) return wasm;
  wasm = null;
  try {
    const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    const file = candidatePaths().find((p) => fs.existsSync(p));
    if (file === undefined || api === undefined) return null;
    // Synchronous compile: fine for a ~5 KB module. Throws a CompileError if the engine lacks
    // SIMD128, which is exactly the "unavailable" case.
    const module = new api.Module(fs.readFileSync(file));
    const exports = new api.Instance(module, {}).exports as GemmExports;
    base = (exports.heapBase() + 63) & ~63;
    wasm = exports;
    refreshViews();
  } catch {
    wasm = null;
  }
  return wasm;
}

function refreshViews(): void {
  const buf = (wasm as GemmExports).memory.buffer;
  if (heap32.buffer !== buf) {
    heap32 = new Float32Array(buf);
    heap64 = new Float64Array(buf);
  }
}

/** Grows the linear memory (never shrinks) so that bytes [0, end) are addressable. */
function ensureMemory(w: GemmExports, end: number): void {
  const have = w.memory.buffer.byteLength;
  if (end <= have) return;
  // Grow by at least 1/4 of the current size so a slowly increasing workload regrows rarely.
  const want = Math.max(end, have + (have >> 2));
  const pages = Math.ceil((want - have) / PAGE);
  try {
    w.memory.grow(pages);
  } catch {
    w.memory.grow(Math.ceil((end - have) / PAGE)); // retry with the minimum; throws RangeError if still too big
  }
  refreshViews();
}

const align64 = (x: number): number => Math.ceil(x / 64) * 64;

/**
 * Whether the WebAssembly GEMM can run here: the .wasm file was found and the engine
 * supports SIMD128. Never throws; the first call loads the module.
 *
 * @returns true if {@link gemm} is usable.
 * @example
 * ```ts
 * const matmul = wasmAvailable() ? gemm : myJsGemm;
 * ```
 */
export function wasmAvailable(): boolean {
  return load() !== null;
}

function checkDim(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
    throw new ValueError(`gemm: ${name} must be a non-negative integer, got ${v}`);
  }
}

function checkDtype(name: string, arr: FloatArray, f64: boolean): void {
  if (!(f64 ? arr instanceof Float64Array : arr instanceof Float32Array)) {
    const got = (arr as object)?.constructor?.name ?? typeof arr;
    throw new DTypeError(`gemm: ${name} must have dtype '${f64 ? 'float64' : 'float32'}' like a, got ${got}`);
  }
}

function checkLen(name: string, arr: FloatArray, need: number, shape: string): void {
  if (arr.length < need) {
    throw new ShapeError(`gemm: ${name} must hold ${shape} = ${need} elements, got ${arr.length}`);
  }
}

/**
 * General matrix multiply on row-major, tightly packed matrices:
 * `C[m, n] = op(A)[m, k] @ op(B)[k, n]` (`+ C` if `accumulate`) (`+ bias` per row)
 * (then `ReLU` if `relu`), where `op` transposes when `transA` / `transB` is set.
 * All arrays must share one dtype; float64 is computed in float64, float32 in float32.
 * Transposition is handled while packing, so no transposed copy is ever made. Because A and B
 * are copied into wasm memory before C is written, `c` may alias `a` or `b`. Results are
 * deterministic (the summation order depends only on m, n, k and the options).
 *
 * @param a - `[m, k]`, or `[k, m]` when `transA`.
 * @param b - `[k, n]`, or `[n, k]` when `transB`.
 * @param c - output `[m, n]`; read first only when `accumulate`.
 * @param m - rows of the result.
 * @param n - columns of the result.
 * @param k - inner dimension (may be 0: the product is then all zeros).
 * @param opts - {@link GemmOptions}: `transA`, `transB`, `accumulate`, `bias`, `relu`.
 * @throws Error if {@link wasmAvailable} is false; DTypeError on mixed dtypes; ShapeError if
 *   an array is too short; ValueError if m, n or k is not a non-negative integer; RangeError
 *   if the wasm memory cannot grow to hold the operands (wasm32 caps it at 4 GiB).
 * @example
 * ```ts
 * // dW += Xᵀ @ dY for a dense layer, without materializing Xᵀ
 * gemm(x, dy, dw, inFeatures, outFeatures, batch, { transA: true, accumulate: true });
 * ```
 */
export function gemm<T extends FloatArray>(
  a: T, b: T, c: T, m: number, n: number, k: number, opts: GemmOptions<T> = {},
): void {
  const w = load();
  if (w === null) throw new Error('gemm: the WebAssembly GEMM is unavailable (build/gemm.wasm missing or no SIMD)');
  checkDim('m', m);
  checkDim('n', n);
  checkDim('k', k);
  const f64 = a instanceof Float64Array;
  if (!f64 && !(a instanceof Float32Array)) {
    throw new DTypeError(`gemm: a must be a Float32Array or Float64Array, got ${Object.prototype.toString.call(a)}`);
  }
  const bias = opts.bias ?? null;
  checkDtype('b', b, f64);
  checkDtype('c', c, f64);
  if (bias !== null) checkDtype('bias', bias, f64);
  const transA = opts.transA === true;
  const transB = opts.transB === true;
  const accumulate = opts.accumulate === true;
  const relu = opts.relu === true;
  checkLen('a', a, m * k, transA ? `[k, m] = [${k}, ${m}]` : `[m, k] = [${m}, ${k}]`);
  checkLen('b', b, k * n, transB ? `[n, k] = [${n}, ${k}]` : `[k, n] = [${k}, ${n}]`);
  checkLen('c', c, m * n, `[m, n] = [${m}, ${n}]`);
  if (bias !== null) checkLen('bias', bias, n, `[n] = [${n}]`);
  if (m === 0 || n === 0) return;

  // Layout above the module's static data: A | B | C | bias (+32 B slack for the kernel's
  // full-width loads) | scratch for packed panels. Offsets are 64-byte aligned.
  const sz = f64 ? 8 : 4;
  const offA = base;
  const offB = offA + align64(m * k * sz);
  const offC = offB + align64(k * n * sz);
  const offBias = offC + align64(m * n * sz);
  const offScratch = offBias + (bias === null ? 0 : align64(n * sz + 32));
  const scratch = f64 ? w.scratchBytesF64(m, n) : w.scratchBytesF32(m, n);
  ensureMemory(w, offScratch + scratch);

  const heap: FloatArray = f64 ? heap64 : heap32;
  const shift = f64 ? 3 : 2;
  heap.set(a.length === m * k ? a : a.subarray(0, m * k), offA >>> shift);
  heap.set(b.length === k * n ? b : b.subarray(0, k * n), offB >>> shift);
  if (accumulate) heap.set(c.length === m * n ? c : c.subarray(0, m * n), offC >>> shift);
  if (bias !== null) heap.set(bias.length === n ? bias : bias.subarray(0, n), offBias >>> shift);

  (f64 ? w.gemmF64 : w.gemmF32)(
    m, n, k, offA, offB, offC,
    +transA, +transB, +accumulate, bias === null ? 0 : offBias, +relu, offScratch,
  );
  c.set(heap.subarray(offC >>> shift, (offC >>> shift) + m * n));
}
