/**
 * CS231n's three-class spiral: 300 points that no linear classifier can separate, learned by a
 * small MLP (2 -> 100 -> ReLU -> 3), then drawn as an SVG of the decision regions with the
 * points on top.
 *
 * ```sh
 * npx ts-node --transpile-only examples/spiral.ts
 * npx ts-node --transpile-only examples/spiral.ts --epochs 50 --seed 3 --out /tmp/spiral
 * npx ts-node --transpile-only examples/spiral.ts --activation gelu
 * ```
 *
 * Users of the published package write `from 'tapegrad'` where this file writes `from '../src'`.
 *
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { Tensor, TapegradError, Trainer, manualSeed, nn, noGrad, optim, predict, type History } from '../src';
import { asciiChart, formatDuration, type ProgressStream } from './lib/report';
import { decisionRegionsSvg, gridPoints } from './lib/svg';
import { runMain } from './lib/cli';

/** Points per class (CS231n's N). */
export const POINTS_PER_CLASS = 100;
/** Number of classes (CS231n's K). */
export const CLASSES = 3;
/** Standard deviation of the angular noise. */
export const NOISE = 0.2;

/** The spiral data set: `x` is (N*K, 2) row-major, `y` the class of each point. */
export interface SpiralData {
  /** Coordinates, row-major (n, 2). */
  x: Float64Array;
  /** Class labels 0..K-1. */
  y: Int32Array;
  /** Number of points, N*K. */
  n: number;
}

/**
 * CS231n's spiral (`r = linspace(0, 1, N)`, `t = linspace(4j, 4(j+1), N) + randn(N) * noise`,
 * point `(r sin t, r cos t)`), with the noise drawn from tapegrad's seeded PRNG: call
 * `manualSeed` first for a reproducible set.
 *
 * @param n - points per class (default 100).
 * @param k - classes (default 3).
 * @param noise - angular noise (default 0.2).
 * @returns the points and labels.
 * @example
 * ```ts
 * manualSeed(0);
 * const { x, y } = makeSpiral(); // 300 points, 3 classes
 * ```
 */
export function makeSpiral(n = POINTS_PER_CLASS, k = CLASSES, noise = NOISE): SpiralData {
  const x = new Float64Array(n * k * 2);
  const y = new Int32Array(n * k);
  for (let j = 0; j < k; j++) {
    const eps = Tensor.randn([n], { dtype: 'float64' }).data;
    for (let i = 0; i < n; i++) {
      const frac = n > 1 ? i / (n - 1) : 0;
      const r = frac;
      const t = j * 4 + frac * 4 + eps[i] * noise;
      const row = j * n + i;
      x[2 * row] = r * Math.sin(t);
      x[2 * row + 1] = r * Math.cos(t);
      y[row] = j;
    }
  }
  return { x, y, n: n * k };
}

/** The hidden layer's activation for each `--activation` value. */
export const ACTIVATIONS = {
  relu: () => new nn.ReLU(),
  tanh: () => new nn.Tanh(),
  sigmoid: () => new nn.Sigmoid(),
  gelu: () => new nn.GELU(),
  'gelu-tanh': () => new nn.GELU({ approximate: 'tanh' }),
  'leaky-relu': () => new nn.LeakyReLU(),
  elu: () => new nn.ELU(),
  silu: () => new nn.SiLU(),
  softplus: () => new nn.Softplus(),
} as const satisfies Record<string, () => nn.Module>;

/** A value of `--activation`. */
export type SpiralActivation = keyof typeof ACTIVATIONS;

/** The `--help` text. */
export const SPIRAL_USAGE = `Usage: npx ts-node --transpile-only examples/spiral.ts [options]

Trains a 2 -> 100 -> ReLU -> 3 MLP (Adam; --activation swaps the ReLU) on CS231n's three-class
spiral (100 points per class, noise 0.2) and writes an SVG of its decision regions with the points on top.

Options:
  --epochs N     passes over the 300 points, in batches of 32 (default 150)
  --seed N       integer >= 0 for the data, initialisation and shuffles (default 0)
  --out DIR      where to write decision_regions.svg (default runs/spiral)
  --activation A the hidden layer's activation, one of ${'${'}Object.keys(ACTIVATIONS).join(', ')} (default relu)
  -h, --help     show this help

Exit codes: 0 success, 1 runtime error, 2 bad flags.`;

/** A run's settings. */
export interface SpiralConfig {
  /** Passes over the data. */
  epochs: number;
  /** PRNG seed. */
  seed: number;
  /** Output directory. */
  out: string;
  /** The hidden layer's activation. */
  activation: SpiralActivation;
}

/** The defaults. */
export const SPIRAL_DEFAULTS: Readonly<SpiralConfig> = { epochs: 150, seed: 0, out: 'runs/spiral', activation: 'relu' };

/** A problem with the command line: printed with the usage, exit code 2. */
export class SpiralUsageError extends Error {
  override name = 'SpiralUsageError';
}

function intFlag(flag: string, s: string, min: number): number {
  const what = min === 1 ? 'a positive integer' : `an integer >= ${min}`;
  const v = /^\d+$/.test(s.trim()) ? Number(s.trim()) : Number.NaN;
  if (!Number.isSafeInteger(v) || v < min || v > 0x7fffffff) throw new SpiralUsageError(`--${flag} must be ${what}, got '${s}'`);
  return v;
}

/**
 * Parses and validates the command line.
 *
 * @param argv - the arguments after the script name.
 * @returns `'help'` or the config.
 * @throws SpiralUsageError on an unknown flag or a bad value.
 * @example
 * ```ts
 * parseSpiralArgs(['--epochs', '20']); // { epochs: 20, seed: 0, out: 'runs/spiral', activation: 'relu' }
 * ```
 */
export function parseSpiralArgs(argv: readonly string[]): SpiralConfig | 'help' {
  let values: { epochs?: string; seed?: string; out?: string; activation?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        epochs: { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        activation: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new SpiralUsageError(e instanceof Error ? e.message : String(e));
  }
  if (values.help) return 'help';
  const cfg: SpiralConfig = { ...SPIRAL_DEFAULTS };
  if (values.epochs !== undefined) cfg.epochs = intFlag('epochs', values.epochs, 1);
  if (values.seed !== undefined) cfg.seed = intFlag('seed', values.seed, 0);
  if (values.out !== undefined) {
    if (values.out.trim() === '') throw new SpiralUsageError(`--out must be a directory path, got ''`);
    cfg.out = values.out;
  }
  if (values.activation !== undefined) {
    if (!Object.prototype.hasOwnProperty.call(ACTIVATIONS, values.activation)) {
      throw new SpiralUsageError(`--activation must be one of ${Object.keys(ACTIVATIONS).join(', ')}, got '${values.activation}'`);
    }
    cfg.activation = values.activation as SpiralActivation;
  }
  return cfg;
}

/** Output streams for {@link main}; tests pass collectors. */
export interface SpiralIO {
  /** Normal output (default `process.stdout`). */
  stdout?: ProgressStream;
  /** Errors and usage (default `process.stderr`). */
  stderr?: ProgressStream;
}

/** What a training run produced (returned by {@link trainSpiral}). */
export interface SpiralResult {
  /** The trained model. */
  model: nn.Sequential;
  /** The data it was trained on. */
  data: SpiralData;
  /** Losses and accuracies. */
  history: History;
  /** Final training accuracy over all points. */
  trainAcc: number;
}

/**
 * Seeds the PRNG, makes the spiral and trains the MLP on it.
 *
 * @param cfg - epochs, seed, and the activation (default relu).
 * @param onEpoch - called after every epoch (for progress output).
 * @returns the model, data, history and final training accuracy.
 * @example
 * ```ts
 * const { trainAcc } = trainSpiral({ epochs: 150, seed: 0 }); // about 0.99
 * ```
 */
export function trainSpiral(
  cfg: Pick<SpiralConfig, 'epochs' | 'seed'> & { activation?: SpiralActivation },
  onEpoch?: (epoch: number, loss: number, trainAcc: number) => void,
): SpiralResult {
  manualSeed(cfg.seed);
  const data = makeSpiral();
  const act = ACTIVATIONS[cfg.activation ?? 'relu']();
  const model = new nn.Sequential(new nn.Affine(2, 100), act, new nn.Affine(100, CLASSES));
  const optimizer = new optim.Adam(model.parameters(), { lr: 1e-2 });
  const trainer = new Trainer(model, {
    optimizer,
    epochs: cfg.epochs,
    batchSize: 32,
    callbacks: { onEpochEnd: (e) => onEpoch?.(e.epoch, e.trainLoss, e.trainAcc) },
  });
  const x = new Tensor(data.x, [data.n, 2]);
  const history = trainer.fit({ x, y: data.y });
  const pred = predict(model, x);
  let ok = 0;
  for (let i = 0; i < data.n; i++) if (pred[i] === data.y[i]) ok++;
  return { model, data, history, trainAcc: ok / data.n };
}

/**
 * Renders the decision regions of a 2-D classifier over the data's bounding box (plus a margin)
 * with the points on top.
 *
 * @param model - the trained classifier (2 inputs, CLASSES scores).
 * @param data - the points to draw.
 * @param title - the picture's title.
 * @param cells - grid cells per side (default 160).
 * @returns a standalone SVG document.
 */
export function decisionRegions(model: nn.Module, data: SpiralData, title: string, cells = 160): string {
  const range: [number, number] = [-1.15, 1.15];
  const grid = gridPoints(range, range, cells, cells);
  const xy = new Float64Array(grid.n * 2);
  for (let i = 0; i < grid.n; i++) {
    xy[2 * i] = grid.x[i];
    xy[2 * i + 1] = grid.y[i];
  }
  const inputs = new Tensor(xy, [grid.n, 2]);
  const classes = predict(model, inputs, { batchSize: 4096 });
  // Confidence (max softmax probability) fades the cells near the boundaries.
  const confidence = new Float64Array(grid.n);
  const wasTraining = model.training;
  model.eval();
  const scores = noGrad(() => model.forward(inputs)).data;
  model.train(wasTraining);
  for (let i = 0; i < grid.n; i++) {
    let max = -Infinity;
    for (let c = 0; c < CLASSES; c++) max = Math.max(max, scores[i * CLASSES + c]);
    let sum = 0;
    for (let c = 0; c < CLASSES; c++) sum += Math.exp(scores[i * CLASSES + c] - max);
    confidence[i] = 1 / sum;
  }
  const px = new Float64Array(data.n);
  const py = new Float64Array(data.n);
  for (let i = 0; i < data.n; i++) {
    px[i] = data.x[2 * i];
    py[i] = data.x[2 * i + 1];
  }
  return decisionRegionsSvg({
    width: 640,
    height: 680,
    xRange: range,
    yRange: range,
    grid: { nx: cells, ny: cells, classes },
    confidence,
    points: { x: px, y: py, label: data.y },
    classNames: ['class 0', 'class 1', 'class 2'],
    title,
  });
}

/**
 * The whole script: parse `argv`, train, print, write the SVG.
 *
 * @param argv - the arguments after the script name.
 * @param io - output streams (default process.stdout / stderr).
 * @returns the exit code: 0 success, 1 runtime error, 2 bad flags (message and usage on stderr).
 * @example
 * ```ts
 * const code = await main(['--epochs', '5', '--out', tmpDir]);
 * ```
 */
export async function main(argv: string[], io: SpiralIO = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const print = (s = ''): void => void stdout.write(s + '\n');
  let parsed: SpiralConfig | 'help';
  try {
    parsed = parseSpiralArgs(argv);
  } catch (e) {
    if (!(e instanceof SpiralUsageError)) throw e;
    stderr.write(`spiral: ${e.message}\n\n${SPIRAL_USAGE}\n`);
    return 2;
  }
  if (parsed === 'help') {
    print(SPIRAL_USAGE);
    return 0;
  }
  const cfg = parsed;
  try {
    const t0 = performance.now();
    print(`spiral: ${POINTS_PER_CLASS * CLASSES} points, ${CLASSES} classes, noise ${NOISE}, seed ${cfg.seed}`);
    print(`model: 2 -> 100 -> ${String(ACTIVATIONS[cfg.activation]())} -> 3, Adam lr 1e-2, batch 32`);
    const every = Math.max(1, Math.round(cfg.epochs / 10));
    const { model, data, history, trainAcc } = trainSpiral(cfg, (epoch, loss, acc) => {
      if (epoch === 1 || epoch % every === 0 || epoch === cfg.epochs) {
        print(`epoch ${String(epoch).padStart(String(cfg.epochs).length)}/${cfg.epochs}  loss ${loss.toFixed(4)}  train_acc ${acc.toFixed(4)}`);
      }
    });
    const seconds = (performance.now() - t0) / 1000;
    print();
    print(asciiChart([{ name: 'loss per epoch', values: history.epochs.map((e) => e.trainLoss) }], { title: 'loss', height: 8 }));
    print();
    print(`final training accuracy: ${(100 * trainAcc).toFixed(1)}% (${Math.round(trainAcc * data.n)}/${data.n}) in ${formatDuration(seconds * 1000)}`);
    fs.mkdirSync(cfg.out, { recursive: true });
    const file = path.join(cfg.out, 'decision_regions.svg');
    fs.writeFileSync(
      file,
      decisionRegions(model, data, `spiral: 2-100-3 MLP (${cfg.activation}), ${cfg.epochs} epochs, train accuracy ${(100 * trainAcc).toFixed(1)}%`),
    );
    print(`wrote ${file}`);
    return 0;
  } catch (e) {
    if (e instanceof TapegradError) {
      stderr.write(`spiral: ${e.name}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

if (require.main === module) runMain(main);
