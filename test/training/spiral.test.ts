/**
 * Training runs that must actually learn: CS231n's three-class spiral with an MLP trained by
 * the Trainer reaches at least 95% training accuracy, and the same seeded run repeated gives
 * bit-identical parameters.
 */
import { accuracy, manualSeed, nn, optim, Tensor, Trainer, type EpochInfo } from '../../src';

/** CS231n's spiral: K arms of N points in 2-D, noise 0.2, from the seeded PRNG. */
function spiral(n: number, k: number): { x: Tensor; y: Int32Array } {
  const noise = Tensor.randn([n * k, 2]).data;
  const x = new Float64Array(n * k * 2);
  const y = new Int32Array(n * k);
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < n; i++) {
      const idx = c * n + i;
      const r = i / (n - 1);
      const t = c * 4 + (i / (n - 1)) * 4 + noise[idx * 2] * 0.2;
      x[idx * 2] = r * Math.sin(t);
      x[idx * 2 + 1] = r * Math.cos(t);
      y[idx] = c;
    }
  }
  return { x: new Tensor(x, [n * k, 2]), y };
}

function run(seed: number, epochCount: number, dtype: 'float64' | 'float32' = 'float64') {
  manualSeed(seed);
  const data = spiral(100, 3);
  const x = dtype === 'float32' ? data.x.to('float32') : data.x;
  const model = new nn.Sequential(
    new nn.Affine(2, 64, { dtype }),
    new nn.BatchNorm1d(64, { dtype }),
    new nn.ReLU(),
    new nn.Affine(64, 64, { dtype }),
    new nn.ReLU(),
    new nn.Affine(64, 3, { dtype }),
  );
  const optimizer = new optim.Adam(model.parameters(), { lr: 1e-2 });
  const epochs: EpochInfo[] = [];
  const trainer = new Trainer(model, {
    optimizer,
    epochs: epochCount,
    batchSize: 32,
    scheduler: new optim.StepLR(optimizer, { stepSize: 25, gamma: 0.3 }),
    restoreBest: false,
    callbacks: { onEpochEnd: (e) => void epochs.push(e) },
  });
  const history = trainer.fit({ x, y: data.y });
  return { model, history, epochs, acc: accuracy(model, x, data.y) };
}

describe('training on the spiral', () => {
  it('an MLP with BatchNorm reaches at least 95% training accuracy, and the loss falls', () => {
    const { acc, history, epochs } = run(0, 40);
    expect(acc).toBeGreaterThanOrEqual(0.95);
    expect(epochs).toHaveLength(40);
    expect(epochs[39].trainLoss).toBeLessThan(epochs[0].trainLoss / 3);
    expect(history.loss.length).toBe(40 * Math.ceil(300 / 32));
    expect(epochs[30].lr).toBeCloseTo(3e-3, 12);
  });

  it('the same seeded run repeated gives bit-identical parameters', () => {
    const a = run(5, 8);
    const b = run(5, 8);
    for (const [name, t] of a.model.stateDict()) expect(b.model.stateDict().get(name)!.data).toEqual(t.data);
    expect(b.history.loss).toEqual(a.history.loss);
  });

  it('float32 training learns too', () => {
    const { acc, model } = run(1, 30, 'float32');
    expect(model.parameters()[0].dtype).toBe('float32');
    expect(acc).toBeGreaterThanOrEqual(0.9);
  });
});
