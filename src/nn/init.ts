/**
 * Weight initialisation from the seeded global PRNG.
 *
 * @packageDocumentation
 */
import type { DType } from '../dtype';
import { Tensor } from '../tensor';

/**
 * He (Kaiming) uniform initialisation for layers followed by ReLU: U(-b, b) with
 * b = sqrt(6 / fanIn), which keeps activations' variance steady through ReLU layers.
 *
 * @param shape - the weight's shape, e.g. [in, out].
 * @param fanIn - number of inputs to each unit.
 * @param dtype - element type. Default 'float64'.
 * @example
 * ```ts
 * const w = kaimingUniform([784, 256], 784);
 * ```
 */
export function kaimingUniform(shape: readonly number[], fanIn: number, dtype: DType = 'float64'): Tensor {
  const bound = Math.sqrt(6 / Math.max(fanIn, 1));
  return Tensor.rand(shape, -bound, bound, { dtype });
}
