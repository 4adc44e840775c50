/**
 * Gradient clipping, PyTorch's `clip_grad_norm_` and `clip_grad_value_`: both change the
 * parameters' `.grad` in place, between `backward()` and `optimizer.step()`.
 *
 * @packageDocumentation
 */
import { ArgumentError, ValueError } from '../errors';
import { checkOptions, optionalBoolean } from '../options';
import { describe } from '../shape';
import { bumpVersion, Tensor } from '../tensor';

/** Options of {@link clipGradNorm}. */
export interface ClipGradNormOptions {
  /** The p of the p-norm: a number > 0, or Infinity for the largest absolute value. Default 2. */
  normType?: number;
  /** Throw (changing nothing) when the total norm is NaN or ±Infinity. Default false, as PyTorch. */
  errorIfNonfinite?: boolean;
}

const show = (v: unknown): string => (typeof v === 'number' ? String(v) : describe(v));

/** The distinct gradients of `params` (parameters without a grad are skipped). */
function gradsOf(fn: string, params: unknown): Tensor[] {
  let list: unknown[];
  if (params instanceof Tensor) list = [params];
  else if (params !== null && typeof params === 'object' && Symbol.iterator in params) list = [...(params as Iterable<unknown>)];
  else throw new ArgumentError(`${fn}: params must be a Tensor or an array (iterable) of Tensors, got ${describe(params)}`);
  const grads: Tensor[] = [];
  const seen = new Set<Tensor>();
  for (let i = 0; i < list.length; i++) {
    const p = list[i];
    if (!(p instanceof Tensor)) throw new ArgumentError(`${fn}: params[${i}] must be a Tensor, got ${show(p)}`);
    const g = p.grad;
    if (g === null || seen.has(g)) continue;
    seen.add(g);
    grads.push(g);
  }
  return grads;
}

/** The p-norm of one array, in float64. */
function normOf(d: ArrayLike<number>, p: number): number {
  let s = 0;
  if (p === Infinity) {
    for (let i = 0; i < d.length; i++) {
      const a = Math.abs(d[i]);
      if (a > s || Number.isNaN(a)) s = a;
    }
    return s;
  }
  if (p === 2) {
    for (let i = 0; i < d.length; i++) s += d[i] * d[i];
    return Math.sqrt(s);
  }
  if (p === 1) {
    for (let i = 0; i < d.length; i++) s += Math.abs(d[i]);
    return s;
  }
  for (let i = 0; i < d.length; i++) s += Math.abs(d[i]) ** p;
  return s ** (1 / p);
}

/**
 * Scales all the gradients together so that their joint p-norm is at most maxNorm, in place
 * (PyTorch's `clip_grad_norm_`). The total norm is the p-norm of the per-parameter p-norms (the
 * norm of all gradients concatenated); when `maxNorm / (total + 1e-6)` is below 1, every
 * gradient is multiplied by it. Parameters without a gradient are skipped.
 *
 * NOTE: a gradient reached twice (the same parameter listed twice) is counted and scaled once;
 * PyTorch would count it twice. As in PyTorch, a NaN or infinite total norm makes the scaled
 * gradients NaN or 0 unless errorIfNonfinite is set.
 *
 * @param params - the parameters (`model.parameters()`), or one Tensor.
 * @param maxNorm - the largest allowed total norm, a number >= 0 (Infinity never clips).
 * @param opts - normType = 2 (> 0, or Infinity); errorIfNonfinite = false.
 * @returns the total norm of the gradients before clipping (0 when none has a gradient).
 * @throws ArgumentError when params is not a Tensor or an array of Tensors or opts not an object;
 *   ValueError on a bad maxNorm, normType or unknown option, or (with errorIfNonfinite) a
 *   non-finite total norm. Nothing is changed on error.
 * @example
 * ```ts
 * loss.backward();
 * const norm = nn.clipGradNorm(model.parameters(), 1.0);
 * opt.step();
 * ```
 */
export function clipGradNorm(params: Iterable<Tensor> | Tensor, maxNorm: number, opts?: ClipGradNormOptions): number {
  const fn = 'nn.clipGradNorm';
  const grads = gradsOf(fn, params);
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0)) throw new ValueError(`${fn}: maxNorm must be a number >= 0, got ${show(maxNorm)}`);
  const o = checkOptions(fn, opts, ['normType', 'errorIfNonfinite']);
  const p = o.normType ?? 2;
  if (typeof p !== 'number' || !(p > 0)) throw new ValueError(`${fn}: opts.normType must be a number > 0 or Infinity, got ${show(p)}`);
  const errorIfNonfinite = optionalBoolean(fn, 'opts.errorIfNonfinite', o.errorIfNonfinite, false);
  if (grads.length === 0) return 0;
  const norms = grads.map((g) => normOf(g.data, p));
  const total = normOf(norms, p);
  if (errorIfNonfinite && !Number.isFinite(total)) {
    throw new ValueError(`${fn}: the total ${p}-norm of the gradients must be finite with errorIfNonfinite, got ${total}; no gradient was changed`);
  }
  // PyTorch multiplies by min(coef, 1) always; multiplying by 1 changes nothing, so skip it.
  const coef = Math.min(maxNorm / (total + 1e-6), 1);
  if (coef !== 1) {
    for (const g of grads) {
      const d = g.data;
      for (let i = 0; i < d.length; i++) d[i] *= coef;
      bumpVersion(g);
    }
  }
  return total;
}

/**
 * Clamps every gradient element to [-clipValue, clipValue], in place (PyTorch's
 * `clip_grad_value_`). Parameters without a gradient are skipped.
 *
 * @param params - the parameters (`model.parameters()`), or one Tensor.
 * @param clipValue - the bound, a number >= 0 (Infinity changes nothing).
 * @throws ArgumentError when params is not a Tensor or an array of Tensors; ValueError when
 *   clipValue is not a number >= 0. Nothing is changed on error.
 * @example
 * ```ts
 * loss.backward(); nn.clipGradValue(model.parameters(), 0.5); opt.step();
 * ```
 */
export function clipGradValue(params: Iterable<Tensor> | Tensor, clipValue: number): void {
  const fn = 'nn.clipGradValue';
  const grads = gradsOf(fn, params);
  if (typeof clipValue !== 'number' || !(clipValue >= 0)) throw new ValueError(`${fn}: clipValue must be a number >= 0, got ${show(clipValue)}`);
  for (const g of grads) {
    const d = g.data;
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (v > clipValue) d[i] = clipValue;
      else if (v < -clipValue) d[i] = -clipValue;
    }
    bumpVersion(g);
  }
}
