/**
 * The transcendental building blocks of the hot activations (tanh, sigmoid, their gradients,
 * softmax's exponentials), written ONCE as an explicit sequence of IEEE double operations that
 * the WebAssembly SIMD kernels in asm/elementwise.ts repeat lane by lane, operation for
 * operation, so the two give bit-identical results (no Math.exp / Math.tanh, whose results
 * depend on the engine's libm).
 *
 * exp(v) for v <= 0: Cody-Waite range reduction v = k ln2 + r, |r| <= ln2/2 (k rounded to
 * nearest-even by the 1.5 * 2^52 shifter, ln2 split into a 32-bit head, so k * LN2_HI is
 * exact, and a tail), then e^r - 1 by its Taylor polynomial of degree 13 (truncation below
 * 1.3e-17 relative on |r| <= ln2/2) in Horner form, then scaling by 2^(k+64) (an exact power
 * of two, a normal number for every k reached) and by 2^-64, so the only rounding into the
 * subnormal range is the last multiply. Measured error: a few ulp (see
 * test/kernels/transcendental.test.ts).
 *
 * Every function here takes and returns doubles; float32 tensors run the same double
 * computation and round once when stored into their Float32Array, as the SIMD kernels do.
 *
 * @packageDocumentation
 */

/** log2(e). */
export const LOG2E = 1.4426950408889634;
/** 1.5 * 2^52: adding and subtracting it rounds |v| < 2^51 to the nearest integer (ties to even). */
export const SHIFT = 6755399441055744;
/** The high 32 bits of ln 2 (fdlibm's ln2HI): k * LN2_HI is exact for |k| < 2^20. */
export const LN2_HI = 6.93147180369123816490e-1;
/** ln 2 - LN2_HI. */
export const LN2_LO = 1.90821492927058770002e-10;
/** Below this, exp underflows to 0 (e^-746 < 2^-1075); arguments are clamped here. */
export const EXP_MIN = -746;

// 1/n! for n = 2..13, as JS prints them (the AssemblyScript source uses the same literals).
const C2 = 0.5;
const C3 = 0.16666666666666666;
const C4 = 0.041666666666666664;
const C5 = 0.008333333333333333;
const C6 = 0.001388888888888889;
const C7 = 0.0001984126984126984;
const C8 = 0.0000248015873015873;
const C9 = 0.0000027557319223985893;
const C10 = 2.755731922398589e-7;
const C11 = 2.505210838544172e-8;
const C12 = 2.08767569878681e-9;
const C13 = 1.6059043836821613e-10;

/** 2^j for j in [-1100, 1100] at index j + 1100: exact powers of two, as the SIMD code builds from exponent bits. */
const POW2 = new Float64Array(2201);
{
  let p = 1;
  for (let j = 0; j <= 1100; j++) {
    POW2[1100 + j] = j <= 1023 ? p : Infinity;
    p *= 2;
  }
  // Built downward by exact halvings from 1 would reach subnormals; only j >= -1022 is used.
  p = 1;
  for (let j = 0; j <= 1100; j++) {
    POW2[1100 - j] = p;
    p /= 2;
  }
}

/** 2^-64. */
const TWO_M64 = 5.421010862427522e-20;

/** e^r - 1 on |r| <= ln2/2 (a little beyond is fine): r + r^2 (1/2! + r (1/3! + ... + r / 13!)). */
function expm1Poly(r: number): number {
  let q = C13;
  q = C12 + r * q;
  q = C11 + r * q;
  q = C10 + r * q;
  q = C9 + r * q;
  q = C8 + r * q;
  q = C7 + r * q;
  q = C6 + r * q;
  q = C5 + r * q;
  q = C4 + r * q;
  q = C3 + r * q;
  q = C2 + r * q;
  return r + r * r * q;
}

/**
 * e^v for v <= 0 (v > 0 is not supported: callers pass -|x|, x - max, -x^2, ...), NaN -> NaN,
 * -Infinity and anything below -746 -> 0.
 *
 * @param v - a non-positive number or NaN.
 * @returns e^v to a few ulp.
 * @example
 * ```ts
 * expNeg(-1); // 0.36787944117144233
 * ```
 */
export function expNeg(v: number): number {
  const w = v < EXP_MIN ? EXP_MIN : v;
  const t = w * LOG2E + SHIFT;
  const k = t - SHIFT;
  const r = w - k * LN2_HI - k * LN2_LO;
  const p = expm1Poly(r);
  return (1 + p) * POW2[1164 + k] * TWO_M64;
}

/** Above this |x|, tanh(x) rounds to ±1 in double precision (tanh(20) = 1 - 8.5e-18). */
export const TANH_CLAMP = 20;
/** Below this |x|, tanh(x) = x to double precision (and the sign of zero is kept). */
export const TANH_TINY = 3.725290298461914e-9; // 2^-28

/**
 * tanh(x) as -u / (u + 2) with u = e^(-2|x|) - 1 (Cody-Waite as in {@link expNeg}, u = 2^k p + (2^k - 1)),
 * the sign restored from x; x itself for |x| < 2^-28. A few ulp everywhere; NaN -> NaN.
 *
 * @param x - any number.
 * @returns tanh(x).
 * @example
 * ```ts
 * tanhOf(1); // 0.7615941559557649
 * ```
 */
export function tanhOf(x: number): number {
  const a0 = x < 0 ? -x : x;
  const a = a0 > TANH_CLAMP ? TANH_CLAMP : a0;
  const w = -2 * a;
  const t = w * LOG2E + SHIFT;
  const k = t - SHIFT;
  const r = w - k * LN2_HI - k * LN2_LO;
  const p = expm1Poly(r);
  const s = POW2[1100 + k];
  const u = s * p + (s - 1);
  const y = -u / (u + 2);
  return a < TANH_TINY ? x : x < 0 ? -y : y;
}

/**
 * sech^2(x) = 1 - tanh^2(x) as 4t / (1 + t)^2 with t = e^(-2|x|): a few ulp for every x.
 *
 * @param x - any number.
 * @returns sech^2(x).
 * @example
 * ```ts
 * sech2Of(0); // 1
 * ```
 */
export function sech2Of(x: number): number {
  const t = expNeg(-2 * (x < 0 ? -x : x));
  const d = 1 + t;
  return (4 * t) / (d * d);
}

/**
 * The logistic sigmoid 1 / (1 + e^-x), as 1 / (1 + e) for x >= 0 and e / (1 + e) below, with
 * e = e^(-|x|): finite for every x, a few ulp.
 *
 * @param x - any number.
 * @returns sigmoid(x).
 * @example
 * ```ts
 * sigmoidOf(0); // 0.5
 * ```
 */
export function sigmoidOf(x: number): number {
  const e = expNeg(x < 0 ? x : -x);
  const d = 1 + e;
  return x >= 0 ? 1 / d : e / d;
}

/**
 * sigmoid'(x) = sigmoid(x) sigmoid(-x) as e / (1 + e)^2 with e = e^(-|x|).
 *
 * @param x - any number.
 * @returns the derivative of the sigmoid at x.
 * @example
 * ```ts
 * sigmoidGradOf(0); // 0.25
 * ```
 */
export function sigmoidGradOf(x: number): number {
  return sigmoidBackwardOf(1, x);
}

/**
 * g * sigmoid'(x) as (g e) / (1 + e)^2 with e = e^(-|x|), the order the SIMD kernel uses.
 *
 * @param g - upstream gradient.
 * @param x - the sigmoid's input.
 * @returns g * sigmoid'(x).
 * @example
 * ```ts
 * sigmoidBackwardOf(2, 0); // 0.5
 * ```
 */
export function sigmoidBackwardOf(g: number, x: number): number {
  const e = expNeg(x < 0 ? x : -x);
  const d = 1 + e;
  return (g * e) / (d * d);
}
