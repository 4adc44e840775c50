/**
 * The errors tapegrad throws on purpose. Every one is a {@link TapegradError}, through a
 * subclass that says what kind of problem it is; each sets `name` to its class name so a
 * stack trace or a `catch` can tell them apart.
 *
 * Messages follow one pattern: `fn: arg must be <expected>, got <actual>`.
 *
 * @packageDocumentation
 */

/**
 * Base class of every error tapegrad throws on purpose.
 *
 * @example
 * ```ts
 * try { a.matmul(b); } catch (e) { if (e instanceof TapegradError) console.error(e.message); }
 * ```
 */
export class TapegradError extends Error {
  /** @param message - the full message: function, argument, expected, actual. */
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * An argument has the wrong rank or shape (including broadcasting and matmul inner sizes).
 *
 * @example
 * ```ts
 * throw new ShapeError('matmul: b must have 3 rows to match a [2, 3], got [4, 5]');
 * ```
 */
export class ShapeError extends TapegradError {}

/**
 * An argument has the wrong dtype, or two arguments mix float32 and float64.
 *
 * @example
 * ```ts
 * throw new DTypeError("add: b must have dtype 'float64' like a, got 'float32'");
 * ```
 */
export class DTypeError extends TapegradError {}

/**
 * A gradient request cannot be honoured: backward on a tensor that does not require grad,
 * a missing seed gradient for a non-scalar, or a gradient check that found a mismatch.
 *
 * @example
 * ```ts
 * throw new GradError('backward: this tensor does not require grad');
 * ```
 */
export class GradError extends TapegradError {}

/**
 * An argument has the right type and shape but a value outside what is allowed: a label out
 * of range or not an integer, a BatchNorm mode other than 'train' or 'test', a negative
 * learning rate, NaN where it is not allowed.
 *
 * @example
 * ```ts
 * throw new ValueError('softmaxLoss: y[3] must be an integer in [0, 10), got 12');
 * ```
 */
export class ValueError extends TapegradError {}

/**
 * A checkpoint file cannot be written or read: torn, truncated, malformed header, offsets out
 * of range, unknown dtype, or keys and shapes that do not match the model.
 *
 * @example
 * ```ts
 * throw new CheckpointError('loadCheckpoint: header length 9000 exceeds file size 120');
 * ```
 */
export class CheckpointError extends TapegradError {}

/**
 * A computation went non-finite or stale: a forward output, backward gradient or accumulated
 * leaf gradient held NaN or Infinity while anomaly detection was on; a tensor saved for
 * backward was written by hand (anomaly mode); or, always, the Trainer's loss was not finite.
 *
 * @example
 * ```ts
 * throw new AnomalyError('relu (module 1): forward output has NaN at index 3');
 * ```
 */
export class AnomalyError extends TapegradError {}

/**
 * An argument is not of the kind expected: a number where a Tensor is needed, a string
 * where an options object is, a function that is not one.
 *
 * @example
 * ```ts
 * throw new ArgumentError('matmul: b must be a Tensor, got number 3');
 * ```
 */
export class ArgumentError extends TapegradError {}

/**
 * A state dict does not fit a module: keys missing or unexpected, or shapes and dtypes that
 * differ. The message lists every problem at once.
 *
 * @example
 * ```ts
 * throw new StateDictError("loadStateDict: missing keys ['0.bias']; unexpected keys ['0.b']");
 * ```
 */
export class StateDictError extends TapegradError {}

/**
 * The memory a tensor needs could not be allocated (the process or the machine has too little
 * left). The message names the function, the dtype, the element count and the bytes.
 *
 * @example
 * ```ts
 * throw new OutOfMemoryError('Tensor.zeros: cannot allocate 4294967296 float64 elements (32 GiB): Array buffer allocation failed');
 * ```
 */
export class OutOfMemoryError extends TapegradError {}
