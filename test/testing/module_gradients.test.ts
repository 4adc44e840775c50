/**
 * checkModuleGradients out of the box: the README's snippet as printed, the README's model
 * fresh and trained, in eval and train mode, in float64 and float32, over several seeds, all
 * with the defaults; and the same defaults still catching wrong backward rules.
 */
import { accuracy, ArgumentError, getRngState, GradError, gradcheck, manualSeed, nn, optim, Tensor, Trainer, ValueError } from '../../src';
import type { DType } from '../../src/dtype';
import { checkModuleGradients } from '../../src/testing';
import { readmeModel, ScaledReLU, SoftsignNet } from './planted';

const SEEDS = [42, 1, 2];

describe('the README snippet passes exactly as printed', () => {
  it('after the README training (100 Adam steps, then the Trainer)', () => {
    manualSeed(0);
    const x = Tensor.randn([300, 2]);
    const y = Int32Array.from({ length: 300 }, (_, i) => (x.data[2 * i] > 0 ? 1 : 0));
    const model = new nn.Sequential(new nn.Affine(2, 64), new nn.BatchNorm1d(64), new nn.ReLU(), new nn.Affine(64, 2));
    const optimizer = new optim.Adam(model.parameters(), { lr: 1e-2 });
    for (let step = 0; step < 100; step++) {
      optimizer.zeroGrad();
      const loss = nn.softmaxCrossEntropy(model.forward(x), y);
      loss.backward();
      optimizer.step();
    }
    const trainer = new Trainer(model, { optimizer, epochs: 10, batchSize: 32 });
    trainer.fit({ x, y }, { x, y });
    expect(accuracy(model, x, y)).toBeGreaterThan(0.95);

    const a = Tensor.randn([3, 4], { requiresGrad: true });
    const b = Tensor.randn([4, 2], { requiresGrad: true });
    gradcheck((a, b) => a.matmul(b).relu().sum(), [a, b]);
    const r = checkModuleGradients(model.eval(), { inputShape: [2] });
    expect(r.numRuns).toBe(25);
    expect(Object.keys(r.maxRelError)).toEqual(['input', '0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias']);
  });

  it('on a fresh model (its running variance is still zero)', () => {
    const model = readmeModel({ trained: false, dtype: 'float64' });
    expect(() => checkModuleGradients(model.eval(), { inputShape: [2] })).not.toThrow();
  });
});

describe('the README model with the defaults: fresh and trained, eval and train, float64 and float32', () => {
  const cases: [DType, boolean, 'eval' | 'train'][] = [];
  for (const dtype of ['float64', 'float32'] as DType[]) for (const trained of [false, true]) for (const mode of ['eval', 'train'] as const) cases.push([dtype, trained, mode]);

  it.each(cases)('%s, trained %s, %s mode: passes for seeds 42, 1, 2 with room to spare', (dtype, trained, mode) => {
    const model = readmeModel({ trained, dtype });
    if (mode === 'eval') model.eval();
    for (const seed of SEEDS) {
      const r = checkModuleGradients(model, { inputShape: [2], seed });
      expect(r.dtype).toBe(dtype);
      // No element came within 2x of its allowance (worst measured over seeds 1-40: 0.18 of it).
      expect(Math.max(...Object.values(r.toleranceUsed))).toBeLessThan(0.5);
    }
  });

  it('leaves the model as it found it: same arrays, values, buffers, mode, PRNG state and grads', () => {
    const model = readmeModel({ trained: true, dtype: 'float32' }).train();
    const tensors = [...model.stateDict().values()];
    const arrays = tensors.map((t) => t.data);
    const values = tensors.map((t) => t.data.slice());
    const grads = model.parameters().map((p) => p.grad);
    const rng = getRngState();
    checkModuleGradients(model, { inputShape: [2], numRuns: 3 });
    tensors.forEach((t, i) => {
      expect(t.data).toBe(arrays[i]);
      expect(t.data).toEqual(values[i]);
    });
    expect(model.parameters().map((p) => p.grad)).toEqual(grads);
    expect(model.training).toBe(true);
    expect(getRngState()).toEqual(rng);
  });
});

describe('the defaults still catch wrong backward rules', () => {
  const expectCaught = (model: nn.Module, inputShape: number[], what: RegExp): void => {
    let err: unknown;
    try {
      checkModuleGradients(model, { inputShape });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GradError);
    expect((err as Error).message).toMatch(what);
  };

  it.each([
    ['float64', 2],
    ['float64', 1.001],
    ['float32', 2],
    ['float32', 1.01],
  ] as const)('a %s ReLU whose backward is off by a factor %s, in the README model fresh and trained, eval and train', (dtype, factor) => {
    for (const trained of [false, true]) {
      for (const mode of ['eval', 'train']) {
        const model = readmeModel({ trained, dtype, activation: new ScaledReLU(factor) });
        if (mode === 'eval') model.eval();
        expectCaught(
          model,
          [2],
          /^checkModuleGradients: Sequential gradients disagree after \d+ batches \(shrunk \d+ times; reproduce with seed 42, path '[\d:]+'\): gradient of '(input|\d\.(weight|bias))' .*; smallest failing batch x \[\d, 2\] = \[/,
        );
      }
    }
  });

  it('the same model with the right backward (factor 1) passes: the check above is about the factor', () => {
    const model = readmeModel({ trained: true, dtype: 'float64', activation: new ScaledReLU(1) });
    expect(() => checkModuleGradients(model.train(), { inputShape: [2] })).not.toThrow();
  });

  it.each(['float64', 'float32'] as const)('a custom %s op with a wrong gradient (built with record), inside a module', (dtype) => {
    manualSeed(5);
    expect(() => checkModuleGradients(new SoftsignNet(false, dtype), { inputShape: [3] })).not.toThrow();
    manualSeed(5);
    expectCaught(new SoftsignNet(true, dtype), [3], /gradient of '(input|fc1\.weight|fc1\.bias|gain)'/);
  });
});

describe('float32 models and options', () => {
  it('a float32 forward that makes its own float32 tensors gets an ArgumentError saying why', () => {
    class Hidden extends nn.Module {
      fc = new nn.Affine(2, 2, { dtype: 'float32' });
      forward(x: Tensor): Tensor {
        return this.fc.forward(x).mul(Tensor.full([2], 0.5, { dtype: 'float32' }));
      }
    }
    expect(() => checkModuleGradients(new Hidden(), { inputShape: [2], numRuns: 2 })).toThrow(ArgumentError);
    expect(() => checkModuleGradients(new Hidden(), { inputShape: [2], numRuns: 2 })).toThrow(
      /^checkModuleGradients: a float32 Hidden is checked against float64 differences on float64 copies of its tensors, but its forward failed on them \(mul: .*\)/,
    );
  });

  it('a float32 constant kept in a field is swapped too', () => {
    class Field extends nn.Module {
      fc = new nn.Affine(2, 2, { dtype: 'float32' });
      half = Tensor.full([2], 0.5, { dtype: 'float32' });
      forward(x: Tensor): Tensor {
        return this.fc.forward(x).mul(this.half);
      }
    }
    const m = new Field();
    expect(checkModuleGradients(m, { inputShape: [2], numRuns: 3 }).dtype).toBe('float32');
    expect(m.half.dtype).toBe('float32');
  });

  it('options are checked: unknown keys, null, bad numbers, mixed dtypes', () => {
    const m = new nn.Affine(2, 2);
    expect(() => checkModuleGradients(m, null as never)).toThrow(ArgumentError);
    expect(() => checkModuleGradients(m, { inputShape: [2], numruns: 3 } as never)).toThrow(ValueError);
    expect(() => checkModuleGradients(m, { inputShape: [2], numRuns: 0 })).toThrow(/^checkModuleGradients: opts\.numRuns must be an integer >= 1, got number 0$/);
    expect(() => checkModuleGradients(m, { inputShape: [2], minBatch: 3, maxBatch: 2 })).toThrow(/opts\.maxBatch must be an integer >= 3/);
    expect(() => checkModuleGradients(m, { inputShape: [2], min: 1, max: 1 })).toThrow(ValueError);
    expect(() => checkModuleGradients(m, { inputShape: [2], rtol: -1 })).toThrow(ValueError);
    expect(() => checkModuleGradients(m, { inputShape: [2], checkInput: 'no' } as never)).toThrow(ArgumentError);
    const mixed = new nn.Sequential(new nn.Affine(2, 2), new nn.Affine(2, 2, { dtype: 'float32' }));
    expect(() => checkModuleGradients(mixed, { inputShape: [2] })).toThrow(/parameters must share one dtype, got 'float64' and 'float32'/);
  });
});
