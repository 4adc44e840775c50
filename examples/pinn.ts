/**
 * A physics-informed neural network: a small MLP learns the solution of
 *
 *     u''(x) = -π² sin(πx) on [0, 1],  u(0) = u(1) = 0     (exact: u*(x) = sin(πx))
 *
 * from the equation alone, never from values of u*. The loss differentiates the network's
 * output twice with respect to its input (autograd.grad with createGraph), and training then
 * differentiates that loss with respect to the weights: third-order use of the tape.
 *
 * ```sh
 * npx ts-node --transpile-only examples/pinn.ts
 * npx ts-node --transpile-only examples/pinn.ts --steps 3000 --seed 1 --out /tmp/pinn
 * ```
 *
 * Users of the published package write `from 'tapegrad'` where this file writes `from '../src'`.
 *
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { Tensor, TapegradError, autograd, manualSeed, nn, noGrad, optim } from '../src';
import { runMain } from './lib/cli';
import { formatDuration, type ProgressStream } from './lib/report';
import { lineChartSvg } from './lib/svg';

/** Collocation points inside (0, 1) where the equation is enforced. */
export const COLLOCATION = 48;
/** Grid on which max |u - u*| is measured (and the picture drawn), endpoints included. */
export const GRID = 101;
/** Weight of the boundary term in the loss. */
export const BOUNDARY_WEIGHT = 10;
/** The error the default run reaches (see the README). */
export const TARGET_ERROR = 1e-2;

/** The right-hand side's source: u'' = -f, f(x) = π² sin(πx). */
export function source(x: number): number {
  return Math.PI * Math.PI * Math.sin(Math.PI * x);
}

/** The exact solution u*(x) = sin(πx). */
export function exact(x: number): number {
  return Math.sin(Math.PI * x);
}

/**
 * The network u(x): 1 -> 32 -> tanh -> 32 -> tanh -> 1, float64, Xavier-initialised (suits
 * tanh). Smooth activations matter: u'' of a ReLU network is zero almost everywhere.
 *
 * Shape: (N, 1) -> (N, 1).
 *
 * @example
 * ```ts
 * const net = new PinnNet(32); net.forward(x);
 * ```
 */
export class PinnNet extends nn.Module {
  /** The three layers. */
  readonly layers: nn.Affine[];

  /** @param hidden - units per hidden layer (default 32). */
  constructor(hidden = 32) {
    super();
    const opts = { dtype: 'float64', init: 'xavierUniform' } as const;
    this.layers = [new nn.Affine(1, hidden, opts), new nn.Affine(hidden, hidden, opts), new nn.Affine(hidden, 1, opts)];
    this.layers.forEach((l, i) => this.registerModule(String(i), l));
  }

  /** @param x - points, shape (N, 1). */
  forward(x: Tensor): Tensor {
    const [a, b, c] = this.layers;
    return c.forward(b.forward(a.forward(x).tanh()).tanh());
  }
}

/** A run's settings. */
export interface PinnConfig {
  /** Adam steps. */
  steps: number;
  /** PRNG seed (initialisation). */
  seed: number;
  /** Output directory. */
  out: string;
}

/** The defaults. */
export const PINN_DEFAULTS: Readonly<PinnConfig> = { steps: 2000, seed: 0, out: 'runs/pinn' };

/** The `--help` text. */
export const PINN_USAGE = `Usage: npx ts-node --transpile-only examples/pinn.ts [options]

Trains a 1 -> 32 -> tanh -> 32 -> tanh -> 1 MLP (float64, Adam) so that u'' = -pi^2 sin(pi x) on
[0, 1] with u(0) = u(1) = 0, from the equation alone (u'' by autograd.grad with createGraph), and
compares it with the exact solution sin(pi x). Writes solution.svg and loss.svg.

Options:
  --steps N      Adam steps (default ${PINN_DEFAULTS.steps})
  --seed N       integer >= 0 for the initialisation (default ${PINN_DEFAULTS.seed})
  --out DIR      where to write the pictures (default ${PINN_DEFAULTS.out})
  -h, --help     show this help

Exit codes: 0 success, 1 runtime error, 2 bad flags.`;

/** A problem with the command line: printed with the usage, exit code 2. */
export class PinnUsageError extends Error {
  override name = 'PinnUsageError';
}

function intFlag(flag: string, s: string, min: number): number {
  const what = min === 1 ? 'a positive integer' : `an integer >= ${min}`;
  const v = /^\d+$/.test(s.trim()) ? Number(s.trim()) : Number.NaN;
  if (!Number.isSafeInteger(v) || v < min || v > 0x7fffffff) throw new PinnUsageError(`--${flag} must be ${what}, got '${s}'`);
  return v;
}

/**
 * Parses and validates the command line.
 *
 * @param argv - the arguments after the script name.
 * @returns `'help'` or the config.
 * @throws PinnUsageError on an unknown flag or a bad value.
 * @example
 * ```ts
 * parsePinnArgs(['--steps', '500']); // { steps: 500, seed: 0, out: 'runs/pinn' }
 * ```
 */
export function parsePinnArgs(argv: readonly string[]): PinnConfig | 'help' {
  let values: { steps?: string; seed?: string; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { steps: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new PinnUsageError(e instanceof Error ? e.message : String(e));
  }
  if (values.help) return 'help';
  const cfg: PinnConfig = { ...PINN_DEFAULTS };
  if (values.steps !== undefined) cfg.steps = intFlag('steps', values.steps, 1);
  if (values.seed !== undefined) cfg.seed = intFlag('seed', values.seed, 0);
  if (values.out !== undefined) {
    if (values.out.trim() === '') throw new PinnUsageError(`--out must be a directory path, got ''`);
    cfg.out = values.out;
  }
  return cfg;
}

/**
 * The physics-informed loss at collocation points `xs` (interior of [0, 1]):
 * mean((u'' + π² sin(πx))²) / π⁴ + BOUNDARY_WEIGHT * mean(u(0)², u(1)²), with u' and u''
 * from autograd.grad with createGraph, so the loss can be differentiated with respect to the
 * network's weights. The residual is divided by π⁴ so both terms start near 1.
 *
 * @param net - the network.
 * @param xs - collocation points.
 * @returns the loss (a scalar on the tape) and its PDE part's value.
 * @example
 * ```ts
 * const { loss } = pinnLoss(net, points); loss.backward();
 * ```
 */
export function pinnLoss(net: nn.Module, xs: Float64Array): { loss: Tensor; pde: number; boundary: number } {
  const n = xs.length;
  const x = new Tensor(xs.slice(), [n, 1], { requiresGrad: true });
  const u = net.forward(x);
  const ones = Tensor.ones([n, 1]);
  // Each row of u depends only on its own x, so the gradient of sum(u) is u'(x) row by row.
  const [ux] = autograd.grad([u], [x], { gradOutputs: [ones], createGraph: true });
  const [uxx] = autograd.grad([ux!], [x], { gradOutputs: [ones], createGraph: true });
  const f = new Tensor(Float64Array.from(xs, source), [n, 1]);
  const residual = uxx!.add(f);
  const pde = residual.mul(residual).mean().div(Math.PI ** 4);
  const ub = net.forward(new Tensor(Float64Array.of(0, 1), [2, 1]));
  const boundary = ub.mul(ub).mean();
  const loss = pde.add(boundary.mul(BOUNDARY_WEIGHT));
  return { loss, pde: pde.item(), boundary: boundary.item() };
}

/** The network's values on the GRID points of [0, 1], and max |u - u*| over them. */
export function evaluate(net: nn.Module): { x: Float64Array; u: Float64Array; maxError: number } {
  const x = Float64Array.from({ length: GRID }, (_, i) => i / (GRID - 1));
  const u = noGrad(() => net.forward(new Tensor(x.slice(), [GRID, 1]))).data as Float64Array;
  let maxError = 0;
  for (let i = 0; i < GRID; i++) maxError = Math.max(maxError, Math.abs(u[i] - exact(x[i])));
  return { x, u: Float64Array.from(u), maxError };
}

/** One line of progress. */
export interface PinnProgress {
  /** Steps done. */
  step: number;
  /** The loss before this step's update. */
  loss: number;
  /** max |u - u*| on the grid after the update. */
  maxError: number;
}

/** What {@link trainPinn} returns. */
export interface PinnResult {
  /** The trained network. */
  net: PinnNet;
  /** The loss at every step. */
  losses: number[];
  /** Progress at the reporting steps. */
  progress: PinnProgress[];
  /** max |u - u*| on the grid at the end. */
  maxError: number;
  /** The first reported step at which max |u - u*| < TARGET_ERROR, or null. */
  reachedAt: number | null;
}

/**
 * Seeds the PRNG, builds the network and trains it with Adam (lr 1e-2, divided by 10 after
 * 60% and again after 85% of the steps) on COLLOCATION evenly spaced interior points.
 *
 * @param cfg - steps and seed.
 * @param every - report progress every this many steps (default steps / 10).
 * @param onProgress - called at each report.
 * @returns the network, losses, progress, final error.
 * @example
 * ```ts
 * const { maxError } = trainPinn({ steps: 2000, seed: 0 }); // below 1e-2
 * ```
 */
export function trainPinn(cfg: Pick<PinnConfig, 'steps' | 'seed'>, every?: number, onProgress?: (p: PinnProgress) => void): PinnResult {
  manualSeed(cfg.seed);
  const net = new PinnNet(32);
  const optimizer = new optim.Adam(net.parameters(), { lr: 1e-2 });
  const xs = Float64Array.from({ length: COLLOCATION }, (_, i) => (i + 0.5) / COLLOCATION);
  const report = every ?? Math.max(1, Math.round(cfg.steps / 10));
  const losses: number[] = [];
  const progress: PinnProgress[] = [];
  let reachedAt: number | null = null;
  for (let step = 1; step <= cfg.steps; step++) {
    if (step === Math.floor(0.6 * cfg.steps) + 1 || step === Math.floor(0.85 * cfg.steps) + 1) {
      optimizer.lr /= 10;
    }
    optimizer.zeroGrad();
    const { loss } = pinnLoss(net, xs);
    loss.backward();
    optimizer.step();
    losses.push(loss.item());
    if (step % report === 0 || step === cfg.steps) {
      const { maxError } = evaluate(net);
      if (reachedAt === null && maxError < TARGET_ERROR) reachedAt = step;
      const p = { step, loss: loss.item(), maxError };
      progress.push(p);
      onProgress?.(p);
    }
  }
  return { net, losses, progress, maxError: evaluate(net).maxError, reachedAt };
}

/** Output streams for {@link main}; tests pass collectors. */
export interface PinnIO {
  /** Normal output (default `process.stdout`). */
  stdout?: ProgressStream;
  /** Errors and usage (default `process.stderr`). */
  stderr?: ProgressStream;
}

/**
 * The whole script: parse `argv`, train, print progress, write solution.svg and loss.svg.
 *
 * @param argv - the arguments after the script name.
 * @param io - output streams (default process.stdout / stderr).
 * @returns the exit code: 0 success, 1 runtime error, 2 bad flags (message and usage on stderr).
 * @example
 * ```ts
 * const code = await main(['--steps', '300', '--out', tmpDir]);
 * ```
 */
export async function main(argv: string[], io: PinnIO = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const print = (s = ''): void => void stdout.write(s + '\n');
  let parsed: PinnConfig | 'help';
  try {
    parsed = parsePinnArgs(argv);
  } catch (e) {
    if (!(e instanceof PinnUsageError)) throw e;
    stderr.write(`pinn: ${e.message}\n\n${PINN_USAGE}\n`);
    return 2;
  }
  if (parsed === 'help') {
    print(PINN_USAGE);
    return 0;
  }
  const cfg = parsed;
  try {
    const t0 = performance.now();
    print(`pinn: u'' = -pi^2 sin(pi x) on [0, 1], u(0) = u(1) = 0; exact u* = sin(pi x)`);
    print(`model: 1 -> 32 -> tanh -> 32 -> tanh -> 1 (float64), Adam lr 1e-2, ${COLLOCATION} collocation points, seed ${cfg.seed}`);
    const width = String(cfg.steps).length;
    const { net, losses, maxError, reachedAt } = trainPinn(cfg, undefined, (p) => {
      print(`step ${String(p.step).padStart(width)}/${cfg.steps}  loss ${p.loss.toExponential(3)}  max|u - u*| ${p.maxError.toExponential(3)}`);
    });
    const seconds = (performance.now() - t0) / 1000;
    print();
    print(`final max|u - u*| on ${GRID} points: ${maxError.toExponential(3)} (target ${TARGET_ERROR}: ${maxError < TARGET_ERROR ? 'reached' : 'not reached'}` +
      `${reachedAt !== null ? `, first seen at step ${reachedAt}` : ''}) in ${formatDuration(seconds * 1000)}`);
    fs.mkdirSync(cfg.out, { recursive: true });
    const { x, u } = evaluate(net);
    const solution = path.join(cfg.out, 'solution.svg');
    fs.writeFileSync(
      solution,
      lineChartSvg({
        title: `PINN: u'' = -π² sin(πx), u(0) = u(1) = 0`,
        subtitle: `learned from the equation alone, ${cfg.steps} Adam steps; max |u - u*| = ${maxError.toExponential(2)}`,
        xLabel: 'x',
        yLabel: 'u',
        series: [
          { name: 'learned u', x, values: u },
          { name: 'exact sin(πx)', x, values: x.map(exact), dashed: true },
          { name: 'error u - u*', x, values: u.map((v, i) => v - exact(x[i])), axis: 'right' },
        ],
        legendValues: false,
      }),
    );
    const lossFile = path.join(cfg.out, 'loss.svg');
    fs.writeFileSync(lossFile, lineChartSvg({ title: 'PINN loss', xLabel: 'step', series: [{ name: 'loss', values: losses }], logY: true }));
    print(`wrote ${solution}`);
    print(`wrote ${lossFile}`);
    return 0;
  } catch (e) {
    if (e instanceof TapegradError) {
      stderr.write(`pinn: ${e.name}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

if (require.main === module) runMain(main);
