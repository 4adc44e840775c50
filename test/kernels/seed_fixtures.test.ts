/**
 * The kernels reproduce the seed's own numpy outputs (test/fixtures, copied from
 * shared/seed/fixtures, made by gen_fixtures.py) to relative error 1e-12 in float64.
 */
import * as affineFx from '../fixtures/affine.json';
import * as reluFx from '../fixtures/relu.json';
import * as bnFx from '../fixtures/batchnorm.json';
import {
  setGemmBackend,
  setElementwiseBackend,
  affineBackward,
  affineForward,
  batchnormBackward,
  batchnormBackwardAlt,
  batchnormForward,
  reluBackward,
  reluForward,
  type BatchnormParam,
} from '../../src/kernels';
import { wasmAvailable } from '../../src/kernels/wasm';
import { simdAvailable } from '../../src/kernels/simd';
import { expectClose, maxRelError, nd, nd32, normRelError } from '../helpers/close';

describe.each([
  ['WebAssembly GEMM', 'wasm'],
  ['TypeScript reference GEMM', 'js'],
] as const)('affine kernels vs the seed (%s)', (_name, mode) => {
  let prev: ReturnType<typeof setGemmBackend> = 'auto';
  beforeAll(() => (prev = setGemmBackend(mode)));
  afterAll(() => setGemmBackend(prev));

  it.each(affineFx.cases.map((c, i) => [i, c] as const))('case %i', (_i, c) => {
    const { out, cache } = affineForward(nd(c.x), nd(c.w), nd(c.b));
    expectClose(out, c.out);
    const { dx, dw, db } = affineBackward(nd(c.dout), cache);
    expectClose(dx, c.dx);
    expectClose(dw, c.dw);
    expectClose(db, c.db);
  });

  it('the backend under test is the one that ran', () => {
    expect(mode === 'js' || wasmAvailable()).toBe(true);
  });

  it('float32 agrees to float32 precision', () => {
    for (const c of affineFx.cases) {
      const { out, cache } = affineForward(nd32(c.x), nd32(c.w), nd32(c.b));
      expect(out.data).toBeInstanceOf(Float32Array);
      expect(maxRelError(out.data, c.out.data)).toBeLessThan(1e-3);
      const { dw } = affineBackward(nd32(c.dout), cache);
      expect(maxRelError(dw.data, c.dw.data)).toBeLessThan(1e-3);
    }
  });
});

describe.each([
  ['WebAssembly SIMD', 'simd'],
  ['TypeScript loops', 'js'],
] as const)('relu and batchnorm kernels vs the seed (%s)', (_name, backend) => {
  let prev: ReturnType<typeof setElementwiseBackend> = 'auto';
  beforeAll(() => (prev = setElementwiseBackend(backend)));
  afterAll(() => setElementwiseBackend(prev));
  it('the backend under test is the one that ran', () => {
    expect(backend === 'js' || simdAvailable()).toBe(true);
  });
  describe('relu kernels vs the seed', () => {
    it.each(reluFx.cases.map((c, i) => [i, c] as const))('case %i (exact zeros pass the gradient)', (_i, c) => {
      const { out, cache } = reluForward(nd(c.x));
      expectClose(out, c.out, 0);
      expectClose(reluBackward(nd(c.dout), cache), c.dx, 0);
    });
  });

  describe('batchnorm kernels vs the seed', () => {
    it.each(bnFx.cases.map((c, i) => [i, c] as const))(
      'case %i: three train steps with running statistics, then test mode',
      (_i, c) => {
        const bnParam: BatchnormParam = { mode: 'train', momentum: c.momentum, eps: c.eps };
        for (const step of c.train_steps) {
          if (bnParam.runningMean) {
            expect(maxRelError(bnParam.runningMean, step.running_mean_before.data)).toBeLessThanOrEqual(1e-12);
            expect(maxRelError(bnParam.runningVar!, step.running_var_before.data)).toBeLessThanOrEqual(1e-12);
          }
          const { out, cache } = batchnormForward(nd(step.x), nd(c.gamma), nd(c.beta), bnParam);
          expectClose(out, step.out);
          expect(maxRelError(bnParam.runningMean!, step.running_mean.data)).toBeLessThanOrEqual(1e-12);
          expect(maxRelError(bnParam.runningVar!, step.running_var.data)).toBeLessThanOrEqual(1e-12);
          const g = batchnormBackward(nd(step.dout), cache);
          expectClose(g.dx, step.dx);
          expectClose(g.dgamma, step.dgamma);
          expectClose(g.dbeta, step.dbeta);
          const alt = batchnormBackwardAlt(nd(step.dout), cache);
          // NOTE: the closed form sums in another order. With N = 2, xhat = ±1 and dx is a
          // residue of cancelling terms (|dx| ~ 1e-5 against terms ~ 1), so both results carry
          // rounding noise near 1e-12 of the array's scale; 1e-10 still pins the formula.
          expect(normRelError(alt.dx.data, step.dx.data)).toBeLessThanOrEqual(c.train_steps[0].x.shape[0] === 2 ? 1e-10 : 1e-12);
          expectClose(alt.dgamma, step.dgamma);
          expectClose(alt.dbeta, step.dbeta);
        }
        bnParam.mode = 'test';
        const { out } = batchnormForward(nd(c.x_test), nd(c.gamma), nd(c.beta), bnParam);
        expectClose(out, c.out_test);
      },
    );

    it('running statistics start at zeros when bnParam has none', () => {
      const c = bnFx.cases[0];
      const step = c.train_steps[0];
      expect(step.running_mean_before.data.every((v) => v === 0)).toBe(true);
      const bnParam: BatchnormParam = { mode: 'train', momentum: c.momentum, eps: c.eps };
      batchnormForward(nd(step.x), nd(c.gamma), nd(c.beta), bnParam);
      expect(maxRelError(bnParam.runningMean!, step.running_mean.data)).toBeLessThanOrEqual(1e-12);
    });
  });
});
