/**
 * Trustworthy checkpoint files: the checkpoints of checkpoint_bytes.ts (layout, metadata and
 * checksum described there), written atomically and read back piece by piece, so their size is
 * bounded only by the disk. Node.js only; browsers use `encodeCheckpoint`/`decodeCheckpoint`.
 *
 * @packageDocumentation
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  checkPath, checkpointInfo, errText, parseCheckpoint, prepareCheckpoint, restoreCheckpoint, wrap,
  type CheckpointContents, type CheckpointInfo, type CheckpointTarget, type Parsed,
} from './checkpoint_bytes';
import { CheckpointError } from './errors';
import { writeFileAtomic } from './io/atomic';
import { readSafetensorsFile } from './io/read';
import { encodeSafetensorsParts, type DecodedSafetensors } from './io/safetensors';

export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_MAX_JSON_DEPTH,
  OPTIMIZER_SLOT_PREFIX,
  decodeCheckpoint,
  encodeCheckpoint,
  type AnyOptimizer,
  type CheckpointContents,
  type CheckpointInfo,
  type CheckpointScheduler,
  type CheckpointTarget,
  type CheckpointTensorInfo,
  type JSONValue,
} from './checkpoint_bytes';

/**
 * Writes a checkpoint: the model's parameters and buffers, and optionally an optimizer's and a
 * schedule's state, the global PRNG state and user metadata, as one safetensors file (layout in
 * the module documentation).
 *
 * The write is atomic (temp file, fsync, rename, directory fsync): after a crash the path holds
 * either the complete old checkpoint or the complete new one. Saving reads the model, optimizer,
 * schedule and PRNG without changing any of them.
 *
 * The file is written piece by piece from the tensors' own memory (no copy of the whole file is
 * built), so its size is bounded only by the disk. Temp files left next to `path` by earlier
 * saves that were killed mid-write are removed first.
 *
 * @param path - the file to create or replace; missing parent directories are created.
 * @param contents - `model` (required); `optimizer`; `scheduler`; `meta` (JSON-serialisable,
 *   default `{}`); `includeRngState` (default true); `trainer` (the Trainer of `model`, to
 *   resume it exactly).
 * @throws ArgumentError when contents is not an object; ValueError for an unknown key in it;
 *   CheckpointError naming the function, the path and the problem: a bad field, a non-float
 *   tensor, meta or schedule state that is not plain JSON (NaN, Infinity, undefined, functions,
 *   class instances, cycles, nesting deeper than 64 levels), a model key
 *   that collides with an optimizer slot or trainer name, or a failed write (the cause is kept
 *   on `err.cause`).
 * @example
 * ```ts
 * saveCheckpoint('runs/epoch3.safetensors', { model, optimizer: opt, scheduler: sched, meta: { epoch: 3 } });
 * ```
 */
export function saveCheckpoint(path: string, contents: CheckpointContents): void {
  const fn = 'saveCheckpoint';
  checkPath(fn, path);
  const at = `'${path}'`;
  const { tensors, metadata } = prepareCheckpoint(fn, contents);
  let parts: Uint8Array[];
  try {
    parts = encodeSafetensorsParts(tensors, metadata);
  } catch (e) {
    throw wrap(`${fn}: the checkpoint for ${at} must encode as safetensors, got: ${errText(e)}`, e);
  }
  try {
    // Like `mkdir -p`: a run directory named in the path is created, as users expect.
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, parts);
  } catch (e) {
    throw wrap(`${fn}: path must be writable, got ${at}: ${errText(e)}`, e);
  }
}

/** Reads, decodes and checks a file's own consistency (not yet against any target). */
function readAndParse(fn: string, path: string): Parsed {
  checkPath(fn, path);
  const at = `'${path}'`;
  let decoded: DecodedSafetensors;
  try {
    decoded = readSafetensorsFile(path);
  } catch (e) {
    if (e instanceof CheckpointError && e.message.startsWith('readSafetensorsFile')) {
      throw wrap(`${fn}: path must name a readable checkpoint file, got ${at}: ${errText(e)}`, e);
    }
    throw wrap(`${fn}: ${at} is not a valid safetensors file, got: ${errText(e)}`, e);
  }
  return parseCheckpoint(fn, at, decoded);
}

/**
 * Reads a checkpoint's table of contents without loading it into anything: format, model class
 * and dtype, the model's tensor names, dtypes and shapes, the optimizer's type, hyper-parameters,
 * step and slot keys, the schedule state, whether the PRNG state is there, and the user's meta.
 * The whole file is decoded and checksummed, so a corrupted file throws here too.
 *
 * @param path - the checkpoint file.
 * @returns see {@link CheckpointInfo}.
 * @throws CheckpointError naming `readCheckpointInfo`, the path and the problem.
 * @example
 * ```ts
 * const info = readCheckpointInfo('runs/epoch3.safetensors');
 * console.log(info.meta.epoch, info.optimizer?.type, info.keys.map((k) => k.name));
 * ```
 */
export function readCheckpointInfo(path: string): CheckpointInfo {
  return checkpointInfo(readAndParse('readCheckpointInfo', path));
}

/**
 * Restores a checkpoint written by {@link saveCheckpoint} into a freshly built (or any) model,
 * optimizer and schedule, and the global PRNG, so training resumes bit-exactly.
 *
 * Everything is validated before anything changes: the file decodes as safetensors, the format
 * version is `tapegrad-checkpoint/1`, the checksum matches, every metadata entry parses (and
 * nests at most 64 levels deep); the model's keys are exactly the file's model keys (none
 * missing, none unexpected), each with the same shape and dtype; the optimizer (if given) is of
 * the saved type with slots of the right lengths and dtypes (its own `validateStateDict`); the schedule (if given) has a saved state
 * (checked by its `validateStateDict` when it has one); the trainer (if given) trains `model`
 * and its saved state fits it; the PRNG state is well formed (not all zero, a finite spare). On
 * any problem a CheckpointError is thrown and the model, optimizer, schedule, trainer and PRNG
 * are exactly as they were. Then the state is applied: schedule, optimizer (its saved learning
 * rate wins over the schedule's), trainer, model (each parameter and buffer written gets a new
 * version, so a backward pass through a graph built before the load throws), PRNG.
 *
 * The file is read piece by piece, each tensor straight into its own array: memory holds the
 * file's tensors, never a copy of the whole file.
 *
 * Parts of the file that no target asks for (an optimizer state when no optimizer is given) are
 * ignored.
 *
 * @param path - the checkpoint file.
 * @param target - `model` (required); `optimizer`; `scheduler`; `restoreRngState` (default:
 *   restore when the file has it; `true` requires it; `false` skips it); `trainer` (the Trainer
 *   of `model`; the file must hold a trainer state).
 * @returns the user metadata saved with the checkpoint (`{}` when none was given).
 * @throws ArgumentError when target is not an object; ValueError for an unknown key in it;
 *   CheckpointError naming `loadCheckpoint`, the path and what is wrong; a problem found by
 *   the model's, optimizer's or schedule's own validation is wrapped, with the original error on
 *   `err.cause`.
 * @example
 * ```ts
 * const model = buildModel();
 * const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
 * const meta = loadCheckpoint('runs/epoch3.safetensors', { model, optimizer: opt });
 * const startEpoch = (meta.epoch as number) + 1;
 * ```
 */
export function loadCheckpoint(path: string, target: CheckpointTarget): Record<string, unknown> {
  const fn = 'loadCheckpoint';
  checkPath(fn, path);
  return restoreCheckpoint(fn, `'${path}'`, target, () => readAndParse(fn, path));
}
