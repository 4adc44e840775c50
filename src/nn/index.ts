/**
 * Modules, losses and initialisation: what users build models from.
 *
 * @packageDocumentation
 */
export {
  Module,
  StateDict,
  type StateDictInput,
  type StateDictEntry,
  type StateDictJSON,
  type StateDictEntryJSON,
  type LoadStateDictOptions,
  type LoadStateDictResult,
  type ModuleZeroGradOptions,
  type StateDictOptions,
  type StateDictLayout,
  type TorchEntry,
  torchEntry,
  torchTransposedEntry,
} from './module';
export {
  Affine,
  ReLU,
  BatchNorm1d,
  LayerNorm,
  Dropout,
  Sequential,
  type AffineOptions,
  type AffineInit,
  type BatchNormOptions,
  type LayerNormOptions,
} from './layers';
export { Softmax, LogSoftmax, Flatten } from './shape_layers';
export { Tanh, Sigmoid, LeakyReLU, GELU, ELU, SiLU, Softplus, Identity, type GELUOptions } from './activations';
export { kaimingUniform } from './default_init';
export {
  softmaxCrossEntropy,
  svmLoss,
  mseLoss,
  bceWithLogits,
  l1Loss,
  huberLoss,
  nllLoss,
  type LossOptions,
  type Reduction,
  type LossReduction,
  type ElementwiseLossOptions,
  type HuberLossOptions,
  type BCEWithLogitsOptions,
} from '../ops/losses';
export { clipGradNorm, clipGradValue, type ClipGradNormOptions } from './clip';
export * as init from './init';
export type { Nonlinearity, FanMode, UniformInitOptions, NormalInitOptions, XavierInitOptions, KaimingInitOptions } from './init';
