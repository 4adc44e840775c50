/**
 * Differentiable ops: each validates, runs a kernel, and records its backward on the tape.
 *
 * @packageDocumentation
 */
export { add, sub, mul, div, neg, exp, log } from './elementwise';
export {
  tanh,
  sigmoid,
  sqrt,
  abs,
  pow,
  clamp,
  leakyRelu,
  elu,
  gelu,
  silu,
  softplus,
  maximum,
  minimum,
  type GeluOptions,
} from './activations';
export { matmul } from './matmul';
export { sum, mean } from './reduce';
export { reshape, transpose } from './shape_ops';
export { affine, relu, batchnorm, layernorm, dropout } from './layers';
export { softmaxCrossEntropy, svmLoss, mseLoss, type LossOptions, type Reduction } from './losses';
