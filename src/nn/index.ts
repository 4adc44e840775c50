/**
 * Modules, losses and initialisation: what users build models from.
 *
 * @packageDocumentation
 */
export { Module, type StateDict, type StateDictInput } from './module';
export {
  Affine,
  ReLU,
  BatchNorm1d,
  LayerNorm,
  Dropout,
  Sequential,
  type AffineOptions,
  type BatchNormOptions,
  type LayerNormOptions,
} from './layers';
export { kaimingUniform } from './init';
export { softmaxCrossEntropy, svmLoss, mseLoss, type LossOptions, type Reduction } from '../ops/losses';
