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
export { sum, mean, max, min, argmax } from './reduce';
export { softmax, logSoftmax } from './softmax';
export { reshape, transpose, slice, gather, flatten, squeeze, unsqueeze, concat, stack } from './shape_ops';
export { affine, relu, batchnorm, layernorm, dropout } from './layers';
export { softmaxCrossEntropy, svmLoss, mseLoss, type LossOptions, type Reduction } from './losses';
