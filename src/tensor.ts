/**
 * The Tensor: a row-major typed array with a shape, a dtype, and a place on the tape.
 * Op methods are thin calls into `ops/`.
 *
 * @packageDocumentation
 */
import type { Node } from './autograd/tape';
import { isGradEnabled } from './autograd/mode';
import { runBackward, runTensorBackward } from './autograd/tape';
import { allocate, dtypeOf, resolveDType, type DType, type FloatArray } from './dtype';
import { ArgumentError, DTypeError, GradError, ShapeError, ValueError } from './errors';
import { abs, clamp, elu, gelu, leakyRelu, pow, sigmoid, silu, softplus, sqrt, tanh, type GeluOptions } from './ops/activations';
import { add, div, exp, log, mul, neg, sub } from './ops/elementwise';
import { relu } from './ops/layers';
import { matmul } from './ops/matmul';
import { argmax, max, mean, min, sum } from './ops/reduce';
import { flatten, gather, reshape, slice, squeeze, transpose, unsqueeze } from './ops/shape_ops';
import { logSoftmax, softmax } from './ops/softmax';
import { checkOptions, optionalBoolean } from './options';
import { randomNormal, randomUniform } from './random';
import { assertValidShape, describe, formatShape, shapesEqual, sizeOf, type Shape } from './shape';
import { storageKey } from './kernels/wasm/runtime';

/** Nested arrays of numbers, as `tensor()` accepts and `toArray()` returns. */
export type NestedArray = number | NestedArray[];

/** Options when creating a tensor. */
export interface TensorOptions {
  /** Element type. Default 'float64'. */
  dtype?: DType;
  /** Record ops on this tensor and fill its `grad` in backward(). Default false. */
  requiresGrad?: boolean;
}

/** Options of {@link Tensor.backward}. */
export interface BackwardOptions {
  /** Keep the graph's nodes so backward can run through it again. Default: createGraph. */
  retainGraph?: boolean;
  /**
   * Record the gradient computation on the tape, so the gradients (each leaf's `grad`) can be
   * differentiated again: second and higher derivatives. Default false.
   */
  createGraph?: boolean;
}

/**
 * An n-dimensional array of float64 or float32 values that records the differentiable ops
 * applied to it, so `backward()` can compute gradients.
 *
 * Shape: any; `shape` is row-major, outermost first; a scalar has shape `[]`.
 *
 * @example
 * ```ts
 * const x = new Tensor(Float64Array.of(1, 2, 3, 4), [2, 2], { requiresGrad: true });
 * x.mul(x).sum().backward();
 * x.grad?.toArray(); // [[2, 4], [6, 8]]
 * ```
 */
export class Tensor {
  /**
   * The row-major values (Float64Array for 'float64', Float32Array for 'float32').
   *
   * NOTE: writing into `data` by hand is an escape hatch that tapegrad cannot see: a backward
   * pass through a graph that saved these values would use the new ones. Prefer `fill_`/`copy_`
   * (or call {@link bumpVersion} after writing), which make such a backward throw; anomaly mode
   * (`detectAnomaly`) also catches hand-written changes to saved tensors.
   */
  readonly data: FloatArray;
  /** Dimensions, outermost first. */
  readonly shape: Shape;
  /** Gradient accumulated by backward(); null until then or after `zeroGrad({ setToNone: true })`. */
  grad: Tensor | null = null;
  /** Whether ops on this tensor are recorded and backward() fills its grad. */
  requiresGrad: boolean;
  /** @internal The op that made this tensor, until backward() frees it. */
  _node: Node | null = null;
  /** @internal Gradient being accumulated during a backward walk. */
  _gradBuf: FloatArray | null = null;
  /** @internal Visit stamp of the last backward walk that reached this tensor. */
  _mark = 0;
  /** @internal True once backward() has released the node that made this tensor. */
  _freed = false;
  /**
   * @internal Only the graph can reach this tensor (an intermediate inside nn.Sequential), so
   * the backward pass that frees its node recycles its data.
   */
  _graphOnly = false;
  /**
   * @internal The storage key of `data` (see storageKey in kernels/wasm/runtime.ts), found once:
   * `data` never changes, and neither does the memory it views, so neither does its key.
   */
  _key: object | null = null;

  /**
   * Wraps a row-major typed array; no copy.
   *
   * @param data - Float64Array or Float32Array of `prod(shape)` values.
   * @param shape - dimensions. Default `[data.length]`.
   * @param opts - requiresGrad (default false).
   * @throws DTypeError when data is not a float typed array; ShapeError when its length does not match.
   * @example
   * ```ts
   * new Tensor(new Float64Array(6), [2, 3]);
   * ```
   */
  constructor(data: FloatArray, shape?: Shape, opts?: { requiresGrad?: boolean }) {
    const o = checkOptions('Tensor', opts, ['requiresGrad']);
    const requiresGrad = optionalBoolean('Tensor', 'opts.requiresGrad', o.requiresGrad, false);
    if (!(data instanceof Float64Array) && !(data instanceof Float32Array)) {
      throw new DTypeError(`Tensor: data must be a Float64Array or Float32Array, got ${describe(data)}`);
    }
    const s = shape === undefined ? [data.length] : shape;
    let valid = Array.isArray(s);
    for (let i = 0; valid && i < s.length; i++) valid = Number.isSafeInteger(s[i]) && s[i] >= 0;
    if (!valid) assertValidShape('Tensor', 'shape', s);
    if (sizeOf(s) !== data.length) {
      throw new ShapeError(`Tensor: shape ${formatShape(s)} needs ${sizeOf(s)} elements, got data of length ${data.length}`);
    }
    this.data = data;
    this.shape = Object.freeze([...s]);
    this.requiresGrad = requiresGrad;
  }

  /**
   * A tensor of zeros.
   *
   * @param shape - dimensions.
   * @param opts - dtype (default 'float64'), requiresGrad (default false).
   * @example
   * ```ts
   * Tensor.zeros([2, 3], { dtype: 'float32' });
   * ```
   */
  static zeros(shape: Shape, opts?: TensorOptions): Tensor {
    return Tensor.filled('Tensor.zeros', shape, 0, opts);
  }

  /**
   * A tensor of ones.
   *
   * @param shape - dimensions.
   * @param opts - dtype (default 'float64'), requiresGrad (default false).
   * @example
   * ```ts
   * Tensor.ones([2, 2]);
   * ```
   */
  static ones(shape: Shape, opts?: TensorOptions): Tensor {
    return Tensor.filled('Tensor.ones', shape, 1, opts);
  }

  /**
   * A tensor filled with one value.
   *
   * @param shape - dimensions.
   * @param value - the fill value.
   * @param opts - dtype (default 'float64'), requiresGrad (default false).
   * @example
   * ```ts
   * Tensor.full([3], 0.5);
   * ```
   */
  static full(shape: Shape, value: number, opts?: TensorOptions): Tensor {
    return Tensor.filled('Tensor.full', shape, value, opts);
  }

  private static filled(fn: string, shape: Shape, value: number, opts: TensorOptions | undefined): Tensor {
    const { dtype, requiresGrad } = tensorOptions(fn, opts);
    assertValidShape(fn, 'shape', shape);
    if (typeof value !== 'number') throw new ValueError(`${fn}: value must be a number, got ${describe(value)}`);
    const data = allocate(dtype, sizeOf(shape), fn);
    if (value !== 0) data.fill(value);
    return new Tensor(data, shape, { requiresGrad });
  }

  /**
   * Standard normal samples from the seeded global PRNG (see `manualSeed`).
   *
   * @param shape - dimensions.
   * @param opts - dtype (default 'float64'), requiresGrad (default false).
   * @example
   * ```ts
   * manualSeed(0); const w = Tensor.randn([784, 10], { requiresGrad: true });
   * ```
   */
  static randn(shape: Shape, opts?: TensorOptions): Tensor {
    const { dtype, requiresGrad } = tensorOptions('Tensor.randn', opts);
    assertValidShape('Tensor.randn', 'shape', shape);
    const data = allocate(dtype, sizeOf(shape), 'Tensor.randn');
    for (let i = 0; i < data.length; i++) data[i] = randomNormal();
    return new Tensor(data, shape, { requiresGrad });
  }

  /**
   * Uniform samples in [low, high) from the seeded global PRNG.
   *
   * @param shape - dimensions.
   * @param low - lower bound. Default 0.
   * @param high - upper bound. Default 1.
   * @param opts - dtype (default 'float64'), requiresGrad (default false).
   * @example
   * ```ts
   * Tensor.rand([2, 2], -1, 1);
   * ```
   */
  static rand(shape: Shape, low = 0, high = 1, opts?: TensorOptions): Tensor {
    const { dtype, requiresGrad } = tensorOptions('Tensor.rand', opts);
    assertValidShape('Tensor.rand', 'shape', shape);
    for (const [arg, v] of [['low', low], ['high', high]] as const) {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValueError(`Tensor.rand: ${arg} must be a finite number, got ${describe(v)}`);
    }
    const data = allocate(dtype, sizeOf(shape), 'Tensor.rand');
    for (let i = 0; i < data.length; i++) data[i] = low + (high - low) * randomUniform();
    return new Tensor(data, shape, { requiresGrad });
  }

  /**
   * How many times this tensor's values were changed in place through tapegrad (optimizer
   * steps, `loadStateDict`, `loadCheckpoint`, `Tensor.copy_`/`fill_`, ...), like PyTorch's
   * `_version`. The count belongs to the memory, so every view of the same buffer (reshape,
   * detach) shares it. The tape remembers it for every tensor an op saves, and backward()
   * throws a GradError when a saved tensor was changed in between.
   *
   * NOTE: writing into `.data` by hand is an escape hatch the counter cannot see; call
   * {@link bumpVersion} after doing so, or run under `detectAnomaly`, which also checks the
   * saved values themselves.
   *
   * @example
   * ```ts
   * const v = w.version; opt.step(); w.version > v; // true
   * ```
   */
  get version(): number {
    return tensorVersion(this);
  }

  /** Element type: 'float64' or 'float32'. */
  get dtype(): DType {
    return dtypeOf(this.data);
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }

  /** True for a tensor the user made (not the output of a recorded op). */
  get isLeaf(): boolean {
    return this._node === null && !this._freed;
  }

  /**
   * The values as nested arrays (a number for a scalar).
   *
   * @example
   * ```ts
   * tensor([[1, 2]]).toArray(); // [[1, 2]]
   * ```
   */
  toArray(): NestedArray {
    const { data, shape } = this;
    if (shape.length === 0) return data[0];
    let pos = 0;
    const build = (dim: number): NestedArray[] => {
      const out: NestedArray[] = new Array(shape[dim]);
      for (let i = 0; i < shape[dim]; i++) out[i] = dim === shape.length - 1 ? data[pos++] : build(dim + 1);
      return out;
    };
    return build(0);
  }

  /**
   * The value of a one-element tensor.
   *
   * @throws ShapeError when the tensor holds more or fewer than one element.
   * @example
   * ```ts
   * loss.item(); // 2.3026
   * ```
   */
  item(): number {
    if (this.data.length !== 1) {
      throw new ShapeError(`item: the tensor must hold exactly one element, got shape ${formatShape(this.shape)} (${this.data.length} elements)`);
    }
    return this.data[0];
  }

  /**
   * Computes gradients of this tensor with respect to every leaf that requires grad,
   * accumulating them into each leaf's `grad`.
   *
   * @param gradient - d(objective)/d(this): required unless this holds one element (then 1).
   * Memory: intermediates are reused only where the library can prove no user code reaches
   * them (see the README's "What tapegrad promises"); every tensor you hold keeps its values.
   *
   * @param opts - retainGraph (default: createGraph): keep the graph for another backward();
   *   createGraph (default false): record the gradient computation, so the leaves' `grad` can be
   *   differentiated again.
   * @throws GradError when this does not require grad, a seed is missing or misshapen, the
   *   graph was freed, or a tensor the graph saved was changed in place since the forward pass.
   * @example
   * ```ts
   * const loss = x.mul(x).sum(); loss.backward();
   * ```
   */
  backward(gradient?: Tensor | FloatArray | null, opts?: BackwardOptions): void {
    const o = checkOptions('backward', opts, ['retainGraph', 'createGraph']);
    const createGraph = optionalBoolean('backward', 'opts.createGraph', o.createGraph, false);
    const retainGraph = optionalBoolean('backward', 'opts.retainGraph', o.retainGraph, createGraph);
    if (!this.requiresGrad) {
      throw new GradError(
        `backward: this ${formatShape(this.shape)} tensor does not require grad (no input of the ops that made it has requiresGrad: true, or it was made under noGrad); backward needs a tensor that requires grad, got requiresGrad false`,
      );
    }
    if (this._freed) {
      throw new GradError(
        `backward: the graph of this tensor was freed by an earlier backward(); recompute the forward pass, or pass { retainGraph: true } to the first call`,
      );
    }
    let seed: FloatArray;
    if (gradient === undefined || gradient === null) {
      if (this.data.length !== 1) {
        throw new GradError(
          `backward: gradient must be given for a non-scalar tensor of shape ${formatShape(this.shape)} (only one-element tensors default to 1), got none`,
        );
      }
      seed = allocate(this.dtype, 1);
      seed[0] = 1;
    } else {
      const g = gradient instanceof Tensor ? gradient.data : gradient;
      if (!(g instanceof Float64Array) && !(g instanceof Float32Array)) {
        throw new GradError(`backward: gradient must be a Tensor or a float typed array, got ${describe(gradient)}`);
      }
      if (gradient instanceof Tensor && !shapesEqual(gradient.shape, this.shape)) {
        throw new GradError(`backward: gradient must have shape ${formatShape(this.shape)} like this tensor, got ${formatShape(gradient.shape)}`);
      }
      if (g.length !== this.data.length) {
        throw new GradError(`backward: gradient must hold ${this.data.length} values like this ${formatShape(this.shape)} tensor, got ${g.length}`);
      }
      if (dtypeOf(g) !== this.dtype) {
        throw new DTypeError(`backward: gradient must have dtype '${this.dtype}' like this tensor, got '${dtypeOf(g)}'`);
      }
      seed = g.slice();
    }
    if (createGraph) {
      runTensorBackward([this], [new Tensor(seed, this.shape)], { createGraph, retainGraph });
      return;
    }
    runBackward(this, seed, retainGraph);
  }

  /**
   * Clears the accumulated gradient: zeroes it in place (keeping its buffer), or drops it.
   *
   * @param opts - setToNone (default false): set `grad` to null instead of zeroing.
   * @example
   * ```ts
   * w.zeroGrad();
   * ```
   */
  zeroGrad(opts?: { setToNone?: boolean }): void {
    const o = checkOptions('zeroGrad', opts, ['setToNone']);
    const setToNone = optionalBoolean('zeroGrad', 'opts.setToNone', o.setToNone, false);
    if (this.grad === null) return;
    if (setToNone) {
      this.grad = null;
    } else {
      this.grad.data.fill(0);
      bumpVersion(this.grad);
    }
  }

  /**
   * Sets every element to `value`, in place, and bumps {@link Tensor.version} (so a backward
   * pass that saved the old values throws instead of using the new ones).
   *
   * @param value - the new value of every element.
   * @returns this tensor.
   * @throws ValueError when value is not a number; GradError on a tensor that is part of a graph
   *   (requires grad and is not a leaf), whose old values backward may still need.
   * @example
   * ```ts
   * w.fill_(0);
   * ```
   */
  fill_(value: number): this {
    if (typeof value !== 'number') throw new ValueError(`fill_: value must be a number, got ${describe(value)}`);
    this.assertWritable('fill_');
    this.data.fill(value);
    bumpVersion(this);
    return this;
  }

  /**
   * Copies `src`'s values into this tensor, in place (same shape and dtype), and bumps
   * {@link Tensor.version}.
   *
   * @param src - a Tensor of this tensor's shape and dtype.
   * @returns this tensor.
   * @throws ShapeError / DTypeError when src does not match; GradError as {@link Tensor.fill_}.
   * @example
   * ```ts
   * target.copy_(online); // e.g. a target network's weights
   * ```
   */
  copy_(src: Tensor): this {
    if (!(src instanceof Tensor)) throw new ArgumentError(`copy_: src must be a Tensor, got ${describe(src)}`);
    if (!shapesEqual(src.shape, this.shape)) {
      throw new ShapeError(`copy_: src must have shape ${formatShape(this.shape)} like this tensor, got ${formatShape(src.shape)}`);
    }
    if (src.dtype !== this.dtype) throw new DTypeError(`copy_: src must have dtype '${this.dtype}' like this tensor, got '${src.dtype}'`);
    this.assertWritable('copy_');
    this.data.set(src.data);
    bumpVersion(this);
    return this;
  }

  private assertWritable(fn: string): void {
    if (this.requiresGrad && !this.isLeaf && isGradEnabled()) {
      throw new GradError(
        `${fn}: this ${formatShape(this.shape)} tensor is the output of '${this._node?.op ?? 'an op'}' and requires grad; changing it in place would corrupt its graph's backward; use a non-in-place op, or call it under noGrad on a detach()ed copy`,
      );
    }
  }

  /**
   * A tensor sharing this one's data, cut from the tape: it does not require grad.
   *
   * @example
   * ```ts
   * const frozen = h.detach();
   * ```
   */
  detach(): Tensor {
    return new Tensor(this.data, this.shape);
  }

  /**
   * A copy of the data in a new leaf tensor (not on the tape).
   *
   * @param opts - requiresGrad of the copy (default false).
   * @example
   * ```ts
   * const snapshot = w.clone();
   * ```
   */
  clone(opts?: { requiresGrad?: boolean }): Tensor {
    const o = checkOptions('clone', opts, ['requiresGrad']);
    const requiresGrad = optionalBoolean('clone', 'opts.requiresGrad', o.requiresGrad, false);
    return new Tensor(this.data.slice(), this.shape, { requiresGrad });
  }

  /**
   * This tensor's values converted to another dtype, as a new leaf (or this tensor when the dtype already matches).
   *
   * @param dtype - 'float64' or 'float32'.
   * @example
   * ```ts
   * const x32 = x.to('float32');
   * ```
   */
  to(dtype: DType): Tensor {
    const dt = resolveDType('Tensor.to', dtype);
    if (dt === this.dtype) return this;
    const data = allocate(dt, this.data.length);
    data.set(this.data);
    return new Tensor(data, this.shape);
  }

  /** Elementwise sum with broadcasting. @param other - tensor or number. */
  add(other: Tensor | number): Tensor {
    return add(this, this.lift('add', other));
  }
  /** Elementwise difference with broadcasting. @param other - tensor or number. */
  sub(other: Tensor | number): Tensor {
    return sub(this, this.lift('sub', other));
  }
  /** Elementwise product with broadcasting. @param other - tensor or number. */
  mul(other: Tensor | number): Tensor {
    return mul(this, this.lift('mul', other));
  }
  /** Elementwise quotient with broadcasting. @param other - tensor or number. */
  div(other: Tensor | number): Tensor {
    return div(this, this.lift('div', other));
  }
  /** Negation. */
  neg(): Tensor {
    return neg(this);
  }
  /** Matrix product of 2-D tensors: (M, K) @ (K, N) -> (M, N). @param other - right matrix. */
  matmul(other: Tensor): Tensor {
    return matmul(this, other);
  }
  /** max(x, 0) elementwise (the seed's ReLU). */
  relu(): Tensor {
    return relu(this);
  }
  /** e^x elementwise. */
  exp(): Tensor {
    return exp(this);
  }
  /** Natural log elementwise. */
  log(): Tensor {
    return log(this);
  }
  /** Sum of all elements, or along `axis`. @param axis - axis or all. @param keepDims - default false. */
  sum(axis?: number, keepDims = false): Tensor {
    return sum(this, axis, keepDims);
  }
  /** Mean of all elements, or along `axis`. @param axis - axis or all. @param keepDims - default false. */
  mean(axis?: number, keepDims = false): Tensor {
    return mean(this, axis, keepDims);
  }
  /** The same data under a new shape (one -1 allowed). @param shape - new shape. */
  reshape(shape: readonly number[]): Tensor {
    return reshape(this, shape);
  }
  /** Axes permuted (reversed by default: a matrix transpose). @param axes - permutation. */
  transpose(axes?: readonly number[]): Tensor {
    return transpose(this, axes);
  }
  // ---- activations (ops/activations.ts)
  /** Hyperbolic tangent elementwise (see ops.tanh). */
  tanh(): Tensor {
    return tanh(this);
  }
  /** Logistic sigmoid elementwise, finite for every x (see ops.sigmoid). */
  sigmoid(): Tensor {
    return sigmoid(this);
  }
  /** Square root elementwise (see ops.sqrt). */
  sqrt(): Tensor {
    return sqrt(this);
  }
  /** Absolute value elementwise; gradient 0 at 0 as PyTorch (see ops.abs). */
  abs(): Tensor {
    return abs(this);
  }
  /** x^p elementwise for a number p (see ops.pow). @param p - the exponent. */
  pow(p: number): Tensor {
    return pow(this, p);
  }
  /** Limited to [min, max], either bound optional (see ops.clamp). @param min - lower bound. @param max - upper bound. */
  clamp(min?: number, max?: number): Tensor {
    return clamp(this, min, max);
  }
  /** x for x > 0, slope * x otherwise (see ops.leakyRelu). @param slope - default 0.01. */
  leakyRelu(slope = 0.01): Tensor {
    return leakyRelu(this, slope);
  }
  /** x for x > 0, alpha * (e^x - 1) otherwise (see ops.elu). @param alpha - default 1. */
  elu(alpha = 1): Tensor {
    return elu(this, alpha);
  }
  /** x * Phi(x), exact erf form or `{ approximate: 'tanh' }` (see ops.gelu). @param opts - approximate: 'none' (default) or 'tanh'. */
  gelu(opts?: GeluOptions): Tensor {
    return gelu(this, opts);
  }
  /** x * sigmoid(x) elementwise (see ops.silu). */
  silu(): Tensor {
    return silu(this);
  }
  /** log(1 + e^x), PyTorch's beta 1 and threshold 20 (see ops.softplus). */
  softplus(): Tensor {
    return softplus(this);
  }

  // ---- softmax, reductions, shape (ops/softmax.ts, ops/reduce.ts, ops/shape_ops.ts)
  /** Softmax along `axis`, max-subtracted so large logits stay finite. @param axis - default -1. */
  softmax(axis = -1): Tensor {
    return softmax(this, axis);
  }
  /** Log-softmax along `axis` (log-sum-exp, stable for large logits). @param axis - default -1. */
  logSoftmax(axis = -1): Tensor {
    return logSoftmax(this, axis);
  }
  /**
   * Largest element, of all or along `axis` (PyTorch's amax: the gradient is split evenly among ties).
   * @param axis - axis or all. @param keepDims - default false.
   */
  max(axis?: number, keepDims = false): Tensor {
    return max(this, axis, keepDims);
  }
  /**
   * Smallest element, of all or along `axis` (PyTorch's amin: the gradient is split evenly among ties).
   * @param axis - axis or all. @param keepDims - default false.
   */
  min(axis?: number, keepDims = false): Tensor {
    return min(this, axis, keepDims);
  }
  /** Indices of the largest elements along `axis` (first among ties; no gradient). @param axis - axis, or the flattened tensor. */
  argmax(axis?: number): Int32Array {
    return argmax(this, axis);
  }
  /** A copied block, like tf.slice (size -1: to the end). @param begin - start per axis. @param size - length per axis. */
  slice(begin: readonly number[], size: readonly number[]): Tensor {
    return slice(this, begin, size);
  }
  /** Entries at `indices` along `axis` (torch.index_select). @param indices - integers. @param axis - default 0. */
  gather(indices: Int32Array | readonly number[], axis = 0): Tensor {
    return gather(this, indices, axis);
  }
  /** Axes from `startAxis` on merged into one (a view). @param startAxis - default 1. */
  flatten(startAxis = 1): Tensor {
    return flatten(this, startAxis);
  }
  /** Size-1 axes removed: `axis`, or all (a view). @param axis - axis or all. */
  squeeze(axis?: number): Tensor {
    return squeeze(this, axis);
  }
  /** A size-1 axis inserted at `axis` (a view). @param axis - position in the result. */
  unsqueeze(axis: number): Tensor {
    return unsqueeze(this, axis);
  }

  /**
   * The values laid out by rows as numpy and PyTorch print them, then shape and dtype. Large
   * tensors (over 1000 elements) show the first and last 3 entries of each dimension with
   * `...` between.
   *
   * @example
   * ```ts
   * String(tensor([[1, 2], [3, 4]]));
   * // Tensor([[1, 2],
   * //         [3, 4]], shape=[2, 2], dtype=float64)
   * ```
   */
  toString(): string {
    const prefix = 'Tensor(';
    const body = formatValues(this.data, this.shape, prefix.length);
    return `${prefix}${body}, shape=${formatShape(this.shape)}, dtype=${this.dtype}${this.requiresGrad ? ', requiresGrad=true' : ''})`;
  }

  private lift(fn: string, other: Tensor | number): Tensor {
    if (other instanceof Tensor) return other;
    if (typeof other === 'number') {
      const d = allocate(this.dtype, 1);
      d[0] = other;
      return new Tensor(d, []);
    }
    throw new ArgumentError(`${fn}: other must be a Tensor or a number, got ${describe(other)}`);
  }
}

/** Above this many elements, toString shows only the edges of each dimension (numpy's threshold). */
const PRINT_THRESHOLD = 1000;
const PRINT_EDGE = 3;

/** numpy-style nested rows, aligned, indented by `indent` columns after the first line. */
function formatValues(data: FloatArray, shape: Shape, indent: number): string {
  if (shape.length === 0) return String(data[0]);
  const summarize = data.length > PRINT_THRESHOLD;
  const strides: number[] = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = acc;
    acc *= shape[d];
  }
  const shownIndices = (n: number): (number | null)[] =>
    summarize && n > 2 * PRINT_EDGE
      ? [...Array.from({ length: PRINT_EDGE }, (_, i) => i), null, ...Array.from({ length: PRINT_EDGE }, (_, i) => n - PRINT_EDGE + i)]
      : Array.from({ length: n }, (_, i) => i);
  // First pass: the width of the widest shown number, so columns line up.
  let width = 0;
  const visit = (dim: number, offset: number, fn: (v: number) => void): void => {
    for (const i of shownIndices(shape[dim])) {
      if (i === null) continue;
      if (dim === shape.length - 1) fn(data[offset + i]);
      else visit(dim + 1, offset + i * strides[dim], fn);
    }
  };
  visit(0, 0, (v) => (width = Math.max(width, String(v).length)));
  const build = (dim: number, offset: number): string => {
    const parts: string[] = [];
    for (const i of shownIndices(shape[dim])) {
      if (i === null) parts.push('...');
      else if (dim === shape.length - 1) parts.push(String(data[offset + i]).padStart(width));
      else parts.push(build(dim + 1, offset + i * strides[dim]));
    }
    if (dim === shape.length - 1) return `[${parts.join(', ')}]`;
    const gap = ',' + '\n'.repeat(shape.length - 1 - dim) + ' '.repeat(indent + dim + 1);
    return `[${parts.join(gap)}]`;
  };
  return build(0, 0);
}

/**
 * Records that `t`'s values were changed in place, so a backward pass that saved the old
 * values throws instead of using the new ones. Everything in tapegrad that writes into a
 * tensor's data calls it; user code that writes into `.data` by hand should too.
 *
 * @param t - the tensor (or typed array) whose values were just changed.
 * @example
 * ```ts
 * w.data[0] = 1; bumpVersion(w);
 * ```
 */
export function bumpVersion(t: Tensor | FloatArray): void {
  const key = t instanceof Tensor ? tensorKey(t) : storageKey(t);
  versions.set(key, (versions.get(key) ?? 0) + 1);
}

/**
 * The storage key of a tensor's data (storageKey in kernels/wasm/runtime.ts), looked up once per
 * tensor: two tensors share memory exactly when their keys are the same object.
 *
 * @internal
 * @param t - the tensor.
 * @example
 * ```ts
 * const shared = tensorKey(a) === tensorKey(b);
 * ```
 */
export function tensorKey(t: Tensor): object {
  return (t._key ??= storageKey(t.data));
}

/**
 * The in-place change count of a tensor's memory: {@link versionOf} of its data, with the
 * memory's key remembered on the tensor (the tape reads every op's inputs' versions twice).
 *
 * @internal
 * @param t - the tensor.
 * @example
 * ```ts
 * tensorVersion(w) === versionOf(w.data); // true
 * ```
 */
export function tensorVersion(t: Tensor): number {
  return versions.get(tensorKey(t)) ?? 0;
}

/**
 * In-place change counts by backing memory (a buffer, or for tensors in the kernels' memory the
 * array that owns the region: see storageKey), so that views share their base's count.
 */
const versions = new WeakMap<object, number>();

/**
 * The in-place change count of the memory behind `data` (0 until first changed).
 *
 * @param data - a tensor's data, or any view of it.
 * @example
 * ```ts
 * versionOf(w.data) === w.version; // true
 * ```
 */
export function versionOf(data: FloatArray): number {
  return versions.get(storageKey(data)) ?? 0;
}

/**
 * Makes a tensor from a number, nested arrays of numbers, or a typed array (copied).
 *
 * @param values - the values; nested arrays must be rectangular.
 * @param opts - dtype (default 'float64'; a Float32Array input defaults to 'float32'), requiresGrad (default false).
 * @throws ShapeError on ragged arrays, ValueError on non-numbers.
 * @example
 * ```ts
 * const x = tensor([[1, 2], [3, 4]], { requiresGrad: true });
 * ```
 */
export function tensor(values: NestedArray | FloatArray | readonly number[], opts?: TensorOptions): Tensor {
  const o = tensorOptions('tensor', opts);
  if (values instanceof Float64Array || values instanceof Float32Array) {
    const dt = opts?.dtype === undefined ? dtypeOf(values) : o.dtype;
    const data = allocate(dt, values.length);
    data.set(values);
    return new Tensor(data, [values.length], { requiresGrad: o.requiresGrad });
  }
  const dtype = o.dtype;
  const shape: number[] = [];
  let probe: unknown = values;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const data = allocate(dtype, sizeOf(shape), 'tensor');
  let pos = 0;
  const fill = (v: unknown, dim: number, path: string): void => {
    if (dim === shape.length) {
      if (typeof v !== 'number') {
        throw new ValueError(`tensor: values${path} must be a number, got ${describe(v)}`);
      }
      data[pos++] = v;
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim]) {
      throw new ShapeError(
        `tensor: values${path} must be an array of length ${shape[dim]} (nested arrays must be rectangular), got ${describe(v)}`,
      );
    }
    for (let i = 0; i < v.length; i++) fill(v[i], dim + 1, `${path}[${i}]`);
  };
  fill(values, 0, '');
  return new Tensor(data, shape, { requiresGrad: o.requiresGrad });
}

/** Checks {@link TensorOptions} for `fn`: known keys only, a dtype, a boolean requiresGrad. */
function tensorOptions(fn: string, opts: TensorOptions | undefined): { dtype: DType; requiresGrad: boolean } {
  const o = checkOptions(fn, opts, ['dtype', 'requiresGrad']);
  return { dtype: resolveDType(fn, o.dtype), requiresGrad: optionalBoolean(fn, 'opts.requiresGrad', o.requiresGrad, false) };
}
