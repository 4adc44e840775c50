/**
 * `nn.init`: PyTorch's `torch.nn.init` functions, filling a tensor in place from the seeded
 * global PRNG (`manualSeed`), with PyTorch's formulas and argument names.
 *
 * NOTE: tapegrad's `Affine` weight is [in, out] (PyTorch's `Linear` weight is [out, in]), so for
 * a 2-D weight fanIn is `shape[0]` and fanOut is `shape[1]`; for more axes both are multiplied by
 * the product of the axes after the first two (the receptive field, as in PyTorch).
 *
 * @packageDocumentation
 */
import { ArgumentError, GradError, ShapeError, ValueError } from '../errors';
import { checkOptions } from '../options';
import { randomNormal, randomUniform } from '../random';
import { describe, formatShape } from '../shape';
import { bumpVersion, Tensor } from '../tensor';

/** The nonlinearities {@link calculateGain} knows, with PyTorch's names. */
export type Nonlinearity = 'linear' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** Which fan the Kaiming functions keep the variance of: 'fanIn' (forward pass) or 'fanOut' (backward pass). */
export type FanMode = 'fanIn' | 'fanOut';

/** Options of {@link uniform}. */
export interface UniformInitOptions {
  /** Lower bound, finite. Default 0. */
  a?: number;
  /** Upper bound, finite, >= a. Default 1. */
  b?: number;
}

/** Options of {@link normal}. */
export interface NormalInitOptions {
  /** Mean, finite. Default 0. */
  mean?: number;
  /** Standard deviation, finite, >= 0. Default 1. */
  std?: number;
}

/** Options of {@link xavierUniform} and {@link xavierNormal}. */
export interface XavierInitOptions {
  /** Scaling factor, finite (see {@link calculateGain}). Default 1. */
  gain?: number;
}

/** Options of {@link kaimingUniform} and {@link kaimingNormal}. */
export interface KaimingInitOptions {
  /** Negative slope of the leaky ReLU that follows (used only with 'leaky_relu'), finite. Default 0. */
  a?: number;
  /** 'fanIn' (default) or 'fanOut'. */
  mode?: FanMode;
  /** The nonlinearity that follows, 'relu' or 'leaky_relu' recommended. Default 'leaky_relu' (with a = 0: ReLU's gain sqrt(2)). */
  nonlinearity?: Nonlinearity;
}

const NONLINEARITIES: readonly Nonlinearity[] = ['linear', 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'selu'];

function finite(fn: string, name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValueError(`${fn}: ${name} must be a finite number, got ${describe(v)}`);
  return v;
}

/** Checks the tensor: a Tensor outside any graph (a leaf, or one that does not require grad). */
function target(fn: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) throw new ArgumentError(`${fn}: tensor must be a Tensor, got ${describe(t)}`);
  if (t.requiresGrad && !t.isLeaf) {
    throw new GradError(
      `${fn}: tensor must be a leaf (a parameter, or a tensor that does not require grad), got the ${formatShape(t.shape)} output of an op that requires grad; filling it in place would corrupt its graph's backward`,
    );
  }
  return t;
}

function fill(t: Tensor, draw: () => number): Tensor {
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = draw();
  bumpVersion(t);
  return t;
}

/**
 * The recommended gain for a nonlinearity, PyTorch's `calculate_gain`: 1 for 'linear' and
 * 'sigmoid', 5/3 for 'tanh', sqrt(2) for 'relu', sqrt(2 / (1 + slope^2)) for 'leaky_relu'
 * (slope = param, default 0.01), 3/4 for 'selu'.
 *
 * @param nonlinearity - one of {@link Nonlinearity}.
 * @param param - the leaky ReLU's negative slope (finite; default 0.01); ignored by the others.
 * @throws ValueError on an unknown nonlinearity or a non-finite param.
 * @example
 * ```ts
 * nn.init.calculateGain('tanh'); // 1.6666666666666667
 * ```
 */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  const fn = 'nn.init.calculateGain';
  if (!NONLINEARITIES.includes(nonlinearity)) {
    throw new ValueError(`${fn}: nonlinearity must be one of ${NONLINEARITIES.map((s) => `'${s}'`).join(', ')}, got ${describe(nonlinearity)}`);
  }
  switch (nonlinearity) {
    case 'linear':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.sqrt(2);
    case 'selu':
      return 3 / 4;
    case 'leaky_relu': {
      const slope = finite(fn, 'param', param, 0.01);
      return Math.sqrt(2 / (1 + slope * slope));
    }
  }
}

/**
 * The fan-in and fan-out of a weight in tapegrad's [in, out, ...] layout: fanIn = shape[0] * r,
 * fanOut = shape[1] * r with r the product of the axes after the first two.
 *
 * @param tensor - a tensor of at least 2 axes.
 * @throws ArgumentError when tensor is not a Tensor; ShapeError when it has fewer than 2 axes.
 * @example
 * ```ts
 * nn.init.calculateFans(new nn.Affine(784, 10).weight); // { fanIn: 784, fanOut: 10 }
 * ```
 */
export function calculateFans(tensor: Tensor): { fanIn: number; fanOut: number } {
  return fans('nn.init.calculateFans', tensor);
}

function fans(fn: string, t: unknown): { fanIn: number; fanOut: number } {
  if (!(t instanceof Tensor)) throw new ArgumentError(`${fn}: tensor must be a Tensor, got ${describe(t)}`);
  if (t.shape.length < 2) {
    throw new ShapeError(`${fn}: tensor must have at least 2 axes to have a fan-in and fan-out ([in, out] for an Affine weight), got shape ${formatShape(t.shape)}`);
  }
  let r = 1;
  for (let i = 2; i < t.shape.length; i++) r *= t.shape[i];
  return { fanIn: t.shape[0] * r, fanOut: t.shape[1] * r };
}

/**
 * Fills `tensor` with draws from U(a, b), in place (PyTorch's `uniform_`).
 *
 * @param tensor - the tensor to fill (a leaf or a tensor not requiring grad).
 * @param opts - a = 0, b = 1 (finite, a <= b).
 * @returns tensor.
 * @throws ArgumentError when tensor is not a Tensor or opts not an object; GradError when it is
 *   the output of an op that requires grad; ValueError on bad or unknown options. Nothing is
 *   changed on error.
 * @example
 * ```ts
 * nn.init.uniform(w, { a: -0.1, b: 0.1 });
 * ```
 */
export function uniform(tensor: Tensor, opts?: UniformInitOptions): Tensor {
  const fn = 'nn.init.uniform';
  const t = target(fn, tensor);
  const o = checkOptions(fn, opts, ['a', 'b']);
  const a = finite(fn, 'opts.a', o.a, 0);
  const b = finite(fn, 'opts.b', o.b, 1);
  if (a > b) throw new ValueError(`${fn}: opts.a must be <= opts.b, got a = ${a} > b = ${b}`);
  return fill(t, () => a + (b - a) * randomUniform());
}

/**
 * Fills `tensor` with draws from N(mean, std^2), in place (PyTorch's `normal_`).
 *
 * @param tensor - the tensor to fill.
 * @param opts - mean = 0 (finite), std = 1 (finite, >= 0).
 * @returns tensor.
 * @throws as {@link uniform}.
 * @example
 * ```ts
 * nn.init.normal(w, { std: 0.02 });
 * ```
 */
export function normal(tensor: Tensor, opts?: NormalInitOptions): Tensor {
  const fn = 'nn.init.normal';
  const t = target(fn, tensor);
  const o = checkOptions(fn, opts, ['mean', 'std']);
  const mean = finite(fn, 'opts.mean', o.mean, 0);
  const std = finite(fn, 'opts.std', o.std, 1);
  if (std < 0) throw new ValueError(`${fn}: opts.std must be >= 0, got ${std}`);
  return fill(t, () => mean + std * randomNormal());
}

/**
 * Fills `tensor` with zeros, in place (PyTorch's `zeros_`).
 *
 * @param tensor - the tensor to fill.
 * @returns tensor.
 * @throws ArgumentError when tensor is not a Tensor; GradError as {@link uniform}.
 * @example
 * ```ts
 * nn.init.zeros(layer.bias!);
 * ```
 */
export function zeros(tensor: Tensor): Tensor {
  const t = target('nn.init.zeros', tensor);
  t.data.fill(0);
  bumpVersion(t);
  return t;
}

/**
 * Fills `tensor` with ones, in place (PyTorch's `ones_`).
 *
 * @param tensor - the tensor to fill.
 * @returns tensor.
 * @throws as {@link zeros}.
 * @example
 * ```ts
 * nn.init.ones(norm.weight);
 * ```
 */
export function ones(tensor: Tensor): Tensor {
  const t = target('nn.init.ones', tensor);
  t.data.fill(1);
  bumpVersion(t);
  return t;
}

function xavierStd(fn: string, tensor: Tensor, opts: XavierInitOptions | undefined): { t: Tensor; std: number } {
  const t = target(fn, tensor);
  const { fanIn, fanOut } = fans(fn, t);
  const gain = finite(fn, 'opts.gain', checkOptions(fn, opts, ['gain']).gain, 1);
  return { t, std: gain * Math.sqrt(2 / (fanIn + fanOut)) };
}

/**
 * Glorot (Xavier) uniform initialisation, in place (PyTorch's `xavier_uniform_`): U(-b, b) with
 * b = gain * sqrt(6 / (fanIn + fanOut)).
 *
 * Shape: at least 2 axes; [in, out] for an Affine weight (fanIn = shape[0]).
 *
 * @param tensor - the weight to fill.
 * @param opts - gain = 1 (finite).
 * @returns tensor.
 * @throws ShapeError when tensor has fewer than 2 axes; otherwise as {@link uniform}.
 * @example
 * ```ts
 * nn.init.xavierUniform(layer.weight, { gain: nn.init.calculateGain('tanh') });
 * ```
 */
export function xavierUniform(tensor: Tensor, opts?: XavierInitOptions): Tensor {
  const { t, std } = xavierStd('nn.init.xavierUniform', tensor, opts);
  const bound = Math.sqrt(3) * std;
  return fill(t, () => -bound + 2 * bound * randomUniform());
}

/**
 * Glorot (Xavier) normal initialisation, in place (PyTorch's `xavier_normal_`): N(0, std^2)
 * with std = gain * sqrt(2 / (fanIn + fanOut)).
 *
 * Shape: at least 2 axes; [in, out] for an Affine weight.
 *
 * @param tensor - the weight to fill.
 * @param opts - gain = 1 (finite).
 * @returns tensor.
 * @throws as {@link xavierUniform}.
 * @example
 * ```ts
 * nn.init.xavierNormal(layer.weight);
 * ```
 */
export function xavierNormal(tensor: Tensor, opts?: XavierInitOptions): Tensor {
  const { t, std } = xavierStd('nn.init.xavierNormal', tensor, opts);
  return fill(t, () => std * randomNormal());
}

function kaimingStd(fn: string, tensor: Tensor, opts: KaimingInitOptions | undefined): { t: Tensor; std: number } {
  const t = target(fn, tensor);
  const f = fans(fn, t);
  const o = checkOptions(fn, opts, ['a', 'mode', 'nonlinearity']);
  const a = finite(fn, 'opts.a', o.a, 0);
  const mode = o.mode ?? 'fanIn';
  if (mode !== 'fanIn' && mode !== 'fanOut') throw new ValueError(`${fn}: opts.mode must be 'fanIn' or 'fanOut', got ${describe(mode)}`);
  const nl = o.nonlinearity ?? 'leaky_relu';
  if (!NONLINEARITIES.includes(nl as Nonlinearity)) {
    throw new ValueError(`${fn}: opts.nonlinearity must be one of ${NONLINEARITIES.map((s) => `'${s}'`).join(', ')}, got ${describe(nl)}`);
  }
  const fan = mode === 'fanIn' ? f.fanIn : f.fanOut;
  return { t, std: calculateGain(nl as Nonlinearity, a) / Math.sqrt(fan) };
}

/**
 * He (Kaiming) uniform initialisation, in place (PyTorch's `kaiming_uniform_`): U(-b, b) with
 * b = gain * sqrt(3 / fan), gain = calculateGain(nonlinearity, a), fan = fanIn or fanOut.
 *
 * NOTE: with the defaults this is the distribution of Affine's default weights
 * (b = sqrt(6 / in)); the bound is computed as PyTorch does, so it may differ from Affine's
 * default in the last bit.
 *
 * Shape: at least 2 axes; [in, out] for an Affine weight (fanIn = shape[0]).
 *
 * @param tensor - the weight to fill.
 * @param opts - a = 0, mode = 'fanIn', nonlinearity = 'leaky_relu'.
 * @returns tensor (left as it is when it holds no element, as PyTorch does).
 * @throws as {@link xavierUniform}; ValueError on a bad mode or nonlinearity.
 * @example
 * ```ts
 * nn.init.kaimingUniform(layer.weight, { nonlinearity: 'relu' });
 * ```
 */
export function kaimingUniform(tensor: Tensor, opts?: KaimingInitOptions): Tensor {
  const { t, std } = kaimingStd('nn.init.kaimingUniform', tensor, opts);
  if (t.size === 0) return t;
  const bound = Math.sqrt(3) * std;
  return fill(t, () => -bound + 2 * bound * randomUniform());
}

/**
 * He (Kaiming) normal initialisation, in place (PyTorch's `kaiming_normal_`): N(0, std^2) with
 * std = gain / sqrt(fan).
 *
 * Shape: at least 2 axes; [in, out] for an Affine weight (fanIn = shape[0]).
 *
 * @param tensor - the weight to fill.
 * @param opts - a = 0, mode = 'fanIn', nonlinearity = 'leaky_relu'.
 * @returns tensor (left as it is when it holds no element).
 * @throws as {@link kaimingUniform}.
 * @example
 * ```ts
 * nn.init.kaimingNormal(layer.weight, { mode: 'fanOut', nonlinearity: 'relu' });
 * ```
 */
export function kaimingNormal(tensor: Tensor, opts?: KaimingInitOptions): Tensor {
  const { t, std } = kaimingStd('nn.init.kaimingNormal', tensor, opts);
  if (t.size === 0) return t;
  return fill(t, () => std * randomNormal());
}
