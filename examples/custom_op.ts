/**
 * Your own kernel as an op, the seed's way: write a layer's forward and backward pass by hand
 * over `{ shape, data }` arrays, turn the pair into an op with `defineOp`, check it, find a
 * planted bug with the same checks, wrap it in a module and train with it.
 *
 * 1. the kernel pair: a "scaled affine" layer, out = scale * (x @ w) + b;
 * 2. `gradcheck` against central differences;
 * 3. a fast-check property: random shapes, values and scales;
 * 4. a planted bug (dw forgets the scale), caught by both checks;
 * 5. wrapped in an nn.Module, checked with `checkModuleGradients`, trained with optim.SGD.
 *
 * ```sh
 * npx ts-node --transpile-only examples/custom_op.ts
 * ```
 *
 * In your own project the imports read `from 'tapegrad'` and `from 'tapegrad/testing'`;
 * inside this repository they are `'../src'` and `'../src/testing'`. fast-check must be
 * installed next to tapegrad. The guide is docs/custom-ops.md.
 *
 * @module
 */
import { parseArgs } from 'node:util';

import * as fc from 'fast-check';

import { GradError, ShapeError, Tensor, defineOp, manualSeed, nn, optim, type FloatArray, type NDArray } from '../src'; // users: from 'tapegrad'
import { checkModuleGradients, gradcheck, shapeArb, tensorArb } from '../src/testing'; // users: from 'tapegrad/testing'
import type { ProgressStream } from './lib/report';
import { runMain } from './lib/cli';

// ---------------------------------------------------------------------------------------------
// 1. The kernel pair, as the seed writes affine_forward / affine_backward.

/** What {@link scaledAffineForward} saves for the backward pass. */
export interface ScaledAffineCache {
  /** The input, (N, d1..dk). */
  x: NDArray;
  /** The weights, (D, M). */
  w: NDArray;
  /** The fixed scale. */
  scale: number;
}

/** A zero-filled array of `like`'s dtype: float32 in, float32 out. */
function zerosLike(like: FloatArray, n: number): FloatArray {
  return like instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
}

/**
 * Forward pass of a scaled affine layer: each example is flattened to a vector of D values,
 * multiplied by w, scaled, and shifted by b. With scale = 1 / sqrt(D) the weights can start at
 * unit variance whatever the layer's width (the "equalized learning rate" trick).
 *
 * Shape: x (N, d1..dk), w (D, M) with D = d1 * ... * dk, b (M) -> out (N, M).
 *
 * @param x - input batch.
 * @param w - weights.
 * @param b - biases.
 * @param scale - the fixed factor.
 * @returns out and the cache (x, w, scale).
 * @example
 * ```ts
 * const { out, cache } = scaledAffineForward(x, w, b, 1 / Math.sqrt(3));
 * ```
 */
export function scaledAffineForward(x: NDArray, w: NDArray, b: NDArray, scale: number): { out: NDArray; cache: ScaledAffineCache } {
  const n = x.shape[0];
  const d = n === 0 ? 0 : x.data.length / n;
  const m = w.shape[1];
  if (w.shape.length !== 2 || w.shape[0] !== d || b.shape.length !== 1 || b.shape[0] !== m) {
    throw new ShapeError(`w must be [${d}, M] and b [M] for x [${x.shape.join(', ')}], got w [${w.shape.join(', ')}], b [${b.shape.join(', ')}]`);
  }
  const out = zerosLike(x.data, n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += x.data[i * d + k] * w.data[k * m + j];
      out[i * m + j] = scale * s + b.data[j];
    }
  }
  return { out: { shape: [n, m], data: out }, cache: { x, w, scale } };
}

/**
 * Backward pass of {@link scaledAffineForward}: dx = scale * dout @ w.T (in x's shape),
 * dw = scale * x.T @ dout, db = the sum of dout over the batch.
 *
 * Shape: dout (N, M) -> dx (N, d1..dk), dw (D, M), db (M).
 *
 * @param dout - upstream derivative.
 * @param cache - from the forward pass.
 * @returns [dx, dw, db], one per tensor input of the forward pass, in order.
 * @example
 * ```ts
 * const [dx, dw, db] = scaledAffineBackward(dout, cache);
 * ```
 */
export function scaledAffineBackward(dout: NDArray, { x, w, scale }: ScaledAffineCache): [FloatArray, FloatArray, FloatArray] {
  const [n, m] = dout.shape;
  const d = w.shape[0];
  const dx = zerosLike(x.data, n * d);
  const dw = zerosLike(w.data, d * m);
  const db = zerosLike(w.data, m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const g = dout.data[i * m + j];
      db[j] += g;
      for (let k = 0; k < d; k++) {
        dx[i * d + k] += scale * g * w.data[k * m + j];
        dw[k * m + j] += scale * x.data[i * d + k] * g;
      }
    }
  }
  return [dx, dw, db];
}

/** The kernel pair as an op: `scaledAffine(x: Tensor, w: Tensor, b: Tensor, scale: number) => Tensor`. */
export const scaledAffine = defineOp({ name: 'scaledAffine', forward: scaledAffineForward, backward: scaledAffineBackward });

/**
 * {@link scaledAffineBackward} with a planted bug, the kind a hand-written backward pass gets:
 * dw forgets the scale. The forward pass is right, so only a gradient check can tell.
 */
export function buggyScaledAffineBackward(dout: NDArray, { x, w, scale }: ScaledAffineCache): [FloatArray, FloatArray, FloatArray] {
  const [n, m] = dout.shape;
  const d = w.shape[0];
  const dx = zerosLike(x.data, n * d);
  const dw = zerosLike(w.data, d * m);
  const db = zerosLike(w.data, m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const g = dout.data[i * m + j];
      db[j] += g;
      for (let k = 0; k < d; k++) {
        dx[i * d + k] += scale * g * w.data[k * m + j];
        dw[k * m + j] += x.data[i * d + k] * g; // BUG: the scale is missing
      }
    }
  }
  return [dx, dw, db];
}

/** The op with the planted bug. */
export const buggyScaledAffine = defineOp({ name: 'buggyScaledAffine', forward: scaledAffineForward, backward: buggyScaledAffineBackward });

/**
 * A layer on the op: weights start at unit variance, the output is scaled by 1 / sqrt(in).
 *
 * Shape: (N, inFeatures) -> (N, outFeatures).
 *
 * @example
 * ```ts
 * const layer = new ScaledAffine(784, 256); layer.forward(x);
 * ```
 */
export class ScaledAffine extends nn.Module {
  /** Weights (in, out), standard normal at the start. */
  readonly weight: Tensor;
  /** Biases (out), zero at the start. */
  readonly bias: Tensor;
  /** 1 / sqrt(inFeatures). */
  readonly scale: number;

  /**
   * @param inFeatures - D, the size of one flattened example.
   * @param outFeatures - M.
   */
  constructor(inFeatures: number, outFeatures: number) {
    super();
    this.weight = this.registerParameter('weight', Tensor.randn([inFeatures, outFeatures]));
    this.bias = this.registerParameter('bias', Tensor.zeros([outFeatures]));
    this.scale = 1 / Math.sqrt(inFeatures);
  }

  /** @param x - input batch (N, in). */
  forward(x: Tensor): Tensor {
    return scaledAffine(x, this.weight, this.bias, this.scale);
  }
}

/** Two interleaved spirals of `n` points: a task no linear model solves. */
export function spirals(n: number): { x: Tensor; y: Int32Array } {
  const x = new Float64Array(2 * n);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const r = (i / n) * 2 + 0.2;
    const t = (i / n) * 6 + (i % 2) * Math.PI;
    x[2 * i] = r * Math.cos(t);
    x[2 * i + 1] = r * Math.sin(t);
    y[i] = i % 2;
  }
  return { x: new Tensor(x, [n, 2]), y };
}

/** Output streams for {@link main}. */
export interface CustomOpIO {
  /** Normal output (default process.stdout). */
  stdout?: ProgressStream;
  /** Usage errors (default process.stderr). */
  stderr?: ProgressStream;
}

/** The `--help` text. */
export const CUSTOM_OP_USAGE = `Usage: npx ts-node --transpile-only examples/custom_op.ts [options]

Writes a layer's forward and backward pass by hand (a scaled affine layer), makes it an op
with defineOp, checks it with gradcheck and a fast-check property, catches a planted bug with
the same checks, wraps it in a module and trains it on two spirals.

Options:
  --num-runs N   random cases per property (default 25)
  --steps N      training steps (default 150)
  --seed N       fast-check and tapegrad seed, integer >= 0 (default 42)
  -h, --help     show this help

Exit code: 0 when the op passes its checks, the bug is caught and the loss halves; 1 otherwise; 2 bad flags.`;

/** Random (x, w, b, scale) for the op: x of rank 2-3, matching w and b, scale in [-2, 2]. */
function caseArb(): fc.Arbitrary<[Tensor, Tensor, Tensor, number]> {
  return fc
    .tuple(fc.integer({ min: 1, max: 4 }), shapeArb({ minRank: 1, maxRank: 2, maxDim: 3 }), fc.integer({ min: 1, max: 4 }))
    .chain(([n, inner, m]) => {
      const d = inner.reduce((a, b) => a * b, 1);
      return fc.tuple(tensorArb([n, ...inner]), tensorArb([d, m]), tensorArb([m]), fc.double({ min: -2, max: 2, noNaN: true }));
    });
}

/**
 * Runs the five steps.
 *
 * @param argv - the arguments after the script name.
 * @param io - output streams.
 * @returns 0 when the op passes, the bug is caught and the loss falls to half; 1 otherwise; 2 on bad flags.
 * @example
 * ```ts
 * const code = await main(['--num-runs', '5', '--steps', '60']);
 * ```
 */
export async function main(argv: string[], io: CustomOpIO = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const print = (s = ''): void => void stdout.write(s + '\n');
  let numRuns = 25;
  let steps = 150;
  let seed = 42;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        'num-runs': { type: 'string' },
        steps: { type: 'string' },
        seed: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      print(CUSTOM_OP_USAGE);
      return 0;
    }
    const int = (flag: string, s: string, min: number): number => {
      const v = /^\d+$/.test(s.trim()) ? Number(s.trim()) : Number.NaN;
      if (!Number.isSafeInteger(v) || v < min || v > 0x7fffffff) {
        throw new Error(`--${flag} must be ${min === 1 ? 'a positive integer' : `an integer >= ${min}`}, got '${s}'`);
      }
      return v;
    };
    if (values['num-runs'] !== undefined) numRuns = int('num-runs', values['num-runs'], 1);
    if (values.steps !== undefined) steps = int('steps', values.steps, 1);
    if (values.seed !== undefined) seed = int('seed', values.seed, 0);
  } catch (e) {
    stderr.write(`custom_op: ${e instanceof Error ? e.message : String(e)}\n\n${CUSTOM_OP_USAGE}\n`);
    return 2;
  }

  const fmt = (v: number): string => v.toExponential(2);
  const message = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  let ok = true;
  manualSeed(seed);

  print('1. the kernel pair scaledAffineForward / scaledAffineBackward, made an op with defineOp:');
  {
    const x = Tensor.randn([4, 3], { requiresGrad: true });
    const w = Tensor.randn([3, 2], { requiresGrad: true });
    const b = Tensor.randn([2], { requiresGrad: true });
    const y = scaledAffine(x, w, b, 0.5);
    print(`   scaledAffine(x [4, 3], w [3, 2], b [2], 0.5) -> [${y.shape.join(', ')}], on the tape: ${y.requiresGrad}`);
    try {
      scaledAffine(x, b, w, 0.5);
    } catch (e) {
      print(`   a wrong call names the op: ${message(e)}`);
    }
  }
  print();

  print('2. gradcheck (central differences, float64):');
  {
    const x = Tensor.randn([4, 2, 3], { requiresGrad: true });
    const w = Tensor.randn([6, 5], { requiresGrad: true });
    const b = Tensor.randn([5], { requiresGrad: true });
    try {
      const { maxRelError: e } = gradcheck((x, w, b) => scaledAffine(x, w, b, 0.7), [x, w, b]);
      print(`   passed: worst relative error x ${fmt(e[0])}, w ${fmt(e[1])}, b ${fmt(e[2])}`);
    } catch (e) {
      ok = false;
      print(`   FAILED: ${message(e)}`);
    }
  }
  print();

  print(`3. a fast-check property: random shapes, values and scales, ${numRuns} runs:`);
  try {
    let cases = 0;
    fc.assert(
      fc.property(caseArb(), ([x, w, b, scale]) => {
        gradcheck((x, w, b) => scaledAffine(x, w, b, scale), [x, w, b]);
        cases++;
      }),
      { numRuns, seed },
    );
    print(`   passed ${cases} random cases (x of rank 2-3, N and M in 1..4, scale in [-2, 2])`);
  } catch (e) {
    ok = false;
    print(`   FAILED: ${message(e)}`);
  }
  print();

  print('4. the same checks on buggyScaledAffine (its dw forgets the scale), expected to fail:');
  {
    const x = Tensor.randn([2, 3], { requiresGrad: true });
    const w = Tensor.randn([3, 2], { requiresGrad: true });
    const b = Tensor.randn([2], { requiresGrad: true });
    try {
      gradcheck((x, w, b) => buggyScaledAffine(x, w, b, 0.5), [x, w, b]);
      ok = false;
      print('   gradcheck: NOT DETECTED, the planted bug passed (this should not happen)');
    } catch (e) {
      if (!(e instanceof GradError)) ok = false;
      print(`   gradcheck: caught, as expected. ${message(e)}`);
    }
    const run = fc.check(
      fc.property(caseArb(), ([x, w, b, scale]) => {
        gradcheck((x, w, b) => buggyScaledAffine(x, w, b, scale), [x, w, b]);
      }),
      { numRuns, seed },
    );
    if (run.failed && run.counterexample !== null) {
      const [[x, w, b, scale]] = run.counterexample;
      const shapes = `x [${x.shape.join(', ')}], w [${w.shape.join(', ')}], b [${b.shape.join(', ')}], scale ${scale}`;
      print(`   the property: caught after ${run.numRuns} case(s); fast-check shrank the case to ${shapes}:`);
      print(`   ${message(run.errorInstance)}`);
      print('   (at scale 0 the true dw is 0 and the buggy one is not; fast-check shrinks the values until the');
      print('   error only just exceeds atol, so the gradcheck above shows the bug at its real size)');
    } else {
      ok = false;
      print(`   the property: NOT DETECTED in ${run.numRuns} random cases (too few: the first ones are small, often zeros; try more runs)`);
    }
  }
  print();

  print(`5. wrapped in a module (ScaledAffine), trained with optim.SGD for ${steps} steps on two spirals:`);
  {
    try {
      const r = checkModuleGradients(new ScaledAffine(3, 2), { inputShape: [3], numRuns, seed });
      print(`   checkModuleGradients(new ScaledAffine(3, 2)) passed ${r.numRuns} random batches`);
    } catch (e) {
      ok = false;
      print(`   checkModuleGradients FAILED: ${message(e)}`);
    }
    const model = new nn.Sequential(new ScaledAffine(2, 32), new nn.ReLU(), new ScaledAffine(32, 32), new nn.ReLU(), new ScaledAffine(32, 2));
    const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    const { x, y } = spirals(200);
    const losses: number[] = [];
    const every = Math.max(1, Math.floor(steps / 6));
    for (let step = 1; step <= steps; step++) {
      opt.zeroGrad();
      const loss = nn.softmaxCrossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      losses.push(loss.item());
      if (step === 1 || step % every === 0 || step === steps) print(`   step ${String(step).padStart(4)}  loss ${loss.item().toFixed(4)}`);
    }
    const first = losses[0];
    const last = losses[losses.length - 1];
    const fell = Number.isFinite(last) && last < first / 2;
    if (!fell) ok = false;
    print(`   the loss ${fell ? 'fell' : 'did NOT fall enough'}: ${first.toFixed(4)} -> ${last.toFixed(4)}`);
  }
  print();
  print(ok ? 'all as expected: the op passed its checks, the planted bug was caught, the model learned' : 'SOMETHING WENT WRONG (see above)');
  return ok ? 0 : 1;
}

if (require.main === module) runMain(main);
