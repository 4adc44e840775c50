/**
 * Micro-benchmark of the WebAssembly SIMD elementwise kernels (src/kernels/simd) against the
 * TypeScript kernels they mirror bit for bit (src/kernels/batchnorm.ts, src/kernels/relu.ts):
 * µs per call of BatchNorm forward (train and test mode) and backward, ReLU forward and backward,
 * float32 and float64, at (N, D) = (64, 64) (the tiny MLP's step) and (256, 512).
 *
 * Run: `node scripts/build-wasm.js && npx ts-node --transpile-only benchmarks/elementwise_micro.ts`
 * Options: `--shapes 64x64,256x512` `--samples 15` `--threshold` (instead: scan N·D to place the
 * size from which SIMD wins) `--dtype float32|float64` (one dtype, in this process; by default
 * each dtype runs in its own child process, see main()).
 *
 * Both sides are timed as the wired-in kernel will run: the TS side is the exported kernel
 * (validation, allocation of its outputs, its loops); the SIMD side allocates the same outputs
 * with `allocate` and calls the wrapper (copies in, SIMD loops, copies out). Outputs go back
 * to the pool with `recycle` after each call on both sides, as the tape does. Each sample
 * runs enough calls to last ~3 ms; the table shows the median over samples (after >= 200 ms of
 * warm-up per case, so V8 has tiered both up), and the machine's load average (`uptime`) before and after.
 *
 * @packageDocumentation
 */

import { execFileSync } from 'node:child_process';
import * as os from 'node:os';

import { allocate, dtypeOf, recycle, type DType, type FloatArray } from '../src/dtype';
import { batchnormBackward, batchnormForward, type BatchnormMode } from '../src/kernels/batchnorm';
import { reluBackward, reluForward } from '../src/kernels/relu';
import {
  simdAvailable, simdBatchnormBackward, simdBatchnormTestForward, simdBatchnormTrainForward, simdReluBackward,
  simdReluForward,
} from '../src/kernels/simd';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const samples = Number(arg('samples', '15'));
const load = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Median µs per call of `fn`, over `samples` samples of ~3 ms each. */
function usPerCall(fn: () => void): number {
  // Warm-up: at least 200 ms and 100 calls, so V8 has tiered the code up to TurboFan (the first
  // calls run in the interpreter, ~100x slower, and would otherwise dominate small samples).
  const w0 = performance.now();
  for (let i = 0; i < 100 || performance.now() - w0 < 200; i++) fn();
  // Calibration of calls per sample.
  let iters = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) fn();
    const dt = performance.now() - t0;
    if (dt > 3) break;
    iters *= 2;
  }
  const out: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) fn();
    out.push(((performance.now() - t0) * 1000) / iters);
  }
  return median(out);
}

function filled(dt: DType, len: number, seed: number, offset = 0): FloatArray {
  const out = dt === 'float32' ? new Float32Array(len) : new Float64Array(len);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1 + offset;
  }
  return out;
}

/** The pairs of closures (TS, SIMD) timed for one op at one shape and dtype. */
function cases(dt: DType, n: number, d: number): { op: string; ts: () => void; simd: () => void }[] {
  const nd = n * d;
  const x = filled(dt, nd, 1, 0.3);
  const gamma = filled(dt, d, 2, 1);
  const beta = filled(dt, d, 3);
  const dout = filled(dt, nd, 4);
  const rm = filled(dt, d, 5);
  const rv = filled(dt, d, 6, 1.5);
  const xa = { shape: [n, d], data: x };
  const ga = { shape: [d], data: gamma };
  const ba = { shape: [d], data: beta };
  const da = { shape: [n, d], data: dout };
  const bn = (mode: BatchnormMode) => {
    const ts = (): void => {
      const { out, cache } = batchnormForward(xa, ga, ba, { mode, runningMean: rm, runningVar: rv });
      recycle(out.data);
      recycle(cache.xMinusMean);
      recycle(cache.normalizedData);
    };
    const simd = (): void => {
      const out = allocate(dt, nd);
      const xmm = allocate(dt, nd);
      const xn = allocate(dt, nd);
      const ivar = allocate(dt, d);
      const sv = allocate(dt, d);
      if (mode === 'train') simdBatchnormTrainForward(x, gamma, beta, n, d, 1e-5, 0.9, rm, rv, out, xmm, xn, ivar, sv);
      else simdBatchnormTestForward(x, gamma, beta, n, d, 1e-5, rm, rv, out, xmm, xn, ivar, sv);
      recycle(out);
      recycle(xmm);
      recycle(xn);
    };
    return { ts, simd };
  };
  const back = (mode: BatchnormMode) => {
    const { cache } = batchnormForward(xa, ga, ba, { mode, runningMean: rm.slice(), runningVar: rv.slice() });
    const ts = (): void => {
      const r = batchnormBackward(da, cache);
      recycle(r.dx.data);
    };
    const simd = (): void => {
      const dx = allocate(dt, nd);
      const dgamma = allocate(dt, d);
      const dbeta = allocate(dt, d);
      simdBatchnormBackward(mode, dout, n, d, cache.xMinusMean, cache.normalizedData, cache.gamma, cache.ivar, cache.sqrtvar,
        dx, dgamma, dbeta);
      recycle(dx);
    };
    return { ts, simd };
  };
  return [
    { op: 'bn fwd train', ...bn('train') },
    { op: 'bn fwd test', ...bn('test') },
    { op: 'bn bwd train', ...back('train') },
    { op: 'bn bwd test', ...back('test') },
    {
      op: 'relu fwd',
      ts: () => recycle(reluForward(xa).out.data),
      simd: () => {
        const out = allocate(dtypeOf(x), nd);
        simdReluForward(x, out);
        recycle(out);
      },
    },
    {
      op: 'relu bwd',
      ts: () => recycle(reluBackward(da, xa).data),
      simd: () => {
        const dx = allocate(dtypeOf(x), nd);
        simdReluBackward(dout, x, dx);
        recycle(dx);
      },
    },
  ];
}

function table(rows: string[][]): void {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((cell, c) => (c < 2 ? cell.padEnd(w[c]) : cell.padStart(w[c]))).join('  '));
}

function main(): void {
  const only = arg('dtype', '');
  if (only === '') {
    // One child process per dtype: the TS kernels are plain loops over `FloatArray`, and once
    // V8 has seen both Float32Array and Float64Array at an element access the access stays
    // polymorphic (several times slower). A training run uses one dtype, so each dtype is
    // timed in a fresh process where the TS kernels stay monomorphic.
    console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? '?'} x ${os.cpus().length}, load average before: ${load()}`);
    for (const dt of ['float64', 'float32']) {
      execFileSync(process.execPath, [...process.execArgv, '-r', 'ts-node/register/transpile-only', __filename,
        ...process.argv.slice(2), '--dtype', dt], { stdio: 'inherit' });
    }
    console.log(`load average after: ${load()}`);
    return;
  }
  if (!simdAvailable()) {
    console.error('build/elementwise.wasm is missing or SIMD is unavailable: run `node scripts/build-wasm.js`');
    process.exit(1);
  }
  const dt = only as DType;
  if (process.argv.includes('--threshold')) {
    // N = 64 rows (the MLP's batch), D growing; ReLU on the same N·D elements.
    const rows = [['op', 'dtype', 'N*D', 'TS µs', 'SIMD µs', 'speed-up']];
    for (const d of [1, 2, 4, 8, 16, 32, 64]) {
      for (const c of cases(dt, 64, d)) {
        const ts = usPerCall(c.ts);
        const simd = usPerCall(c.simd);
        rows.push([c.op, dt, String(64 * d), ts.toFixed(2), simd.toFixed(2), (ts / simd).toFixed(2)]);
      }
    }
    table(rows);
  } else {
    const shapes = arg('shapes', '64x64,256x512').split(',').map((s) => s.split('x').map(Number));
    const rows = [['op', 'dtype', 'N x D', 'TS µs', 'SIMD µs', 'speed-up', 'TS ns/el', 'SIMD ns/el']];
    for (const [n, d] of shapes) {
      for (const c of cases(dt, n, d)) {
        const ts = usPerCall(c.ts);
        const simd = usPerCall(c.simd);
        rows.push([
          c.op, dt, `${n} x ${d}`, ts.toFixed(2), simd.toFixed(2), (ts / simd).toFixed(2),
          ((ts * 1000) / (n * d)).toFixed(2), ((simd * 1000) / (n * d)).toFixed(2),
        ]);
      }
    }
    table(rows);
  }
}

main();
