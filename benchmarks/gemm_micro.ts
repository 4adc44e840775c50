/**
 * Micro-benchmark of the WebAssembly SIMD GEMM (src/kernels/wasm): GFLOP/s for square
 * n x n x n products, float32 and float64, the three forms C = A@B, A@Bᵀ, Aᵀ@B, one thread;
 * then one thread vs two threads (setGemmThreads) on the square sizes and on the GEMMs of a
 * W2 training step (batch 256, MLP 784→512→512→10: forward x@W, backward dY@Wᵀ and Xᵀ@dY),
 * each alone and as the whole sequence of one step.
 *
 * Run: `node scripts/build-wasm.js && npx ts-node --transpile-only benchmarks/gemm_micro.ts`
 * Options: `--sizes 256,512,1024` `--reps 9` `--only threads|single|step` `--dtypes f32,f64`
 * `--threshold` (instead: 1 vs 2 threads on small cubes, to place the work threshold)
 * `--chunks 2,4,6` (2-thread columns for these chunk counts; default: the built-in one).
 * `--shapes w2,w4` (instead: the GEMM shapes of the W2 and W4 training steps, see
 * {@link shapeSets}, in all three forms, one thread; add `--compare DIR` to time the kernels of
 * DIR/gemm*.wasm, e.g. a copy of an older build/, interleaved with the current build;
 * `--match 256x10x512,64x3x64` keeps only these m x n x k; `--no-api` skips the gemm() column).
 *
 * Single-thread mode times every (dtype, n, form) once per round, round-robin, for `reps`
 * rounds (default 11), so a slow phase of a shared machine lowers all figures alike; small n
 * repeat the call within a sample. Reports the median and best sample (after warm-up, so V8
 * has tiered the kernel up to TurboFan) in wall-clock time and in process CPU time. CPU time
 * is the steadier number on a shared machine: it does not count time the thread was
 * preempted (but a core slowed by a busy sibling still counts in full). Timings
 * include the copies of A and B into wasm memory and of C out; `copy%` estimates their share
 * by timing three equivalent TypedArray.set calls alone (best copy time / best GEMM time).
 *
 * @packageDocumentation
 */

import * as fs from 'node:fs';
import * as path from 'node:path';

import '../src/platform/node'; // the kernels' Node.js platform (worker_threads), as src/index.ts installs it
import { DEFAULT_CHUNKS, setChunks } from '../src/kernels/wasm/threads';
import { gemm, gemmThreads, gemmThreadsReady, gemmVariant, setGemmThreads, wasmAvailable, type FloatArray, type GemmOptions } from '../src/kernels/wasm';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const sizes = arg('sizes', '256,512,1024').split(',').map(Number);
const repsArg = Number(arg('reps', '0'));
const only = arg('only', '');
const dtypes = arg('dtypes', 'f32,f64').split(',');
const chunkList = arg('chunks', '').split(',').filter((x) => x !== '').map(Number);

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Times `fn` `reps` times; returns wall and CPU milliseconds per call. */
function time(fn: () => void, reps: number): { wall: number[]; cpu: number[] } {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    const t1 = performance.now();
    const c1 = process.cpuUsage(c0);
    wall.push(t1 - t0);
    cpu.push((c1.user + c1.system) / 1000);
  }
  return { wall, cpu };
}

function single(): void {
  setGemmThreads(1);
  const forms = [
    { name: 'A@B', opts: {} },
    { name: 'A@Bᵀ', opts: { transB: true } },
    { name: 'Aᵀ@B', opts: { transA: true } },
  ];
  const rows: string[][] = [['dtype', 'n', 'form', 'median GF/s', 'best GF/s', 'median GF/s (cpu)', 'best GF/s (cpu)', 'copy%']];
  // Round-robin: every round times each (dtype, n, form) once, so a slow phase of the shared
  // machine lowers all figures alike instead of whichever form happened to be running.
  interface Item { label: string[]; run: () => void; flop: number; inner: number; copy: number; wall: number[]; cpu: number[] }
  const items: Item[] = [];
  for (const Ctor of ctors()) {
    for (const n of sizes) {
      const a = new Ctor(n * n).map(() => Math.random() - 0.5) as FloatArray;
      const b = new Ctor(n * n).map(() => Math.random() - 0.5) as FloatArray;
      const c = new Ctor(n * n) as FloatArray;
      // Calls per timing: about 5-10 ms per sample at 30 GFLOP/s.
      const inner = Math.max(1, Math.round(256 / n) ** 3 * (n >= 512 ? 1 : 4));
      // Copy cost stand-in: the loader does exactly these three memcpys (A in, B in, C out).
      const scratch = new Ctor(n * n);
      const copyAll = (): void => { scratch.set(a); scratch.set(b); c.set(scratch); };
      time(copyAll, 5); // first touch of fresh pages and JIT warm-up
      const copy = Math.min(...time(copyAll, 15).wall);
      for (const form of forms) {
        const run = (): void => gemm(a, b, c, n, n, n, form.opts);
        time(run, 3); // warm-up and tier-up
        items.push({ label: [Ctor === Float32Array ? 'f32' : 'f64', String(n), form.name], run, flop: 2 * n * n * n, inner, copy, wall: [], cpu: [] });
      }
    }
  }
  const reps = repsArg > 0 ? repsArg : 11;
  for (let r = 0; r < reps; r++) {
    for (const it of items) {
      const { wall, cpu } = time(() => { for (let i = 0; i < it.inner; i++) it.run(); }, 1);
      it.wall.push(wall[0] / it.inner);
      it.cpu.push(cpu[0] / it.inner);
    }
  }
  for (const it of items) {
    const gf = (ms: number): string => (it.flop / ms / 1e6).toFixed(1);
    rows.push([
      ...it.label, gf(median(it.wall)), gf(Math.min(...it.wall)), gf(median(it.cpu)), gf(Math.min(...it.cpu)),
      ((100 * it.copy) / Math.min(...it.wall)).toFixed(1),
    ]);
  }
  print(rows);
}

function ctors(): (Float32ArrayConstructor | Float64ArrayConstructor)[] {
  return dtypes.map((d) => (d === 'f64' ? Float64Array : Float32Array));
}

function print(rows: string[][]): void {
  const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
  for (const r of rows) console.log(r.map((s, j) => s.padStart(widths[j])).join('  '));
}

interface Shape { label: string; m: number; n: number; k: number; opts: GemmOptions; bias?: boolean }

/**
 * 1 vs 2 threads, interleaved rep by rep (1, 2, 1, 2, ...) so that load from other processes
 * hits both settings alike; wall-clock medians (CPU time is meaningless for two threads).
 * `worker%` is the share of chunks the worker computed (50 when both threads are equally fast),
 * `wait ms` the median time the calling thread waited for the worker's last chunk, `cores` the
 * median process CPU time / wall time of the 2-thread calls: about 2 when the worker really
 * ran in parallel, about 1 when other processes left this one a single core's worth.
 */
async function threaded(shapes: Shape[], minWork?: number): Promise<void> {
  setGemmThreads(2, minWork);
  if (!(await gemmThreadsReady())) {
    console.log('threads: unavailable (no shared memory / build/gemm-mt.wasm / worker); skipped');
    return;
  }
  // Configurations: 1 thread, then 2 threads for each chunk count (0 = built-in default).
  const chunkCfgs = chunkList.length > 0 ? chunkList : [0];
  const label2 = (c: number): string => (c === 0 ? '2T' : `2T/${c}`);
  const rows: string[][] = [[
    'dtype', 'shape', 'm x n x k', 'GF/s 1T',
    ...chunkCfgs.flatMap((c) => [`GF/s ${label2(c)}`, 'speedup', 'worker%', 'wait ms', 'cores']),
  ]];
  for (const Ctor of ctors()) {
    for (const { label, m, n, k, opts, bias: withBias } of shapes) {
      const a = new Ctor(m * k).map(() => Math.random() - 0.5) as FloatArray;
      const b = new Ctor(k * n).map(() => Math.random() - 0.5) as FloatArray;
      const bias = withBias === true ? (new Ctor(n).map(() => Math.random() - 0.5) as FloatArray) : null;
      const c = new Ctor(m * n) as FloatArray;
      const flop = 2 * m * n * k;
      const reps = repsArg > 0 ? repsArg : flop >= 1e9 ? 7 : flop >= 1e8 ? 15 : flop >= 1e7 ? 41 : 101;
      const call = (): void => gemm(a, b, c, m, n, k, { ...opts, bias });
      const t1: number[] = [];
      const t2: number[][] = chunkCfgs.map(() => []);
      const workerPct: number[][] = chunkCfgs.map(() => []);
      const wait: number[][] = chunkCfgs.map(() => []);
      const cores: number[][] = chunkCfgs.map(() => []);
      const use = (t: 1 | 2, cfg = 0): void => {
        setGemmThreads(t);
        setChunks(cfg === 0 ? DEFAULT_CHUNKS : cfg);
      };
      use(1);
      time(call, 3); // warm-up and tier-up
      chunkCfgs.forEach((cfg) => { use(2, cfg); time(call, 3); });
      for (let r = 0; r < reps; r++) {
        use(1);
        t1.push(time(call, 1).wall[0]);
        chunkCfgs.forEach((cfg, i) => {
          use(2, cfg);
          const s0 = gemmThreads();
          const { wall, cpu } = time(call, 1);
          t2[i].push(wall[0]);
          cores[i].push(cpu[0] / wall[0]);
          const s1 = gemmThreads();
          if (s1.chunks > s0.chunks) workerPct[i].push((100 * (s1.workerChunks - s0.workerChunks)) / (s1.chunks - s0.chunks));
          wait[i].push(s1.waitMs - s0.waitMs);
        });
      }
      setChunks(DEFAULT_CHUNKS);
      const gf = (ms: number): string => (flop / ms / 1e6).toFixed(1);
      rows.push([
        Ctor === Float32Array ? 'f32' : 'f64', label, `${m}x${n}x${k}`, gf(median(t1)),
        ...chunkCfgs.flatMap((_, i) => [
          gf(median(t2[i])), (median(t1) / median(t2[i])).toFixed(2),
          workerPct[i].length > 0 ? median(workerPct[i]).toFixed(0) : '-',
          workerPct[i].length > 0 ? median(wait[i]).toFixed(2) : '-',
          median(cores[i]).toFixed(2),
        ]),
      ]);
    }
  }
  print(rows);
}

/**
 * The GEMMs of one W2 training step in order (f32, batch 256, 784→512→512→10): forward
 * x@W+b per layer, backward dW = Xᵀ@dY for every layer and dX = dY@Wᵀ for layers 3 and 2
 * (layer 1's input needs no gradient). 1 vs 2 threads, interleaved step by step; medians.
 */
async function w2Step(): Promise<void> {
  setGemmThreads(2);
  if (!(await gemmThreadsReady())) return;
  const B = 256;
  const r = (len: number): Float32Array => new Float32Array(len).map(() => Math.random() - 0.5);
  const x = r(B * 784), w1 = r(784 * 512), w2 = r(512 * 512), w3 = r(512 * 10);
  const b1 = r(512), b2 = r(512), b3 = r(10);
  const h1 = r(B * 512), h2 = r(B * 512), y = r(B * 10), dy = r(B * 10), dh2 = r(B * 512), dh1 = r(B * 512);
  const dw1 = r(784 * 512), dw2 = r(512 * 512), dw3 = r(512 * 10);
  const step = (): void => {
    gemm(x, w1, h1, B, 512, 784, { bias: b1, relu: true });
    gemm(h1, w2, h2, B, 512, 512, { bias: b2, relu: true });
    gemm(h2, w3, y, B, 10, 512, { bias: b3 });
    gemm(h2, dy, dw3, 512, 10, B, { transA: true });
    gemm(dy, w3, dh2, B, 512, 10, { transB: true });
    gemm(h1, dh2, dw2, 512, 512, B, { transA: true });
    gemm(dh2, w2, dh1, B, 512, 512, { transB: true });
    gemm(x, dh1, dw1, 784, 512, B, { transA: true });
  };
  const flop = 2 * B * (784 * 512 * 2 + 512 * 512 * 3 + 512 * 10 * 3);
  const reps = repsArg > 0 ? repsArg : 41;
  // Configurations: 1 thread, then 2 threads for each chunk count (0 = built-in default).
  const cfgs: [1 | 2, number][] = [[1, 0], ...(chunkList.length > 0 ? chunkList : [0]).map((c): [1 | 2, number] => [2, c])];
  const use = ([n, ch]: [1 | 2, number]): void => {
    setGemmThreads(n);
    setChunks(ch === 0 ? DEFAULT_CHUNKS : ch);
  };
  const t: number[][] = cfgs.map(() => []);
  const cores: number[][] = cfgs.map(() => []);
  for (const cfg of cfgs) { use(cfg); time(step, 5); }
  for (let i = 0; i < reps; i++) {
    cfgs.forEach((cfg, j) => {
      use(cfg);
      const { wall, cpu } = time(step, 1);
      t[j].push(wall[0]);
      cores[j].push(cpu[0] / wall[0]);
    });
  }
  setChunks(DEFAULT_CHUNKS);
  const m1 = median(t[0]);
  const parts = cfgs.map(([n, ch], j) => {
    const mj = median(t[j]);
    const name = n === 1 ? '1 thread' : `2 threads${ch === 0 ? '' : ` (${ch} chunks)`}`;
    return `${name} ${mj.toFixed(2)} ms (${(flop / mj / 1e6).toFixed(1)} GF/s` +
      (n === 1 ? ')' : `, x${(m1 / mj).toFixed(2)}, ${median(cores[j]).toFixed(2)} cores)`);
  });
  console.log(`W2 step GEMMs (${(flop / 1e9).toFixed(2)} GFLOP, f32, medians of ${reps}): ${parts.join('; ')}`);
}


/**
 * The distinct (m, n, k) of the GEMMs of one training step: W2 (784-512-BN-512-BN-10, batch
 * 256) and W4 (2-64-BN-64-BN-3, batch 64). Each is timed in all three forms, so e.g. the
 * forward x@W's [256, 512]·[512, 10] also appears as A·Bᵀ and Aᵀ·B.
 */
const shapeSets: Record<string, { label: string; m: number; n: number; k: number }[]> = {
  w2: [
    { label: 'W2 L1 fwd', m: 256, n: 512, k: 784 },
    { label: 'W2 L2 fwd/dX', m: 256, n: 512, k: 512 },
    { label: 'W2 L3 fwd', m: 256, n: 10, k: 512 },
    { label: 'W2 L3 dX', m: 256, n: 512, k: 10 },
    { label: 'W2 L3 dW', m: 512, n: 10, k: 256 },
    { label: 'W2 L1 dX', m: 256, n: 784, k: 512 },
    { label: 'W2 L2 dW', m: 512, n: 512, k: 256 },
    { label: 'W2 L1 dW', m: 784, n: 512, k: 256 },
  ],
  w4: [
    { label: 'W4 L1 fwd', m: 64, n: 64, k: 2 },
    { label: 'W4 L2 all', m: 64, n: 64, k: 64 },
    { label: 'W4 L3 fwd/dW', m: 64, n: 3, k: 64 },
    { label: 'W4 L3 dX', m: 64, n: 64, k: 3 },
    { label: 'W4 L1 dW', m: 2, n: 64, k: 64 },
  ],
};

/** The exports of build/gemm*.wasm this benchmark calls directly (pointers are byte offsets). */
interface RawGemm {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  heapBase(): number;
  scratchBytesF32(m: number, n: number): number;
  scratchBytesF64(m: number, n: number): number;
  gemmF32(m: number, n: number, k: number, a: number, b: number, c: number, tA: number, tB: number, acc: number, bias: number, relu: number, scratch: number): void;
  gemmF64(m: number, n: number, k: number, a: number, b: number, c: number, tA: number, tB: number, acc: number, bias: number, relu: number, scratch: number): void;
}

/** Instantiates one single-thread GEMM module from a file, on a memory of its own (the modules import it). */
function loadRaw(file: string): RawGemm {
  const api = (globalThis as unknown as {
    WebAssembly: {
      Module: new (b: Uint8Array) => object; Instance: new (m: object, i: object) => { exports: unknown };
      Memory: new (d: { initial: number }) => RawGemm['memory'];
    };
  }).WebAssembly;
  const memory = new api.Memory({ initial: 1 });
  const exports = new api.Instance(new api.Module(fs.readFileSync(file)), { env: { memory } }).exports as Omit<RawGemm, 'memory'>;
  return { ...exports, memory };
}

/**
 * `--shapes`: GFLOP/s of the W2 / W4 step shapes, all three forms, f32 and f64, one thread.
 * `kernel`: the module's gemmF32/gemmF64 called directly on operands already in its memory
 * (what a loader with wasm-resident tensors pays); `api`: the public gemm(), which adds the
 * argument checks and the copies in and out. Round-robin over all items for `reps` rounds
 * (default 11); each sample repeats the call for about 2 ms; the median and the best sample of
 * wall-clock time (on a shared machine the best is the steadier estimate of the kernel's speed).
 * With `--compare DIR`, the same kernel timing for DIR's module, the two alternating inside
 * every round (order swapped each round), so both see the same machine load.
 */
function shapeBench(): void {
  setGemmThreads(1);
  const variantName = gemmVariant() === 'fma' ? 'gemm-fma.wasm' : 'gemm.wasm';
  const cmpDir = arg('compare', '');
  const builds = [{ name: 'new', ex: loadRaw(path.resolve(__dirname, '..', 'build', variantName)) }];
  if (cmpDir !== '') builds.push({ name: 'old', ex: loadRaw(path.resolve(cmpDir, variantName)) });
  const match = arg('match', '').split(',').filter((x) => x !== '');
  const list = arg('shapes', 'w2,w4').split(',').flatMap((s) => {
    const set = shapeSets[s];
    if (set === undefined) throw new Error(`--shapes: unknown set '${s}' (known: ${Object.keys(shapeSets).join(', ')})`);
    return set;
  }).filter(({ m, n, k }) => match.length === 0 || match.includes(`${m}x${n}x${k}`));
  const forms = [
    { name: 'A·B', tA: false, tB: false },
    { name: 'A·Bᵀ', tA: false, tB: true },
    { name: 'Aᵀ·B', tA: true, tB: false },
  ];
  const withApi = !process.argv.includes('--no-api');
  interface Item {
    label: string[]; flop: number; inner: number;
    runs: { name: string; prepare: () => void; run: () => void; wall: number[] }[];
  }
  const items: Item[] = [];
  for (const Ctor of ctors()) {
    const f64 = Ctor === Float64Array;
    const sz = f64 ? 8 : 4;
    for (const { label, m, n, k } of list) {
      const a = new Ctor(m * k).map(() => Math.random() - 0.5);
      const b = new Ctor(k * n).map(() => Math.random() - 0.5);
      const c = new Ctor(m * n);
      for (const form of forms) {
        const runs: Item['runs'] = builds.map(({ name, ex }) => {
          // Layout in this module's memory: A | B | C | scratch, 64-byte aligned.
          const al = (x: number): number => Math.ceil(x / 64) * 64;
          const pa = al(ex.heapBase()), pb = pa + al(m * k * sz), pc = pb + al(k * n * sz);
          const ps = pc + al(m * n * sz);
          const end = ps + al(f64 ? ex.scratchBytesF64(m, n) : ex.scratchBytesF32(m, n));
          const have = ex.memory.buffer.byteLength;
          if (end > have) ex.memory.grow(Math.ceil((end - have) / 65536));
          const fn = f64 ? ex.gemmF64 : ex.gemmF32;
          return {
            name: `kernel ${name}`,
            // Operands are rewritten before every sample: another item may have used the region.
            prepare: (): void => {
              const heap = f64 ? new Float64Array(ex.memory.buffer) : new Float32Array(ex.memory.buffer);
              heap.set(a, pa / sz);
              heap.set(b, pb / sz);
            },
            run: (): void => fn(m, n, k, pa, pb, pc, +form.tA, +form.tB, 0, 0, 0, ps),
            wall: [],
          };
        });
        if (withApi) {
          const opts: GemmOptions = { transA: form.tA, transB: form.tB };
          runs.push({ name: 'api', prepare: () => {}, run: () => gemm(a as FloatArray, b as FloatArray, c as FloatArray, m, n, k, opts), wall: [] });
        }
        for (const r of runs) { r.prepare(); time(r.run, 20); } // warm-up and tier-up
        // Calls per sample: about 2 ms at the first run's speed.
        runs[0].prepare();
        const once = Math.min(...time(runs[0].run, 5).wall);
        const inner = Math.max(1, Math.round(2 / Math.max(once, 1e-4)));
        items.push({ label: [f64 ? 'f64' : 'f32', label, `${m}x${n}x${k}`, form.name], flop: 2 * m * n * k, inner, runs });
      }
    }
  }
  const reps = repsArg > 0 ? repsArg : 11;
  for (let r = 0; r < reps; r++) {
    for (const it of items) {
      const order = r % 2 === 0 ? it.runs : [...it.runs].reverse();
      for (const x of order) {
        x.prepare();
        const { wall } = time(() => { for (let i = 0; i < it.inner; i++) x.run(); }, 1);
        x.wall.push(wall[0] / it.inner);
      }
    }
  }
  const names = items[0].runs.map((x) => x.name);
  const cmp = cmpDir !== '';
  const rows: string[][] = [[
    'dtype', 'shape', 'm x n x k', 'form',
    ...names.flatMap((nm) => [`${nm} med`, `${nm} best`]), ...(cmp ? ['new/old med', 'new/old best'] : []),
  ]];
  for (const it of items) {
    const med = it.runs.map((x) => median(x.wall));
    const best = it.runs.map((x) => Math.min(...x.wall));
    const gf = (ms: number): string => (it.flop / ms / 1e6).toFixed(1);
    rows.push([
      ...it.label, ...it.runs.flatMap((_, i) => [gf(med[i]), gf(best[i])]),
      ...(cmp ? [(med[1] / med[0]).toFixed(2), (best[1] / best[0]).toFixed(2)] : []),
    ]);
  }
  console.log(`one thread, variant ${gemmVariant()}, GFLOP/s: median and best of ${reps} rounds (wall clock)`);
  print(rows);
}

async function main(): Promise<void> {
  if (!wasmAvailable()) {
    console.error('gemm_micro: build/gemm.wasm not found or SIMD unsupported; run `node scripts/build-wasm.js`');
    process.exit(1);
  }
  if (process.argv.includes('--shapes')) {
    shapeBench();
    return;
  }
  if (process.argv.includes('--threshold')) {
    const cubes = [48, 64, 80, 96, 112, 128, 160, 192].map((s) => ({ label: `cube ${s}`, m: s, n: s, k: s, opts: {} }));
    await threaded(cubes, 0);
    return;
  }
  if (only === 'step') {
    await w2Step();
    return;
  }
  if (only !== 'threads') single();
  if (only === 'single') return;
  const batch = 256;
  const shapes: Shape[] = [
    ...sizes.map((s) => ({ label: `square ${s}`, m: s, n: s, k: s, opts: {} })),
    { label: 'W2 L1 fwd x@W+b', m: batch, n: 512, k: 784, opts: {}, bias: true },
    { label: 'W2 L1 dX=dY@Wᵀ', m: batch, n: 784, k: 512, opts: { transB: true } },
    { label: 'W2 L1 dW=Xᵀ@dY', m: 784, n: 512, k: batch, opts: { transA: true } },
    { label: 'W2 L2 fwd x@W+b', m: batch, n: 512, k: 512, opts: {}, bias: true },
    { label: 'W2 L2 dX=dY@Wᵀ', m: batch, n: 512, k: 512, opts: { transB: true } },
    { label: 'W2 L2 dW=Xᵀ@dY', m: 512, n: 512, k: batch, opts: { transA: true } },
    { label: 'W2 L3 fwd x@W+b', m: batch, n: 10, k: 512, opts: {}, bias: true },
    { label: 'W2 L3 dX=dY@Wᵀ', m: batch, n: 512, k: 10, opts: { transB: true } },
    { label: 'W2 L3 dW=Xᵀ@dY', m: 512, n: 10, k: batch, opts: { transA: true } },
  ];
  await threaded(shapes);
  await w2Step();
}

void main();
