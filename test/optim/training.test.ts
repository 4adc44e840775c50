/**
 * The optimizers drive a real tape: gradients from backward(), updates in place in the tensors
 * the model holds. Plus a property: resuming from a state dict at any step is bit-exact.
 */
import { manualSeed } from '../../src/random';
import { Tensor } from '../../src/tensor';
import { Adam, CosineAnnealingLR, RMSProp, SGD, type Optimizer } from '../../src/optim';
import { FC, fc } from '../helpers/fc';
import { expectBitIdentical, setGrad, syntheticGrad } from './helpers';

describe('least squares through the tape', () => {
  manualSeed(7);
  const x = Tensor.randn([32, 3]);
  const trueW = new Tensor(Float64Array.of(2, -1, 0.5), [3, 1]);
  const y = x.matmul(trueW).add(0.3);

  it.each([
    ['SGD momentum', (ps: Tensor[]) => new SGD(ps, { lr: 0.05, momentum: 0.9 })],
    ['SGD nesterov', (ps: Tensor[]) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true })],
    ['Adam', (ps: Tensor[]) => new Adam(ps, { lr: 0.1 })],
    ['AdamW', (ps: Tensor[]) => new Adam(ps, { lr: 0.1, weightDecay: 1e-4, decoupledWeightDecay: true })],
    ['RMSProp', (ps: Tensor[]) => new RMSProp(ps, { lr: 0.01, momentum: 0.5 })],
  ])('%s fits the data', (_name, make) => {
    const w = Tensor.zeros([3, 1], { requiresGrad: true });
    const b = Tensor.zeros([1], { requiresGrad: true });
    const opt: Optimizer = make([w, b]);
    const sched = new CosineAnnealingLR(opt, { tMax: 300, etaMin: opt.lr / 100 });
    const lossOf = () => {
      const r = x.matmul(w).add(b).sub(y);
      return r.mul(r).mean();
    };
    const first = lossOf().item();
    for (let i = 0; i < 300; i++) {
      opt.zeroGrad();
      lossOf().backward();
      opt.step();
      sched.step();
    }
    expect(lossOf().item()).toBeLessThan(first * 1e-4);
    expect(Array.from(w.data).map((v) => Math.round(v * 100) / 100)).toEqual([2, -1, 0.5]);
  });
});

describe('property: resuming at any step is bit-exact', () => {
  const config = fc.oneof(
    fc.record({
      kind: fc.constant('SGD' as const),
      lr: fc.double({ min: 1e-4, max: 0.5, noNaN: true }),
      momentum: fc.constantFrom(0, 0.5, 0.9),
      nesterov: fc.boolean(),
      weightDecay: fc.constantFrom(0, 1e-3),
    }),
    fc.record({
      kind: fc.constant('Adam' as const),
      lr: fc.double({ min: 1e-4, max: 0.5, noNaN: true }),
      b1: fc.double({ min: 0, max: 0.99, noNaN: true }),
      b2: fc.double({ min: 0.5, max: 0.9999, noNaN: true }),
      weightDecay: fc.constantFrom(0, 1e-2),
      decoupled: fc.boolean(),
    }),
    fc.record({
      kind: fc.constant('RMSProp' as const),
      lr: fc.double({ min: 1e-4, max: 0.1, noNaN: true }),
      alpha: fc.double({ min: 0.5, max: 0.999, noNaN: true }),
      momentum: fc.constantFrom(0, 0.9),
    }),
  );
  type Config = typeof config extends fc.Arbitrary<infer T> ? T : never;

  function make(c: Config, ps: Tensor[]): Optimizer {
    switch (c.kind) {
      case 'SGD':
        return new SGD(ps, { lr: c.lr, momentum: c.momentum, nesterov: c.nesterov && c.momentum > 0, weightDecay: c.weightDecay });
      case 'Adam':
        return new Adam(ps, { lr: c.lr, betas: [c.b1, c.b2], weightDecay: c.weightDecay, decoupledWeightDecay: c.decoupled });
      case 'RMSProp':
        return new RMSProp(ps, { lr: c.lr, alpha: c.alpha, momentum: c.momentum });
    }
  }

  const params = (init: number[], dtype: 'float32' | 'float64') => [
    new Tensor(dtype === 'float32' ? Float32Array.from(init) : Float64Array.from(init), [init.length], { requiresGrad: true }),
  ];
  const train = (opt: Optimizer, ps: Tensor[], from: number, to: number) => {
    for (let s = from; s < to; s++) {
      for (const p of ps) setGrad(p, syntheticGrad(p, s));
      opt.step();
    }
  };

  it('holds', () => {
    fc.assert(
      fc.property(
        config,
        fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: 1, maxLength: 6 }),
        fc.constantFrom('float32' as const, 'float64' as const),
        fc.nat({ max: 6 }),
        (c, init, dtype, k) => {
          const total = 8;
          const a = params(init, dtype);
          train(make(c, a), a, 0, total);
          const b = params(init, dtype);
          const optB = make(c, b);
          train(optB, b, 0, k);
          const state = optB.stateDict();
          const resumed = b.map((p) => p.clone({ requiresGrad: true }));
          const optC = new (optB.constructor as new (ps: Tensor[], o: object) => Optimizer)(resumed, { lr: 1 });
          optC.loadStateDict(state);
          train(optC, resumed, k, total);
          expectBitIdentical(resumed[0].data, a[0].data);
        },
      ),
      FC,
    );
  });
});
