/**
 * The SIMD twins of the transcendental activations (tanh, sigmoid, their gradients) must be
 * BIT-IDENTICAL to the TypeScript reference loops over src/kernels/transcendental.ts, in
 * float64 and float32, over random inputs of every magnitude and the edge cases (±0, ±tiny,
 * subnormals, ±large, ±Infinity, NaN). `toEqual` on typed arrays compares elements with
 * Object.is, so the sign of zero must match; NaN equals NaN.
 */

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import fc from 'fast-check';

import { setElementwiseBackend } from '../../src/kernels/backend';
import { simdAvailable, simdUnary, simdUnaryBackward, type FloatArray } from '../../src/kernels/simd';
import { expNeg, sech2Of, sigmoidBackwardOf, sigmoidOf, tanhOf } from '../../src/kernels/transcendental';
import { erfc, gelu, sigmoid, tanh } from '../../src/ops/activations';
import { softmax } from '../../src/ops/softmax';
import { Tensor } from '../../src/tensor';

const root = path.resolve(__dirname, '../..');

beforeAll(() => {
  if (!fs.existsSync(path.join(root, 'build', 'elementwise.wasm'))) {
    execFileSync(process.execPath, [path.join(root, 'scripts', 'build-wasm-elementwise.js')], { stdio: 'inherit' });
  }
});

const EDGES = [
  0, -0, 1, -1, 5e-324, -5e-324, 2.2e-308, -2.2e-308, 1e-300, -1e-300, 3.7e-9, -3.7e-9, 3.8e-9, 1e-20, 0.34657359, -0.34657359,
  0.5, -0.5, 19.999, 20, 20.001, -20, 22, -22, 30, -30, 36.7, 88.7, -88.8, 103, -104, 700, -700, 709.8, -709.8, 745.1, -745.2,
  -746, -746.5, 1e4, -1e4, 1e300, -1e300, Infinity, -Infinity, NaN, 3.4028234663852886e38, 1.1754943508222875e-38, 1.4e-45,
];

/** Doubles of every magnitude and sign: a random mantissa scaled by 2^e, e in [-1080, 1030]. */
const valueArb = fc.oneof(
  fc.double({ min: -40, max: 40, noNaN: true }),
  fc.double({ min: -3, max: 3, noNaN: true }),
  fc.double({ noDefaultInfinity: false }),
  fc.constantFrom(...EDGES),
  fc.tuple(fc.double({ min: -2, max: 2, noNaN: true }), fc.integer({ min: -1080, max: 1030 })).map(([m, e]) => m * 2 ** e),
);

const caseArb = fc.record({
  values: fc.array(valueArb, { minLength: 1, maxLength: 67 }),
  grads: fc.array(fc.oneof(fc.double({ min: -10, max: 10, noNaN: true }), fc.constantFrom(0, -0, 1e300, Infinity, NaN)), {
    minLength: 67,
    maxLength: 67,
  }),
  f32: fc.boolean(),
});

type Ref = (v: number) => number;
type RefGrad = (g: number, v: number) => number;
// gelu's reference: the exact-form loops of `gelu` in src/ops/activations.ts, written out.
const FORWARD: Record<'tanh' | 'sigmoid' | 'gelu', Ref> = {
  tanh: tanhOf,
  sigmoid: sigmoidOf,
  gelu: (v) => v * 0.5 * erfc(-v * Math.SQRT1_2),
};
const BACKWARD: Record<'tanh' | 'sigmoid' | 'gelu', RefGrad> = {
  tanh: (g, v) => g * sech2Of(v),
  sigmoid: sigmoidBackwardOf,
  gelu: (g, v) => g * (0.5 * erfc(-v * Math.SQRT1_2) + v * (expNeg(-0.5 * v * v) * 0.3989422804014327)),
};

function arrays(values: number[], grads: number[], f32: boolean): { x: FloatArray; g: FloatArray } {
  const C = f32 ? Float32Array : Float64Array;
  return { x: C.from(values), g: C.from(grads.slice(0, values.length)) };
}

const describeSimd = simdAvailable() ? describe : describe.skip;

describeSimd('SIMD tanh / sigmoid / gelu are bit-identical to the TS reference', () => {
  for (const op of ['tanh', 'sigmoid', 'gelu'] as const) {
    it(`${op} forward and backward, float64 and float32, random and edge inputs`, () => {
      fc.assert(
        fc.property(caseArb, ({ values, grads, f32 }) => {
          const { x, g } = arrays(values, grads, f32);
          const ref = x.slice();
          for (let i = 0; i < x.length; i++) ref[i] = FORWARD[op](x[i]);
          const out = x.slice().fill(7);
          simdUnary(op, x, out);
          expect(out).toEqual(ref);
          const refG = g.slice();
          for (let i = 0; i < g.length; i++) refG[i] = BACKWARD[op](g[i], x[i]);
          const dx = g.slice().fill(7);
          simdUnaryBackward(op, g, x, dx);
          expect(dx).toEqual(refG);
        }),
        { seed: 42, numRuns: 400 },
      );
    });

    it(`${op}: every edge value, both dtypes, at every lane position`, () => {
      for (const C of [Float64Array, Float32Array]) {
        for (let shiftBy = 0; shiftBy < 3; shiftBy++) {
          const x = C.from([...new Array<number>(shiftBy).fill(0.25), ...EDGES]);
          const ref = x.slice();
          for (let i = 0; i < x.length; i++) ref[i] = FORWARD[op](x[i]);
          const out = x.slice();
          simdUnary(op, x, out);
          expect(out).toEqual(ref);
          const g = x.slice().fill(1.5);
          const refG = g.slice();
          for (let i = 0; i < g.length; i++) refG[i] = BACKWARD[op](g[i], x[i]);
          const dx = g.slice();
          simdUnaryBackward(op, g, x, dx);
          expect(dx).toEqual(refG);
        }
      }
    });

    it(`${op} op: backend 'simd' and 'js' give the same forward and gradient bits`, () => {
      const f = op === 'tanh' ? tanh : op === 'sigmoid' ? sigmoid : (t: Tensor): Tensor => gelu(t);
      for (const C of [Float64Array, Float32Array]) {
        const n = 2051;
        const data = new C(n);
        for (let i = 0; i < n; i++) data[i] = Math.sin(i * 12.9898) * 43758.5453 % 30;
        const run = (backend: 'simd' | 'js'): [FloatArray, FloatArray] => {
          const prev = setElementwiseBackend(backend);
          try {
            const x = new Tensor(data.slice(), [n], { requiresGrad: true });
            const y = f(x);
            y.backward(new Tensor(data.map((v) => v / 7), [n]));
            return [y.data, x.grad!.data];
          } finally {
            setElementwiseBackend(prev);
          }
        };
        const [ys, gs] = run('simd');
        const [yj, gj] = run('js');
        expect(ys).toEqual(yj);
        expect(gs).toEqual(gj);
      }
    });
  }
});

describeSimd('SIMD softmax along the last axis is bit-identical to the TS loops', () => {
  const lineArb = fc.record({
    rows: fc.integer({ min: 1, max: 9 }),
    size: fc.integer({ min: 1, max: 37 }),
    f32: fc.boolean(),
    pool: fc.array(valueArb, { minLength: 9 * 37, maxLength: 9 * 37 }),
    scale: fc.constantFrom(1, 1e-3, 30, 1e4),
    // Lines of ordinary logits (most cases) or of the full edge-value mix.
    wild: fc.boolean(),
    seed: fc.integer({ min: 1, max: 1000 }),
  });

  /** softmax forward and backward of `data` as [rows, size] under one backend. */
  function run(backend: 'simd' | 'js', data: FloatArray, g: FloatArray, rows: number, size: number): [FloatArray, FloatArray] {
    const prev = setElementwiseBackend(backend);
    try {
      const x = new Tensor(data.slice(), [rows, size], { requiresGrad: true });
      const y = softmax(x);
      y.backward(new Tensor(g.slice(), [rows, size]));
      return [y.data, x.grad!.data];
    } finally {
      setElementwiseBackend(prev);
    }
  }

  it('forward and backward, float64 and float32, ordinary and edge-value lines, odd and even sizes', () => {
    fc.assert(
      fc.property(lineArb, ({ rows, size, f32, pool, scale, wild, seed }) => {
        const C = f32 ? Float32Array : Float64Array;
        const n = rows * size;
        const data = new C(n);
        const g = new C(n);
        for (let i = 0; i < n; i++) {
          data[i] = wild ? pool[i] : Math.sin((i + 1) * seed * 12.9898) * scale;
          g[i] = Math.cos((i + 3) * seed) * 2;
        }
        const [ys, gs] = run('simd', data, g, rows, size);
        const [yj, gj] = run('js', data, g, rows, size);
        expect(ys).toEqual(yj);
        expect(gs).toEqual(gj);
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('an MLP-sized batch (256 x 10) goes through the SIMD path under auto and matches', () => {
    for (const C of [Float64Array, Float32Array]) {
      const data = new C(2560);
      const g = new C(2560);
      for (let i = 0; i < data.length; i++) {
        data[i] = Math.sin(i * 0.37) * 8;
        g[i] = Math.cos(i * 0.11);
      }
      const [ya, ga] = run('simd', data, g, 256, 10);
      const prev = setElementwiseBackend('auto');
      let yAuto: FloatArray;
      try {
        yAuto = softmax(new Tensor(data.slice(), [256, 10])).data;
      } finally {
        setElementwiseBackend(prev);
      }
      const [yj, gj] = run('js', data, g, 256, 10);
      expect(yAuto).toEqual(yj);
      expect(ya).toEqual(yj);
      expect(ga).toEqual(gj);
    }
  });
});
