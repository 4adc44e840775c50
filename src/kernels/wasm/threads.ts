/**
 * Two-thread execution of the WebAssembly GEMM: one helper worker (worker_threads in Node.js, a
 * Web Worker in a cross-origin-isolated page) runs the same module (build/gemm-mt.wasm) on the
 * same shared WebAssembly.Memory as the calling thread.
 *
 * Protocol (no postMessage per call, which costs ~50-100 µs): an Int32Array control block in
 * the shared memory holds the job parameters and a few counters. The output is cut into a few
 * chunks (row or column ranges of C). The main thread writes the parameters, publishes job
 * number `s` with Atomics.store + notify, and both threads then claim chunks one at a time
 * with a compareExchange on NEXT (tagged with `s`, so a worker that wakes late cannot claim
 * a chunk of a later job) until none are left; the main thread then Atomics.wait()s until
 * every claimed chunk is complete. Dynamic claiming rather than a fixed half each keeps both
 * threads busy on a machine shared with other processes (a preempted or late worker just
 * claims fewer chunks; if it never wakes, the main thread does everything), and makes the
 * worker retiring, failing or never starting harmless. Every element of C goes through the
 * same operation sequence whichever thread and chunk compute it (see gemmImpl in
 * asm/gemm.ts), so results are bit-identical to the single-thread path.
 *
 * @packageDocumentation
 */

import { compileWasm, platform, type WasmName } from '../../platform';

/** Exports of gemm.wasm / gemm-mt.wasm used by the loaders (byte offsets for pointers). */
export interface GemmExports {
  memory: WasmMemory;
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

/** The WebAssembly memory members used here (the project's lib has no "dom" types). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}

/** The few members of the WebAssembly JS API used by the loaders, typed locally. */
export interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  Memory: new (desc: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}

export type GemmFn = (
  m: number, n: number, k: number, a: number, b: number, c: number,
  transA: number, transB: number, accumulate: number, bias: number, relu: number, scratch: number,
) => void;

export type GemmRangeFn = (
  m: number, n: number, k: number, a: number, b: number, c: number,
  transA: number, transB: number, accumulate: number, bias: number, relu: number, scratch: number,
  i0: number, i1: number, j0: number, j1: number, packedB: number,
) => void;

/** A module instance plus cached views of its linear memory and its usable region. */
export interface Arena {
  readonly w: GemmExports;
  heap32: Float32Array;
  heap64: Float64Array;
  /** First byte the loader may use, 64-byte aligned. */
  base: number;
  /** Largest addressable size in bytes (the declared maximum of a shared memory). */
  maxBytes: number;
}

/** Arguments of one GEMM already laid out in an arena's memory (byte offsets). */
export interface GemmCall {
  f64: boolean;
  m: number; n: number; k: number;
  a: number; b: number; c: number;
  transA: number; transB: number; accumulate: number; bias: number; relu: number;
}

export const PAGE = 65536;
/** Declared maximum of the shared memory, in pages: 1 GiB (must match scripts/build-wasm.js). */
const MT_MAX_PAGES = 16384;

/** Rebuilds the arena's views if the memory grew (or, unshared, was detached by growing). */
export function refreshViews(ar: Arena): void {
  const buf = ar.w.memory.buffer;
  // A shared memory's buffer is never detached; growing it returns a new, longer SAB.
  if (ar.heap32.buffer !== buf || ar.heap32.byteLength !== buf.byteLength) {
    ar.heap32 = new Float32Array(buf);
    ar.heap64 = new Float64Array(buf);
  }
}

/** Grows the arena's memory (never shrinks) so that bytes [0, end) are addressable. */
export function ensureMemory(ar: Arena, end: number): void {
  const mem = ar.w.memory;
  const have = mem.buffer.byteLength;
  if (end <= have) return;
  if (end > ar.maxBytes) throw new RangeError(`gemm: needs ${end} bytes of wasm memory, the maximum is ${ar.maxBytes}`);
  // Grow by at least 1/4 of the current size so a slowly increasing workload regrows rarely.
  const want = Math.min(Math.max(end, have + (have >> 2)), ar.maxBytes);
  try {
    mem.grow(Math.ceil((want - have) / PAGE));
  } catch {
    mem.grow(Math.ceil((end - have) / PAGE)); // retry with the minimum; throws RangeError if still too big
  }
  refreshViews(ar);
}

// ---------------------------------------------------------------------------------------------
// Control block: CTL_INTS int32 at the arena's base (the operands start CTL_BYTES above it).
// ---------------------------------------------------------------------------------------------

const SEQ = 0; // number of the last published job (main writes)
const NEXT = 1; // claim word: (job & TAG_MASK) << 2·CHUNK_BITS | chunk count << CHUNK_BITS | next chunk
const COMPLETED = 2; // chunks of the current job completed (both threads add)
const READY = 3; // 1 while the worker is instantiated and serving; it sets 0 when it retires
const ERR = 4; // number of the last job in which the worker threw; the main thread redoes it
const IDLE = 5; // ms without work after which the worker retires (read before each wait)
const WORKER_CHUNKS = 6; // chunks computed by the worker, total (statistics)
const P = 8; // parameters: f64, m, n, k, a, b, c, transA, transB, accumulate, bias, relu, scratch, byRows, size, packedB
const CTL_INTS = P + 16;
// Packing the job tag and the chunk count into the claim word means one exact compareExchange
// both claims a chunk and proves it is an in-range chunk of the job the claimer read: a worker
// waking late can never claim with stale parameters, and the parameters of a job cannot change
// while a claimed chunk of it is incomplete (the main thread waits for every chunk first).
// A 19-bit tag repeats only after 2^19 jobs, far longer than any thread can sleep between two
// loads.
const CHUNK_BITS = 6;
const MAX_CHUNKS = (1 << CHUNK_BITS) - 1;
const TAG_MASK = (1 << (31 - 2 * CHUNK_BITS)) - 1;
const TAG_SHIFT = 2 * CHUNK_BITS;
/** Bytes reserved for the control block (keeps the operands 64-byte aligned). */
export const CTL_BYTES = 128;

/** A worker retires after this long without work (ms), so an idle process holds no thread. */
const DEFAULT_IDLE_MS = 10_000;

/**
 * The worker's body, as the source of a function of `{ module, memory, ctlOffset }` that the
 * platform evaluates in a fresh thread (`new Worker(src, { eval: true })` in Node.js, a Blob URL
 * in browsers): no file path to resolve, so it works the same from src/ (ts-node, jest), dist/
 * and a bundle. Plain JS, no imports. It returns when the worker retires. The control-block
 * indices are spliced in from the constants above.
 */
const WORKER_RUN_SRC = `function run({ module, memory, ctlOffset }) {
const ctl = new Int32Array(memory.buffer, ctlOffset, ${CTL_INTS});
const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
let seen = Atomics.load(ctl, ${SEQ});
Atomics.store(ctl, ${READY}, 1);
for (;;) {
  if (Atomics.wait(ctl, ${SEQ}, seen, Atomics.load(ctl, ${IDLE})) === 'timed-out') {
    // Retire. A job published meanwhile is safe: the main thread claims every chunk left.
    Atomics.store(ctl, ${READY}, 0);
    break;
  }
  const s = Atomics.load(ctl, ${SEQ});
  if (s === seen) continue;
  seen = s;
  const tag = s & ${TAG_MASK};
  const p = ${P};
  for (;;) {
    const v = Atomics.load(ctl, ${NEXT});
    const idx = v & ${MAX_CHUNKS};
    const count = (v >>> ${CHUNK_BITS}) & ${MAX_CHUNKS};
    // Another job's tag (this one is over: the main thread did the rest), or no chunk left.
    if (v >>> ${TAG_SHIFT} !== tag || idx >= count) break;
    if (Atomics.compareExchange(ctl, ${NEXT}, v, v + 1) !== v) continue;
    // Claimed chunk idx of job s: its parameters stay put until all its chunks complete.
    const m = ctl[p + 1], n = ctl[p + 2], size = ctl[p + 14];
    const lo = idx * size;
    let failed = false;
    try {
      (ctl[p] ? ex.gemmRangeF64 : ex.gemmRangeF32)(
        m, n, ctl[p + 3], ctl[p + 4], ctl[p + 5], ctl[p + 6], ctl[p + 7], ctl[p + 8],
        ctl[p + 9], ctl[p + 10], ctl[p + 11], ctl[p + 12],
        ctl[p + 13] ? lo : 0, ctl[p + 13] ? Math.min(m, lo + size) : m,
        ctl[p + 13] ? 0 : lo, ctl[p + 13] ? n : Math.min(n, lo + size), ctl[p + 15]);
      Atomics.add(ctl, ${WORKER_CHUNKS}, 1);
    } catch {
      Atomics.store(ctl, ${ERR}, s);
      failed = true;
    }
    // Always complete the claimed chunk, even after a failure, so the main thread never hangs.
    if (Atomics.add(ctl, ${COMPLETED}, 1) + 1 === count) Atomics.notify(ctl, ${COMPLETED});
    if (failed) break;
  }
}
}`;

// ---------------------------------------------------------------------------------------------
// Configuration.
// ---------------------------------------------------------------------------------------------

/**
 * Default work threshold above which a GEMM is split over two threads, in float32-equivalent
 * multiply-adds: m·n·k, doubled for float64 (which runs at about half the flops per second).
 * Below it the wake-up and the duplicated packing cost more than the halved compute: measured
 * with benchmarks/gemm_micro.ts --threshold, two threads break even around 160³ (≈ 2^22) in
 * float32 and around 100³ in float64.
 */
export const DEFAULT_MIN_WORK = 1 << 22;

function defaultThreads(): 1 | 2 {
  const p = platform();
  if (p.env('TAPEGRAD_THREADS') === '1' || !p.threadsPossible()) return 1;
  return p.cpuCount() >= 2 ? 2 : 1;
}

/** Decided on first use, after the entry point has installed its platform. */
let threads: 1 | 2 | undefined;
const threadCount = (): 1 | 2 => (threads ??= defaultThreads());
let minWork = DEFAULT_MIN_WORK;

/** Sets the thread count and work threshold; see setGemmThreads in index.ts. */
export function configure(n: 1 | 2, work: number | undefined): void {
  threads = n;
  if (work !== undefined) minWork = work;
  if (n === 2) startWorker(); // start early: the worker takes ~50-100 ms to boot
}

export function configuredThreads(): 1 | 2 {
  return threadCount();
}

// ---------------------------------------------------------------------------------------------
// The shared arena and its worker.
// ---------------------------------------------------------------------------------------------

type State = 'none' | 'running' | 'failed';

interface Mt {
  arena: Arena;
  module: object;
  memory: WasmMemory;
  ctl: Int32Array;
  state: State;
  /** Number of the last job published (mirrors ctl[SEQ]). */
  seq: number;
}

/** `undefined` before the first attempt, `null` if the shared module cannot be used here. */
let mt: Mt | null | undefined;

/**
 * Counters for tests and benchmarks: split calls, split calls in which the worker computed at
 * least one chunk, chunks in total and by the worker, and the total milliseconds the calling
 * thread spent waiting for the worker's last chunk.
 */
export const stats = { splitCalls: 0, workerBlocks: 0, chunks: 0, workerChunks: 0, waitMs: 0 };

/**
 * Compiles gemm-mt.wasm on a fresh shared memory and instantiates it on the main thread.
 * Returns null (never throws) when shared memory, threads or the file are unavailable.
 */
function loadMt(api: WasmApi | undefined, name: WasmName | undefined): Mt | null {
  if (mt !== undefined) return mt;
  mt = null;
  try {
    if (api === undefined || name === undefined || typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object' || !platform().threadsPossible()) return null;
    const module = compileWasm(name);
    const memory = new api.Memory({ initial: 1, maximum: MT_MAX_PAGES, shared: true });
    const w = new api.Instance(module, { env: { memory } }).exports as GemmExports;
    const arena: Arena = {
      w, heap32: new Float32Array(0), heap64: new Float64Array(0),
      base: (w.heapBase() + 63) & ~63, maxBytes: MT_MAX_PAGES * PAGE,
    };
    ensureMemory(arena, arena.base + CTL_BYTES);
    refreshViews(arena);
    const ctl = new Int32Array(memory.buffer, arena.base, CTL_INTS);
    ctl[IDLE] = DEFAULT_IDLE_MS;
    mt = { arena, module, memory, ctl, state: 'none', seq: 0 };
  } catch {
    mt = null;
  }
  return mt;
}

/** Where index.ts finds the engine API and which gemm-mt build to load; set once by index.ts. */
let locate: () => { api: WasmApi | undefined; name: WasmName | undefined } = () => ({ api: undefined, name: undefined });
export function setLocator(fn: typeof locate): void {
  locate = fn;
}

/**
 * Sets the idle time (ms) after which the worker retires; it takes effect from the worker's
 * next wait, i.e. after its next job. For tests of retirement; not part of the public API.
 */
export function setIdleMs(ms: number): void {
  const s = mt ?? loadMt(locate().api, locate().name);
  if (s !== null) Atomics.store(s.ctl, IDLE, ms);
}

/** Starts the worker if it is not running (non-blocking: it flags READY when it is up). */
function startWorker(): void {
  const { api, name } = locate();
  const s = loadMt(api, name);
  if (s === null || s.state !== 'none') return;
  try {
    s.state = 'running';
    platform().startGemmWorker(WORKER_RUN_SRC, { module: s.module, memory: s.memory, ctlOffset: s.arena.base }, {
      error: () => {
        s.state = 'failed'; // e.g. instantiation failed: stay single-threaded from now on
      },
      exit: (code) => {
        Atomics.store(s.ctl, READY, 0);
        // Retired after idling (code 0): start a new one on the next large call.
        if (s.state === 'running') s.state = code === 0 ? 'none' : 'failed';
      },
    });
  } catch {
    s.state = 'failed';
  }
}

/**
 * The shared arena if a GEMM of this size should run on two threads and the worker is up;
 * otherwise null (the caller uses the single-thread module). Starts the worker if needed.
 */
export function threadedArena(m: number, n: number, k: number, f64: boolean): Arena | null {
  if (threadCount() !== 2 || m * n * k * (f64 ? 2 : 1) < minWork) return null;
  if (mt === undefined || (mt !== null && mt.state === 'none')) startWorker();
  if (mt == null || mt.state !== 'running' || Atomics.load(mt.ctl, READY) !== 1) return null;
  return mt.arena;
}

/** Whether the worker is up; polls (with timers, which keep the event loop alive) until it is. */
export async function whenReady(timeoutMs: number): Promise<boolean> {
  if (threadCount() !== 2) return false;
  if (mt === undefined || (mt !== null && mt.state === 'none')) startWorker();
  const t0 = Date.now();
  for (;;) {
    if (mt == null || mt.state === 'failed' || mt.state === 'none') return false;
    if (Atomics.load(mt.ctl, READY) === 1) return true;
    if (Date.now() - t0 > timeoutMs) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Whether two threads would be used for a large GEMM right now. */
export function threadsActive(): boolean {
  return threadCount() === 2 && mt != null && mt.state === 'running' && Atomics.load(mt.ctl, READY) === 1;
}

/** Default target number of chunks per split GEMM; see plan(). */
export const DEFAULT_CHUNKS = 6;
let chunkTarget = DEFAULT_CHUNKS;

/** Sets the target number of chunks (benchmarks compare 2, 4, 6); not part of the public API. */
export function setChunks(n: number): void {
  chunkTarget = Math.max(2, Math.min(MAX_CHUNKS, Math.floor(n)));
}

/**
 * Cuts the output into chunks: `count` ranges of `size` rows (byRows) or columns; null if too
 * small to split. Rows are split when m is large enough, unless n is much larger than m: row
 * chunks share one packed copy of B (runThreaded packs it first), while every column chunk
 * packs all of A (m·k values) again. Sizes are multiples of the
 * micro-kernel height (4) or width (8 f32, 4 f64) so no chunk adds partial tiles. More chunks
 * balance better when the machine is busy (`npm run bench:gemm -- --only step --chunks 4,6,8`,
 * three runs before B was shared: the W2 step's GEMMs took 19.1, 18.2 and 20.2 ms with 6 chunks,
 * 21.8, 18.6 and 21.2 with 4, 19.7, 18.9 and 20.7 with 8; with B packed once, the medians of
 * the W2 step's five split GEMMs were 20.2-20.5 ms for 6, 8, 12 and 16 chunks, against
 * 21.3-22.3 ms when every chunk packed B itself, interleaved in one process).
 */
function plan(m: number, n: number, f64: boolean): { byRows: boolean; size: number; count: number } | null {
  const MR = 4;
  const NR = f64 ? 4 : 8;
  const byRows = m >= 2 * MR && (n <= 4 * m || n < 2 * NR);
  if (!byRows && n < 2 * NR) return null;
  const dim = byRows ? m : n;
  const unit = byRows ? MR : NR;
  // At least 2 chunks; fewer than chunkTarget on small dimensions, where the packing each
  // chunk repeats would cost more than the balance gained: chunks of >= 32 rows / 64 columns.
  const count = Math.max(2, Math.min(chunkTarget, Math.floor(dim / (byRows ? 32 : 64))));
  const size = Math.ceil(dim / Math.min(count, Math.floor(dim / unit)) / unit) * unit;
  return { byRows, size, count: Math.ceil(dim / size) };
}

/**
 * Runs `call` (operands already in the shared arena) on two threads. `scratch0` and `scratch1`
 * are disjoint scratch regions of scratchBytes*(m, n) bytes each; `packedB` a region of
 * packedBBytes*(n, k) bytes, where row-chunked products pack all of B once for both threads
 * (instead of every chunk packing all of it). Returns false if the worker failed during the
 * call: C in the arena is then garbage (with accumulate, partly updated) and the caller must
 * restore it and recompute single-threaded.
 */
export function runThreaded(call: GemmCall, scratch0: number, scratch1: number, packedB: number): boolean {
  const s = mt as Mt;
  const w = s.arena.w;
  const { f64, m, n, k, a, b, c, transA, transB, accumulate, bias, relu } = call;
  const range = f64 ? w.gemmRangeF64 : w.gemmRangeF32;
  const pl = plan(m, n, f64);
  if (pl === null) {
    range(m, n, k, a, b, c, transA, transB, accumulate, bias, relu, scratch0, 0, m, 0, n, 0);
    return true;
  }
  const { byRows, size, count } = pl;
  // Row chunks all read the whole of B: pack it once, before the worker is woken.
  const pb = byRows ? packedB : 0;
  if (byRows) (f64 ? w.packAllBF64 : w.packAllBF32)(n, k, b, transB, packedB);
  const ctl = s.ctl;
  // Safe to overwrite: the previous job's chunks are all complete and its claim word is spent.
  ctl.set([+f64, m, n, k, a, b, c, transA, transB, accumulate, bias, relu, scratch1, +byRows, size, pb], P);
  const job = ++s.seq;
  Atomics.store(ctl, COMPLETED, 0);
  Atomics.store(ctl, NEXT, ((job & TAG_MASK) << TAG_SHIFT) | (count << CHUNK_BITS));
  const before = Atomics.load(ctl, WORKER_CHUNKS);
  Atomics.store(ctl, SEQ, job); // publishes everything written above (seq-cst store)
  Atomics.notify(ctl, SEQ, 1);
  stats.splitCalls++;
  // Claim chunks until none are left (the worker claims from the same counter).
  for (let v = Atomics.load(ctl, NEXT); (v & MAX_CHUNKS) < count; v = Atomics.load(ctl, NEXT)) {
    if (Atomics.compareExchange(ctl, NEXT, v, v + 1) !== v) continue;
    const lo = (v & MAX_CHUNKS) * size;
    if (byRows) range(m, n, k, a, b, c, transA, transB, accumulate, bias, relu, scratch0, lo, Math.min(m, lo + size), 0, n, pb);
    else range(m, n, k, a, b, c, transA, transB, accumulate, bias, relu, scratch0, 0, m, lo, Math.min(n, lo + size), 0);
    Atomics.add(ctl, COMPLETED, 1);
  }
  // Wait for the chunks the worker claimed. It completes every chunk it claims, even on failure.
  const t0 = performance.now();
  // A browser's main thread may not block: it spins on the counter instead (the worker's
  // chunks take about as long as the ones this thread just computed).
  const block = platform().canBlock();
  for (let d = Atomics.load(ctl, COMPLETED); d !== count; d = Atomics.load(ctl, COMPLETED)) if (block) Atomics.wait(ctl, COMPLETED, d);
  stats.waitMs += performance.now() - t0;
  const byWorker = Atomics.load(ctl, WORKER_CHUNKS) - before;
  stats.chunks += count;
  stats.workerChunks += byWorker;
  if (byWorker > 0) stats.workerBlocks++;
  if (Atomics.load(ctl, ERR) === job) {
    s.state = 'failed'; // a worker that threw once is not trusted again
    return false;
  }
  return true;
}
