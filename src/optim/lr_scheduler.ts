/**
 * Learning-rate schedules: each sets `optimizer.lr` from a closed form of the epoch count.
 *
 * @packageDocumentation
 */
import { ArgumentError, ValueError } from '../errors';
import { checkOptions } from '../options';
import { describe } from '../shape';
import { formatValue, Optimizer } from './optimizer';

/**
 * What a schedule needs to resume: its class, the epochs stepped so far, and the learning rate it
 * started from.
 *
 * @example
 * ```ts
 * sched.stateDict(); // { type: 'StepLR', epoch: 30, baseLr: 0.1 }
 * ```
 */
export interface SchedulerState {
  /** The schedule class: 'StepLR', 'CosineAnnealingLR', 'ExponentialLR' or 'LinearLR'. */
  type: string;
  /** Number of `step()` calls so far. */
  epoch: number;
  /** The optimizer's learning rate when the schedule was created. */
  baseLr: number;
}

const isPositiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
const isFiniteAtLeast0 = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isFinitePositive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

/**
 * The schedule's options as a record of their own keys (see checkOptions); a schedule has a
 * required option, so `undefined` is refused like any other non-object.
 */
function checkOpts(type: string, opts: unknown, known: readonly string[]): Readonly<Record<string, unknown>> {
  if (opts === undefined) throw new ArgumentError(`${type}: opts must be an object of options, got undefined`);
  return checkOptions(type, opts, known);
}

/**
 * Base class of the learning-rate schedules. A schedule remembers the optimizer's learning rate
 * when it is created (`baseLr`); each `step()` advances the epoch and sets `optimizer.lr` to the
 * schedule's closed form at that epoch, so a learning rate set by hand in between is overwritten.
 *
 * @example
 * ```ts
 * const sched = new optim.StepLR(opt, { stepSize: 30, gamma: 0.1 });
 * for (let epoch = 0; epoch < 90; epoch++) { train(); sched.step(); }
 * ```
 */
export abstract class LRScheduler {
  /** The schedule class name, as stored in {@link SchedulerState.type}. */
  readonly type: string;
  /** The optimizer whose `lr` this schedule sets. */
  readonly optimizer: Optimizer;
  private epochCount = 0;
  private base: number;
  private last: number;

  /**
   * @param type - the class name, for messages and {@link SchedulerState.type}.
   * @param optimizer - the optimizer to drive; its current lr becomes `baseLr`.
   * @throws ArgumentError when optimizer is not an Optimizer.
   */
  protected constructor(type: string, optimizer: Optimizer) {
    if (!(optimizer instanceof Optimizer)) {
      throw new ArgumentError(`${type}: optimizer must be an Optimizer (e.g. optim.SGD), got ${describe(optimizer)}`);
    }
    this.type = type;
    this.optimizer = optimizer;
    this.base = optimizer.lr;
    // Every closed form equals baseLr at epoch 0, so creating a schedule leaves lr as it is.
    this.last = optimizer.lr;
  }

  /** The learning rate at `epoch` for a schedule that started at `baseLr`. */
  protected abstract lrAt(epoch: number, baseLr: number): number;

  /**
   * The learning rate at epoch 0: baseLr itself, except for a schedule that starts elsewhere
   * (LinearLR), which overrides this and calls {@link LRScheduler.applyLr} in its constructor.
   */
  protected lrAtStart(baseLr: number): number {
    return baseLr;
  }

  /** Number of `step()` calls so far. */
  get lastEpoch(): number {
    return this.epochCount;
  }

  /** The optimizer's learning rate when the schedule was created (or as restored). */
  get baseLr(): number {
    return this.base;
  }

  /**
   * Advances one epoch and sets the optimizer's learning rate; call it once per epoch, after
   * that epoch's `optimizer.step()` calls.
   *
   * @returns the new learning rate.
   * @example
   * ```ts
   * sched.step();
   * ```
   */
  step(): number {
    this.epochCount++;
    return this.applyLr();
  }

  /**
   * The learning rate this schedule last set (baseLr before the first `step()`).
   *
   * @example
   * ```ts
   * console.log(`lr ${sched.getLastLr()}`);
   * ```
   */
  getLastLr(): number {
    return this.last;
  }

  /**
   * The schedule's state: type, epoch, baseLr.
   *
   * @example
   * ```ts
   * const saved = sched.stateDict();
   * ```
   */
  stateDict(): SchedulerState {
    return { type: this.type, epoch: this.epochCount, baseLr: this.base };
  }

  /**
   * Checks a state against this schedule without changing anything.
   *
   * @param state - a state, as {@link LRScheduler.stateDict} returns.
   * @throws ArgumentError when state is not an object; ValueError, listing every problem, when
   *   the type differs, epoch is not a non-negative integer, or baseLr is not a finite number >= 0.
   * @example
   * ```ts
   * sched.validateStateDict(saved); // throws if loadStateDict(saved) would
   * ```
   */
  validateStateDict(state: SchedulerState): void {
    const fn = `${this.type}.loadStateDict`;
    if (state === null || typeof state !== 'object') {
      throw new ArgumentError(`${fn}: state must be a schedule state dict object, got ${describe(state)}`);
    }
    const problems: string[] = [];
    if (state.type !== this.type) problems.push(`state.type must be '${this.type}', got ${formatValue(state.type)}`);
    if (!Number.isSafeInteger(state.epoch) || state.epoch < 0) {
      problems.push(`state.epoch must be a non-negative integer, got ${formatValue(state.epoch)}`);
    }
    if (!isFiniteAtLeast0(state.baseLr)) problems.push(`state.baseLr must be a finite number >= 0, got ${formatValue(state.baseLr)}`);
    if (problems.length > 0) throw new ValueError(`${fn}: nothing was loaded: ${problems.join('; ')}`);
  }

  /**
   * Restores a state from {@link LRScheduler.stateDict} and sets the optimizer's lr to the
   * schedule's value at the restored epoch. Validates first (see
   * {@link LRScheduler.validateStateDict}); changes nothing on failure.
   *
   * @param state - a state of a schedule of the same type.
   * @throws see {@link LRScheduler.validateStateDict}.
   * @example
   * ```ts
   * opt.loadStateDict(savedOpt); sched.loadStateDict(savedSched);
   * ```
   */
  loadStateDict(state: SchedulerState): void {
    this.validateStateDict(state);
    this.epochCount = state.epoch;
    this.base = state.baseLr;
    this.applyLr();
  }

  /** Sets the optimizer's lr to the schedule's value at the current epoch. */
  protected applyLr(): number {
    const lr = this.epochCount === 0 ? this.lrAtStart(this.base) : this.lrAt(this.epochCount, this.base);
    this.optimizer.lr = lr;
    this.last = lr;
    return lr;
  }
}

/** Options of {@link StepLR}. */
export interface StepLROptions {
  /** Epochs between decays, a positive integer. Required. */
  stepSize: number;
  /** Factor applied every stepSize epochs, a finite number > 0. Default 0.1. */
  gamma?: number;
}

/**
 * Multiplies the learning rate by gamma every stepSize epochs:
 * `lr = baseLr * gamma ^ floor(epoch / stepSize)` (PyTorch's `StepLR`, closed form).
 *
 * @example
 * ```ts
 * const sched = new optim.StepLR(opt, { stepSize: 30, gamma: 0.1 });
 * // lr = 0.1 for epochs 0-29, 0.01 for 30-59, 0.001 for 60-89, ...
 * ```
 */
export class StepLR extends LRScheduler {
  /** Epochs between decays. */
  readonly stepSize: number;
  /** Decay factor. */
  readonly gamma: number;

  /**
   * @param optimizer - the optimizer to drive.
   * @param opts - stepSize (required, positive integer), gamma = 0.1 (finite, > 0).
   * @throws ValueError naming the option when it is out of range or unknown; ArgumentError when
   *   optimizer is not an Optimizer or opts not an object.
   */
  constructor(optimizer: Optimizer, opts: StepLROptions) {
    const o = checkOpts('StepLR', opts, ['stepSize', 'gamma']);
    const { stepSize, gamma = 0.1 } = o;
    if (!isPositiveInt(stepSize)) throw new ValueError(`StepLR: stepSize must be a positive integer, got ${formatValue(stepSize)}`);
    if (!isFinitePositive(gamma)) throw new ValueError(`StepLR: gamma must be a finite number > 0, got ${formatValue(gamma)}`);
    super('StepLR', optimizer);
    this.stepSize = stepSize;
    this.gamma = gamma;
  }

  protected override lrAt(epoch: number, baseLr: number): number {
    return baseLr * this.gamma ** Math.floor(epoch / this.stepSize);
  }
}

/** Options of {@link ExponentialLR}. */
export interface ExponentialLROptions {
  /** Factor applied every epoch, a finite number > 0. Required. */
  gamma: number;
}

/**
 * Multiplies the learning rate by gamma every epoch: `lr = baseLr * gamma ^ epoch`
 * (PyTorch's `ExponentialLR`, closed form).
 *
 * @example
 * ```ts
 * const sched = new optim.ExponentialLR(opt, { gamma: 0.95 });
 * ```
 */
export class ExponentialLR extends LRScheduler {
  /** Decay factor per epoch. */
  readonly gamma: number;

  /**
   * @param optimizer - the optimizer to drive.
   * @param opts - gamma (required, finite, > 0).
   * @throws ValueError naming the option when it is out of range or unknown; ArgumentError when
   *   optimizer is not an Optimizer or opts not an object.
   */
  constructor(optimizer: Optimizer, opts: ExponentialLROptions) {
    const { gamma } = checkOpts('ExponentialLR', opts, ['gamma']);
    if (!isFinitePositive(gamma)) throw new ValueError(`ExponentialLR: gamma must be a finite number > 0, got ${formatValue(gamma)}`);
    super('ExponentialLR', optimizer);
    this.gamma = gamma;
  }

  protected override lrAt(epoch: number, baseLr: number): number {
    return baseLr * this.gamma ** epoch;
  }
}

/** Options of {@link CosineAnnealingLR}. */
export interface CosineAnnealingLROptions {
  /** Epochs of the half cosine from baseLr down to etaMin, a positive integer. Required. */
  tMax: number;
  /** The learning rate at epoch tMax, a finite number >= 0. Default 0. */
  etaMin?: number;
}

/**
 * Anneals the learning rate along a half cosine from baseLr at epoch 0 to etaMin at epoch tMax:
 * `lr = etaMin + (baseLr - etaMin) * (1 + cos(pi * epoch / tMax)) / 2` (PyTorch's
 * `CosineAnnealingLR`, closed form, without restarts).
 *
 * NOTE: like PyTorch's, the formula is periodic: stepping past tMax climbs back toward baseLr,
 * reaching it at 2 tMax. Stop at tMax, or create the schedule with tMax = the number of epochs.
 *
 * @example
 * ```ts
 * const sched = new optim.CosineAnnealingLR(opt, { tMax: 100, etaMin: 1e-5 });
 * ```
 */
export class CosineAnnealingLR extends LRScheduler {
  /** Epochs from baseLr down to etaMin. */
  readonly tMax: number;
  /** The minimum learning rate, reached at epoch tMax. */
  readonly etaMin: number;

  /**
   * @param optimizer - the optimizer to drive.
   * @param opts - tMax (required, positive integer), etaMin = 0 (finite, >= 0).
   * @throws ValueError naming the option when it is out of range or unknown; ArgumentError when
   *   optimizer is not an Optimizer or opts not an object.
   */
  constructor(optimizer: Optimizer, opts: CosineAnnealingLROptions) {
    const { tMax, etaMin = 0 } = checkOpts('CosineAnnealingLR', opts, ['tMax', 'etaMin']);
    if (!isPositiveInt(tMax)) throw new ValueError(`CosineAnnealingLR: tMax must be a positive integer, got ${formatValue(tMax)}`);
    if (!isFiniteAtLeast0(etaMin)) throw new ValueError(`CosineAnnealingLR: etaMin must be a finite number >= 0, got ${formatValue(etaMin)}`);
    super('CosineAnnealingLR', optimizer);
    this.tMax = tMax;
    this.etaMin = etaMin;
  }

  protected override lrAt(epoch: number, baseLr: number): number {
    const { etaMin } = this;
    return etaMin + ((baseLr - etaMin) * (1 + Math.cos((Math.PI * epoch) / this.tMax))) / 2;
  }
}

/** Options of {@link LinearLR}. */
export interface LinearLROptions {
  /** Factor of baseLr at epoch 0, in (0, 1]. Default 1/3. */
  startFactor?: number;
  /** Factor of baseLr from epoch totalIters on, in [0, 1]. Default 1. */
  endFactor?: number;
  /** Epochs of the linear ramp, a positive integer. Default 5. */
  totalIters?: number;
}

/**
 * Changes the learning rate linearly from `startFactor * baseLr` to `endFactor * baseLr` over
 * totalIters epochs, then keeps it (PyTorch's `LinearLR`, closed form):
 * `lr = baseLr * (startFactor + (endFactor - startFactor) * min(epoch, totalIters) / totalIters)`.
 * With endFactor = 1 this is a linear **warm-up**; with startFactor = 1 and a smaller endFactor,
 * a linear decay.
 *
 * NOTE: like PyTorch's, it sets `optimizer.lr` to `startFactor * baseLr` when created.
 *
 * @example
 * ```ts
 * // warm up from 0.01 to 0.1 over the first 10 epochs
 * const opt = new optim.SGD(model.parameters(), { lr: 0.1 });
 * const sched = new optim.LinearLR(opt, { startFactor: 0.1, totalIters: 10 });
 * ```
 */
export class LinearLR extends LRScheduler {
  /** Factor of baseLr at epoch 0. */
  readonly startFactor: number;
  /** Factor of baseLr from epoch totalIters on. */
  readonly endFactor: number;
  /** Epochs of the ramp. */
  readonly totalIters: number;

  /**
   * @param optimizer - the optimizer to drive; its lr becomes baseLr and is set to startFactor * baseLr.
   * @param opts - startFactor = 1/3 (in (0, 1]), endFactor = 1 (in [0, 1]), totalIters = 5 (positive integer).
   * @throws ValueError naming the option when it is out of range or unknown; ArgumentError when
   *   optimizer is not an Optimizer or opts (when given) not an object.
   */
  constructor(optimizer: Optimizer, opts?: LinearLROptions) {
    const o = checkOptions('LinearLR', opts, ['startFactor', 'endFactor', 'totalIters']);
    const { startFactor = 1 / 3, endFactor = 1, totalIters = 5 } = o;
    if (typeof startFactor !== 'number' || !(startFactor > 0 && startFactor <= 1)) {
      throw new ValueError(`LinearLR: startFactor must be a number in (0, 1], got ${formatValue(startFactor)}`);
    }
    if (typeof endFactor !== 'number' || !(endFactor >= 0 && endFactor <= 1)) {
      throw new ValueError(`LinearLR: endFactor must be a number in [0, 1], got ${formatValue(endFactor)}`);
    }
    if (!isPositiveInt(totalIters)) throw new ValueError(`LinearLR: totalIters must be a positive integer, got ${formatValue(totalIters)}`);
    super('LinearLR', optimizer);
    this.startFactor = startFactor;
    this.endFactor = endFactor;
    this.totalIters = totalIters;
    this.applyLr();
  }

  protected override lrAtStart(baseLr: number): number {
    return baseLr * this.startFactor;
  }

  protected override lrAt(epoch: number, baseLr: number): number {
    const { startFactor, endFactor, totalIters } = this;
    return baseLr * (startFactor + ((endFactor - startFactor) * Math.min(epoch, totalIters)) / totalIters);
  }
}

/** Options of {@link ReduceLROnPlateau}. */
export interface ReduceLROnPlateauOptions {
  /** 'min' (default): the metric should fall (a loss); 'max': it should rise (an accuracy). */
  mode?: 'min' | 'max';
  /** Factor the lr is multiplied by on a plateau, in (0, 1). Default 0.1. */
  factor?: number;
  /** Epochs without improvement tolerated before reducing, a non-negative integer. Default 10. */
  patience?: number;
  /** The least change that counts as an improvement, a finite number >= 0. Default 1e-4. */
  threshold?: number;
  /** 'rel' (default): better than best * (1 ∓ threshold); 'abs': better than best ∓ threshold. */
  thresholdMode?: 'rel' | 'abs';
  /** Epochs to wait after a reduction before counting bad epochs again, a non-negative integer. Default 0. */
  cooldown?: number;
  /** The lr is never reduced below this, a finite number >= 0. Default 0. */
  minLr?: number;
  /** A reduction smaller than eps is skipped, a finite number >= 0. Default 1e-8. */
  eps?: number;
}

/**
 * What {@link ReduceLROnPlateau} needs to resume. `best` is null until a metric improved on the
 * start (PyTorch's `mode_worse`, ±Infinity, which JSON cannot hold), and 'Infinity' /
 * '-Infinity' for an infinite best.
 */
export interface ReduceLROnPlateauState {
  /** Always 'ReduceLROnPlateau'. */
  type: 'ReduceLROnPlateau';
  /** Number of `step(metric)` calls so far. */
  epoch: number;
  /** The mode the schedule was made with ('min' or 'max'); a state only loads into the same mode. */
  mode: 'min' | 'max';
  /** The best metric so far (see above). */
  best: number | null | 'Infinity' | '-Infinity';
  /** Epochs since the last improvement (reset by a reduction and during cooldown). */
  numBadEpochs: number;
  /** Epochs of cooldown left. */
  cooldownCounter: number;
  /** The learning rate the schedule last saw or set. */
  lr: number;
}

/**
 * Reduces the learning rate by `factor` when a metric has stopped improving for `patience`
 * epochs (PyTorch's `ReduceLROnPlateau`, step for step): each `step(metric)` compares the metric
 * with the best so far (with threshold and thresholdMode), counts bad epochs, and once more than
 * patience have passed sets `lr = max(lr * factor, minLr)` (skipped when the change is below
 * eps), then waits `cooldown` epochs. It reads `optimizer.lr` at each reduction, so it composes
 * with a learning rate set by hand.
 *
 * It needs the metric, so `Trainer`'s `scheduler` option (which calls `step()` without one)
 * cannot take it; with a Trainer, step it from the epoch callback, which runs after each epoch's
 * validation, and save it in checkpoints as `scheduler`:
 * `callbacks: { onEpochEnd: (info) => void plateau.step(info.valAcc) }` with `mode: 'max'`.
 * In a hand-written loop, call `step(valLoss)` once per epoch after evaluating.
 *
 * Unlike the other schedules it is not an {@link LRScheduler} (it has no closed form), but it
 * has the same `stateDict`/`validateStateDict`/`loadStateDict`/`getLastLr`, so
 * `saveCheckpoint`/`loadCheckpoint` keep it.
 *
 * @example
 * ```ts
 * const plateau = new optim.ReduceLROnPlateau(opt, { mode: 'min', factor: 0.5, patience: 3 });
 * for (let epoch = 0; epoch < 50; epoch++) { trainOneEpoch(); plateau.step(validationLoss()); }
 * ```
 */
export class ReduceLROnPlateau {
  /** The schedule class name, as stored in the state. */
  readonly type = 'ReduceLROnPlateau';
  /** The optimizer whose lr this schedule reduces. */
  readonly optimizer: Optimizer;
  /** Whether the metric should fall ('min') or rise ('max'). */
  readonly mode: 'min' | 'max';
  /** Multiplier of the lr on a plateau. */
  readonly factor: number;
  /** Bad epochs tolerated before a reduction. */
  readonly patience: number;
  /** Least change counted as an improvement. */
  readonly threshold: number;
  /** 'rel' or 'abs'. */
  readonly thresholdMode: 'rel' | 'abs';
  /** Epochs of cooldown after a reduction. */
  readonly cooldown: number;
  /** The lower bound of the lr. */
  readonly minLr: number;
  /** Reductions smaller than this are skipped. */
  readonly eps: number;
  private epochCount = 0;
  private bestValue: number;
  private badEpochs = 0;
  private cooldownLeft = 0;
  private last: number;

  /**
   * @param optimizer - the optimizer to drive.
   * @param opts - mode = 'min', factor = 0.1, patience = 10, threshold = 1e-4,
   *   thresholdMode = 'rel', cooldown = 0, minLr = 0, eps = 1e-8 (see {@link ReduceLROnPlateauOptions}).
   * @throws ValueError naming the option when it is out of range or unknown; ArgumentError when
   *   optimizer is not an Optimizer or opts (when given) not an object.
   */
  constructor(optimizer: Optimizer, opts?: ReduceLROnPlateauOptions) {
    const fn = 'ReduceLROnPlateau';
    const o = checkOptions(fn, opts, ['mode', 'factor', 'patience', 'threshold', 'thresholdMode', 'cooldown', 'minLr', 'eps']);
    const { mode = 'min', factor = 0.1, patience = 10, threshold = 1e-4, thresholdMode = 'rel', cooldown = 0, minLr = 0, eps = 1e-8 } = o;
    if (mode !== 'min' && mode !== 'max') throw new ValueError(`${fn}: mode must be 'min' or 'max', got ${formatValue(mode)}`);
    if (typeof factor !== 'number' || !(factor > 0 && factor < 1)) throw new ValueError(`${fn}: factor must be a number in (0, 1), got ${formatValue(factor)}`);
    const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    if (!isCount(patience)) throw new ValueError(`${fn}: patience must be a non-negative integer, got ${formatValue(patience)}`);
    if (!isFiniteAtLeast0(threshold)) throw new ValueError(`${fn}: threshold must be a finite number >= 0, got ${formatValue(threshold)}`);
    if (thresholdMode !== 'rel' && thresholdMode !== 'abs') throw new ValueError(`${fn}: thresholdMode must be 'rel' or 'abs', got ${formatValue(thresholdMode)}`);
    if (!isCount(cooldown)) throw new ValueError(`${fn}: cooldown must be a non-negative integer, got ${formatValue(cooldown)}`);
    if (!isFiniteAtLeast0(minLr)) throw new ValueError(`${fn}: minLr must be a finite number >= 0, got ${formatValue(minLr)}`);
    if (!isFiniteAtLeast0(eps)) throw new ValueError(`${fn}: eps must be a finite number >= 0, got ${formatValue(eps)}`);
    if (!(optimizer instanceof Optimizer)) {
      throw new ArgumentError(`${fn}: optimizer must be an Optimizer (e.g. optim.SGD), got ${describe(optimizer)}`);
    }
    this.optimizer = optimizer;
    this.mode = mode;
    this.factor = factor;
    this.patience = patience;
    this.threshold = threshold;
    this.thresholdMode = thresholdMode;
    this.cooldown = cooldown;
    this.minLr = minLr;
    this.eps = eps;
    this.bestValue = this.worst();
    this.last = optimizer.lr;
  }

  private worst(): number {
    return this.mode === 'min' ? Infinity : -Infinity;
  }

  private isBetter(a: number, best: number): boolean {
    const t = this.threshold;
    if (this.mode === 'min') return this.thresholdMode === 'rel' ? a < best * (1 - t) : a < best - t;
    return this.thresholdMode === 'rel' ? a > best * (t + 1) : a > best + t;
  }

  /** Number of `step(metric)` calls so far. */
  get lastEpoch(): number {
    return this.epochCount;
  }

  /** The best metric so far (Infinity for 'min', -Infinity for 'max' before any). */
  get best(): number {
    return this.bestValue;
  }

  /** Epochs since the last improvement. */
  get numBadEpochs(): number {
    return this.badEpochs;
  }

  /**
   * Takes one epoch's metric: counts it as an improvement or a bad epoch, and reduces the lr
   * after more than patience bad epochs (outside cooldown). A NaN metric counts as a bad epoch,
   * as in PyTorch.
   *
   * @param metric - the epoch's validation metric (a loss for 'min', an accuracy for 'max').
   * @returns the learning rate now in effect.
   * @throws ArgumentError when metric is not a number (including a missing one, as when a
   *   Trainer's `scheduler` option calls `step()`); nothing changes then.
   * @example
   * ```ts
   * plateau.step(valLoss);
   * ```
   */
  step(metric: number): number {
    if (typeof metric !== 'number') {
      throw new ArgumentError(
        `ReduceLROnPlateau.step: metric must be a number (the epoch's validation loss or accuracy), got ${describe(metric)}; with a Trainer, call it from callbacks.onEpochEnd, e.g. (info) => void plateau.step(info.valAcc) with mode 'max'`,
      );
    }
    this.epochCount++;
    if (this.isBetter(metric, this.bestValue)) {
      this.bestValue = metric;
      this.badEpochs = 0;
    } else {
      this.badEpochs++;
    }
    if (this.cooldownLeft > 0) {
      this.cooldownLeft--;
      this.badEpochs = 0;
    }
    if (this.badEpochs > this.patience) {
      const old = this.optimizer.lr;
      const lr = Math.max(old * this.factor, this.minLr);
      if (old - lr > this.eps) this.optimizer.lr = lr;
      this.cooldownLeft = this.cooldown;
      this.badEpochs = 0;
    }
    this.last = this.optimizer.lr;
    return this.last;
  }

  /**
   * The learning rate after the last `step` (the optimizer's lr when created, before any).
   *
   * @example
   * ```ts
   * plateau.getLastLr();
   * ```
   */
  getLastLr(): number {
    return this.last;
  }

  /**
   * The schedule's state (see {@link ReduceLROnPlateauState}); plain JSON.
   *
   * @example
   * ```ts
   * saveCheckpoint(path, { model, optimizer: opt, scheduler: plateau });
   * ```
   */
  stateDict(): ReduceLROnPlateauState {
    const b = this.bestValue;
    const best = b === this.worst() ? null : b === Infinity ? 'Infinity' : b === -Infinity ? '-Infinity' : b;
    return { type: 'ReduceLROnPlateau', epoch: this.epochCount, mode: this.mode, best, numBadEpochs: this.badEpochs, cooldownCounter: this.cooldownLeft, lr: this.last };
  }

  /**
   * Checks a state against this schedule without changing anything.
   *
   * @param state - a state, as {@link ReduceLROnPlateau.stateDict} returns.
   * @throws ArgumentError when state is not an object; ValueError listing every problem (type,
   *   mode, epoch, best, numBadEpochs, cooldownCounter, lr).
   * @example
   * ```ts
   * plateau.validateStateDict(saved);
   * ```
   */
  validateStateDict(state: ReduceLROnPlateauState): void {
    const fn = 'ReduceLROnPlateau.loadStateDict';
    if (state === null || typeof state !== 'object') {
      throw new ArgumentError(`${fn}: state must be a schedule state dict object, got ${describe(state)}`);
    }
    const problems: string[] = [];
    const count = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    if (state.type !== 'ReduceLROnPlateau') problems.push(`state.type must be 'ReduceLROnPlateau', got ${formatValue(state.type)}`);
    if (state.mode !== this.mode) problems.push(`state.mode must be '${this.mode}' like this schedule, got ${formatValue(state.mode)}`);
    if (!count(state.epoch)) problems.push(`state.epoch must be a non-negative integer, got ${formatValue(state.epoch)}`);
    const b = state.best;
    if (!(b === null || b === 'Infinity' || b === '-Infinity' || (typeof b === 'number' && Number.isFinite(b)))) {
      problems.push(`state.best must be a finite number, null (none yet), 'Infinity' or '-Infinity', got ${formatValue(b)}`);
    }
    if (!count(state.numBadEpochs)) problems.push(`state.numBadEpochs must be a non-negative integer, got ${formatValue(state.numBadEpochs)}`);
    if (!count(state.cooldownCounter)) problems.push(`state.cooldownCounter must be a non-negative integer, got ${formatValue(state.cooldownCounter)}`);
    if (!isFiniteAtLeast0(state.lr)) problems.push(`state.lr must be a finite number >= 0, got ${formatValue(state.lr)}`);
    if (problems.length > 0) throw new ValueError(`${fn}: nothing was loaded: ${problems.join('; ')}`);
  }

  /**
   * Restores a state from {@link ReduceLROnPlateau.stateDict} and sets the optimizer's lr to the
   * saved one. Validates first; changes nothing on failure.
   *
   * @param state - a state of a ReduceLROnPlateau of the same mode.
   * @throws see {@link ReduceLROnPlateau.validateStateDict}.
   * @example
   * ```ts
   * plateau.loadStateDict(saved);
   * ```
   */
  loadStateDict(state: ReduceLROnPlateauState): void {
    this.validateStateDict(state);
    const b = state.best;
    this.bestValue = b === null ? this.worst() : b === 'Infinity' ? Infinity : b === '-Infinity' ? -Infinity : b;
    this.epochCount = state.epoch;
    this.badEpochs = state.numBadEpochs;
    this.cooldownLeft = state.cooldownCounter;
    this.last = state.lr;
    this.optimizer.lr = state.lr;
  }
}
