/**
 * Tests of the two-thread WebAssembly GEMM (src/kernels/wasm/threads.ts): results must be
 * BIT-identical to the single-thread path (not just close), in every form and dtype, with
 * accumulate, bias and ReLU, whichever thread ends up computing the worker's block; the
 * single-thread fallback, the idle retirement and restart of the worker, and a process that
 * uses threads exiting normally.
 */

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ValueError } from '../../src/errors';
import {
  gemm, gemmThreads, gemmThreadsReady, setGemmThreads, type FloatArray, type GemmOptions,
} from '../../src/kernels/wasm';
import { DEFAULT_CHUNKS, setChunks, setIdleMs, setWorkerDelay } from '../../src/kernels/wasm/threads';
import { filled, type Ctor } from '../helpers/arrays';

const root = path.resolve(__dirname, '../..');

beforeAll(async () => {
  // A fresh clone gets build/*.wasm from `npm ci` (prepare script); build it here if absent.
  if (!['gemm-mt.wasm', 'gemm-mt-fma.wasm'].every((f) => fs.existsSync(path.join(root, 'build', f)))) {
    await new Promise<void>((resolve, reject) => {
      execFile(process.execPath, [path.join(root, 'scripts', 'build-wasm.js')], (err) => (err ? reject(err) : resolve()));
    });
  }
  setGemmThreads(2, 0);
  expect(await gemmThreadsReady()).toBe(true);
});

afterAll(() => setGemmThreads(1));


/**
 * Asserts x and y are bit-identical (every byte, so also -0 vs +0 and NaN payloads). A byte
 * compare, because jest's element-wise toEqual takes seconds on 400k-element arrays; on a
 * mismatch, toEqual on the first differing region gives a readable diff.
 */
function expectBitIdentical(x: FloatArray, y: FloatArray): void {
  const bx = Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  const by = Buffer.from(y.buffer, y.byteOffset, y.byteLength);
  if (bx.equals(by)) return;
  let i = 0;
  while (i < x.length && Object.is(x[i], y[i])) i++;
  expect({ at: i, values: Array.from(x.subarray(i, i + 8)) }).toEqual({ at: i, values: Array.from(y.subarray(i, i + 8)) });
  expect(x.length).toBe(y.length);
}

interface Flags { transA: boolean; transB: boolean; accumulate: boolean; bias: boolean; relu: boolean }

/** The product with 1 thread and with 2 threads (threshold 0, so every call is split). */
function both(C: Ctor, m: number, n: number, k: number, f: Flags, seed = 1): [FloatArray, FloatArray] {
  const a = filled(C, m * k, seed);
  const b = filled(C, k * n, seed + 1);
  const c0 = filled(C, m * n, seed + 2);
  const opts: GemmOptions = { ...f, bias: f.bias ? filled(C, n, seed + 3) : null };
  const c1 = C.from(c0) as FloatArray;
  const c2 = C.from(c0) as FloatArray;
  setGemmThreads(1);
  gemm(a, b, c1, m, n, k, opts);
  setGemmThreads(2, 0);
  gemm(a, b, c2, m, n, k, opts);
  return [c1, c2];
}

const forms = [
  { name: 'A@B', transA: false, transB: false },
  { name: 'A@Bᵀ', transA: false, transB: true },
  { name: 'Aᵀ@B', transA: true, transB: false },
  { name: 'Aᵀ@Bᵀ', transA: true, transB: true },
];
// Row splits (m >= 8) at partial tiles and blocks, column splits (n much larger than m), and
// sizes too small to split; K across several 128-deep blocks.
const sizes: [number, number, number][] = [
  [1, 1, 1], [3, 5, 7], [9, 17, 33], [37, 29, 300], [70, 9, 257], [5, 300, 40], [130, 70, 129], [6, 37, 11],
];
const variants = [
  { accumulate: false, bias: false, relu: false },
  { accumulate: true, bias: false, relu: false },
  { accumulate: false, bias: true, relu: true },
  { accumulate: true, bias: true, relu: true },
];

describe('two-thread wasm gemm', () => {
  test('the worker is up', () => {
    expect(gemmThreads()).toMatchObject({ requested: 2, active: true });
  });

  describe.each([['float32', Float32Array], ['float64', Float64Array]] as [string, Ctor][])('%s', (_name, C) => {
    test.each(forms)('$name is bit-identical to one thread (odd sizes, accumulate, bias, relu)', ({ transA, transB }) => {
      for (const [m, n, k] of sizes) {
        for (const v of variants) {
          const [c1, c2] = both(C, m, n, k, { transA, transB, ...v });
          expectBitIdentical(c2, c1);
        }
      }
    });

    test('W2-sized products (x@W+b, dY@Wᵀ, Xᵀ@dY) are bit-identical, and the worker does its share', () => {
      const before = gemmThreads();
      const shapes: [number, number, number, Flags][] = [
        [256, 512, 784, { transA: false, transB: false, accumulate: false, bias: true, relu: true }],
        [256, 784, 512, { transA: false, transB: true, accumulate: false, bias: false, relu: false }],
        [784, 512, 256, { transA: true, transB: false, accumulate: true, bias: false, relu: false }],
        [256, 10, 512, { transA: false, transB: false, accumulate: false, bias: true, relu: false }],
      ];
      for (const [m, n, k, f] of shapes) {
        const [c1, c2] = both(C, m, n, k, f, 7);
        expectBitIdentical(c2, c1);
      }
      const after = gemmThreads();
      expect(after.splitCalls - before.splitCalls).toBe(shapes.length);
      // Each half takes milliseconds here, far longer than a wake-up: the worker claims its block
      // at least sometimes even on a loaded machine (when it is late, the caller does it).
      expect(after.workerBlocks).toBeGreaterThan(before.workerBlocks);
    });
  });

  // Row chunks share one B packed up front, block by block: an output wider than one packed
  // block (NC = 2048 float64 columns, the last block partial) and deeper than one (KC = 256)
  // checks where each block lands. float32 runs the same generic code with wider blocks
  // (4096 columns), which would need a 4M-element output here.
  test('products wider and deeper than one packed block of B are bit-identical', () => {
    const [C, m, n, k] = [Float64Array, 528, 2100, 300] as const;
    const before = gemmThreads().splitCalls;
    for (const transB of [false, true]) {
      const [c1, c2] = both(C, m, n, k, { transA: false, transB, accumulate: false, bias: true, relu: false }, 3);
      expectBitIdentical(c2, c1);
    }
    expect(gemmThreads().splitCalls - before).toBe(2);
  });

  test('any number of chunks (2 to 57) gives the same bits (row and column chunks, partial last chunk)', () => {
    const f: Flags = { transA: false, transB: false, accumulate: true, bias: true, relu: true };
    try {
      for (const chunks of [2, 3, 7, 63]) {
        setChunks(chunks);
        for (const [m, n, k] of [[101, 67, 130], [9, 301, 20], [300, 8, 9], [2048, 12, 5]]) {
          const [c1, c2] = both(Float32Array, m, n, k, f, chunks);
          expectBitIdentical(c2, c1);
        }
      }
    } finally {
      setChunks(DEFAULT_CHUNKS);
    }
  });

  test('memory growth of the shared memory between calls keeps results identical', () => {
    const f: Flags = { transA: false, transB: true, accumulate: true, bias: true, relu: false };
    for (const [m, n, k] of [[20, 30, 40], [300, 200, 260], [12, 10, 9], [400, 350, 300]]) {
      const [c1, c2] = both(Float64Array, m, n, k, f, m);
      expectBitIdentical(c2, c1);
    }
  });

  test('c may alias a on the threaded path (inputs are copied in before C is written)', () => {
    const x = filled(Float32Array, 40 * 40, 3);
    const y = filled(Float32Array, 40 * 40, 4);
    const expected = Float32Array.from(x);
    setGemmThreads(1);
    gemm(Float32Array.from(x), y, expected, 40, 40, 40, { accumulate: true });
    setGemmThreads(2, 0);
    gemm(x, y, x, 40, 40, 40, { accumulate: true });
    expectBitIdentical(x, expected);
  });

  test('with threads off (or below the work threshold) nothing is split', () => {
    const a = filled(Float32Array, 64 * 64, 1);
    const c = new Float32Array(64 * 64);
    setGemmThreads(1);
    const s0 = gemmThreads();
    expect(s0).toMatchObject({ requested: 1, active: false });
    gemm(a, a, c, 64, 64, 64);
    setGemmThreads(2, 1 << 30);
    gemm(a, a, c, 64, 64, 64);
    expect(gemmThreads().splitCalls).toBe(s0.splitCalls);
    setGemmThreads(2, 0);
  });

  test('an idle worker retires; the next large call runs on one thread and restarts it', async () => {
    expect(await gemmThreadsReady()).toBe(true);
    setIdleMs(300); // read by the worker before its next wait, i.e. after this job:
    both(Float32Array, 30, 30, 30, { transA: false, transB: false, accumulate: false, bias: false, relu: false });
    await new Promise((r) => setTimeout(r, 1000));
    setIdleMs(10_000); // for the restarted worker
    expect(gemmThreads().active).toBe(false);
    const s0 = gemmThreads();
    const [c1, c2] = both(Float32Array, 50, 60, 70, { transA: false, transB: false, accumulate: false, bias: true, relu: false });
    expectBitIdentical(c2, c1);
    expect(gemmThreads().splitCalls).toBe(s0.splitCalls); // ran single-threaded while restarting
    expect(await gemmThreadsReady()).toBe(true);
    const [d1, d2] = both(Float32Array, 50, 60, 70, { transA: true, transB: false, accumulate: false, bias: false, relu: false });
    expectBitIdentical(d2, d1);
    expect(gemmThreads().splitCalls).toBe(s0.splitCalls + 1);
  });

  test('a worker that retires inside a synchronous loop is replaced there, not after the loop', async () => {
    expect(await gemmThreadsReady()).toBe(true);
    setIdleMs(100); // read by the worker before its next wait, i.e. after this job:
    both(Float32Array, 30, 30, 30, { transA: false, transB: false, accumulate: false, bias: false, relu: false });
    // From here on this thread never returns to its event loop (a training loop that does not
    // yield), so the retired worker's exit event cannot arrive.
    const spin = (ms: number): void => {
      const t = performance.now();
      while (performance.now() - t < ms) { /* busy */ }
    };
    spin(600); // the worker retires after 100 ms idle
    setIdleMs(10_000); // for its successor
    expect(gemmThreads().active).toBe(false);
    const s0 = gemmThreads();
    let split = false;
    const t0 = performance.now();
    while (!split && performance.now() - t0 < 5000) {
      const [c1, c2] = both(Float32Array, 50, 60, 70, { transA: false, transB: true, accumulate: false, bias: false, relu: false });
      expectBitIdentical(c2, c1);
      split = gemmThreads().splitCalls > s0.splitCalls;
    }
    expect(split).toBe(true);
    expect(gemmThreads().active).toBe(true);
  });

  test('without shared memory (or gemm-mt.wasm) threads silently stay off; results unchanged', async () => {
    let idx!: typeof import('../../src/kernels/wasm');
    jest.isolateModules(() => {
      // Fresh module instances, with threads made impossible before any use. require, not
      // import(): a dynamic import() would need jest's --experimental-vm-modules.
      /* eslint-disable @typescript-eslint/no-require-imports */
      const th = require('../../src/kernels/wasm/threads') as typeof import('../../src/kernels/wasm/threads');
      idx = require('../../src/kernels/wasm') as typeof import('../../src/kernels/wasm');
      /* eslint-enable @typescript-eslint/no-require-imports */
      th.allowThreads(false);
    });
    idx.setGemmThreads(2, 0);
    expect(await idx.gemmThreadsReady(1000)).toBe(false);
    expect(idx.wasmAvailable()).toBe(true);
    const a = filled(Float32Array, 60 * 50, 1);
    const b = filled(Float32Array, 50 * 40, 2);
    const c1 = new Float32Array(60 * 40);
    const c2 = new Float32Array(60 * 40);
    idx.gemm(a, b, c1, 60, 40, 50, { relu: true });
    setGemmThreads(1);
    gemm(a, b, c2, 60, 40, 50, { relu: true });
    setGemmThreads(2, 0);
    expectBitIdentical(c1, c2);
    expect(idx.gemmThreads()).toMatchObject({ requested: 2, active: false, splitCalls: 0 });
  });

  test('a late worker: the caller takes its chunks over, results stay bit-identical, and the worker rests', async () => {
    expect(await gemmThreadsReady()).toBe(true);
    const f: Flags = { transA: false, transB: false, accumulate: true, bias: true, relu: true };
    const s0 = gemmThreads();
    setWorkerDelay(200); // the worker sleeps 200 ms before each chunk: far longer than a chunk
    try {
      // The worker claims a chunk only if it wakes before the caller has claimed them all: on a
      // busy machine that can take a few tries.
      for (let i = 0; i < 20 && gemmThreads().stolenChunks === s0.stolenChunks; i++) {
        setGemmThreads(2, 0); // ends a rest
        const t0 = performance.now();
        const [c1, c2] = both(Float32Array, 256, 256, 256, f, 11 + i);
        expectBitIdentical(c2, c1);
        // The caller never waits out the sleeping worker.
        expect(performance.now() - t0).toBeLessThan(190);
        await new Promise((r) => setTimeout(r, 250)); // the worker drops the stolen chunk
      }
      expect(gemmThreads().stolenChunks).toBeGreaterThan(s0.stolenChunks);
      // While the worker still holds a stolen chunk, products run on one thread, correctly.
      const [d1, d2] = both(Float64Array, 200, 150, 100, f, 12);
      expectBitIdentical(d2, d1);
    } finally {
      setWorkerDelay(0);
    }
    // Once the worker has dropped its stolen chunk, it is used again (after its rest, if any).
    await new Promise((r) => setTimeout(r, 400));
    setGemmThreads(2, 0); // ends a rest
    const before = gemmThreads().splitCalls;
    const [e1, e2] = both(Float32Array, 128, 96, 64, f, 13);
    expectBitIdentical(e2, e1);
    expect(gemmThreads().splitCalls).toBe(before + 1);
  });

  test('a hung worker never hangs the caller: every product completes on one thread', async () => {
    expect(await gemmThreadsReady()).toBe(true);
    const f: Flags = { transA: true, transB: false, accumulate: true, bias: false, relu: false };
    setWorkerDelay(60_000); // as good as dead
    try {
      const t0 = performance.now();
      for (let i = 0; i < 5; i++) {
        const [c1, c2] = both(Float64Array, 160, 120, 90, f, 20 + i);
        expectBitIdentical(c2, c1);
      }
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(gemmThreads().rests + gemmThreads().stolenChunks).toBeGreaterThan(0);
    } finally {
      setWorkerDelay(0);
    }
  });

  test('setGemmThreads validates its arguments', () => {
    expect(() => setGemmThreads(3 as 2)).toThrow(ValueError);
    expect(() => setGemmThreads(2, -1)).toThrow(ValueError);
    setGemmThreads(2, 0);
  });

  test('a script using two threads exits on its own; TAPEGRAD_THREADS=1 turns threads off', async () => {
    // ts-node transpiles the sources in the child; the worker is unref'd, so the child must exit
    // as soon as its script is done, with the worker still waiting for work.
    const script = `
      require(${JSON.stringify(path.join(root, 'src', 'platform', 'node.ts'))}); // as src/index.ts does
      const w = require(${JSON.stringify(path.join(root, 'src', 'kernels', 'wasm', 'index.ts'))});
      w.gemmThreadsReady().then((up) => {
        const a = new Float32Array(256 * 256).fill(0.5);
        const c = new Float32Array(256 * 256);
        for (let i = 0; i < 5; i++) w.gemm(a, a, c, 256, 256, 256);
        console.log(JSON.stringify({ up, c: c[0], ...w.gemmThreads() }));
      });`;
    const run = (env: NodeJS.ProcessEnv): Promise<{ up: boolean; c: number; requested: number; splitCalls: number }> =>
      new Promise((resolve, reject) => {
        execFile(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: root, env, timeout: 30_000 },
          (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout))));
      });
    const { TAPEGRAD_THREADS: _drop, ...env } = process.env;
    const [on, off] = await Promise.all([run(env), run({ ...env, TAPEGRAD_THREADS: '1' })]);
    // The default is 2 threads only with at least 2 cores.
    const two = os.availableParallelism() >= 2;
    expect(on).toMatchObject({ up: two, c: 64, requested: two ? 2 : 1, splitCalls: two ? 5 : 0 });
    expect(off).toMatchObject({ up: false, c: 64, requested: 1, splitCalls: 0 });
  });
});
