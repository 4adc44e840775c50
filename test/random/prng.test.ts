/**
 * The global PRNG: seeds below 2^32 keep the exact streams they always had (values pinned from
 * the code before seeds gained their high bits), every safe integer seed has its own stream,
 * bad seeds and degenerate or non-finite states are refused without changing anything, and
 * shuffleInPlace refuses what it cannot shuffle.
 */
import { ArgumentError, getRngState, manualSeed, randperm, setRngState, shuffleInPlace, Tensor, ValueError } from '../../src';
import { randomNormal, randomUniform } from '../../src/random';

/** Taken from the code as it was before this change (pure-rand's xoroshiro128plus(seed | 0)). */
const PINNED = [
  { s: 0, st: [-1, -1, 0, 0], u: [0.9999999999927239, 0.7500000074513797], n: [-0.15955656056300238, -0.19447007220944487, -1.8880871183437113], p: [4, 2, 8, 0, 3, 1, 9, 5, 6, 7] },
  { s: 1, st: [-1, -2, 1, 0], u: [0.9999999832216382, 0.8125200422980502], n: [-0.9366198388058155, -0.024209823000978004, 0.7120049486053721], p: [0, 2, 3, 5, 1, 6, 4, 9, 8, 7] },
  { s: 42, st: [-1, -43, 42, 0], u: [0.9999993701129287, 0.8758418435769486], n: [-1.5977705269839046, -1.9812566968965477, -1.3488132467247669], p: [3, 4, 8, 6, 9, 0, 5, 2, 1, 7] },
  { s: 2 ** 31 - 1, st: [-1, -2147483648, 2147483647, 0], u: [1.862646814565494e-9, 0.12451742752311445], n: [1.1478301237866748, 0.8223400037411617, -1.8603173528651546], p: [6, 5, 7, 9, 0, 8, 1, 4, 3, 2] },
  { s: 2 ** 31, st: [-1, 2147483647, -2147483648, 0], u: [0.9999999999927222, 0.9067483022793552], n: [0.6636779359267292, 1.3236907545348777, -0.4408037641440679], p: [8, 0, 4, 1, 2, 7, 5, 6, 9, 3] },
  { s: 2 ** 32 - 1, st: [-1, 0, -1, 0], u: [1.8626450382086546e-9, 0.24999998672953394], n: [0.6906806320021882, 0.3140634488688986, -0.24822078604614972], p: [2, 8, 0, 9, 7, 1, 4, 3, 5, 6] },
];

describe('manualSeed', () => {
  it.each(PINNED)('seed $s keeps its stream', ({ s, st, u, n, p }) => {
    manualSeed(s);
    const state = getRngState();
    expect(state.slice(0, 4)).toEqual(st);
    expect(Number.isNaN(state[4])).toBe(true);
    expect([randomUniform(), randomUniform()]).toEqual(u);
    expect([randomNormal(), randomNormal(), randomNormal()]).toEqual(n);
    expect(Array.from(randperm(10))).toEqual(p);
  });

  it('uses the high bits: 5 and 2^32 + 5 (and every multiple of 2^32 apart) differ', () => {
    const draw = (seed: number) => {
      manualSeed(seed);
      return Array.from(Tensor.randn([8]).data);
    };
    const seeds = [5, 2 ** 32 + 5, 2 * 2 ** 32 + 5, 2 ** 52 + 5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 2 ** 32];
    const streams = seeds.map(draw);
    for (let i = 0; i < seeds.length; i++) {
      for (let j = i + 1; j < seeds.length; j++) expect({ a: seeds[i], b: seeds[j], same: streams[i].join() === streams[j].join() }).toEqual({ a: seeds[i], b: seeds[j], same: false });
    }
    expect(draw(2 ** 32 + 5)).toEqual(streams[1]); // and each is reproducible
  });

  it('refuses non-integers, negatives and unsafe integers with a ValueError, changing nothing', () => {
    manualSeed(7);
    const before = getRngState();
    for (const bad of [1.5, -1, -0.5, 2 ** 53, Number.NaN, Infinity, '1', null, 1e300]) {
      expect(() => manualSeed(bad as number)).toThrow(ValueError);
      expect(() => manualSeed(bad as number)).toThrow(/^manualSeed: seed must be an integer in \[0, 2\^53 - 1\]/);
    }
    expect(getRngState()).toEqual(before);
  });
});

describe('setRngState', () => {
  it.each<[string, number[], RegExp]>([
    ['all-zero words', [0, 0, 0, 0, Number.NaN], /must not have all four words zero/],
    ['all-zero words with a spare', [0, 0, 0, 0, 0.5], /must not have all four words zero/],
    ['+Infinity spare', [1, 2, 3, 4, Infinity], /must have a finite spare normal or NaN \(none\), got Infinity/],
    ['-Infinity spare', [1, 2, 3, 4, -Infinity], /got -Infinity/],
  ])('refuses %s with a ValueError and changes nothing', (_label, state, pattern) => {
    manualSeed(11);
    Tensor.randn([3]); // leave a spare normal cached
    const before = getRngState();
    expect(() => setRngState(state)).toThrow(ValueError);
    expect(() => setRngState(state)).toThrow(pattern);
    expect(getRngState()).toEqual(before);
    expect(Number.isFinite(Tensor.randn([1]).data[0])).toBe(true);
  });

  it('still accepts every state getRngState gives, and one word being zero is fine', () => {
    manualSeed(0); // [-1, -1, 0, 0]: two zero words
    const s = getRngState();
    const a = Tensor.randn([5]).data.slice();
    setRngState(s);
    expect(Tensor.randn([5]).data).toEqual(a);
    setRngState([0, 0, 0, 1, Number.NaN]);
    expect(Number.isFinite(Tensor.randn([4]).data[3])).toBe(true);
  });
});

describe('shuffleInPlace', () => {
  it('refuses strings, array-likes and frozen arrays with an ArgumentError', () => {
    manualSeed(1);
    const before = getRngState();
    expect(() => shuffleInPlace('abc' as never)).toThrow(ArgumentError);
    expect(() => shuffleInPlace('abc' as never)).toThrow(/^shuffleInPlace: a must be an Array or a typed array, got/);
    expect(() => shuffleInPlace({ length: 3, 0: 1, 1: 2, 2: 3 } as never)).toThrow(ArgumentError);
    expect(() => shuffleInPlace(Object.freeze([1, 2, 3]) as never)).toThrow(/^shuffleInPlace: a must be writable, got a frozen array of length 3/);
    expect(getRngState()).toEqual(before);
    expect(shuffleInPlace([3, 1, 2]).sort()).toEqual([1, 2, 3]);
    expect(Array.from(shuffleInPlace(new Float32Array([1, 2, 3, 4]))).sort()).toEqual([1, 2, 3, 4]);
  });
});
