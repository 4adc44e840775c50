/**
 * The `autograd` namespace: gradients as values, to any order.
 *
 * @packageDocumentation
 */
export { grad, hvp, jvp, type GradOptions } from './grad';
