/**
 * Modules: gradients through the tape against numerical ones (fast-check over batch sizes and
 * widths), BatchNorm against the seed fixtures, train/eval behaviour, state dicts, repr.
 */
import * as bnFx from '../fixtures/batchnorm.json';
import { manualSeed, nn, noGrad, StateDictError, Tensor, tensor } from '../../src';
import { checkModuleGradients } from '../../src/testing';
import { expectClose, maxRelError } from '../helpers/close';
import { FC, fc } from '../helpers/fc';

const away0 = { awayFrom: { kinks: [0], margin: 1e-3 } };

describe('module gradients vs numerical, over batch sizes and widths', () => {
  const widths = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }));

  it('Affine (with and without bias)', () => {
    fc.assert(
      fc.property(widths, fc.boolean(), ([d, m], bias) => {
        manualSeed(d * 10 + m);
        checkModuleGradients(new nn.Affine(d, m, { bias }), { inputShape: [d], numRuns: 5 });
      }),
      { ...FC, numRuns: 10 },
    );
  });

  it('BatchNorm1d in train mode (dx, dgamma, dbeta) and in eval mode', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), (d) => {
        const bn = new nn.BatchNorm1d(d);
        bn.weight.data.set(Array.from({ length: d }, (_, j) => 0.5 + j));
        checkModuleGradients(bn, { inputShape: [d], numRuns: 5, rtol: 1e-6, min: -3, max: 3 });
        bn.runningVar.data.fill(2);
        checkModuleGradients(bn.eval(), { inputShape: [d], numRuns: 5, minBatch: 1 });
      }),
      { ...FC, numRuns: 8 },
    );
  });

  it('LayerNorm, Dropout (same mask per evaluation), ReLU', () => {
    checkModuleGradients(new nn.LayerNorm(4), { inputShape: [4], numRuns: 10, rtol: 1e-6 });
    checkModuleGradients(new nn.Dropout(0.3), { inputShape: [5], numRuns: 10 });
    checkModuleGradients(new nn.ReLU(), { inputShape: [3, 2], numRuns: 10, ...away0 });
  });

  it('an MLP with BatchNorm, end to end', () => {
    manualSeed(3);
    const bn = new nn.BatchNorm1d(5);
    const model = new nn.Sequential(new nn.Affine(3, 5), bn, new nn.ReLU(), new nn.Affine(5, 2));
    // NOTE: fast-check likes batches of identical rows, which BatchNorm maps to exactly beta;
    // a beta away from 0 keeps the ReLU that follows off its kink.
    bn.bias.data.fill(0.25);
    const r = checkModuleGradients(model, { inputShape: [3], numRuns: 10, rtol: 1e-5 });
    expect(Object.keys(r.maxRelError)).toEqual(['input', '0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias']);
  });

  it('reports a wrong gradient with the parameter name and the shrunk batch', () => {
    class Broken extends nn.Module {
      readonly w = this.registerParameter('w', tensor([1.5]));
      forward(x: Tensor): Tensor {
        // x * w * w has gradient 2xw for w; detaching one factor makes the tape see only xw.
        return x.mul(this.w).mul(this.w.detach());
      }
    }
    expect(() => checkModuleGradients(new Broken(), { inputShape: [2], numRuns: 20 })).toThrow(
      /checkModuleGradients: Broken gradients disagree .* gradient of 'w' .* smallest failing batch x \[\d, 2\]/,
    );
  });
});

describe('BatchNorm1d reproduces the seed fixtures', () => {
  it.each(bnFx.cases.map((c, i) => [i, c] as const))('case %i: train steps, running stats, eval', (_i, c) => {
    const d = c.gamma.shape[0];
    const bn = new nn.BatchNorm1d(d, { eps: c.eps, momentum: c.momentum });
    bn.weight.data.set(c.gamma.data);
    bn.bias.data.set(c.beta.data);
    for (const step of c.train_steps) {
      const x = new Tensor(Float64Array.from(step.x.data), step.x.shape, { requiresGrad: true });
      const out = bn.forward(x);
      expectClose(out, step.out);
      expect(maxRelError(bn.runningMean.data, step.running_mean.data)).toBeLessThanOrEqual(1e-12);
      expect(maxRelError(bn.runningVar.data, step.running_var.data)).toBeLessThanOrEqual(1e-12);
      bn.zeroGrad();
      out.backward(new Tensor(Float64Array.from(step.dout.data), step.dout.shape));
      expectClose(x.grad!, step.dx);
      expectClose(bn.weight.grad!, step.dgamma);
      expectClose(bn.bias.grad!, step.dbeta);
    }
    bn.eval();
    const out = noGrad(() => bn.forward(new Tensor(Float64Array.from(c.x_test.data), c.x_test.shape)));
    expectClose(out, c.out_test);
  });
});

describe('train and eval behaviour', () => {
  it('BatchNorm updates running statistics only in train mode', () => {
    const bn = new nn.BatchNorm1d(2);
    const x = tensor([[1, 2], [3, 6]]);
    bn.forward(x);
    expect(Array.from(bn.runningMean.data)).toEqual([0.2, 0.4].map((v) => expect.closeTo(v, 15)));
    const before = bn.runningMean.data.slice();
    bn.eval().forward(x);
    expect(bn.runningMean.data).toEqual(before);
  });

  it('Dropout is the identity in eval and inverted-scaled in train, reproducibly', () => {
    const drop = new nn.Dropout(0.5);
    const x = Tensor.ones([1000]);
    manualSeed(7);
    const a = drop.forward(x);
    const kept = Array.from(a.data).filter((v) => v !== 0);
    expect(kept.every((v) => v === 2)).toBe(true);
    expect(kept.length).toBeGreaterThan(400);
    expect(kept.length).toBeLessThan(600);
    manualSeed(7);
    expect(drop.forward(x).data).toEqual(a.data);
    expect(drop.eval().forward(x)).toBe(x);
  });

  it('BatchNorm1d in train mode says how many rows arrived (0 or 1), and takes an empty batch in eval', () => {
    const bn = new nn.BatchNorm1d(3);
    expect(() => bn.forward(Tensor.zeros([0, 3]))).toThrow(/at least 2 rows in 'train' mode .*, got 0 rows, x \[0, 3\]$/);
    expect(() => bn.forward(Tensor.zeros([1, 3]))).toThrow(/at least 2 rows in 'train' mode .*, got 1 row, x \[1, 3\]$/);
    expect(bn.eval().forward(Tensor.zeros([0, 3])).shape).toEqual([0, 3]);
  });

  it('train() and eval() recurse and return the module', () => {
    const model = new nn.Sequential(new nn.Affine(2, 2), new nn.Sequential(new nn.BatchNorm1d(2), new nn.Dropout()));
    expect(model.eval()).toBe(model);
    expect(model.namedModules().every(([, m]) => !m.training)).toBe(true);
    model.train();
    expect(model.namedModules().every(([, m]) => m.training)).toBe(true);
  });
});

describe('parameters, state dicts and repr', () => {
  const build = (seed: number) => {
    manualSeed(seed);
    return new nn.Sequential(new nn.Affine(4, 3), new nn.BatchNorm1d(3), new nn.ReLU(), new nn.Affine(3, 2, { bias: false }));
  };

  it('dotted names for parameters and buffers', () => {
    const model = build(0);
    expect(model.namedParameters().map(([k]) => k)).toEqual(['0.weight', '0.bias', '1.weight', '1.bias', '3.weight']);
    expect(model.namedBuffers().map(([k]) => k)).toEqual(['1.runningMean', '1.runningVar']);
    expect(model.parameters().every((p) => p.requiresGrad)).toBe(true);
  });

  it('stateDict round trip restores every value', () => {
    const a = build(1);
    const b = build(2);
    a.forward(Tensor.randn([5, 4]));
    b.loadStateDict(a.stateDict());
    for (const [k, t] of a.stateDict()) expect(b.stateDict().get(k)!.data).toEqual(t.data);
    const obj = Object.fromEntries(a.stateDict());
    build(3).loadStateDict(obj);
  });

  it('a wrong key, shape or dtype throws listing every problem and changes nothing', () => {
    const model = build(1);
    const before = [...model.stateDict()].map(([k, t]) => [k, t.data.slice()] as const);
    const state = new Map(build(2).stateDict());
    state.delete('0.bias');
    state.set('0.b', Tensor.zeros([3]));
    state.set('1.weight', Tensor.zeros([4]));
    state.set('3.weight', Tensor.zeros([3, 2], { dtype: 'float32' }));
    let err: unknown;
    try {
      model.loadStateDict(state);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/missing keys \['0.bias'\]/);
    expect(msg).toMatch(/unexpected keys \['0.b'\]/);
    expect(msg).toMatch(/'1.weight': expected shape \[3\], got \[4\]/);
    expect(msg).toMatch(/'3.weight': expected dtype 'float64', got 'float32'/);
    for (const [k, data] of before) expect(model.stateDict().get(k)!.data).toEqual(data);
  });

  it('prints the layer tree like PyTorch', () => {
    const model = new nn.Sequential(new nn.Affine(784, 256), new nn.BatchNorm1d(256), new nn.ReLU(), new nn.Sequential(new nn.Dropout(0.1)));
    expect(String(model)).toBe(
      [
        'Sequential(',
        '  (0): Affine(inFeatures=784, outFeatures=256, bias=true)',
        '  (1): BatchNorm1d(256, eps=0.00001, momentum=0.9)',
        '  (2): ReLU()',
        '  (3): Sequential(',
        '    (0): Dropout(p=0.1)',
        '  )',
        ')',
      ].join('\n'),
    );
  });

  it('float32 modules keep float32 parameters, buffers and outputs', () => {
    const model = new nn.Sequential(new nn.Affine(3, 4, { dtype: 'float32' }), new nn.BatchNorm1d(4, { dtype: 'float32' }));
    expect(model.parameters().every((p) => p.dtype === 'float32')).toBe(true);
    expect(model.buffers().every((p) => p.dtype === 'float32')).toBe(true);
    expect(model.forward(Tensor.randn([2, 3], { dtype: 'float32' })).dtype).toBe('float32');
  });

  it('bad constructor arguments throw ValueError naming the argument', () => {
    expect(() => new nn.Affine(0, 3)).toThrow(/^Affine: inFeatures must be a positive integer, got number 0$/);
    expect(() => new nn.BatchNorm1d(3, { momentum: 2 })).toThrow(/^BatchNorm1d: opts.momentum must be a number in \[0, 1\], got number 2$/);
    expect(() => new nn.Dropout(1)).toThrow(/^Dropout: p must be a number in \[0, 1\)/);
  });
});
