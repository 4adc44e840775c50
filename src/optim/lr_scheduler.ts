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
  /** The schedule class: 'StepLR', 'CosineAnnealingLR' or 'ExponentialLR'. */
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
    return this.apply();
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
    this.apply();
  }

  private apply(): number {
    const lr = this.epochCount === 0 ? this.base : this.lrAt(this.epochCount, this.base);
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
