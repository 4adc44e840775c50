/**
 * Second (and third) derivatives through the differentiable backward rules of the activations,
 * softmax/logSoftmax, max/min and the shape ops: Hessian-vector products from autograd.grad
 * with createGraph against central differences of the plain first-order gradient (float64,
 * fast-check with a pinned seed), against PyTorch 1.13's double backward
 * (test/fixtures/torch_double_backward.json from gen_torch_double_backward.py), closed forms of
 * tanh''' and sigmoid''', and the createGraph gradient equal to the fast path's.
 *
 * Every case uses L = sum(w * y) + 0.5 * sum(y * y) with y = op(xs), so the second backward
 * goes through the rule's dependence on x and on the incoming gradient (w + y).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { autograd, ops, Tensor } from '../../src';
import { normRelError } from '../helpers/close';
import { FC, fc } from '../helpers/fc';

type Op = (...xs: Tensor[]) => Tensor;

/** Every op under test, by the fixture's case name. */
const OPS: Record<string, Op> = {
  tanh: (x) => x.tanh(),
  sigmoid: (x) => x.sigmoid(),
  sqrt: (x) => x.sqrt(),
  abs: (x) => x.abs(),
  pow2: (x) => x.pow(2),
  pow3: (x) => x.pow(3),
  'pow0.5': (x) => x.pow(0.5),
  'pow-1.5': (x) => x.pow(-1.5),
  pow1: (x) => x.pow(1),
  clamp: (x) => x.clamp(-0.5, 0.7),
  leakyRelu: (x) => x.leakyRelu(0.1),
  elu: (x) => x.elu(),
  elu2: (x) => x.elu(2),
  gelu: (x) => x.gelu(),
  geluTanh: (x) => x.gelu({ approximate: 'tanh' }),
  silu: (x) => x.silu(),
  softplus: (x) => x.softplus(),
  maximum: (a, b) => ops.maximum(a, b),
  minimum: (a, b) => ops.minimum(a, b),
  softmax: (x) => x.softmax(-1),
  softmax0: (x) => x.softmax(0),
  logSoftmax: (x) => x.logSoftmax(-1),
  logSoftmax0: (x) => x.logSoftmax(0),
  maxAll: (x) => x.max(),
  maxAxis: (x) => x.max(1),
  minAxis0Keep: (x) => x.min(0, true),
  minAll: (x) => x.min(),
  slice: (x) => x.slice([1, 0], [2, 3]),
  gather: (x) => x.gather([2, 0, 2], 0),
  gather1: (x) => x.gather([3, 3, 1], 1),
  concat: (a, b) => ops.concat([a, b], 0),
  concat1: (a, b) => ops.concat([a, b], 1),
  stack: (a, b) => ops.stack([a, b], 1),
  flatten: (x) => x.flatten(1),
  squeeze: (x) => x.squeeze(1),
  unsqueeze: (x) => x.unsqueeze(0),
};

const leaf = (data: Float64Array, shape: readonly number[]): Tensor => new Tensor(Float64Array.from(data), shape, { requiresGrad: true });

function loss(op: Op, xs: Tensor[], w: Float64Array): Tensor {
  const y = op(...xs);
  return y.mul(new Tensor(w, y.shape)).sum().add(y.mul(y).sum().mul(0.5));
}

/** dL/dxs with the plain (fast-path) backward. */
function plainGrad(op: Op, xs: readonly Float64Array[], shapes: readonly number[][], w: Float64Array): Float64Array[] {
  const ts = xs.map((x, i) => leaf(x, shapes[i]));
  loss(op, ts, w).backward();
  return ts.map((t) => Float64Array.from(t.grad!.data));
}

/** The Hessian-vector product by double backward: d/dxs sum_i <dL/dxs_i, v_i>. */
function hvp(op: Op, xs: readonly Float64Array[], shapes: readonly number[][], w: Float64Array, vs: readonly Float64Array[]): Float64Array[] {
  const ts = xs.map((x, i) => leaf(x, shapes[i]));
  const gs = autograd.grad([loss(op, ts, w)], ts, { createGraph: true });
  let s: Tensor | null = null;
  gs.forEach((g, i) => {
    const term = g!.mul(new Tensor(vs[i], shapes[i])).sum();
    s = s === null ? term : s.add(term);
  });
  const hs = autograd.grad([s!], ts, { allowUnused: true });
  return hs.map((h, i) => (h === null ? new Float64Array(xs[i].length) : Float64Array.from(h.data)));
}

/** (g(x + h v) - g(x - h v)) / 2h from the plain gradient. */
function numericHvp(op: Op, xs: readonly Float64Array[], shapes: readonly number[][], w: Float64Array, vs: readonly Float64Array[], h = 1e-5): Float64Array[] {
  const moved = (sign: number): Float64Array[] => xs.map((x, i) => x.map((xi, k) => xi + sign * h * vs[i][k]));
  const gp = plainGrad(op, moved(1), shapes, w);
  const gm = plainGrad(op, moved(-1), shapes, w);
  return gp.map((p, i) => p.map((pk, k) => (pk - gm[i][k]) / (2 * h)));
}

const flat = (as: readonly Float64Array[]): Float64Array => {
  const out = new Float64Array(as.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of as) {
    out.set(a, o);
    o += a.length;
  }
  return out;
};

// ---- numerical second derivatives under fast-check -------------------------------------------

interface Spec {
  /** Input shapes. */
  shapes: number[][];
  /** Output shape (for w). */
  out: number[];
  /** Range of the generated inputs. */
  lo: number;
  hi: number;
  /** Points the inputs must keep at least 0.05 away from (kinks, thresholds). */
  kinks?: number[];
  /** Inputs must be pairwise at least 0.05 apart (no ties): max/min, maximum/minimum. */
  distinct?: boolean;
}

const E: Spec = { shapes: [[2, 3]], out: [2, 3], lo: -3, hi: 3 };
const SPECS: Record<string, Spec> = {
  tanh: E,
  sigmoid: { ...E, lo: -5, hi: 5 },
  sqrt: { ...E, lo: 0.2, hi: 4 },
  abs: { ...E, kinks: [0] },
  pow2: E,
  pow3: E,
  'pow0.5': { ...E, lo: 0.2, hi: 3 },
  'pow-1.5': { ...E, lo: 0.2, hi: 3 },
  pow1: E,
  clamp: { ...E, kinks: [-0.5, 0.7] },
  leakyRelu: { ...E, kinks: [0] },
  elu: { ...E, kinks: [0] },
  elu2: { ...E, kinks: [0] },
  gelu: { ...E, lo: -5, hi: 5 },
  geluTanh: { ...E, lo: -5, hi: 5 },
  silu: { ...E, lo: -6, hi: 6 },
  softplus: { ...E, lo: -6, hi: 24, kinks: [20] },
  maximum: { shapes: [[2, 3], [3]], out: [2, 3], lo: -2, hi: 2, distinct: true },
  minimum: { shapes: [[2, 3], [3]], out: [2, 3], lo: -2, hi: 2, distinct: true },
  softmax: { shapes: [[2, 4]], out: [2, 4], lo: -3, hi: 3 },
  softmax0: { shapes: [[3, 2]], out: [3, 2], lo: -3, hi: 3 },
  logSoftmax: { shapes: [[2, 4]], out: [2, 4], lo: -3, hi: 3 },
  logSoftmax0: { shapes: [[3, 2]], out: [3, 2], lo: -3, hi: 3 },
  maxAll: { ...E, out: [], distinct: true },
  maxAxis: { shapes: [[3, 4]], out: [3], lo: -3, hi: 3, distinct: true },
  minAxis0Keep: { shapes: [[3, 4]], out: [1, 4], lo: -3, hi: 3, distinct: true },
  minAll: { ...E, out: [], distinct: true },
  slice: { shapes: [[3, 4]], out: [2, 3], lo: -3, hi: 3 },
  gather: { shapes: [[4, 3]], out: [3, 3], lo: -3, hi: 3 },
  gather1: { shapes: [[2, 4]], out: [2, 3], lo: -3, hi: 3 },
  concat: { shapes: [[2, 3], [1, 3]], out: [3, 3], lo: -3, hi: 3 },
  concat1: { shapes: [[2, 2], [2, 1]], out: [2, 3], lo: -3, hi: 3 },
  stack: { shapes: [[2, 3], [2, 3]], out: [2, 2, 3], lo: -3, hi: 3 },
  flatten: { shapes: [[2, 2, 3]], out: [2, 6], lo: -3, hi: 3 },
  squeeze: { shapes: [[2, 1, 3]], out: [2, 3], lo: -3, hi: 3 },
  unsqueeze: { shapes: [[2, 3]], out: [1, 2, 3], lo: -3, hi: 3 },
};

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
/** n values in [lo, hi] on a grid of 2^20 steps (no subnormal dust that would make a scale meaningless). */
const vec = (n: number, lo: number, hi: number): fc.Arbitrary<Float64Array> =>
  fc.array(fc.integer({ min: 0, max: 1 << 20 }), { minLength: n, maxLength: n }).map((a) => Float64Array.from(a, (k) => lo + ((hi - lo) * k) / (1 << 20)));
/** n directions / weights with 0.1 <= |value| <= 1, either sign. */
const dir = (n: number): fc.Arbitrary<Float64Array> =>
  fc.tuple(vec(n, 0.1, 1), fc.array(fc.boolean(), { minLength: n, maxLength: n })).map(([m, s]) => m.map((x, i) => (s[i] ? -x : x)));

function admissible(spec: Spec, xs: readonly Float64Array[]): boolean {
  const all = flat(xs);
  if (spec.kinks !== undefined && all.some((x) => spec.kinks!.some((k) => Math.abs(x - k) < 0.05))) return false;
  if (spec.distinct === true) {
    const sorted = Array.from(all).sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++) if (sorted[i] - sorted[i - 1] < 0.05) return false;
  }
  return true;
}

describe('second derivatives against central differences of the first-order gradient (float64)', () => {
  it('covers every op of the fixture list', () => {
    expect(Object.keys(SPECS).sort()).toEqual(Object.keys(OPS).sort());
  });

  for (const name of Object.keys(SPECS)) {
    it(`${name}: Hessian-vector product by double backward within 1e-6 of the numerical one`, () => {
      const spec = SPECS[name];
      const arb = fc.record({
        xs: fc.tuple(...spec.shapes.map((s) => vec(size(s), spec.lo, spec.hi))),
        vs: fc.tuple(...spec.shapes.map((s) => dir(size(s)))),
        w: dir(size(spec.out)),
      });
      fc.assert(
        fc.property(arb, ({ xs, vs, w }) => {
          fc.pre(admissible(spec, xs));
          const op = OPS[name];
          const got = flat(hvp(op, xs, spec.shapes, w, vs));
          const want = flat(numericHvp(op, xs, spec.shapes, w, vs));
          expect(normRelError(got, want)).toBeLessThan(1e-6);
        }),
        { ...FC, numRuns: 25 },
      );
    });
  }
});

// ---- PyTorch's double backward ---------------------------------------------------------------

interface FxArray {
  shape: number[];
  data: number[];
}
interface FxCase {
  name: string;
  xs: FxArray[];
  w: FxArray;
  v: FxArray[];
  grad: FxArray[];
  hvp: FxArray[];
}
const fixture = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'torch_double_backward.json'), 'utf8')) as { cases: FxCase[] };

describe("PyTorch 1.13's double backward (float64)", () => {
  const worst: Record<string, number> = {};
  afterAll(() => {
    // The table of worst relative errors per op, for the record.
    const top = Object.entries(worst).sort((a, b) => b[1] - a[1]);
    console.log(`worst HVP disagreement with PyTorch: ${top.slice(0, 5).map(([n, e]) => `${n} ${e.toExponential(2)}`).join(', ')}`);
  });

  it('holds a case for every op under test', () => {
    expect(fixture.cases.map((c) => c.name).sort()).toEqual(Object.keys(OPS).sort());
  });

  for (const c of fixture.cases) {
    it(`${c.name}: gradient and Hessian-vector product agree to 1e-10`, () => {
      const op = OPS[c.name];
      const xs = c.xs.map((x) => Float64Array.from(x.data));
      const shapes = c.xs.map((x) => x.shape);
      const w = Float64Array.from(c.w.data);
      const vs = c.v.map((v) => Float64Array.from(v.data));
      // The first derivative recorded (createGraph) is the one PyTorch computes.
      const ts = xs.map((x, i) => leaf(x, shapes[i]));
      const gs = autograd.grad([loss(op, ts, w)], ts, { createGraph: true });
      expect(normRelError(flat(gs.map((g) => Float64Array.from(g!.data))), flat(c.grad.map((g) => Float64Array.from(g.data))))).toBeLessThan(1e-12);
      const got = flat(hvp(op, xs, shapes, w, vs));
      const want = flat(c.hvp.map((h) => Float64Array.from(h.data)));
      const err = normRelError(got, want);
      worst[c.name] = err;
      expect(err).toBeLessThan(1e-10);
    });
  }
});

// ---- third order -----------------------------------------------------------------------------

describe('third derivatives', () => {
  // y = op(x) elementwise, L = sum(w * y): the k-th directional derivative's gradient is
  // w * op^(k+1)(x) * v^k elementwise.
  const cases: [string, Op, (x: number) => number][] = [
    // tanh''' = -2 (1 - t^2)(1 - 3 t^2)
    ['tanh', (x) => x.tanh(), (x) => { const t = Math.tanh(x); return -2 * (1 - t * t) * (1 - 3 * t * t); }],
    // sigmoid''' = s (1 - s)(1 - 6 s + 6 s^2)
    ['sigmoid', (x) => x.sigmoid(), (x) => { const s = 1 / (1 + Math.exp(-x)); return s * (1 - s) * (1 - 6 * s + 6 * s * s); }],
  ];
  for (const [name, op, third] of cases) {
    it(`${name}: grad(grad(grad)) matches the closed form of the third derivative`, () => {
      fc.assert(
        fc.property(vec(5, -4, 4), dir(5), dir(5), (xd, vd, wd) => {
          const x = leaf(xd, [5]);
          const v = new Tensor(vd, [5]);
          const [g1] = autograd.grad([op(x).mul(new Tensor(wd, [5])).sum()], [x], { createGraph: true });
          const [g2] = autograd.grad([g1!.mul(v).sum()], [x], { createGraph: true });
          const [g3] = autograd.grad([g2!.mul(v).sum()], [x]);
          const want = xd.map((xi, i) => wd[i] * third(xi) * vd[i] * vd[i]);
          expect(normRelError(g3!.data, want)).toBeLessThan(1e-12);
          // and against central differences of the second derivative
          const second = (at: Float64Array): Float64Array => {
            const xt = leaf(at, [5]);
            const [h1] = autograd.grad([op(xt).mul(new Tensor(wd, [5])).sum()], [xt], { createGraph: true });
            const [h2] = autograd.grad([h1!.mul(v).sum()], [xt]);
            return Float64Array.from(h2!.data);
          };
          const h = 1e-5;
          const p = second(xd.map((xi, i) => xi + h * vd[i]));
          const m = second(xd.map((xi, i) => xi - h * vd[i]));
          expect(normRelError(g3!.data, p.map((pi, i) => (pi - m[i]) / (2 * h)))).toBeLessThan(1e-6);
        }),
        { ...FC, numRuns: 30 },
      );
    });
  }
});

// ---- the recorded first derivative is the fast path's ----------------------------------------

describe('createGraph gives the same first derivative as the fast path', () => {
  for (const name of Object.keys(SPECS)) {
    it(`${name}, ties and kinks included`, () => {
      const spec = SPECS[name];
      // values on a coarse grid so ties, kinks (0, -0.5, 0.7) and the softplus threshold occur
      const grid = (n: number): fc.Arbitrary<Float64Array> =>
        fc.array(fc.integer({ min: -4, max: 4 }), { minLength: n, maxLength: n }).map((a) => Float64Array.from(a, (k) => (spec.lo > 0 ? 0.2 + Math.abs(k) : spec.hi > 20 ? 20 + k : k * 0.25)));
      fc.assert(
        fc.property(fc.tuple(...spec.shapes.map((s) => grid(size(s)))), dir(size(spec.out)), (xs, w) => {
          const op = OPS[name];
          const plain = flat(plainGrad(op, xs, spec.shapes, w));
          const ts = xs.map((x, i) => leaf(x, spec.shapes[i]));
          const gs = autograd.grad([loss(op, ts, w)], ts, { createGraph: true });
          const recorded = flat(gs.map((g) => Float64Array.from(g!.data)));
          expect(normRelError(recorded, plain)).toBeLessThan(1e-14);
        }),
        { ...FC, numRuns: 20 },
      );
    });
  }
});

// ---- edge inputs -----------------------------------------------------------------------------

describe('second derivatives at edge inputs', () => {
  const big = Float64Array.of(-1000, -30, -0.5, 0.5, 30, 1000);
  const pos = Float64Array.of(1e-3, 0.5, 30, 1000);
  const cases: [string, Op, Float64Array][] = [
    ['tanh', (x) => x.tanh(), big],
    ['sigmoid', (x) => x.sigmoid(), big],
    ['elu', (x) => x.elu(), big],
    ['gelu', (x) => x.gelu(), big],
    ['geluTanh', (x) => x.gelu({ approximate: 'tanh' }), big],
    ['silu', (x) => x.silu(), big],
    ['softplus', (x) => x.softplus(), big],
    ['sqrt', (x) => x.sqrt(), pos],
    ['pow-1.5', (x) => x.pow(-1.5), pos],
  ];
  for (const [name, op, xd] of cases) {
    it(`${name}: finite Hessian-vector products for |x| up to 1000`, () => {
      const h = hvp(op, [xd], [[xd.length]], new Float64Array(xd.length).fill(0.5), [new Float64Array(xd.length).fill(1)]);
      expect(Array.from(h[0]).every(Number.isFinite)).toBe(true);
    });
  }

  it('0-D softmax, logSoftmax and max: second derivatives 0, 0 and 1 (L = y^2 / 2 + y)', () => {
    for (const [op, want] of [
      [(x: Tensor) => x.softmax(), 0],
      [(x: Tensor) => x.logSoftmax(), 0],
      [(x: Tensor) => x.max(0), 1],
    ] as const) {
      const [h] = hvp(op, [Float64Array.of(0.3)], [[]], Float64Array.of(1), [Float64Array.of(1)]);
      expect(h[0]).toBeCloseTo(want, 14);
    }
  });

  it('0-D slice: its padBlock rule carries the gradient through', () => {
    const [h] = hvp((x) => x.slice([], []).mul(x), [Float64Array.of(0.3)], [[]], Float64Array.of(1), [Float64Array.of(1)]);
    // y = x^2, L = w y + y^2 / 2: L'' = 2 w + 6 x^2
    expect(h[0]).toBeCloseTo(2 + 6 * 0.09, 12);
  });
});
