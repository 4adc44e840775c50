/**
 * gradcheck's rule: a relative tolerance, a rounding allowance that scales with the checked
 * scalar, and kinks recognised by their one-sided differences; what used to fail on correct
 * gradients now passes, and wrong gradients (also at a kink) still fail.
 */
import { GradError, gradcheck, nn, Tensor, tensor, ValueError } from '../../src';
import { record } from '../../src/autograd/tape';
import { readmeModel, ScaledReLU, softsign } from '../testing/planted';

describe('kinks', () => {
  it('ReLU exactly at its kink passes, counted as a kink (the one-sided slopes are 0 and 1, the central one 0.5)', () => {
    const x = tensor([0, 0, 1.5, -2], { requiresGrad: true });
    const r = gradcheck((t) => t.relu().sum(), [x]);
    expect(r.kinks).toEqual([2]);
  });

  it('the README model on an all-zero batch, fresh, in eval mode: every ReLU on its kink, and it passes', () => {
    // At x = 0 all 64 hidden units sit on their kinks: moving one input right switches on the
    // units with a positive weight, left those with a negative one (slopes -57.04 and 190.91),
    // and backward passes through all of them (133.87). No derivative exists there to check.
    const model = readmeModel({ trained: false, dtype: 'float64' }).eval();
    const params = model.parameters();
    const x = Tensor.zeros([2, 2], { requiresGrad: true });
    const r = gradcheck((xx) => model.forward(xx), [x, ...params]);
    expect(r.kinks.reduce((s, k) => s + k, 0)).toBeGreaterThan(0);
  });

  it('a wrong backward is still caught beside kinks, at the elements where the function is smooth', () => {
    const x = tensor([0, 0, 1.5, -2], { requiresGrad: true });
    const bad = new ScaledReLU(2);
    expect(() => gradcheck((t) => bad.forward(t).sum(), [x])).toThrow(GradError);
    expect(() => gradcheck((t) => bad.forward(t).sum(), [x])).toThrow(
      /^gradcheck: gradient of input 0 \(shape \[4\]\) at element 2 \(index \[2\]\): numerical (1|1\.0\d*|0\.9999\d*), analytical 2, .*the one-sided differences .* agree, so this is no kink$/,
    );
  });

  it('a function that is not deterministic is a GradError, not a run of kinks', () => {
    const x = tensor([0.5, -1, 2], { requiresGrad: true });
    let calls = 0;
    const noisy = (t: Tensor): Tensor => t.mul(t).sum().add(++calls * 1e-3);
    expect(() => gradcheck(noisy, [x])).toThrow(/^gradcheck: fn gave .* and then .* for the same inputs; finite differences need a deterministic function/);
  });
});

describe('rounding is not mistaken for a bug', () => {
  it('the batch that failed the README model at rtol 1e-7 (relative error 1.0e-7 on the input) passes', () => {
    // checkModuleGradients' old defaults reported this batch for the README model after 100
    // Adam steps in train mode: numerical -2551.6904197927515, analytical -2551.6906749619934.
    const model = readmeModel({ trained: true, dtype: 'float64' }).train();
    const x = new Tensor(Float64Array.of(0, 0, 0, 0, 0, 0, -0.000456471, 0), [4, 2], { requiresGrad: true });
    const buffers = model.buffers().map((b) => [b, b.data.slice()] as const);
    const forward = (xx: Tensor): Tensor => {
      for (const [b, saved] of buffers) b.data.set(saved);
      return model.forward(xx);
    };
    // NOTE: all rows but one are equal, so every BatchNorm column has almost no variance: the
    // function curves on the scale of sqrt(eps) and the central difference is off by 6.6e-6
    // relative (measured), inside rtol 1e-5. checkModuleGradients no longer draws such batches.
    const r = gradcheck(forward, [x, ...model.parameters()]);
    expect(r.maxRelError[0]).toBeGreaterThan(1e-7);
    expect(r.toleranceUsed[0]).toBeLessThan(1);
  });

  it('a large scalar: relative errors of 1e-6 from rounding alone pass', () => {
    // f = sum((x + 1e4)^2) is about 3e8; its central differences carry rounding of ~1e-6 relative.
    const x = tensor([0.3, -0.7, 1.1], { requiresGrad: true });
    const r = gradcheck((t) => t.add(1e4).mul(t.add(1e4)).sum(), [x]);
    expect(r.maxRelError[0]).toBeGreaterThan(1e-7);
    expect(r.toleranceUsed[0]).toBeLessThan(0.1);
  });
});

describe('wrong gradients are caught with the defaults', () => {
  const scaledSquare = (factor: number) => (x: Tensor) => {
    const out = new Tensor(x.data.map((v) => v * v), x.shape);
    return record(out, 'square', [x], (g) => [g.map((gi, i) => gi * 2 * factor * x.data[i])]);
  };

  it.each([2, 1.01, 1.0001])('a backward off by a factor %s', (factor) => {
    const x = tensor([[0.5, -1.25], [2, 0.75]], { requiresGrad: true });
    expect(() => gradcheck((t) => scaledSquare(factor)(t).sum(), [x])).toThrow(GradError);
    expect(() => gradcheck((t) => scaledSquare(1)(t).sum(), [x])).not.toThrow();
  });

  it('a custom op with a forgotten square in its derivative, inside the README model', () => {
    const model = readmeModel({ trained: true, dtype: 'float64' }).eval();
    const x = tensor([[0.3, -1.2], [1.5, 0.4], [-0.8, 0.9]], { requiresGrad: true });
    expect(() => gradcheck((t) => softsign(model.forward(t)), [x])).not.toThrow();
    expect(() => gradcheck((t) => softsign(model.forward(t), true), [x])).toThrow(/^gradcheck: gradient of input 0/);
  });

  it('a ReLU subclass off by a factor 2 in the trained README model (train mode)', () => {
    const model = readmeModel({ trained: true, dtype: 'float64', activation: new ScaledReLU(2) }).train();
    const x = tensor([[0.3, -1.2], [1.5, 0.4], [-0.8, 0.9]], { requiresGrad: true });
    expect(() => gradcheck((t) => model.forward(t), [x, ...model.parameters()])).toThrow(GradError);
  });
});

describe('options and results', () => {
  it('reports toleranceUsed and kinks per input; NaN where an input is not checked', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const b = tensor([3, 4]);
    const r = gradcheck((p, q) => p.mul(q).sum(), [a, b]);
    expect(r.toleranceUsed[0]).toBeLessThan(1);
    expect(Number.isNaN(r.toleranceUsed[1])).toBe(true);
    expect(r.kinks).toEqual([0, 0]);
  });

  it('unknown option keys are a ValueError naming the key; a tighter rtol can be asked for', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    expect(() => gradcheck((t) => t.sum(), [x], { rtl: 1e-3 } as never)).toThrow(ValueError);
    expect(() => gradcheck((t) => t.sum(), [x], { rtl: 1e-3 } as never)).toThrow(/^gradcheck: rtl is not an option of gradcheck/);
    expect(() => gradcheck((t) => t.mul(t).sum(), [x], { rtol: 1e-12, atol: 0 })).not.toThrow();
  });

  it('an nn.Module forward through gradcheck leaves the parameters\' grads as they were', () => {
    const fc = new nn.Affine(2, 2);
    fc.weight.grad = Tensor.ones([2, 2]);
    gradcheck((t) => fc.forward(t), [tensor([[1, 2]], { requiresGrad: true }), fc.weight]);
    expect(fc.weight.grad.toArray()).toEqual([[1, 1], [1, 1]]);
  });
});
