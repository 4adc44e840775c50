/**
 * The one WebAssembly runtime of tapegrad's kernels: it loads the modules, owns their single
 * linear memory, allocates tensors in it, and lays out each kernel call's operands.
 *
 * **One memory.** Both modules (the GEMM, build/gemm*.wasm, and the elementwise kernels,
 * build/elementwise*.wasm) import `env.memory`, and the runtime instantiates both on one
 * `WebAssembly.Memory`. Where shared memory exists (Node.js; a cross-origin-isolated page) it is
 * a shared memory: the GEMM's helper worker runs on it too, and growing it never detaches a view
 * (a shared memory's old `SharedArrayBuffer` stays valid, with its old length, after a grow).
 * Elsewhere it is a plain memory, and nothing but the runtime's own staging ever views it.
 *
 * **Resident tensors.** On a shared memory, {@link residentArray} hands out typed arrays that
 * live in the wasm heap, and `allocate` in src/dtype.ts uses it for every array of 16 KiB or
 * more the library makes. A kernel given resident operands runs on them in place, with no
 * copy in or out; any other operand (a user's own Float32Array) is copied into a temporary
 * region and, if written, back (see {@link Frame}). A region returns to the allocator when the
 * array is provably unreachable:
 *   - through the pool (src/dtype.ts), which keeps the array object alive while it waits, or
 *   - when the garbage collector has collected the array object (a FinalizationRegistry), and
 *     every view made from it with `subarray` (which keeps its parent alive, see
 *     {@link ResidentFloat32Array}), has been collected too.
 * A view built by hand on `array.buffer` (the whole heap), or made by `structuredClone` or
 * `postMessage` (which share views of shared memory instead of copying them), is not tracked: it
 * is valid only while the array it was made from is reachable. `kernels.setResident(false)`
 * turns residency off for code that needs ordinary arrays.
 *
 * @packageDocumentation
 */

import type { FloatArray } from '../../dtype';
import { DTypeError, ShapeError, ValueError } from '../../errors';
import { compileWasm, platform, type WasmName } from '../../platform';
import { gemmVariant } from './variant';

export type { FloatArray };

/** Bytes per WebAssembly page. */
export const PAGE = 65536;
/** Declared maximum of the shared memory, in pages (4 GiB); must match scripts/build-wasm.js. */
const MAX_PAGES = 65536;
/** Fallback maximum when the engine will not reserve 4 GiB (e.g. a 32-bit browser). */
const SMALL_MAX_PAGES = 16384;
/** Bytes reserved after the modules' static area for the two-thread control block. */
export const CTL_BYTES = 512;

/** The WebAssembly memory members used here (the project's lib has no "dom" types). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}

/** The few members of the WebAssembly JS API the runtime uses, typed locally. */
export interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  Memory: new (desc: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}

/** The GEMM: (m, n, k, a, b, c, transA, transB, accumulate, bias, relu, scratch); pointers are byte offsets. */
export type GemmFn = (
  m: number, n: number, k: number, a: number, b: number, c: number,
  transA: number, transB: number, accumulate: number, bias: number, relu: number, scratch: number,
) => void;

/** The GEMM restricted to rows i0..i1 and columns j0..j1 of C (packedB: B packed once, or 0). */
export type GemmRangeFn = (
  m: number, n: number, k: number, a: number, b: number, c: number,
  transA: number, transB: number, accumulate: number, bias: number, relu: number, scratch: number,
  i0: number, i1: number, j0: number, j1: number, packedB: number,
) => void;

/** Exports of build/gemm*.wasm. */
export interface GemmExports {
  heapBase(): number;
  scratchBytesF32(m: number, n: number): number;
  scratchBytesF64(m: number, n: number): number;
  gemmF32: GemmFn;
  gemmF64: GemmFn;
  gemmRangeF32: GemmRangeFn;
  gemmRangeF64: GemmRangeFn;
  packedBBytesF32(n: number, k: number): number;
  packedBBytesF64(n: number, k: number): number;
  packAllBF32(n: number, k: number, b: number, transB: number, dst: number): void;
  packAllBF64(n: number, k: number, b: number, transB: number, dst: number): void;
}

type BnForwardFn = (
  x: number, g: number, bt: number, rm: number, rv: number, out: number, xmm: number, xn: number, ivar: number,
  sv: number, s: number, n: number, d: number, eps: number, momentum: number,
) => void;
type BnBackwardFn = (
  train: number, dout: number, xmm: number, xn: number, gamma: number, ivar: number, sv: number,
  dx: number, dgamma: number, dbeta: number, s: number, n: number, d: number,
) => void;
/** An elementwise kernel over wasm memory: (x, out, len) or (g, x, out, len); offsets in bytes. */
export type MapFn = (...args: number[]) => void;
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
type RowsFn = (x: number, y: number, rows: number, size: number) => void;
type RowsGradFn = (g: number, y: number, dx: number, rows: number, size: number) => void;

/** Exports of build/elementwise*.wasm. */
export interface ElementwiseExports {
  heapBase(): number;
  scratchBytes(d: number): number;
  bnTrainForwardF64: BnForwardFn;
  bnTrainForwardF32: BnForwardFn;
  // Test mode takes no momentum; the extra argument is ignored by the engine.
  bnTestForwardF64: BnForwardFn;
  bnTestForwardF32: BnForwardFn;
  bnBackwardF64: BnBackwardFn;
  bnBackwardF32: BnBackwardFn;
  reluForwardF64: MapFn;
  reluForwardF32: MapFn;
  reluBackwardF64: MapFn;
  reluBackwardF32: MapFn;
  addF64: AddFn;
  addF32: AddFn;
  colSumsF64: RowsFn;
  colSumsF32: RowsFn;
  sgdF64: SgdFn;
  sgdF32: SgdFn;
  sgdMomentumF64: SgdMomentumFn;
  sgdMomentumF32: SgdMomentumFn;
  adamF64: AdamFn;
  adamF32: AdamFn;
  rmspropF64: RmspropFn;
  rmspropF32: RmspropFn;
  tanhF64: MapFn;
  tanhF32: MapFn;
  sigmoidF64: MapFn;
  sigmoidF32: MapFn;
  tanhBackwardF64: MapFn;
  tanhBackwardF32: MapFn;
  sigmoidBackwardF64: MapFn;
  sigmoidBackwardF32: MapFn;
  geluF64: MapFn;
  geluF32: MapFn;
  geluBackwardF64: MapFn;
  geluBackwardF32: MapFn;
  softmaxRowsF64: RowsFn;
  softmaxRowsF32: RowsFn;
  softmaxRowsBackwardF64: RowsGradFn;
  softmaxRowsBackwardF32: RowsGradFn;
}

/** The loaded runtime: the memory, the module instances on it, and views of it. */
export interface Runtime {
  readonly memory: WasmMemory;
  /** Whether the memory is shared (resident tensors and the two-thread GEMM need it). */
  readonly shared: boolean;
  /** The GEMM instance, or null if its module could not load. */
  readonly gemm: GemmExports | null;
  /** The compiled GEMM module (for the helper worker), or null. */
  readonly gemmModule: object | null;
  /** The elementwise instance, or null if its module could not load. */
  readonly ew: ElementwiseExports | null;
  /** Views of the whole memory, replaced when it grows. */
  heap32: Float32Array;
  heap64: Float64Array;
  /** Byte offset of the two-thread control block (CTL_BYTES long). */
  readonly ctl: number;
  /** Largest addressable size in bytes (the memory's maximum). */
  readonly maxBytes: number;
}

/** `undefined` before the first attempt, `null` when no module can load here. */
let rt: Runtime | null | undefined;

const wasmApi = (): WasmApi | undefined => (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** Whether this host can give the kernels a shared memory (and hence resident tensors and threads). */
function sharedPossible(): boolean {
  return typeof SharedArrayBuffer === 'function' && typeof Atomics === 'object' && platform().threadsPossible();
}

/**
 * The module names the runtime loads here: the shared (-mt) builds where shared memory exists.
 *
 * @returns the GEMM and elementwise module names.
 * @example
 * ```ts
 * await preloadWasm(Object.values(moduleNames()));
 * ```
 */
export function moduleNames(): { gemm: WasmName; elementwise: WasmName } {
  const mt = sharedPossible();
  const fma = gemmVariant() === 'fma';
  const gemm: WasmName = mt ? (fma ? 'gemm-mt-fma.wasm' : 'gemm-mt.wasm') : fma ? 'gemm-fma.wasm' : 'gemm.wasm';
  return { gemm, elementwise: mt ? 'elementwise-mt.wasm' : 'elementwise.wasm' };
}

/** Creates the memory: shared with a 4 GiB (else 1 GiB) maximum, or plain. */
function makeMemory(api: WasmApi, shared: boolean): { memory: WasmMemory; maxBytes: number } {
  if (!shared) return { memory: new api.Memory({ initial: 1 }), maxBytes: MAX_PAGES * PAGE };
  try {
    return { memory: new api.Memory({ initial: 1, maximum: MAX_PAGES, shared: true }), maxBytes: MAX_PAGES * PAGE };
  } catch {
    return { memory: new api.Memory({ initial: 1, maximum: SMALL_MAX_PAGES, shared: true }), maxBytes: SMALL_MAX_PAGES * PAGE };
  }
}

function instantiate<E>(api: WasmApi, name: WasmName, memory: WasmMemory): { exports: E; module: object } | null {
  try {
    const module = compileWasm(name);
    return { exports: new api.Instance(module, { env: { memory } }).exports as E, module };
  } catch {
    return null; // missing file, or the engine lacks SIMD (a CompileError): the TS kernels run
  }
}

/**
 * The runtime, loaded on first use (a synchronous compile unless `loadWasm` preloaded the
 * modules). Returns null, and never throws, when neither module can run here.
 *
 * @returns the runtime or null.
 * @example
 * ```ts
 * const r = runtime(); if (r?.gemm) { ... }
 * ```
 */
export function runtime(): Runtime | null {
  if (rt !== undefined) return rt;
  rt = null;
  const api = wasmApi();
  if (api === undefined) return null;
  try {
    let shared = sharedPossible();
    let names = moduleNames();
    let mem: { memory: WasmMemory; maxBytes: number };
    try {
      mem = makeMemory(api, shared);
    } catch {
      shared = false; // e.g. shared memory switched off in this engine
      names = { gemm: gemmVariant() === 'fma' ? 'gemm-fma.wasm' : 'gemm.wasm', elementwise: 'elementwise.wasm' };
      mem = makeMemory(api, false);
    }
    const g = instantiate<GemmExports>(api, names.gemm, mem.memory);
    const e = instantiate<ElementwiseExports>(api, names.elementwise, mem.memory);
    if (g === null && e === null) return null;
    // The modules have no static data (scripts/build-wasm.js checks): the heap starts above
    // the larger of their reserved areas, with the control block first.
    const base = align64(Math.max(g?.exports.heapBase() ?? 0, e?.exports.heapBase() ?? 0));
    const r: Runtime = {
      memory: mem.memory, shared, gemm: g?.exports ?? null, gemmModule: g?.module ?? null, ew: e?.exports ?? null,
      heap32: new Float32Array(0), heap64: new Float64Array(0), ctl: base, maxBytes: mem.maxBytes,
    };
    top = base + CTL_BYTES;
    refreshViews(r);
    rt = r;
    residentOn = shared && typeof FinalizationRegistry === 'function' && platform().env('TAPEGRAD_RESIDENT') !== '0';
    const mb = Number(platform().env('TAPEGRAD_RESIDENT_MB'));
    if (Number.isFinite(mb) && mb >= 0 && platform().env('TAPEGRAD_RESIDENT_MB') !== undefined) residentBudget = mb * 1024 * 1024;
  } catch {
    rt = null;
  }
  return rt;
}

/** The runtime, or an error naming what the user called. */
export function runtimeOrThrow(fn: string): Runtime {
  const r = runtime();
  if (r === null) throw new Error(`${fn}: the WebAssembly kernels are unavailable (build/*.wasm missing or no SIMD)`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Memory: views, growth, and the allocator.
// ---------------------------------------------------------------------------------------------

/** Every buffer object the memory has had (a shared memory gets a new one at every grow). */
const heapBuffers = new WeakSet<object>();
let lastBuffer: object | null = null;

/** Rebuilds the runtime's views if the memory grew (or, unshared, was detached by growing). */
export function refreshViews(r: Runtime): void {
  const buf = r.memory.buffer;
  if (r.heap32.buffer !== buf || r.heap32.byteLength !== buf.byteLength) {
    r.heap32 = new Float32Array(buf);
    r.heap64 = new Float64Array(buf);
    if (r.shared) heapBuffers.add(buf);
    lastBuffer = buf;
  }
}

/** Rounds up to a multiple of 64 bytes (cache lines; every region starts 64-byte aligned). */
export const align64 = (x: number): number => Math.ceil(x / 64) * 64;

/** Cap on the temporary bytes of one kernel call (for tests that force the tiled GEMM); Infinity = none. */
let memoryLimit = Infinity;

/**
 * Caps the temporary wasm memory one kernel call may take (copies of operands that are not
 * resident, and scratch) at `bytes` (Infinity: no cap), so that tests can force the tiled GEMM
 * and the fallbacks beyond it on small products. Not for production use.
 *
 * @internal
 * @param bytes - the cap in bytes, or Infinity.
 * @returns the previous cap.
 */
export function setMemoryLimit(bytes: number): number {
  if (typeof bytes !== 'number' || !(bytes > 0)) {
    throw new ValueError(`setGemmMemoryLimit: bytes must be a positive number or Infinity, got ${String(bytes)}`);
  }
  const prev = memoryLimit;
  memoryLimit = bytes;
  return prev;
}

/** Grows the memory (never shrinks) so that bytes [0, end) are addressable; false if it cannot. */
function grow(r: Runtime, end: number): boolean {
  const have = r.memory.buffer.byteLength;
  if (end <= have) return true;
  const limit = r.maxBytes;
  if (end > limit) return false;
  // Grow by at least 1/4 of the current size so a slowly increasing workload regrows rarely.
  const want = Math.min(Math.max(end, have + (have >> 2)), limit);
  try {
    r.memory.grow(Math.ceil((want - have) / PAGE));
  } catch {
    try {
      r.memory.grow(Math.ceil((end - have) / PAGE)); // the minimum
    } catch {
      return false;
    }
  }
  refreshViews(r);
  return true;
}

/** End of the bump region: bytes [top, memory size) have never been handed out (or were returned at the end). */
let top = 0;
/** Free regions by size in bytes (multiples of 64). */
const freeLists = new Map<number, number[]>();
let freeBytes = 0;
/** Bytes handed out and not returned (tensors and temporaries). */
let liveBytes = 0;
/** Bytes frames copied in or out because an operand was not resident (statistics). */
let stagedBytes = 0;

/**
 * Allocates `bytes` of wasm memory (64-byte aligned, rounded up to a multiple of 64).
 *
 * @param bytes - at least 0.
 * @returns the byte offset, or -1 when the memory cannot grow to hold it.
 */
export function heapAlloc(bytes: number): number {
  const r = rt;
  if (r == null) return -1;
  const size = align64(Math.max(bytes, 1));
  const list = freeLists.get(size);
  if (list !== undefined && list.length > 0) {
    freeBytes -= size;
    liveBytes += size;
    return list.pop()!;
  }
  if (top + size + 64 > r.memory.buffer.byteLength && freeBytes >= size) {
    const at = coalesceFor(size);
    if (at >= 0) {
      liveBytes += size;
      return at;
    }
  }
  // 64 bytes past the end stay addressable: kernels may read a bias vector up to 32 past its end.
  if (!grow(r, top + size + 64)) return -1;
  const at = top;
  top += size;
  liveBytes += size;
  return at;
}

/**
 * Returns a region to the allocator.
 *
 * @param at - the offset {@link heapAlloc} returned.
 * @param bytes - the size asked for then.
 */
export function heapFree(at: number, bytes: number): void {
  const size = align64(Math.max(bytes, 1));
  liveBytes -= size;
  if (at + size === top) {
    top = at; // the last region: back to the bump area
    return;
  }
  let list = freeLists.get(size);
  if (list === undefined) freeLists.set(size, (list = []));
  list.push(at);
  freeBytes += size;
}

/**
 * Merges adjacent free regions (and a free tail into the bump area), then carves `size` bytes
 * out of the smallest merged region that holds them. O(free regions · log) and only run before
 * the memory would otherwise grow, so a workload whose sizes change reuses what it freed.
 *
 * @returns the offset, or -1 if no free region is large enough.
 */
function coalesceFor(size: number): number {
  const regions: [number, number][] = [];
  for (const [s, list] of freeLists) for (const at of list) regions.push([at, s]);
  freeLists.clear();
  freeBytes = 0;
  regions.sort((x, y) => x[0] - y[0]);
  const merged: [number, number][] = [];
  for (const [at, s] of regions) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last[0] + last[1] === at) last[1] += s;
    else merged.push([at, s]);
  }
  const tail = merged[merged.length - 1];
  if (tail !== undefined && tail[0] + tail[1] === top) {
    top = tail[0];
    merged.pop();
  }
  let best = -1;
  for (let i = 0; i < merged.length; i++) if (merged[i][1] >= size && (best < 0 || merged[i][1] < merged[best][1])) best = i;
  let at = -1;
  if (best >= 0) {
    at = merged[best][0];
    merged[best] = [at + size, merged[best][1] - size];
  }
  for (const [a, s] of merged) {
    if (s === 0) continue;
    let list = freeLists.get(s);
    if (list === undefined) freeLists.set(s, (list = []));
    list.push(a);
    freeBytes += s;
  }
  return at;
}

/**
 * Counters of the wasm heap, for tests and benchmarks.
 *
 * @returns bytes of memory, bytes live (handed out), bytes free in lists, whether new arrays
 *   are resident (`kernels.setResident`), the bytes of resident arrays not yet returned and their budget, and the bytes
 *   kernels copied in or out so far because an operand was not resident.
 * @example
 * ```ts
 * heapStats().memoryBytes; // stays flat over a training loop
 * ```
 */
export function heapStats(): {
  memoryBytes: number; liveBytes: number; freeBytes: number; resident: boolean; residentBytes: number; residentBudget: number;
  stagedBytes: number;
} {
  const r = runtime();
  return {
    memoryBytes: r?.memory.buffer.byteLength ?? 0, liveBytes, freeBytes, resident: residentOn && residentWanted, residentBytes,
    residentBudget, stagedBytes,
  };
}

// ---------------------------------------------------------------------------------------------
// Resident arrays.
// ---------------------------------------------------------------------------------------------

/** Whether {@link residentArray} can hand out arrays (shared memory and FinalizationRegistry present). */
let residentOn = false;
/** Whether residency is wanted (`kernels.setResident`); arrays are resident only if also possible. */
let residentWanted = true;

/** A view made with `subarray` → the array it was made from, which must outlive it. */
const parents = new WeakMap<object, object>();
/** Arrays that own their region (what the pool may recycle). */
const owners = new WeakSet<object>();
/** Each owner's stand-in for its size in the engine's memory accounting (see residentArray). */
const pressure = new WeakMap<object, ArrayBuffer>();
/** Returns a collected owner's region to the allocator. */
const finalizer: FinalizationRegistry<{ at: number; bytes: number }> | null = typeof FinalizationRegistry === 'function'
  ? new FinalizationRegistry<{ at: number; bytes: number }>((region) => {
    residentBytes -= region.bytes;
    heapFree(region.at, region.bytes);
  })
  : null;

/**
 * Bytes of resident arrays not yet returned. A region comes back only after the garbage
 * collector has collected its array AND the engine has run the finalizer, which it does only
 * between tasks: a long synchronous loop that drops many arrays returns none of them until it
 * yields. So resident arrays have a budget; beyond it `allocate` makes ordinary arrays (the
 * kernels then copy them), and the memory stays bounded.
 */
let residentBytes = 0;
/** Budget of {@link residentBytes}: 256 MiB, or TAPEGRAD_RESIDENT_MB. */
let residentBudget = 256 * 1024 * 1024;

/**
 * Arrays smaller than this stay ordinary (their copies cost little). It also keeps the memory
 * flat in a synchronous training loop: the one array per step that escapes to the caller (the
 * model's output) is usually small, and an ordinary array is reclaimed by the collector alone,
 * while a resident one would wait for its finalizer, which runs only between tasks.
 */
export const RESIDENT_MIN_BYTES = 16 * 1024;

/** Normalizes subarray's (begin, end) as TypedArray.prototype.subarray does. */
function clampIndex(i: number | undefined, len: number, dflt: number): number {
  if (i === undefined) return dflt;
  const x = Math.trunc(Number(i)) || 0;
  return x < 0 ? Math.max(len + x, 0) : Math.min(x, len);
}

/**
 * A Float32Array in the wasm heap. It behaves as a Float32Array in every way (`instanceof
 * Float32Array` holds; `slice`, `map` and `filter` return plain Float32Arrays), except that a
 * view made with `subarray` keeps this array, and so its memory, alive.
 *
 * @example
 * ```ts
 * const row = t.data.subarray(0, 10); // valid as long as `row` is reachable
 * ```
 */
export class ResidentFloat32Array extends Float32Array {
  static get [Symbol.species](): Float32ArrayConstructor {
    return Float32Array;
  }
  override subarray(begin?: number, end?: number): ResidentFloat32Array {
    const len = this.length;
    const b = clampIndex(begin, len, 0);
    const e = Math.max(clampIndex(end, len, len), b);
    const v = new ResidentFloat32Array(this.buffer, this.byteOffset + b * 4, e - b);
    parents.set(v, this);
    return v;
  }
}

/**
 * A Float64Array in the wasm heap; see {@link ResidentFloat32Array}.
 *
 * @example
 * ```ts
 * t.data instanceof Float64Array; // true, whether or not it is resident
 * ```
 */
export class ResidentFloat64Array extends Float64Array {
  static get [Symbol.species](): Float64ArrayConstructor {
    return Float64Array;
  }
  override subarray(begin?: number, end?: number): ResidentFloat64Array {
    const len = this.length;
    const b = clampIndex(begin, len, 0);
    const e = Math.max(clampIndex(end, len, len), b);
    const v = new ResidentFloat64Array(this.buffer, this.byteOffset + b * 8, e - b);
    parents.set(v, this);
    return v;
  }
}

// They print and describe themselves as what they are to every caller: Float32Array / Float64Array.
Object.defineProperty(ResidentFloat32Array, 'name', { value: 'Float32Array' });
Object.defineProperty(ResidentFloat64Array, 'name', { value: 'Float64Array' });

/**
 * A zero-filled array of `n` elements in the wasm heap, or null when tensors are not resident
 * here (no shared memory), the array is smaller than RESIDENT_MIN_BYTES, the resident budget is
 * spent, or the memory cannot grow.
 *
 * @param f64 - Float64Array (true) or Float32Array.
 * @param n - length.
 * @param zero - whether to zero it (a region reused from the allocator holds old values).
 * @returns the array or null.
 * @example
 * ```ts
 * const a = residentArray(false, 1024, true) ?? new Float32Array(1024);
 * ```
 */
export function residentArray(f64: boolean, n: number, zero: boolean): FloatArray | null {
  if (rt === undefined) runtime();
  if (!residentOn || !residentWanted) return null;
  const bytes = n * (f64 ? 8 : 4);
  if (bytes < RESIDENT_MIN_BYTES || residentBytes + bytes > residentBudget) return null;
  const at = heapAlloc(bytes);
  if (at < 0) return null;
  residentBytes += bytes;
  const r = rt!;
  const a = f64 ? new ResidentFloat64Array(r.memory.buffer as ArrayBuffer, at, n) : new ResidentFloat32Array(r.memory.buffer as ArrayBuffer, at, n);
  if (zero) a.fill(0);
  owners.add(a);
  finalizer!.register(a, { at, bytes });
  // The engine sees a few dozen bytes of JavaScript object here, not `bytes` of memory, so it
  // would see no reason to collect a dropped array soon. An untouched ArrayBuffer of the same
  // size (zero pages: the system maps it, nothing is written) tied to the array's life makes the
  // engine count `bytes` as memory it holds, and collect as it would an ordinary array.
  pressure.set(a, new ArrayBuffer(bytes));
  return a;
}

/**
 * Sets whether arrays made from now on may be resident; see `setResident` in src/dtype.ts,
 * the public entry, which also empties the pool of resident arrays when turning it off.
 *
 * @param on - the wish.
 * @returns whether arrays are resident from now on (false where shared memory does not exist).
 */
export function setResidentFlag(on: boolean): boolean {
  residentWanted = on;
  if (rt === undefined) runtime();
  return residentOn && residentWanted;
}

/**
 * Whether `a` owns a region of the wasm heap (made by {@link residentArray}): the pool may
 * recycle such an array although it is a view of a larger buffer.
 *
 * @param a - any float array.
 */
export function ownsRegion(a: FloatArray): boolean {
  return owners.has(a);
}

/**
 * Whether `buf` is (a past version of) the wasm heap's buffer.
 *
 * @param buf - an ArrayBuffer or SharedArrayBuffer.
 */
export function isHeapBuffer(buf: object): boolean {
  return buf === lastBuffer ? rt?.shared === true : heapBuffers.has(buf);
}

/**
 * The object that stands for the memory `a.buffer` views: the buffer itself, or for any view of
 * the kernels' memory (whose buffer object changes each time a shared memory grows) the memory.
 * Byte offsets of two arrays are comparable exactly when their memory keys are the same.
 *
 * @param a - a float array.
 * @returns the key.
 * @example
 * ```ts
 * const sameMemory = memoryKey(x) === memoryKey(y);
 * ```
 */
export function memoryKey(a: FloatArray): object {
  const buf = a.buffer;
  return isHeapBuffer(buf) ? rt!.memory : buf;
}

/**
 * The object that stands for `a`'s memory: two arrays share memory exactly when their keys are
 * the same object (and their byte ranges overlap). For an ordinary array its buffer; for a view
 * into the wasm heap, the resident array that owns the region (the whole heap is one buffer).
 *
 * @param a - a float array.
 * @returns the key.
 * @example
 * ```ts
 * storageKey(t.data) === storageKey(t.data.subarray(2)); // true
 * ```
 */
export function storageKey(a: FloatArray): object {
  const buf = a.buffer;
  if (!isHeapBuffer(buf)) return buf;
  let o: object = a;
  for (let p = parents.get(o); p !== undefined; p = parents.get(o)) o = p;
  return owners.has(o) ? o : buf;
}

// ---------------------------------------------------------------------------------------------
// Argument checks, shared by every kernel entry.
// ---------------------------------------------------------------------------------------------

/** Throws a ValueError unless `v` is a non-negative safe integer. */
export function checkDim(fn: string, name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new ValueError(`${fn}: ${name} must be a non-negative integer, got ${v}`);
}

/** Whether `x` is a Float64Array (true) or Float32Array (false); DTypeError otherwise. */
export function isF64(fn: string, x: FloatArray): boolean {
  if (x instanceof Float64Array) return true;
  if (x instanceof Float32Array) return false;
  throw new DTypeError(`${fn}: expected a Float32Array or Float64Array, got ${Object.prototype.toString.call(x)}`);
}

/** Checks that `arr` has the first argument's dtype and at least `need` elements. */
export function checkArray(fn: string, f64: boolean, name: string, arr: FloatArray, need: number, shape?: string): void {
  if (!(f64 ? arr instanceof Float64Array : arr instanceof Float32Array)) {
    const got = (arr as object)?.constructor?.name ?? typeof arr;
    throw new DTypeError(`${fn}: ${name} must be a ${f64 ? 'Float64Array' : 'Float32Array'} like the first argument, got ${got}`);
  }
  if (arr.length < need) throw new ShapeError(`${fn}: ${name} must hold ${shape === undefined ? '' : `${shape} = `}${need} elements, got ${arr.length}`);
}

// ---------------------------------------------------------------------------------------------
// Frames: the operands of one kernel call.
// ---------------------------------------------------------------------------------------------

/** An operand registered in the current frame. */
interface Slot {
  arr: FloatArray;
  /** Byte offset in wasm memory. */
  at: number;
  /** Elements used. */
  len: number;
  /** Temporary region (to free at the end), or -1 when the operand is resident. */
  temp: number;
  /** Copy back to `arr` at the end. */
  write: boolean;
}

/**
 * The operands of one kernel call: resident arrays are passed where they are; others get a
 * temporary region (copied in when read, copied back when written). An output that shares
 * memory with another operand also gets a temporary region, so every kernel sees its outputs
 * distinct from its inputs, as when everything was copied. Register inputs first, then
 * outputs; {@link Frame.end} copies back and frees. One frame at a time (kernels do not nest).
 *
 * @example
 * ```ts
 * const f = frame(f64); const px = f.input(x, n); const po = f.output(out, n);
 * if (f.ok) kernel(px, po, n); f.end();
 * ```
 */
export class Frame {
  private readonly slots: Slot[] = [];
  private count = 0;
  private f64 = false;
  private readonly temps: number[] = [];
  private readonly tempSizes: number[] = [];
  private nTemps = 0;
  private tempBytes = 0;
  /**
   * A region kept from call to call for the temporaries of small calls, handed out by bumping
   * `stackTop` and emptied by end(): no allocator work per operand. Larger calls, and regions a
   * caller keeps (keep()), come from the allocator.
   */
  private stackAt = 0;
  private stackSize = 0;
  private stackTop = 0;
  /** The most stack the calls since it last grew wanted. */
  private stackWanted = 0;
  /** False once a temporary region could not be had; the call must not run. */
  ok = true;

  /** Starts a frame for operands of one dtype. */
  begin(f64: boolean): this {
    this.count = 0;
    this.nTemps = 0;
    this.tempBytes = 0;
    this.stackTop = 0;
    this.f64 = f64;
    this.ok = true;
    return this;
  }

  private slot(arr: FloatArray, at: number, len: number, temp: number, write: boolean): number {
    let s = this.slots[this.count];
    if (s === undefined) this.slots.push((s = { arr, at, len, temp, write }));
    else {
      s.arr = arr;
      s.at = at;
      s.len = len;
      s.temp = temp;
      s.write = write;
    }
    this.count++;
    return at;
  }

  /**
   * A temporary region of `bytes` (0, and ok = false, if it cannot be had). `own`: from the
   * allocator, never the stack, so that keep() can take it out of the frame.
   */
  scratch(bytes: number, own = false): number {
    this.tempBytes += bytes;
    if (this.tempBytes > memoryLimit) {
      this.ok = false;
      return 0;
    }
    const size = align64(Math.max(bytes, 1));
    if (!own) {
      if (this.stackTop + size <= this.stackSize) {
        const at = this.stackAt + this.stackTop;
        this.stackTop += size;
        return at;
      }
      this.stackWanted = Math.max(this.stackWanted, this.stackTop + size);
    }
    const at = heapAlloc(bytes);
    if (at < 0) {
      this.ok = false;
      return 0;
    }
    this.temps[this.nTemps] = at;
    this.tempSizes[this.nTemps++] = bytes;
    return at;
  }

  /**
   * Takes a temporary region out of the frame: {@link Frame.end} will not free it (the caller
   * frees it with heapFree once nothing can write it any more).
   */
  keep(at: number): void {
    for (let i = 0; i < this.nTemps; i++) {
      if (this.temps[i] === at) {
        this.temps[i] = -1; // end() skips it
        return;
      }
    }
  }

  /** The byte offset of `arr`'s first `len` elements if they are resident, else -1. */
  private resident(arr: FloatArray): number {
    return residentOn && isHeapBuffer(arr.buffer) ? arr.byteOffset : -1;
  }

  /** Whether bytes [at, at + bytes) overlap a registered operand. */
  private overlaps(at: number, bytes: number): boolean {
    const sz = this.f64 ? 8 : 4;
    for (let i = 0; i < this.count; i++) {
      const s = this.slots[i];
      if (s.temp < 0 && s.at < at + bytes && at < s.at + s.len * sz) return true;
    }
    return false;
  }

  /** An operand the kernel only reads: its offset. */
  input(arr: FloatArray, len: number): number {
    if (!this.ok) return 0;
    const at = this.resident(arr);
    if (at >= 0) return this.slot(arr, at, len, -1, false);
    const t = this.scratch(len * (this.f64 ? 8 : 4));
    if (!this.ok) return 0;
    (this.f64 ? rt!.heap64 : rt!.heap32).set(arr.length === len ? arr : arr.subarray(0, len), t >>> (this.f64 ? 3 : 2));
    stagedBytes += len * (this.f64 ? 8 : 4);
    return this.slot(arr, t, len, t, false);
  }

  /** An operand the kernel writes (and reads first when `read`): its offset. */
  output(arr: FloatArray, len: number, read = false): number {
    if (!this.ok) return 0;
    const sz = this.f64 ? 8 : 4;
    const at = this.resident(arr);
    if (at >= 0 && !this.overlaps(at, len * sz)) return this.slot(arr, at, len, -1, false);
    const t = this.scratch(len * sz);
    if (!this.ok) return 0;
    if (read) {
      (this.f64 ? rt!.heap64 : rt!.heap32).set(arr.length === len ? arr : arr.subarray(0, len), t >>> (this.f64 ? 3 : 2));
      stagedBytes += len * sz;
    }
    return this.slot(arr, t, len, t, true);
  }

  /** Copies written temporaries back (only if the call ran: `ran`) and frees every temporary. */
  end(ran = true): void {
    const r = rt!;
    if (ran && this.ok) {
      const heap: FloatArray = this.f64 ? r.heap64 : r.heap32;
      const shift = this.f64 ? 3 : 2;
      for (let i = 0; i < this.count; i++) {
        const s = this.slots[i];
        if (s.write) {
          s.arr.set(heap.subarray(s.at >>> shift, (s.at >>> shift) + s.len));
          stagedBytes += s.len << shift;
        }
      }
    }
    for (let i = this.nTemps - 1; i >= 0; i--) if (this.temps[i] >= 0) heapFree(this.temps[i], this.tempSizes[i]);
    this.nTemps = 0;
    for (let i = 0; i < this.count; i++) this.slots[i].arr = EMPTY;
    this.count = 0;
    this.stackTop = 0;
    // A call wanted more stack than there is: grow it for the next ones (up to STACK_MAX).
    if (this.stackWanted > this.stackSize && this.stackWanted <= STACK_MAX) {
      const size = Math.min(STACK_MAX, align64(this.stackWanted * 1.5));
      const at = heapAlloc(size);
      if (at >= 0) {
        if (this.stackSize > 0) heapFree(this.stackAt, this.stackSize);
        this.stackAt = at;
        this.stackSize = size;
      }
      this.stackWanted = 0;
    }
  }
}

const EMPTY = new Float32Array(0);

/** Largest stack of temporaries a frame keeps (bigger calls use the allocator each time). */
const STACK_MAX = 4 * 1024 * 1024;

const theFrame = new Frame();

/**
 * The frame for the next kernel call, started for one dtype.
 *
 * @param f64 - whether the operands are Float64Arrays.
 * @returns the (reused) frame.
 */
export function frame(f64: boolean): Frame {
  return theFrame.begin(f64);
}
