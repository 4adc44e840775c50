/**
 * Pure kernels over `{ shape, data }` arrays, no tape: the seed's layers and the primitives
 * under them. Each forward returns `{ out, cache }`; each backward takes `(dout, cache)`.
 *
 * @packageDocumentation
 */
export { affineForward, affineBackward, affineGrads, sumRows, type AffineCache } from './affine';
export { reluForward, reluBackward } from './relu';
export {
  batchnormForward,
  batchnormBackward,
  batchnormBackwardAlt,
  type BatchnormCache,
  type BatchnormMode,
  type BatchnormConvention,
  type BatchnormParam,
} from './batchnorm';
export { softmaxLoss, svmLoss } from './losses';
export { gemm, gemmReference, setGemmBackend, type GemmBackend, type GemmOptions } from './gemm';
export type { NDArray, OwnedArray, Labels } from './types';
export { layernormForward, layernormBackward, type LayernormCache } from './layernorm';
export { setElementwiseBackend, type ElementwiseBackend } from './backend';
export { setGemmThreads, gemmThreads, gemmThreadsReady, gemmVariant, heapStats, loadWasm, type GemmVariant } from './wasm';
export { setResident } from '../dtype';
