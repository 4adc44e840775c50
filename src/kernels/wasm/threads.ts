/**
 * Two-thread execution of the WebAssembly GEMM: one helper worker (worker_threads in Node.js, a
 * Web Worker in a cross-origin-isolated page) runs the same GEMM module on the runtime's shared
 * memory (runtime.ts), where resident operands already are.
 *
 * Protocol (no postMessage per call, which costs ~50-100 µs): an Int32Array control block in
 * the shared memory holds the job parameters, a few counters and one state word per chunk. The
 * output is cut into chunks (row or column ranges of C). The main thread writes the
 * parameters, publishes job number `s` with Atomics.store + notify, and both threads claim
 * chunks one at a time with a compareExchange on NEXT (tagged with `s`, so a worker that wakes
 * late cannot claim a chunk of a later job) until none are left.
 *
 * The worker never writes C directly. It computes a chunk into its own output region (a
 * shadow of C), then moves the chunk's state from WORKING to COMMITTING with a compareExchange
 * and only then copies the chunk into C. When the main thread has done its chunks and a chunk
 * of the worker's is late (the worker was descheduled on a busy machine, or died), the main
 * thread takes the chunk over with its own compareExchange (WORKING → STOLEN) and computes it
 * itself; the worker's late result is then discarded. So:
 *   - the main thread never waits longer than about one chunk for the worker (a busy second
 *     core cannot make a product much slower than one thread, and after repeated late chunks
 *     the worker rests: products run on one thread for 50 ms, doubling up to 2 s while it
 *     stays late);
 *   - a dead worker cannot hang the caller (its chunk is stolen, and the worker is dropped);
 *   - a late worker cannot corrupt anything: the memory it may still write (its shadow and
 *     scratch) stays reserved until it reports that it dropped the stolen chunk.
 * Every element of C goes through the same operation sequence whichever thread and chunk
 * compute it (see gemmImpl in asm/gemm.ts), so results are bit-identical to one thread.
 *
 * @packageDocumentation
 */

import { platform } from '../../platform';
import { CTL_BYTES, heapFree, runtime, type Frame, type GemmExports, type Runtime } from './runtime';

// ---------------------------------------------------------------------------------------------
// Control block: CTL_INTS int32 at the runtime's ctl offset.
// ---------------------------------------------------------------------------------------------

const SEQ = 0; // number of the last published job (main writes)
const NEXT = 1; // claim word: (job & TAG_MASK) << 2·CHUNK_BITS | chunk count << CHUNK_BITS | next chunk
const COMPLETED = 2; // chunks of the current job completed (both threads add)
const RETIRED = 2; // READY's value once the worker has left its loop for good
const READY = 3; // 0 while the worker boots, 1 while it serves, 2 once it has retired (RETIRED)
const ERR = 4; // number of the last job in which the worker threw; the main thread redoes it
const IDLE = 5; // ms without work after which the worker retires (read before each wait)
const WORKER_CHUNKS = 6; // chunks committed by the worker, total (statistics)
const DROPPED = 7; // number of the last job whose stolen chunk the worker has dropped (quarantine ends)
const P = 8; // parameters: f64, m, n, k, a, b, c, transA, transB, accumulate, bias, relu, scratch, byRows, size, packedB, shadow
const NPARAMS = 17;
const DELAY = P + NPARAMS; // test hook: ms the worker sleeps before each chunk (0: none)
const STATE = DELAY + 2; // one word per chunk (DELAY + 1 is the word the worker sleeps on)
const CTL_INTS = STATE + 64;
if (CTL_INTS * 4 > CTL_BYTES) throw new Error('threads: the control block does not fit CTL_BYTES');

// Chunk states.
const FREE = 0; // not claimed
const WORKING = 1; // the worker computes it into its shadow
const COMMITTING = 2; // the worker copies it into C
const DONE = 3; // in C
const STOLEN = 4; // the main thread took it over from the worker
const FAILED = 5; // the worker threw while computing it; C is untouched there

// Packing the job tag and the chunk count into the claim word means one exact compareExchange
// both claims a chunk and proves it is an in-range chunk of the job the claimer read.
const CHUNK_BITS = 6;
const MAX_CHUNKS = (1 << CHUNK_BITS) - 1;
const TAG_MASK = (1 << (31 - 2 * CHUNK_BITS)) - 1;
const TAG_SHIFT = 2 * CHUNK_BITS;

/** A worker retires after this long without work (ms), so an idle process holds no thread. */
const DEFAULT_IDLE_MS = 10_000;

/**
 * The worker's body, as the source of a function of `{ module, memory, ctlOffset }` that the
 * platform evaluates in a fresh thread (`new Worker(src, { eval: true })` in Node.js, a Blob URL
 * in browsers): no file path to resolve, so it works the same from src/ (ts-node, jest), dist/
 * and a bundle. Plain JS, no imports. It returns when the worker retires.
 */
const WORKER_RUN_SRC = `function run({ module, memory, ctlOffset }) {
const ctl = new Int32Array(memory.buffer, ctlOffset, ${CTL_INTS});
const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
let seen = Atomics.load(ctl, ${SEQ});
Atomics.store(ctl, ${READY}, 1);
// Copies the chunk's part of C between C (at c) and the shadow (at sh), in either direction.
function move(heap, shift, from, to, m, n, byRows, lo, hi) {
  if (byRows) { heap.copyWithin((to >>> shift) + lo * n, (from >>> shift) + lo * n, (from >>> shift) + hi * n); return; }
  for (let i = 0; i < m; i++) heap.copyWithin((to >>> shift) + i * n + lo, (from >>> shift) + i * n + lo, (from >>> shift) + i * n + hi);
}
for (;;) {
  if (Atomics.wait(ctl, ${SEQ}, seen, Atomics.load(ctl, ${IDLE})) === 'timed-out') {
    // Retire. A job published meanwhile is safe: the main thread claims every chunk left. From
    // here on this thread touches nothing shared, so a new worker may start at once.
    Atomics.store(ctl, ${READY}, ${RETIRED});
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
    if (v >>> ${TAG_SHIFT} !== tag || idx >= count) break;
    if (Atomics.compareExchange(ctl, ${NEXT}, v, v + 1) !== v) continue;
    // Claimed chunk idx of job s. Its parameters stay put until the main thread has every
    // chunk DONE, and its state can only leave WORKING through a compareExchange.
    Atomics.store(ctl, ${STATE} + idx, ${WORKING});
    const delay = Atomics.load(ctl, ${DELAY});
    if (delay > 0) Atomics.wait(ctl, ${DELAY} + 1, 0, delay);
    const f64 = ctl[p], m = ctl[p + 1], n = ctl[p + 2], c = ctl[p + 6], acc = ctl[p + 9];
    const byRows = ctl[p + 13], size = ctl[p + 14], sh = ctl[p + 16];
    const lo = idx * size, hi = Math.min(byRows ? m : n, lo + size);
    const heap = f64 ? new Float64Array(memory.buffer) : new Float32Array(memory.buffer);
    const shift = f64 ? 3 : 2;
    let failed = false;
    try {
      if (acc) move(heap, shift, c, sh, m, n, byRows, lo, hi);
      (f64 ? ex.gemmRangeF64 : ex.gemmRangeF32)(
        m, n, ctl[p + 3], ctl[p + 4], ctl[p + 5], sh, ctl[p + 7], ctl[p + 8],
        acc, ctl[p + 10], ctl[p + 11], ctl[p + 12],
        byRows ? lo : 0, byRows ? hi : m, byRows ? 0 : lo, byRows ? n : hi, ctl[p + 15]);
    } catch {
      Atomics.store(ctl, ${ERR}, s);
      failed = true;
    }
    if (Atomics.compareExchange(ctl, ${STATE} + idx, ${WORKING}, ${COMMITTING}) === ${WORKING}) {
      // Still ours: publish it (after a failure, C keeps its old values and the main thread computes it).
      if (!failed) move(heap, shift, sh, c, m, n, byRows, lo, hi);
      Atomics.store(ctl, ${STATE} + idx, failed ? ${FAILED} : ${DONE});
      if (!failed) Atomics.add(ctl, ${WORKER_CHUNKS}, 1);
      if (Atomics.add(ctl, ${COMPLETED}, 1) + 1 === count) Atomics.notify(ctl, ${COMPLETED});
    } else {
      // Stolen: the main thread computed it. Say that the shadow and scratch are free again.
      Atomics.store(ctl, ${DROPPED}, s);
      Atomics.notify(ctl, ${DROPPED});
      break;
    }
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
  restUntil = 0;
  if (n === 2) startWorker(); // start early: the worker takes ~50-100 ms to boot
}

export function configuredThreads(): 1 | 2 {
  return threadCount();
}

// ---------------------------------------------------------------------------------------------
// The worker.
// ---------------------------------------------------------------------------------------------

type State = 'none' | 'running' | 'failed';

interface Mt {
  r: Runtime;
  w: GemmExports;
  ctl: Int32Array;
  state: State;
  /** Number of the last job published (mirrors ctl[SEQ]). */
  seq: number;
  /** Which worker is current: a retired one's late exit event must not touch its successor. */
  gen: number;
}

/** `undefined` before the first attempt, `null` if threads cannot run here. */
let mt: Mt | null | undefined;

/**
 * Counters for tests and benchmarks: split calls, split calls in which the worker computed at
 * least one chunk, chunks in total and by the worker, the total milliseconds the calling
 * thread spent waiting for the worker's last chunk, chunks the calling thread took over from a
 * late worker, and how many times the worker was sent to rest for being late.
 */
export const stats = { splitCalls: 0, workerBlocks: 0, chunks: 0, workerChunks: 0, waitMs: 0, stolenChunks: 0, rests: 0 };

/** Test hook: when false, threads are reported impossible (as without shared memory). */
let allowed = true;

/**
 * Makes threads impossible (false) or possible again (true), as on a host without shared
 * memory; for tests of the single-thread fallback. Not part of the public API.
 *
 * @internal
 */
export function allowThreads(on: boolean): void {
  allowed = on;
}

function loadMt(): Mt | null {
  if (mt !== undefined) return mt;
  const r = runtime();
  if (!allowed || r === null || !r.shared || r.gemm === null || r.gemmModule === null) return null;
  mt = null;
  try {
    const ctl = new Int32Array(r.memory.buffer, r.ctl, CTL_INTS);
    ctl[IDLE] = DEFAULT_IDLE_MS;
    mt = { r, w: r.gemm, ctl, state: 'none', seq: 0, gen: 0 };
  } catch {
    mt = null;
  }
  return mt;
}

/**
 * Sets the idle time (ms) after which the worker retires; it takes effect from the worker's
 * next wait, i.e. after its next job. For tests of retirement; not part of the public API.
 */
export function setIdleMs(ms: number): void {
  const s = loadMt();
  if (s !== null) Atomics.store(s.ctl, IDLE, ms);
}

/** Starts the worker if it is not running (non-blocking: it flags READY when it is up). */
function startWorker(): void {
  const s = loadMt();
  if (s === null || s.state !== 'none') return;
  const gen = ++s.gen;
  try {
    s.state = 'running';
    Atomics.store(s.ctl, READY, 0); // booting
    platform().startGemmWorker(WORKER_RUN_SRC, { module: s.r.gemmModule!, memory: s.r.memory, ctlOffset: s.r.ctl }, {
      error: () => {
        if (s.gen === gen) s.state = 'failed'; // e.g. instantiation failed: stay single-threaded from now on
      },
      exit: (code) => {
        if (s.gen !== gen) return; // a retired worker that was already replaced
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
 * Notices a worker that retired while this thread never returned to its event loop (a
 * synchronous training loop: the exit event waits for the loop), and starts its successor at
 * once instead of running every product on one thread until the event arrives.
 */
function replaceRetired(s: Mt): void {
  if (s.state === 'running' && Atomics.load(s.ctl, READY) === RETIRED) {
    s.state = 'none';
    startWorker();
  }
}

/**
 * Makes the worker sleep `ms` before each chunk it claims (0: not at all), so tests can play a
 * descheduled or hung worker. Not part of the public API.
 *
 * @internal
 */
export function setWorkerDelay(ms: number): void {
  const s = loadMt();
  if (s !== null) Atomics.store(s.ctl, DELAY, ms);
}

/** Regions a late worker may still write, reserved until it drops its stolen chunk. */
const quarantine: { job: number; regions: [number, number][] }[] = [];

/** Frees quarantined regions of jobs whose stolen chunk the worker has dropped. */
function releaseQuarantine(s: Mt): void {
  const dropped = Atomics.load(s.ctl, DROPPED);
  for (let i = quarantine.length - 1; i >= 0; i--) {
    if (quarantine[i].job <= dropped) {
      for (const [at, bytes] of quarantine[i].regions) heapFree(at, bytes);
      quarantine.splice(i, 1);
    }
  }
}

/** performance.now() before which products run on one thread (the worker was late). */
let restUntil = 0;
/** Late chunks in the recent split calls (decays by half per on-time call). */
let lateness = 0;
/**
 * How long the next rest lasts, ms: 50 after an on-time split call, doubling with every rest
 * that follows without one up to 2 s, so a passing hiccup costs little and a second core
 * that another process holds for good is left alone.
 */
let restMs = 50;
const MIN_REST_MS = 50;
const MAX_REST_MS = 2000;

/**
 * Whether a GEMM of this size should run on two threads now; starts the worker if needed.
 * False while the worker boots, rests after being late, or holds quarantined memory.
 */
export function useThreads(m: number, n: number, k: number, f64: boolean): boolean {
  if (threadCount() !== 2 || m * n * k * (f64 ? 2 : 1) < minWork) return false;
  const s = loadMt();
  if (s === null) return false;
  replaceRetired(s);
  if (s.state === 'none') startWorker();
  if (s.state !== 'running' || Atomics.load(s.ctl, READY) !== 1) return false;
  if (quarantine.length > 0) {
    releaseQuarantine(s);
    if (quarantine.length > 0) return false;
  }
  if (restUntil !== 0) {
    if (performance.now() < restUntil) return false;
    restUntil = 0;
  }
  return plan(m, n, f64) !== null;
}

/** Whether the worker is up; polls (with timers, which keep the event loop alive) until it is. */
export async function whenReady(timeoutMs: number): Promise<boolean> {
  if (threadCount() !== 2) return false;
  const s = loadMt();
  if (s === null) return false;
  if (s.state === 'none') startWorker();
  const t0 = Date.now();
  for (;;) {
    replaceRetired(s);
    if (s.state !== 'running') return false;
    if (Atomics.load(s.ctl, READY) === 1) return true;
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
 * chunks share one packed copy of B (packed first), while every column chunk packs all of A
 * again. Sizes are multiples of the micro-kernel height (4) or width (8 f32, 4 f64) so no chunk
 * adds partial tiles. More chunks balance better when the machine is busy (see
 * `npm run bench:gemm -- --only step --chunks 4,6,8`).
 */
function plan(m: number, n: number, f64: boolean): { byRows: boolean; size: number; count: number } | null {
  const MR = 4;
  const NR = f64 ? 4 : 8;
  const byRows = m >= 2 * MR && (n <= 4 * m || n < 2 * NR);
  if (!byRows && n < 2 * NR) return null;
  const dim = byRows ? m : n;
  const unit = byRows ? MR : NR;
  const count = Math.max(2, Math.min(chunkTarget, Math.floor(dim / (byRows ? 32 : 64))));
  const size = Math.ceil(dim / Math.min(count, Math.floor(dim / unit)) / unit) * unit;
  return { byRows, size, count: Math.ceil(dim / size) };
}

/** Arguments of one GEMM laid out in the runtime's memory (byte offsets). */
export interface GemmCall {
  f64: boolean;
  m: number; n: number; k: number;
  a: number; b: number; c: number;
  transA: number; transB: number; accumulate: number; bias: number; relu: number;
}

/**
 * Hard limit (ms) on waiting for a chunk the worker is copying into C: the copy takes
 * microseconds, so only a worker that died in the middle of it ends here.
 */
const COMMIT_LIMIT_MS = 5000;

/**
 * Runs `call` (operands in the runtime's memory; only call it when {@link useThreads} said so)
 * on two threads. Takes the scratch it needs from `f`: two packing regions, B packed once for
 * row chunks, and the worker's shadow of C. A chunk the worker failed on (it threw) left C
 * untouched there, and this thread computes it. Returns false, with C untouched, when the
 * scratch cannot be had (the caller runs the product on one thread). Throws only if the worker
 * died while copying its chunk into C (C is then partly updated).
 */
export function runThreaded(call: GemmCall, f: Frame): boolean {
  const s = mt as Mt;
  const w = s.w;
  const { f64, m, n, k, a, b, c, transA, transB, accumulate, bias, relu } = call;
  const pl = plan(m, n, f64)!;
  const { byRows, size, count } = pl;
  const sz = f64 ? 8 : 4;
  const scratchBytes = f64 ? w.scratchBytesF64(m, n) : w.scratchBytesF32(m, n);
  const scratch0 = f.scratch(scratchBytes);
  const scratch1 = f.scratch(scratchBytes, true); // the worker's: kept if it is late (keep())
  const shadowBytes = m * n * sz;
  const shadow = f.scratch(shadowBytes, true);
  const pbBytes = byRows ? (f64 ? w.packedBBytesF64(n, k) : w.packedBBytesF32(n, k)) : 0;
  const pb = byRows ? f.scratch(pbBytes, true) : 0;
  if (!f.ok) return false;
  const range = f64 ? w.gemmRangeF64 : w.gemmRangeF32;
  // Row chunks all read the whole of B: pack it once, before the worker is woken.
  if (byRows) (f64 ? w.packAllBF64 : w.packAllBF32)(n, k, b, transB, pb);
  const ctl = s.ctl;
  // Safe to overwrite: the previous job's chunks are all DONE and its claim word is spent.
  ctl.set([+f64, m, n, k, a, b, c, transA, transB, accumulate, bias, relu, scratch1, +byRows, size, pb, shadow], P);
  ctl.fill(FREE, STATE, STATE + count);
  const job = ++s.seq;
  Atomics.store(ctl, COMPLETED, 0);
  Atomics.store(ctl, NEXT, ((job & TAG_MASK) << TAG_SHIFT) | (count << CHUNK_BITS));
  const before = Atomics.load(ctl, WORKER_CHUNKS);
  Atomics.store(ctl, SEQ, job); // publishes everything written above (seq-cst store)
  Atomics.notify(ctl, SEQ, 1);
  stats.splitCalls++;
  const chunk = (idx: number): void => {
    const lo = idx * size;
    if (byRows) range(m, n, k, a, b, c, transA, transB, accumulate, bias, relu, scratch0, lo, Math.min(m, lo + size), 0, n, pb);
    else range(m, n, k, a, b, c, transA, transB, accumulate, bias, relu, scratch0, 0, m, lo, Math.min(n, lo + size), 0);
  };
  // Claim chunks until none are left (the worker claims from the same counter).
  const t0 = performance.now();
  let mine = 0;
  for (let v = Atomics.load(ctl, NEXT); (v & MAX_CHUNKS) < count; v = Atomics.load(ctl, NEXT)) {
    if (Atomics.compareExchange(ctl, NEXT, v, v + 1) !== v) continue;
    chunk(v & MAX_CHUNKS);
    Atomics.store(ctl, STATE + (v & MAX_CHUNKS), DONE);
    Atomics.add(ctl, COMPLETED, 1);
    mine++;
  }
  // Wait for the worker's chunks, but not much longer than one chunk takes this thread: then
  // take over what is still not done (the worker is late or dead).
  const t1 = performance.now();
  const perChunk = mine > 0 ? (t1 - t0) / mine : 1;
  const patience = Math.max(0.5, 1.5 * perChunk);
  const block = platform().canBlock();
  let stolen = 0;
  for (let d = Atomics.load(ctl, COMPLETED); d !== count; d = Atomics.load(ctl, COMPLETED)) {
    const waited = performance.now() - t1;
    if (waited < patience) {
      if (block) Atomics.wait(ctl, COMPLETED, d, patience - waited);
      continue;
    }
    let committing = false;
    for (let i = 0; i < count; i++) {
      // FREE cannot be left (every chunk was claimed); WORKING is the worker's, unless we take it.
      if (Atomics.load(ctl, STATE + i) === WORKING && Atomics.compareExchange(ctl, STATE + i, WORKING, STOLEN) === WORKING) {
        chunk(i);
        Atomics.add(ctl, COMPLETED, 1);
        stolen++;
      } else if (Atomics.load(ctl, STATE + i) === COMMITTING) committing = true;
      else if (Atomics.load(ctl, STATE + i) === FREE && Atomics.load(ctl, COMPLETED) !== count) {
        // Claimed by the worker a moment ago and not yet marked: wait for the mark.
        committing = true;
      }
    }
    if (committing && performance.now() - t1 > COMMIT_LIMIT_MS) {
      s.state = 'failed';
      throw new Error('gemm: the helper thread stopped while writing its part of the result; two-thread GEMMs are now off');
    }
    if (committing && block) Atomics.wait(ctl, COMPLETED, Atomics.load(ctl, COMPLETED), 1);
  }
  stats.waitMs += performance.now() - t1;
  const byWorker = Atomics.load(ctl, WORKER_CHUNKS) - before;
  stats.chunks += count;
  stats.workerChunks += byWorker;
  if (byWorker > 0) stats.workerBlocks++;
  if (stolen > 0) {
    stats.stolenChunks += stolen;
    // The worker may still be writing its shadow and scratch: keep them until it says it stopped.
    quarantine.push({ job, regions: [[scratch1, scratchBytes], [shadow, shadowBytes], ...(byRows ? [[pb, pbBytes] as [number, number]] : [])] });
    f.keep(scratch1);
    f.keep(shadow);
    if (byRows) f.keep(pb);
    lateness += 1;
    if (lateness >= 2) {
      // Late twice in a short while: someone else holds the second core. Rest, then try again.
      restUntil = performance.now() + restMs;
      restMs = Math.min(2 * restMs, MAX_REST_MS);
      lateness = 0;
      stats.rests++;
    }
  } else {
    lateness /= 2;
    restMs = MIN_REST_MS;
  }
  if (Atomics.load(ctl, ERR) === job) {
    s.state = 'failed'; // a worker that threw once is not trusted again
    for (let i = 0; i < count; i++) if (Atomics.load(ctl, STATE + i) === FAILED) chunk(i);
  }
  return true;
}
