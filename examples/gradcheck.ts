/**
 * How to property-test the gradients of your own model or custom layer with tapegrad's testing
 * tools and fast-check:
 *
 * 1. `gradcheck` a composite function of several tensors;
 * 2. `checkModuleGradients` on an MLP with BatchNorm (random batches, every parameter);
 * 3. a custom Module (a Swish with a learnable beta) checked with `fc.assert` + `tensorArb`;
 * 4. what a failure looks like: the same layer with a deliberately broken gradient.
 *
 * ```sh
 * npx ts-node --transpile-only examples/gradcheck.ts
 * ```
 *
 * In your own project the imports read `from 'tapegrad'` and `from 'tapegrad/testing'`
 * (the package's `exports` map); inside this repository they are `'../src'` and
 * `'../src/testing'`. fast-check must be installed next to tapegrad.
 *
 * @module
 */
import { parseArgs } from 'node:util';

import * as fc from 'fast-check';

import { GradError, Tensor, manualSeed, nn } from '../src'; // users: from 'tapegrad'
import { checkModuleGradients, gradcheck, shapeArb, tensorArb } from '../src/testing'; // users: from 'tapegrad/testing'
import type { ProgressStream } from './lib/report';
import { runMain } from './lib/cli';

/**
 * Swish with a learnable slope, `y = x * sigmoid(beta * x)`, built only from differentiable
 * tensor ops, so tapegrad derives its backward pass. (`x / (1 + exp(-beta * x))` is the same
 * function.)
 *
 * Shape: any -> same.
 *
 * @example
 * ```ts
 * const act = new Swish(); act.forward(tensor([-1, 0, 2]));
 * ```
 */
export class Swish extends nn.Module {
  /** The learnable slope beta, shape [1], starts at 1. */
  readonly beta = this.registerParameter('beta', Tensor.ones([1], { dtype: 'float64' }));

  /** @param x - input. */
  forward(x: Tensor): Tensor {
    return x.div(x.mul(this.beta).neg().exp().add(1));
  }
}

/**
 * The same Swish with a bug: the sigmoid factor is detached from the tape, so backward treats
 * it as a constant. The forward values are right; the gradient misses `x * sigmoid'(beta x)`
 * terms, and beta gets no gradient at all. This is what a hand-written backward with a
 * forgotten term looks like to a gradient check.
 */
export class BrokenSwish extends Swish {
  /** @param x - input. */
  override forward(x: Tensor): Tensor {
    const sigmoid = Tensor.ones(x.shape, { dtype: x.dtype }).div(x.mul(this.beta).neg().exp().add(1));
    return x.mul(sigmoid.detach()); // BUG: detach() cuts the sigmoid out of the gradient
  }
}

/** Output streams for {@link main}. */
export interface GradcheckIO {
  /** Normal output (default process.stdout). */
  stdout?: ProgressStream;
  /** Usage errors (default process.stderr). */
  stderr?: ProgressStream;
}

/** The `--help` text. */
export const GRADCHECK_USAGE = `Usage: npx ts-node --transpile-only examples/gradcheck.ts [options]

Shows how to property-test gradients with tapegrad's testing tools (gradcheck,
checkModuleGradients, tensorArb) and fast-check, including what a caught bug looks like.

Options:
  --num-runs N   random cases per property (default 25)
  --seed N       fast-check and tapegrad seed, integer >= 0 (default 42)
  -h, --help     show this help

Exit code: 0 when the correct code passes and the broken layer is caught, 1 otherwise, 2 bad flags.`;

/**
 * Runs the four demonstrations.
 *
 * @param argv - the arguments after the script name.
 * @param io - output streams.
 * @returns 0 when sections 1-3 pass and section 4's bug is detected; 1 otherwise; 2 on bad flags.
 * @example
 * ```ts
 * const code = await main(['--num-runs', '5']);
 * ```
 */
export async function main(argv: string[], io: GradcheckIO = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const print = (s = ''): void => void stdout.write(s + '\n');
  let numRuns = 25;
  let seed = 42;
  try {
    const { values } = parseArgs({
      args: argv,
      options: { 'num-runs': { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      print(GRADCHECK_USAGE);
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
    if (values.seed !== undefined) seed = int('seed', values.seed, 0);
  } catch (e) {
    stderr.write(`gradcheck: ${e instanceof Error ? e.message : String(e)}\n\n${GRADCHECK_USAGE}\n`);
    return 2;
  }

  const fmt = (v: number): string => (Number.isNaN(v) ? '-' : v.toExponential(2));
  let ok = true;
  manualSeed(seed);

  // 1. A composite function: gradcheck compares backward() with central differences for every
  //    element of every input that requires grad (float64 inputs; throws GradError on a mismatch).
  print('1. gradcheck on a composite function: f(x, w, b) = mean(softplus(x @ w + b) / (1 + x @ w))^2 ... ');
  {
    const x = Tensor.rand([4, 3], 0.1, 1, { dtype: 'float64', requiresGrad: true });
    const w = Tensor.rand([3, 2], 0.1, 1, { dtype: 'float64', requiresGrad: true });
    const b = Tensor.randn([2], { dtype: 'float64', requiresGrad: true });
    const f = (x: Tensor, w: Tensor, b: Tensor): Tensor => {
      const z = x.matmul(w);
      const softplus = z.add(b).exp().add(1).log();
      const r = softplus.div(z.add(1));
      return r.mul(r).mean();
    };
    try {
      const { maxRelError } = gradcheck(f, [x, w, b]);
      print(`   passed: worst relative error x ${fmt(maxRelError[0])}, w ${fmt(maxRelError[1])}, b ${fmt(maxRelError[2])}`);
    } catch (e) {
      ok = false;
      print(`   FAILED: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  print();

  // 2. A whole model: checkModuleGradients draws random batches (fast-check, seeded) and checks
  //    the input gradient and every parameter's; BatchNorm's running statistics are restored
  //    after each evaluation, so train mode can be checked.
  print(`2. checkModuleGradients on an MLP with BatchNorm (train mode), ${numRuns} random batches:`);
  {
    const mlp = new nn.Sequential(new nn.Affine(4, 6), new nn.BatchNorm1d(6), new nn.ReLU(), new nn.Affine(6, 3));
    print('   ' + String(mlp).split('\n').join('\n   '));
    try {
      const r = checkModuleGradients(mlp, { inputShape: [4], minBatch: 4, maxBatch: 8, numRuns, seed, rtol: 1e-5, atol: 1e-8 });
      const worst = Object.entries(r.maxRelError)
        .map(([k, v]) => `${k} ${fmt(v)} (abs ${fmt(r.maxAbsError[k])})`)
        .join(', ');
      print(`   passed ${r.numRuns} batches; worst relative (absolute) error per tensor: ${worst}`);
      print('   (a relative error near 1 with a tiny absolute error is on a gradient that is ~0 up to rounding,');
      print('   which the rounding allowance accepts: 0.bias has no effect at all, since BatchNorm subtracts the');
      print('   batch mean right after it)');
    } catch (e) {
      ok = false;
      print(`   FAILED: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  print();

  // 3. A custom layer, as a fast-check property: for random shapes and values (tensorArb), the
  //    gradients with respect to the input and to beta match finite differences.
  print(`3. a custom Module (Swish, y = x * sigmoid(beta * x)) with fc.assert + tensorArb, ${numRuns} runs:`);
  {
    const swish = new Swish();
    try {
      let cases = 0;
      fc.assert(
        fc.property(tensorArb(shapeArb({ minRank: 1, maxRank: 3, maxDim: 4 }), { min: -3, max: 3 }), fc.double({ min: 0.25, max: 2, noNaN: true }), (x, beta) => {
          swish.beta.data[0] = beta;
          // Inputs: x and the parameter itself; gradcheck perturbs both in place.
          gradcheck((xx) => swish.forward(xx), [x, swish.beta], { rtol: 1e-6 });
          cases++;
        }),
        { numRuns, seed },
      );
      print(`   passed ${cases} random cases (shapes of rank 1-3, values in [-3, 3], beta in [0.25, 2])`);
      const r = checkModuleGradients(swish, { inputShape: [5], numRuns, seed });
      print(`   checkModuleGradients(new Swish()) passed too: input ${fmt(r.maxRelError.input ?? Number.NaN)}, beta ${fmt(r.maxRelError.beta ?? Number.NaN)}`);
    } catch (e) {
      ok = false;
      print(`   FAILED: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  print();

  // 4. A bug: the same checks on a layer whose backward misses a term. gradcheck throws a
  //    GradError naming the input, the element and both gradients; checkModuleGradients adds
  //    the smallest failing batch fast-check could shrink the random one to.
  print('4. the same checks on BrokenSwish (its sigmoid factor is detached), expected to fail:');
  {
    const broken = new BrokenSwish();
    const x = new Tensor(Float64Array.of(1, -2, 0.5), [1, 3], { requiresGrad: true });
    const caught = (what: string, run: () => unknown): void => {
      try {
        run();
        ok = false;
        print(`   ${what}: NOT DETECTED, the broken gradient passed (this should not happen)`);
      } catch (e) {
        if (e instanceof GradError) {
          print(`   ${what}: caught, as expected. The ${e.name} says:`);
          print('   | ' + e.message.split('\n').join('\n   | '));
        } else {
          ok = false;
          print(`   ${what}: unexpected error ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
        }
      }
    };
    caught('gradcheck on x = [[1, -2, 0.5]]', () => gradcheck((xx) => broken.forward(xx), [x, broken.beta]));
    caught('checkModuleGradients', () => checkModuleGradients(broken, { inputShape: [3], numRuns, seed, rtol: 1e-5, atol: 1e-8 }));
    print('   (checkModuleGradients draws each batch from a seed and fast-check shrinks the batch size and the');
    print('   seed, so the batch shown is the smallest it found, not one chosen to show the bug at its largest.)');
  }
  print();
  print(ok ? 'all gradients as expected: 3 checks passed, 1 bug caught' : 'SOMETHING WENT WRONG (see above)');
  return ok ? 0 : 1;
}

if (require.main === module) runMain(main);
