/**
 * The WebAssembly SIMD elementwise kernels (src/kernels/simd) must be BIT-IDENTICAL to the
 * TypeScript kernels they replace (src/kernels/batchnorm.ts, src/kernels/relu.ts), for float64
 * and float32, in train and test mode, forward and backward. `toEqual` on typed arrays compares
 * every element with Object.is, so +0 / -0 must match too; NaN equals NaN (payloads aside).
 *
 * Shapes come from fast-check with a pinned seed: n in [2, 70], d in [1, 70], so D covers every
 * remainder modulo the vector widths (2 and 4) and the scalar tails are exercised.
 */

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import fc from 'fast-check';

import { DTypeError, ShapeError } from '../../src/errors';
import { batchnormBackward, batchnormForward, type BatchnormMode } from '../../src/kernels/batchnorm';
import { reluBackward, reluForward } from '../../src/kernels/relu';
import { sumRows } from '../../src/kernels/affine';
import { setElementwiseBackend } from '../../src/kernels/backend';

// The TypeScript loops are the reference: keep the kernels from dispatching to SIMD themselves.
let previousBackend: ReturnType<typeof setElementwiseBackend> = 'auto';
beforeAll(() => (previousBackend = setElementwiseBackend('js')));
afterAll(() => setElementwiseBackend(previousBackend));
import {
  simdAddInto, simdAvailable, simdBatchnormBackward, simdColSums, simdBatchnormTestForward, simdBatchnormTrainForward, simdReluBackward,
  simdReluForward, simdSgdStep, type FloatArray,
} from '../../src/kernels/simd';
import { Adam, RMSProp, SGD } from '../../src/optim';
import { Tensor } from '../../src/tensor';

const root = path.resolve(__dirname, '../..');

beforeAll(() => {
  // A fresh clone gets build/elementwise.wasm from the prepare script; build it here if absent
  // so the test does not silently depend on that step.
  if (!fs.existsSync(path.join(root, 'build', 'elementwise.wasm'))) {
    execFileSync(process.execPath, [path.join(root, 'scripts', 'build-wasm.js')], { stdio: 'inherit' });
  }
});

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

/** Deterministic values in [-scale, scale) + offset from a small LCG, so failures reproduce. */
function filled(C: Ctor, len: number, seed: number, scale = 1, offset = 0): FloatArray {
  const out = new C(len);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 31 - 1) * scale + offset;
  }
  return out;
}

const copy = (a: FloatArray): FloatArray => a.slice();
const like = (a: FloatArray, len: number): FloatArray => (a instanceof Float32Array ? new Float32Array(len) : new Float64Array(len));

const caseArb = fc.record({
  n: fc.integer({ min: 2, max: 70 }),
  d: fc.integer({ min: 1, max: 70 }),
  f32: fc.boolean(),
  mode: fc.constantFrom<BatchnormMode>('train', 'test'),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  // Data far from zero mean and of varied magnitude, so cancellation and rounding differ per column.
  scale: fc.constantFrom(1, 1e-3, 37.5, 1e4),
  offset: fc.constantFrom(0, 0.25, -3, 1000),
  eps: fc.constantFrom(1e-5, 0, 1e-3, 0.1),
  momentum: fc.constantFrom(0.9, 0, 1, 0.37),
});

/**
 * Gives both parameters the gradient `g`, then steps `optJs` with the JS loops (the backend this
 * file sets) and `optSimd` with the SIMD kernels.
 */
function stepBoth(js: Tensor, simd: Tensor, optJs: { step(): void }, optSimd: { step(): void }, g: FloatArray): void {
  js.grad = new Tensor(copy(g), [g.length]);
  simd.grad = new Tensor(copy(g), [g.length]);
  optJs.step();
  const prev = setElementwiseBackend('simd');
  try {
    optSimd.step();
  } finally {
    setElementwiseBackend(prev);
  }
}

/**
 * Runs the TS BatchNorm kernels (the reference) and the SIMD ones on the same inputs, forward
 * in `mode` and then backward, and expects every output bit-identical.
 */
function compareBatchnorm(
  n: number, d: number, mode: BatchnormMode, x: FloatArray, gamma: FloatArray, beta: FloatArray, rm: FloatArray,
  rv: FloatArray, dout: FloatArray, eps: number, momentum: number,
): void {
  // TypeScript reference. It updates the running statistics it is given in place.
  const bnParam = { mode, eps, momentum, runningMean: copy(rm), runningVar: copy(rv) };
  const ref = batchnormForward({ shape: [n, d], data: x }, { shape: [d], data: gamma }, { shape: [d], data: beta }, bnParam);
  const refBack = batchnormBackward({ shape: [n, d], data: dout }, ref.cache);

  const srm = copy(rm);
  const srv = copy(rv);
  const out = like(x, n * d);
  const xmm = like(x, n * d);
  const xn = like(x, n * d);
  const ivar = like(x, d);
  const sv = like(x, d);
  if (mode === 'train') simdBatchnormTrainForward(x, gamma, beta, n, d, eps, momentum, srm, srv, out, xmm, xn, ivar, sv);
  else simdBatchnormTestForward(x, gamma, beta, n, d, eps, srm, srv, out, xmm, xn, ivar, sv);
  expect(out).toEqual(ref.out.data);
  expect(xmm).toEqual(ref.cache.xMinusMean);
  expect(xn).toEqual(ref.cache.normalizedData);
  expect(ivar).toEqual(ref.cache.ivar);
  expect(sv).toEqual(ref.cache.sqrtvar);
  expect(srm).toEqual(bnParam.runningMean);
  expect(srv).toEqual(bnParam.runningVar);

  const dx = like(x, n * d);
  const dgamma = like(x, d).fill(123); // overwritten, not accumulated
  const dbeta = like(x, d).fill(-5);
  simdBatchnormBackward(mode, dout, n, d, xmm, xn, gamma, ivar, sv, dx, dgamma, dbeta);
  expect(dx).toEqual(refBack.dx.data);
  expect(dgamma).toEqual(refBack.dgamma.data);
  expect(dbeta).toEqual(refBack.dbeta.data);
}

describe('SIMD elementwise kernels', () => {
  it('column sums (the bias gradient) give sumRows\' bits: any shape, both dtypes, -0 and NaN', () => {
    expect(simdAvailable()).toBe(true);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 23 }), fc.boolean(), fc.integer(), (rows, cols, f32, seed) => {
        const C = f32 ? Float32Array : Float64Array;
        const a = filled(C, rows * cols, seed, 1e3);
        // Signed zeros everywhere in one column (0 + -0 = +0 must come out), a NaN in another.
        if (cols > 1) for (let i = 0; i < rows; i++) a[i * cols + 1] = -0;
        if (cols > 2 && rows > 0) a[(rows - 1) * cols + 2] = NaN;
        const ref = like(a, cols);
        sumRows(a, ref, rows, cols); // the file runs the TypeScript kernels ('js')
        const got = filled(C, cols, 1); // overwritten whole
        simdColSums(a, got, rows, cols);
        expect(Array.from(got, (v) => (Object.is(v, -0) ? '-0' : String(v)))).toEqual(Array.from(ref, (v) => (Object.is(v, -0) ? '-0' : String(v))));
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  test('the module loads', () => {
    expect(simdAvailable()).toBe(true);
  });

  test('BatchNorm forward and backward are bit-identical to the TS kernels', () => {
    fc.assert(
      fc.property(caseArb, ({ n, d, f32, mode, seed, scale, offset, eps, momentum }) => {
        const C: Ctor = f32 ? Float32Array : Float64Array;
        const x = filled(C, n * d, seed, scale, offset);
        const gamma = filled(C, d, seed + 1, 2, 0.5);
        const beta = filled(C, d, seed + 2);
        const rm = filled(C, d, seed + 3, 1, offset);
        const rv = filled(C, d, seed + 4, 0.5, 0.6); // > 0, so test mode's sqrt is real
        const dout = filled(C, n * d, seed + 5, scale);
        compareBatchnorm(n, d, mode, x, gamma, beta, rm, rv, dout, eps, momentum);
      }),
      { seed: 20240611, numRuns: 150 },
    );
  });

  test('BatchNorm: signed zeros, zero variance and every row-count parity match the TS kernels bit for bit', () => {
    // The kernels start each per-feature sum from row 0 as 0 + v and then add rows in pairs; a
    // column of -0 (sum +0 in a zero-filled Float32Array, -0 if row 0 were copied) and odd and
    // even N (a last unpaired row, or none) must still give the reference's bits, including the
    // NaN of 0 / 0 when eps is 0.
    for (const C of [Float32Array, Float64Array] as Ctor[]) {
      for (const n of [2, 3, 4, 5]) {
        for (const d of [1, 4, 7, 9]) {
          const x = filled(C, n * d, 11 * n + d, 3, 0.5);
          const dout = filled(C, n * d, 13 * n + d, 2);
          for (let i = 0; i < n; i++) {
            x[i * d] = -0; // column 0: all -0 (vector lane when d >= 4)
            x[i * d + d - 1] = i % 2 === 0 ? 0 : -0; // last column (scalar tail when d % 4 !== 0)
            dout[i * d] = -0;
            dout[i * d + d - 1] = -0;
          }
          const gamma = filled(C, d, 3, 2, 0.5);
          const beta = filled(C, d, 4);
          gamma[0] = -0;
          beta[0] = -0;
          for (const eps of [0, 1e-5]) {
            for (const mode of ['train', 'test'] as BatchnormMode[]) {
              compareBatchnorm(n, d, mode, x, gamma, beta, filled(C, d, 5), filled(C, d, 6, 0.5, 0.6), dout, eps, 0.9);
            }
          }
        }
      }
    }
  });

  test('BatchNorm: inputs are not modified, and repeated calls (memory reuse) give the same bits', () => {
    for (const C of [Float32Array, Float64Array] as Ctor[]) {
      const [n, d] = [33, 19];
      const x = filled(C, n * d, 7, 3, 1);
      const x0 = copy(x);
      const gamma = filled(C, d, 8);
      const beta = filled(C, d, 9);
      const run = (): FloatArray[] => {
        const r = [like(x, n * d), like(x, n * d), like(x, n * d), like(x, d), like(x, d)];
        const rm = like(x, d);
        const rv = like(x, d);
        simdBatchnormTrainForward(x, gamma, beta, n, d, 1e-5, 0.9, rm, rv, r[0], r[1], r[2], r[3], r[4]);
        return [...r, rm, rv];
      };
      const first = run();
      // A bigger call in between forces the memory to grow (detaching the old views).
      simdReluForward(filled(C, 1 << 20, 3), like(x, 1 << 20));
      expect(run()).toEqual(first);
      expect(x).toEqual(x0);
    }
  });

  test('ReLU forward and backward are bit-identical, with exact zeros, -0, NaN and infinities', () => {
    const specials = [0, -0, NaN, Infinity, -Infinity, 1e-40, -1e-40, 5e-324, -5e-324];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }), fc.boolean(), fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        (len, f32, seed, pSpecial) => {
          const C: Ctor = f32 ? Float32Array : Float64Array;
          const x = filled(C, len, seed);
          const dout = filled(C, len, seed + 1, 4);
          let s = seed;
          for (let i = 0; i < len; i++) {
            s = (Math.imul(s, 1103515245) + 12345) >>> 0;
            if (s / 2 ** 32 < pSpecial) x[i] = specials[s % specials.length];
            if ((s >>> 7) % 11 === 0) dout[i] = specials[(s >>> 3) % specials.length];
          }
          const out = like(x, len);
          simdReluForward(x, out);
          expect(out).toEqual(reluForward({ shape: [len], data: x }).out.data);
          const dx = like(x, len);
          simdReluBackward(dout, x, dx);
          expect(dx).toEqual(reluBackward({ shape: [len], data: dout }, { shape: [len], data: x }).data);
        },
      ),
      { seed: 42, numRuns: 200 },
    );
    // Every special value in every lane position (vector body and scalar tail).
    for (const C of [Float32Array, Float64Array] as Ctor[]) {
      const x = C.from([...specials, ...specials, -1, 2, -0, 0, NaN]);
      const dout = like(x, x.length);
      for (let i = 0; i < x.length; i++) dout[i] = i - 3.5;
      const out = like(x, x.length);
      simdReluForward(x, out);
      expect(out).toEqual(reluForward({ shape: [x.length], data: x }).out.data);
      expect(Object.is(out[1], -0)).toBe(true);
      const dx = like(x, x.length);
      simdReluBackward(dout, x, dx);
      expect(dx).toEqual(reluBackward({ shape: [x.length], data: dout }, { shape: [x.length], data: x }).data);
    }
  });

  test('gradient accumulation and the plain SGD update are bit-identical to the JS loops', () => {
    const specials = [0, -0, NaN, Infinity, -Infinity, 1e-40, 3.4e38, -3.4e38, 5e-324];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }), fc.boolean(), fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.constantFrom(0.1, 1e-3, 1 / 3, 0.37, 0, 7.25), fc.constantFrom(0, 1e-4, 0.5, 1 / 3),
        fc.constantFrom(1, 1e-3, 1e4),
        (len, f32, seed, lr, wd, scale) => {
          const C: Ctor = f32 ? Float32Array : Float64Array;
          const p0 = filled(C, len, seed, scale);
          const g = filled(C, len, seed + 1, scale);
          if (len > 0 && seed % 3 === 0) {
            p0[seed % len] = specials[seed % specials.length];
            g[(seed >>> 3) % len] = specials[(seed >>> 5) % specials.length];
          }
          // The tape's accumulation: acc[i] += g[i].
          const acc = copy(p0);
          simdAddInto(acc, g);
          const ref = copy(p0);
          for (let i = 0; i < len; i++) ref[i] += g[i];
          expect(acc).toEqual(ref);
          // SGD.step() with the JS loops (this file sets the 'js' backend) against the SIMD kernel.
          const param = new Tensor(copy(p0), [len], { requiresGrad: true });
          param.grad = new Tensor(copy(g), [len]);
          new SGD([param], { lr, weightDecay: wd }).step();
          const p = copy(p0);
          simdSgdStep(p, g, lr, wd);
          expect(p).toEqual(param.data);
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });

  test('SGD with momentum, Adam and RMSProp (all options) are bit-identical to the JS loops over several steps', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }), fc.boolean(), fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.constantFrom(0.1, 1e-3, 1 / 3), fc.constantFrom(0, 1e-4, 0.5), fc.constantFrom(1, 1e-3, 1e4),
        fc.record({ momentum: fc.constantFrom(0.9, 0.37), dampening: fc.constantFrom(0, 0.1), nesterov: fc.boolean() }),
        fc.record({ betas: fc.constantFrom<[number, number]>([0.9, 0.999], [0.5, 0.75]), eps: fc.constantFrom(1e-8, 0.1), decoupled: fc.boolean() }),
        fc.record({ alpha: fc.constantFrom(0.99, 0.5), momentum: fc.constantFrom(0, 0.9) }),
        (len, f32, seed, lr, wd, scale, sgdOpts, adamOpts, rmsOpts) => {
          const C: Ctor = f32 ? Float32Array : Float64Array;
          const p0 = filled(C, len, seed, scale);
          const nesterov = sgdOpts.nesterov && sgdOpts.dampening === 0;
          const make = (): Tensor => new Tensor(copy(p0), [len], { requiresGrad: true });
          const pairs = [
            [make(), make(), (t: Tensor) => new SGD([t], { lr, weightDecay: wd, momentum: sgdOpts.momentum, dampening: sgdOpts.dampening, nesterov })],
            [make(), make(), (t: Tensor) => new Adam([t], { lr, weightDecay: wd, betas: adamOpts.betas, eps: adamOpts.eps, decoupledWeightDecay: adamOpts.decoupled })],
            [make(), make(), (t: Tensor) => new RMSProp([t], { lr, weightDecay: wd, alpha: rmsOpts.alpha, eps: adamOpts.eps, momentum: rmsOpts.momentum })],
          ] as const;
          for (const [js, simd, makeOpt] of pairs) {
            const optJs = makeOpt(js);
            const optSimd = makeOpt(simd);
            for (let step = 0; step < 3; step++) {
              stepBoth(js, simd, optJs, optSimd, filled(C, len, seed + 7 * step + 1, scale));
              expect(simd.data).toEqual(js.data);
            }
            expect(optSimd.stateDict().slots).toEqual(optJs.stateDict().slots);
          }
        },
      ),
      { seed: 7, numRuns: 150 },
    );
  });

  test('updates of arrays longer than one pass (16 Ki elements) are bit-identical too', () => {
    const len = 2 * 16384 + 77;
    for (const C of [Float32Array, Float64Array] as Ctor[]) {
      const p0 = filled(C, len, 3, 10);
      const g = filled(C, len, 4, 10);
      const acc = copy(p0);
      simdAddInto(acc, g);
      const ref = copy(p0);
      for (let i = 0; i < len; i++) ref[i] += g[i];
      expect(acc).toEqual(ref);
      const js = new Tensor(copy(p0), [len], { requiresGrad: true });
      const simd = new Tensor(copy(p0), [len], { requiresGrad: true });
      const optJs = new Adam([js], { lr: 0.01, weightDecay: 1e-3 });
      const optSimd = new Adam([simd], { lr: 0.01, weightDecay: 1e-3 });
      for (let step = 0; step < 2; step++) stepBoth(js, simd, optJs, optSimd, g);
      expect(simd.data).toEqual(js.data);
      expect(optSimd.stateDict().slots).toEqual(optJs.stateDict().slots);
    }
  });

  test('ReLU works in place', () => {
    const x = Float64Array.of(-1, 2, -3, 4, 5);
    simdReluForward(x, x);
    expect(x).toEqual(Float64Array.of(0, 2, 0, 4, 5));
    const g = Float32Array.of(1, 1, 1, 1, 1);
    simdReluBackward(g, Float32Array.of(-1, 0, 1, NaN, -0), g);
    expect(g).toEqual(Float32Array.of(0, 1, 1, 0, 1));
  });

  test('mixed dtypes and short arrays are rejected', () => {
    const x = new Float64Array(6);
    const d3 = new Float64Array(3);
    expect(() => simdReluForward(x, new Float32Array(6) as unknown as Float64Array)).toThrow(DTypeError);
    expect(() => simdReluForward(x, new Float64Array(5))).toThrow(ShapeError);
    expect(() => simdReluBackward(x, new Float64Array(2), x)).toThrow(ShapeError);
    expect(() =>
      simdBatchnormTrainForward(x, d3, d3, 2, 3, 1e-5, 0.9, d3, d3, x.slice(), x.slice(), x.slice(), d3.slice(), new Float64Array(2)),
    ).toThrow(ShapeError);
    expect(() =>
      simdBatchnormBackward('train', x, 2, 3, x, x, d3, d3, new Float32Array(3) as unknown as Float64Array, x.slice(), d3.slice(), d3.slice()),
    ).toThrow(DTypeError);
  });
});
