/**
 * Second derivatives: gradgradcheck over every op and module with a differentiable backward
 * rule (fast-check, pinned seed), a planted wrong rule of each kind caught, and the bad input
 * of autograd.grad / backward({ createGraph }).
 */
import { ArgumentError, autograd, ops, defineOp, DTypeError, GradError, gradgradcheck, manualSeed, nn, Tensor, tensor, ValueError } from '../../src';
import { gradgradcheck as fromTesting } from '../../src/testing';
import { record, withGraphRule } from '../../src/autograd/tape';
import { constant } from '../../src/ops/graph_rules';
import { valuesArb } from '../../src/testing/arbitraries';
import { expectThrows } from '../helpers/errors';
import { FC, fc } from '../helpers/fc';

type Fn = (...xs: Tensor[]) => Tensor;
/** An input: its shape, optionally the range of its values (default [-2, 2]). */
type In = readonly number[] | { shape: readonly number[]; min: number; max: number };
/**
 * One row per op or module: its name, its drawn inputs, the function, and fixed tensors
 * appended to the inputs (a module's parameters). Adding an op is one line.
 */
type Case = readonly [name: string, inputs: readonly In[], fn: Fn, fixed?: () => Tensor[]];

const positive = (shape: readonly number[]): In => ({ shape, min: 0.3, max: 2.5 });

/**
 * A module as a case: x is drawn, the module's own parameters (seeded initialisation, biases
 * and BatchNorm's gamma/beta moved off their constant starts) follow as inputs, so their second
 * derivatives are checked too.
 */
function moduleCase(name: string, make: () => nn.Module, xShape: readonly number[]): Case {
  manualSeed(7);
  const m = make();
  for (const p of m.parameters()) p.data.set(Tensor.randn(p.shape, { dtype: 'float64' }).data.map((v, i) => p.data[i] + 0.5 * v));
  return [name, [xShape], (x) => m.forward(x), () => m.parameters()];
}

/** Ops and modules whose differentiable rules have landed. */
const CASES: readonly Case[] = [
  ['add (broadcast)', [[2, 3], [3]], (a, b) => a.add(b)],
  ['sub (broadcast)', [[2, 1, 3], [4, 1]], (a, b) => a.sub(b)],
  ['mul (broadcast)', [[2, 3], [2, 1]], (a, b) => a.mul(b)],
  ['mul (same tensor twice)', [[3, 2]], (a) => a.mul(a)],
  ['div (broadcast)', [[2, 3], positive([3])], (a, b) => a.div(b)],
  ['add/mul/div by numbers', [positive([4])], (a) => a.add(1.5).mul(-2).div(3).sub(0.25)],
  ['neg', [[2, 2]], (a) => a.neg()],
  ['exp', [[2, 3]], (a) => a.exp()],
  ['log', [positive([2, 3])], (a) => a.log()],
  ['sum (all)', [[2, 3]], (a) => a.sum()],
  ['sum (axis)', [[2, 3, 2]], (a) => a.sum(1)],
  ['sum (axis, keepDims)', [[2, 3]], (a) => a.sum(0, true)],
  ['mean (all)', [[3, 2]], (a) => a.mean()],
  ['mean (axis)', [[2, 4]], (a) => a.mean(1)],
  ['reshape', [[2, 3]], (a) => a.reshape([3, 2])],
  ['transpose', [[2, 3]], (a) => a.transpose()],
  ['transpose (axes)', [[2, 3, 2]], (a) => a.transpose([2, 0, 1])],
  ['flatten', [[2, 2, 2]], (a) => a.flatten()],
  ['unsqueeze/squeeze', [[3]], (a) => a.unsqueeze(0).squeeze(0)],
  ['matmul', [[2, 3], [3, 2]], (a, b) => a.matmul(b)],
  ['sigmoid from exp/div', [[2, 3]], (a) => tensor(1).div(a.neg().exp().add(1))],
  ['tanh from exp/div', [[2, 3]], (a) => tensor(1).sub(a.mul(-2).exp()).div(a.mul(-2).exp().add(1))],
  ['MLP from matmul/add/exp/div', [[4, 2], [2, 3], [3], [3, 1]], (x, w1, b1, w2) => {
    const h = x.matmul(w1).add(b1);
    return h.div(h.neg().exp().add(1)).matmul(w2); // SiLU hidden layer
  }],
  ['tanh', [[2, 3]], (a) => a.tanh()],
  ['sigmoid', [[2, 3]], (a) => a.sigmoid()],
  ['relu', [[2, 3]], (a) => a.relu()],
  ['gelu', [[2, 3]], (a) => a.gelu()],
  ['gelu (tanh)', [[2, 3]], (a) => a.gelu({ approximate: 'tanh' })],
  ['silu', [[2, 3]], (a) => a.silu()],
  ['softplus', [[2, 3]], (a) => a.softplus()],
  ['elu', [[2, 3]], (a) => a.elu()],
  ['sqrt', [positive([2, 3])], (a) => a.sqrt()],
  ['pow', [positive([2, 3])], (a) => a.pow(2.5)],
  ['softmax', [[2, 3]], (a) => a.softmax()],
  ['logSoftmax', [[2, 3]], (a) => a.logSoftmax()],
  ['max (axis)', [[2, 3]], (a) => a.max(1)],
  ['slice', [[3, 3]], (a) => a.slice([1, 0], [2, 2])],
  ['gather', [[4, 2]], (a) => a.gather([3, 0, 3], 0)],
  ['concat', [[2, 2], [1, 2]], (a, b) => ops.concat([a, b], 0)],
  ['stack', [[2], [2]], (a, b) => ops.stack([a, b], 0)],
  ['min (axis)', [[2, 3]], (a) => a.min(0)],
  ['softmaxCrossEntropy', [[3, 4]], (a) => nn.softmaxCrossEntropy(a, [0, 1, 3])],
  ['mseLoss', [[2, 3], [2, 3]], (a, b) => nn.mseLoss(a, b)],
  ['bceWithLogits', [[2, 3]], (a) => nn.bceWithLogits(a, tensor([[1, 0, 0.5], [0, 1, 0.25]]))],
  ['nllLoss of logSoftmax', [[3, 4]], (a) => nn.nllLoss(a.logSoftmax(), [0, 1, 3])],
  moduleCase('nn.Affine', () => new nn.Affine(3, 2), [4, 3]),
  moduleCase('nn.BatchNorm1d (train)', () => new nn.BatchNorm1d(3), [4, 3]),
  moduleCase('nn.BatchNorm1d (eval)', () => new nn.BatchNorm1d(3).eval(), [4, 3]),
  moduleCase('nn.LayerNorm', () => new nn.LayerNorm(3), [2, 3]),
  moduleCase('nn.Tanh MLP', () => new nn.Sequential(new nn.Affine(2, 3), new nn.Tanh(), new nn.Affine(3, 1)), [3, 2]),
];

/**
 * Ops and modules still without a differentiable rule on this branch: createGraph through them
 * must throw a GradError naming them. When a rule lands this test fails: move the line to CASES.
 */

/** The inputs of a case with drawn values, all float64 and requiring grad. */
function inputsArb(ins: readonly In[]): fc.Arbitrary<Tensor[]> {
  return fc.tuple(
    ...ins.map((spec) => {
      const { shape, min, max } = Array.isArray(spec) ? { shape: spec as readonly number[], min: -2, max: 2 } : (spec as Exclude<In, readonly number[]>);
      const n = shape.reduce((p, d) => p * d, 1);
      return valuesArb(n, { min, max }).map((v) => new Tensor(Float64Array.from(v), [...shape], { requiresGrad: true }));
    }),
  );
}

describe('gradgradcheck over every op and module with a differentiable rule', () => {
  it.each(CASES.map((c) => [c[0], c] as const))('%s (and its square, so the rule meets a gradient that depends on x)', (_name, [, ins, fn, fixed]) => {
    const squared: Fn = (...xs) => {
      const y = fn(...xs);
      return y.mul(y);
    };
    fc.assert(
      fc.property(inputsArb(ins), (drawn) => {
        const xs = [...drawn, ...(fixed?.() ?? [])];
        const r = gradgradcheck(fn, xs);
        expect(r.toleranceUsed.every((t) => t < 1)).toBe(true);
        gradgradcheck(squared, xs);
      }),
      { ...FC, numRuns: 8 },
    );
  });

  // Once every op has its rule the list is empty (jest refuses an empty table).
});

describe('gradgradcheck catches wrong differentiable rules', () => {
  /** x^2 elementwise: the plain rule is right; the differentiable rule is `rule`. */
  const square = (rule: (g: Tensor, x: Tensor) => Tensor) => (x: Tensor): Tensor => {
    const out = new Tensor(x.data.map((v) => v * v), x.shape);
    return withGraphRule(record(out, 'square', [x], (g) => [g.map((gi, i) => 2 * gi * x.data[i])]), (g) => [rule(g, x)]);
  };
  const x = (): Tensor => tensor([0.5, -1.25, 2], { requiresGrad: true });

  it('the right rule passes', () => {
    const r = gradgradcheck((t) => square((g, xx) => g.mul(xx).mul(2))(t).sum(), [x()]);
    expect(r.maxRelError[0]).toBeLessThan(1e-8);
    expect(r.kinks).toEqual([0]);
  });

  it('a rule that treats x as a constant (right values, no second derivative): caught at an element of the input', () => {
    const bad = square((g, xx) => g.mul(constant(xx.data, xx.shape, xx)).mul(2));
    expectThrows(
      () => gradgradcheck((t) => bad(t).sum(), [x()]),
      GradError,
      /^gradgradcheck: the derivative of <grad of <fn\(inputs\), u>, v> \(double backward\) of input 0 \(shape \[3\]\) at element 0 \(index \[0\]\): numerical -?\d.*, analytical 0, .*so this is no kink$/,
    );
  });

  it('a rule whose values are right but whose dependence on the gradient is wrong: caught at gradOutputs u', () => {
    // 2xg + x(g - g'), g' a constant copy of g: the value and d/dx are right, d/dg is 3x.
    const bad = square((g, xx) => g.mul(xx).mul(2).add(g.sub(constant(g.data, g.shape, g)).mul(xx)));
    expectThrows(
      () => gradgradcheck((t) => bad(t), [x()]),
      GradError,
      /^gradgradcheck: the derivative of .* of gradOutputs u \(shape \[3\]\) at element 0 \(index \[0\]\): numerical .*, analytical .*/,
    );
  });

  it('a rule with wrong values: caught by the comparison with the plain backward', () => {
    const bad = square((g, xx) => g.mul(xx).mul(2).add(1));
    expectThrows(
      () => gradgradcheck((t) => bad(t).sum(), [x()]),
      GradError,
      /^gradgradcheck: the first-order gradient recorded with createGraph differs from the plain backward at element 0 of the inputs' gradients \(concatenated\): plain (-?[\d.e-]+), recorded .*; a differentiable rule \(withGraphRule\) computes the wrong values$/,
    );
  });

  it('a wrong rule is caught inside a composition too (an MLP whose hidden op is wrong)', () => {
    const bad = square((g, xx) => g.mul(constant(xx.data, xx.shape, xx)).mul(2));
    const w = tensor([[0.3, -0.7], [1.1, 0.4]], { requiresGrad: true });
    const inp = tensor([[0.2, -0.5], [1.5, 0.7]], { requiresGrad: true });
    expect(() => gradgradcheck((a, b) => bad(a.matmul(b)).sum(), [inp, w])).toThrow(GradError);
    // ... and the same with a correct rule passes.
    gradgradcheck((a, b) => square((g, xx) => g.mul(xx).mul(2))(a.matmul(b)).sum(), [inp, w]);
  });

  it('is exported from tapegrad/testing too, and leaves the inputs\' grad alone', () => {
    expect(fromTesting).toBe(gradgradcheck);
    const t = x();
    const before = tensor([9, 9, 9]);
    t.grad = before;
    gradgradcheck((a) => a.exp().sum(), [t]);
    expect(t.grad).toBe(before);
  });
});

describe('gradgradcheck: options and bad input', () => {
  const x = (): Tensor => tensor([0.5, -1.25, 2], { requiresGrad: true });

  it('takes u and v, and the result does not depend on them when the rules are right', () => {
    const u = Float64Array.of(1, -2, 0.5);
    const r = gradgradcheck((a) => a.exp().mul(a), [x()], { gradOutputs: u, directions: [Float64Array.of(0, 1, 0)] });
    expect(r.gradOutputs.toleranceUsed).toBeLessThan(1);
    expect(u).toEqual(Float64Array.of(1, -2, 0.5)); // not changed
  });

  it('an input without grad is skipped (NaN), a linear function has zero second derivative', () => {
    const c = tensor([1, 2, 3]);
    const r = gradgradcheck((a, b) => a.mul(b), [x(), c]);
    expect(r.maxAbsError[1]).toBeNaN();
    expect(r.maxAbsError[0]).toBeLessThan(1e-9);
  });

  it('rejects bad options and inputs with clear errors', () => {
    const f = (a: Tensor): Tensor => a.exp();
    expectThrows(() => gradgradcheck(f, [x()], { bogus: 1 } as never), ValueError, /^gradgradcheck: .*bogus/);
    expectThrows(() => gradgradcheck(f, [x()], { gradOutputs: Float64Array.of(1) }), ArgumentError, /^gradgradcheck: opts.gradOutputs must hold 3 values like fn's output \[3\], got 1$/);
    expectThrows(() => gradgradcheck(f, [x()], { directions: [] }), ArgumentError, /^gradgradcheck: opts.directions must be an array of 1/);
    expectThrows(() => gradgradcheck(f, [x()], { directions: [Float64Array.of(1)] }), ArgumentError, /^gradgradcheck: opts.directions\[0\] must be a Float64Array of 3 values/);
    expectThrows(() => gradgradcheck(f, [tensor([1, 2], { dtype: 'float32', requiresGrad: true })]), DTypeError, /^gradgradcheck: inputs\[0\] must be float64/);
    expectThrows(() => gradgradcheck(f, [tensor([1, 2])]), GradError, /^gradgradcheck: at least one input must have requiresGrad: true/);
    expectThrows(() => gradgradcheck(f, []), ArgumentError, /^gradgradcheck: inputs must be a non-empty array/);
  });
});

describe('autograd.grad and backward({ createGraph }): bad input', () => {
  it('an output that does not depend on an input: a clear error, or null with allowUnused', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const b = tensor([3, 4], { requiresGrad: true });
    const y = a.mul(a).sum();
    expectThrows(
      () => autograd.grad([y], [a, b], { retainGraph: true }),
      GradError,
      /^autograd.grad: inputs\[1\] \(\[2\]\) is not used to compute the outputs, so it has no gradient; pass \{ allowUnused: true \}/,
    );
    const [da, db] = autograd.grad([y], [a, b], { allowUnused: true });
    expect(da?.toArray()).toEqual([2, 4]);
    expect(db).toBeNull();
  });

  it('a second backward through a graph the first one freed: the existing clear error', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const y = a.exp().sum();
    autograd.grad([y], [a]);
    expectThrows(() => autograd.grad([y], [a]), GradError, /freed|retainGraph/);
    const z = a.exp().sum();
    z.backward(undefined, { createGraph: true, retainGraph: false });
    expectThrows(() => z.backward(), GradError, /freed|retainGraph/);
  });

  it('a second derivative after createGraph works, and retainGraph defaults to createGraph', () => {
    const a = tensor([0.5, -1], { requiresGrad: true });
    const y = a.mul(a).mul(a).sum();
    const [da] = autograd.grad([y], [a], { createGraph: true });
    const [again] = autograd.grad([y], [a], { retainGraph: true }); // the first call kept the graph
    expect(Array.from(again!.data)).toEqual([0.75, 3]);
    const [d2a] = autograd.grad([da!.sum()], [a]);
    expect(Array.from(d2a!.data)).toEqual([3, -6]);
  });

  it('a non-scalar output without gradOutputs', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    expectThrows(
      () => autograd.grad([a.exp()], [a]),
      GradError,
      /^autograd.grad: outputs\[0\] has shape \[2\]; a non-scalar output needs opts.gradOutputs\[0\]/,
    );
  });

  it('createGraph through an op made with defineOp: a clear error naming it', () => {
    const cube = defineOp({
      name: 'cube',
      forward: (x) => ({ out: { shape: x.shape, data: x.data.map((v) => v * v * v) }, cache: x }),
      backward: (dout, x) => [dout.data.map((g, i) => 3 * g * x.data[i] * x.data[i])],
    });
    const a = tensor([1, 2], { requiresGrad: true });
    const msg = expectThrows(
      () => autograd.grad([cube(a).sum()], [a], { createGraph: true }),
      GradError,
      /^backward: 'cube' has no differentiable backward rule, so its gradient cannot be recorded for a second derivative \(createGraph: true\); an op made with defineOp is differentiated once$/,
    );
    expect(msg).toContain('cube');
    expectThrows(() => cube(a).sum().backward(undefined, { createGraph: true }), GradError, /'cube' has no differentiable backward rule/);
    expect(a.grad).toBeNull(); // nothing accumulated
    expectThrows(() => gradgradcheck((t) => cube(t), [a]), GradError, /'cube' has no differentiable backward rule/);
    // Without createGraph it is differentiated once, as before.
    expect(Array.from(autograd.grad([cube(a).sum()], [a])[0]!.data)).toEqual([3, 12]);
  });
});
