/**
 * The kernels' unit checks, run in the browser: the same comparisons as test/kernels (GEMM
 * against the TypeScript reference, affine, ReLU and BatchNorm against the seed's fixtures,
 * softmax cross-entropy against its definition), under each backend (WebAssembly and
 * TypeScript), plus the two-thread GEMM against one thread when the page is cross-origin
 * isolated. test/browser/playground.test.ts opens checks.html in Chromium and reads
 * `window.kernelChecks`; a person can open it too.
 *
 * @module
 */
import { kernels } from 'tapegrad';

import * as affineFx from '../../../test/fixtures/affine.json';
import * as bnFx from '../../../test/fixtures/batchnorm.json';
import * as reluFx from '../../../test/fixtures/relu.json';

/** One check's outcome. */
export interface CheckResult {
  name: string;
  pass: boolean;
  detail: string;
}

/** What the page exposes on `window.kernelChecks`. */
export interface KernelChecks {
  done: boolean;
  results: CheckResult[];
  /** What the library reports about itself here. */
  env: Record<string, unknown>;
}

interface Fixture {
  shape: number[];
  data: number[];
}

const state: KernelChecks = { done: false, results: [], env: {} };
(window as unknown as { kernelChecks: KernelChecks }).kernelChecks = state;

const nd = (f: Fixture): { shape: number[]; data: Float64Array } => ({ shape: [...f.shape], data: Float64Array.from(f.data) });

/** Largest elementwise relative error, as test/helpers/close.ts computes it. */
function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(a[i] - b[i]);
    if (diff === 0) continue;
    if (!Number.isFinite(diff)) return Infinity;
    worst = Math.max(worst, diff / Math.max(Math.abs(a[i]), Math.abs(b[i]), 1e-300));
  }
  return worst;
}

/** max|a-b| / max|b|. */
function normRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

function check(name: string, fn: () => string | void): void {
  try {
    const detail = fn();
    state.results.push({ name, pass: true, detail: detail ?? '' });
  } catch (e) {
    state.results.push({ name, pass: false, detail: e instanceof Error ? e.message : String(e) });
  }
}

function expectLE(what: string, got: number, tol: number): void {
  if (!(got <= tol)) throw new Error(`${what}: error ${got.toExponential(2)} > ${tol.toExponential(0)}`);
}

function expectShape(what: string, got: readonly number[], want: readonly number[]): void {
  if (got.join(',') !== want.join(',')) throw new Error(`${what}: shape [${got.join(', ')}], want [${want.join(', ')}]`);
}

/** A small deterministic generator for the GEMM operands. */
function filler(seed: number): (n: number, f64: boolean) => Float32Array | Float64Array {
  let s = seed >>> 0;
  return (n, f64) => {
    const a = f64 ? new Float64Array(n) : new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      a[i] = s / 2 ** 31 - 1;
    }
    return a;
  };
}

function gemmChecks(label: string): void {
  const fill = filler(7);
  const shapes: [number, number, number][] = [[1, 1, 1], [7, 5, 3], [33, 65, 17], [64, 64, 64], [129, 70, 200]];
  for (const f64 of [false, true]) {
    check(`gemm ${label} ${f64 ? 'float64' : 'float32'}: every transpose, bias and accumulate against gemmReference`, () => {
      let worst = 0;
      let cases = 0;
      for (const [m, n, k] of shapes) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            for (const extra of [{}, { accumulate: true }, { bias: true }]) {
              const a = fill(m * k, f64);
              const b = fill(k * n, f64);
              const c0 = fill(m * n, f64);
              const bias = 'bias' in extra ? fill(n, f64) : null;
              const opts = { transA, transB, accumulate: 'accumulate' in extra, bias };
              const got = c0.slice();
              const want = c0.slice();
              kernels.gemm(a, b, got, m, n, k, opts);
              kernels.gemmReference(a, b, want, m, n, k, opts);
              worst = Math.max(worst, normRelError(got, want));
              cases++;
            }
          }
        }
      }
      expectLE(`${cases} products`, worst, f64 ? 1e-12 : 1e-5);
      return `${cases} products, worst error ${worst.toExponential(2)}`;
    });
  }
  check(`affine ${label}: forward and backward against the seed's fixtures`, () => {
    let worst = 0;
    for (const c of affineFx.cases) {
      const { out, cache } = kernels.affineForward(nd(c.x), nd(c.w), nd(c.b));
      expectShape('out', out.shape, c.out.shape);
      const { dx, dw, db } = kernels.affineBackward(nd(c.dout), cache);
      worst = Math.max(worst, maxRelError(out.data, c.out.data), maxRelError(dx.data, c.dx.data),
        maxRelError(dw.data, c.dw.data), maxRelError(db.data, c.db.data));
    }
    expectLE(`${affineFx.cases.length} cases`, worst, 1e-12);
    return `${affineFx.cases.length} cases, worst error ${worst.toExponential(2)}`;
  });
}

function elementwiseChecks(label: string): void {
  check(`relu ${label}: forward and backward against the seed's fixtures, exactly`, () => {
    for (const c of reluFx.cases) {
      const { out, cache } = kernels.reluForward(nd(c.x));
      expectLE('out', maxRelError(out.data, c.out.data), 0);
      expectLE('dx', maxRelError(kernels.reluBackward(nd(c.dout), cache).data, c.dx.data), 0);
    }
    return `${reluFx.cases.length} cases`;
  });
  check(`batchnorm ${label}: three train steps with running statistics, then test mode, against the seed's fixtures`, () => {
    let worst = 0;
    for (const c of bnFx.cases) {
      const p: kernels.BatchnormParam = { mode: 'train', momentum: c.momentum, eps: c.eps };
      for (const s of c.train_steps) {
        const { out, cache } = kernels.batchnormForward(nd(s.x), nd(c.gamma), nd(c.beta), p);
        expectShape('out', out.shape, s.out.shape);
        const g = kernels.batchnormBackward(nd(s.dout), cache);
        worst = Math.max(worst, maxRelError(out.data, s.out.data), maxRelError(p.runningMean!, s.running_mean.data),
          maxRelError(p.runningVar!, s.running_var.data), maxRelError(g.dx.data, s.dx.data),
          maxRelError(g.dgamma.data, s.dgamma.data), maxRelError(g.dbeta.data, s.dbeta.data));
      }
      p.mode = 'test';
      const { out } = kernels.batchnormForward(nd(c.x_test), nd(c.gamma), nd(c.beta), p);
      worst = Math.max(worst, maxRelError(out.data, c.out_test.data));
    }
    expectLE(`${bnFx.cases.length} cases`, worst, 1e-12);
    return `${bnFx.cases.length} cases, worst error ${worst.toExponential(2)}`;
  });
}

function softmaxCheck(): void {
  check('softmaxLoss: loss and gradient against the definition', () => {
    const fill = filler(11);
    let worst = 0;
    for (const [n, c] of [[1, 1], [3, 4], [8, 10], [5, 3]]) {
      const scores = fill(n * c, true) as Float64Array;
      for (let i = 0; i < scores.length; i++) scores[i] *= 20;
      const labels = Array.from({ length: n }, (_, i) => (i * 7) % c);
      const { loss, dx } = kernels.softmaxLoss({ shape: [n, c], data: scores }, labels);
      let want = 0;
      for (let i = 0; i < n; i++) {
        const row = scores.subarray(i * c, (i + 1) * c);
        const z = row.reduce((acc, v) => acc + Math.exp(v), 0);
        want -= Math.log(Math.exp(row[labels[i]]) / z) / n;
        for (let j = 0; j < c; j++) {
          const g = (Math.exp(row[j]) / z - (j === labels[i] ? 1 : 0)) / n;
          worst = Math.max(worst, Math.abs(dx.data[i * c + j] - g) / Math.max(1, Math.abs(g)));
        }
      }
      worst = Math.max(worst, Math.abs(loss - want) / Math.max(1, Math.abs(want)));
    }
    expectLE('loss and dx', worst, 1e-12);
    return `worst error ${worst.toExponential(2)}`;
  });
}

type ThreadsApi = typeof kernels & {
  loadWasm?: () => Promise<{ gemm: boolean; elementwise: boolean; variant: string }>;
  gemmThreadsReady?: (timeoutMs?: number) => Promise<boolean>;
};

async function threadCheck(k: ThreadsApi): Promise<void> {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const info = k.gemmThreads() as ReturnType<typeof kernels.gemmThreads> & { available?: boolean };
  state.env.gemmThreads = info.requested;
  state.env.threadsAvailable = info.available;
  if (!isolated) {
    check('not isolated: GEMM runs on one thread', () => {
      if (info.requested !== 1) throw new Error(`gemmThreads().requested is ${info.requested}, want 1`);
      return 'gemmThreads().requested = 1';
    });
    return;
  }
  const fill = filler(3);
  const [m, n, kk] = [256, 256, 256];
  const a = fill(m * kk, false);
  const b = fill(kk * n, false);
  const one = new Float32Array(m * n);
  const two = new Float32Array(m * n);
  k.setGemmThreads(1);
  k.gemm(a, b, one, m, n, kk);
  k.setGemmThreads(2, 0);
  const ready = k.gemmThreadsReady !== undefined ? await k.gemmThreadsReady(10_000) : false;
  const before = k.gemmThreads();
  k.gemm(a, b, two, m, n, kk);
  const after = k.gemmThreads();
  k.setGemmThreads(2);
  check('isolated: the two-thread GEMM is up and bit-identical to one thread', () => {
    if (!ready) throw new Error('the helper worker did not come up within 10 s');
    if (after.splitCalls <= before.splitCalls) throw new Error('the product was not split between two threads');
    for (let i = 0; i < one.length; i++) if (one[i] !== two[i]) throw new Error(`element ${i}: ${two[i]} vs ${one[i]}`);
    return `split ${after.splitCalls - before.splitCalls} call(s), worker computed ${after.workerChunks - before.workerChunks} chunk(s)`;
  });
}

function render(): void {
  const body = document.querySelector('#results tbody')!;
  body.textContent = '';
  for (const r of state.results) {
    const tr = document.createElement('tr');
    tr.className = r.pass ? 'pass' : 'fail';
    for (const text of [r.pass ? 'pass' : 'FAIL', r.name, r.detail]) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    body.append(tr);
  }
  const failed = state.results.filter((r) => !r.pass).length;
  document.getElementById('summary')!.textContent =
    `${state.results.length - failed} passed, ${failed} failed · ${JSON.stringify(state.env)}`;
}

async function run(): Promise<void> {
  const k = kernels as ThreadsApi;
  state.env.crossOriginIsolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const loaded = k.loadWasm !== undefined ? await k.loadWasm() : undefined;
  state.env.wasm = loaded ?? 'no kernels.loadWasm in this build';
  check('the WebAssembly kernels load in the browser (GEMM and elementwise)', () => {
    if (loaded === undefined) throw new Error('kernels.loadWasm is missing from this build');
    if (!loaded.gemm || !loaded.elementwise) throw new Error(`loadWasm() gave ${JSON.stringify(loaded)}`);
    return `variant ${loaded.variant}`;
  });
  for (const [label, gemmMode, ewMode] of [['(WebAssembly)', 'wasm', 'simd'], ['(TypeScript)', 'js', 'js']] as const) {
    const prevG = k.setGemmBackend(gemmMode);
    const prevE = k.setElementwiseBackend(ewMode);
    try {
      gemmChecks(label);
      elementwiseChecks(label);
    } finally {
      k.setGemmBackend(prevG);
      k.setElementwiseBackend(prevE);
    }
  }
  softmaxCheck();
  await threadCheck(k);
}

run().then(
  () => {
    state.done = true;
    render();
  },
  (e: unknown) => {
    state.results.push({ name: 'the check page itself', pass: false, detail: e instanceof Error ? e.stack ?? e.message : String(e) });
    state.done = true;
    render();
  },
);
