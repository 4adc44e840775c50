/**
 * A training loop users don't have to write (what CS231n's Solver does, in our idiom): epochs
 * of seeded shuffled mini-batches, an optimizer and an optional schedule, train and
 * validation accuracy each epoch, the best-validation parameters kept, a history, callbacks.
 *
 * @packageDocumentation
 */
import { noGrad } from './autograd/mode';
import { allocateUninit } from './dtype';
import { AnomalyError, ArgumentError, ShapeError, StateDictError, ValueError } from './errors';
import { checkLabels, type Labels } from './kernels/types';
import type { Module } from './nn/module';
import { softmaxCrossEntropy } from './ops/losses';
import { Optimizer } from './optim/optimizer';
import { checkOptions, optionalBoolean } from './options';
import { randperm } from './random';
import { describe, formatShape, shapesEqual, sizeOf } from './shape';
import { bumpVersion, Tensor } from './tensor';

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

/** Passed to `onBatchEnd` after each batch (after its optimizer step, or after skipping it). */
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
  /** True when the batch was skipped (a non-finite loss under `nonFiniteLoss: 'skip'`): no step was taken. */
  skipped: boolean;
}

/** One epoch's summary, passed to `onEpochEnd` and kept in the history. */
export interface EpochInfo {
  /** The epoch, from 1. */
  epoch: number;
  /** Total epochs. */
  epochs: number;
  /** Mean loss over the epoch's batches that were not skipped (NaN when all were). */
  trainLoss: number;
  /** Batches skipped for a non-finite loss (only under `nonFiniteLoss: 'skip'`). */
  skippedBatches: number;
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

/**
 * What {@link Trainer} does when a batch's loss is NaN or ±Infinity:
 *
 * - `'throw'` (the default): stop with an AnomalyError naming the epoch, the batch and the
 *   value, before that batch's backward pass and optimizer step, with the batch's changes to
 *   the model's buffers (BatchNorm running statistics) undone: the model holds exactly what it
 *   held after the previous batch.
 * - `'skip'`: leave that batch out (no backward, no step, buffers restored as for 'throw'), count
 *   it in `EpochInfo.skippedBatches`, and go on.
 * - `'continue'`: backpropagate and step anyway (the parameters will usually become NaN).
 */
export type NonFiniteLossPolicy = 'throw' | 'skip' | 'continue';

const NON_FINITE_POLICIES: readonly NonFiniteLossPolicy[] = ['throw', 'skip', 'continue'];

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
  /**
   * Epochs already done: training continues at initialEpoch + 1. Default 0. Loading a checkpoint
   * saved with `trainer` into this trainer replaces it with the saved epoch.
   */
  initialEpoch?: number;
  /** Progress and early-stopping hooks. */
  callbacks?: TrainerCallbacks;
  /** What to do when a batch's loss is NaN or ±Infinity (see {@link NonFiniteLossPolicy}). Default 'throw'. */
  nonFiniteLoss?: NonFiniteLossPolicy;
}

const TRAINER_OPTIONS = [
  'optimizer', 'epochs', 'batchSize', 'loss', 'scheduler', 'numTrainSamples', 'restoreBest', 'initialEpoch', 'callbacks', 'nonFiniteLoss',
] as const;

/**
 * Everything a {@link Trainer} carries from one epoch to the next besides the model, the
 * optimizer, the schedule and the PRNG (which have their own states): what
 * `saveCheckpoint(path, { ..., trainer })` stores so that a resumed run ends bit-identical to an
 * uninterrupted one.
 *
 * @example
 * ```ts
 * const s: TrainerState = trainer.stateDict(); // { epoch: 3, bestValAcc: 0.9, bestEpoch: 2, bestState, lastState: null }
 * ```
 */
export interface TrainerState {
  /** Epochs completed. */
  epoch: number;
  /** Best validation accuracy so far (NaN before any validation). */
  bestValAcc: number;
  /** The epoch that reached it (0 before any validation). */
  bestEpoch: number;
  /** The model's parameters and buffers (by dotted name) at the best epoch, or null before any validation. */
  bestState: Map<string, Tensor> | null;
  /**
   * The parameters and buffers training had reached when `restoreBest` replaced them in the
   * model with the best ones; the next `fit` continues from these. Null when the model holds
   * them itself.
   */
  lastState: Map<string, Tensor> | null;
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

const PREDICT_OPTIONS = ['batchSize'] as const;

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
  const o = checkOptions(fn, opts, PREDICT_OPTIONS);
  if (!(x instanceof Tensor) || x.ndim < 1) throw new ArgumentError(`${fn}: x must be a Tensor (N, ...), got ${describe(x)}`);
  const batchSize = positiveInt(fn, 'opts.batchSize', o.batchSize ?? 1000);
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
  const o = checkOptions('accuracy', opts, PREDICT_OPTIONS);
  const batchSize = positiveInt('accuracy', 'opts.batchSize', o.batchSize ?? 1000);
  const { n, y: labels } = checkDataset('accuracy', 'data', { x, y });
  const pred = predict(model, x, { batchSize });
  let hits = 0;
  for (let i = 0; i < n; i++) if (pred[i] === labels[i]) hits++;
  return hits / n;
}

/**
 * Trains a classifier: shuffled mini-batches each epoch (from the seeded global PRNG, so a run
 * seeded with `manualSeed` repeats bit for bit), an optimizer step per batch, the schedule
 * stepped per epoch, accuracy measured, the best-validation parameters kept.
 *
 * Resuming is exact: `saveCheckpoint(path, { model, optimizer, scheduler, trainer })` stores the
 * trainer's {@link TrainerState} (epoch, best score, best weights, and the weights training had
 * reached when `restoreBest` swapped the best ones in), and
 * `loadCheckpoint(path, { model, optimizer, scheduler, trainer })` into freshly built objects
 * continues the run so that it ends bit-identical to one that was never interrupted, whether
 * the checkpoint was saved in `onEpochEnd` or after `fit` returned, with any `restoreBest`.
 *
 * NOTE: a final batch of a single sample is folded into the previous batch, since BatchNorm
 * cannot train on one row. A batch whose loss is NaN or infinite stops training by default
 * (see {@link NonFiniteLossPolicy}).
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
  /** Best validation accuracy over every epoch this trainer ran or resumed from (NaN before any validation). */
  bestValAcc = Number.NaN;
  /** The epoch that reached {@link Trainer.bestValAcc} (0 before any validation). */
  bestEpoch = 0;
  /** Training's own parameters and buffers, kept while the model holds the restored best ones (see {@link TrainerState}). */
  private lastState: Map<string, Tensor> | null = null;
  private readonly opts: Required<Omit<TrainerOptions, 'scheduler' | 'callbacks'>> & Pick<TrainerOptions, 'scheduler' | 'callbacks'>;

  /**
   * @param model - the module to train.
   * @param opts - optimizer (required), epochs (10), batchSize (100), loss (softmaxCrossEntropy),
   *   scheduler, numTrainSamples (1000), restoreBest (true), initialEpoch (0), callbacks,
   *   nonFiniteLoss ('throw').
   * @throws ArgumentError for a missing or wrong-kind option (opts null, optimizer missing,
   *   restoreBest not a boolean, a callback that is not a function); ValueError for an unknown
   *   option or a value out of range, each naming the option.
   */
  constructor(
    readonly model: Module,
    opts: TrainerOptions,
  ) {
    const fn = 'Trainer';
    if (typeof model !== 'object' || model === null || typeof (model as Module).forward !== 'function') {
      throw new ArgumentError(`${fn}: model must be an nn.Module, got ${describe(model)}`);
    }
    if (opts === undefined) throw new ArgumentError(`${fn}: opts must be an object with an optimizer, got undefined`);
    const o = checkOptions(fn, opts, TRAINER_OPTIONS);
    if (!(o.optimizer instanceof Optimizer)) {
      throw new ArgumentError(`${fn}: opts.optimizer must be an optimizer (e.g. new optim.Adam(model.parameters())), got ${describe(o.optimizer)}`);
    }
    const initialEpoch = o.initialEpoch ?? 0;
    if (!Number.isSafeInteger(initialEpoch) || (initialEpoch as number) < 0) {
      throw new ValueError(`${fn}: opts.initialEpoch must be an integer >= 0, got ${describe(initialEpoch)}`);
    }
    if (o.loss !== undefined && typeof o.loss !== 'function') throw new ArgumentError(`${fn}: opts.loss must be a function (scores, labels) => Tensor, got ${describe(o.loss)}`);
    const scheduler = o.scheduler as EpochScheduler | undefined;
    if (scheduler !== undefined && (typeof scheduler !== 'object' || scheduler === null || typeof scheduler.step !== 'function')) {
      throw new ArgumentError(`${fn}: opts.scheduler must have a step() method (e.g. an optim.StepLR), got ${describe(scheduler)}`);
    }
    const callbacks = o.callbacks as TrainerCallbacks | undefined;
    const cb = checkOptions(fn, callbacks, ['onEpochStart', 'onBatchEnd', 'onEpochEnd'], 'opts.callbacks');
    for (const [k, v] of Object.entries(cb)) {
      if (v !== undefined && typeof v !== 'function') throw new ArgumentError(`${fn}: opts.callbacks.${k} must be a function, got ${describe(v)}`);
    }
    const nonFiniteLoss = o.nonFiniteLoss ?? 'throw';
    if (!NON_FINITE_POLICIES.includes(nonFiniteLoss as NonFiniteLossPolicy)) {
      throw new ValueError(`${fn}: opts.nonFiniteLoss must be one of ${NON_FINITE_POLICIES.map((p) => `'${p}'`).join(', ')}, got ${describe(nonFiniteLoss)}`);
    }
    this.opts = {
      optimizer: o.optimizer,
      epochs: positiveInt(fn, 'opts.epochs', o.epochs ?? 10),
      batchSize: positiveInt(fn, 'opts.batchSize', o.batchSize ?? 100),
      loss: (o.loss as TrainerOptions['loss']) ?? softmaxCrossEntropy,
      numTrainSamples: positiveInt(fn, 'opts.numTrainSamples', o.numTrainSamples ?? 1000),
      restoreBest: optionalBoolean(fn, 'opts.restoreBest', o.restoreBest, true),
      initialEpoch: initialEpoch as number,
      nonFiniteLoss: nonFiniteLoss as NonFiniteLossPolicy,
      scheduler,
      callbacks,
    };
    this.epoch = initialEpoch as number;
  }

  /**
   * Runs the remaining epochs on `train`, scoring `val` after each.
   *
   * When the model holds restored best weights from an earlier `fit` (or a loaded checkpoint),
   * training continues from the weights training itself had reached, as an uninterrupted run
   * would.
   *
   * @param train - training inputs and labels.
   * @param val - validation inputs and labels (optional; without it no best state is kept).
   * @returns the history of this call's losses and accuracies; `bestValAcc` and `bestEpoch`
   *   cover every epoch, including those done before a resume.
   * @throws AnomalyError when a batch's loss is not finite under `nonFiniteLoss: 'throw'`,
   *   naming the epoch, the batch and the value; the model then holds what it held after the
   *   previous batch.
   * @example
   * ```ts
   * const { epochs } = trainer.fit({ x, y }, { x: xVal, y: yVal });
   * ```
   */
  fit(train: Dataset, val?: Dataset): History {
    const fn = 'Trainer.fit';
    const tr = checkDataset(fn, 'train', train);
    const va = val === undefined ? null : checkDataset(fn, 'val', val);
    const { optimizer, epochs, loss: lossFn, scheduler, callbacks, numTrainSamples, nonFiniteLoss } = this.opts;
    const rowShape = tr.x.shape.slice(1);
    const rowSize = sizeOf(rowShape);
    const batchSize = Math.min(this.opts.batchSize, tr.n);
    const starts: number[] = [];
    for (let s = 0; s < tr.n; s += batchSize) starts.push(s);
    if (starts.length > 1 && tr.n - starts[starts.length - 1] === 1) starts.pop(); // fold a lone last sample in
    const history: History = { loss: [], epochs: [], bestValAcc: this.bestValAcc, bestEpoch: this.bestEpoch };

    if (this.lastState !== null) {
      this.model.loadStateDict(this.lastState);
      this.lastState = null;
    }
    // A non-finite loss must leave no trace: the forward pass already moved the buffers
    // (BatchNorm's running statistics), so keep their values from before each batch.
    const guarded = nonFiniteLoss === 'continue' ? [] : this.model.buffers().map((t) => ({ t, before: t.data.slice() }));

    while (this.epoch < epochs) {
      const epoch = this.epoch + 1;
      const t0 = performance.now();
      callbacks?.onEpochStart?.({ epoch, epochs, batchesPerEpoch: starts.length });
      const order = randperm(tr.n);
      const lr = optimizer.lr;
      let lossSum = 0;
      let skipped = 0;
      this.model.train();
      for (let b = 0; b < starts.length; b++) {
        const start = starts[b];
        const end = b + 1 < starts.length ? starts[b + 1] : tr.n;
        const { x: xb, y: yb } = this.gather(tr.x, tr.y, order.subarray(start, end), rowSize);
        for (const g of guarded) g.before.set(g.t.data);
        const scores = this.model.forward(new Tensor(xb, [end - start, ...rowShape]));
        const loss = lossFn(scores, yb);
        const value = loss.item();
        const finite = Number.isFinite(value);
        if (!finite && nonFiniteLoss !== 'continue') {
          for (const g of guarded) {
            g.t.data.set(g.before);
            bumpVersion(g.t);
          }
          if (nonFiniteLoss === 'throw') {
            throw new AnomalyError(
              `${fn}: the loss must be finite, got ${value} at epoch ${epoch} of ${epochs}, batch ${b + 1} of ${starts.length}; ` +
                `stopped before this batch's backward pass and optimizer step, so the model holds what it held after the previous batch ` +
                `(pass nonFiniteLoss: 'skip' to leave such batches out, or 'continue' to step anyway)`,
            );
          }
          skipped++;
        } else {
          optimizer.zeroGrad();
          loss.backward();
          optimizer.step();
          lossSum += value;
        }
        history.loss.push(value);
        callbacks?.onBatchEnd?.({ epoch, batch: b + 1, batchesPerEpoch: starts.length, loss: value, samples: end - start, lr, skipped: !finite && nonFiniteLoss === 'skip' });
      }
      const sub = order.subarray(0, Math.min(numTrainSamples, tr.n));
      const { x: xs, y: ys } = this.gather(tr.x, tr.y, sub, rowSize);
      const trainAcc = accuracy(this.model, new Tensor(xs, [sub.length, ...rowShape]), ys);
      const valAcc = va === null ? Number.NaN : accuracy(this.model, va.x, va.y);
      if (va !== null && !(valAcc <= this.bestValAcc)) {
        this.bestValAcc = history.bestValAcc = valAcc;
        this.bestEpoch = history.bestEpoch = epoch;
        this.bestState = copyState(this.model.stateDict());
      }
      scheduler?.step();
      this.epoch = epoch;
      const stepped = starts.length - skipped;
      const info: EpochInfo = {
        epoch, epochs, trainLoss: stepped === 0 ? Number.NaN : lossSum / stepped, skippedBatches: skipped, trainAcc, valAcc, lr, seconds: (performance.now() - t0) / 1000,
      };
      history.epochs.push(info);
      if (callbacks?.onEpochEnd?.(info) === 'stop') break;
    }
    // When the best epoch is the last one the model usually holds exactly the best values
    // already (unless a callback changed it): then there is nothing to swap or keep.
    if (this.opts.restoreBest && this.bestState !== null && !sameValues(this.model.stateDict(), this.bestState)) {
      this.lastState = copyState(this.model.stateDict());
      this.model.loadStateDict(this.bestState);
    }
    return history;
  }

  /**
   * Everything this trainer carries between epochs (see {@link TrainerState}). As with
   * `Module.stateDict`, the tensors are the trainer's own (no copy, so saving a large model
   * needs no extra memory): clone them to keep a snapshot.
   *
   * @returns the state; its maps are new, its tensors are the trainer's.
   * @example
   * ```ts
   * const s = trainer.stateDict();
   * ```
   */
  stateDict(): TrainerState {
    return {
      epoch: this.epoch,
      bestValAcc: this.bestValAcc,
      bestEpoch: this.bestEpoch,
      bestState: this.bestState === null ? null : new Map(this.bestState),
      lastState: this.lastState === null ? null : new Map(this.lastState),
    };
  }

  /**
   * Checks that a state fits this trainer's model, without changing anything.
   *
   * @param state - a state from {@link Trainer.stateDict}.
   * @throws ArgumentError when it is not a state object; ValueError for an epoch, best epoch or
   *   score out of range; StateDictError when bestState or lastState does not hold exactly the
   *   model's keys with its shapes and dtypes.
   * @example
   * ```ts
   * trainer.validateStateDict(saved);
   * ```
   */
  validateStateDict(state: TrainerState): void {
    const fn = 'Trainer.loadStateDict';
    if (typeof state !== 'object' || state === null) throw new ArgumentError(`${fn}: state must be a TrainerState object, got ${describe(state)}`);
    const { epoch, bestValAcc, bestEpoch, bestState, lastState } = state;
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new ValueError(`${fn}: state.epoch must be an integer >= 0, got ${describe(epoch)}`);
    if (!Number.isSafeInteger(bestEpoch) || bestEpoch < 0 || bestEpoch > epoch) {
      throw new ValueError(`${fn}: state.bestEpoch must be an integer in [0, epoch = ${epoch}], got ${describe(bestEpoch)}`);
    }
    if (typeof bestValAcc !== 'number' || !(Number.isNaN(bestValAcc) || (bestValAcc >= 0 && bestValAcc <= 1))) {
      throw new ValueError(`${fn}: state.bestValAcc must be an accuracy in [0, 1] or NaN (none), got ${describe(bestValAcc)}`);
    }
    const hasBest = bestState !== null;
    if (hasBest !== (bestEpoch > 0) || hasBest === Number.isNaN(bestValAcc)) {
      throw new ValueError(
        `${fn}: state.bestState, bestEpoch and bestValAcc must agree (all set after a validated epoch, or null, 0 and NaN before one), ` +
          `got bestState ${hasBest ? 'set' : 'null'}, bestEpoch ${bestEpoch}, bestValAcc ${bestValAcc}`,
      );
    }
    if (lastState !== null && !hasBest) throw new ValueError(`${fn}: state.lastState must be null when there is no bestState, got a state`);
    const own = this.model.stateDict();
    for (const [name, s] of [['bestState', bestState], ['lastState', lastState]] as const) {
      if (s === null) continue;
      if (!(s instanceof Map)) throw new ArgumentError(`${fn}: state.${name} must be a Map of name -> Tensor or null, got ${describe(s)}`);
      const problems: string[] = [];
      const missing = [...own.keys()].filter((k) => !s.has(k));
      const unexpected = [...s.keys()].filter((k) => !own.has(k));
      if (missing.length) problems.push(`missing keys [${missing.map((k) => `'${k}'`).join(', ')}]`);
      if (unexpected.length) problems.push(`unexpected keys [${unexpected.map((k) => `'${String(k)}'`).join(', ')}]`);
      for (const [k, t] of own) {
        const v: unknown = s.get(k);
        if (v === undefined) continue;
        if (!(v instanceof Tensor)) problems.push(`'${k}': expected a Tensor, got ${describe(v)}`);
        else if (!shapesEqual(v.shape, t.shape)) problems.push(`'${k}': expected shape ${formatShape(t.shape)}, got ${formatShape(v.shape)}`);
        else if (v.dtype !== t.dtype) problems.push(`'${k}': expected dtype '${t.dtype}', got '${v.dtype}'`);
      }
      if (problems.length) throw new StateDictError(`${fn}: state.${name} must fit ${this.model.constructor.name}, got ${problems.join('; ')}`);
    }
  }

  /**
   * Restores a state from {@link Trainer.stateDict} (copying it), after checking it with
   * {@link Trainer.validateStateDict}; a rejected state changes nothing. `loadCheckpoint` calls
   * this for a `trainer` target.
   *
   * @param state - the state to restore.
   * @throws as {@link Trainer.validateStateDict}.
   * @example
   * ```ts
   * trainer.loadStateDict(saved);
   * ```
   */
  loadStateDict(state: TrainerState): void {
    this.validateStateDict(state);
    this.epoch = state.epoch;
    this.bestValAcc = state.bestValAcc;
    this.bestEpoch = state.bestEpoch;
    this.bestState = state.bestState === null ? null : copyState(state.bestState);
    this.lastState = state.lastState === null ? null : copyState(state.lastState);
  }

  /** Copies rows x[idx[i]] into fresh arrays: a module may keep its input, so it is never reused. */
  private gather(x: Tensor, y: Int32Array, idx: Int32Array, rowSize: number) {
    const xs = allocateUninit(x.dtype, idx.length * rowSize);
    const ys = new Int32Array(idx.length);
    for (let i = 0; i < idx.length; i++) {
      xs.set(x.data.subarray(idx[i] * rowSize, (idx[i] + 1) * rowSize), i * rowSize);
      ys[i] = y[idx[i]];
    }
    return { x: xs, y: ys };
  }
}

/** True when both states hold bit-identical values under the same keys. */
function sameValues(a: Map<string, Tensor>, b: Map<string, Tensor>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, t] of a) {
    const u = b.get(k);
    if (u === undefined || u.data.byteLength !== t.data.byteLength) return false;
    const x = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const y = new Uint8Array(u.data.buffer, u.data.byteOffset, u.data.byteLength);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  }
  return true;
}

/** Detached copies of a state's tensors. */
function copyState(state: Map<string, Tensor>): Map<string, Tensor> {
  return new Map([...state].map(([k, t]) => [k, t.clone()]));
}
