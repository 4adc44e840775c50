/**
 * Mini-batches for a hand-written training loop (what `Trainer` does inside), shuffled by the
 * seeded global PRNG.
 *
 * @packageDocumentation
 */
import type { FloatArray } from './dtype';
import { ArgumentError, ShapeError, ValueError } from './errors';
import { checkLabels, type Labels } from './kernels/types';
import { checkOptions, optionalBoolean } from './options';
import { randperm } from './random';
import { describe, formatShape, sizeOf } from './shape';
import { Tensor } from './tensor';

/** Options of {@link batches}. */
export interface BatchesOptions {
  /** Rows per batch, a positive integer. Required. */
  batchSize: number;
  /** Visit the rows in a random order drawn from the seeded PRNG (`manualSeed`). Default true. */
  shuffle?: boolean;
  /** Leave out the last batch when it has fewer than batchSize rows. Default false. */
  dropLast?: boolean;
}

/** One mini-batch: the rows of x and their targets, in fresh arrays the caller may keep. */
export interface Batch<Y> {
  /** Inputs (B, ...), a new tensor not requiring grad. */
  x: Tensor;
  /** Targets of those rows: an Int32Array of labels, or a Tensor (B, ...) when the dataset's y is a Tensor. */
  y: Y;
}

/**
 * Splits a dataset into mini-batches, in a random order by default (like PyTorch's
 * `DataLoader(TensorDataset(x, y), batch_size, shuffle, drop_last)`). The order is drawn from the
 * seeded PRNG when `batches` is called, so call it once per epoch; every batch is copied into new
 * arrays, so keeping one (or changing it) affects nothing else.
 *
 * Shape: x (N, ...), y N labels or a Tensor (N, ...) -> batches x (B, ...), y (B) or (B, ...),
 * B = batchSize except maybe the last.
 *
 * @param dataset - `{ x, y }`: x a Tensor with N rows; y N integer class labels (number[] or
 *   Int32Array), or a Tensor with N rows (regression targets).
 * @param opts - batchSize (required, positive integer), shuffle = true, dropLast = false.
 * @returns an iterator over the batches (validated eagerly: errors are thrown by this call).
 * @throws ArgumentError when dataset is not `{ x: Tensor, y }` or opts not an object; ShapeError
 *   when x has no axis or y does not have N rows; ValueError on a bad label, a bad batchSize or
 *   an unknown option.
 * @example
 * ```ts
 * for (let epoch = 0; epoch < 10; epoch++) {
 *   for (const { x, y } of batches(train, { batchSize: 64 })) {
 *     opt.zeroGrad(); nn.softmaxCrossEntropy(model.forward(x), y).backward(); opt.step();
 *   }
 * }
 * ```
 */
export function batches(dataset: { x: Tensor; y: Labels }, opts: BatchesOptions): IterableIterator<Batch<Int32Array>>;
export function batches(dataset: { x: Tensor; y: Tensor }, opts: BatchesOptions): IterableIterator<Batch<Tensor>>;
export function batches(dataset: { x: Tensor; y: Labels | Tensor }, opts: BatchesOptions): IterableIterator<Batch<Int32Array | Tensor>> {
  const fn = 'batches';
  if (typeof dataset !== 'object' || dataset === null || !(dataset.x instanceof Tensor)) {
    throw new ArgumentError(`${fn}: dataset must be { x: Tensor (N, ...), y: labels or Tensor (N, ...) }, got ${describe(dataset)}`);
  }
  const { x, y } = dataset;
  if (x.ndim < 1) throw new ShapeError(`${fn}: dataset.x must have a first axis of N rows, got shape ${formatShape(x.shape)}`);
  const n = x.shape[0];
  let labels: Int32Array | null = null;
  if (y instanceof Tensor) {
    if (y.ndim < 1 || y.shape[0] !== n) {
      throw new ShapeError(`${fn}: dataset.y must have ${n} rows like dataset.x ${formatShape(x.shape)}, got shape ${formatShape(y.shape)}`);
    }
  } else {
    labels = checkLabels(fn, 'dataset.y', y, n, 2 ** 31 - 1);
  }
  if (opts === undefined) throw new ArgumentError(`${fn}: opts must be an object with batchSize, got undefined`);
  const o = checkOptions(fn, opts, ['batchSize', 'shuffle', 'dropLast']);
  const batchSize = o.batchSize;
  if (typeof batchSize !== 'number' || !Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new ValueError(`${fn}: opts.batchSize must be a positive integer, got ${describe(batchSize)}`);
  }
  const shuffle = optionalBoolean(fn, 'opts.shuffle', o.shuffle, true);
  const dropLast = optionalBoolean(fn, 'opts.dropLast', o.dropLast, false);
  const order = shuffle ? randperm(n) : Int32Array.from({ length: n }, (_, i) => i);
  const count = dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
  return generate(x, labels ?? (y as Tensor), order, batchSize, count);
}

function* generate(x: Tensor, y: Int32Array | Tensor, order: Int32Array, batchSize: number, count: number): IterableIterator<Batch<Int32Array | Tensor>> {
  const xRow = sizeOf(x.shape.slice(1));
  const yRow = y instanceof Tensor ? sizeOf(y.shape.slice(1)) : 1;
  for (let b = 0; b < count; b++) {
    const idx = order.subarray(b * batchSize, Math.min((b + 1) * batchSize, order.length));
    const k = idx.length;
    const xs = fresh(x.data, k * xRow);
    for (let i = 0; i < k; i++) xs.set(x.data.subarray(idx[i] * xRow, (idx[i] + 1) * xRow), i * xRow);
    let yb: Int32Array | Tensor;
    if (y instanceof Tensor) {
      const ys = fresh(y.data, k * yRow);
      for (let i = 0; i < k; i++) ys.set(y.data.subarray(idx[i] * yRow, (idx[i] + 1) * yRow), i * yRow);
      yb = new Tensor(ys, [k, ...y.shape.slice(1)]);
    } else {
      const ys = new Int32Array(k);
      for (let i = 0; i < k; i++) ys[i] = y[idx[i]];
      yb = ys;
    }
    yield { x: new Tensor(xs, [k, ...x.shape.slice(1)]), y: yb };
  }
}

/** A new array (never from the pool: the caller owns it) of `like`'s type. */
function fresh(like: FloatArray, n: number): FloatArray {
  return like instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
}
