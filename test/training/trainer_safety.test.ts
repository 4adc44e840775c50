/**
 * The Trainer never overwrites what a user's module keeps, stops on a non-finite loss before it
 * can corrupt the model (unless told to skip or continue), and checks its options.
 */
import { AnomalyError, ArgumentError, manualSeed, nn, optim, predict, accuracy, Tensor, Trainer, ValueError } from '../../src';

/** Keeps every input it sees and every intermediate it makes (as a logging or hooking module would). */
class Keep extends nn.Module {
  inputs: Tensor[] = [];
  made: Tensor[] = [];
  forward(x: Tensor): Tensor {
    this.inputs.push(x);
    const h = x.mul(2);
    this.made.push(h);
    return h;
  }
}

function data(n: number, nanRow = -1) {
  manualSeed(3);
  const x = Tensor.randn([n, 3]);
  const y = Int32Array.from({ length: n }, (_, i) => (x.data[3 * i] + x.data[3 * i + 1] > 0 ? 1 : 0));
  if (nanRow >= 0) x.data[3 * nanRow] = Number.NaN;
  return { x, y };
}

function mlp() {
  const model = new nn.Sequential(new nn.Affine(3, 8), new nn.BatchNorm1d(8), new nn.ReLU(), new nn.Affine(8, 2));
  return { model, optimizer: new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 }) };
}

const copies = (ts: Tensor[]) => ts.map((t) => t.data.slice());
const stateCopy = (m: nn.Module) => [...m.stateDict()].map(([k, t]) => [k, t.data.slice()] as const);

describe('what a module keeps stays as it was', () => {
  it('inputs and intermediates kept across steps are never recycled or reused', () => {
    const { x, y } = data(40);
    const first = new Keep();
    const middle = new Keep();
    const model = new nn.Sequential(first, new nn.Affine(3, 16), middle, new nn.ReLU(), new nn.Affine(16, 2));
    const optimizer = new optim.SGD(model.parameters(), { lr: 0.1 });
    const seen: { inputs: Float64Array[]; made: Float64Array[] }[] = [];
    const trainer = new Trainer(model, {
      optimizer,
      epochs: 3,
      batchSize: 10,
      callbacks: {
        // Copy what each Keep holds right after the step that made it.
        onBatchEnd: () => void seen.push(...[first, middle].map((k) => ({ inputs: copies(k.inputs.slice(-1)) as Float64Array[], made: copies(k.made.slice(-1)) as Float64Array[] }))),
      },
    });
    trainer.fit({ x, y });
    // 12 steps; the Keeps also saw the accuracy passes, which are not compared here.
    expect(seen).toHaveLength(24);
    let compared = 0;
    for (const k of [first, middle]) {
      const mine = seen.filter((_, i) => i % 2 === (k === first ? 0 : 1));
      const trainCalls = k.inputs.filter((t) => t.shape[0] === 10);
      expect(trainCalls).toHaveLength(12);
      trainCalls.forEach((t, step) => {
        expect({ step, input: t.data }).toEqual({ step, input: mine[step].inputs[0] });
        const made = k.made[k.inputs.indexOf(t)];
        expect({ step, made: made.data }).toEqual({ step, made: mine[step].made[0] });
        compared++;
      });
    }
    expect(compared).toBe(24);
  });
});

describe('a non-finite loss', () => {
  /** A loss that is softmaxCrossEntropy except on the given call, where it is `bad`. */
  function poisoned(onCall: number, bad: number) {
    let calls = 0;
    return (scores: Tensor, labels: ArrayLike<number>) => {
      const l = nn.softmaxCrossEntropy(scores, labels);
      return ++calls === onCall ? l.mul(bad) : l;
    };
  }

  it.each([
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
  ])('stops with an AnomalyError naming epoch, batch and value (%s), before the step: the model holds what it held after the previous batch', (bad, shown) => {
    const { x, y } = data(40);
    const { model, optimizer } = mlp();
    let afterPrev: ReturnType<typeof stateCopy> = [];
    const trainer = new Trainer(model, {
      optimizer,
      epochs: 2,
      batchSize: 10,
      loss: poisoned(7, bad), // epoch 2, batch 3
      callbacks: { onBatchEnd: () => void (afterPrev = stateCopy(model)) },
    });
    let err: unknown;
    try {
      trainer.fit({ x, y });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AnomalyError);
    expect((err as Error).message).toMatch(
      new RegExp(`^Trainer\\.fit: the loss must be finite, got ${shown} at epoch 2 of 2, batch 3 of 4; stopped before this batch's backward pass and optimizer step`),
    );
    expect((err as Error).message).toMatch(/nonFiniteLoss: 'skip'/);
    expect(stateCopy(model)).toEqual(afterPrev);
    expect(trainer.epoch).toBe(1);
  });

  it('from a NaN in the data: the forward pass moved BatchNorm running statistics, and they are put back', () => {
    const { x, y } = data(40, 17);
    const { model, optimizer } = mlp();
    let afterPrev: ReturnType<typeof stateCopy> = [];
    const trainer = new Trainer(model, { optimizer, epochs: 2, batchSize: 10, callbacks: { onBatchEnd: () => void (afterPrev = stateCopy(model)) } });
    expect(() => trainer.fit({ x, y })).toThrow(AnomalyError);
    expect(afterPrev.length).toBeGreaterThan(0); // at least one good batch came first (seeded shuffle)
    expect(stateCopy(model)).toEqual(afterPrev);
    for (const [, d] of stateCopy(model)) expect(d.every(Number.isFinite)).toBe(true);
  });

  it("'skip' leaves such batches out (no step, buffers restored) and counts them", () => {
    const { x, y } = data(40, 17);
    const { model, optimizer } = mlp();
    const skippedFlags: boolean[] = [];
    const trainer = new Trainer(model, {
      optimizer,
      epochs: 3,
      batchSize: 10,
      nonFiniteLoss: 'skip',
      callbacks: { onBatchEnd: (b) => void skippedFlags.push(b.skipped) },
    });
    const h = trainer.fit({ x, y });
    expect(h.epochs.map((e) => e.skippedBatches)).toEqual([1, 1, 1]); // the NaN row is in one batch per epoch
    expect(skippedFlags.filter(Boolean)).toHaveLength(3);
    for (const e of h.epochs) expect(Number.isFinite(e.trainLoss)).toBe(true);
    expect(h.loss.filter((l) => Number.isNaN(l))).toHaveLength(3);
    for (const [, d] of stateCopy(model)) expect(d.every(Number.isFinite)).toBe(true);
  });

  it("'continue' steps anyway, as before", () => {
    const { x, y } = data(40, 17);
    const { model, optimizer } = mlp();
    const h = new Trainer(model, { optimizer, epochs: 1, batchSize: 10, nonFiniteLoss: 'continue' }).fit({ x, y });
    expect(h.epochs[0].skippedBatches).toBe(0);
    expect(Number.isNaN(h.epochs[0].trainLoss)).toBe(true);
    expect(model.parameters().some((p) => p.data.some(Number.isNaN))).toBe(true);
  });
});

describe('options', () => {
  it('are checked: null, unknown keys, non-booleans, bad policies and callbacks', () => {
    const { x, model, optimizer } = { ...data(20), ...mlp() };
    const cases: [() => unknown, new (...a: never[]) => Error, RegExp][] = [
      [() => new Trainer(model, null as never), ArgumentError, /^Trainer: opts must be an object of options or undefined, got null/],
      [() => new Trainer(model, undefined as never), ArgumentError, /^Trainer: opts must be an object with an optimizer, got undefined/],
      [() => new Trainer(model, { optimizer, restoreBest: 'no' as never }), ArgumentError, /^Trainer: opts\.restoreBest must be a boolean, got/],
      [() => new Trainer(model, { optimizer, epoch: 3 } as never), ValueError, /^Trainer: epoch is not an option of Trainer \(expected one of optimizer, epochs,/],
      [() => new Trainer(model, { optimizer, constructor: 1 } as never), ValueError, /^Trainer: constructor is not an option of Trainer/],
      [() => new Trainer(model, { optimizer, nonFiniteLoss: 'ignore' as never }), ValueError, /^Trainer: opts\.nonFiniteLoss must be one of 'throw', 'skip', 'continue', got/],
      [() => new Trainer(model, { optimizer, callbacks: { onEpochStop: () => undefined } as never }), ValueError, /^Trainer: onEpochStop is not an option of Trainer \(expected one of onEpochStart, onBatchEnd, onEpochEnd\)/],
      [() => new Trainer(model, { optimizer, callbacks: { onEpochEnd: 3 } as never }), ArgumentError, /^Trainer: opts\.callbacks\.onEpochEnd must be a function, got/],
      [() => new Trainer(model, { optimizer, callbacks: null as never }), ArgumentError, /^Trainer: opts\.callbacks must be an object of options or undefined, got null/],
      [() => new Trainer(model, { optimizer, scheduler: {} as never }), ArgumentError, /^Trainer: opts\.scheduler must have a step\(\) method/],
      [() => predict(model, x, null as never), ArgumentError, /^predict: opts must be an object of options or undefined, got null/],
      [() => accuracy(model, x, new Int32Array(20), { batchsize: 5 } as never), ValueError, /^accuracy: batchsize is not an option of accuracy/],
    ];
    for (const [fn, cls, pattern] of cases) {
      expect(fn).toThrow(cls);
      expect(fn).toThrow(pattern);
    }
  });
});
