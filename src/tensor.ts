/**
 * The Tensor: a row-major typed array with a shape, a dtype, and a place on the tape.
 * Op methods are thin calls into `ops/`.
 *
 * @packageDocumentation
 */
import type { Node } from './autograd/tape';
import { runBackward } from './autograd/tape';
import { allocate, dtypeOf, resolveDType, type DType, type FloatArray } from './dtype';
import { ArgumentError, DTypeError, GradError, ShapeError, ValueError } from './errors';
import { add, div, exp, log, mul, neg, sub } from './ops/elementwise';
import { relu } from './ops/layers';
import { matmul } from './ops/matmul';
import { mean, sum } from './ops/reduce';
import { reshape, transpose } from './ops/shape_ops';
import { randomNormal, randomUniform } from './random';
import { assertValidShape, describe, formatShape, shapesEqual, sizeOf, type Shape } from './shape';

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
  /** Keep the graph's nodes so backward can run through it again. Default false. */
  retainGraph?: boolean;
  /**
   * Promise that nothing outside the tape still reads the intermediate tensors of this graph
   * (every op output between the leaves and this tensor, and views of them made with
   * `detach()`), so their data can be reused by later ops instead of fresh memory. The Trainer
   * uses it; leaves and this tensor itself are never touched. Default false. Without it,
   * backward still reuses the intermediates nothing else can reach: the outputs passed between
   * two of the library's own layers (Affine, ReLU, BatchNorm1d, LayerNorm, Dropout) inside an
   * nn.Sequential.
   */
  releaseActivations?: boolean;
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
  /** The row-major values (Float64Array for 'float64', Float32Array for 'float32'). */
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
  constructor(data: FloatArray, shape?: Shape, opts: { requiresGrad?: boolean } = {}) {
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
    this.requiresGrad = opts.requiresGrad === true;
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
  static zeros(shape: Shape, opts: TensorOptions = {}): Tensor {
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
  static ones(shape: Shape, opts: TensorOptions = {}): Tensor {
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
  static full(shape: Shape, value: number, opts: TensorOptions = {}): Tensor {
    return Tensor.filled('Tensor.full', shape, value, opts);
  }

  private static filled(fn: string, shape: Shape, value: number, opts: TensorOptions): Tensor {
    assertValidShape(fn, 'shape', shape);
    if (typeof value !== 'number') throw new ValueError(`${fn}: value must be a number, got ${describe(value)}`);
    const data = allocate(resolveDType(fn, opts.dtype), sizeOf(shape));
    if (value !== 0) data.fill(value);
    return new Tensor(data, shape, opts);
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
  static randn(shape: Shape, opts: TensorOptions = {}): Tensor {
    assertValidShape('Tensor.randn', 'shape', shape);
    const data = allocate(resolveDType('Tensor.randn', opts.dtype), sizeOf(shape));
    for (let i = 0; i < data.length; i++) data[i] = randomNormal();
    return new Tensor(data, shape, opts);
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
  static rand(shape: Shape, low = 0, high = 1, opts: TensorOptions = {}): Tensor {
    assertValidShape('Tensor.rand', 'shape', shape);
    for (const [arg, v] of [['low', low], ['high', high]] as const) {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValueError(`Tensor.rand: ${arg} must be a finite number, got ${describe(v)}`);
    }
    const data = allocate(resolveDType('Tensor.rand', opts.dtype), sizeOf(shape));
    for (let i = 0; i < data.length; i++) data[i] = low + (high - low) * randomUniform();
    return new Tensor(data, shape, opts);
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
    return versionOf(this.data);
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
   * @param opts - retainGraph (default false): keep the graph for another backward();
   *   releaseActivations (default false): let later ops reuse the intermediates' memory.
   * @throws GradError when this does not require grad, a seed is missing or misshapen, or the graph was freed.
   * @example
   * ```ts
   * const loss = x.mul(x).sum(); loss.backward();
   * ```
   */
  backward(gradient?: Tensor | FloatArray | null, opts: BackwardOptions = {}): void {
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
    if (opts.releaseActivations === true && opts.retainGraph === true) {
      throw new GradError('backward: opts.releaseActivations needs the graph to be freed, got retainGraph: true as well');
    }
    runBackward(this, seed, opts.retainGraph === true, opts.releaseActivations === true);
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
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    if (this.grad === null) return;
    if (opts.setToNone) this.grad = null;
    else this.grad.data.fill(0);
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
  clone(opts: { requiresGrad?: boolean } = {}): Tensor {
    return new Tensor(this.data.slice(), this.shape, opts);
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

  /**
   * A short description: shape, dtype and the first values.
   *
   * @example
   * ```ts
   * String(tensor([1, 2])); // 'Tensor([1, 2], shape=[2], dtype=float64)'
   * ```
   */
  toString(): string {
    const n = this.data.length;
    const shown = Array.from(this.data.subarray(0, Math.min(n, 6)), (v) => String(v)).join(', ');
    return `Tensor([${shown}${n > 6 ? ', ...' : ''}], shape=${formatShape(this.shape)}, dtype=${this.dtype}${this.requiresGrad ? ', requiresGrad=true' : ''})`;
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
  const buffer = (t instanceof Tensor ? t.data : t).buffer;
  versions.set(buffer, (versions.get(buffer) ?? 0) + 1);
}

/** In-place change counts by backing buffer, so that views share their base's count. */
const versions = new WeakMap<ArrayBufferLike, number>();

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
  return versions.get(data.buffer) ?? 0;
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
export function tensor(values: NestedArray | FloatArray | readonly number[], opts: TensorOptions = {}): Tensor {
  if (values instanceof Float64Array || values instanceof Float32Array) {
    const dt = opts.dtype === undefined ? dtypeOf(values) : resolveDType('tensor', opts.dtype);
    const data = allocate(dt, values.length);
    data.set(values);
    return new Tensor(data, [values.length], opts);
  }
  const dtype = resolveDType('tensor', opts.dtype);
  const shape: number[] = [];
  let probe: unknown = values;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const data = allocate(dtype, sizeOf(shape));
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
  return new Tensor(data, shape, opts);
}
