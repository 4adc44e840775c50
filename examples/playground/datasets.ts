/**
 * The playground's 2-D data sets: spiral (3 classes), moons, circles and XOR (2 classes each),
 * drawn from a small seeded generator of their own so that a seed always gives the same points,
 * whatever the library's PRNG is doing in the training worker.
 *
 * @module
 */

/** The data sets the page offers. */
export const DATASETS = ['spiral', 'moons', 'circles', 'xor'] as const;
/** One of {@link DATASETS}. */
export type DatasetName = (typeof DATASETS)[number];

/** Points in roughly [-1, 1]², row-major `(n, 2)`, with a class per point. */
export interface Points {
  /** Coordinates, `x[2i], x[2i + 1]`. */
  x: Float64Array;
  /** Class of each point, 0..classes-1. */
  y: Int32Array;
  /** Number of points. */
  n: number;
  /** Number of classes. */
  classes: number;
}

/** mulberry32: a tiny 32-bit generator, uniform in [0, 1). */
function uniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws from a uniform generator (Box-Muller). */
function normal(u: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/**
 * Makes a data set.
 *
 * @param name - which one.
 * @param n - points in all (default 300); spiral rounds down to a multiple of 3.
 * @param noise - noise level in [0, 1] (default 0.2), scaled per data set.
 * @param seed - generator seed (default 1).
 * @returns the points and their classes.
 * @example
 * ```ts
 * const { x, y, classes } = makeDataset('spiral', 300, 0.2, 1); // 3 classes, 100 points each
 * ```
 */
export function makeDataset(name: DatasetName, n = 300, noise = 0.2, seed = 1): Points {
  const u = uniform(seed);
  const g = normal(u);
  const classes = name === 'spiral' ? 3 : 2;
  const per = Math.floor(n / classes);
  const total = per * classes;
  const x = new Float64Array(total * 2);
  const y = new Int32Array(total);
  const put = (i: number, a: number, b: number, c: number): void => {
    x[2 * i] = a;
    x[2 * i + 1] = b;
    y[i] = c;
  };
  for (let c = 0; c < classes; c++) {
    for (let j = 0; j < per; j++) {
      const i = c * per + j;
      const f = per > 1 ? j / (per - 1) : 0;
      switch (name) {
        case 'spiral': {
          // CS231n's spiral: radius grows linearly, angle sweeps 4 radians per class.
          const r = f;
          const t = c * 4 + f * 4 + g() * noise;
          put(i, r * Math.sin(t), r * Math.cos(t), c);
          break;
        }
        case 'moons': {
          const t = Math.PI * u();
          const [a, b] = c === 0 ? [Math.cos(t), Math.sin(t)] : [1 - Math.cos(t), 0.5 - Math.sin(t)];
          put(i, (a - 0.5) * 0.9 + g() * noise * 0.5, (b - 0.25) * 0.9 + g() * noise * 0.5, c);
          break;
        }
        case 'circles': {
          const t = 2 * Math.PI * u();
          const r = (c === 0 ? 0.85 : 0.35) + g() * noise * 0.25;
          put(i, r * Math.cos(t), r * Math.sin(t), c);
          break;
        }
        case 'xor': {
          let a = u() * 2 - 1;
          let b = u() * 2 - 1;
          // Keep the quadrants apart a little, then jitter.
          a += Math.sign(a) * 0.05;
          b += Math.sign(b) * 0.05;
          const cls = a * b > 0 ? 0 : 1;
          // Flip b's sign so the point lands in class c: both classes get `per` points.
          if (cls !== c) b = -b;
          put(i, clamp(a + g() * noise * 0.3), clamp(b + g() * noise * 0.3), c);
          break;
        }
      }
    }
  }
  return { x, y, n: total, classes };
}

const clamp = (v: number): number => Math.max(-1.1, Math.min(1.1, v));
