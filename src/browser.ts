/**
 * tapegrad for browsers (and any host without Node.js's modules): everything the Node.js entry
 * (src/index.ts) exports except the file functions (saveCheckpoint, loadCheckpoint,
 * readCheckpointInfo, cleanStaleTemps), with checkpoints as bytes through encodeCheckpoint and
 * decodeCheckpoint. No `node:` module is reachable from here: the WebAssembly kernels come
 * inlined, SHA-256 is computed in TypeScript, and large GEMMs use a Web Worker on a
 * cross-origin-isolated page (see kernels.gemmThreads). Bundlers pick this file through the
 * package's `browser` export condition.
 *
 * @example
 * ```ts
 * import { Tensor, nn, optim, encodeCheckpoint, decodeCheckpoint, kernels } from 'tapegrad';
 * await kernels.loadWasm(); // compile the kernels off the main thread's synchronous path
 * ```
 *
 * @packageDocumentation
 */
export { Tensor, tensor, bumpVersion, type NestedArray, type TensorOptions, type BackwardOptions } from './tensor';
export { poolControl, type DType, type FloatArray, type PoolOptions, type PoolStats } from './dtype';
export type { Shape } from './shape';
export { noGrad, isGradEnabled, setDetectAnomaly, detectAnomaly, isAnomalyEnabled } from './autograd/mode';
export { gradcheck, numericalGradient, relError, type GradcheckOptions, type GradcheckResult } from './autograd/gradcheck';
export { defineOp, type OpDefinition, type OpForwardResult, type OpGradient, type OpArgs, type NDArray } from './autograd/define_op';
export { manualSeed, getRngState, setRngState, randperm, shuffleInPlace } from './random';
export {
  TapegradError,
  ShapeError,
  DTypeError,
  GradError,
  ValueError,
  CheckpointError,
  AnomalyError,
  ArgumentError,
  StateDictError,
  OutOfMemoryError,
} from './errors';
export * as kernels from './kernels';
export * as ops from './ops';
export * as nn from './nn';
export * as optim from './optim';
export {
  Trainer,
  predict,
  accuracy,
  type Dataset,
  type TrainerOptions,
  type TrainerCallbacks,
  type EpochScheduler,
  type EpochInfo,
  type EpochStartInfo,
  type BatchInfo,
  type History,
  type PredictOptions,
} from './trainer';
export {
  encodeCheckpoint,
  decodeCheckpoint,
  CHECKPOINT_FORMAT,
  OPTIMIZER_SLOT_PREFIX,
  type CheckpointContents,
  type CheckpointTarget,
  type CheckpointInfo,
  type CheckpointTensorInfo,
  type CheckpointScheduler,
  type JSONValue,
  type AnyOptimizer,
} from './checkpoint_bytes';
export { batches, type BatchesOptions, type Batch } from './data';
export type { TrainerState, NonFiniteLossPolicy } from './trainer';
