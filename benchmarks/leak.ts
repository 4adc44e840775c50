/**
 * Leak check: trains a small MLP (2 → 64 → BatchNorm → ReLU → 64 → ReLU → 3, batch 64, SGD with
 * momentum) for 20,000 steps and samples memory after a forced full GC at intervals. If the tape
 * kept nodes (or anything else accumulated per step), the heap would grow with the step count.
 *
 * Reports `heapUsed` (JS objects: tensors, nodes, closures) and `arrayBuffers` (typed-array
 * storage, which lives outside the JS heap, plus the kernels' WebAssembly memory) at step 1,000 and at the end, the least-squares
 * slope of both over the samples from step 1,000 on, and a short table. Exits 1 when
 * heapUsed + arrayBuffers grew by more than the limit between step 1,000 and the end.
 *
 * Usage:
 *
 * ```text
 * npx ts-node --transpile-only benchmarks/leak.ts [--steps 20000] [--every 1000] [--limit-mb 5]
 * ```
 *
 * Needs `global.gc`: without `--expose-gc` the script re-runs itself under
 * `node --expose-gc -r ts-node/register/transpile-only`.
 *
 * @packageDocumentation
 */
import { spawnSync } from 'node:child_process';
import { kernels, manualSeed, nn, optim, randperm, Tensor } from '../src';

interface Args {
  steps: number;
  every: number;
  limitMb: number;
}

function parseArgs(argv: string[]): Args {
  const out: Args = { steps: 20_000, every: 1_000, limitMb: 5 };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    const value = Number(argv[i + 1]);
    const set = (k: keyof Args, min: number): void => {
      if (!Number.isFinite(value) || value < min) throw new Error(`leak: ${key} must be a number >= ${min}, got ${argv[i + 1]}`);
      out[k] = value;
      i++;
    };
    if (key === '--steps') set('steps', 2);
    else if (key === '--every') set('every', 1);
    else if (key === '--limit-mb') set('limitMb', 0);
    else throw new Error(`leak: unknown argument ${key} (expected --steps N, --every N, --limit-mb MB)`);
  }
  out.steps = Math.floor(out.steps);
  out.every = Math.floor(out.every);
  return out;
}

/** Re-runs this script with --expose-gc; returns its exit code. */
function respawnWithGc(): number {
  if (process.env.TAPEGRAD_LEAK_CHILD === '1') {
    console.error('leak: global.gc is still missing after re-spawning with --expose-gc');
    return 2;
  }
  const register = require.resolve('ts-node/register/transpile-only');
  const r = spawnSync(process.execPath, ['--expose-gc', '-r', register, __filename, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, TAPEGRAD_LEAK_CHILD: '1' },
  });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

/** Three noisy blobs in 2-D, from the seeded PRNG. */
function makeData(n: number): { x: Float64Array; y: Int32Array } {
  const noise = Tensor.randn([n, 2]).data;
  const x = new Float64Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    y[i] = c;
    x[2 * i] = Math.cos((2 * Math.PI * c) / 3) + 0.5 * noise[2 * i];
    x[2 * i + 1] = Math.sin((2 * Math.PI * c) / 3) + 0.5 * noise[2 * i + 1];
  }
  return { x, y };
}

interface Sample {
  step: number;
  heap: number;
  buffers: number;
  loss: number;
}

const MB = 1024 * 1024;

/** Least-squares slope of ys over xs. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function main(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') return respawnWithGc();
  const args = parseArgs(process.argv.slice(2));
  const base = Math.min(1_000, Math.max(1, Math.floor(args.steps / 2)));

  manualSeed(0);
  const N = 3_000;
  const batch = 64;
  const data = makeData(N);
  const model = new nn.Sequential(
    new nn.Affine(2, 64),
    new nn.BatchNorm1d(64),
    new nn.ReLU(),
    new nn.Affine(64, 64),
    new nn.ReLU(),
    new nn.Affine(64, 3),
  );
  const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const xb = new Float64Array(batch * 2);
  const yb = new Int32Array(batch);

  const measure = (step: number, loss: number): Sample => {
    gc();
    gc();
    const m = process.memoryUsage();
    // The kernels' WebAssembly memory (where tensors of 16 KiB or more live) is a shared
    // memory, which arrayBuffers may not count: add its size.
    return { step, heap: m.heapUsed, buffers: m.arrayBuffers + kernels.heapStats().memoryBytes, loss };
  };

  const samples: Sample[] = [];
  let order = randperm(N);
  let pos = 0;
  let loss = Number.NaN;
  const t0 = performance.now();
  for (let step = 1; step <= args.steps; step++) {
    if (pos + batch > N) {
      order = randperm(N);
      pos = 0;
    }
    for (let i = 0; i < batch; i++) {
      const r = order[pos + i];
      xb[2 * i] = data.x[2 * r];
      xb[2 * i + 1] = data.x[2 * r + 1];
      yb[i] = data.y[r];
    }
    pos += batch;
    opt.zeroGrad();
    const l = nn.softmaxCrossEntropy(model.forward(new Tensor(xb, [batch, 2])), yb);
    l.backward();
    opt.step();
    loss = l.item();
    if (step === base || step % args.every === 0 || step === args.steps) samples.push(measure(step, loss));
  }
  const seconds = (performance.now() - t0) / 1000;

  const first = samples.find((s) => s.step === base)!;
  const last = samples[samples.length - 1];
  const tail = samples.filter((s) => s.step >= base);
  const per1k = (pick: (s: Sample) => number): number => slope(tail.map((s) => s.step), tail.map(pick)) * 1000;
  const total = (s: Sample): number => s.heap + s.buffers;
  const growth = total(last) - total(first);

  const rows = samples.filter((s, i) => s.step === base || i === samples.length - 1 || samples.length <= 12 || i % Math.ceil(samples.length / 10) === 0);
  console.log(`tapegrad leak check: ${args.steps} steps of a 2-64-BN-ReLU-64-ReLU-3 MLP, batch ${batch}, SGD momentum 0.9 (${seconds.toFixed(1)} s, ${((seconds / args.steps) * 1e3).toFixed(3)} ms/step)`);
  console.log('');
  console.log('    step   heapUsed MB   arrayBuffers MB      loss');
  for (const s of rows) {
    console.log(`${String(s.step).padStart(8)}   ${(s.heap / MB).toFixed(3).padStart(11)}   ${(s.buffers / MB).toFixed(3).padStart(15)}   ${s.loss.toFixed(4).padStart(7)}`);
  }
  console.log('');
  console.log(`heapUsed      at step ${first.step}: ${(first.heap / MB).toFixed(3)} MB, at step ${last.step}: ${(last.heap / MB).toFixed(3)} MB, slope ${(per1k((s) => s.heap) / 1024).toFixed(2)} KB per 1,000 steps`);
  console.log(`arrayBuffers  at step ${first.step}: ${(first.buffers / MB).toFixed(3)} MB, at step ${last.step}: ${(last.buffers / MB).toFixed(3)} MB, slope ${(per1k((s) => s.buffers) / 1024).toFixed(2)} KB per 1,000 steps`);
  const ok = growth <= args.limitMb * MB;
  console.log(`growth (heapUsed + arrayBuffers) from step ${first.step} to ${last.step}: ${(growth / MB).toFixed(3)} MB (limit ${args.limitMb} MB): ${ok ? 'OK' : 'LEAK'}`);
  return ok ? 0 : 1;
}

process.exitCode = main();
