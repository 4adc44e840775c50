/**
 * Numerical gradient checking: central differences in float64 against the tape's gradients.
 * Exported so users can check their own models and ops the way tapegrad checks its own.
 *
 * @packageDocumentation
 */
import { DTypeError, GradError, ArgumentError, ValueError } from '../errors';
import { Tensor } from '../tensor';
import { describe, formatShape } from '../shape';
import { noGrad } from './mode';

/** Options of {@link gradcheck} and {@link numericalGradient}. */
export interface GradcheckOptions {
  /** Finite-difference step h. Default 1e-6. */
  eps?: number;
  /** Largest accepted relative error |a - n| / max(|a|, |n|). Default 1e-7. */
  rtol?: number;
  /** Absolute error always accepted (for gradients near zero). Default 1e-9. */
  atol?: number;
  /** Weights projecting a non-scalar output to a scalar; default: seeded fixed pseudo-random weights. */
  outputWeights?: Float64Array;
}

/** What {@link gradcheck} found: the worst relative error per input. */
export interface GradcheckResult {
  /** The worst relative error over each input's elements (including those accepted by atol), in input order; NaN for inputs without grad. */
  maxRelError: number[];
  /** The worst absolute error |analytical - numerical| per input; NaN for inputs without grad. */
  maxAbsError: number[];
}

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
function fixedWeights(n: number): Float64Array {
  const w = new Float64Array(n);
  let s = 0x9e3779b9;
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

function checkOpts(fn: string, opts: unknown): void {
  if (opts === null || typeof opts !== 'object') throw new ArgumentError(`${fn}: opts must be an object, got ${describe(opts)}`);
  const o = opts as GradcheckOptions;
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
 * non-scalar output) with respect to `inputs[index]`, perturbing each element by ±eps.
 * Runs under noGrad and restores every element it touches.
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
  checkOpts('numericalGradient', opts);
  if (!Number.isInteger(index) || index < 0 || index >= inputs.length) {
    throw new ArgumentError(`numericalGradient: index must be an integer in [0, ${inputs.length}), got ${describe(index)}`);
  }
  const h = opts.eps ?? 1e-6;
  const x = inputs[index].data;
  const grad = new Float64Array(x.length);
  let weights: Float64Array | null | undefined;
  noGrad(() => {
    for (let i = 0; i < x.length; i++) {
      const old = x[i];
      x[i] = old + h;
      const outPlus = fn(...inputs);
      if (weights === undefined) weights = outputWeightsFor(outPlus, opts);
      const fPlus = scalarOf(outPlus, weights);
      x[i] = old - h;
      const fMinus = scalarOf(fn(...inputs), weights);
      x[i] = old;
      grad[i] = (fPlus - fMinus) / (2 * h);
    }
  });
  return grad;
}

function outputWeightsFor(out: Tensor, opts: GradcheckOptions): Float64Array | null {
  if (!(out instanceof Tensor)) throw new ArgumentError(`gradcheck: fn must return a Tensor, got ${describe(out)}`);
  if (opts.outputWeights !== undefined) {
    if (opts.outputWeights.length !== out.data.length) {
      throw new ArgumentError(`gradcheck: opts.outputWeights must hold ${out.data.length} values like fn's output ${formatShape(out.shape)}, got ${opts.outputWeights.length}`);
    }
    return opts.outputWeights;
  }
  return out.data.length === 1 ? null : fixedWeights(out.data.length);
}

/**
 * Checks the tape's gradients of `fn` against central differences for every input that
 * requires grad. A non-scalar output is projected to sum(out * w) with fixed weights w.
 * Inputs' existing `grad`s are left as they were.
 *
 * @param fn - the function of the inputs, built from tapegrad ops.
 * @param inputs - float64 tensors; those with requiresGrad are checked.
 * @param opts - eps (1e-6), rtol (1e-7), atol (1e-9), outputWeights.
 * @returns the worst relative and absolute errors per input.
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
  checkOpts('gradcheck', opts);
  const rtol = opts.rtol ?? 1e-7;
  const atol = opts.atol ?? 1e-9;
  if (!inputs.some((t) => t.requiresGrad)) {
    throw new GradError(`gradcheck: at least one input must have requiresGrad: true, got none of ${inputs.length}`);
  }
  const saved = inputs.map((t) => t.grad);
  const analytical: (Float64Array | null)[] = [];
  try {
    inputs.forEach((t) => (t.grad = null));
    const out = fn(...inputs);
    const weights = outputWeightsFor(out, opts);
    if (!out.requiresGrad) throw new GradError('gradcheck: fn output does not require grad: is it built from the inputs with tapegrad ops?');
    const seed = new Tensor(weights === null ? Float64Array.of(1) : Float64Array.from(weights), out.shape);
    out.backward(seed);
    for (const t of inputs) analytical.push(t.requiresGrad ? Float64Array.from(t.grad?.data ?? new Float64Array(t.size)) : null);
  } finally {
    inputs.forEach((t, i) => (t.grad = saved[i]));
  }
  const maxRel: number[] = [];
  const maxAbs: number[] = [];
  inputs.forEach((t, index) => {
    const a = analytical[index];
    if (a === null) {
      maxRel.push(Number.NaN);
      maxAbs.push(Number.NaN);
      return;
    }
    const num = numericalGradient(fn, inputs, index, opts);
    let worst = 0;
    let worstAbs = 0;
    for (let i = 0; i < num.length; i++) {
      const e = relError(a[i], num[i]);
      const ok = Math.abs(a[i] - num[i]) <= atol || e <= rtol;
      if (!ok) {
        throw new GradError(
          `gradcheck: gradient of input ${index} (shape ${formatShape(t.shape)}) at element ${i} ` +
            `(index ${formatShape(unravel(i, t.shape))}): numerical ${num[i]}, analytical ${a[i]}, ` +
            `relative error ${e.toExponential(3)} > rtol ${rtol}`,
        );
      }
      if (e > worst) worst = e;
      worstAbs = Math.max(worstAbs, Math.abs(a[i] - num[i]));
    }
    maxRel.push(worst);
    maxAbs.push(worstAbs);
  });
  return { maxRelError: maxRel, maxAbsError: maxAbs };
}

function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return idx;
}
