/**
 * Weight initialisation from the seeded global PRNG.
 *
 * @packageDocumentation
 */
import { resolveDType, type DType } from '../dtype';
import { ValueError } from '../errors';
import { assertValidShape, describe } from '../shape';
import { Tensor } from '../tensor';

/**
 * He (Kaiming) uniform initialisation for layers followed by ReLU: U(-b, b) with
 * b = sqrt(6 / fanIn), which keeps activations' variance steady through ReLU layers.
 *
 * @param shape - the weight's shape, e.g. [in, out].
 * @param fanIn - number of inputs to each unit, a non-negative integer (0 is taken as 1).
 * @param dtype - element type. Default 'float64'.
 * @throws ShapeError on a bad shape; ValueError when fanIn is not a non-negative integer;
 *   DTypeError on a bad dtype.
 * @example
 * ```ts
 * const w = kaimingUniform([784, 256], 784);
 * ```
 */
export function kaimingUniform(shape: readonly number[], fanIn: number, dtype: DType = 'float64'): Tensor {
  const fn = 'kaimingUniform';
  assertValidShape(fn, 'shape', shape);
  if (!Number.isSafeInteger(fanIn) || fanIn < 0) throw new ValueError(`${fn}: fanIn must be a non-negative integer, got ${describe(fanIn)}`);
  const dt = resolveDType(fn, dtype);
  const bound = Math.sqrt(6 / Math.max(fanIn, 1));
  return Tensor.rand(shape, -bound, bound, { dtype: dt });
}
