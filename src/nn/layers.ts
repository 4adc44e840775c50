/**
 * The layers: Affine, ReLU, BatchNorm1d, LayerNorm, Dropout and Sequential. Each forward goes
 * through the hand-written kernels on the tape (`ops/`).
 *
 * @packageDocumentation
 */
import { currentModule, isAnomalyEnabled, withModule } from '../autograd/mode';
import { resolveDType, type DType } from '../dtype';
import { ArgumentError, ShapeError, ValueError } from '../errors';
import { affine, batchnorm, batchnormRelu, dropout, layernorm, relu } from '../ops/layers';
import { checkOptions, optionalBoolean } from '../options';
import { describe, formatShape, sizeOf } from '../shape';
import { Tensor, tensorKey } from '../tensor';
import { kaimingUniform } from './default_init';
import * as init from './init';
import { Module, torchEntry, torchTransposedEntry, type TorchEntry } from './module';
import type { BatchnormConvention, BatchnormParam } from '../kernels/batchnorm';
import { ELU, GELU, LeakyReLU, SiLU, Sigmoid, Softplus, Tanh } from './activations';
import { LogSoftmax, Softmax } from './shape_layers';

function checkCount(fn: string, arg: string, v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) < 1) throw new ValueError(`${fn}: ${arg} must be a positive integer, got ${describe(v)}`);
  return v as number;
}

/**
 * What an error of `layer` calls it: its label inside a Sequential ('0:Affine', 'Sequential >
 * 1:Affine') when that label is this layer's, else its class name (under the running module's
 * label, if any).
 */
function layerLabel(layer: Module): string {
  const name = layer.constructor.name;
  const running = currentModule();
  if (running === undefined) return name;
  return running.endsWith(`:${name}`) ? running : `${running} > ${name}`;
}

function checkInRange(fn: string, arg: string, v: unknown, lo: number, hi: number, hiIncluded: boolean): number {
  const ok = typeof v === 'number' && v >= lo && (hiIncluded ? v <= hi : v < hi);
  if (!ok) throw new ValueError(`${fn}: ${arg} must be a number in [${lo}, ${hi}${hiIncluded ? ']' : ')'}, got ${describe(v)}`);
  return v as number;
}

/** Options of {@link Affine}. */
export interface AffineOptions {
  /** Learn a bias. Default true. */
  bias?: boolean;
  /** Parameters' dtype. Default 'float64'. */
  dtype?: DType;
  /**
   * How to initialise the weight [in, out]: the name of an `nn.init` function, called with its
   * defaults (for 'kaimingUniform', the default distribution, computed as PyTorch does), or a
   * function that fills the weight in place (e.g. `(w) => nn.init.xavierUniform(w, { gain: 5 / 3 })`).
   * Default: He-uniform, U(-sqrt(6 / in), sqrt(6 / in)). The bias always starts at zero.
   */
  init?: AffineInit;
}

/** The weight initialisations {@link Affine} takes by name, or a function filling the weight in place. */
export type AffineInit = 'kaimingUniform' | 'kaimingNormal' | 'xavierUniform' | 'xavierNormal' | ((w: Tensor) => void);

const AFFINE_INITS: Readonly<Record<string, (w: Tensor) => unknown>> = {
  kaimingUniform: (w) => init.kaimingUniform(w),
  kaimingNormal: (w) => init.kaimingNormal(w),
  xavierUniform: (w) => init.xavierUniform(w),
  xavierNormal: (w) => init.xavierNormal(w),
};

/**
 * Fully connected layer, the seed's affine: y = reshape(x, [N, D]) @ weight + bias.
 * weight is [in, out] (the seed's w), He-uniform initialised; bias starts at zero.
 *
 * Shape: input (N, d1..dk) with d1*...*dk = inFeatures -> (N, outFeatures).
 *
 * @example
 * ```ts
 * const fc = new Affine(784, 256, { dtype: 'float32' });
 * const h = fc.forward(x);
 * ```
 */
export class Affine extends Module {
  /** Weights, shape [inFeatures, outFeatures]. */
  readonly weight: Tensor;
  /** Bias, shape [outFeatures], or null with `{ bias: false }`. */
  readonly bias: Tensor | null;
  /** A zero bias used when bias is off (not a parameter). */
  private readonly zeroBias: Tensor | null;

  /**
   * @param inFeatures - input size D.
   * @param outFeatures - output size M.
   * @param opts - bias (default true), dtype (default 'float64'), init (default He-uniform; see {@link AffineOptions.init}).
   * @throws ValueError on a count that is not a positive integer, an unknown option or an
   *   unknown init name; ArgumentError when opts is not an object, bias not a boolean or init
   *   neither a name nor a function; DTypeError on a bad dtype; whatever an init function throws.
   */
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts?: AffineOptions,
  ) {
    super();
    checkCount('Affine', 'inFeatures', inFeatures);
    checkCount('Affine', 'outFeatures', outFeatures);
    const o = checkOptions('Affine', opts, ['bias', 'dtype', 'init']);
    const useBias = optionalBoolean('Affine', 'opts.bias', o.bias, true);
    const dtype = resolveDType('Affine', o.dtype);
    const initFn = o.init === undefined ? null : affineInit(o.init);
    this.weight = this.registerParameter(
      'weight',
      initFn === null ? kaimingUniform([inFeatures, outFeatures], inFeatures, dtype) : Tensor.zeros([inFeatures, outFeatures], { dtype }),
    );
    if (initFn !== null) initFn(this.weight);
    this.bias = useBias ? this.registerParameter('bias', Tensor.zeros([outFeatures], { dtype })) : null;
    this.zeroBias = useBias ? null : Tensor.zeros([outFeatures], { dtype });
  }

  /**
   * @param x - input (N, d1..dk) with d1 * ... * dk = inFeatures.
   * @throws ShapeError naming this layer (its label inside a Sequential, e.g. '0:Affine') when
   *   x does not have inFeatures features per row.
   */
  forward(x: Tensor): Tensor {
    if (x instanceof Tensor && (x.shape.length < 1 || sizeOf(x.shape.slice(1)) !== this.inFeatures)) {
      throw new ShapeError(
        `${layerLabel(this)}: expected x of shape (N, d1..dk) with ${this.inFeatures} features (inFeatures), got x of shape ${formatShape(x.shape)}`,
      );
    }
    return affine(x, this.weight, this.bias ?? this.zeroBias!);
  }

  /** PyTorch's Linear: weight [outFeatures, inFeatures] (this weight transposed), then bias. */
  protected override torchEntries(): TorchEntry[] {
    const out = [torchTransposedEntry('weight', this.weight)];
    if (this.bias !== null) out.push(torchEntry('bias', this.bias));
    return out;
  }

  protected override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

function affineInit(v: unknown): (w: Tensor) => unknown {
  if (typeof v === 'function') return v as (w: Tensor) => unknown;
  if (typeof v === 'string') {
    if (Object.hasOwn(AFFINE_INITS, v)) return AFFINE_INITS[v];
    throw new ValueError(`Affine: opts.init must be one of ${Object.keys(AFFINE_INITS).map((k) => `'${k}'`).join(', ')} or a function, got ${describe(v)}`);
  }
  throw new ArgumentError(`Affine: opts.init must be the name of an nn.init function or a function (w) => void, got ${describe(v)}`);
}

/**
 * Rectified linear unit, max(x, 0), the seed's kernel.
 *
 * Shape: any -> same.
 *
 * @example
 * ```ts
 * new ReLU().forward(tensor([-1, 2])); // [0, 2]
 * ```
 */
export class ReLU extends Module {
  /**
   * @param opts - none exist; any given is an error (PyTorch's `inplace` is not supported).
   * @throws ArgumentError when opts is not an object; ValueError for any option.
   */
  constructor(opts?: Record<string, never>) {
    super();
    checkOptions('ReLU', opts, []);
  }

  /** @param x - input. */
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** Options of {@link BatchNorm1d}. */
export interface BatchNormOptions {
  /** Added to the variance. Default 1e-5. */
  eps?: number;
  /**
   * 'seed': running = momentum * running + (1 - momentum) * batch, default 0.9.
   * 'torch': running = (1 - momentum) * running + momentum * batch, default 0.1.
   */
  momentum?: number;
  /**
   * The running-statistics rule. 'seed' (default): the seed's, above, biased batch variance,
   * running statistics starting at zero. 'torch': PyTorch's, momentum on the new value, the
   * unbiased batch variance (N / (N - 1)) in the running variance, running variance starting at
   * ones, so training matches `torch.nn.BatchNorm1d` step for step. Both normalize a training
   * batch with its biased variance.
   */
  convention?: BatchnormConvention;
  /** Parameters' and buffers' dtype. Default 'float64'. */
  dtype?: DType;
}

/**
 * Batch normalization over the features of 2-D input, on the seed's kernels. Training: batch
 * mean and biased variance; running statistics updated by the seed's convention,
 * `running = momentum * running + (1 - momentum) * batch` (starting at zero), or with
 * `{ convention: 'torch' }` by PyTorch's (see {@link BatchNormOptions.convention}). Eval: the
 * running statistics. Each training forward counts one in {@link BatchNorm1d.numBatchesTracked}.
 *
 * NOTE: train mode needs at least 2 rows (a ShapeError otherwise, as PyTorch refuses too).
 *
 * Shape: (N, numFeatures) -> same.
 *
 * @example
 * ```ts
 * const bn = new BatchNorm1d(256);
 * bn.forward(x); bn.eval(); bn.forward(xTest);
 * ```
 */
export class BatchNorm1d extends Module {
  /** gamma, shape [numFeatures], starts at ones. */
  readonly weight: Tensor;
  /** beta, shape [numFeatures], starts at zeros. */
  readonly bias: Tensor;
  /** Running mean (buffer), starts at zeros. */
  readonly runningMean: Tensor;
  /** Running biased variance (buffer), starts at zeros as in the seed. */
  readonly runningVar: Tensor;
  /** Added to the variance. */
  readonly eps: number;
  /** Weight of the old running value ('seed') or of the batch statistic ('torch'). */
  readonly momentum: number;
  /** The running-statistics rule. */
  readonly convention: BatchnormConvention;
  /**
   * Training forwards run so far (PyTorch's `num_batches_tracked`, saved as I64 in the PyTorch
   * layout). A plain number, not a buffer: tapegrad's own state dict and checkpoints do not hold it.
   */
  numBatchesTracked = 0;

  /**
   * @param numFeatures - D.
   * @param opts - eps (1e-5), momentum (0.9 'seed', 0.1 'torch'), convention ('seed'), dtype ('float64').
   * @throws ValueError on a bad count, eps, momentum or an unknown option; ArgumentError when
   *   opts is not an object; DTypeError on a bad dtype.
   */
  constructor(
    readonly numFeatures: number,
    opts?: BatchNormOptions,
  ) {
    super();
    checkCount('BatchNorm1d', 'numFeatures', numFeatures);
    const o = checkOptions('BatchNorm1d', opts, ['eps', 'momentum', 'convention', 'dtype']);
    const convention = o.convention ?? 'seed';
    if (convention !== 'seed' && convention !== 'torch') {
      throw new ValueError(`BatchNorm1d: opts.convention must be 'seed' or 'torch', got ${describe(convention)}`);
    }
    this.convention = convention;
    this.eps = checkInRange('BatchNorm1d', 'opts.eps', o.eps ?? 1e-5, 0, Infinity, false);
    this.momentum = checkInRange('BatchNorm1d', 'opts.momentum', o.momentum ?? (convention === 'torch' ? 0.1 : 0.9), 0, 1, true);
    const dtype = resolveDType('BatchNorm1d', o.dtype);
    this.weight = this.registerParameter('weight', Tensor.ones([numFeatures], { dtype }));
    this.bias = this.registerParameter('bias', Tensor.zeros([numFeatures], { dtype }));
    this.runningMean = this.registerBuffer('runningMean', Tensor.zeros([numFeatures], { dtype }));
    this.runningVar = this.registerBuffer(
      'runningVar',
      convention === 'torch' ? Tensor.ones([numFeatures], { dtype }) : Tensor.zeros([numFeatures], { dtype }),
    );
  }

  /** @param x - input (N, numFeatures). */
  forward(x: Tensor): Tensor {
    const out = batchnorm(x, this.weight, this.bias, this.bnParam());
    if (this.training) this.numBatchesTracked += 1;
    return out;
  }

  /**
   * `relu(this.forward(x))` as one op on the tape (see `batchnormRelu` in ops/layers.ts):
   * `nn.Sequential` calls it for this layer followed by a ReLU.
   *
   * @internal
   * @param x - input (N, numFeatures).
   */
  forwardRelu(x: Tensor): Tensor {
    const out = batchnormRelu(x, this.weight, this.bias, this.bnParam());
    if (this.training) this.numBatchesTracked += 1;
    return out;
  }

  private bnParam(): BatchnormParam {
    return {
      mode: this.training ? 'train' : 'test',
      eps: this.eps,
      momentum: this.momentum,
      ...(this.convention === 'torch' ? { convention: 'torch' as const } : {}),
      runningMean: this.runningMean.data,
      runningVar: this.runningVar.data,
    };
  }

  /** PyTorch's names: weight, bias, running_mean, running_var, num_batches_tracked (int64, shape []). */
  protected override torchEntries(): TorchEntry[] {
    return [
      torchEntry('weight', this.weight),
      torchEntry('bias', this.bias),
      torchEntry('running_mean', this.runningMean),
      torchEntry('running_var', this.runningVar),
      {
        name: 'num_batches_tracked',
        shape: [],
        dtype: undefined,
        int64: true,
        source: undefined,
        get: () => new Tensor(new Float64Array([this.numBatchesTracked]), []),
        set: (values) => {
          this.numBatchesTracked = values[0];
        },
      },
    ];
  }

  protected override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}${this.convention === 'torch' ? ", convention='torch'" : ''}`;
  }
}

/** Options of {@link LayerNorm}. */
export interface LayerNormOptions {
  /** Added to the variance. Default 1e-5. */
  eps?: number;
  /** Parameters' dtype. Default 'float64'. */
  dtype?: DType;
}

/**
 * Layer normalization over each row's features, with learned scale and shift. Behaves the
 * same in train and eval.
 *
 * Shape: (N, numFeatures) -> same.
 *
 * @example
 * ```ts
 * const ln = new LayerNorm(64);
 * ```
 */
export class LayerNorm extends Module {
  /** gamma, starts at ones. */
  readonly weight: Tensor;
  /** beta, starts at zeros. */
  readonly bias: Tensor;
  /** Added to the variance. */
  readonly eps: number;

  /**
   * @param numFeatures - D.
   * @param opts - eps (1e-5), dtype ('float64').
   * @throws ValueError on a bad count, eps or an unknown option; ArgumentError when opts is not
   *   an object; DTypeError on a bad dtype.
   */
  constructor(
    readonly numFeatures: number,
    opts?: LayerNormOptions,
  ) {
    super();
    checkCount('LayerNorm', 'numFeatures', numFeatures);
    const o = checkOptions('LayerNorm', opts, ['eps', 'dtype']);
    this.eps = checkInRange('LayerNorm', 'opts.eps', o.eps ?? 1e-5, 0, Infinity, false);
    const dtype = resolveDType('LayerNorm', o.dtype);
    this.weight = this.registerParameter('weight', Tensor.ones([numFeatures], { dtype }));
    this.bias = this.registerParameter('bias', Tensor.zeros([numFeatures], { dtype }));
  }

  /** @param x - input (N, numFeatures). */
  forward(x: Tensor): Tensor {
    return layernorm(x, this.weight, this.bias, this.eps);
  }

  protected override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}`;
  }
}

/**
 * Inverted dropout: in training, zeroes each element with probability p and scales the rest
 * by 1 / (1 - p); in eval, the identity. Masks come from the seeded PRNG.
 *
 * Shape: any -> same.
 *
 * @example
 * ```ts
 * const drop = new Dropout(0.5);
 * ```
 */
export class Dropout extends Module {
  /**
   * @param p - drop probability in [0, 1). Default 0.5.
   * @param opts - none exist; any given is an error (PyTorch's `inplace` is not supported).
   * @throws ValueError when p is out of range or an option is given; ArgumentError when opts is
   *   not an object.
   */
  constructor(
    readonly p = 0.5,
    opts?: Record<string, never>,
  ) {
    super();
    checkInRange('Dropout', 'p', p, 0, 1, false);
    checkOptions('Dropout', opts, []);
  }

  /** @param x - input. */
  forward(x: Tensor): Tensor {
    if (!(x instanceof Tensor)) throw new ArgumentError(`Dropout.forward: x must be a Tensor, got ${describe(x)}`);
    return this.training && this.p > 0 ? dropout(x, this.p) : x;
  }

  protected override extraRepr(): string {
    return `p=${this.p}`;
  }
}

/**
 * A chain of modules, each fed the previous one's output; children are named '0', '1', ...
 *
 * Memory: an output passed between two of the library's own layers is reused by the backward
 * pass that frees the graph, when the library can prove nothing else reaches it (see
 * {@link sealIntermediate}). Any layer replaced, wrapped or patched by user code simply runs
 * without that reuse; the chain's input and final output are never reused.
 *
 * Shape: the first layer's input -> the last layer's output.
 *
 * @example
 * ```ts
 * const model = new Sequential(new Affine(2, 64), new ReLU(), new Affine(64, 3));
 * ```
 */
export class Sequential extends Module {
  /** The layers, in order. Replacing one (`seq.layers[1] = other`) takes effect at the next forward. */
  readonly layers: Module[];

  /** @param layers - the modules to chain. */
  constructor(...layers: Module[]) {
    super();
    layers.forEach((m, i) => {
      if (!(m instanceof Module)) throw new ArgumentError(`Sequential: layers[${i}] must be a Module, got ${describe(m)}`);
    });
    this.layers = layers;
  }

  /** The layers as children '0', '1', ..., read from {@link Sequential.layers} at each walk. */
  protected override namedChildrenOwn(): [string, Module][] {
    return this.layers.map((m, i): [string, Module] => {
      if (!(m instanceof Module)) throw new ArgumentError(`Sequential: layers[${i}] must be a Module, got ${describe(m)}`);
      return [String(i), m];
    });
  }

  /** Layer labels for error messages ('1:BatchNorm1d'), made once per layer placed at an index. */
  private readonly labels: { layer: Module; label: string }[] = [];

  private labelOf(i: number, layer: Module): string {
    const cached = this.labels[i];
    if (cached !== undefined && cached.layer === layer) return cached.label;
    const label = `${i}:${layer.constructor.name}`;
    this.labels[i] = { layer, label };
    return label;
  }

  /** @param x - input to the first layer. */
  forward(x: Tensor): Tensor {
    const layers = this.layers;
    let h = x;
    // Whether h was made by one of the library's own forward functions, called here.
    let hSealed = false;
    for (let i = 0; i < layers.length; i++) {
      const layer = layers[i];
      if (!(layer instanceof Module)) throw new ArgumentError(`Sequential.forward: layers[${i}] must be a Module, got ${describe(layer)}`);
      // Read forward once, decide on that very function, and call it: a getter, an instance
      // property or a prototype patch yields a different function and so no reuse.
      const f = layer.forward;
      if (typeof f !== 'function') throw new ArgumentError(`Sequential.forward: layers[${i}].forward must be a function, got ${describe(f)}`);
      const own = SEALED_FORWARDS.has(f);
      let out: Tensor;
      if (f === BN_FORWARD && layer instanceof BatchNorm1d && reluFollows(layers, i) && !isAnomalyEnabled()) {
        // BatchNorm1d then ReLU, both the library's own: one op (one tape node, no tensor
        // between them). Anomaly mode runs them apart, so its messages name each op.
        out = withModule(this.labelOf(i, layer), () => BN_FORWARD_RELU.call(layer, h));
        i++;
      } else {
        out = withModule(this.labelOf(i, layer), () => f.call(layer, h));
      }
      if (hSealed && own) sealIntermediate(h, out);
      hSealed = own && out instanceof Tensor && out._node !== null && out !== h && h instanceof Tensor && tensorKey(out) !== tensorKey(h);
      h = out;
    }
    return h;
  }
}

/**
 * The library's own forward functions, captured when this file loads, before any user code
 * can patch a prototype. Each one hands its input only to tapegrad's ops (which keep it only
 * in the tape's closures) and returns a freshly allocated output (or its input unchanged,
 * which {@link Sequential.forward} checks for). `this` lookups they make (weights, training
 * flag) never see the input, so calling them on a subclass or a Proxy is still sealed.
 */
const SEALED_FORWARDS: ReadonlySet<unknown> = new Set<unknown>([
  Affine.prototype.forward,
  ReLU.prototype.forward,
  BatchNorm1d.prototype.forward,
  LayerNorm.prototype.forward,
  Dropout.prototype.forward,
  Softmax.prototype.forward,
  LogSoftmax.prototype.forward,
  Tanh.prototype.forward,
  Sigmoid.prototype.forward,
  LeakyReLU.prototype.forward,
  GELU.prototype.forward,
  ELU.prototype.forward,
  SiLU.prototype.forward,
  Softplus.prototype.forward,
]);

const BN_FORWARD = BatchNorm1d.prototype.forward;
const BN_FORWARD_RELU = BatchNorm1d.prototype.forwardRelu;
const RELU_FORWARD = ReLU.prototype.forward;

/** Whether layers[i + 1] is a ReLU whose forward is the library's own (read once, here). */
function reluFollows(layers: readonly Module[], i: number): boolean {
  const next = layers[i + 1];
  return next instanceof ReLU && next.forward === RELU_FORWARD;
}

/**
 * Marks `h` as reachable only through the graph, so the backward pass that frees the graph may
 * reuse its memory (kind 3 of the tape's ownership rule, `releaseDead` in autograd/tape.ts).
 * The proof, all checked by the caller or here: `h` was made by a sealed forward called by
 * `Sequential.forward` itself, so no user code received it as a return value; it was handed to
 * exactly one other sealed forward, so no user code received it as an argument; and that
 * forward returned a different array, so `h` does not live on in `out`.
 */
function sealIntermediate(h: Tensor, out: Tensor): void {
  if (out instanceof Tensor && out !== h && tensorKey(out) !== tensorKey(h)) h._graphOnly = true;
}
