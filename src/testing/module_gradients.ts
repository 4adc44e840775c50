/**
 * Property-based gradient checking of whole modules: random batches from fast-check, each
 * checked against central differences for the input and every parameter, with the shrunk
 * counterexample reported on failure.
 *
 * @packageDocumentation
 */
import fc from 'fast-check';
import { analyticalGradients, compareGradients, DEFAULT_RTOL, DEFAULT_RTOL_FLOAT32, resolveGradcheckOptions, type GradcheckOptions } from '../autograd/gradcheck';
import type { DType, FloatArray } from '../dtype';
import { ArgumentError, GradError, TapegradError, ValueError } from '../errors';
import { Module } from '../nn/module';
import { optionalBoolean } from '../options';
import { getRngState, setRngState } from '../random';
import { describe, formatShape, sizeOf } from '../shape';
import { Tensor } from '../tensor';
import { awayFromKinks, type ValuesArbOptions } from './arbitraries';

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
  /** The dtype the module's backward ran in (its parameters' dtype; float64 without parameters). */
  dtype: DType;
  /** The worst relative error seen for the input (if checked) and each parameter, by name. */
  maxRelError: Record<string, number>;
  /**
   * The worst absolute error for each, by name: read it beside maxRelError, since gradients
   * that are ~0 (accepted by the rounding allowance) can show a large relative error.
   */
  maxAbsError: Record<string, number>;
  /** The largest share of the allowed error used by any element, by name (below 1; kinks excluded). */
  toleranceUsed: Record<string, number>;
  /** Elements skipped as kinks (a ReLU corner within the finite-difference step), over all batches. */
  kinks: number;
}

const KNOWN = ['inputShape', 'minBatch', 'maxBatch', 'numRuns', 'seed', 'checkInput', 'min', 'max', 'awayFrom', 'eps', 'rtol', 'atol'] as const;

/** A small seeded PRNG (mulberry32) for the batch values, so the global PRNG is not touched. */
function uniforms(seed: number, n: number, min: number, max: number, awayFrom: ValuesArbOptions['awayFrom']): number[] {
  let s = seed >>> 0;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    out[i] = awayFromKinks(min + (max - min) * u, awayFrom);
  }
  return out;
}

/**
 * Every tensor a module tree holds where a forward can find it: parameters, buffers, and each
 * module's own Tensor fields (a layer's constants).
 */
function tensorsOf(module: Module): Tensor[] {
  const all = new Set<Tensor>([...module.parameters(), ...module.buffers()]);
  for (const [, m] of module.namedModules()) for (const v of Object.values(m)) if (v instanceof Tensor) all.add(v);
  return [...all];
}

/**
 * Runs `body` with every float32 tensor of the module swapped for a float64 copy (tensors
 * sharing an array share its copy), and swaps the originals back afterwards.
 */
function inFloat64<T>(module: Module, body: () => T): T {
  const swapped: [Tensor, FloatArray][] = [];
  const copies = new Map<FloatArray, Float64Array>();
  try {
    for (const t of tensorsOf(module)) {
      if (!(t.data instanceof Float32Array)) continue;
      let copy = copies.get(t.data);
      if (copy === undefined) {
        copy = Float64Array.from(t.data);
        copies.set(t.data, copy);
      }
      swapped.push([t, t.data]);
      (t as { data: FloatArray }).data = copy;
      t._key = null; // its versions are now those of the copy's memory
    }
    return body();
  } finally {
    for (const [t, data] of swapped) {
      (t as { data: FloatArray }).data = data;
      t._key = null;
    }
  }
}

function checkInt(fn: string, name: string, v: unknown, min: number): number {
  if (!Number.isSafeInteger(v) || (v as number) < min) throw new ValueError(`${fn}: opts.${name} must be an integer >= ${min}, got ${describe(v)}`);
  return v as number;
}

/**
 * Property-tests a module's input and parameter gradients against numerical ones over
 * random batches.
 *
 * Defaults chosen to pass on correct models and fail on wrong gradients:
 * - Each batch is a fast-check choice of a batch size and a seed; its values are uniform in
 *   [min, max] from that seed. Such batches are generic: no two rows equal, no value exactly 0,
 *   so BatchNorm in train mode never sees a zero-variance column and ReLUs are not put exactly
 *   on their kink by a batch of zeros (what fast-check's own value shrinking drifts towards).
 * - Elements are judged as in `gradcheck`: relative tolerance rtol, plus an allowance for the
 *   rounding of the finite difference, and a second look at failing elements that skips ReLU
 *   kinks inside the step (counted in `kinks`) instead of reporting them.
 * - A float32 module is checked as it runs: its backward in float32, against central
 *   differences of the same function in float64, computed on float64 copies of every tensor
 *   the module holds (parameters, buffers, tensor fields; swapped in for the check and back),
 *   with rtol 1e-3 and an allowance of 512 float32 roundings of the largest gradient. A forward
 *   that makes float32 tensors of its own (not from its input or fields) cannot be run that way,
 *   and gets an ArgumentError saying so.
 *
 * Buffers (running statistics) and the global PRNG are restored before each evaluation, so
 * BatchNorm in train mode and Dropout are checked as deterministic functions.
 *
 * @param module - the module to check, in the mode it should be checked in (train or eval).
 * @param opts - inputShape (required), minBatch (2), maxBatch (6), numRuns (25), seed (42),
 *   min (-2), max (2), awayFrom (none), eps (1e-6), rtol (1e-5; 1e-3 for float32), atol (1e-9),
 *   checkInput (true).
 * @returns the worst relative and absolute errors, the share of the tolerance used, and kinks met.
 * @throws GradError naming the parameter, element, values and the smallest failing batch on a mismatch.
 * @example
 * ```ts
 * checkModuleGradients(new nn.Sequential(new nn.Affine(3, 4), new nn.BatchNorm1d(4), new nn.ReLU()), {
 *   inputShape: [3],
 * });
 * ```
 */
export function checkModuleGradients(module: Module, opts: CheckModuleOptions): CheckModuleResult {
  const fn = 'checkModuleGradients';
  if (!(module instanceof Module)) throw new ArgumentError(`${fn}: module must be an nn.Module, got ${describe(module)}`);
  if (opts === undefined) throw new ArgumentError(`${fn}: opts must be an object with at least inputShape, got undefined`);
  const o = resolveGradcheckOptions(fn, opts, KNOWN);
  const inputShape = o.inputShape as readonly number[] | undefined;
  if (!Array.isArray(inputShape) || !inputShape.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new ArgumentError(`${fn}: opts.inputShape must be the shape of one sample, e.g. [784], got ${describe(inputShape)}`);
  }
  const minBatch = checkInt(fn, 'minBatch', o.minBatch ?? 2, 1);
  const maxBatch = checkInt(fn, 'maxBatch', o.maxBatch ?? Math.max(6, minBatch), minBatch);
  const numRuns = checkInt(fn, 'numRuns', o.numRuns ?? 25, 1);
  const seed = checkInt(fn, 'seed', o.seed ?? 42, 0);
  const checkInput = optionalBoolean(fn, 'opts.checkInput', o.checkInput, true);
  const min = (o.min as number | undefined) ?? -2;
  const max = (o.max as number | undefined) ?? 2;
  if (typeof min !== 'number' || typeof max !== 'number' || !Number.isFinite(min) || !Number.isFinite(max) || !(min < max)) {
    throw new ValueError(`${fn}: opts.min and opts.max must be finite numbers with min < max, got ${describe(min)} and ${describe(max)}`);
  }
  const awayFrom = o.awayFrom as ValuesArbOptions['awayFrom'];
  if (
    awayFrom !== undefined &&
    (typeof awayFrom !== 'object' || awayFrom === null || !Array.isArray(awayFrom.kinks) || !awayFrom.kinks.every(Number.isFinite) || !(awayFrom.margin >= 0))
  ) {
    throw new ArgumentError(`${fn}: opts.awayFrom must be { kinks: number[], margin: number >= 0 }, got ${describe(awayFrom)}`);
  }

  const named = module.namedParameters();
  const dtypes = new Set(named.map(([, p]) => p.dtype));
  if (dtypes.size > 1) throw new ArgumentError(`${fn}: the parameters must share one dtype, got ${[...dtypes].map((d) => `'${d}'`).join(' and ')}`);
  const dtype: DType = named.length > 0 ? named[0][1].dtype : 'float64';
  const rtol = o.rtol ?? (dtype === 'float32' ? DEFAULT_RTOL_FLOAT32 : DEFAULT_RTOL);
  const names = ['input', ...named.map(([k]) => k)];
  const perSample = sizeOf(inputShape);
  const batchArb = fc.record({ n: fc.integer({ min: minBatch, max: maxBatch }), seed: fc.nat() });
  const worst: Record<string, number> = {};
  const worstAbs: Record<string, number> = {};
  const used: Record<string, number> = {};
  let kinks = 0;
  let failure: Error | undefined;

  const result = fc.check(
    fc.property(batchArb, ({ n, seed: s }) => {
      const values = uniforms(s, n * perSample, min, max, awayFrom);
      const x = new Tensor(dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values), [n, ...inputShape], { requiresGrad: checkInput });
      const buffers = module.namedBuffers().map(([, b]) => [b, b.data.slice()] as const);
      const rng = getRngState();
      const forward = (input: Tensor): Tensor => {
        setRngState(rng); // the same dropout mask for every evaluation
        for (const [b, saved] of buffers) b.data.set(saved); // running statistics as they were
        return module.forward(input);
      };
      try {
        const params = named.map(([, p]) => p);
        const { grads, weights } = analyticalGradients(fn, forward, [x, ...params], undefined);
        const compare = (x64: Tensor): ReturnType<typeof compareGradients> =>
          compareGradients({
            fnName: fn,
            evaluate: () => forward(x64),
            data: [x64, ...params].map((t, i) => (grads[i] === null ? null : (t.data as Float64Array))),
            shapes: [x, ...params].map((t) => t.shape),
            analytical: grads,
            analyticalDType: dtype,
            weights,
            eps: o.eps,
            rtol,
            atol: o.atol,
          });
        const r =
          dtype === 'float64'
            ? compare(x)
            : inFloat64(module, () => {
                const x64 = new Tensor(Float64Array.from(x.data), x.shape);
                try {
                  forward(x64);
                } catch (e) {
                  throw new ArgumentError(
                    `${fn}: a float32 ${module.constructor.name} is checked against float64 differences on float64 copies of its tensors, ` +
                      `but its forward failed on them (${e instanceof Error ? e.message : String(e)}); keep every tensor the forward uses in a field ` +
                      `(or make it in the input's dtype), or check a float64 copy of the model`,
                  );
                }
                return compare(x64);
              });
        r.maxRelError.forEach((e, i) => {
          if (Number.isNaN(e)) return;
          worst[names[i]] = Math.max(worst[names[i]] ?? 0, e);
          worstAbs[names[i]] = Math.max(worstAbs[names[i]] ?? 0, r.maxAbsError[i]);
          used[names[i]] = Math.max(used[names[i]] ?? 0, r.toleranceUsed[i]);
          kinks += r.kinks[i];
        });
        return true;
      } catch (e) {
        if (e instanceof TapegradError && !(e instanceof GradError)) throw e; // a usage error, not a counterexample
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
    if (result.errorInstance instanceof TapegradError && !(result.errorInstance instanceof GradError)) throw result.errorInstance;
    const ce = result.counterexample?.[0];
    const msg = (failure?.message ?? String(result.errorInstance))
      .replace(`${fn}: `, '')
      .replace(/input (\d+)/, (_, i: string) => `'${names[Number(i)]}'`);
    const batch = ce
      ? `x ${formatShape([ce.n, ...inputShape])} = [${uniforms(ce.seed, ce.n * perSample, min, max, awayFrom).map((t) => +t.toPrecision(6)).join(', ')}]`
      : 'unknown';
    throw new GradError(
      `${fn}: ${module.constructor.name} gradients disagree after ${result.numRuns} batches ` +
        `(shrunk ${result.numShrinks} times; reproduce with seed ${seed}, path '${result.counterexamplePath}'): ${msg}; ` +
        `smallest failing batch ${batch}`,
    );
  }
  return { numRuns: result.numRuns, dtype, maxRelError: worst, maxAbsError: worstAbs, toleranceUsed: used, kinks };
}
