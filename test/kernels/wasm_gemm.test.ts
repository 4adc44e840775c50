/**
 * Tests of the WebAssembly SIMD GEMM (src/kernels/wasm) against a naive float64 triple loop.
 *
 * Error measure: |c - ref| / (Σ_p |op(A)[i,p]|·|op(B)[p,j]| + |C_old[i,j]| + |bias[j]|), the
 * bound a backward-stable dot product satisfies, so cancellation cannot cause false failures.
 * Tolerances: 1e-12 (float64) and 1e-5 (float32).
 */

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import fc from 'fast-check';

import { DTypeError, ShapeError, ValueError } from '../../src/errors';
import { gemm, wasmAvailable, type FloatArray, type GemmOptions } from '../../src/kernels/wasm';
import { filled, type Ctor } from '../helpers/arrays';

const root = path.resolve(__dirname, '../..');

beforeAll(() => {
  // A fresh clone gets build/gemm.wasm from `npm ci` (prepare script); build it here if absent
  // so the test does not silently depend on that step.
  if (!['gemm.wasm', 'gemm-fma.wasm'].every((f) => fs.existsSync(path.join(root, 'build', f)))) {
    execFileSync(process.execPath, [path.join(root, 'scripts', 'build-wasm.js')], { stdio: 'inherit' });
  }
});


interface Case {
  m: number;
  n: number;
  k: number;
  opts: { transA: boolean; transB: boolean; accumulate: boolean; bias: boolean; relu: boolean };
}

/** Runs one case with the wasm GEMM and the naive loop; returns the largest scaled error. */
function maxScaledError(C: Ctor, { m, n, k, opts }: Case, seed = 1): number {
  const a = filled(C, m * k, seed);
  const b = filled(C, k * n, seed + 1);
  const c0 = filled(C, m * n, seed + 2);
  const bias = opts.bias ? filled(C, n, seed + 3) : null;
  const c = C.from(c0) as FloatArray;
  const gopts: GemmOptions = { transA: opts.transA, transB: opts.transB, accumulate: opts.accumulate, bias, relu: opts.relu };
  gemm(a, b, c, m, n, k, gopts);
  // Reference in float64 on monomorphic Float64Array copies of op(A) ([m, k]) and op(B)ᵀ
  // ([n, k]), so the inner loop is contiguous and fast even under jest.
  const opA = new Float64Array(m * k);
  const opBt = new Float64Array(n * k);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) opA[i * k + p] = opts.transA ? a[p * m + i] : a[i * k + p];
  for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) opBt[j * k + p] = opts.transB ? b[j * k + p] : b[p * n + j];
  let worst = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      let scale = 0;
      for (let p = 0; p < k; p++) {
        const xy = opA[i * k + p] * opBt[j * k + p];
        s += xy;
        scale += xy < 0 ? -xy : xy; // not Math.abs: a global lookup per call is slow under jest
      }
      if (opts.accumulate) {
        s += c0[i * n + j];
        scale += Math.abs(c0[i * n + j]);
      }
      if (bias !== null) {
        s += bias[j];
        scale += Math.abs(bias[j]);
      }
      if (opts.relu) s = Math.max(s, 0);
      const err = Math.abs(c[i * n + j] - s) / (scale || 1);
      if (!(err <= worst)) worst = Number.isNaN(err) ? Infinity : err;
    }
  }
  return worst;
}

const dtypes: [string, Ctor, number][] = [
  ['float32', Float32Array, 1e-5],
  ['float64', Float64Array, 1e-12],
];

const plain = { transA: false, transB: false, accumulate: false, bias: false, relu: false };
const forms = [
  { name: 'A@B', transA: false, transB: false },
  { name: 'A@Bᵀ', transA: false, transB: true },
  { name: 'Aᵀ@B', transA: true, transB: false },
  { name: 'Aᵀ@Bᵀ', transA: true, transB: true },
];
// Odd sizes that leave partial micro-kernel tiles (4 x 8 f32, 4 x 4 f64) and partial K blocks (128).
const sizes: [number, number, number][] = [
  [1, 1, 1], [3, 5, 7], [17, 33, 65], [129, 1, 130], [1, 129, 3], [4, 8, 128], [37, 29, 300], [70, 9, 257],
];

describe('wasm gemm', () => {
  test('is available (build/gemm.wasm present, SIMD supported)', () => {
    expect(wasmAvailable()).toBe(true);
  });

  describe.each(dtypes)('%s', (_name, C, tol) => {
    test.each(forms)('$name matches the naive loop on odd sizes', ({ transA, transB }) => {
      for (const [m, n, k] of sizes) {
        expect(maxScaledError(C, { m, n, k, opts: { ...plain, transA, transB } })).toBeLessThanOrEqual(tol);
      }
    });

    test('accumulate, bias and relu, alone and together, in every form', () => {
      for (const { transA, transB } of forms) {
        for (const [accumulate, bias, relu] of [[true, false, false], [false, true, false], [false, false, true], [true, true, true]]) {
          for (const [m, n, k] of [[3, 5, 7], [17, 33, 65], [9, 12, 140]]) {
            const err = maxScaledError(C, { m, n, k, opts: { transA, transB, accumulate, bias, relu } });
            expect(err).toBeLessThanOrEqual(tol);
          }
        }
      }
    });

    test('property: random m, n, k in [1, 70] and random options', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 70 }),
          fc.record({ transA: fc.boolean(), transB: fc.boolean(), accumulate: fc.boolean(), bias: fc.boolean(), relu: fc.boolean() }),
          fc.integer({ min: 1, max: 1000 }),
          (m, n, k, opts, seed) => maxScaledError(C, { m, n, k, opts }, seed) <= tol,
        ),
        { seed: 42, numRuns: 150 },
      );
    });

    test('k = 0 gives zeros, plus C when accumulating, plus bias, then relu', () => {
      const c = new C([1, -2, 3, -4, 5, -6]);
      const bias = new C([10, -20, 0]);
      gemm(new C(0), new C(0), c, 2, 3, 0, { accumulate: true, bias, relu: true });
      expect(Array.from(c)).toEqual([11, 0, 3, 6, 0, 0]);
      gemm(new C(0), new C(0), c, 2, 3, 0);
      expect(Array.from(c)).toEqual([0, 0, 0, 0, 0, 0]);
    });

    test('m = 0 or n = 0 leaves c untouched', () => {
      const c = new C([7]);
      gemm(new C(0), new C(5), c, 0, 5, 1);
      gemm(new C(5), new C(0), c, 5, 0, 1);
      expect(c[0]).toBe(7);
    });

    test('does not modify a, b or bias, and accepts longer arrays (uses the leading elements)', () => {
      const a = filled(C, 5 * 6 + 3, 11);
      const b = filled(C, 6 * 7 + 2, 12);
      const bias = filled(C, 7 + 1, 13);
      const [a0, b0, bias0] = [C.from(a), C.from(b), C.from(bias)];
      const c = new C(5 * 7 + 4).fill(42);
      gemm(a, b, c, 5, 7, 6, { bias });
      expect(a).toEqual(a0);
      expect(b).toEqual(b0);
      expect(bias).toEqual(bias0);
      expect(Array.from(c.subarray(35))).toEqual([42, 42, 42, 42]);
      const ref = new C(35);
      gemm(a.subarray(0, 30) as FloatArray, b.subarray(0, 42) as FloatArray, ref, 5, 7, 6, { bias: bias.subarray(0, 7) as FloatArray });
      expect(Array.from(c.subarray(0, 35))).toEqual(Array.from(ref));
    });
  });

  test('memory growth between calls keeps results correct (large, small, large)', () => {
    const big: Case = { m: 160, n: 170, k: 150, opts: { ...plain, transB: true, bias: true } };
    const small: Case = { m: 5, n: 6, k: 7, opts: { ...plain, accumulate: true } };
    expect(maxScaledError(Float64Array, small)).toBeLessThanOrEqual(1e-12);
    expect(maxScaledError(Float64Array, big)).toBeLessThanOrEqual(1e-12);
    expect(maxScaledError(Float32Array, small)).toBeLessThanOrEqual(1e-5);
    expect(maxScaledError(Float64Array, { ...big, m: 200, n: 230 })).toBeLessThanOrEqual(1e-12);
  });

  test('c may alias a or b (inputs are copied before the output is written)', () => {
    for (const opts of [{}, { transA: true, accumulate: true }, { transB: true }]) {
      const x = filled(Float64Array, 9 * 9, 21) as Float64Array;
      const y = filled(Float64Array, 9 * 9, 22) as Float64Array;
      const expected = Float64Array.from(x);
      gemm(Float64Array.from(x), y, expected, 9, 9, 9, opts);
      gemm(x, y, x, 9, 9, 9, opts); // c === a
      expect(x).toEqual(expected);
    }
  });

  test('is deterministic: the same call twice gives bit-identical output', () => {
    const a = filled(Float32Array, 100 * 90, 5);
    const b = filled(Float32Array, 90 * 80, 6);
    const c1 = new Float32Array(100 * 80);
    const c2 = new Float32Array(100 * 80);
    gemm(a, b, c1, 100, 80, 90, { transA: false });
    gemm(a, b, c2, 100, 80, 90, { transA: false });
    expect(c1).toEqual(c2);
  });

  test('rejects mixed dtypes, short arrays and bad sizes', () => {
    const f32 = new Float32Array(6);
    const f64 = new Float64Array(6);
    expect(() => gemm(f32, f64 as unknown as Float32Array, f32, 2, 3, 1)).toThrow(DTypeError);
    expect(() => gemm(f64, f64, f64, 2, 3, 1, { bias: new Float32Array(3) as unknown as Float64Array })).toThrow(DTypeError);
    expect(() => gemm(f64, f64, f64, 3, 3, 1)).toThrow(ShapeError);
    expect(() => gemm(f64, f64, f64, 2, 3, 1, { bias: new Float64Array(2) })).toThrow(ShapeError);
    expect(() => gemm(f64, f64, f64, 2.5, 3, 1)).toThrow(ValueError);
    expect(() => gemm(f64, f64, f64, -1, 3, 1)).toThrow(ValueError);
  });
});
