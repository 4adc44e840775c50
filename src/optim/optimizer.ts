/**
 * The optimizer base class: parameter validation, gradient clearing, lazily allocated
 * per-parameter state, and a state dict that validates everything before it changes anything.
 *
 * @packageDocumentation
 */
import { allocate, dtypeOf, type FloatArray } from '../dtype';
import { ArgumentError, DTypeError, ShapeError, TapegradError, ValueError } from '../errors';
import { checkOptions, optionalBoolean } from '../options';
import { describe, formatShape } from '../shape';
import { bumpVersion, Tensor } from '../tensor';
import { memoryKey } from '../kernels/wasm/runtime';

/** The value of one hyper-parameter: a number (lr, eps), a flag (nesterov) or a tuple (betas). */
export type HyperValue = number | boolean | number[];

/** An optimizer's hyper-parameters by name; every optimizer has `lr`. */
export type HyperParams = { lr: number } & Record<string, HyperValue>;

/**
 * Everything an optimizer needs to resume training bit-exactly, as {@link Optimizer.stateDict}
 * returns it and {@link Optimizer.loadStateDict} takes it.
 *
 * @example
 * ```ts
 * const state = opt.stateDict();
 * state.type;                      // 'Adam'
 * state.hyper;                     // { lr: 0.001, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, decoupledWeightDecay: false }
 * state.step;                      // 120
 * state.slots.get('0.expAvg');     // Float64Array, a copy of params[0]'s first moment
 * ```
 */
export interface OptimizerState {
  /** The optimizer class: 'SGD', 'Adam' or 'RMSProp'. */
  type: string;
  /** Current hyper-parameters (lr as the schedule left it, momentum, betas, ...). */
  hyper: Record<string, number | boolean | number[]>;
  /** Number of `step()` calls so far. */
  step: number;
  /**
   * Per-parameter buffers keyed `${paramIndex}.${slotName}` ('0.momentumBuffer', '3.expAvg'),
   * each as long as its parameter and of its dtype. A parameter that never had a gradient has no
   * slots. Copies, not live references.
   */
  slots: Map<string, Float64Array | Float32Array>;
}

/** Options of {@link Optimizer.zeroGrad}. */
export interface ZeroGradOptions {
  /** Drop each gradient (`grad = null`) instead of zeroing it in place. Default false. */
  setToNone?: boolean;
}

/** One rule of a {@link HyperSpec}: what a hyper-parameter must be, and its default if optional. */
export interface HyperRule {
  /** The expectation as the error message states it, e.g. 'a finite number >= 0'. */
  expect: string;
  /** True when `v` is acceptable. */
  ok: (v: unknown) => boolean;
  /** Value when the option is omitted; no default means the option is required. */
  default?: HyperValue;
}

/**
 * How an optimizer's hyper-parameters are checked: one rule per name, plus checks across them
 * (nesterov needs momentum), and the names of the per-parameter slots the values imply.
 */
export interface HyperSpec<H extends HyperParams> {
  /** One rule per hyper-parameter; these are exactly the names accepted. */
  rules: { readonly [K in keyof H]-?: HyperRule };
  /** Problems across hyper-parameters, as `arg must be ..., got ...` messages. Default none. */
  cross?: (h: H) => string[];
  /** The per-parameter slot names these hyper-parameters need, in a fixed order. */
  slotNames: (h: H) => readonly string[];
}

/**
 * `v` as an error message shows it: numbers and booleans plainly, the rest through `describe`.
 *
 * @param v - anything.
 * @example
 * ```ts
 * formatValue(-1); // '-1'    formatValue('a'); // '"a"'
 * ```
 */
export function formatValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return describe(v);
}

/**
 * Rule: a finite number >= 0 (lr, eps, weightDecay, momentum).
 *
 * @param defaultValue - value when omitted; none means required.
 * @example
 * ```ts
 * const rules = { lr: nonNegative(), eps: nonNegative(1e-8) };
 * ```
 */
export function nonNegative(defaultValue?: number): HyperRule {
  return {
    expect: 'a finite number >= 0',
    ok: (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0,
    ...(defaultValue === undefined ? {} : { default: defaultValue }),
  };
}

/**
 * Rule: a number in [0, 1] (dampening, alpha).
 *
 * @param defaultValue - value when omitted.
 * @example
 * ```ts
 * const rules = { alpha: unitInterval(0.99) };
 * ```
 */
export function unitInterval(defaultValue: number): HyperRule {
  return { expect: 'a number in [0, 1]', ok: (v) => typeof v === 'number' && v >= 0 && v <= 1, default: defaultValue };
}

/**
 * Rule: a boolean.
 *
 * @param defaultValue - value when omitted.
 * @example
 * ```ts
 * const rules = { nesterov: flag(false) };
 * ```
 */
export function flag(defaultValue: boolean): HyperRule {
  return { expect: 'a boolean', ok: (v) => typeof v === 'boolean', default: defaultValue };
}

interface Problem {
  kind: new (message: string) => TapegradError;
  message: string;
}

const LR_RULE = nonNegative();

/**
 * Checks `given` against `spec`. With `useDefaults`, omitted (undefined) options take their
 * defaults; without, every name is required (a state dict must be complete). Arrays are copied.
 * Only own keys count, on both sides: a name inherited from `Object.prototype` (`constructor`,
 * `toString`, an own `__proto__` key) is unknown, and no value is read from a prototype chain.
 */
function resolveHyper<H extends HyperParams>(
  spec: HyperSpec<H>,
  given: object,
  useDefaults: boolean,
  prefix: string,
): { hyper: H; problems: string[] } {
  const problems: string[] = [];
  const rules = spec.rules as Record<string, HyperRule>;
  const names = Object.keys(rules);
  const own = (key: string): unknown => {
    const d = Object.getOwnPropertyDescriptor(given, key);
    return d === undefined ? undefined : 'value' in d ? d.value : (given as Record<string, unknown>)[key];
  };
  for (const key of Reflect.ownKeys(given)) {
    if (typeof key !== 'string' || !Object.prototype.hasOwnProperty.call(rules, key)) {
      const value = typeof key === 'string' ? own(key) : (given as Record<symbol, unknown>)[key];
      problems.push(`${prefix}${String(key)} is not a hyper-parameter of this optimizer (expected one of ${names.join(', ')}), got ${formatValue(value)}`);
    }
  }
  const out: Record<string, HyperValue> = {};
  for (const key of names) {
    const rule = rules[key];
    let v = own(key);
    if (v === undefined && useDefaults && rule.default !== undefined) v = rule.default;
    if (!rule.ok(v)) {
      problems.push(`${prefix}${key} must be ${rule.expect}, got ${formatValue(v)}`);
      continue;
    }
    out[key] = Array.isArray(v) ? [...(v as number[])] : (v as HyperValue);
  }
  const hyper = out as H;
  if (problems.length === 0 && spec.cross) for (const p of spec.cross(hyper)) problems.push(prefix + p);
  return { hyper, problems };
}

const SLOT_KEY = /^(0|[1-9][0-9]*)\.([A-Za-z_][A-Za-z0-9_]*)$/;

/**
 * Base class of the optimizers: holds the parameters and their per-parameter state, clears
 * gradients, and updates every parameter that has a gradient in place, in `param.data` (the
 * model holds these same tensors).
 *
 * A subclass passes its name, its options checked against a {@link HyperSpec}, and implements
 * {@link Optimizer.update}, the plain typed-array loop over one parameter.
 *
 * @example
 * ```ts
 * const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
 * for (const [x, y] of batches) {
 *   opt.zeroGrad();
 *   nn.softmaxCrossEntropy(model.forward(x), y).backward();
 *   opt.step();
 * }
 * ```
 */
export abstract class Optimizer<H extends HyperParams = HyperParams> {
  /** The optimizer class name, as stored in {@link OptimizerState.type}: 'SGD', 'Adam', 'RMSProp'. */
  readonly type: string;
  /** The parameters, in the order given; slot keys index into this. */
  readonly params: readonly Tensor[];
  /** The current hyper-parameters, validated. Subclasses read them in `update`. */
  protected hyper: H;
  // Stored without H so that Optimizer<AdamHyper> is assignable to Optimizer (H stays covariant).
  private readonly spec: HyperSpec<HyperParams>;
  private stepsTaken = 0;
  /** Per parameter: its slot buffers in `spec.slotNames` order, or null before its first gradient. */
  private readonly slots: (FloatArray[] | null)[];

  /**
   * Checks the parameters and options; allocates nothing (state is allocated on the first step).
   *
   * @param type - the class name, for messages and {@link OptimizerState.type}.
   * @param params - the tensors to optimize: at least one, each a leaf Tensor with
   *   `requiresGrad: true`, none repeated, and no two whose data share memory (the same
   *   array, or overlapping views of one buffer).
   * @param opts - the options; omitted ones take the defaults in `spec`.
   * @param spec - the rules the options must follow.
   * @throws ArgumentError when params is not iterable, holds a non-Tensor or two tensors whose
   *   data share memory, or opts is not an object; ValueError when params is empty, holds a
   *   tensor that does not require grad, is not a leaf, or is repeated, or when a
   *   hyper-parameter is out of range or unknown.
   */
  protected constructor(type: string, params: Iterable<Tensor>, opts: object, spec: HyperSpec<H>) {
    this.type = type;
    this.spec = spec as unknown as HyperSpec<HyperParams>;
    if (opts === null || typeof opts !== 'object' || Array.isArray(opts) || ArrayBuffer.isView(opts)) {
      throw new ArgumentError(`${type}: options must be an object, got ${describe(opts)}`);
    }
    const { hyper, problems } = resolveHyper(this.spec, opts, true, '');
    if (problems.length > 0) throw new ValueError(`${type}: ${problems.join('; ')}`);
    this.hyper = hyper as H;
    this.params = Object.freeze(checkParams(type, params));
    this.slots = new Array<FloatArray[] | null>(this.params.length).fill(null);
  }

  /** Learning rate; schedules change it between steps. Must be a finite number >= 0. */
  get lr(): number {
    return this.hyper.lr;
  }

  set lr(value: number) {
    if (!LR_RULE.ok(value)) throw new ValueError(`${this.type}: lr must be ${LR_RULE.expect}, got ${formatValue(value)}`);
    (this.hyper as HyperParams).lr = value;
  }

  /** Number of `step()` calls so far (restored by `loadStateDict`). */
  get stepCount(): number {
    return this.stepsTaken;
  }

  /**
   * Clears every parameter's gradient before the next backward pass. Zeroing in place counts as
   * an in-place change of each gradient (its {@link Tensor.version} goes up).
   *
   * @param opts - setToNone (default false): drop each gradient (`grad = null`, so `step()` skips the
   *   parameter until it gets a new one) instead of zeroing its buffer in place (no allocation).
   * @throws ArgumentError when opts is not an object or setToNone not a boolean; ValueError on an
   *   unknown option.
   * @example
   * ```ts
   * opt.zeroGrad(); loss.backward(); opt.step();
   * ```
   */
  zeroGrad(opts?: ZeroGradOptions): void {
    const fn = `${this.type}.zeroGrad`;
    const o = checkOptions(fn, opts, ['setToNone']);
    const setToNone = optionalBoolean(fn, 'opts.setToNone', o.setToNone, false);
    for (const p of this.params) {
      if (p.grad === null) continue;
      if (setToNone) {
        p.grad = null;
      } else {
        p.grad.data.fill(0);
        bumpVersion(p.grad);
      }
    }
  }

  /**
   * Updates, in place, every parameter whose gradient is not null; parameters with a null
   * gradient keep their values and state. The step count advances by one either way. Each
   * updated parameter's {@link Tensor.version} goes up, so a backward pass through a graph that
   * saved its old values throws instead of using the new ones.
   *
   * @throws ArgumentError, ShapeError or DTypeError, before anything changes, when a gradient is
   *   not a Tensor, does not have its parameter's number of elements, or has another dtype.
   * @example
   * ```ts
   * loss.backward(); opt.step();
   * ```
   */
  step(): void {
    const params = this.params;
    for (let i = 0; i < params.length; i++) {
      const g = params[i].grad;
      if (g !== null) this.checkGrad(i, params[i], g);
    }
    this.stepsTaken++;
    const names = this.spec.slotNames(this.hyper);
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      if (p.grad === null) continue;
      let bufs = this.slots[i];
      const fresh = bufs === null;
      if (bufs === null) {
        const dt = dtypeOf(p.data);
        bufs = names.map(() => allocate(dt, p.data.length));
        this.slots[i] = bufs;
      }
      this.update(p.data, p.grad.data, bufs, fresh);
      bumpVersion(p);
    }
  }

  /**
   * Updates one parameter in place from its gradient: the optimizer's algorithm, as a plain loop.
   *
   * @param p - the parameter's data (written).
   * @param g - its gradient's data, same length and dtype (read only).
   * @param slots - its state buffers in `spec.slotNames` order, same length and dtype as `p`.
   * @param fresh - true on this parameter's first update: the slots were just allocated, zeroed.
   */
  protected abstract update(p: FloatArray, g: FloatArray, slots: FloatArray[], fresh: boolean): void;

  /**
   * A snapshot of the optimizer's state: hyper-parameters, step count, and copies of every
   * per-parameter buffer.
   *
   * @example
   * ```ts
   * const saved = opt.stateDict();
   * // ... later, over the same parameters in the same order:
   * opt2.loadStateDict(saved);
   * ```
   */
  stateDict(): OptimizerState {
    const hyper: Record<string, HyperValue> = {};
    for (const [k, v] of Object.entries(this.hyper)) hyper[k] = Array.isArray(v) ? [...v] : v;
    const slots = new Map<string, FloatArray>();
    const names = this.spec.slotNames(this.hyper);
    for (let i = 0; i < this.slots.length; i++) {
      const bufs = this.slots[i];
      if (bufs === null) continue;
      for (let k = 0; k < names.length; k++) slots.set(`${i}.${names[k]}`, bufs[k].slice());
    }
    return { type: this.type, hyper, step: this.stepsTaken, slots };
  }

  /**
   * Checks a state dict against this optimizer without changing anything: the type, the step
   * count, every hyper-parameter, and every slot (key, parameter index, length, dtype, and that
   * each parameter has all of its slots or none).
   *
   * @param state - a state dict, as {@link Optimizer.stateDict} returns.
   * @throws ArgumentError when state is not an object; otherwise, listing every problem found,
   *   the error class of the first one: ValueError (type, step, hyper-parameters, slot keys),
   *   ShapeError (slot length) or DTypeError (slot dtype).
   * @example
   * ```ts
   * opt.validateStateDict(saved); // throws if loadStateDict(saved) would
   * ```
   */
  validateStateDict(state: OptimizerState): void {
    this.checkState(state);
  }

  /**
   * Restores a state dict from {@link Optimizer.stateDict}, so training resumes bit-exactly.
   * Everything is validated first (see {@link Optimizer.validateStateDict}); on failure nothing
   * changes. On success the hyper-parameters, step count and buffers are copied in; a parameter
   * without slots in the state starts afresh on its next gradient.
   *
   * @param state - a state dict of an optimizer of the same type over parameters of the same
   *   sizes and dtypes, in the same order.
   * @throws see {@link Optimizer.validateStateDict}.
   * @example
   * ```ts
   * const opt = new optim.Adam(model.parameters());
   * opt.loadStateDict(saved);
   * ```
   */
  loadStateDict(state: OptimizerState): void {
    const { hyper, perParam } = this.checkState(state);
    const names = this.spec.slotNames(hyper);
    this.hyper = hyper as H;
    this.stepsTaken = state.step;
    for (let i = 0; i < this.params.length; i++) {
      const src = perParam[i];
      if (src === undefined) {
        this.slots[i] = null;
        continue;
      }
      let bufs = this.slots[i];
      if (bufs === null || bufs.length !== names.length) {
        const dt = dtypeOf(this.params[i].data);
        bufs = names.map(() => allocate(dt, this.params[i].data.length));
        this.slots[i] = bufs;
      }
      for (let k = 0; k < names.length; k++) bufs[k].set(src.get(names[k]) as FloatArray);
    }
  }

  private checkGrad(i: number, p: Tensor, g: unknown): void {
    const fn = `${this.type}.step`;
    if (!(g instanceof Tensor)) {
      throw new ArgumentError(`${fn}: params[${i}].grad must be a Tensor or null, got ${describe(g)}`);
    }
    if (g.data.length !== p.data.length) {
      throw new ShapeError(
        `${fn}: params[${i}].grad must have ${p.data.length} elements like params[${i}] ${formatShape(p.shape)}, got ${formatShape(g.shape)}`,
      );
    }
    if (dtypeOf(g.data) !== dtypeOf(p.data)) {
      throw new DTypeError(`${fn}: params[${i}].grad must have dtype '${dtypeOf(p.data)}' like params[${i}], got '${dtypeOf(g.data)}'`);
    }
  }

  /** Validates `state`; returns the resolved hyper-parameters and the slots grouped by parameter. */
  private checkState(state: OptimizerState): { hyper: HyperParams; perParam: (Map<string, FloatArray> | undefined)[] } {
    const fn = `${this.type}.loadStateDict`;
    if (state === null || typeof state !== 'object') {
      throw new ArgumentError(`${fn}: state must be an optimizer state dict object, got ${describe(state)}`);
    }
    const problems: Problem[] = [];
    const bad = (kind: Problem['kind'], message: string): void => {
      problems.push({ kind, message });
    };

    if (state.type !== this.type) bad(ValueError, `state.type must be '${this.type}', got ${formatValue(state.type)}`);
    if (!Number.isSafeInteger(state.step) || state.step < 0) {
      bad(ValueError, `state.step must be a non-negative integer, got ${formatValue(state.step)}`);
    }

    let hyper: HyperParams | null = null;
    const h: unknown = state.hyper;
    if (h === null || typeof h !== 'object' || Array.isArray(h)) {
      bad(ValueError, `state.hyper must be an object of hyper-parameters, got ${describe(h)}`);
    } else {
      const r = resolveHyper(this.spec, h, false, 'state.hyper.');
      for (const p of r.problems) bad(ValueError, p);
      if (r.problems.length === 0) hyper = r.hyper;
    }

    const perParam: (Map<string, FloatArray> | undefined)[] = new Array(this.params.length);
    const slotsIn: unknown = state.slots;
    if (!(slotsIn instanceof Map)) {
      bad(ValueError, `state.slots must be a Map from '<paramIndex>.<slotName>' to a typed array, got ${describe(slotsIn)}`);
    } else {
      const names = hyper === null ? null : this.spec.slotNames(hyper);
      const n = this.params.length;
      // Slot names seen per parameter, valid or not, so a bad slot is not also reported missing.
      const present: string[][] = [];
      for (const [key, value] of slotsIn as Map<unknown, unknown>) {
        const what = `state.slots '${String(key)}'`;
        const m = typeof key === 'string' ? SLOT_KEY.exec(key) : null;
        if (m === null) {
          bad(ValueError, `${what}: key must look like '<paramIndex>.<slotName>', e.g. '0.${names?.[0] ?? 'expAvg'}'`);
          continue;
        }
        const idx = Number(m[1]);
        const name = m[2];
        if (idx >= n) {
          bad(ValueError, `${what} refers to params[${idx}], but this optimizer has ${n} parameter${n === 1 ? '' : 's'} (indices 0..${n - 1})`);
          continue;
        }
        if (names !== null && !names.includes(name)) {
          bad(
            ValueError,
            `${what}: slot name must be ${names.length === 0 ? 'absent (these hyper-parameters keep no per-parameter state)' : `one of ${names.map((s) => `'${s}'`).join(', ')}`}, got '${name}'`,
          );
          continue;
        }
        const p = this.params[idx];
        (present[idx] ??= []).push(name);
        if (!(value instanceof Float64Array) && !(value instanceof Float32Array)) {
          bad(DTypeError, `${what} must be a Float64Array or Float32Array, got ${describe(value)}`);
          continue;
        }
        let ok = true;
        if (value.length !== p.data.length) {
          bad(ShapeError, `${what} must have length ${p.data.length} like params[${idx}] ${formatShape(p.shape)}, got ${value.length}`);
          ok = false;
        }
        if (dtypeOf(value) !== dtypeOf(p.data)) {
          bad(DTypeError, `${what} must have dtype '${dtypeOf(p.data)}' like params[${idx}], got '${dtypeOf(value)}'`);
          ok = false;
        }
        if (ok) {
          let group = perParam[idx];
          if (group === undefined) perParam[idx] = group = new Map();
          group.set(name, value);
        }
      }
      if (names !== null) {
        for (let i = 0; i < n; i++) {
          const has = present[i];
          if (has === undefined) continue;
          const missing = names.filter((s) => !has.includes(s));
          if (missing.length > 0) {
            bad(
              ValueError,
              `state.slots must hold all of params[${i}]'s slots or none: has ${has.map((s) => `'${i}.${s}'`).join(', ')}, missing ${missing.map((s) => `'${i}.${s}'`).join(', ')}`,
            );
          }
        }
      }
    }

    if (problems.length > 0 || hyper === null) {
      const count = problems.length === 1 ? '' : ` (${problems.length} problems)`;
      throw new problems[0].kind(`${fn}: nothing was loaded${count}: ${problems.map((p) => p.message).join('; ')}`);
    }
    return { hyper, perParam };
  }
}

function checkParams(fn: string, params: Iterable<Tensor>): Tensor[] {
  if (params === null || typeof params !== 'object' || typeof (params as Partial<Iterable<Tensor>>)[Symbol.iterator] !== 'function') {
    throw new ArgumentError(`${fn}: params must be an iterable of Tensors (e.g. model.parameters()), got ${describe(params)}`);
  }
  const list = [...params];
  if (list.length === 0) throw new ValueError(`${fn}: params must hold at least one Tensor, got an empty iterable`);
  const seen = new Map<Tensor, number>();
  /** Per backing buffer, the byte ranges of the parameters seen so far in it. */
  const ranges = new Map<object, { start: number; end: number; i: number }[]>();
  for (let i = 0; i < list.length; i++) {
    const p: unknown = list[i];
    if (!(p instanceof Tensor)) throw new ArgumentError(`${fn}: params[${i}] must be a Tensor, got ${describe(p)}`);
    const desc = `${formatShape(p.shape)} ${p.dtype} tensor`;
    if (!p.requiresGrad) {
      throw new ValueError(`${fn}: params[${i}] must require grad (create it with { requiresGrad: true }), got a ${desc} with requiresGrad false`);
    }
    if (!p.isLeaf) {
      throw new ValueError(`${fn}: params[${i}] must be a leaf tensor (created directly, not the output of an op), got a ${desc} made by an op`);
    }
    const j = seen.get(p);
    if (j !== undefined) throw new ValueError(`${fn}: params[${i}] must appear once, got the same tensor as params[${j}]`);
    seen.set(p, i);
    // Two parameters whose data share memory would be updated twice per step, each update
    // reading values the other just wrote: refuse any overlap, not only the same array.
    const start = p.data.byteOffset;
    const end = start + p.data.byteLength;
    if (end === start) continue; // an empty tensor shares no element with anything
    const inBuffer = ranges.get(memoryKey(p.data));
    const k = inBuffer?.find((r) => r.start < end && start < r.end);
    if (k !== undefined) {
      const same = k.start === start && k.end === end;
      throw new ArgumentError(
        `${fn}: params[${i}] must have memory of its own (it would be updated twice per step), got a ${desc} whose data ` +
          `${same ? 'is the same memory as' : 'overlaps'} the data of params[${k.i}] ` +
          `(bytes ${start}..${end} and ${k.start}..${k.end} of one buffer)`,
      );
    }
    if (inBuffer === undefined) ranges.set(memoryKey(p.data), [{ start, end, i }]);
    else inBuffer.push({ start, end, i });
  }
  return list;
}
