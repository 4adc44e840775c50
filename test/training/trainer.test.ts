/** The Trainer's contract: callbacks, early stop, best-state restore, lone last sample, errors. */
import { ArgumentError, manualSeed, nn, optim, predict, accuracy, Tensor, Trainer, ValueError, ShapeError, TapegradError } from '../../src';

function setup(n = 41) {
  manualSeed(3);
  const x = Tensor.randn([n, 3]);
  const y = Int32Array.from({ length: n }, (_, i) => (x.data[3 * i] + x.data[3 * i + 1] > 0 ? 1 : 0));
  const model = new nn.Sequential(new nn.Affine(3, 8), new nn.BatchNorm1d(8), new nn.ReLU(), new nn.Affine(8, 2));
  return { x, y, model, optimizer: new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 }) };
}

describe('Trainer', () => {
  it('calls back per epoch and batch, folds a lone last sample into the previous batch', () => {
    const { x, y, model, optimizer } = setup(41);
    const starts: number[] = [];
    const batches: number[] = [];
    const trainer = new Trainer(model, {
      optimizer,
      epochs: 2,
      batchSize: 10,
      callbacks: { onEpochStart: (e) => void starts.push(e.batchesPerEpoch), onBatchEnd: (b) => void batches.push(b.samples) },
    });
    const h = trainer.fit({ x, y });
    expect(starts).toEqual([4, 4]);
    expect(batches).toEqual([10, 10, 10, 11, 10, 10, 10, 11]); // 41 = 10 + 10 + 10 + 11: no batch of one for BatchNorm
    expect(h.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    expect(Number.isNaN(h.epochs[0].valAcc)).toBe(true);
    expect(trainer.epoch).toBe(2);
  });

  it("stops early when onEpochEnd returns 'stop', and restores the best validation state", () => {
    const { x, y, model, optimizer } = setup(60);
    const trainer = new Trainer(model, {
      optimizer,
      epochs: 20,
      batchSize: 16,
      callbacks: { onEpochEnd: (e) => (e.epoch === 5 ? 'stop' : undefined) },
    });
    const h = trainer.fit({ x, y }, { x, y });
    expect(h.epochs).toHaveLength(5);
    expect(h.bestValAcc).toBe(Math.max(...h.epochs.map((e) => e.valAcc)));
    expect(accuracy(model, x, y)).toBe(h.bestValAcc);
    for (const [k, t] of trainer.bestState!) expect(model.stateDict().get(k)!.data).toEqual(t.data);
  });

  it('predict leaves the model in the mode it found it', () => {
    const { x, model } = setup();
    model.train();
    expect(predict(model, x, { batchSize: 7 })).toHaveLength(x.shape[0]);
    expect(model.training).toBe(true);
  });

  it('rejects bad options and data naming what is wrong', () => {
    const { x, y, model, optimizer } = setup();
    const cases: [() => unknown, new (...a: never[]) => TapegradError, RegExp][] = [
      [() => new Trainer(model, {} as never), ArgumentError, /^Trainer: opts.optimizer must be an optimizer/],
      [() => new Trainer(model, { optimizer, epochs: 0 }), ValueError, /^Trainer: opts.epochs must be a positive integer, got number 0/],
      [() => new Trainer(model, { optimizer, batchSize: 2.5 }), ValueError, /^Trainer: opts.batchSize must be a positive integer/],
      [() => new Trainer(model, { optimizer, initialEpoch: -1 }), ValueError, /initialEpoch must be an integer >= 0/],
      [() => new Trainer(model, { optimizer }).fit({ x, y: y.subarray(1) }), ShapeError, /^Trainer.fit: train.y must hold 41 labels/],
      [() => new Trainer(model, { optimizer }).fit({ x, y: Array.from(y, (v) => v - 0.5) }), ValueError, /^Trainer.fit: train.y\[0\] must be an integer class label/],
      [() => new Trainer(model, { optimizer }).fit({ x: [[1]] as never, y }), ArgumentError, /^Trainer.fit: train must be \{ x: Tensor/],
      [() => predict(model, x, { batchSize: 0 }), ValueError, /^predict: opts.batchSize must be a positive integer/],
    ];
    for (const [fn, cls, pattern] of cases) {
      expect(fn).toThrow(cls);
      expect(fn).toThrow(pattern);
    }
  });
});
