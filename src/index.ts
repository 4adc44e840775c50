/**
 * tapegrad: a Tensor on a tape, the seed's hand-written layer kernels, modules, optimizers,
 * and property-based gradient testing.
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
export * as io from './io/public';
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
  saveCheckpoint,
  loadCheckpoint,
  readCheckpointInfo,
  CHECKPOINT_FORMAT,
  OPTIMIZER_SLOT_PREFIX,
  type CheckpointContents,
  type CheckpointTarget,
  type CheckpointInfo,
  type CheckpointTensorInfo,
  type CheckpointScheduler,
  type JSONValue,
  type AnyOptimizer,
} from './checkpoint';
export { cleanStaleTemps, type CleanStaleTempsOptions } from './io/atomic';
export { batches, type BatchesOptions, type Batch } from './data';
export type { TrainerState, NonFiniteLossPolicy } from './trainer';
export { exportOnnx, type ExportOnnxOptions } from './onnx/export';
