/**
 * Trustworthy checkpoints as bytes: a model's parameters and buffers, an optimizer's and a
 * schedule's state, the PRNG state and free-form metadata in one safetensors byte string,
 * restored only after every byte and every key, shape and dtype has been checked. This module
 * has no Node.js imports (the browser gets {@link encodeCheckpoint} and
 * {@link decodeCheckpoint}); the file functions in checkpoint.ts build on it.
 *
 * File layout (format `tapegrad-checkpoint/1`), a plain safetensors file:
 *
 * - Tensors: every model parameter and buffer under its dotted name (`0.weight`,
 *   `1.runningMean`, ...), in its own dtype (F64 or F32); each optimizer slot under
 *   `optim.<paramIndex>.<slotName>` (`optim.0.momentumBuffer`, `optim.3.expAvgSq`), where
 *   `paramIndex` indexes `optimizer.params`.
 * - `__metadata__` (string → string):
 *   - `tapegrad.format`: `tapegrad-checkpoint/1`
 *   - `tapegrad.model`: JSON `{ "class": "Sequential", "dtype": "float64" | "float32" | "mixed" }`
 *   - `tapegrad.optimizer` (when saved): JSON `{ "type", "hyper", "step", "slots": [slot keys] }`;
 *     the slot keys (`0.momentumBuffer`) name the tensors `optim.<key>`.
 *   - `tapegrad.scheduler` (when saved): JSON of the schedule's `stateDict()`.
 *   - `tapegrad.rng` (unless `includeRngState: false`): JSON `{ "words": [4 int32], "spare": "<16 hex
 *     digits>" }`, the PRNG's xoroshiro128+ state and its cached normal as raw float64 bits.
 *   - `tapegrad.trainer` (when a `trainer` is saved): JSON `{ "epoch", "bestValAcc" (null for
 *     none), "bestEpoch", "best": boolean, "last": boolean }`; with `best`, the best-validation
 *     parameters and buffers are the tensors `trainer.best.<model key>`, and with `last`, the
 *     ones training had reached when `restoreBest` swapped the best ones in are
 *     `trainer.last.<model key>` (see `TrainerState`).
 *   - `tapegrad.meta`: JSON of the user's `meta` (`{}` by default).
 *   - `tapegrad.checksum`: `sha256:<hex>` over every tensor (name, dtype, shape, bytes) and every
 *     other metadata entry, so a flipped bit anywhere that still decodes is caught as well.
 *
 * Every JSON value (meta, schedule state) may nest at most 64 (`CHECKPOINT_MAX_JSON_DEPTH`)
 * levels deep, on saving and on loading. Files are bounded only by the disk: they are written,
 * read and hashed in pieces, never as one buffer (see checkpoint.ts); bytes are one buffer.
 *
 * @packageDocumentation
 */
import type { FloatArray } from './dtype';
import { CheckpointError, TapegradError } from './errors';
import { ioChunkBytes } from './io/chunk';
import { decodeSafetensors, encodeSafetensors, type DecodedSafetensors, type RawData, type RawTensor } from './io/safetensors';
import { Module } from './nn/module';
import { Optimizer, type OptimizerState } from './optim/optimizer';
import { checkOptions } from './options';
import { platform } from './platform';
import { getRngState, rngStateProblem, setRngState } from './random';
import { describe, formatShape, shapesEqual } from './shape';
import { bumpVersion, Tensor } from './tensor';
import { Trainer, type TrainerState } from './trainer';

/**
 * The format version written into every checkpoint and required when loading.
 *
 * @example
 * ```ts
 * readCheckpointInfo(path).format === CHECKPOINT_FORMAT; // 'tapegrad-checkpoint/1'
 * ```
 */
export const CHECKPOINT_FORMAT = 'tapegrad-checkpoint/1';

/**
 * Prefix of the tensor names holding optimizer slots: `optim.<paramIndex>.<slotName>`.
 *
 * @example
 * ```ts
 * `${OPTIMIZER_SLOT_PREFIX}0.momentumBuffer`; // 'optim.0.momentumBuffer', params[0]'s SGD momentum
 * ```
 */
export const OPTIMIZER_SLOT_PREFIX = 'optim.';

/** Prefix of the tensors holding a trainer's best and last states: `trainer.best.<key>`, `trainer.last.<key>`. */
const TRAINER_PREFIX = 'trainer.';
const TRAINER_BEST = `${TRAINER_PREFIX}best.`;
const TRAINER_LAST = `${TRAINER_PREFIX}last.`;

/**
 * The deepest nesting a JSON value in a checkpoint (meta, a schedule's state) may have, on
 * saving and on loading: deeper values are refused with a CheckpointError rather than
 * overflowing the stack.
 *
 * @example
 * ```ts
 * saveCheckpoint(path, { model, meta: { a: { b: { c: 1 } } } }); // depth 3: fine
 * ```
 */
export const CHECKPOINT_MAX_JSON_DEPTH = 64;

const KEY = {
  format: 'tapegrad.format',
  model: 'tapegrad.model',
  optimizer: 'tapegrad.optimizer',
  scheduler: 'tapegrad.scheduler',
  trainer: 'tapegrad.trainer',
  rng: 'tapegrad.rng',
  meta: 'tapegrad.meta',
  checksum: 'tapegrad.checksum',
} as const;

const KNOWN_META_KEYS: ReadonlySet<string> = new Set(Object.values(KEY));

/**
 * Any optimizer, whatever its hyper-parameter type (SGD, Adam, RMSProp, ...).
 *
 * @example
 * ```ts
 * const opt: AnyOptimizer = new optim.Adam(model.parameters());
 * ```
 */
export type AnyOptimizer = Optimizer;

/**
 * A JSON value that survives `JSON.stringify` / `JSON.parse` unchanged (numbers must be finite).
 *
 * @example
 * ```ts
 * const meta: Record<string, JSONValue> = { epoch: 3, valAcc: 0.97, config: { lr: 0.1, layers: [64, 64] } };
 * ```
 */
export type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue };

/**
 * Something with a state to checkpoint, such as an `optim.LRScheduler`: `stateDict()` must return
 * a JSON-serialisable object, and `loadStateDict` must accept it back. When it also has
 * `validateStateDict(state)` (throwing on a bad state), loading calls it before changing anything.
 *
 * @example
 * ```ts
 * const sched: CheckpointScheduler = new optim.StepLR(opt, { stepSize: 30 });
 * ```
 */
export interface CheckpointScheduler {
  /** The state to save: a JSON-serialisable object. */
  stateDict(): object;
  /** Restores a state returned by `stateDict()`. */
  loadStateDict(state: object): void;
}

/**
 * What {@link encodeCheckpoint} (and `saveCheckpoint`) stores.
 *
 * @example
 * ```ts
 * const contents: CheckpointContents = { model, optimizer: opt, scheduler: sched, meta: { epoch: 3 } };
 * ```
 */
export interface CheckpointContents {
  /** The model: every parameter and buffer is saved under its dotted name. Required. */
  model: Module;
  /** The optimizer over (typically) `model.parameters()`: type, hyper-parameters, step count, slots. */
  optimizer?: AnyOptimizer;
  /** A learning-rate schedule (or anything with JSON-serialisable `stateDict()`/`loadStateDict()`). */
  scheduler?: CheckpointScheduler;
  /** Free-form JSON-serialisable metadata (epoch, metrics, config); returned by {@link decodeCheckpoint} (and `loadCheckpoint`). Default `{}`. */
  meta?: Record<string, JSONValue>;
  /** Save the global PRNG state (see `getRngState`), so a resumed run draws the same numbers. Default true. */
  includeRngState?: boolean;
  /**
   * The Trainer training `model`: its epoch, best score and best (and last) weights are saved, so
   * that loading them into a fresh Trainer resumes the run bit-exactly, with any `restoreBest`.
   */
  trainer?: Trainer;
}

const CONTENTS_KEYS = ['model', 'optimizer', 'scheduler', 'meta', 'includeRngState', 'trainer'] as const;
const TARGET_KEYS = ['model', 'optimizer', 'scheduler', 'restoreRngState', 'trainer'] as const;

/**
 * What {@link decodeCheckpoint} (and `loadCheckpoint`) restores into.
 *
 * @example
 * ```ts
 * const target: CheckpointTarget = { model, optimizer: opt, restoreRngState: false };
 * ```
 */
export interface CheckpointTarget {
  /** Receives the parameters and buffers; its keys, shapes and dtypes must match the file exactly. Required. */
  model: Module;
  /** Receives the optimizer state; the file must hold a state of the same optimizer type over same-sized parameters. */
  optimizer?: AnyOptimizer;
  /** Receives the schedule state; the file must hold one. */
  scheduler?: CheckpointScheduler;
  /**
   * Restore the global PRNG state. Default: restore it when the file has one. `true` requires the
   * file to have one; `false` leaves the PRNG alone.
   */
  restoreRngState?: boolean;
  /** Receives the trainer state (epoch, best score, best and last weights); the file must hold one. Its model must be `model`. */
  trainer?: Trainer;
}

/**
 * One tensor as `readCheckpointInfo` lists it.
 *
 * @example
 * ```ts
 * readCheckpointInfo(path).keys[0]; // { name: '0.bias', dtype: 'float64', shape: [256] }
 * ```
 */
export interface CheckpointTensorInfo {
  /** Dotted name (`0.weight`). */
  name: string;
  /** 'float64' or 'float32' (any other dtype makes the file invalid for loading). */
  dtype: string;
  /** Dimensions. */
  shape: number[];
}

/**
 * What `readCheckpointInfo` returns.
 *
 * @example
 * ```ts
 * const { modelClass, optimizer, meta }: CheckpointInfo = readCheckpointInfo(path);
 * ```
 */
export interface CheckpointInfo {
  /** The format version, `tapegrad-checkpoint/1`. */
  format: string;
  /** The saved model's class name, e.g. 'Sequential'. */
  modelClass: string;
  /** The model's parameter dtype: 'float64', 'float32' or 'mixed'. */
  dtype: string;
  /** The model's parameters and buffers, in file order. */
  keys: CheckpointTensorInfo[];
  /** The optimizer's type, hyper-parameters, step count and slot keys, or null when none was saved. */
  optimizer: { type: string; hyper: Record<string, unknown>; step: number; slots: string[] } | null;
  /** The schedule's saved state, or null. */
  scheduler: Record<string, unknown> | null;
  /** True when the PRNG state was saved. */
  hasRngState: boolean;
  /** The saved trainer's epoch, best score and epoch, and which weight sets are stored; null when no trainer was saved. */
  trainer: { epoch: number; bestValAcc: number; bestEpoch: number; hasBestState: boolean; hasLastState: boolean } | null;
  /** The user's metadata. */
  meta: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Saving
// ---------------------------------------------------------------------------------------------

/**
 * Validates `contents` and lays out the checkpoint: the tensors and the metadata (checksum
 * included) to encode as safetensors. Reads the model, optimizer, schedule and PRNG without
 * changing any of them.
 *
 * @internal
 */
export function prepareCheckpoint(fn: string, contents: CheckpointContents): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  if (contents === undefined) throw new CheckpointError(`${fn}: contents must be an object { model, optimizer?, scheduler?, meta? }, got undefined`);
  const { model, optimizer, scheduler, meta, includeRngState, trainer } = checkOptions(fn, contents, CONTENTS_KEYS, 'contents') as unknown as CheckpointContents;
  if (!(model instanceof Module)) throw new CheckpointError(`${fn}: contents.model must be an nn.Module, got ${describe(model)}`);
  if (optimizer !== undefined && !(optimizer instanceof Optimizer)) {
    throw new CheckpointError(`${fn}: contents.optimizer must be an optim.Optimizer or undefined, got ${describe(optimizer)}`);
  }
  if (scheduler !== undefined && !isScheduler(scheduler)) {
    throw new CheckpointError(`${fn}: contents.scheduler must have stateDict() and loadStateDict(), got ${describe(scheduler)}`);
  }
  if (includeRngState !== undefined && typeof includeRngState !== 'boolean') {
    throw new CheckpointError(`${fn}: contents.includeRngState must be a boolean, got ${describe(includeRngState)}`);
  }
  if (trainer !== undefined) {
    if (!(trainer instanceof Trainer)) throw new CheckpointError(`${fn}: contents.trainer must be a Trainer or undefined, got ${describe(trainer)}`);
    if (trainer.model !== model) throw new CheckpointError(`${fn}: contents.trainer must train contents.model, got a Trainer of another model`);
  }
  const userMeta = meta === undefined ? {} : meta;
  if (userMeta === null || typeof userMeta !== 'object' || Array.isArray(userMeta)) {
    throw new CheckpointError(`${fn}: contents.meta must be a plain object of JSON values, got ${describe(userMeta)}`);
  }
  const metaProblem = jsonProblem(userMeta, 'meta');
  if (metaProblem !== null) throw new CheckpointError(`${fn}: contents.${metaProblem}`);

  const tensors = new Map<string, RawTensor>();
  const dtypes = new Set<string>();
  for (const [name, t] of model.stateDict()) {
    const data = t.data as unknown;
    if (!(data instanceof Float64Array) && !(data instanceof Float32Array)) {
      throw new CheckpointError(`${fn}: model tensor '${name}' must hold a Float64Array or Float32Array, got ${describe(data)}`);
    }
    dtypes.add(t.dtype);
    tensors.set(name, { dtype: t.dtype, shape: [...t.shape], data });
  }
  const metadata: Record<string, string> = {
    [KEY.format]: CHECKPOINT_FORMAT,
    [KEY.model]: JSON.stringify({
      class: model.constructor.name,
      dtype: dtypes.size === 1 ? [...dtypes][0] : dtypes.size === 0 ? 'float64' : 'mixed',
    }),
    [KEY.meta]: JSON.stringify(userMeta),
  };

  if (optimizer !== undefined) {
    const state = optimizer.stateDict();
    const slotKeys: string[] = [];
    for (const [key, data] of state.slots) {
      const name = OPTIMIZER_SLOT_PREFIX + key;
      if (tensors.has(name)) {
        throw new CheckpointError(
          `${fn}: model key '${name}' collides with the optimizer slot of the same name; rename the submodule, got a model with a '${name}' entry`,
        );
      }
      slotKeys.push(key);
      tensors.set(name, { dtype: data instanceof Float32Array ? 'float32' : 'float64', shape: [data.length], data });
    }
    const record = { type: state.type, hyper: state.hyper, step: state.step, slots: slotKeys };
    const problem = jsonProblem(record, 'optimizer state');
    if (problem !== null) throw new CheckpointError(`${fn}: ${problem}`);
    metadata[KEY.optimizer] = JSON.stringify(record);
  }
  if (scheduler !== undefined) {
    const state: unknown = scheduler.stateDict();
    if (state === null || typeof state !== 'object' || Array.isArray(state)) {
      throw new CheckpointError(`${fn}: contents.scheduler.stateDict() must return a plain object, got ${describe(state)}`);
    }
    const problem = jsonProblem(state, 'scheduler.stateDict()');
    if (problem !== null) throw new CheckpointError(`${fn}: contents.${problem}`);
    metadata[KEY.scheduler] = JSON.stringify(state);
  }
  if (includeRngState !== false) {
    const s = getRngState();
    metadata[KEY.rng] = JSON.stringify({ words: s.slice(0, 4), spare: float64ToHex(s[4]) });
  }
  if (trainer !== undefined) {
    const st = trainer.stateDict();
    for (const [prefix, state] of [[TRAINER_BEST, st.bestState], [TRAINER_LAST, st.lastState]] as const) {
      if (state === null) continue;
      for (const [k, t] of state) {
        const name = prefix + k;
        if (tensors.has(name)) {
          throw new CheckpointError(
            `${fn}: model key '${name}' collides with the trainer's saved state of the same name; rename the submodule, got a model with a '${name}' entry`,
          );
        }
        tensors.set(name, { dtype: t.dtype, shape: [...t.shape], data: t.data });
      }
    }
    for (const k of model.stateDict().keys()) {
      if (k.startsWith(TRAINER_PREFIX)) {
        throw new CheckpointError(`${fn}: model keys must not start with '${TRAINER_PREFIX}' when a trainer is saved (its state lives there), got '${k}'; rename the submodule`);
      }
    }
    metadata[KEY.trainer] = JSON.stringify({
      epoch: st.epoch,
      bestValAcc: Number.isNaN(st.bestValAcc) ? null : st.bestValAcc,
      bestEpoch: st.bestEpoch,
      best: st.bestState !== null,
      last: st.lastState !== null,
    });
  }
  metadata[KEY.checksum] = checksum(tensors, metadata);
  return { tensors, metadata };
}

// ---------------------------------------------------------------------------------------------
// Reading and validating
// ---------------------------------------------------------------------------------------------

/** A checkpoint decoded and checked for its own consistency. @internal */
export interface Parsed {
  modelClass: string;
  dtype: string;
  model: Map<string, RawTensor>;
  optimizer: { state: OptimizerState; slotKeys: string[] } | null;
  scheduler: Record<string, unknown> | null;
  trainer: TrainerState | null;
  rng: number[] | null;
  meta: Record<string, unknown>;
}

/**
 * Checks a decoded checkpoint's own consistency (not yet against any target): format, checksum,
 * metadata, optimizer slots, trainer and PRNG state. `at` names the source in messages.
 *
 * @internal
 */
export function parseCheckpoint(fn: string, at: string, decoded: DecodedSafetensors): Parsed {
  const { tensors, metadata } = decoded;
  const bad = (what: string): never => {
    throw new CheckpointError(`${fn}: ${at} is not a valid ${CHECKPOINT_FORMAT} file: ${what}`);
  };
  const own = (k: string): string | undefined => (Object.prototype.hasOwnProperty.call(metadata, k) ? metadata[k] : undefined);
  const format = own(KEY.format);
  if (format !== CHECKPOINT_FORMAT) {
    bad(`metadata '${KEY.format}' must be '${CHECKPOINT_FORMAT}', got ${format === undefined ? 'none' : JSON.stringify(format).slice(0, 80)}`);
  }
  const sum = own(KEY.checksum);
  if (sum === undefined) bad(`metadata '${KEY.checksum}' must be present, got none`);
  const expected = checksum(tensors, metadata);
  if (sum !== expected) bad(`checksum must be ${expected} (the file's contents), got ${JSON.stringify(sum).slice(0, 90)}: the file is corrupted`);
  for (const k of Object.keys(metadata)) {
    if (!KNOWN_META_KEYS.has(k)) bad(`metadata keys must be ${[...KNOWN_META_KEYS].join(', ')}, got unexpected key ${JSON.stringify(k).slice(0, 80)}`);
  }

  const parse = (k: string, required: boolean): unknown => {
    const text = own(k);
    if (text === undefined) {
      if (required) bad(`metadata '${k}' must be present, got none`);
      return undefined;
    }
    const depth = jsonDepth(text);
    if (depth > CHECKPOINT_MAX_JSON_DEPTH) bad(`metadata '${k}' must nest at most ${CHECKPOINT_MAX_JSON_DEPTH} levels deep, got ${depth}`);
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      return bad(`metadata '${k}' must be valid JSON, got a parse error: ${errText(e)}`);
    }
  };
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

  const modelInfo = parse(KEY.model, true);
  if (!isObj(modelInfo) || typeof modelInfo.class !== 'string' || typeof modelInfo.dtype !== 'string') {
    bad(`metadata '${KEY.model}' must be { "class": string, "dtype": string }, got ${describe(modelInfo)}`);
  }
  const mi = modelInfo as { class: string; dtype: string };

  const meta = parse(KEY.meta, true);
  if (!isObj(meta)) bad(`metadata '${KEY.meta}' must be a JSON object, got ${describe(meta)}`);

  const model = new Map(tensors);
  let optimizer: Parsed['optimizer'] = null;
  const opt = parse(KEY.optimizer, false);
  if (opt !== undefined) {
    if (
      !isObj(opt) || typeof opt.type !== 'string' || !isObj(opt.hyper) || typeof opt.step !== 'number' ||
      !Array.isArray(opt.slots) || !opt.slots.every((s) => typeof s === 'string')
    ) {
      bad(`metadata '${KEY.optimizer}' must be { "type": string, "hyper": object, "step": number, "slots": string[] }, got ${describe(opt)}`);
    }
    const o = opt as { type: string; hyper: Record<string, number | boolean | number[]>; step: number; slots: string[] };
    const slots = new Map<string, Float64Array | Float32Array>();
    for (const key of o.slots) {
      const name = OPTIMIZER_SLOT_PREFIX + key;
      const t = model.get(name);
      if (t === undefined) bad(`optimizer slot tensor '${name}' is listed in '${KEY.optimizer}' but missing, got no such tensor`);
      if (slots.has(key)) bad(`optimizer slot '${key}' must be listed once, got it twice`);
      const rt = t as RawTensor;
      if (rt.shape.length !== 1) bad(`optimizer slot tensor '${name}' must be 1-D, got shape ${formatShape(rt.shape)}`);
      if (!(rt.data instanceof Float64Array) && !(rt.data instanceof Float32Array)) {
        bad(`optimizer slot tensor '${name}' must be F64 or F32, got ${rt.dtype}`);
      }
      slots.set(key, rt.data as Float64Array | Float32Array);
      model.delete(name);
    }
    optimizer = { state: { type: o.type, hyper: o.hyper, step: o.step, slots }, slotKeys: o.slots };
  }

  let scheduler: Record<string, unknown> | null = null;
  const sch = parse(KEY.scheduler, false);
  if (sch !== undefined) {
    if (!isObj(sch)) bad(`metadata '${KEY.scheduler}' must be a JSON object, got ${describe(sch)}`);
    scheduler = sch as Record<string, unknown>;
  }

  let trainer: TrainerState | null = null;
  const tr = parse(KEY.trainer, false);
  if (tr !== undefined) {
    const nat = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
    if (
      !isObj(tr) || !nat(tr.epoch) || !nat(tr.bestEpoch) || !(tr.bestValAcc === null || typeof tr.bestValAcc === 'number') ||
      typeof tr.best !== 'boolean' || typeof tr.last !== 'boolean'
    ) {
      bad(`metadata '${KEY.trainer}' must be { "epoch": int, "bestValAcc": number | null, "bestEpoch": int, "best": boolean, "last": boolean }, got ${describe(tr)}`);
    }
    const t = tr as { epoch: number; bestValAcc: number | null; bestEpoch: number; best: boolean; last: boolean };
    const take = (prefix: string, wanted: boolean): Map<string, Tensor> | null => {
      const out = new Map<string, Tensor>();
      for (const [name, rt] of model) {
        if (!name.startsWith(prefix)) continue;
        if (!wanted) bad(`tensor '${name}' must not be present when '${KEY.trainer}' says "${prefix === TRAINER_BEST ? 'best' : 'last'}": false, got it`);
        if (!(rt.data instanceof Float64Array) && !(rt.data instanceof Float32Array)) bad(`trainer tensor '${name}' must be F64 or F32, got ${rt.dtype}`);
        out.set(name.slice(prefix.length), new Tensor(rt.data as FloatArray, rt.shape));
        model.delete(name);
      }
      return wanted ? out : null;
    };
    trainer = {
      epoch: t.epoch,
      bestValAcc: t.bestValAcc ?? Number.NaN,
      bestEpoch: t.bestEpoch,
      bestState: take(TRAINER_BEST, t.best),
      lastState: take(TRAINER_LAST, t.last),
    };
  }

  let rng: number[] | null = null;
  const r = parse(KEY.rng, false);
  if (r !== undefined) {
    const ok =
      isObj(r) && Array.isArray(r.words) && r.words.length === 4 &&
      r.words.every((w) => Number.isInteger(w) && (w as number) >= -0x80000000 && (w as number) <= 0x7fffffff) &&
      typeof r.spare === 'string' && /^[0-9a-f]{16}$/.test(r.spare);
    if (!ok) bad(`metadata '${KEY.rng}' must be { "words": [4 int32], "spare": 16 hex digits }, got ${describe(r)}`);
    const rr = r as { words: number[]; spare: string };
    rng = [...rr.words, hexToFloat64(rr.spare)];
    const problem = rngStateProblem(rng);
    if (problem !== null) bad(`metadata '${KEY.rng}' ${problem}`);
  }

  return { modelClass: mi.class, dtype: mi.dtype, model, optimizer, scheduler, trainer, rng, meta: meta as Record<string, unknown> };
}

/** The table of contents of a parsed checkpoint. @internal */
export function checkpointInfo(p: Parsed): CheckpointInfo {
  return {
    format: CHECKPOINT_FORMAT,
    modelClass: p.modelClass,
    dtype: p.dtype,
    keys: [...p.model].map(([name, t]) => ({ name, dtype: t.dtype, shape: [...t.shape] })),
    optimizer:
      p.optimizer === null
        ? null
        : { type: p.optimizer.state.type, hyper: p.optimizer.state.hyper, step: p.optimizer.state.step, slots: p.optimizer.slotKeys },
    scheduler: p.scheduler,
    hasRngState: p.rng !== null,
    trainer:
      p.trainer === null
        ? null
        : {
          epoch: p.trainer.epoch,
          bestValAcc: p.trainer.bestValAcc,
          bestEpoch: p.trainer.bestEpoch,
          hasBestState: p.trainer.bestState !== null,
          hasLastState: p.trainer.lastState !== null,
        },
    meta: p.meta,
  };
}

/**
 * Validates `target`, then `read()`s and parses the checkpoint, checks that it fits the target
 * and applies it (see loadCheckpoint and decodeCheckpoint); on any problem nothing changes.
 * `at` names the source in messages.
 *
 * @internal
 */
export function restoreCheckpoint(fn: string, at: string, target: CheckpointTarget, read: () => Parsed): Record<string, unknown> {
  if (target === undefined) throw new CheckpointError(`${fn}: target must be an object { model, optimizer?, scheduler? }, got undefined`);
  const { model, optimizer, scheduler, restoreRngState, trainer } = checkOptions(fn, target, TARGET_KEYS, 'target') as unknown as CheckpointTarget;
  if (!(model instanceof Module)) throw new CheckpointError(`${fn}: target.model must be an nn.Module, got ${describe(model)}`);
  if (optimizer !== undefined && !(optimizer instanceof Optimizer)) {
    throw new CheckpointError(`${fn}: target.optimizer must be an optim.Optimizer or undefined, got ${describe(optimizer)}`);
  }
  if (scheduler !== undefined && !isScheduler(scheduler)) {
    throw new CheckpointError(`${fn}: target.scheduler must have stateDict() and loadStateDict(), got ${describe(scheduler)}`);
  }
  if (restoreRngState !== undefined && typeof restoreRngState !== 'boolean') {
    throw new CheckpointError(`${fn}: target.restoreRngState must be a boolean, got ${describe(restoreRngState)}`);
  }
  if (trainer !== undefined) {
    if (!(trainer instanceof Trainer)) throw new CheckpointError(`${fn}: target.trainer must be a Trainer or undefined, got ${describe(trainer)}`);
    if (trainer.model !== model) throw new CheckpointError(`${fn}: target.trainer must train target.model, got a Trainer of another model`);
  }

  const file = read();
  const mismatch = (what: string, cause?: unknown): never => {
    throw wrap(`${fn}: ${at} does not fit the target: ${what}; nothing was loaded`, cause);
  };

  // Model: exact keys, shapes and dtypes.
  const own = model.stateDict();
  const missing = [...own.keys()].filter((k) => !file.model.has(k));
  const unexpected = [...file.model.keys()].filter((k) => !own.has(k));
  const wrong: string[] = [];
  for (const [k, t] of own) {
    const f = file.model.get(k);
    if (f === undefined) continue;
    if (!shapesEqual(f.shape, t.shape)) wrong.push(`'${k}' must have shape ${formatShape(t.shape)}, got ${formatShape(f.shape)}`);
    else if (f.dtype !== t.dtype) wrong.push(`'${k}' must have dtype '${t.dtype}', got '${f.dtype}'`);
  }
  if (missing.length + unexpected.length + wrong.length > 0) {
    const parts: string[] = [];
    if (missing.length) parts.push(`the file must hold every model key, got none for ${list(missing)}`);
    if (unexpected.length) parts.push(`the file must hold only the model's keys, got unexpected keys ${list(unexpected)}`);
    parts.push(...wrong);
    mismatch(`${parts.join('; ')} (model ${model.constructor.name}, file saved from ${file.modelClass})`);
  }

  // Optimizer: its own validation, wrapped.
  if (optimizer !== undefined) {
    if (file.optimizer === null) mismatch(`an optimizer state must be in the file for target.optimizer (${optimizer.type}), got none`);
    const state = file.optimizer!.state;
    if (state.type !== optimizer.type) mismatch(`optimizer type must be '${optimizer.type}', got '${state.type}'`);
    try {
      optimizer.validateStateDict(state);
    } catch (e) {
      mismatch(`the optimizer state must pass ${optimizer.type}'s validation, got: ${errText(e)}`, e);
    }
  }

  // Scheduler: present, same type, and its own validation when it has one.
  if (scheduler !== undefined) {
    if (file.scheduler === null) mismatch('a scheduler state must be in the file for target.scheduler, got none');
    const saved = file.scheduler!;
    let current: unknown;
    try {
      current = scheduler.stateDict();
    } catch (e) {
      mismatch(`target.scheduler.stateDict() must work, got: ${errText(e)}`, e);
    }
    const curType = (current as { type?: unknown } | null)?.type;
    if (curType !== undefined && saved.type !== curType) {
      mismatch(`scheduler type must be ${JSON.stringify(curType)}, got ${JSON.stringify(saved.type) ?? 'none'}`);
    }
    const validate = (scheduler as { validateStateDict?: unknown }).validateStateDict;
    if (typeof validate === 'function') {
      try {
        validate.call(scheduler, saved);
      } catch (e) {
        mismatch(`the scheduler state must pass its validation, got: ${errText(e)}`, e);
      }
    }
  }

  // Trainer: present, and its state fits the model.
  if (trainer !== undefined) {
    if (file.trainer === null) mismatch('a trainer state must be in the file for target.trainer, got none (saved without contents.trainer)');
    try {
      trainer.validateStateDict(file.trainer!);
    } catch (e) {
      mismatch(`the trainer state must fit target.trainer, got: ${errText(e)}`, e);
    }
  }

  // PRNG.
  const restoreRng = restoreRngState !== false && file.rng !== null;
  if (restoreRngState === true && file.rng === null) mismatch('restoreRngState: true needs a PRNG state in the file, got none (saved with includeRngState: false)');

  // Apply. The steps that run user or library code that might still fail (schedule, optimizer,
  // trainer) come first, with snapshots to roll back to; the model and PRNG writes that follow
  // cannot fail once validated, so the model needs no snapshot (no second copy of its weights).
  const snapOpt = optimizer?.stateDict();
  let snapSched: object | undefined;
  try {
    snapSched = scheduler?.stateDict();
  } catch (e) {
    mismatch(`target.scheduler.stateDict() must work, got: ${errText(e)}`, e);
  }
  try {
    if (scheduler !== undefined) scheduler.loadStateDict(file.scheduler!);
    if (optimizer !== undefined) optimizer.loadStateDict(file.optimizer!.state);
    if (trainer !== undefined) trainer.loadStateDict(file.trainer!);
  } catch (e) {
    if (scheduler !== undefined && snapSched !== undefined) {
      try { scheduler.loadStateDict(snapSched); } catch { /* best effort; the optimizer below restores lr */ }
    }
    if (optimizer !== undefined && snapOpt !== undefined) optimizer.loadStateDict(snapOpt);
    const kind = e instanceof TapegradError ? '' : ' (unexpected)';
    throw wrap(`${fn}: applying ${at} must succeed once validated, got a failure${kind}: ${errText(e)}; everything was rolled back`, e);
  }
  for (const [k, t] of own) {
    t.data.set(file.model.get(k)!.data as FloatArray);
    bumpVersion(t);
  }
  if (restoreRng) setRngState(file.rng!);
  return file.meta;
}

// ---------------------------------------------------------------------------------------------
// Bytes
// ---------------------------------------------------------------------------------------------

/**
 * A checkpoint as bytes: the same safetensors layout, metadata and checksum that
 * `saveCheckpoint` writes to a file (the bytes of a saved file and of this function are
 * identical for the same contents), for browsers, IndexedDB, uploads and downloads.
 *
 * @param contents - `model` (required); `optimizer`; `scheduler`; `meta` (JSON-serialisable,
 *   default `{}`); `includeRngState` (default true); `trainer` (the Trainer of `model`).
 * @returns the checkpoint, one Uint8Array (a fresh copy of every tensor).
 * @throws ArgumentError when contents is not an object; ValueError for an unknown key in it;
 *   CheckpointError naming `encodeCheckpoint` and the problem (as `saveCheckpoint`: a bad field,
 *   a non-float tensor, meta or schedule state that is not plain JSON, a name collision).
 * @example
 * ```ts
 * const bytes = encodeCheckpoint({ model, optimizer: opt, meta: { epoch: 3 } });
 * localStorage.setItem('ckpt', btoa(String.fromCharCode(...bytes))); // or IndexedDB, a download...
 * ```
 */
export function encodeCheckpoint(contents: CheckpointContents): Uint8Array {
  const fn = 'encodeCheckpoint';
  const { tensors, metadata } = prepareCheckpoint(fn, contents);
  try {
    return encodeSafetensors(tensors, metadata);
  } catch (e) {
    throw wrap(`${fn}: the checkpoint must encode as safetensors, got: ${errText(e)}`, e);
  }
}

/**
 * Restores a checkpoint from bytes (made by {@link encodeCheckpoint}, or read from a file that
 * `saveCheckpoint` wrote) into a model, optimizer, schedule, trainer and the global PRNG, with
 * the validation of `loadCheckpoint`: the bytes decode as safetensors, the format, checksum and
 * metadata are right, and every key, shape and dtype fits the target; on any problem a
 * CheckpointError is thrown and nothing has changed. `bytes` is only read (the tensors are
 * copied out of it).
 *
 * @param bytes - the checkpoint.
 * @param target - `model` (required); `optimizer`; `scheduler`; `restoreRngState` (default:
 *   restore when the bytes hold it; `true` requires it; `false` skips it); `trainer`.
 * @returns the user metadata saved with the checkpoint (`{}` when none was given).
 * @throws ArgumentError when target is not an object; ValueError for an unknown key in it;
 *   CheckpointError naming `decodeCheckpoint` and what is wrong (the cause of a wrapped
 *   problem on `err.cause`).
 * @example
 * ```ts
 * const model = buildModel();
 * const opt = new optim.Adam(model.parameters());
 * const meta = decodeCheckpoint(bytes, { model, optimizer: opt });
 * ```
 */
export function decodeCheckpoint(bytes: Uint8Array, target: CheckpointTarget): Record<string, unknown> {
  const fn = 'decodeCheckpoint';
  if (!(bytes instanceof Uint8Array)) throw new CheckpointError(`${fn}: bytes must be a Uint8Array, got ${describe(bytes)}`);
  const at = 'bytes';
  return restoreCheckpoint(fn, at, target, () => {
    let decoded: DecodedSafetensors;
    try {
      decoded = decodeSafetensors(bytes);
    } catch (e) {
      throw wrap(`${fn}: ${at} must be a valid safetensors file, got: ${errText(e)}`, e);
    }
    return parseCheckpoint(fn, at, decoded);
  });
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** @internal */
export function checkPath(fn: string, path: unknown): asserts path is string {
  if (typeof path !== 'string' || path.length === 0) {
    throw new CheckpointError(`${fn}: path must be a non-empty string, got ${typeof path === 'string' ? "''" : describe(path)}`);
  }
}

function isScheduler(s: unknown): s is CheckpointScheduler {
  return (
    s !== null && typeof s === 'object' &&
    typeof (s as CheckpointScheduler).stateDict === 'function' &&
    typeof (s as CheckpointScheduler).loadStateDict === 'function'
  );
}

function list(keys: string[]): string {
  const shown = keys.slice(0, 10).map((k) => `'${k}'`).join(', ');
  return `[${shown}${keys.length > 10 ? `, ... (${keys.length} in all)` : ''}]`;
}

/** @internal */
export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** @internal */
export function wrap(message: string, cause: unknown): CheckpointError {
  const err = new CheckpointError(message);
  if (cause !== undefined) err.cause = cause;
  return err;
}

/**
 * Why `v` would not survive a JSON round trip unchanged, as `where must be ..., got ...`, or null.
 * Accepts null, booleans, strings, finite numbers, arrays and plain objects of those, nested at
 * most {@link CHECKPOINT_MAX_JSON_DEPTH} deep (so this recursion, and JSON.stringify's, stay shallow).
 */
function jsonProblem(v: unknown, where: string, seen: Set<object> = new Set(), depth = 0, root = where): string | null {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return null;
  if (typeof v === 'number') return Number.isFinite(v) ? null : `${where} must be a finite number (JSON has no NaN or Infinity), got ${v}`;
  if (typeof v !== 'object') return `${where} must be a JSON value, got ${typeof v === 'function' ? 'a function' : `${typeof v} ${String(v)}`}`;
  if (seen.has(v)) return `${where} must not contain cycles, got a circular reference`;
  if (depth >= CHECKPOINT_MAX_JSON_DEPTH) {
    return `${root} must nest at most ${CHECKPOINT_MAX_JSON_DEPTH} levels deep, got deeper at ${where.length > 120 ? `${where.slice(0, 117)}...` : where}`;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (!Array.isArray(v) && proto !== Object.prototype && proto !== null) {
    return `${where} must be a plain object, array or JSON primitive, got ${describe(v)}`;
  }
  seen.add(v);
  try {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const p = jsonProblem(v[i], `${where}[${i}]`, seen, depth + 1, root);
        if (p !== null) return p;
      }
    } else {
      for (const [k, x] of Object.entries(v)) {
        const p = jsonProblem(x, `${where}.${k}`, seen, depth + 1, root);
        if (p !== null) return p;
      }
    }
  } finally {
    seen.delete(v);
  }
  return null;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The little-endian bytes of a typed array (a view on little-endian hosts). */
function leBytes(data: RawData): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const size = data.BYTES_PER_ELEMENT;
  if (LITTLE_ENDIAN_HOST || size === 1) return bytes;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) for (let j = 0; j < size; j++) out[i + j] = bytes[i + size - 1 - j];
  return out;
}

/**
 * `sha256:<hex>` over the tensors (sorted by name: `[name, dtype, shape]` as JSON, then the
 * little-endian bytes) and the metadata entries other than the checksum (sorted by key, as JSON).
 */
function checksum(tensors: Map<string, RawTensor>, metadata: Record<string, string>): string {
  const h = platform().sha256();
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name)!;
    h.update(JSON.stringify([name, t.dtype, t.shape]));
    // In pieces: node:crypto's hash.update refuses 2 GiB or more at once.
    const bytes = leBytes(t.data);
    const chunk = ioChunkBytes();
    for (let off = 0; off < bytes.length; off += chunk) h.update(bytes.subarray(off, Math.min(off + chunk, bytes.length)));
  }
  const entries = Object.keys(metadata)
    .filter((k) => k !== KEY.checksum)
    .sort()
    .map((k) => [k, metadata[k]]);
  h.update(JSON.stringify(entries));
  return `sha256:${h.hex()}`;
}

/** How deeply JSON text nests (arrays and objects), by one pass over it that skips strings. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return max;
}

function float64ToHex(x: number): string {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  let s = '';
  for (let i = 0; i < 8; i++) s += dv.getUint8(i).toString(16).padStart(2, '0');
  return s;
}

function hexToFloat64(hex: string): number {
  const dv = new DataView(new ArrayBuffer(8));
  for (let i = 0; i < 8; i++) dv.setUint8(i, parseInt(hex.slice(2 * i, 2 * i + 2), 16));
  return dv.getFloat64(0);
}
