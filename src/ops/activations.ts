/**
 * Elementwise activations and powers: tanh, sigmoid, sqrt, abs, pow, clamp, leakyRelu, elu,
 * gelu, silu, softplus, and the broadcasting binaries maximum and minimum. Each forward and
 * each gradient follows PyTorch's definition (including at kinks and ties, noted per op), in
 * the input's dtype, written so that large |x| gives finite results.
 *
 * @packageDocumentation
 */
import { record, withGraphRule } from '../autograd/tape';
import { sumTo } from './graph_rules';
import { allocate, allocateUninit, assertSameDType, dtypeOf, type FloatArray } from '../dtype';
import { ArgumentError, ValueError } from '../errors';
import { checkOptions } from '../options';
import { broadcastShapes, describe, shapesEqual, sizeOf } from '../shape';
import { Tensor } from '../tensor';
import { useSimd } from '../kernels/backend';
import { simdGeluBackward, simdUnary, simdUnaryBackward } from '../kernels/simd';
import { expNeg, sech2Of as sech2, sigmoidBackwardOf, sigmoidOf, tanhOf } from '../kernels/transcendental';
import { broadcastIndex, sumToShape } from './broadcast';
import { assertTensor } from './util';

/** A fresh array of x's dtype and length, every element written by the caller. */
function like(x: FloatArray): FloatArray {
  return allocateUninit(dtypeOf(x), x.length);
}

function checkNumber(fn: string, arg: string, v: unknown, finite: boolean): number {
  if (typeof v !== 'number' || Number.isNaN(v) || (finite && !Number.isFinite(v))) {
    throw new ValueError(`${fn}: ${arg} must be a ${finite ? 'finite ' : ''}number, got ${typeof v === 'number' ? String(v) : describe(v)}`);
  }
  return v;
}

// ---- erf / erfc ------------------------------------------------------------------------------

// W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23
// (1969), the coefficients of his CALERF: erf on |x| <= 0.5 (A/B), erfc on 0.5 < |x| <= 4
// (C/D) and on |x| > 4 as an expansion in 1/x^2 (P/Q). Near double precision throughout.
const ERF_A = [3.1611237438705656, 113.864154151050156, 377.485237685302021, 3209.37758913846947, 0.185777706184603153];
const ERF_B = [23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062];
const ERF_C = [
  0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131, 881.95222124176909, 1712.04761263407058,
  2051.07837782607147, 1230.33935479799725, 2.15311535474403846e-8,
];
const ERF_D = [
  15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019, 3290.79923573345963, 4362.61909014324716,
  3439.36767414372164, 1230.33935480374942,
];
const ERF_P = [0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766, 6.58749161529837803e-4, 0.0163153871373020978];
const ERF_Q = [2.56852019228982242, 1.87295284992346725, 0.527905102951428412, 0.0605183413124413191, 0.00233520497626869185];
const INV_SQRT_PI = 0.56418958354775628695;
const ERF_THRESH = 0.46875;

/** erf(x) for |x| <= ERF_THRESH. */
function erfSmall(x: number): number {
  const y = Math.abs(x);
  const ysq = y > 1.11e-16 ? y * y : 0;
  let num = ERF_A[4] * ysq;
  let den = ysq;
  for (let i = 0; i < 3; i++) {
    num = (num + ERF_A[i]) * ysq;
    den = (den + ERF_B[i]) * ysq;
  }
  return (x * (num + ERF_A[3])) / (den + ERF_B[3]);
}

/** erfc(y) for y > ERF_THRESH, with exp(-y^2) split so its argument's rounding does not spread. */
function erfcLarge(y: number): number {
  if (y >= 26.6) return 0;
  let r: number;
  if (y <= 4) {
    let num = ERF_C[8] * y;
    let den = y;
    for (let i = 0; i < 7; i++) {
      num = (num + ERF_C[i]) * y;
      den = (den + ERF_D[i]) * y;
    }
    r = (num + ERF_C[7]) / (den + ERF_D[7]);
  } else {
    const z = 1 / (y * y);
    let num = ERF_P[5] * z;
    let den = z;
    for (let i = 0; i < 4; i++) {
      num = (num + ERF_P[i]) * z;
      den = (den + ERF_Q[i]) * z;
    }
    r = (z * (num + ERF_P[4])) / (den + ERF_Q[4]);
    r = (INV_SQRT_PI - r) / y;
  }
  const ysq = Math.trunc(y * 16) / 16;
  const del = (y - ysq) * (y + ysq);
  return expNeg(-ysq * ysq) * expNeg(-del) * r;
}

/**
 * The error function erf(x) = 2/sqrt(pi) * integral_0^x e^(-t^2) dt, to about double precision
 * (W. J. Cody's rational approximations).
 *
 * @param x - any number; erf(±Infinity) = ±1, erf(NaN) = NaN.
 * @example
 * ```ts
 * erf(1); // 0.8427007929497149
 * ```
 */
export function erf(x: number): number {
  const y = Math.abs(x);
  if (y <= ERF_THRESH) return erfSmall(x);
  if (Number.isNaN(y)) return NaN;
  const r = 0.5 - erfcLarge(y) + 0.5;
  return x < 0 ? -r : r;
}

/**
 * The complementary error function erfc(x) = 1 - erf(x), accurate in relative terms where
 * 1 - erf(x) would cancel (large positive x).
 *
 * @param x - any number; erfc(Infinity) = 0, erfc(-Infinity) = 2.
 * @example
 * ```ts
 * erfc(10); // 2.088487583762545e-45
 * ```
 */
export function erfc(x: number): number {
  const y = Math.abs(x);
  if (y <= ERF_THRESH) return 1 - erfSmall(x);
  if (Number.isNaN(y)) return NaN;
  const r = erfcLarge(y);
  return x < 0 ? 2 - r : r;
}

// ---- unary ops -------------------------------------------------------------------------------

/** A constant tensor of x's shape and dtype holding f(x_i): the masks of the differentiable rules. */
function mask(x: Tensor, f: (v: number) => number): Tensor {
  const xd = x.data;
  const m = like(xd);
  for (let i = 0; i < xd.length; i++) m[i] = f(xd[i]);
  return new Tensor(m, x.shape);
}

/**
 * Hyperbolic tangent elementwise.
 *
 * NOTE: the gradient is g * (1 - tanh^2 x), computed as 4t / (1 + t)^2 with t = e^(-2|x|).
 * PyTorch's tanh_backward forms 1 - y^2 from the rounded output, which loses relative precision
 * as |x| grows (about 1e-10 at |x| = 8); the two agree to about 1e-16 in absolute terms there.
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @example
 * ```ts
 * tanh(tensor([0, 1])); // [0, 0.7615941559557649]
 * ```
 */
export function tanh(x: Tensor): Tensor {
  assertTensor('tanh', 'x', x);
  const xd = x.data;
  const od = like(xd);
  if (useSimd(xd.length)) simdUnary('tanh', xd, od);
  else for (let i = 0; i < xd.length; i++) od[i] = tanhOf(xd[i]);
  const out = new Tensor(od, x.shape);
  const r = record(out, 'tanh', [x], (g) => {
    const r = like(g);
    if (useSimd(g.length)) simdUnaryBackward('tanh', g, xd, r);
    else for (let i = 0; i < g.length; i++) r[i] = g[i] * sech2(xd[i]);
    return [r];
  });
  // d/dx = 1 - y^2 from the output y (as PyTorch's tanh_backward), recorded through y.
  return withGraphRule(r, (g) => [g.mul(out.mul(out).neg().add(1))]);
}

/**
 * Logistic sigmoid 1 / (1 + e^-x) elementwise, finite for every x (e^x / (1 + e^x) below 0).
 *
 * NOTE: the gradient is g * sigmoid(x) * sigmoid(-x), computed as g * e / (1 + e)^2 with
 * e = e^(-|x|). PyTorch's sigmoid_backward forms y * (1 - y) from the rounded output, which
 * loses relative precision for large positive x (0.3% at x = 30); the two agree to about 1e-16
 * in absolute terms there.
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @example
 * ```ts
 * sigmoid(tensor([0, -1e4])); // [0.5, 0]
 * ```
 */
export function sigmoid(x: Tensor): Tensor {
  assertTensor('sigmoid', 'x', x);
  const xd = x.data;
  const od = like(xd);
  if (useSimd(xd.length)) simdUnary('sigmoid', xd, od);
  else for (let i = 0; i < xd.length; i++) od[i] = sigmoidOf(xd[i]);
  const out = new Tensor(od, x.shape);
  const r = record(out, 'sigmoid', [x], (g) => {
    const r = like(g);
    if (useSimd(g.length)) simdUnaryBackward('sigmoid', g, xd, r);
    else for (let i = 0; i < g.length; i++) r[i] = sigmoidBackwardOf(g[i], xd[i]);
    return [r];
  });
  // d/dx = y (1 - y) from the output y (as PyTorch's sigmoid_backward), recorded through y.
  return withGraphRule(r, (g) => [g.mul(out.mul(out.neg().add(1)))]);
}

/**
 * Square root elementwise (NaN below 0).
 *
 * NOTE: the gradient is g / (2 sqrt(x)) as PyTorch's: Infinity at 0 (for g > 0).
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @example
 * ```ts
 * sqrt(tensor([4, 9])); // [2, 3]
 * ```
 */
export function sqrt(x: Tensor): Tensor {
  assertTensor('sqrt', 'x', x);
  const xd = x.data;
  const od = like(xd);
  for (let i = 0; i < xd.length; i++) od[i] = Math.sqrt(xd[i]);
  const out = new Tensor(od, x.shape);
  const r = record(out, 'sqrt', [x], (g) => {
    const r = like(g);
    for (let i = 0; i < g.length; i++) r[i] = g[i] / (2 * od[i]);
    return [r];
  });
  return withGraphRule(r, (g) => [g.div(out.mul(2))]);
}

/**
 * Absolute value elementwise.
 *
 * NOTE: the gradient is g * sign(x) with sign(0) = 0, as PyTorch's (abs'(0) = 0).
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @example
 * ```ts
 * abs(tensor([-2, 0, 3])); // [2, 0, 3]
 * ```
 */
export function abs(x: Tensor): Tensor {
  assertTensor('abs', 'x', x);
  const xd = x.data;
  const od = like(xd);
  for (let i = 0; i < xd.length; i++) od[i] = Math.abs(xd[i]);
  const out = new Tensor(od, x.shape);
  const r = record(out, 'abs', [x], (g) => {
    const r = like(g);
    for (let i = 0; i < g.length; i++) {
      const v = xd[i];
      r[i] = v > 0 ? g[i] : v < 0 ? -g[i] : v === 0 ? 0 : NaN;
    }
    return [r];
  });
  // g * sign(x), the sign a constant: abs'' = 0 wherever it exists, as PyTorch's double backward.
  return withGraphRule(r, (g) => [g.mul(mask(x, (v) => (v > 0 ? 1 : v < 0 ? -1 : v === 0 ? 0 : NaN)))]);
}

/** x^p with PyTorch's special cases (x*x for 2, sqrt for 0.5, ...), so results round alike. */
function powOf(v: number, p: number): number {
  switch (p) {
    case 0:
      return 1;
    case 1:
      return v;
    case 2:
      return v * v;
    case 3:
      return v * v * v;
    case 0.5:
      return Math.sqrt(v);
    case -0.5:
      return 1 / Math.sqrt(v);
    case -1:
      return 1 / v;
    case -2:
      return 1 / (v * v);
    default:
      return Math.pow(v, p);
  }
}

/**
 * x to a constant power p elementwise (NaN for negative x and non-integer p).
 *
 * NOTE: the gradient is g * p * x^(p-1) as PyTorch's pow_backward, so at x = 0 it is Infinity
 * for 0 < p < 1 (NaN where g = 0), g for p = 1, 0 for p > 1; p = 0 gives a zero gradient.
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @param p - the exponent, a number (not NaN).
 * @throws ValueError when p is not a number.
 * @example
 * ```ts
 * pow(tensor([2, 3]), 2); // [4, 9]
 * ```
 */
export function pow(x: Tensor, p: number): Tensor {
  assertTensor('pow', 'x', x);
  checkNumber('pow', 'p', p, false);
  const xd = x.data;
  const od = like(xd);
  for (let i = 0; i < xd.length; i++) od[i] = powOf(xd[i], p);
  const out = new Tensor(od, x.shape);
  const r = record(out, 'pow', [x], (g) => {
    if (p === 0) return [allocate(dtypeOf(g), g.length)];
    const r = like(g);
    for (let i = 0; i < g.length; i++) r[i] = g[i] * (p * powOf(xd[i], p - 1));
    return [r];
  });
  // p x^(p-1) through pow itself, so every order follows (p = 1 gives x^0 = 1, a constant).
  return withGraphRule(r, (g) => [p === 0 ? g.mul(0) : g.mul(pow(x, p - 1).mul(p))]);
}

/**
 * Each element limited to [min, max] (either bound may be left out); NaN stays NaN. When
 * min > max every element becomes max, as in PyTorch.
 *
 * NOTE: the gradient passes where min <= x <= max (bounds included) and is 0 elsewhere and at
 * NaN, as PyTorch's clamp_backward.
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @param min - lower bound (a number, not NaN), or undefined for none.
 * @param max - upper bound (a number, not NaN), or undefined for none.
 * @throws ArgumentError when both bounds are undefined; ValueError when a bound is not a number.
 * @example
 * ```ts
 * clamp(tensor([-2, 0.5, 3]), 0, 1); // [0, 0.5, 1]
 * ```
 */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  assertTensor('clamp', 'x', x);
  if (min === undefined && max === undefined) throw new ArgumentError('clamp: at least one of min and max must be given, got neither');
  const lo = min === undefined ? -Infinity : checkNumber('clamp', 'min', min, false);
  const hi = max === undefined ? Infinity : checkNumber('clamp', 'max', max, false);
  const xd = x.data;
  const od = like(xd);
  for (let i = 0; i < xd.length; i++) {
    const v = xd[i];
    od[i] = v !== v ? v : Math.min(Math.max(v, lo), hi);
  }
  const out = new Tensor(od, x.shape);
  const r = record(out, 'clamp', [x], (g) => {
    const r = like(g);
    for (let i = 0; i < g.length; i++) {
      const v = xd[i];
      r[i] = v >= lo && v <= hi ? g[i] : 0;
    }
    return [r];
  });
  return withGraphRule(r, (g) => [g.mul(mask(x, (v) => (v >= lo && v <= hi ? 1 : 0)))]);
}

/**
 * Leaky ReLU: x for x > 0, slope * x otherwise.
 *
 * NOTE: the gradient is g for x > 0 and slope * g otherwise (slope at 0), as PyTorch's.
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @param slope - the negative slope, a finite number. Default 0.01.
 * @throws ValueError when slope is not a finite number.
 * @example
 * ```ts
 * leakyRelu(tensor([-2, 3]), 0.1); // [-0.2, 3]
 * ```
 */
export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  assertTensor('leakyRelu', 'x', x);
  checkNumber('leakyRelu', 'slope', slope, true);
  const xd = x.data;
  const od = like(xd);
  for (let i = 0; i < xd.length; i++) {
    const v = xd[i];
    od[i] = v > 0 ? v : v * slope;
  }
  const out = new Tensor(od, x.shape);
  const r = record(out, 'leakyRelu', [x], (g) => {
    const r = like(g);
    for (let i = 0; i < g.length; i++) r[i] = xd[i] > 0 ? g[i] : g[i] * slope;
    return [r];
  });
  return withGraphRule(r, (g) => [g.mul(mask(x, (v) => (v > 0 ? 1 : slope)))]);
}

/**
 * Exponential linear unit: x for x > 0, alpha * (e^x - 1) otherwise (through expm1, so tiny
 * negative x keeps its precision).
 *
 * NOTE: the gradient is g for x > 0 and g * alpha * e^x for x <= 0 (alpha at 0), as
 * PyTorch's elu_backward. PyTorch 1.13 computes e^x - 1 without expm1, so it differs from this
 * one in relative terms for |x| below about 1e-8 (it is the less accurate there).
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @param alpha - scale of the negative part, a finite number. Default 1.
 * @throws ValueError when alpha is not a finite number.
 * @example
 * ```ts
 * elu(tensor([-1, 2])); // [-0.6321205588285577, 2]
 * ```
 */
export function elu(x: Tensor, alpha = 1): Tensor {
  assertTensor('elu', 'x', x);
  checkNumber('elu', 'alpha', alpha, true);
  const xd = x.data;
  const od = like(xd);
  for (let i = 0; i < xd.length; i++) {
    const v = xd[i];
    od[i] = v > 0 ? v : alpha * Math.expm1(v);
  }
  const out = new Tensor(od, x.shape);
  const r = record(out, 'elu', [x], (g) => {
    const r = like(g);
    for (let i = 0; i < g.length; i++) {
      const v = xd[i];
      r[i] = v <= 0 ? g[i] * alpha * Math.exp(v) : g[i];
    }
    return [r];
  });
  // neg * alpha * e^(x * neg) + (1 - neg), neg the constant mask of x <= 0 (x * neg keeps
  // the exponent finite where x is large and positive).
  return withGraphRule(r, (g) => {
    const neg = mask(x, (v) => (v <= 0 ? 1 : 0));
    const pos = mask(x, (v) => (v <= 0 ? 0 : 1));
    return [g.mul(x.mul(neg).exp().mul(neg).mul(alpha).add(pos))];
  });
}

/** Options of {@link gelu}. */
export interface GeluOptions {
  /** 'none' (default): x * Phi(x) with the exact normal CDF; 'tanh': PyTorch's tanh approximation. */
  approximate?: 'none' | 'tanh';
}

const SQRT1_2 = Math.SQRT1_2;
/** 1 / sqrt(2 pi), the standard normal density at 0. */
const INV_SQRT_2PI = 0.3989422804014327;
/** sqrt(2 / pi), PyTorch's kBeta of the tanh form. */
const SQRT_2_OVER_PI = Math.SQRT2 * (2 / Math.sqrt(Math.PI)) * 0.5;
const GELU_KAPPA = 0.044715;

/**
 * Reads gelu's options.
 *
 * @param fn - what the user called, for messages.
 * @param opts - the options.
 * @returns whether the tanh approximation is wanted.
 */
export function geluApproximate(fn: string, opts: GeluOptions | undefined): boolean {
  const o = checkOptions(fn, opts, ['approximate']);
  const a = o.approximate;
  if (a === undefined || a === 'none') return false;
  if (a === 'tanh') return true;
  throw new ValueError(`${fn}: opts.approximate must be 'none' or 'tanh', got ${typeof a === 'string' ? `'${a}'` : describe(a)}`);
}

/**
 * Gaussian error linear unit: x * Phi(x), Phi the standard normal CDF (the exact erf form,
 * PyTorch's default), or with `{ approximate: 'tanh' }` PyTorch's
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
 *
 * NOTE: Phi(x) is computed as erfc(-x / sqrt 2) / 2 (Cody's erfc, its exponentials by
 * src/kernels/transcendental.ts, so large inputs run in WebAssembly SIMD with the same bits), which keeps its relative precision for
 * very negative x where PyTorch's 0.5 (1 + erf(x / sqrt 2)) cancels; there the two agree in
 * absolute (not relative) terms. Likewise the tanh form computes 0.5 (1 + tanh u) as
 * sigmoid(2u). The gradient is g * (Phi(x) + x phi(x)); for the tanh form, PyTorch's
 * gelu_backward formula with 0.5 (1 + tanh u) as sigmoid(2u) and 1 - tanh^2 u as sech^2 u.
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @param opts - approximate: 'none' (default) or 'tanh'.
 * @throws ValueError on an unknown option or approximate value; ArgumentError when opts is not an object.
 * @example
 * ```ts
 * gelu(tensor([1])); // [0.8413447460685429]
 * gelu(tensor([1]), { approximate: 'tanh' }); // [0.8411919906082768]
 * ```
 */
export function gelu(x: Tensor, opts?: GeluOptions): Tensor {
  assertTensor('gelu', 'x', x);
  const approx = geluApproximate('gelu', opts);
  const xd = x.data;
  const od = like(xd);
  if (approx) {
    for (let i = 0; i < xd.length; i++) {
      const v = xd[i];
      // 0.5 (1 + tanh u) = sigmoid(2u), which keeps its relative precision for u << 0.
      od[i] = v * sigmoidOf(2 * SQRT_2_OVER_PI * (v + GELU_KAPPA * v * v * v));
    }
  } else if (useSimd(xd.length)) {
    simdUnary('gelu', xd, od);
  } else {
    for (let i = 0; i < xd.length; i++) {
      const v = xd[i];
      od[i] = v * 0.5 * erfc(-v * SQRT1_2);
    }
  }
  const out = new Tensor(od, x.shape);
  const rec = record(out, 'gelu', [x], (g) => {
    const r = like(g);
    if (approx) {
      for (let i = 0; i < g.length; i++) {
        const v = xd[i];
        const v2 = v * v;
        const u = SQRT_2_OVER_PI * (v + GELU_KAPPA * v2 * v);
        const left = sigmoidOf(2 * u);
        const right = 0.5 * v * sech2(u) * SQRT_2_OVER_PI * (1 + 3 * GELU_KAPPA * v2);
        r[i] = g[i] * (left + right);
      }
    } else if (useSimd(g.length)) {
      simdGeluBackward(g, xd, r);
    } else {
      for (let i = 0; i < g.length; i++) {
        const v = xd[i];
        const cdf = 0.5 * erfc(-v * SQRT1_2);
        const pdf = expNeg(-0.5 * v * v) * INV_SQRT_2PI;
        r[i] = g[i] * (cdf + v * pdf);
      }
    }
    return [r];
  });
  if (approx) {
    // The derivative of 0.5 x (1 + tanh u), u = sqrt(2/pi) (x + 0.044715 x^3), written with
    // sigmoid(2u) for 0.5 (1 + tanh u) and sech^2 u = 4 sigmoid(2u) (1 - sigmoid(2u)).
    return withGraphRule(rec, (g) => {
      const x2 = x.mul(x);
      const s = sigmoid(x.add(x2.mul(x).mul(GELU_KAPPA)).mul(2 * SQRT_2_OVER_PI));
      const du = x2.mul(3 * GELU_KAPPA).add(1).mul(SQRT_2_OVER_PI);
      // left + right = s + 0.5 x sech^2(u) du = s + 2 x s (1 - s) du
      return [g.mul(s.add(x.mul(s).mul(s.neg().add(1)).mul(du).mul(2)))];
    });
  }
  // Phi(x) + x phi(x), Phi through normalCdf (its own rule phi), phi(x) = e^(-x^2/2) / sqrt(2 pi).
  return withGraphRule(rec, (g) => [g.mul(normalCdf(x).add(x.mul(normalPdf(x))))]);
}

/** phi(x) = e^(-x^2/2) / sqrt(2 pi), the standard normal density, with recorded ops. */
function normalPdf(x: Tensor): Tensor {
  return x.mul(x).mul(-0.5).exp().mul(INV_SQRT_2PI);
}

/**
 * Phi(x) = erfc(-x / sqrt 2) / 2, the standard normal CDF, as an op on the tape (used by the
 * differentiable rule of the exact gelu): its derivative is phi(x), itself recorded.
 *
 * Shape: any -> same.
 *
 * @internal
 * @param x - input.
 * @example
 * ```ts
 * normalCdf(tensor([0])); // [0.5]
 * ```
 */
export function normalCdf(x: Tensor): Tensor {
  assertTensor('normalCdf', 'x', x);
  const xd = x.data;
  const od = like(xd);
  for (let i = 0; i < xd.length; i++) od[i] = 0.5 * erfc(-xd[i] * SQRT1_2);
  const rec = record(new Tensor(od, x.shape), 'normalCdf', [x], (g) => {
    const r = like(g);
    for (let i = 0; i < g.length; i++) {
      const v = xd[i];
      r[i] = g[i] * expNeg(-0.5 * v * v) * INV_SQRT_2PI;
    }
    return [r];
  });
  return withGraphRule(rec, (g) => [g.mul(normalPdf(x))]);
}

/**
 * SiLU (swish): x * sigmoid(x), finite for every x.
 *
 * NOTE: the gradient is g * s * (1 + x (1 - s)) with s = sigmoid(x), as PyTorch's silu_backward.
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @example
 * ```ts
 * silu(tensor([0, 1])); // [0, 0.7310585786300049]
 * ```
 */
export function silu(x: Tensor): Tensor {
  assertTensor('silu', 'x', x);
  const xd = x.data;
  const od = like(xd);
  for (let i = 0; i < xd.length; i++) {
    const v = xd[i];
    od[i] = v * sigmoidOf(v);
  }
  const out = new Tensor(od, x.shape);
  const r = record(out, 'silu', [x], (g) => {
    const r = like(g);
    for (let i = 0; i < g.length; i++) {
      const v = xd[i];
      const s = sigmoidOf(v);
      r[i] = g[i] * s * (1 + v * (1 - s));
    }
    return [r];
  });
  return withGraphRule(r, (g) => {
    const s = sigmoid(x);
    return [g.mul(s.mul(x.mul(s.neg().add(1)).add(1)))];
  });
}

/**
 * Softplus log(1 + e^x) as PyTorch's with beta = 1 and threshold = 20: x itself above 20
 * (where the two agree to double precision), log1p(e^x) below.
 *
 * NOTE: the gradient is g * e^x / (e^x + 1) below the threshold and g above it, as PyTorch's
 * softplus_backward.
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @example
 * ```ts
 * softplus(tensor([0, 30])); // [0.6931471805599453, 30]
 * ```
 */
export function softplus(x: Tensor): Tensor {
  assertTensor('softplus', 'x', x);
  const xd = x.data;
  const od = like(xd);
  for (let i = 0; i < xd.length; i++) {
    const v = xd[i];
    od[i] = v > 20 ? v : Math.log1p(Math.exp(v));
  }
  const out = new Tensor(od, x.shape);
  const r = record(out, 'softplus', [x], (g) => {
    const r = like(g);
    for (let i = 0; i < g.length; i++) {
      const v = xd[i];
      if (v > 20) {
        r[i] = g[i];
      } else {
        const z = Math.exp(v);
        r[i] = (g[i] * z) / (z + 1);
      }
    }
    return [r];
  });
  // sigmoid(x) below the threshold, 1 above it (constant masks), as PyTorch's double backward.
  return withGraphRule(r, (g) => [g.mul(sigmoid(x).mul(mask(x, (v) => (v > 20 ? 0 : 1))).add(mask(x, (v) => (v > 20 ? 1 : 0))))]);
}

// ---- maximum / minimum -----------------------------------------------------------------------

function extreme(fn: 'maximum' | 'minimum', a: Tensor, b: Tensor): Tensor {
  assertTensor(fn, 'a', a);
  assertTensor(fn, 'b', b);
  assertSameDType(fn, 'a', a.data, 'b', b.data);
  const isMax = fn === 'maximum';
  const same = shapesEqual(a.shape, b.shape);
  const shape = same ? a.shape : broadcastShapes(fn, a.shape, b.shape);
  const n = sizeOf(shape);
  const ad = a.data;
  const bd = b.data;
  const ia = same || shapesEqual(a.shape, shape) ? null : broadcastIndex(a.shape, shape);
  const ib = same || shapesEqual(b.shape, shape) ? null : broadcastIndex(b.shape, shape);
  const od = allocateUninit(dtypeOf(ad), n);
  for (let i = 0; i < n; i++) {
    const x = ad[ia === null ? i : ia[i]];
    const y = bd[ib === null ? i : ib[i]];
    if (x !== x || y !== y) od[i] = NaN;
    else if (isMax) od[i] = x < y ? y : x;
    else od[i] = y < x ? y : x;
  }
  const out = new Tensor(od, shape);
  const rec = record(out, fn, [a, b], (g) => {
    // PyTorch: where(a == b, g / 2, g), zeroed for a where a loses and for b where b loses;
    // NaN pairs compare false both ways, so both get g.
    const toA = a.requiresGrad ? allocateUninit(dtypeOf(g), n) : null;
    const toB = b.requiresGrad ? allocateUninit(dtypeOf(g), n) : null;
    for (let i = 0; i < n; i++) {
      const x = ad[ia === null ? i : ia[i]];
      const y = bd[ib === null ? i : ib[i]];
      const gi = x === y ? g[i] / 2 : g[i];
      const aLoses = isMax ? x < y : x > y;
      const bLoses = isMax ? x > y : x < y;
      if (toA !== null) toA[i] = aLoses ? 0 : gi;
      if (toB !== null) toB[i] = bLoses ? 0 : gi;
    }
    return [toA === null ? null : sumToShape(toA, shape, a.shape), toB === null ? null : sumToShape(toB, shape, b.shape)];
  });
  // The same split as constant masks on the broadcast shape: 1 to the winner, 1/2 each on a tie.
  return withGraphRule(rec, (g) => {
    const share = (forA: boolean): Tensor => {
      const m = allocateUninit(dtypeOf(ad), n);
      for (let i = 0; i < n; i++) {
        const x = ad[ia === null ? i : ia[i]];
        const y = bd[ib === null ? i : ib[i]];
        const loses = forA === isMax ? x < y : x > y;
        m[i] = loses ? 0 : x === y ? 0.5 : 1;
      }
      return new Tensor(m, shape);
    };
    return [a.requiresGrad ? sumTo(g.mul(share(true)), a.shape) : null, b.requiresGrad ? sumTo(g.mul(share(false)), b.shape) : null];
  });
}

/**
 * Elementwise maximum of a and b with broadcasting; NaN where either is NaN.
 *
 * NOTE: where a == b the gradient is split half and half, as PyTorch's maximum.
 *
 * Shape: a, b broadcastable -> broadcast shape.
 *
 * @param a - first operand.
 * @param b - second operand (same dtype).
 * @throws ShapeError when the shapes do not broadcast; DTypeError on mixed dtypes.
 * @example
 * ```ts
 * maximum(tensor([1, 5]), tensor(3)); // [3, 5]
 * ```
 */
export function maximum(a: Tensor, b: Tensor): Tensor {
  return extreme('maximum', a, b);
}

/**
 * Elementwise minimum of a and b with broadcasting; NaN where either is NaN.
 *
 * NOTE: where a == b the gradient is split half and half, as PyTorch's minimum.
 *
 * Shape: a, b broadcastable -> broadcast shape.
 *
 * @param a - first operand.
 * @param b - second operand (same dtype).
 * @throws ShapeError when the shapes do not broadcast; DTypeError on mixed dtypes.
 * @example
 * ```ts
 * minimum(tensor([1, 5]), tensor(3)); // [1, 3]
 * ```
 */
export function minimum(a: Tensor, b: Tensor): Tensor {
  return extreme('minimum', a, b);
}
