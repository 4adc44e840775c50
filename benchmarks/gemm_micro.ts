/**
 * Micro-benchmark of the WebAssembly SIMD GEMM (src/kernels/wasm): GFLOP/s for square
 * n x n x n products, float32 and float64, the three forms C = A@B, A@Bᵀ, Aᵀ@B, one thread;
 * then one thread vs two threads (setGemmThreads) on the square sizes and on the GEMMs of a
 * W2 training step (batch 256, MLP 784→512→512→10: forward x@W, backward dY@Wᵀ and Xᵀ@dY).
 *
 * Run: `node scripts/build-wasm.js && npx ts-node --transpile-only benchmarks/gemm_micro.ts`
 * Options: `--sizes 256,512,1024` `--reps 9` `--only threads|single` `--dtypes f32,f64`
 * `--threshold` (instead: 1 vs 2 threads on small cubes, to place the work threshold).
 *
 * Reports the median and best of `reps` timed calls (after warm-up, so V8 has tiered the
 * kernel up to TurboFan) in wall-clock time and in process CPU time. CPU time is the steadier
 * number on a shared machine: it does not count time the thread was preempted. Timings
 * include the copies of A and B into wasm memory and of C out; `copy%` estimates their share
 * by timing three equivalent TypedArray.set calls alone (best copy time / best GEMM time).
 *
 * @packageDocumentation
 */

import { gemm, gemmThreads, gemmThreadsReady, setGemmThreads, wasmAvailable, type FloatArray, type GemmOptions } from '../src/kernels/wasm';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const sizes = arg('sizes', '256,512,1024').split(',').map(Number);
const repsArg = Number(arg('reps', '0'));
const only = arg('only', '');
const dtypes = arg('dtypes', 'f32,f64').split(',');

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
  for (const Ctor of ctors()) {
    for (const n of sizes) {
      const a = new Ctor(n * n).map(() => Math.random() - 0.5) as FloatArray;
      const b = new Ctor(n * n).map(() => Math.random() - 0.5) as FloatArray;
      const c = new Ctor(n * n) as FloatArray;
      const flop = 2 * n * n * n;
      const reps = repsArg > 0 ? repsArg : n >= 1024 ? 5 : n >= 512 ? 9 : 25;
      // Copy cost stand-in: the loader does exactly these three memcpys (A in, B in, C out).
      const scratch = new Ctor(n * n);
      const copy = Math.min(...time(() => { scratch.set(a); scratch.set(b); c.set(scratch); }, reps).wall);
      for (const form of forms) {
        time(() => gemm(a, b, c, n, n, n, form.opts), 3); // warm-up and tier-up
        const { wall, cpu } = time(() => gemm(a, b, c, n, n, n, form.opts), reps);
        const gf = (ms: number): string => (flop / ms / 1e6).toFixed(1);
        rows.push([
          Ctor === Float32Array ? 'f32' : 'f64', String(n), form.name,
          gf(median(wall)), gf(Math.min(...wall)), gf(median(cpu)), gf(Math.min(...cpu)),
          ((100 * copy) / Math.min(...wall)).toFixed(1),
        ]);
      }
    }
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
 */
async function threaded(shapes: Shape[], minWork?: number): Promise<void> {
  setGemmThreads(2, minWork);
  if (!(await gemmThreadsReady())) {
    console.log('threads: unavailable (no shared memory / build/gemm-mt.wasm / worker); skipped');
    return;
  }
  const rows: string[][] = [['dtype', 'shape', 'm x n x k', 'median GF/s 1T', 'median GF/s 2T', 'speedup', 'best 1T', 'best 2T', 'worker%']];
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
      const t2: number[] = [];
      for (const t of [1, 2] as const) { setGemmThreads(t); time(call, 3); } // warm-up both paths
      const s0 = gemmThreads();
      for (let r = 0; r < reps; r++) {
        setGemmThreads(1);
        t1.push(time(call, 1).wall[0]);
        setGemmThreads(2);
        t2.push(time(call, 1).wall[0]);
      }
      const s1 = gemmThreads();
      const split = s1.splitCalls - s0.splitCalls;
      const gf = (ms: number): string => (flop / ms / 1e6).toFixed(1);
      rows.push([
        Ctor === Float32Array ? 'f32' : 'f64', label, `${m}x${n}x${k}`,
        gf(median(t1)), gf(median(t2)), (median(t1) / median(t2)).toFixed(2),
        gf(Math.min(...t1)), gf(Math.min(...t2)),
        // Share of split calls whose second block the worker computed (the rest it was late for).
        split > 0 ? ((100 * (s1.workerBlocks - s0.workerBlocks)) / split).toFixed(0) : '-',
      ]);
    }
  }
  print(rows);
}

async function main(): Promise<void> {
  if (!wasmAvailable()) {
    console.error('gemm_micro: build/gemm.wasm not found or SIMD unsupported; run `node scripts/build-wasm.js`');
    process.exit(1);
  }
  if (process.argv.includes('--threshold')) {
    const cubes = [48, 64, 80, 96, 112, 128, 160, 192].map((s) => ({ label: `cube ${s}`, m: s, n: s, k: s, opts: {} }));
    await threaded(cubes, 0);
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
}

void main();
