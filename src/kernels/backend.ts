/**
 * Which implementation the elementwise layer kernels (BatchNorm, ReLU) use: WebAssembly SIMD
 * for arrays large enough to repay the copy in and out, or the TypeScript loops, which stay
 * as the readable reference. Both give bit-identical results.
 *
 * @packageDocumentation
 */
import { ValueError } from '../errors';
import { describe } from '../shape';
import { simdAvailable } from './simd';

/** Below this many elements the per-call cost of the SIMD module (~2-3 µs) outweighs its speed. */
const SIMD_MIN_ELEMENTS = 1024;

/** 'auto' (SIMD for large arrays when the module is built), 'simd' (SIMD whenever built) or 'js' (the TypeScript loops). */
export type ElementwiseBackend = 'auto' | 'simd' | 'js';
let mode: ElementwiseBackend = 'auto';

/**
 * Chooses the elementwise kernels' implementation; tests run both and compare them bit for bit.
 *
 * @param backend - 'auto' (default), 'simd' or 'js'.
 * @returns the previous setting.
 * @example
 * ```ts
 * const prev = setElementwiseBackend('js'); try { ... } finally { setElementwiseBackend(prev); }
 * ```
 */
export function setElementwiseBackend(backend: ElementwiseBackend): ElementwiseBackend {
  if (backend !== 'auto' && backend !== 'simd' && backend !== 'js') {
    throw new ValueError(`setElementwiseBackend: backend must be 'auto', 'simd' or 'js', got ${describe(backend)}`);
  }
  const prev = mode;
  mode = backend;
  return prev;
}

/**
 * True when an elementwise kernel over `elements` values should run in WebAssembly SIMD.
 *
 * @param elements - the size of the kernel's main array.
 * @example
 * ```ts
 * if (useSimd(n * d)) simdReluForward(x, out); else ...;
 * ```
 */
export function useSimd(elements: number): boolean {
  return mode !== 'js' && (mode === 'simd' || elements >= SIMD_MIN_ELEMENTS) && simdAvailable();
}
