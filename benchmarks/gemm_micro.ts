/**
 * Micro-benchmark of the WebAssembly SIMD GEMM (src/kernels/wasm): GFLOP/s for square
 * n x n x n products, float32 and float64, the three forms C = A@B, A@Bᵀ, Aᵀ@B, one thread.
 *
 * Run: `node scripts/build-wasm.js && npx ts-node --transpile-only benchmarks/gemm_micro.ts`
 * Options: `--sizes 256,512,1024` `--reps 9`.
 *
 * Reports the median and best of `reps` timed calls (after warm-up, so V8 has tiered the
 * kernel up to TurboFan) in wall-clock time and in process CPU time. CPU time is the steadier
 * number on a shared machine: it does not count time the thread was preempted. Timings
 * include the copies of A and B into wasm memory and of C out; `copy%` estimates their share
 * by timing three equivalent TypedArray.set calls alone (best copy time / best GEMM time).
 *
 * @packageDocumentation
 */

import { gemm, wasmAvailable, type FloatArray } from '../src/kernels/wasm';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const sizes = arg('sizes', '256,512,1024').split(',').map(Number);
const repsArg = Number(arg('reps', '0'));

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

function main(): void {
  if (!wasmAvailable()) {
    console.error('gemm_micro: build/gemm.wasm not found or SIMD unsupported; run `node scripts/build-wasm.js`');
    process.exit(1);
  }
  const forms = [
    { name: 'A@B', opts: {} },
    { name: 'A@Bᵀ', opts: { transB: true } },
    { name: 'Aᵀ@B', opts: { transA: true } },
  ];
  const rows: string[][] = [['dtype', 'n', 'form', 'median GF/s', 'best GF/s', 'median GF/s (cpu)', 'best GF/s (cpu)', 'copy%']];
  for (const Ctor of [Float32Array, Float64Array]) {
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
  const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
  for (const r of rows) console.log(r.map((s, j) => s.padStart(widths[j])).join('  '));
}

main();
