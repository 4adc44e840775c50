/**
 * Property-based gradient checking of whole modules: random batches from fast-check, each
 * checked against central differences for the input and every parameter, with the shrunk
 * counterexample reported on failure.
 *
 * @packageDocumentation
 */
import fc from 'fast-check';
import { gradcheck, type GradcheckOptions } from '../autograd/gradcheck';
import { GradError, ArgumentError } from '../errors';
import { Module } from '../nn/module';
import { getRngState, setRngState } from '../random';
import { describe, formatShape, sizeOf } from '../shape';
import { Tensor } from '../tensor';
import { valuesArb, type ValuesArbOptions } from './arbitraries';

/** Options of {@link checkModuleGradients}. */
export interface CheckModuleOptions extends ValuesArbOptions, Pick<GradcheckOptions, 'eps' | 'rtol' | 'atol'> {
  /** The shape of one sample (without the batch dimension), e.g. [784]. Required. */
  inputShape: readonly number[];
  /** Smallest batch. Default 2 (BatchNorm needs two rows in train mode). */
  minBatch?: number;
  /** Largest batch. Default 6. */
  maxBatch?: number;
  /** Random batches to try. Default 25. */
  numRuns?: number;
  /** fast-check seed, so a failure reproduces. Default 42. */
  seed?: number;
  /** Also check the gradient with respect to the input. Default true. */
  checkInput?: boolean;
}

/** What {@link checkModuleGradients} found when every batch passed. */
export interface CheckModuleResult {
  /** Batches checked. */
  numRuns: number;
  /** The worst relative error seen for the input (if checked) and each parameter, by name. */
  maxRelError: Record<string, number>;
  /**
   * The worst absolute error for each, by name: read it beside maxRelError, since gradients
   * that are ~0 (accepted by atol) can show a large relative error.
   */
  maxAbsError: Record<string, number>;
}

/**
 * Property-tests a module's input and parameter gradients against numerical ones over
 * random batches. The module must be float64. Buffers (running statistics) and the global
 * PRNG are restored after each evaluation, so BatchNorm and Dropout can be checked too.
 *
 * @param module - the module to check, in the mode it should be checked in (train or eval).
 * @param opts - inputShape (required), minBatch (2), maxBatch (6), numRuns (25), seed (42),
 *   min (-2), max (2), awayFrom (none), eps (1e-6), rtol (1e-7), atol (1e-9), checkInput (true).
 * @returns the worst relative and absolute errors, when every batch passed.
 * @throws GradError naming the parameter, element, values and the shrunk input batch on a mismatch.
 * @example
 * ```ts
 * checkModuleGradients(new nn.Sequential(new nn.Affine(3, 4), new nn.ReLU()), {
 *   inputShape: [3], awayFrom: { kinks: [0], margin: 1e-3 },
 * });
 * ```
 */
export function checkModuleGradients(module: Module, opts: CheckModuleOptions): CheckModuleResult {
  const fn = 'checkModuleGradients';
  if (!(module instanceof Module)) throw new ArgumentError(`${fn}: module must be an nn.Module, got ${describe(module)}`);
  const inputShape = opts?.inputShape;
  if (!Array.isArray(inputShape) || !inputShape.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new ArgumentError(`${fn}: opts.inputShape must be the shape of one sample, e.g. [784], got ${describe(inputShape)}`);
  }
  const named = module.namedParameters();
  const nonF64 = named.find(([, p]) => p.dtype !== 'float64');
  if (nonF64) throw new ArgumentError(`${fn}: parameter '${nonF64[0]}' must be float64 for finite differences, got '${nonF64[1].dtype}'`);
  const { minBatch = 2, maxBatch = 6, numRuns = 25, seed = 42, checkInput = true } = opts;
  const perSample = sizeOf(inputShape);
  const batchArb = fc.integer({ min: minBatch, max: maxBatch }).chain((n) => valuesArb(n * perSample, opts).map((v) => ({ n, v })));
  const worst: Record<string, number> = {};
  const worstAbs: Record<string, number> = {};
  let failure: Error | undefined;

  const result = fc.check(
    fc.property(batchArb, ({ n, v }) => {
      const x = new Tensor(Float64Array.from(v), [n, ...inputShape], { requiresGrad: checkInput });
      const buffers = module.namedBuffers().map(([, b]) => [b, b.data.slice()] as const);
      const rng = getRngState();
      const forward = (input: Tensor): Tensor => {
        setRngState(rng); // the same dropout mask for every evaluation
        for (const [b, saved] of buffers) b.data.set(saved); // running statistics as they were
        return module.forward(input);
      };
      try {
        const { maxRelError, maxAbsError } = gradcheck(forward, [x, ...named.map(([, p]) => p)], opts);
        const names = ['input', ...named.map(([k]) => k)];
        maxRelError.forEach((e, i) => {
          if (!Number.isNaN(e)) worst[names[i]] = Math.max(worst[names[i]] ?? 0, e);
          if (!Number.isNaN(maxAbsError[i])) worstAbs[names[i]] = Math.max(worstAbs[names[i]] ?? 0, maxAbsError[i]);
        });
        return true;
      } catch (e) {
        failure = e instanceof Error ? e : new Error(String(e));
        return false;
      } finally {
        for (const [b, saved] of buffers) b.data.set(saved);
        setRngState(rng);
      }
    }),
    { seed, numRuns },
  );
  if (result.failed) {
    const ce = result.counterexample?.[0];
    const names = ['input', ...named.map(([k]) => k)];
    const msg = (failure?.message ?? String(result.errorInstance)).replace(/input (\d+)/, (_, i: string) => `'${names[Number(i)]}'`);
    const batch = ce ? `x ${formatShape([ce.n, ...inputShape])} = [${ce.v.map((t) => +t.toPrecision(6)).join(', ')}]` : 'unknown';
    throw new GradError(
      `${fn}: ${module.constructor.name} gradients disagree after ${result.numRuns} batches ` +
        `(shrunk ${result.numShrinks} times; reproduce with seed ${seed}, path '${result.counterexamplePath}'): ${msg}; ` +
        `smallest failing batch ${batch}`,
    );
  }
  return { numRuns: result.numRuns, maxRelError: worst, maxAbsError: worstAbs };
}
