/**
 * Parameter-free layers over an axis: Softmax, LogSoftmax, Flatten.
 *
 * @packageDocumentation
 */
import { currentModule } from '../autograd/mode';
import { ShapeError, ValueError } from '../errors';
import { logSoftmax, softmax } from '../ops/softmax';
import { flatten } from '../ops/shape_ops';
import { describe, formatShape } from '../shape';
import { Tensor } from '../tensor';
import { Module } from './module';

/** What an error of `layer` calls it: its label inside a Sequential when that is this layer's, else its class name. */
function label(layer: Module): string {
  const name = layer.constructor.name;
  const running = currentModule();
  if (running === undefined) return name;
  return running.endsWith(`:${name}`) ? running : `${running} > ${name}`;
}

function checkAxisArg(fn: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ValueError(`${fn}: ${arg} must be an integer (negative counts from the end), got ${describe(v)}`);
  return v;
}

/** Checks that `axis` fits x's rank (a 0-D x has the one axis 0 / -1), naming the layer. */
function checkAxisFits(layer: Module, arg: string, axis: number, x: unknown): void {
  if (!(x instanceof Tensor)) return; // the op names the wrong type
  const rank = Math.max(x.shape.length, 1);
  if (axis < -rank || axis >= rank) {
    const need = axis < 0 ? -axis : axis + 1;
    throw new ShapeError(`${label(layer)}: expected x with at least ${need} axes for ${arg} ${axis}, got x of shape ${formatShape(x.shape)}`);
  }
}

/**
 * Softmax along an axis, as `nn.Softmax(dim)` in PyTorch: each line along `axis` becomes
 * probabilities summing to 1, computed stably (the line's maximum is subtracted first).
 *
 * Shape: any -> same.
 *
 * @example
 * ```ts
 * new Softmax().forward(tensor([[1, 2, 3]])); // [[0.0900, 0.2447, 0.6652]]
 * ```
 */
export class Softmax extends Module {
  /** The axis normalised over (negative counts from the end). */
  readonly axis: number;

  /**
   * @param axis - the axis to normalise over. Default -1 (PyTorch's `dim` has no default; -1 is what a classifier wants).
   * @throws ValueError when axis is not an integer.
   */
  constructor(axis = -1) {
    super();
    this.axis = checkAxisArg('Softmax', 'axis', axis);
  }

  /**
   * @param x - input with the axis.
   * @throws ShapeError naming this layer when x has no such axis.
   */
  forward(x: Tensor): Tensor {
    checkAxisFits(this, 'axis', this.axis, x);
    return softmax(x, this.axis);
  }

  protected override extraRepr(): string {
    return `axis=${this.axis}`;
  }
}

/**
 * Log-softmax along an axis, as `nn.LogSoftmax(dim)` in PyTorch, computed with log-sum-exp so
 * large logits stay finite; pair it with `nn.nllLoss` for a classifier.
 *
 * Shape: any -> same.
 *
 * @example
 * ```ts
 * new LogSoftmax().forward(tensor([[0, 0]])); // [[-0.6931, -0.6931]]
 * ```
 */
export class LogSoftmax extends Module {
  /** The axis normalised over (negative counts from the end). */
  readonly axis: number;

  /**
   * @param axis - the axis to normalise over. Default -1.
   * @throws ValueError when axis is not an integer.
   */
  constructor(axis = -1) {
    super();
    this.axis = checkAxisArg('LogSoftmax', 'axis', axis);
  }

  /**
   * @param x - input with the axis.
   * @throws ShapeError naming this layer when x has no such axis.
   */
  forward(x: Tensor): Tensor {
    checkAxisFits(this, 'axis', this.axis, x);
    return logSoftmax(x, this.axis);
  }

  protected override extraRepr(): string {
    return `axis=${this.axis}`;
  }
}

/**
 * Flattens each sample: the axes from `startAxis` to the last merge into one, as `nn.Flatten`
 * in PyTorch (with its `end_dim` fixed at -1). The output is a view sharing x's data.
 *
 * Shape: (N, d1..dk) -> (N, d1 * ... * dk) with the default startAxis 1.
 *
 * @example
 * ```ts
 * new Flatten().forward(Tensor.zeros([8, 1, 28, 28])).shape; // [8, 784]
 * ```
 */
export class Flatten extends Module {
  /** The first axis merged. */
  readonly startAxis: number;

  /**
   * @param startAxis - the first axis to merge (negative counts from the end). Default 1 (keeps the batch axis).
   * @throws ValueError when startAxis is not an integer.
   */
  constructor(startAxis = 1) {
    super();
    this.startAxis = checkAxisArg('Flatten', 'startAxis', startAxis);
  }

  /**
   * @param x - input of rank > startAxis (rank >= 2 with the default).
   * @throws ShapeError naming this layer when x has no axis startAxis.
   */
  forward(x: Tensor): Tensor {
    checkAxisFits(this, 'startAxis', this.startAxis, x);
    return flatten(x, this.startAxis);
  }

  protected override extraRepr(): string {
    return `startAxis=${this.startAxis}`;
  }
}
