/**
 * A training loop users don't have to write (what CS231n's Solver does, in our idiom): epochs
 * of seeded shuffled mini-batches, an optimizer and an optional schedule, train and
 * validation accuracy each epoch, the best-validation parameters kept, a history, callbacks.
 *
 * @packageDocumentation
 */
import { noGrad } from './autograd/mode';
import { allocate, type FloatArray } from './dtype';
import { ArgumentError, ShapeError, ValueError } from './errors';
import { checkLabels, type Labels } from './kernels/types';
import type { Module } from './nn/module';
import { softmaxCrossEntropy } from './ops/losses';
import { Optimizer } from './optim/optimizer';
import { randperm } from './random';
import { describe, formatShape, sizeOf } from './shape';
import { Tensor } from './tensor';

/** A labelled data set: inputs (N, ...features) and N integer labels. */
export interface Dataset {
  /** Inputs, first dimension N. */
  x: Tensor;
  /** Class labels, N of them. */
  y: Labels;
}

/** Passed to `onEpochStart`. */
export interface EpochStartInfo {
  /** The epoch about to run, counted from 1. */
  epoch: number;
  /** Total epochs. */
  epochs: number;
  /** Mini-batches in this epoch. */
  batchesPerEpoch: number;
}

/** Passed to `onBatchEnd` after each optimizer step. */
export interface BatchInfo {
  /** Current epoch, from 1. */
  epoch: number;
  /** Batch within the epoch, from 1. */
  batch: number;
  /** Mini-batches in this epoch. */
  batchesPerEpoch: number;
  /** This batch's loss. */
  loss: number;
  /** Samples in this batch. */
  samples: number;
  /** Learning rate used for this step. */
  lr: number;
}

/** One epoch's summary, passed to `onEpochEnd` and kept in the history. */
export interface EpochInfo {
  /** The epoch, from 1. */
  epoch: number;
  /** Total epochs. */
  epochs: number;
  /** Mean batch loss over the epoch. */
  trainLoss: number;
  /** Accuracy on up to `numTrainSamples` training samples, in eval mode. */
  trainAcc: number;
  /** Accuracy on the validation set (NaN without one). */
  valAcc: number;
  /** Learning rate used during the epoch. */
  lr: number;
  /** Wall-clock seconds for the epoch, evaluation included. */
  seconds: number;
}

/** Hooks for progress display and early stopping. */
export interface TrainerCallbacks {
  /** Before each epoch. */
  onEpochStart?(info: EpochStartInfo): void;
  /** After each optimizer step. */
  onBatchEnd?(info: BatchInfo): void;
  /** After each epoch; return 'stop' to end training early. */
  onEpochEnd?(info: EpochInfo): void | 'stop';
}

/** A learning-rate schedule the trainer steps once per epoch. */
export interface EpochScheduler {
  /** Advance one epoch. */
  step(): void;
}

/** Options of {@link Trainer}. */
export interface TrainerOptions {
  /** Updates the model's parameters. Required. */
  optimizer: Optimizer;
  /** Number of epochs (passes over the training set). Default 10. */
  epochs?: number;
  /** Samples per mini-batch. Default 100. */
  batchSize?: number;
  /** Maps (scores, labels) to a scalar loss. Default `softmaxCrossEntropy`. */
  loss?: (scores: Tensor, labels: Labels) => Tensor;
  /** Stepped after every epoch. Default none. */
  scheduler?: EpochScheduler;
  /** Training samples scored for train accuracy each epoch (a prefix of the epoch's shuffle). Default 1000. */
  numTrainSamples?: number;
  /** Load the best-validation parameters into the model when training ends. Default true. */
  restoreBest?: boolean;
  /** Epochs already done, when resuming from a checkpoint: training continues at initialEpoch + 1. Default 0. */
  initialEpoch?: number;
  /** Progress and early-stopping hooks. */
  callbacks?: TrainerCallbacks;
}

/** What {@link Trainer.fit} returns. */
export interface History {
  /** Every batch's loss, in order. */
  loss: number[];
  /** One summary per epoch. */
  epochs: EpochInfo[];
  /** Best validation accuracy seen (NaN without validation data). */
  bestValAcc: number;
  /** The epoch that reached it (0 if none). */
  bestEpoch: number;
}

/** Options of {@link predict} and {@link accuracy}. */
export interface PredictOptions {
  /** Rows per forward pass. Default 1000. */
  batchSize?: number;
}

function positiveInt(fn: string, arg: string, v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) < 1) throw new ValueError(`${fn}: ${arg} must be a positive integer, got ${describe(v)}`);
  return v as number;
}

function checkDataset(fn: string, arg: string, d: unknown): { x: Tensor; y: Int32Array; n: number } {
  if (typeof d !== 'object' || d === null || !((d as Dataset).x instanceof Tensor)) {
    throw new ArgumentError(`${fn}: ${arg} must be { x: Tensor (N, ...), y: labels }, got ${describe(d)}`);
  }
  const { x, y } = d as Dataset;
  if (x.ndim < 1 || x.shape[0] < 1) throw new ShapeError(`${fn}: ${arg}.x must have at least one row, got shape ${formatShape(x.shape)}`);
  const n = x.shape[0];
  return { x, y: checkLabels(fn, `${arg}.y`, y, n, 2 ** 31 - 1), n };
}

/**
 * Class predictions (argmax of the scores) for each row, in eval mode without the tape; the
 * model's train/eval mode is restored afterwards.
 *
 * Shape: x (N, ...features) -> Int32Array(N).
 *
 * @param model - a classifier returning scores (N, C).
 * @param x - inputs.
 * @param opts - batchSize (default 1000).
 * @example
 * ```ts
 * const pred = predict(model, xTest);
 * ```
 */
export function predict(model: Module, x: Tensor, opts: PredictOptions = {}): Int32Array {
  const fn = 'predict';
  if (!(x instanceof Tensor) || x.ndim < 1) throw new ArgumentError(`${fn}: x must be a Tensor (N, ...), got ${describe(x)}`);
  const batchSize = positiveInt(fn, 'opts.batchSize', opts.batchSize ?? 1000);
  const n = x.shape[0];
  const rowSize = sizeOf(x.shape.slice(1));
  const out = new Int32Array(n);
  const wasTraining = model.training;
  model.eval();
  try {
    noGrad(() => {
      for (let start = 0; start < n; start += batchSize) {
        const rows = Math.min(batchSize, n - start);
        const xb = new Tensor(x.data.subarray(start * rowSize, (start + rows) * rowSize), [rows, ...x.shape.slice(1)]);
        const scores = model.forward(xb);
        if (scores.ndim !== 2 || scores.shape[0] !== rows) {
          throw new ShapeError(`${fn}: the model must return scores (N, C) = [${rows}, C], got ${formatShape(scores.shape)}`);
        }
        const c = scores.shape[1];
        const s = scores.data;
        for (let i = 0; i < rows; i++) {
          let best = 0;
          for (let j = 1; j < c; j++) if (s[i * c + j] > s[i * c + best]) best = j;
          out[start + i] = best;
        }
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return out;
}

/**
 * Fraction of rows whose predicted class equals the label.
 *
 * @param model - a classifier.
 * @param x - inputs (N, ...).
 * @param y - N labels.
 * @param opts - batchSize (default 1000).
 * @example
 * ```ts
 * accuracy(model, xTest, yTest); // 0.97
 * ```
 */
export function accuracy(model: Module, x: Tensor, y: Labels, opts: PredictOptions = {}): number {
  const { n, y: labels } = checkDataset('accuracy', 'data', { x, y });
  const pred = predict(model, x, opts);
  let hits = 0;
  for (let i = 0; i < n; i++) if (pred[i] === labels[i]) hits++;
  return hits / n;
}

/**
 * Trains a classifier: shuffled mini-batches each epoch (from the seeded global PRNG, so a run
 * seeded with `manualSeed` repeats bit for bit), an optimizer step per batch, the schedule
 * stepped per epoch, accuracy measured, the best-validation parameters kept.
 *
 * NOTE: a final batch of a single sample is folded into the previous batch, since BatchNorm
 * cannot train on one row.
 *
 * @example
 * ```ts
 * const trainer = new Trainer(model, { optimizer: new optim.Adam(model.parameters(), { lr: 1e-3 }), epochs: 5, batchSize: 64 });
 * const history = trainer.fit({ x: xTrain, y: yTrain }, { x: xVal, y: yVal });
 * console.log(history.bestValAcc);
 * ```
 */
export class Trainer {
  /** The best-validation parameters and buffers seen so far (copies), or null before validation. */
  bestState: Map<string, Tensor> | null = null;
  /** Epochs completed (including `initialEpoch`). */
  epoch: number;
  private readonly opts: Required<Omit<TrainerOptions, 'scheduler' | 'callbacks'>> & Pick<TrainerOptions, 'scheduler' | 'callbacks'>;
  private batchBuffers = new Map<number, { x: FloatArray; y: Int32Array }>();

  /**
   * @param model - the module to train.
   * @param opts - optimizer (required), epochs (10), batchSize (100), loss (softmaxCrossEntropy),
   *   scheduler, numTrainSamples (1000), restoreBest (true), initialEpoch (0), callbacks.
   * @throws ArgumentError / ValueError naming the bad option.
   */
  constructor(
    readonly model: Module,
    opts: TrainerOptions,
  ) {
    const fn = 'Trainer';
    if (typeof model !== 'object' || model === null || typeof (model as Module).forward !== 'function') {
      throw new ArgumentError(`${fn}: model must be an nn.Module, got ${describe(model)}`);
    }
    if (typeof opts !== 'object' || opts === null) throw new ArgumentError(`${fn}: opts must be an object with an optimizer, got ${describe(opts)}`);
    if (!(opts.optimizer instanceof Optimizer)) {
      throw new ArgumentError(`${fn}: opts.optimizer must be an optimizer (e.g. new optim.Adam(model.parameters())), got ${describe(opts.optimizer)}`);
    }
    const initialEpoch = opts.initialEpoch ?? 0;
    if (!Number.isSafeInteger(initialEpoch) || initialEpoch < 0) {
      throw new ValueError(`${fn}: opts.initialEpoch must be an integer >= 0, got ${describe(initialEpoch)}`);
    }
    if (opts.loss !== undefined && typeof opts.loss !== 'function') throw new ArgumentError(`${fn}: opts.loss must be a function (scores, labels) => Tensor, got ${describe(opts.loss)}`);
    this.opts = {
      optimizer: opts.optimizer,
      epochs: positiveInt(fn, 'opts.epochs', opts.epochs ?? 10),
      batchSize: positiveInt(fn, 'opts.batchSize', opts.batchSize ?? 100),
      loss: opts.loss ?? softmaxCrossEntropy,
      numTrainSamples: positiveInt(fn, 'opts.numTrainSamples', opts.numTrainSamples ?? 1000),
      restoreBest: opts.restoreBest ?? true,
      initialEpoch,
      scheduler: opts.scheduler,
      callbacks: opts.callbacks,
    };
    this.epoch = initialEpoch;
  }

  /**
   * Runs the remaining epochs on `train`, scoring `val` after each.
   *
   * @param train - training inputs and labels.
   * @param val - validation inputs and labels (optional; without it no best state is kept).
   * @returns the history of losses and accuracies.
   * @example
   * ```ts
   * const { epochs } = trainer.fit({ x, y }, { x: xVal, y: yVal });
   * ```
   */
  fit(train: Dataset, val?: Dataset): History {
    const fn = 'Trainer.fit';
    const tr = checkDataset(fn, 'train', train);
    const va = val === undefined ? null : checkDataset(fn, 'val', val);
    const { optimizer, epochs, loss: lossFn, scheduler, callbacks, numTrainSamples } = this.opts;
    const rowShape = tr.x.shape.slice(1);
    const rowSize = sizeOf(rowShape);
    const batchSize = Math.min(this.opts.batchSize, tr.n);
    const starts: number[] = [];
    for (let s = 0; s < tr.n; s += batchSize) starts.push(s);
    if (starts.length > 1 && tr.n - starts[starts.length - 1] === 1) starts.pop(); // fold a lone last sample in
    const history: History = { loss: [], epochs: [], bestValAcc: Number.NaN, bestEpoch: 0 };

    while (this.epoch < epochs) {
      const epoch = this.epoch + 1;
      const t0 = performance.now();
      callbacks?.onEpochStart?.({ epoch, epochs, batchesPerEpoch: starts.length });
      const order = randperm(tr.n);
      const lr = optimizer.lr;
      let lossSum = 0;
      this.model.train();
      for (let b = 0; b < starts.length; b++) {
        const start = starts[b];
        const end = b + 1 < starts.length ? starts[b + 1] : tr.n;
        const { x: xb, y: yb } = this.gather(tr.x, tr.y, order, start, end, rowSize);
        const scores = this.model.forward(new Tensor(xb, [end - start, ...rowShape]));
        const loss = lossFn(scores, yb);
        optimizer.zeroGrad();
        // The loop reads nothing of this step's graph but the loss value: let later ops reuse it.
        loss.backward();
        optimizer.step();
        const value = loss.item();
        lossSum += value;
        history.loss.push(value);
        callbacks?.onBatchEnd?.({ epoch, batch: b + 1, batchesPerEpoch: starts.length, loss: value, samples: end - start, lr });
      }
      const sub = order.subarray(0, Math.min(numTrainSamples, tr.n));
      const { x: xs, y: ys } = this.gatherFresh(tr.x, tr.y, sub, rowSize);
      const trainAcc = accuracy(this.model, new Tensor(xs, [sub.length, ...rowShape]), ys);
      const valAcc = va === null ? Number.NaN : accuracy(this.model, va.x, va.y);
      if (va !== null && !(valAcc <= history.bestValAcc)) {
        history.bestValAcc = valAcc;
        history.bestEpoch = epoch;
        this.bestState = new Map([...this.model.stateDict()].map(([k, t]) => [k, t.clone()]));
      }
      scheduler?.step();
      this.epoch = epoch;
      const info: EpochInfo = { epoch, epochs, trainLoss: lossSum / starts.length, trainAcc, valAcc, lr, seconds: (performance.now() - t0) / 1000 };
      history.epochs.push(info);
      if (callbacks?.onEpochEnd?.(info) === 'stop') break;
    }
    if (this.opts.restoreBest && this.bestState !== null) this.model.loadStateDict(this.bestState);
    return history;
  }

  /** Copies rows order[start..end) into a batch buffer reused across steps of the same size. */
  private gather(x: Tensor, y: Int32Array, order: Int32Array, start: number, end: number, rowSize: number) {
    const rows = end - start;
    let buf = this.batchBuffers.get(rows);
    if (buf === undefined || buf.x.constructor !== x.data.constructor) {
      buf = { x: allocate(x.dtype, rows * rowSize), y: new Int32Array(rows) };
      this.batchBuffers.set(rows, buf);
    }
    for (let i = 0; i < rows; i++) {
      const src = order[start + i];
      buf.x.set(x.data.subarray(src * rowSize, (src + 1) * rowSize), i * rowSize);
      buf.y[i] = y[src];
    }
    return buf;
  }

  private gatherFresh(x: Tensor, y: Int32Array, idx: Int32Array, rowSize: number) {
    const xs = allocate(x.dtype, idx.length * rowSize);
    const ys = new Int32Array(idx.length);
    for (let i = 0; i < idx.length; i++) {
      xs.set(x.data.subarray(idx[i] * rowSize, (idx[i] + 1) * rowSize), i * rowSize);
      ys[i] = y[idx[i]];
    }
    return { x: xs, y: ys };
  }
}
