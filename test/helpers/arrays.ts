import { memoryKey } from '../../src/kernels/wasm/runtime';
/** Deterministic test data shared by the kernel tests. */
import type { FloatArray } from '../../src/dtype';

/** Float32Array or Float64Array constructor. */
export type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

/** Deterministic values in [-1, 1) from a small LCG, so failures reproduce. */
export function filled(C: Ctor, len: number, seed: number): FloatArray {
  const out = new C(len);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * Whether two typed arrays share at least one byte: the same memory (a buffer, or the kernels'
 * memory, whose buffer object changes as it grows) and overlapping byte ranges. With tensors
 * resident in the kernels' memory, every tensor has the same kind of buffer, so comparing
 * `.buffer` no longer tells whether two arrays share memory.
 */
export function sharesMemory(x: ArrayBufferView, y: ArrayBufferView): boolean {
  return memoryKey(x as Float32Array) === memoryKey(y as Float32Array) &&
    x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;
}
