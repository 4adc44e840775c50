/**
 * fast-check arbitraries for shapes and tensors: the generators tapegrad's own property tests
 * use, exported so users can property-test their layers the same way.
 *
 * @packageDocumentation
 */
import fc from 'fast-check';
import { allocate, type DType } from '../dtype';
import { sizeOf } from '../shape';
import { Tensor } from '../tensor';

/** Options of {@link shapeArb}. */
export interface ShapeArbOptions {
  /** Fewest dimensions. Default 1. */
  minRank?: number;
  /** Most dimensions. Default 3. */
  maxRank?: number;
  /** Smallest dimension size. Default 1. */
  minDim?: number;
  /** Largest dimension size. Default 5. */
  maxDim?: number;
}

/**
 * Shapes with a rank and dimension sizes in the given ranges.
 *
 * @param opts - minRank (1), maxRank (3), minDim (1), maxDim (5).
 * @example
 * ```ts
 * fc.assert(fc.property(shapeArb({ maxRank: 2 }), (shape) => shape.length <= 2));
 * ```
 */
export function shapeArb(opts: ShapeArbOptions = {}): fc.Arbitrary<number[]> {
  const { minRank = 1, maxRank = 3, minDim = 1, maxDim = 5 } = opts;
  return fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/** Options of {@link valuesArb} and {@link tensorArb}. */
export interface ValuesArbOptions {
  /** Smallest value. Default -2. */
  min?: number;
  /** Largest value. Default 2. */
  max?: number;
  /**
   * Keep every value at least this far from each kink (|v - k| >= margin), so finite
   * differences of ReLU-like functions stay valid. Default: no margin.
   */
  awayFrom?: { kinks: number[]; margin: number };
}

/**
 * Arrays of `n` finite doubles in [min, max], optionally kept away from kinks.
 *
 * @param n - length.
 * @param opts - min (-2), max (2), awayFrom.
 * @example
 * ```ts
 * valuesArb(4, { awayFrom: { kinks: [0], margin: 1e-3 } });
 * ```
 */
export function valuesArb(n: number, opts: ValuesArbOptions = {}): fc.Arbitrary<number[]> {
  const { min = -2, max = 2, awayFrom } = opts;
  const value = fc.double({ min, max, noNaN: true, noDefaultInfinity: true }).map((v) => awayFromKinks(v, awayFrom));
  return fc.array(value, { minLength: n, maxLength: n });
}

/**
 * Moves `v` to the nearer edge of the margin around the first kink it is too close to.
 *
 * @internal
 */
export function awayFromKinks(v: number, awayFrom: ValuesArbOptions['awayFrom']): number {
  if (awayFrom === undefined) return v;
  for (const k of awayFrom.kinks) {
    if (Math.abs(v - k) < awayFrom.margin) return v >= k ? k + awayFrom.margin : k - awayFrom.margin;
  }
  return v;
}

/** Options of {@link tensorArb}. */
export interface TensorArbOptions extends ValuesArbOptions {
  /** Element type. Default 'float64'. */
  dtype?: DType;
  /** Whether the tensors require grad. Default true. */
  requiresGrad?: boolean;
}

/**
 * Tensors of a given shape (or of shapes drawn from an arbitrary) with values in a range.
 *
 * @param shape - a fixed shape, or an arbitrary of shapes.
 * @param opts - dtype ('float64'), requiresGrad (true), min (-2), max (2), awayFrom.
 * @example
 * ```ts
 * fc.assert(fc.property(tensorArb([2, 3]), (x) => x.shape[1] === 3));
 * ```
 */
export function tensorArb(shape: readonly number[] | fc.Arbitrary<number[]>, opts: TensorArbOptions = {}): fc.Arbitrary<Tensor> {
  const shapes = Array.isArray(shape) ? fc.constant([...shape]) : (shape as fc.Arbitrary<number[]>);
  return shapes.chain((s) =>
    valuesArb(sizeOf(s), opts).map((values) => {
      const data = allocate(opts.dtype ?? 'float64', values.length);
      data.set(values);
      return new Tensor(data, s, { requiresGrad: opts.requiresGrad ?? true });
    }),
  );
}

/**
 * Pairs of shapes that broadcast together under numpy rules: a base shape, with some
 * dimensions of either side set to 1 and some leading dimensions of one side dropped.
 *
 * @param opts - as {@link shapeArb} for the base shape.
 * @example
 * ```ts
 * fc.assert(fc.property(broadcastPairArb(), ([a, b]) => a.length > 0 && b.length >= 0));
 * ```
 */
export function broadcastPairArb(opts: ShapeArbOptions = {}): fc.Arbitrary<[number[], number[]]> {
  return shapeArb(opts).chain((base) =>
    fc
      .tuple(
        fc.array(fc.boolean(), { minLength: base.length, maxLength: base.length }),
        fc.array(fc.boolean(), { minLength: base.length, maxLength: base.length }),
        fc.integer({ min: 0, max: base.length }),
        fc.boolean(),
      )
      .map(([onesA, onesB, drop, dropFromA]) => {
        let a = base.map((d, i) => (onesA[i] ? 1 : d));
        let b = base.map((d, i) => (onesB[i] && !onesA[i] ? 1 : d));
        if (dropFromA) a = a.slice(drop);
        else b = b.slice(drop);
        return [a, b] as [number[], number[]];
      }),
  );
}
