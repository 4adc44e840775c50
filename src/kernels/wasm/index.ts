/**
 * WebAssembly SIMD GEMM: `C = op(A) @ op(B)` for float32 and float64, built from
 * `asm/gemm.ts` by `scripts/build-wasm.js` into `build/gemm*.wasm` at the package root.
 *
 * The module runs on the kernels' one memory (runtime.ts). Operands that live there (the
 * library's tensors, where shared memory exists) are used in place; others are copied in (and C
 * back) around the call, into temporary regions the runtime's allocator reuses.
 *
 * Two builds exist ({@link gemmVariant}): `gemm-fma.wasm` uses relaxed-simd fused multiply-add
 * and is chosen where the engine runs it; `gemm.wasm` (plain SIMD128) otherwise, or when the
 * environment variable `TAPEGRAD_FMA` is `0`.
 *
 * Large products (m·n·k >= 2^22 by default, half that in float64) run on two threads: a helper
 * worker runs `build/gemm-mt.wasm`, the same code on a shared memory, and computes part of C
 * (see threads.ts and {@link setGemmThreads}). Results are bit-identical to one thread.
 *
 * @packageDocumentation
 */

import { DTypeError, ValueError } from '../../errors';
import type { FloatArray } from '../../dtype';
import { checkOptions, optionalBoolean } from '../../options';
import { platform, preloadWasm } from '../../platform';
import type { GemmOptions } from '../types';
import { gemmVariant, type GemmVariant } from './variant';
import { checkArray, checkDim, frame, heapStats, memoryKey, moduleNames, runtime, setMemoryLimit } from './runtime';
import { configure, configuredThreads, runThreaded, stats, threadsActive, useThreads, whenReady } from './threads';

export { gemmVariant, heapStats, type FloatArray, type GemmOptions, type GemmVariant };

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
  return runtime()?.gemm != null;
}

/**
 * General matrix multiply on row-major, tightly packed matrices:
 * `C[m, n] = op(A)[m, k] @ op(B)[k, n]` (`+ C` if `accumulate`) (`+ bias` per row)
 * (then `ReLU` if `relu`), where `op` transposes when `transA` / `transB` is set.
 * All arrays must share one dtype; float64 is computed in float64, float32 in float32.
 * Transposition is handled while packing, so no transposed copy is ever made. Because A and B
 * are read in place or copied before C is written (an output overlapping an input gets its own
 * region), `c` may alias `a` or `b`. Results are
 * deterministic (the summation order depends only on m, n, k and the options; the rounding on
 * the build, see {@link gemmVariant}), and bit-identical whether the product runs on one
 * thread or two ({@link setGemmThreads}).
 *
 * @param a - `[m, k]`, or `[k, m]` when `transA`.
 * @param b - `[k, n]`, or `[n, k]` when `transB`.
 * @param c - output `[m, n]`; read first only when `accumulate`.
 * @param m - rows of the result.
 * @param n - columns of the result.
 * @param k - inner dimension (may be 0: the product is then all zeros).
 * @param opts - {@link GemmOptions}: `transA`, `transB`, `accumulate`, `bias`, `relu`.
 * @throws Error if {@link wasmAvailable} is false; DTypeError on mixed dtypes; ShapeError if
 *   an array is too short; ValueError if m, n or k is not a non-negative integer, or if the
 *   wasm memory cannot grow to hold even a small tile of the product (a product too large to
 *   fit at once, wasm32 caps the memory at 4 GiB, runs in tiles), or if opts has an unknown
 *   key; ArgumentError if opts is not an object or a flag not a boolean.
 * @example
 * ```ts
 * // dW += Xᵀ @ dY for a dense layer, without materializing Xᵀ
 * gemm(x, dy, dw, inFeatures, outFeatures, batch, { transA: true, accumulate: true });
 * ```
 */
export function gemm<T extends FloatArray>(
  a: T, b: T, c: T, m: number, n: number, k: number, opts?: GemmOptions<T>,
): void {
  if (!wasmAvailable()) throw new Error('gemm: the WebAssembly GEMM is unavailable (build/gemm.wasm missing or no SIMD)');
  checkDim('gemm', 'm', m);
  checkDim('gemm', 'n', n);
  checkDim('gemm', 'k', k);
  const f64 = a instanceof Float64Array;
  if (!f64 && !(a instanceof Float32Array)) {
    throw new DTypeError(`gemm: a must be a Float32Array or Float64Array, got ${Object.prototype.toString.call(a)}`);
  }
  // Own keys only, none unknown, flags boolean: the product runs on this checked copy.
  const o = checkOptions('gemm', opts, ['transA', 'transB', 'accumulate', 'bias', 'relu']);
  const checked: GemmOptions<T> = {
    bias: (o.bias ?? null) as T | null,
    transA: optionalBoolean('gemm', 'opts.transA', o.transA, false),
    transB: optionalBoolean('gemm', 'opts.transB', o.transB, false),
    accumulate: optionalBoolean('gemm', 'opts.accumulate', o.accumulate, false),
    relu: optionalBoolean('gemm', 'opts.relu', o.relu, false),
  };
  opts = checked;
  const bias = checked.bias ?? null;
  checkArray('gemm', f64, 'a', a, m * k, opts.transA === true ? `[k, m] = [${k}, ${m}]` : `[m, k] = [${m}, ${k}]`);
  checkArray('gemm', f64, 'b', b, k * n, opts.transB === true ? `[n, k] = [${n}, ${k}]` : `[k, n] = [${k}, ${n}]`);
  checkArray('gemm', f64, 'c', c, m * n, `[m, n] = [${m}, ${n}]`);
  if (bias !== null) checkArray('gemm', f64, 'opts.bias', bias, n, `[n] = [${n}]`);
  if (!gemmUnchecked(a, b, c, m, n, k, opts)) {
    throw new ValueError(
      `gemm: the WebAssembly memory must grow to hold at least a ${MIN_TILE} x ${MIN_TILE} tile of the product, got no room (the engine refused to grow it)`,
    );
  }
}

/**
 * {@link gemm} without its argument checks, for callers that have made the same checks
 * already (src/kernels/gemm.ts): the per-call cost matters for small layers, where a
 * 64 x 64 x 64 product takes about 20 µs in all.
 *
 * A product whose operands do not fit in the module's memory at once (wasm32 caps it at 4 GiB,
 * and the engine may refuse to grow it sooner) runs as a sequence of tiles that do (see
 * {@link gemmTiled}); the result is the same up to rounding (the inner sums are split at tile
 * boundaries). Only when the memory cannot hold even a small tile does it give up.
 *
 * @param a - as {@link gemm}; the module must be available ({@link wasmAvailable}).
 * @param b - as {@link gemm}.
 * @param c - as {@link gemm}.
 * @param m - as {@link gemm}.
 * @param n - as {@link gemm}.
 * @param k - as {@link gemm}.
 * @param opts - as {@link gemm}.
 * @returns true when C holds the result; false, with C untouched, when the WebAssembly memory
 *   cannot hold even a small tile (the caller then computes the product another way).
 * @example
 * ```ts
 * if (!(wasmAvailable() && gemmUnchecked(x, w, out, n, m, d, { bias }))) loops(x, w, out, n, m, d, bias);
 * ```
 */
export function gemmUnchecked<T extends FloatArray>(
  a: T, b: T, c: T, m: number, n: number, k: number, opts: GemmOptions<T>,
): boolean {
  if (m === 0 || n === 0) return true;
  const f64 = a instanceof Float64Array;
  // The library's own callers pass their flags object whole (every key set, booleans): no copy.
  const call: Flags<T> = isFlags(opts) ? opts : {
    bias: opts.bias ?? null,
    transA: opts.transA === true,
    transB: opts.transB === true,
    accumulate: opts.accumulate === true,
    relu: opts.relu === true,
  };
  if (runWhole(a, b, c, m, n, k, f64, call)) return true;
  return gemmTiled(a, b, c, m, n, k, f64, call);
}

/** Whether `o` already has the shape of {@link Flags}: every key set, the flags booleans. */
function isFlags<T extends FloatArray>(o: GemmOptions<T>): o is Flags<T> {
  return o.bias !== undefined && typeof o.transA === 'boolean' && typeof o.transB === 'boolean' &&
    typeof o.accumulate === 'boolean' && typeof o.relu === 'boolean';
}

/** The options of one product, read once. */
interface Flags<T extends FloatArray> {
  bias: T | null;
  transA: boolean;
  transB: boolean;
  accumulate: boolean;
  relu: boolean;
}

/**
 * Caps the temporary wasm memory one call may take (copies of operands that are not resident,
 * and scratch) at `bytes` (Infinity: no cap), so that tests can force the tiled path, and the
 * fallback beyond it, on small products. Not for production use.
 *
 * @internal
 * @param bytes - the cap in bytes, or Infinity.
 * @returns the previous cap.
 * @example
 * ```ts
 * const prev = setGemmMemoryLimit(1 << 20); try { ... } finally { setGemmMemoryLimit(prev); }
 * ```
 */
export function setGemmMemoryLimit(bytes: number): number {
  return setMemoryLimit(bytes);
}

/** Number of products that ran in tiles since the module loaded. */
let tiledProducts = 0;

/**
 * How many products ran in tiles ({@link gemmUnchecked}) since the module loaded, so tests can
 * tell the tiled path ran.
 *
 * @internal
 * @example
 * ```ts
 * const before = gemmTiledCount(); gemm(...); gemmTiledCount() > before;
 * ```
 */
export function gemmTiledCount(): number {
  return tiledProducts;
}

/**
 * Runs the whole product in wasm memory: resident operands in place, others copied in (and C
 * back); on two threads when large and available. False, with C untouched, when the operands
 * do not fit.
 */
function runWhole<T extends FloatArray>(
  a: T, b: T, c: T, m: number, n: number, k: number, f64: boolean, o: Flags<T>,
): boolean {
  const w = runtime()!.gemm!;
  const { bias, transA, transB, accumulate, relu } = o;
  const f = frame(f64);
  const pa = f.input(a, m * k);
  const pb = f.input(b, k * n);
  const pbias = bias === null ? 0 : f.input(bias, n);
  const pc = f.output(c, m * n, accumulate);
  if (!f.ok) {
    f.end(false);
    return false;
  }
  const call = {
    f64, m, n, k, a: pa, b: pb, c: pc,
    transA: +transA, transB: +transB, accumulate: +accumulate, bias: pbias, relu: +relu,
  };
  if (useThreads(m, n, k, f64) && runThreaded(call, f)) {
    f.end();
    return true;
  }
  const scratch = f.scratch(f64 ? w.scratchBytesF64(m, n) : w.scratchBytesF32(m, n));
  if (!f.ok) {
    f.end(false);
    return false;
  }
  (f64 ? w.gemmF64 : w.gemmF32)(m, n, k, pa, pb, pc, +transA, +transB, +accumulate, pbias, +relu, scratch);
  f.end();
  return true;
}

/**
 * Tiles of up to this many bytes of wasm memory when a product does not fit whole: large
 * enough that the copies are a small part of the time (each tile does t^3 multiply-adds for
 * t^2 copied elements), small enough not to pin much memory (the memory never shrinks).
 */
const TILE_BYTES = 256 * 1024 * 1024;

/** Smallest tile side worth trying before giving up. */
const MIN_TILE = 16;

/**
 * The product as a sequence of tiles that each fit in wasm memory: for each block of C's
 * rows and columns, the partial products over blocks of the inner dimension are accumulated
 * into that block of C (bias and ReLU applied with the last one). Every tile copies its
 * blocks of A and B (rows of the stored matrices, so the transposes carry over) into
 * contiguous arrays and runs through {@link runWhole}, on two threads when they are up.
 *
 * @returns false, with C untouched, when not even a MIN_TILE tile fits.
 */
function gemmTiled<T extends FloatArray>(
  a: T, b: T, c: T, m: number, n: number, k: number, f64: boolean, o: Flags<T>,
): boolean {
  const sz = f64 ? 8 : 4;
  const w = runtime()!.gemm!;
  // The largest tile side (balanced over each dimension's blocks) that fits: probe by
  // allocating the tile's regions (and freeing them); halve on failure.
  let side = Math.min(Math.max(m, n, k), Math.floor(Math.sqrt(TILE_BYTES / sz / 4)));
  let tm = 0, tn = 0, tk = 0;
  for (;;) {
    if (side < MIN_TILE && side < Math.max(m, n, k)) return false;
    tm = balanced(m, side);
    tn = balanced(n, side);
    tk = balanced(k, side);
    const f = frame(f64);
    f.scratch((tm * tk + tk * tn + tm * tn + tn + 16) * sz);
    f.scratch(f64 ? w.scratchBytesF64(tm, tn) : w.scratchBytesF32(tm, tn));
    const ok = f.ok;
    f.end(false);
    if (ok) break;
    if (side <= 1) return false;
    side = Math.floor(side / 2);
  }
  // C is written block by block while A and B are still being read: when C shares memory
  // with one of them (allowed, as the whole-product path copies first), read from a copy.
  tiledProducts++;
  if (overlaps(a, c)) a = a.slice() as T;
  if (overlaps(b, c)) b = b.slice() as T;
  const make = (len: number): T => (f64 ? new Float64Array(len) : new Float32Array(len)) as T;
  const ta = make(tm * tk);
  const tb = make(tk * tn);
  const tc = make(tm * tn);
  for (let i0 = 0; i0 < m; i0 += tm) {
    const mb = Math.min(tm, m - i0);
    for (let j0 = 0; j0 < n; j0 += tn) {
      const nb = Math.min(tn, n - j0);
      const cBlock = tc.subarray(0, mb * nb) as T;
      if (o.accumulate) copyBlock(c, n, i0, j0, mb, nb, cBlock);
      for (let p0 = 0; p0 < k; p0 += tk) {
        const kb = Math.min(tk, k - p0);
        const last = p0 + kb >= k;
        // The stored blocks: op(A)[i0.., p0..] is A[i0.., p0..] or, transposed, A[p0.., i0..].
        const aBlock = ta.subarray(0, mb * kb) as T;
        if (o.transA) copyBlock(a, m, p0, i0, kb, mb, aBlock);
        else copyBlock(a, k, i0, p0, mb, kb, aBlock);
        const bBlock = tb.subarray(0, kb * nb) as T;
        if (o.transB) copyBlock(b, k, j0, p0, nb, kb, bBlock);
        else copyBlock(b, n, p0, j0, kb, nb, bBlock);
        const tile: Flags<T> = {
          bias: last && o.bias !== null ? (o.bias.subarray(j0, j0 + nb) as T) : null,
          transA: o.transA,
          transB: o.transB,
          accumulate: o.accumulate || p0 > 0,
          relu: last && o.relu,
        };
        if (!runWhole(aBlock, bBlock, cBlock, mb, nb, kb, f64, tile)) {
          throw new ValueError(`gemm: a ${mb} x ${nb} x ${kb} tile no longer fits in the WebAssembly memory, got ${runtime()!.memory.buffer.byteLength} bytes`);
        }
      }
      if (k === 0) {
        // No inner blocks: C = bias (+ C), then ReLU, as the kernel defines an empty sum.
        runWhole(ta.subarray(0, 0) as T, tb.subarray(0, 0) as T, cBlock, mb, nb, 0, f64, {
          ...o, bias: o.bias === null ? null : (o.bias.subarray(j0, j0 + nb) as T),
        });
      }
      pasteBlock(cBlock, c, n, i0, j0, mb, nb);
    }
  }
  return true;
}

/** Whether two arrays share at least one byte of memory. */
function overlaps(x: FloatArray, y: FloatArray): boolean {
  return memoryKey(x) === memoryKey(y) && x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;
}

/** A block size for `d` with at most `side` per block, the blocks as equal as possible. */
function balanced(d: number, side: number): number {
  if (d <= side) return Math.max(d, 1);
  const blocks = Math.ceil(d / side);
  return Math.ceil(d / blocks);
}

/** Copies rows r0..r0+rows, columns c0..c0+cols of a row-major matrix with `stride` columns into `dst` (tight). */
function copyBlock(src: FloatArray, stride: number, r0: number, c0: number, rows: number, cols: number, dst: FloatArray): void {
  for (let r = 0; r < rows; r++) {
    const from = (r0 + r) * stride + c0;
    dst.set(src.subarray(from, from + cols), r * cols);
  }
}

/** Writes the tight `rows` x `cols` block back into rows r0.., columns c0.. of `dst`. */
function pasteBlock(src: FloatArray, dst: FloatArray, stride: number, r0: number, c0: number, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) dst.set(src.subarray(r * cols, (r + 1) * cols), (r0 + r) * stride + c0);
}

/**
 * Sets how many threads large GEMMs use: 2 splits each product of at least `minWork`
 * float32-equivalent multiply-adds (m·n·k, doubled for float64) between the calling thread and
 * one helper worker thread sharing the module's memory; 1 runs everything on the calling
 * thread. Results are bit-identical either way, so this is purely a speed setting.
 *
 * The default is 2 when `os.availableParallelism() >= 2` and the environment variable
 * `TAPEGRAD_THREADS` is not `1` (in a browser: `navigator.hardwareConcurrency >= 2` on a
 * cross-origin-isolated page), else 1. An explicit `setGemmThreads(2)` overrides both. With 2,
 * the worker is started right away (it takes ~50-100 ms to boot; until then GEMMs run on one
 * thread). The worker never keeps the process alive and retires after 10 s without work. If
 * shared memory, wasm threads, build/gemm-mt.wasm or the worker are unavailable (a browser page
 * that is not cross-origin isolated: `gemmThreads().available` is false), every GEMM runs
 * single-threaded.
 *
 * @param n - 1 or 2.
 * @param minWork - optional new threshold (default 2^22, where two threads break even on this
 *   machine class); mainly for tests and benchmarks.
 * @throws ValueError if n is not 1 or 2, or minWork is not a non-negative number.
 * @example
 * ```ts
 * setGemmThreads(1); // e.g. when the process already runs one worker per core
 * ```
 */
export function setGemmThreads(n: 1 | 2, minWork?: number): void {
  if (n !== 1 && n !== 2) throw new ValueError(`setGemmThreads: n must be 1 or 2, got ${String(n)}`);
  if (minWork !== undefined && !(typeof minWork === 'number' && minWork >= 0)) {
    throw new ValueError(`setGemmThreads: minWork must be a non-negative number, got ${String(minWork)}`);
  }
  configure(n, minWork);
}

/**
 * Thread state of the GEMM.
 *
 * @returns `requested`: the setting ({@link setGemmThreads}); `active`: whether large GEMMs
 *   run on two threads right now (the worker is up); `splitCalls` / `workerBlocks`: how many
 *   GEMMs were split, and in how many of those the worker computed at least one chunk (it may
 *   wake too late for a small one, and the calling thread then does all chunks);
 *   `chunks` / `workerChunks`: chunks in all split GEMMs, and how many the worker computed;
 *   `waitMs`: total time the calling thread waited for the worker's last chunk (imbalance);
 *   `stolenChunks`: chunks the calling thread took over from a late (or dead) worker;
 *   `rests`: how often the worker was late twice in a row and products ran on one thread for
 *   a while: 50 ms, doubling up to 2 s while the worker stays late (another process holds the
 *   second core).
 * @example
 * ```ts
 * const { active, splitCalls, workerChunks } = gemmThreads();
 * ```
 */
export function gemmThreads(): {
  requested: 1 | 2; available: boolean; active: boolean; splitCalls: number; workerBlocks: number; chunks: number;
  workerChunks: number; waitMs: number; stolenChunks: number; rests: number;
} {
  return { requested: configuredThreads(), available: platform().threadsPossible(), active: threadsActive(), ...stats };
}

/**
 * Compiles the WebAssembly kernels asynchronously, ahead of their first use. Optional: the
 * kernels otherwise compile synchronously on first use, which Node.js and workers always allow
 * but a browser's main thread may refuse for modules of more than a few KB (the kernels then
 * fall back to TypeScript). Call it once at start-up in a page: `await kernels.loadWasm()`.
 *
 * @returns which modules are ready (`gemm`, `elementwise`: false where the engine lacks
 *   WebAssembly SIMD) and the GEMM build in use.
 * @example
 * ```ts
 * const { gemm, elementwise, variant } = await kernels.loadWasm(); // true, true, 'fma'
 * ```
 */
export async function loadWasm(): Promise<{ gemm: boolean; elementwise: boolean; variant: GemmVariant }> {
  const names = moduleNames();
  const ok = await preloadWasm([names.gemm, names.elementwise]);
  return { gemm: ok.includes(names.gemm), elementwise: ok.includes(names.elementwise), variant: gemmVariant() };
}

/**
 * Resolves once the helper worker is up (starting it if needed), so that the next large GEMM
 * runs on two threads; resolves false if threads are off, unavailable, or not up within
 * `timeoutMs`. Never needed for correctness: benchmarks and tests use it.
 *
 * @param timeoutMs - how long to wait (default 10 s).
 * @example
 * ```ts
 * await gemmThreadsReady(); // before timing two-thread products
 * ```
 */
export function gemmThreadsReady(timeoutMs = 10_000): Promise<boolean> {
  if (!wasmAvailable()) return Promise.resolve(false);
  return whenReady(timeoutMs);
}
