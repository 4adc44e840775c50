/**
 * Numerical gradient checking: central differences in float64 against the tape's gradients.
 * Exported so users can check their own models and ops the way tapegrad checks its own.
 *
 * How an element is judged (the same rule in `gradcheck` and `checkModuleGradients`): the
 * analytical value `a` (from backward) passes against the central difference `n` when
 *
 *     |a - n| <= atol + rtol * max(|a|, |n|) + noise
 *
 * where `noise` is what rounding alone can do to a finite difference: 128 units of float64
 * rounding of the checked scalar's size, divided by the step (`128 * 2^-52 * M / eps`, with M the
 * sum of |out * w| over the output projected to a scalar), plus, when the analytical gradients
 * were computed in float32, 512 units of float32 rounding of the largest gradient seen
 * (`512 * 2^-23 * G`, about 6e-5 G). An
 * element that still fails gets a second look for a kink (a ReLU-like corner within the
 * step): the second-order one-sided differences on each side are computed, and when they
 * disagree with each other the function has no derivative there to compare with, so the
 * element is skipped and counted in `kinks` (one ReLU on its corner gives one side's slope,
 * but a batch of zeros puts many on their corners at once, and backward then gives neither
 * side). A wrong backward has no such excuse where the function is smooth: both sides agree,
 * with each other and with `n`, and not with `a`. Generic points have kinks rarely
 * (checkModuleGradients met none in 8000 batches of the README model), so a wrong rule is
 * still seen at the other elements. The function is evaluated twice at the starting point
 * first: a function that is not deterministic (an unrestored PRNG) is a GradError, not a
 * run of kinks.
 *
 * @packageDocumentation
 */
import type { DType } from '../dtype';
import { DTypeError, GradError, ArgumentError, ValueError } from '../errors';
import { checkOptions } from '../options';
import { Tensor } from '../tensor';
import { describe, formatShape } from '../shape';
import { grad } from './grad';
import { noGrad } from './mode';

/** Options of {@link gradcheck} and {@link numericalGradient}. */
export interface GradcheckOptions {
  /** Finite-difference step h. Default 1e-6. */
  eps?: number;
  /**
   * Relative tolerance on |analytical - numerical| / max(|analytical|, |numerical|). Default
   * 1e-5 (float64 analytical gradients), 1e-3 where checkModuleGradients checks a float32 model.
   */
  rtol?: number;
  /** Absolute error always accepted, on top of the rounding allowance (see the module notes), for gradients that underflow. Default 1e-9. */
  atol?: number;
  /** Weights projecting a non-scalar output to a scalar; default: seeded fixed pseudo-random weights. */
  outputWeights?: Float64Array;
}

/** What {@link gradcheck} found: the worst errors per input. */
export interface GradcheckResult {
  /** The worst relative error over each input's elements (including those accepted by atol or the rounding allowance), in input order; NaN for inputs without grad. */
  maxRelError: number[];
  /** The worst absolute error |analytical - numerical| per input; NaN for inputs without grad. */
  maxAbsError: number[];
  /** The largest |analytical - numerical| / allowed error per input (below 1 when it passed; kinks excluded); NaN for inputs without grad. */
  toleranceUsed: number[];
  /** Elements skipped as kinks (not smooth within the step: the one-sided differences disagree), per input. */
  kinks: number[];
}

/** Default relative tolerance for float64 analytical gradients. */
export const DEFAULT_RTOL = 1e-5;
/** Default relative tolerance for float32 analytical gradients (checked against float64 numerics). */
export const DEFAULT_RTOL_FLOAT32 = 1e-3;
/** Default absolute tolerance (what a perturbation of 1e-6 cannot resolve once values underflow). */
export const DEFAULT_ATOL = 1e-9;
/** Default finite-difference step. */
export const DEFAULT_EPS = 1e-6;
/** Rounding allowance of a finite difference, in float64 units of the checked scalar's size. */
const NOISE_ULPS = 128;
/** Rounding allowance of a float32 backward, in float32 units of the largest gradient. */
const FLOAT32_ULPS = 512;
const EPS64 = 2 ** -52;
const EPS32 = 2 ** -23;

/**
 * The relative error CS231n uses: |a - b| / max(|a|, |b|), 0 when both are 0.
 *
 * @param a - first value.
 * @param b - second value.
 * @example
 * ```ts
 * relError(1.0, 1.0001); // ≈ 1e-4
 * ```
 */
export function relError(a: number, b: number): number {
  const diff = Math.abs(a - b);
  if (diff === 0) return 0;
  return diff / Math.max(Math.abs(a), Math.abs(b));
}

/** Deterministic weights in [-1, 1) (an LCG), so the check does not disturb the global PRNG. */
function fixedWeights(n: number, seed = 0x9e3779b9): Float64Array {
  const w = new Float64Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    w[i] = s / 0x80000000 - 1;
  }
  return w;
}

/** The scalar sum(out * weights) of fn's output (or the output itself when it holds one value). */
function scalarOf(out: Tensor, weights: Float64Array | null): number {
  if (weights === null) return out.data[0];
  let s = 0;
  for (let i = 0; i < out.data.length; i++) s += out.data[i] * weights[i];
  return s;
}

/** The size of the terms of scalarOf: sum |out * weights|, what its rounding error scales with. */
function magnitudeOf(out: Tensor, weights: Float64Array | null): number {
  if (weights === null) return Math.abs(out.data[0]);
  let s = 0;
  for (let i = 0; i < out.data.length; i++) s += Math.abs(out.data[i] * weights[i]);
  return s;
}

/**
 * The checked numeric options, defaults filled in (rtol stays undefined: its default depends on the dtype).
 *
 * @internal
 */
export interface ResolvedGradcheckOptions {
  /** Finite-difference step. */
  eps: number;
  /** Relative tolerance, when given. */
  rtol: number | undefined;
  /** Absolute tolerance. */
  atol: number;
  /** Output projection weights, when given. */
  outputWeights: Float64Array | undefined;
}

/**
 * Checks an options object of gradcheck-like functions (checkOptions plus the numbers' ranges).
 *
 * @param fn - the function the user called.
 * @param opts - the options given.
 * @param known - the option names fn takes. Default gradcheck's.
 * @internal
 * @example
 * ```ts
 * const o = resolveGradcheckOptions('gradcheck', opts);
 * ```
 */
export function resolveGradcheckOptions(
  fn: string,
  opts: unknown,
  known: readonly string[] = ['eps', 'rtol', 'atol', 'outputWeights'],
): ResolvedGradcheckOptions & Readonly<Record<string, unknown>> {
  const o = checkOptions(fn, opts, known);
  if (o.eps !== undefined && (typeof o.eps !== 'number' || !Number.isFinite(o.eps) || o.eps <= 0)) {
    throw new ValueError(`${fn}: opts.eps must be a finite number > 0, got ${describe(o.eps)}`);
  }
  for (const key of ['rtol', 'atol'] as const) {
    const v = o[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
      throw new ValueError(`${fn}: opts.${key} must be a finite number >= 0, got ${describe(v)}`);
    }
  }
  if (o.outputWeights !== undefined && !(o.outputWeights instanceof Float64Array)) {
    throw new ArgumentError(`${fn}: opts.outputWeights must be a Float64Array, got ${describe(o.outputWeights)}`);
  }
  return {
    ...o,
    eps: (o.eps as number | undefined) ?? DEFAULT_EPS,
    rtol: o.rtol as number | undefined,
    atol: (o.atol as number | undefined) ?? DEFAULT_ATOL,
    outputWeights: o.outputWeights as Float64Array | undefined,
  };
}

function checkInputs(fn: string, f: unknown, inputs: unknown): asserts inputs is Tensor[] {
  if (typeof f !== 'function') throw new ArgumentError(`${fn}: fn must be a function of the inputs, got ${describe(f)}`);
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw new ArgumentError(`${fn}: inputs must be a non-empty array of Tensors, got ${describe(inputs)}`);
  }
  inputs.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new ArgumentError(`${fn}: inputs[${i}] must be a Tensor, got ${describe(t)}`);
    if (t.dtype !== 'float64') {
      throw new DTypeError(`${fn}: inputs[${i}] must be float64 (finite differences in float32 are too coarse), got '${t.dtype}'`);
    }
  });
}

/**
 * Central-difference gradient of the scalar `fn(...inputs)` (or of sum(out * weights) for a
 * non-scalar output) with respect to `inputs[index]`, perturbing each element by ±eps (divided
 * by the step actually stored, so rounding of x ± eps does not bias it). Runs under noGrad and
 * restores every element it touches.
 *
 * Shape: returns a Float64Array with inputs[index]'s element count.
 *
 * @param fn - the function of the inputs.
 * @param inputs - float64 tensors.
 * @param index - which input to differentiate. Default 0.
 * @param opts - eps (default 1e-6), outputWeights.
 * @example
 * ```ts
 * const num = numericalGradient((x) => x.mul(x).sum(), [x]);
 * ```
 */
export function numericalGradient(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  index = 0,
  opts: GradcheckOptions = {},
): Float64Array {
  checkInputs('numericalGradient', fn, inputs);
  const o = resolveGradcheckOptions('numericalGradient', opts);
  if (!Number.isInteger(index) || index < 0 || index >= inputs.length) {
    throw new ArgumentError(`numericalGradient: index must be an integer in [0, ${inputs.length}), got ${describe(index)}`);
  }
  let weights: Float64Array | null | undefined;
  const f = (): number => {
    const out = fn(...inputs);
    if (weights === undefined) weights = outputWeightsFor('numericalGradient', out, o.outputWeights);
    return scalarOf(out, weights);
  };
  return noGrad(() => centralDifferences(f, inputs[index].data, o.eps).grad);
}

/** Central differences of f over every element of x, with the values f took on each side. */
function centralDifferences(f: () => number, x: Float64Array | Float32Array, h: number): { grad: Float64Array } {
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const old = x[i];
    x[i] = old + h;
    const up = x[i];
    const fPlus = f();
    x[i] = old - h;
    const down = x[i];
    const fMinus = f();
    x[i] = old;
    grad[i] = (fPlus - fMinus) / (up - down);
  }
  return { grad };
}

function outputWeightsFor(fn: string, out: Tensor, given: Float64Array | undefined): Float64Array | null {
  if (!(out instanceof Tensor)) throw new ArgumentError(`${fn}: fn must return a Tensor, got ${describe(out)}`);
  if (given !== undefined) {
    if (given.length !== out.data.length) {
      throw new ArgumentError(`${fn}: opts.outputWeights must hold ${out.data.length} values like fn's output ${formatShape(out.shape)}, got ${given.length}`);
    }
    return given;
  }
  return out.data.length === 1 ? null : fixedWeights(out.data.length);
}

/**
 * What {@link analyticalGradients} returns.
 *
 * @internal
 */
export interface Analytical {
  /** One gradient per input (float64 copies), null for inputs that do not require grad. */
  grads: (Float64Array | null)[];
  /** The projection weights used (null for a one-value output). */
  weights: Float64Array | null;
}

/**
 * Runs `fn` once on the tape and backward with the projection weights; returns each input's
 * gradient as a float64 copy and leaves the inputs' `grad`s as they were.
 *
 * @param fnName - the function the user called, for messages.
 * @param fn - the function of the inputs.
 * @param inputs - its inputs; those with requiresGrad get a gradient.
 * @param given - projection weights the user gave, if any.
 * @internal
 * @example
 * ```ts
 * const { grads, weights } = analyticalGradients('gradcheck', fn, inputs, undefined);
 * ```
 */
export function analyticalGradients(fnName: string, fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], given: Float64Array | undefined): Analytical {
  if (!inputs.some((t) => t.requiresGrad)) {
    throw new GradError(`${fnName}: at least one input must have requiresGrad: true, got none of ${inputs.length}`);
  }
  const saved = inputs.map((t) => t.grad);
  const grads: (Float64Array | null)[] = [];
  try {
    inputs.forEach((t) => (t.grad = null));
    const out = fn(...inputs);
    let weights = outputWeightsFor(fnName, out, given);
    // A float32 output is seeded with the weights rounded to float32: the numerical side uses
    // the same rounded weights, so both differentiate exactly the same scalar.
    if (weights !== null && out.data instanceof Float32Array) weights = Float64Array.from(Float32Array.from(weights));
    if (!out.requiresGrad) throw new GradError(`${fnName}: fn output does not require grad: is it built from the inputs with tapegrad ops?`);
    const seedData = out.data instanceof Float32Array ? new Float32Array(out.size) : new Float64Array(out.size);
    if (weights === null) seedData[0] = 1;
    else seedData.set(weights);
    out.backward(new Tensor(seedData, out.shape));
    for (const t of inputs) grads.push(t.requiresGrad ? Float64Array.from(t.grad?.data ?? new Float64Array(t.size)) : null);
    return { grads, weights };
  } finally {
    inputs.forEach((t, i) => (t.grad = saved[i]));
  }
}

/**
 * What {@link compareGradients} needs.
 *
 * @internal
 */
export interface Comparison {
  /** The function the user called, for messages. */
  fnName: string;
  /** The scalar to differentiate numerically: f(inputs) projected with the weights; runs under noGrad. */
  evaluate: () => Tensor;
  /** The float64 data to perturb, one per input (null: not checked). */
  data: (Float64Array | null)[];
  /** Shapes of the inputs, for messages. */
  shapes: (readonly number[])[];
  /** The analytical gradients, aligned with data. */
  analytical: (Float64Array | null)[];
  /** The dtype backward ran in. */
  analyticalDType: DType;
  /** The projection weights backward was seeded with (null for a one-value output). */
  weights: Float64Array | null;
  /** Finite-difference step. */
  eps: number;
  /** Relative tolerance. */
  rtol: number;
  /** Absolute tolerance. */
  atol: number;
  /** What is compared, for messages. Default 'gradient'. */
  subject?: string;
  /** Names of the data entries, for messages. Default `input ${index}`. */
  labels?: readonly string[];
  /** Evaluate with the tape recording (evaluate itself differentiates); default false: under noGrad. */
  recording?: boolean;
}

/**
 * Compares analytical gradients with central differences by the rule in this module's notes;
 * throws a GradError at the first element that fails.
 *
 * @param c - the function, the data to perturb, the analytical gradients and the tolerances.
 * @returns the worst errors, the share of the tolerance used and the kinks skipped, per input.
 * @internal
 * @example
 * ```ts
 * compareGradients({ fnName: 'gradcheck', evaluate: () => fn(...inputs), data, shapes, analytical, analyticalDType: 'float64', weights, eps: 1e-6, rtol: 1e-5, atol: 1e-9 });
 * ```
 */
export function compareGradients(c: Comparison): GradcheckResult {
  const { eps: h, rtol, atol, weights } = c;
  const f = (): number => scalarOf(c.evaluate(), weights);
  const mode = c.recording === true ? <T>(run: () => T): T => run() : noGrad;
  return mode(() => {
    const base = c.evaluate();
    const f0 = scalarOf(base, weights);
    const magnitude = magnitudeOf(base, weights);
    const again = f();
    if (Math.abs(again - f0) > NOISE_ULPS * EPS64 * magnitude) {
      throw new GradError(
        `${c.fnName}: fn gave ${f0} and then ${again} for the same inputs; finite differences need a deterministic function ` +
          '(restore the PRNG state and any state the function updates before each call)',
      );
    }
    const noise = (NOISE_ULPS * EPS64 * magnitude) / h;
    const numerical = c.data.map((x) => (x === null ? null : centralDifferences(f, x, h).grad));
    let largest = 0;
    for (const n of numerical) if (n !== null) for (let i = 0; i < n.length; i++) largest = Math.max(largest, Math.abs(n[i]));
    const floor = noise + (c.analyticalDType === 'float32' ? FLOAT32_ULPS * EPS32 * largest : 0);
    const result: GradcheckResult = { maxRelError: [], maxAbsError: [], toleranceUsed: [], kinks: [] };
    c.data.forEach((x, index) => {
      const a = c.analytical[index];
      const n = numerical[index];
      if (x === null || a === null || n === null) {
        for (const k of ['maxRelError', 'maxAbsError', 'toleranceUsed'] as const) result[k].push(Number.NaN);
        result.kinks.push(0);
        return;
      }
      let worstRel = 0;
      let worstAbs = 0;
      let used = 0;
      let kinks = 0;
      for (let i = 0; i < n.length; i++) {
        const err = Math.abs(a[i] - n[i]);
        const allowed = atol + rtol * Math.max(Math.abs(a[i]), Math.abs(n[i])) + floor;
        worstRel = Math.max(worstRel, relError(a[i], n[i]));
        worstAbs = Math.max(worstAbs, err);
        if (err <= allowed) {
          used = Math.max(used, allowed > 0 ? err / allowed : 0);
          continue;
        }
        // A second look: is the function smooth at this element? Second-order one-sided
        // differences (weights -3, 4, -1 over 2h) round about 4x as much as a central one.
        const old = x[i];
        const at = (v: number): number => {
          x[i] = v;
          try {
            return f();
          } finally {
            x[i] = old;
          }
        };
        const right = (-3 * f0 + 4 * at(old + h) - at(old + 2 * h)) / (2 * h);
        const left = (3 * f0 - 4 * at(old - h) + at(old - 2 * h)) / (2 * h);
        const slack = atol + rtol * Math.max(Math.abs(a[i]), Math.abs(right), Math.abs(left)) + 4 * floor;
        // NOTE: at a corner there is no derivative to compare with. One ReLU on its kink gives
        // one side's slope, but several at once (a batch of zeros) give the sum of both sides
        // under the x >= 0 convention, outside them: the element is skipped, not judged.
        if (Math.abs(right - left) > 2 * slack) {
          kinks++;
          continue;
        }
        throw new GradError(
          `${c.fnName}: ${c.subject ?? 'gradient'} of ${c.labels?.[index] ?? `input ${index}`} (shape ${formatShape(c.shapes[index])}) at element ${i} ` +
            `(index ${formatShape(unravel(i, c.shapes[index]))}): numerical ${n[i]}, analytical ${a[i]}, ` +
            `relative error ${relError(a[i], n[i]).toExponential(3)} > rtol ${rtol} ` +
            `(|difference| ${err.toExponential(3)} > allowed ${allowed.toExponential(3)}, of which rounding ${floor.toExponential(3)}); ` +
            `the one-sided differences ${right} (right) and ${left} (left) agree, so this is no kink`,
        );
      }
      result.maxRelError.push(worstRel);
      result.maxAbsError.push(worstAbs);
      result.toleranceUsed.push(used);
      result.kinks.push(kinks);
    });
    return result;
  });
}

/**
 * Checks the tape's gradients of `fn` against central differences for every input that
 * requires grad, by the rule in this module's notes (relative tolerance, a rounding
 * allowance, kinks recognised). A non-scalar output is projected to sum(out * w) with fixed
 * weights w. Inputs' existing `grad`s are left as they were.
 *
 * @param fn - the function of the inputs, built from tapegrad ops.
 * @param inputs - float64 tensors; those with requiresGrad are checked.
 * @param opts - eps (1e-6), rtol (1e-5), atol (1e-9), outputWeights.
 * @returns the worst relative and absolute errors per input, the share of the tolerance used, and the kinks met.
 * @throws GradError naming the input, the element, and the numerical and analytical values at the first mismatch.
 * @example
 * ```ts
 * gradcheck((a, b) => a.matmul(b).relu().sum(), [a, b]);
 * ```
 */
export function gradcheck(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  opts: GradcheckOptions = {},
): GradcheckResult {
  checkInputs('gradcheck', fn, inputs);
  const o = resolveGradcheckOptions('gradcheck', opts);
  const { grads, weights } = analyticalGradients('gradcheck', fn, inputs, o.outputWeights);
  return compareGradients({
    fnName: 'gradcheck',
    evaluate: () => fn(...inputs),
    data: inputs.map((t, i) => (grads[i] === null ? null : (t.data as Float64Array))),
    shapes: inputs.map((t) => t.shape),
    analytical: grads,
    analyticalDType: 'float64',
    weights,
    eps: o.eps,
    rtol: o.rtol ?? DEFAULT_RTOL,
    atol: o.atol,
  });
}

/** Options of {@link gradgradcheck}. */
export interface GradgradcheckOptions {
  /** Finite-difference step h. Default 1e-6. */
  eps?: number;
  /** Relative tolerance, as in {@link gradcheck}. Default 1e-5. */
  rtol?: number;
  /** Absolute error always accepted, on top of the rounding allowance. Default 1e-9. */
  atol?: number;
  /** The upstream vector u (d objective / d output), one value per output element; default: seeded fixed pseudo-random values in [-1, 1). */
  gradOutputs?: Float64Array;
  /** The directions v, one Float64Array per input (null or absent for inputs without grad); default: seeded fixed pseudo-random values in [-1, 1). */
  directions?: readonly (Float64Array | null)[];
}

/** What {@link gradgradcheck} found: per input (as {@link gradcheck}), and for the upstream vector u. */
export interface GradgradcheckResult extends GradcheckResult {
  /** The same measures for the derivative with respect to the upstream vector u (`gradOutputs`). */
  gradOutputs: { maxRelError: number; maxAbsError: number; toleranceUsed: number };
}

/**
 * Checks second derivatives: that the gradients of `fn` recorded with `createGraph` are
 * themselves differentiated correctly. With u an upstream vector for the output and v one
 * direction per input, it forms s(x, u) = <grad_x <fn(x), u>, v> and compares its double-backward
 * derivatives (autograd.grad with createGraph, then autograd.grad of s) with central differences
 * of s, where s is evaluated with plain first-order gradients (autograd.grad without
 * createGraph): with respect to every element of every input that requires grad (a row of the
 * Hessian of <fn, u>, times v) and of u (the Jacobian of fn times v, which checks that the
 * recorded gradient depends on its seed correctly, as PyTorch's gradgradcheck does with
 * grad_outputs that require grad). The comparison rule (relative tolerance, rounding allowance,
 * kinks skipped) is {@link gradcheck}'s. It also checks that the gradient recorded with
 * createGraph has the values of the plain one. Inputs' `grad`s are untouched.
 *
 * Cost: 2 first-order gradients per element of the inputs and of the output, plus one double
 * backward: keep the tensors small.
 *
 * @param fn - the function of the inputs, built from tapegrad ops with differentiable rules.
 * @param inputs - float64 tensors; those with requiresGrad are checked.
 * @param opts - eps (1e-6), rtol (1e-5), atol (1e-9), gradOutputs (u), directions (v).
 * @returns the worst errors per input (and for u), the share of the tolerance used, the kinks met.
 * @throws GradError naming the input (or gradOutputs), the element, and the numerical and
 *   analytical values at the first mismatch; GradError from autograd.grad when an op of fn
 *   has no differentiable rule (naming it).
 * @example
 * ```ts
 * const x = tensor([0.5, -1.2, 2], { requiresGrad: true });
 * gradgradcheck((x) => x.exp().mul(x).sum(), [x]);
 * ```
 */
export function gradgradcheck(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  opts: GradgradcheckOptions = {},
): GradgradcheckResult {
  const name = 'gradgradcheck';
  checkInputs(name, fn, inputs);
  const o = resolveGradcheckOptions(name, opts, ['eps', 'rtol', 'atol', 'gradOutputs', 'directions']);
  const rtol = o.rtol ?? DEFAULT_RTOL;
  const wanted = inputs.filter((t) => t.requiresGrad);
  if (wanted.length === 0) throw new GradError(`${name}: at least one input must have requiresGrad: true, got none of ${inputs.length}`);
  const given = o.gradOutputs as unknown;
  if (given !== undefined && !(given instanceof Float64Array)) {
    throw new ArgumentError(`${name}: opts.gradOutputs must be a Float64Array, got ${describe(given)}`);
  }
  const directions = o.directions as unknown;
  if (directions !== undefined && (!Array.isArray(directions) || directions.length !== inputs.length)) {
    throw new ArgumentError(`${name}: opts.directions must be an array of ${inputs.length} (one per input), got ${describe(directions)}`);
  }
  const v = inputs.map((t, i) => {
    if (!t.requiresGrad) return null;
    const d = (directions as readonly unknown[] | undefined)?.[i];
    if (d === undefined || d === null) return fixedWeights(t.size, 0x85ebca6b + 7919 * i);
    if (!(d instanceof Float64Array) || d.length !== t.size) {
      throw new ArgumentError(`${name}: opts.directions[${i}] must be a Float64Array of ${t.size} values like inputs[${i}] ${formatShape(t.shape)}, got ${describe(d)}`);
    }
    return d;
  });
  const vw = v.filter((d): d is Float64Array => d !== null).map((d, k) => new Tensor(d.slice(), wanted[k].shape));

  // The output, and u, once.
  const y0 = noGrad(() => fn(...inputs));
  if (!(y0 instanceof Tensor)) throw new ArgumentError(`${name}: fn must return a Tensor, got ${describe(y0)}`);
  if (y0.dtype !== 'float64') throw new DTypeError(`${name}: fn must return a float64 tensor (finite differences need it), got '${y0.dtype}'`);
  let uData: Float64Array;
  if (given !== undefined) {
    if (given.length !== y0.size) {
      throw new ArgumentError(`${name}: opts.gradOutputs must hold ${y0.size} values like fn's output ${formatShape(y0.shape)}, got ${given.length}`);
    }
    uData = Float64Array.from(given);
  } else {
    uData = fixedWeights(y0.size, 0xc2b2ae35);
  }
  const uShape = y0.shape;

  /** First-order gradients of <fn(x), u> with respect to the inputs that require grad (zeros where unused). */
  const firstOrder = (u: Tensor, createGraph: boolean): { y: Tensor; g: (Tensor | null)[] } => {
    const y = fn(...inputs);
    if (!(y instanceof Tensor)) throw new ArgumentError(`${name}: fn must return a Tensor, got ${describe(y)}`);
    if (!y.requiresGrad) throw new GradError(`${name}: fn output does not require grad: is it built from the inputs with tapegrad ops?`);
    return { y, g: grad([y], wanted, { gradOutputs: [u], createGraph, allowUnused: true }) };
  };
  const concat = (gs: readonly (Tensor | null)[]): Tensor => {
    const out = new Float64Array(wanted.reduce((n, t) => n + t.size, 0));
    let at = 0;
    gs.forEach((g, k) => {
      if (g !== null) out.set(g.data, at);
      at += wanted[k].size;
    });
    return new Tensor(out, [out.length]);
  };
  const weights = concat(vw).data as Float64Array;

  // Analytical: the first-order gradients recorded, then s = <g, v> differentiated.
  const u = new Tensor(uData, uShape, { requiresGrad: true });
  const { g } = firstOrder(u, true);
  const plain = concat(firstOrder(new Tensor(uData.slice(), uShape), false).g).data;
  const recorded = concat(g).data;
  for (let i = 0; i < plain.length; i++) {
    const err = Math.abs(recorded[i] - plain[i]);
    if (err > o.atol + rtol * Math.max(Math.abs(recorded[i]), Math.abs(plain[i]))) {
      throw new GradError(
        `${name}: the first-order gradient recorded with createGraph differs from the plain backward at element ${i} of the inputs' gradients ` +
          `(concatenated): plain ${plain[i]}, recorded ${recorded[i]}; a differentiable rule (withGraphRule) computes the wrong values`,
      );
    }
  }
  let s: Tensor | null = null;
  g.forEach((gk, k) => {
    if (gk === null) return;
    const term = gk.mul(vw[k]).sum();
    s = s === null ? term : s.add(term);
  });
  const targets = [...wanted, u];
  const second: (Tensor | null)[] =
    s !== null && (s as Tensor).requiresGrad ? grad([s], targets, { allowUnused: true }) : targets.map(() => null);
  const analytical: (Float64Array | null)[] = [];
  let k = 0;
  inputs.forEach((t) => {
    if (!t.requiresGrad) {
      analytical.push(null);
      return;
    }
    analytical.push(Float64Array.from(second[k]?.data ?? new Float64Array(t.size)));
    k++;
  });
  analytical.push(Float64Array.from(second[k]?.data ?? new Float64Array(uData.length)));

  // Numerical: central differences of s computed with plain gradients.
  const uLive = new Tensor(uData, uShape);
  const r = compareGradients({
    fnName: name,
    evaluate: () => concat(firstOrder(new Tensor(uLive.data.slice(), uShape), false).g),
    data: [...inputs.map((t) => (t.requiresGrad ? (t.data as Float64Array) : null)), uLive.data as Float64Array],
    shapes: [...inputs.map((t) => t.shape), uShape],
    analytical,
    analyticalDType: 'float64',
    weights,
    eps: o.eps,
    rtol,
    atol: o.atol,
    subject: 'the derivative of <grad of <fn(inputs), u>, v> (double backward)',
    labels: [...inputs.map((_, i) => `input ${i}`), 'gradOutputs u'],
    recording: true,
  });
  const n = inputs.length;
  return {
    maxRelError: r.maxRelError.slice(0, n),
    maxAbsError: r.maxAbsError.slice(0, n),
    toleranceUsed: r.toleranceUsed.slice(0, n),
    kinks: r.kinks.slice(0, n),
    gradOutputs: { maxRelError: r.maxRelError[n], maxAbsError: r.maxAbsError[n], toleranceUsed: r.toleranceUsed[n] },
  };
}

function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return idx;
}
