/**
 * Everything both entries export: src/index.ts (Node.js) adds the file functions to it,
 * src/browser.ts exports it as it is. Nothing here may reach a `node:` module
 * (test/browser/bundle.test.ts checks).
 *
 * @packageDocumentation
 */
export { Tensor, tensor, bumpVersion, type NestedArray, type TensorOptions, type BackwardOptions } from './tensor';
export { poolControl, type DType, type FloatArray, type PoolOptions, type PoolStats } from './dtype';
export type { Shape } from './shape';
export { noGrad, isGradEnabled, setDetectAnomaly, detectAnomaly, isAnomalyEnabled } from './autograd/mode';
export * as autograd from './autograd/public';
export {
  gradcheck,
  gradgradcheck,
  numericalGradient,
  relError,
  type GradcheckOptions,
  type GradcheckResult,
  type GradgradcheckOptions,
  type GradgradcheckResult,
} from './autograd/gradcheck';
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
export { exportOnnx, type ExportOnnxOptions } from './onnx/export';
export * as io from './io/public_bytes';
export type { TrainerState, NonFiniteLossPolicy } from './trainer';
