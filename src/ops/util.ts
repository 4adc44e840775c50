/**
 * Argument checks shared by the ops.
 *
 * @packageDocumentation
 */
import { ArgumentError } from '../errors';
import { describe } from '../shape';
import { Tensor } from '../tensor';

/**
 * Checks that an op's argument is a Tensor.
 *
 * @param fn - the op's name.
 * @param arg - the argument's name.
 * @param v - the value.
 * @throws ArgumentError naming both.
 * @example
 * ```ts
 * assertTensor('matmul', 'b', b);
 * ```
 */
export function assertTensor(fn: string, arg: string, v: unknown): asserts v is Tensor {
  if (!(v instanceof Tensor)) {
    throw new ArgumentError(`${fn}: ${arg} must be a Tensor, got ${describe(v)} (wrap values with tensor(...))`);
  }
}
