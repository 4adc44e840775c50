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
import { ArgumentError, ValueError } from './errors';
import { describe } from './shape';

let rng: JumpableRandomGenerator = xoroshiro128plus(0);
/** A spare standard normal from the last Box-Muller pair, or NaN when there is none. */
let spareNormal = Number.NaN;

/**
 * Seeds the global PRNG. Call it once at the start of a run to make it reproducible.
 *
 * Every integer from 0 to `Number.MAX_SAFE_INTEGER` gives its own stream: the low 32 bits seed
 * the generator as pure-rand's `xoroshiro128plus(seed)` does, and the high bits (mixed by a
 * bijective hash) fill the word that is zero for seeds below 2^32, so those seeds keep the
 * streams they have always had and `5` and `2 ** 32 + 5` differ.
 *
 * @param seed - an integer in [0, 2^53 - 1].
 * @throws ValueError when seed is not such an integer (1.5, -1, NaN, 2 ** 53, '1').
 * @example
 * ```ts
 * manualSeed(0);
 * const a = Tensor.randn([2]); manualSeed(0); const b = Tensor.randn([2]); // a equals b
 * ```
 */
export function manualSeed(seed: number): void {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
    throw new ValueError(`manualSeed: seed must be an integer in [0, 2^53 - 1] (Number.MAX_SAFE_INTEGER), got ${describe(seed)}`);
  }
  const lo = seed % 0x1_0000_0000;
  const hi = Math.floor(seed / 0x1_0000_0000);
  // xoroshiro128plus(lo) is the state [-1, ~lo, lo, 0]; the last word carries the high bits.
  rng = xoroshiro128plusFromState([-1, ~lo, lo | 0, fmix32(hi)]);
  spareNormal = Number.NaN;
}

/** MurmurHash3's 32-bit finaliser: a bijection on 32-bit words with fmix32(0) = 0. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/**
 * The PRNG's full state, JSON-serialisable: save it in a checkpoint to resume exactly.
 *
 * @returns five numbers: the generator's four int32 words and the cached normal (NaN when none).
 * @example
 * ```ts
 * const s = getRngState(); Tensor.randn([3]); setRngState(s); // the next randn repeats
 * ```
 */
export function getRngState(): number[] {
  return [...rng.getState(), spareNormal];
}

/**
 * Why `state` could not have come from {@link getRngState}, as `must be ..., got ...`, or null
 * when it is a valid state. Used by `setRngState` and by `loadCheckpoint` (before it changes
 * anything).
 *
 * @param state - a candidate state.
 * @returns the problem, or null.
 * @example
 * ```ts
 * rngStateProblem([0, 0, 0, 0, NaN]); // 'must not be all zero words ...'
 * ```
 */
export function rngStateProblem(state: unknown): string | null {
  if (
    !Array.isArray(state) ||
    state.length !== 5 ||
    !state.slice(0, 4).every((v) => Number.isInteger(v) && (v as number) >= -0x80000000 && (v as number) <= 0x7fffffff) ||
    typeof state[4] !== 'number'
  ) {
    return `must be 4 int32 words and a spare normal (from getRngState), got ${describe(state)}`;
  }
  if (state.slice(0, 4).every((v) => v === 0)) {
    // xoroshiro128+ maps the all-zero state to itself: every draw would be 0, and randn, which
    // redraws a uniform 0, would never return.
    return `must not have all four words zero (xoroshiro128+ would then draw only zeros), got ${describe(state)}`;
  }
  const spare = state[4] as number;
  if (!Number.isNaN(spare) && !Number.isFinite(spare)) {
    return `must have a finite spare normal or NaN (none), got ${spare}`;
  }
  return null;
}

/**
 * Restores a state returned by {@link getRngState}. A rejected state changes nothing.
 *
 * @param state - the saved state (5 numbers).
 * @throws ValueError when the state is not one `getRngState` could have produced: not 4 int32
 *   words and a number, all four words zero (a generator stuck at zero), or an infinite spare.
 * @example
 * ```ts
 * setRngState(saved);
 * ```
 */
export function setRngState(state: readonly number[]): void {
  const problem = rngStateProblem(state);
  if (problem !== null) throw new ValueError(`setRngState: state ${problem}`);
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
 * @param a - the array to shuffle: an Array or a typed array (not frozen).
 * @returns the same array.
 * @throws ArgumentError when `a` is not an array or typed array (a string, an object with a
 *   length), or is frozen.
 * @example
 * ```ts
 * const order = shuffleInPlace(Int32Array.from({ length: 10 }, (_, i) => i));
 * ```
 */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(a: T): T {
  const isTyped = ArrayBuffer.isView(a) && !(a instanceof DataView);
  if (!Array.isArray(a) && !isTyped) {
    throw new ArgumentError(`shuffleInPlace: a must be an Array or a typed array, got ${describe(a)}`);
  }
  if (!isTyped && a.length > 1 && Object.isFrozen(a)) {
    throw new ArgumentError(`shuffleInPlace: a must be writable, got a frozen array of length ${a.length}`);
  }
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
