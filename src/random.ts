/**
 * The one seeded PRNG behind `manualSeed`: Tensor.randn, weight initialisation, dropout masks
 * and shuffles all draw from it, so a run seeded with the same number repeats bit for bit.
 * It is pure-rand's xoroshiro128+, whose state can be saved into a checkpoint and restored.
 *
 * @packageDocumentation
 */
import { xoroshiro128plus, xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import type { JumpableRandomGenerator } from 'pure-rand/types/JumpableRandomGenerator';
import { ValueError } from './errors';
import { describe } from './shape';

let rng: JumpableRandomGenerator = xoroshiro128plus(0);
/** A spare standard normal from the last Box-Muller pair, or NaN when there is none. */
let spareNormal = Number.NaN;

/**
 * Seeds the global PRNG. Call it once at the start of a run to make it reproducible.
 *
 * @param seed - a 32-bit integer (other numbers are truncated to one).
 * @example
 * ```ts
 * manualSeed(0);
 * const a = Tensor.randn([2]); manualSeed(0); const b = Tensor.randn([2]); // a equals b
 * ```
 */
export function manualSeed(seed: number): void {
  if (typeof seed !== 'number' || !Number.isFinite(seed)) {
    throw new ValueError(`manualSeed: seed must be a finite number, got ${describe(seed)}`);
  }
  rng = xoroshiro128plus(seed | 0);
  spareNormal = Number.NaN;
}

/**
 * The PRNG's full state, JSON-serialisable: save it in a checkpoint to resume exactly.
 *
 * @example
 * ```ts
 * const s = getRngState(); Tensor.randn([3]); setRngState(s); // the next randn repeats
 * ```
 */
export function getRngState(): number[] {
  return [...rng.getState(), spareNormal];
}

/**
 * Restores a state returned by {@link getRngState}.
 *
 * @param state - the saved state (5 numbers).
 * @throws ValueError when the state is not one `getRngState` could have produced.
 * @example
 * ```ts
 * setRngState(saved);
 * ```
 */
export function setRngState(state: readonly number[]): void {
  if (
    !Array.isArray(state) ||
    state.length !== 5 ||
    !state.slice(0, 4).every((v) => Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) ||
    typeof state[4] !== 'number'
  ) {
    throw new ValueError(`setRngState: state must be 4 int32 words and a spare normal (from getRngState), got ${describe(state)}`);
  }
  rng = xoroshiro128plusFromState(state.slice(0, 4));
  spareNormal = state[4];
}

/**
 * A uniform draw in [0, 1) with 53 random bits.
 *
 * @example
 * ```ts
 * const u = randomUniform();
 * ```
 */
export function randomUniform(): number {
  return uniformFloat64(rng);
}

/**
 * A standard normal draw (Box-Muller; the second value of each pair is kept for the next call).
 *
 * @example
 * ```ts
 * const z = randomNormal();
 * ```
 */
export function randomNormal(): number {
  if (!Number.isNaN(spareNormal)) {
    const z = spareNormal;
    spareNormal = Number.NaN;
    return z;
  }
  let u = 0;
  while (u === 0) u = uniformFloat64(rng);
  const v = uniformFloat64(rng);
  const r = Math.sqrt(-2 * Math.log(u));
  spareNormal = r * Math.sin(2 * Math.PI * v);
  return r * Math.cos(2 * Math.PI * v);
}

/**
 * A uniform integer in [min, max] (both included).
 *
 * @param min - smallest value.
 * @param max - largest value.
 * @example
 * ```ts
 * const die = randomInt(1, 6);
 * ```
 */
export function randomInt(min: number, max: number): number {
  return uniformInt(rng, min, max);
}

/**
 * Shuffles an array in place (Fisher-Yates) with the global PRNG.
 *
 * @param a - the array to shuffle.
 * @returns the same array.
 * @example
 * ```ts
 * const order = shuffleInPlace(Int32Array.from({ length: 10 }, (_, i) => i));
 * ```
 */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(a: T): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = uniformInt(rng, 0, i);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

/**
 * A random permutation of 0..n-1 from the global PRNG.
 *
 * @param n - length, an integer in [0, 2^31 - 1].
 * @throws ValueError when n is not such an integer.
 * @example
 * ```ts
 * randperm(5); // e.g. Int32Array [3, 0, 4, 1, 2]
 * ```
 */
export function randperm(n: number): Int32Array {
  if (!Number.isSafeInteger(n) || n < 0 || n > 0x7fffffff) {
    throw new ValueError(`randperm: n must be an integer in [0, 2^31 - 1], got ${describe(n)}`);
  }
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return shuffleInPlace(a);
}
