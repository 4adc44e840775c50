/**
 * Timing primitives for the benchmark harness: warm-up, sample collection under a time
 * budget, and robust summary statistics (median, quartiles, IQR).
 *
 * Every clock read goes through `process.hrtime.bigint()` (monotonic, nanosecond
 * resolution). A *sample* is the mean time of `reps` back-to-back calls; `reps` is
 * calibrated during warm-up so that one sample lasts at least `minSampleMs`, which keeps
 * timer resolution and loop overhead out of microsecond-scale workloads. The machine the
 * harness runs on is shared and noisy, so it reports medians and IQRs rather than means.
 *
 * @packageDocumentation
 */

/** How {@link measure} warms up and how many samples it collects. */
export interface MeasureOptions {
  /** Minimum number of warm-up calls (not recorded). */
  readonly warmupCalls: number;
  /** Warm-up keeps going until at least this much time has passed (JIT, caches, pools). */
  readonly warmupMs: number;
  /** Never stop with fewer samples than this. */
  readonly minSamples: number;
  /** Never take more samples than this. */
  readonly maxSamples: number;
  /** Keep sampling until this much time has been spent sampling (after `minSamples`). */
  readonly budgetMs: number;
  /** Calibrate `reps` so one sample lasts at least this long. */
  readonly minSampleMs: number;
  /**
   * Optional absolute deadline on the {@link nowMs} clock. Past it, warm-up stops after its
   * first call and sampling stops after its first sample, even below `warmupCalls` and
   * `minSamples` (the result then has `truncated: true`). Used to keep quick runs short.
   */
  readonly deadline?: number;
  /**
   * Optional absolute hard deadline on the {@link nowMs} clock: if, after the first call,
   * one more call would end past it, {@link measure} gives up with {@link DeadlineExceeded}
   * instead of producing a figure from a single call.
   */
  readonly hardDeadline?: number;
}

/** Thrown by {@link measure} when a workload cannot be sampled before `hardDeadline`. */
export class DeadlineExceeded extends Error {
  /** @param firstCallMs - how long the first (warm-up) call took, ms. */
  constructor(readonly firstCallMs: number) {
    super(`time limit: one call takes ${firstCallMs.toFixed(0)} ms, more than the time left`);
    this.name = 'DeadlineExceeded';
  }
}

/** Summary of a set of per-call times, in milliseconds. */
export interface Stats {
  /** Median per-call time, ms. */
  readonly median: number;
  /** First quartile (25th percentile), ms. */
  readonly q1: number;
  /** Third quartile (75th percentile), ms. */
  readonly q3: number;
  /** Interquartile range `q3 - q1`, ms. */
  readonly iqr: number;
  /** Fastest sample, ms. */
  readonly min: number;
  /** Slowest sample, ms. */
  readonly max: number;
  /** Number of samples the statistics are computed from. */
  readonly samples: number;
  /** Calls per sample (each sample is the mean over `reps` calls). */
  readonly reps: number;
  /** The per-call time of each sample, ms, in collection order. */
  readonly values: readonly number[];
  /** True when a deadline cut warm-up or sampling below the requested minimum. */
  readonly truncated: boolean;
  /**
   * Median per-call CPU time of this process (user + system, from `process.cpuUsage()`),
   * ms, or NaN when not recorded. On a loaded machine wall time grows with time-slicing
   * while CPU time mostly does not, so `median / cpuMedian` well above 1 flags contention.
   */
  readonly cpuMedian: number;
  /** Duration of the very first call (cold: includes JIT compilation and first allocations), ms. */
  readonly firstCallMs: number;
}

/** Current monotonic time in milliseconds (as a float), from `process.hrtime.bigint()`. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * Time one synchronous call of `fn`, in milliseconds.
 *
 * @param fn - the function to time.
 * @returns the elapsed wall-clock time in ms.
 */
export function timeOnce(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/**
 * The q-quantile of already sorted values, with linear interpolation between order
 * statistics (the "type 7" definition used by R and NumPy).
 *
 * @param sorted - values sorted ascending; must be non-empty.
 * @param q - quantile in [0, 1].
 */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('quantileSorted: sorted must be non-empty, got []');
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Median of values (any order).
 *
 * @param values - non-empty list of numbers.
 */
export function median(values: readonly number[]): number {
  return quantileSorted([...values].sort((a, b) => a - b), 0.5);
}

/**
 * Summary statistics of per-call times.
 *
 * @param values - per-call times in ms (non-empty).
 * @param reps - calls per sample, recorded in the result.
 */
export function summarize(
  values: readonly number[],
  reps = 1,
  truncated = false,
  cpuValues: readonly number[] = [],
  firstCallMs = NaN,
): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const q1 = quantileSorted(sorted, 0.25);
  const q3 = quantileSorted(sorted, 0.75);
  return {
    median: quantileSorted(sorted, 0.5),
    q1,
    q3,
    iqr: q3 - q1,
    min: sorted[0],
    max: sorted[sorted.length - 1],
    samples: values.length,
    reps,
    values: [...values],
    truncated,
    cpuMedian: cpuValues.length > 0 ? median(cpuValues) : NaN,
    firstCallMs,
  };
}

/**
 * Warm up `fn`, then collect timing samples until both `minSamples` and `budgetMs` are
 * satisfied (or `maxSamples` is reached), and summarize them.
 *
 * `fn` must do one complete unit of work synchronously (one GEMM, one training step).
 *
 * @param fn - the workload to time.
 * @param opts - warm-up and sampling limits.
 * @returns per-call statistics in milliseconds.
 *
 * @example
 * ```ts
 * const s = measure(() => step(), { warmupCalls: 3, warmupMs: 200, minSamples: 10,
 *   maxSamples: 200, budgetMs: 2000, minSampleMs: 5 });
 * console.log(`${s.median.toFixed(2)} ms (IQR ${s.iqr.toFixed(2)})`);
 * ```
 */
export function measure(fn: () => void, opts: MeasureOptions): Stats {
  const deadline = opts.deadline ?? Infinity;
  let truncated = false;
  // Warm-up: at least warmupCalls calls and warmupMs of time; remember the fastest call to
  // calibrate reps (the fastest is the least disturbed by the noisy neighbours).
  const firstCallMs = timeOnce(fn);
  if (opts.hardDeadline !== undefined && nowMs() + firstCallMs > opts.hardDeadline) {
    throw new DeadlineExceeded(firstCallMs);
  }
  let fastest = firstCallMs;
  let calls = 1;
  const w0 = nowMs();
  while (calls < opts.warmupCalls || (nowMs() - w0 < opts.warmupMs && calls < 1_000_000)) {
    if (nowMs() > deadline) {
      truncated = calls < opts.warmupCalls;
      break;
    }
    fastest = Math.min(fastest, timeOnce(fn));
    calls++;
  }
  let reps = Math.max(1, Math.ceil(opts.minSampleMs / Math.max(fastest, 1e-6)));
  // Under a deadline, do not let one sample overrun the remaining time by much.
  if (Number.isFinite(deadline)) {
    const left = deadline - nowMs();
    reps = Math.max(1, Math.min(reps, Math.floor(left / Math.max(fastest, 1e-6) / Math.max(1, opts.minSamples))));
  }

  const values: number[] = [];
  const cpuValues: number[] = [];
  const s0 = nowMs();
  while (
    values.length < opts.maxSamples &&
    (values.length < opts.minSamples || nowMs() - s0 < opts.budgetMs)
  ) {
    if (values.length > 0 && nowMs() > deadline) {
      truncated = truncated || values.length < opts.minSamples;
      break;
    }
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < reps; r++) fn();
    values.push(Number(process.hrtime.bigint() - t0) / 1e6 / reps);
    const c = process.cpuUsage(c0);
    cpuValues.push((c.user + c.system) / 1000 / reps);
  }
  return summarize(values, reps, truncated, cpuValues, firstCallMs);
}

/**
 * Something {@link measureInterleaved} can time: `sample(reps)` runs `reps` calls back to
 * back and reports the mean wall and CPU time per call. In-process implementations time
 * themselves synchronously; the PyTorch peer times itself in its own process.
 */
export interface Sampler {
  /** Called before each sample, untimed (e.g. switch tfjs' backend). */
  prepare?(): Promise<void>;
  /** Mean wall and CPU ms per call over `reps` back-to-back calls. */
  sample(reps: number): Promise<{ wallMs: number; cpuMs: number }>;
}

/**
 * A {@link Sampler} over a synchronous call (or an asynchronous one, awaited call by call),
 * timed with `process.hrtime` and `process.cpuUsage`.
 *
 * @param fn - one unit of work.
 * @param prepare - optional untimed set-up before each sample.
 */
export function localSampler(fn: () => void | Promise<void>, prepare?: () => Promise<void>, isAsync = false): Sampler {
  return {
    prepare,
    sample: async (reps) => {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      if (isAsync) for (let r = 0; r < reps; r++) await fn();
      else for (let r = 0; r < reps; r++) void fn();
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6 / reps;
      const c = process.cpuUsage(c0);
      return { wallMs, cpuMs: (c.user + c.system) / 1000 / reps };
    },
  };
}

/**
 * Time several implementations of the same figure in interleaved rounds, so that load from
 * other processes on a shared machine falls on all of them alike.
 *
 * 1. Warm-up, one sampler after the other: at least `warmupCalls` calls and `warmupMs` each
 *    (the first call included); the fastest warm-up call sets the sampler's calls per sample
 *    (`minSampleMs`).
 * 2. Rounds: in each round every sampler takes samples for about the same wall time (the
 *    longest single sample among them, at most `budgetMs / minSamples`; at least one
 *    sample), so a 2 ms step and a 2 s step get equal time and are interleaved.
 *    Rounds go on until every sampler has `minSamples` samples and has spent `budgetMs`
 *    sampling (or reached `maxSamples`).
 *
 * `deadline` ends the rounds early (after at least one), `hardDeadline` skips a sampler whose
 * first call shows it cannot be sampled in time; both as in {@link measure}.
 *
 * @param samplers - the implementations.
 * @param opts - warm-up and sampling limits (per sampler).
 * @returns per sampler: its {@link Stats}, or the error that stopped it (a
 *   {@link DeadlineExceeded}, or whatever it threw).
 */
export async function measureInterleaved(samplers: readonly Sampler[], opts: MeasureOptions): Promise<(Stats | Error)[]> {
  const deadline = opts.deadline ?? Infinity;
  const n = samplers.length;
  const out: (Stats | Error | null)[] = samplers.map(() => null);
  const reps: number[] = new Array<number>(n).fill(1);
  const sampleMs: number[] = new Array<number>(n).fill(0);
  const firstCall: number[] = new Array<number>(n).fill(NaN);
  const truncated: boolean[] = new Array<boolean>(n).fill(false);
  const toError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

  for (let i = 0; i < n; i++) {
    const s = samplers[i];
    try {
      await s.prepare?.();
      // The first call counts towards warmupMs, so a step slower than warmupMs is run once.
      const w0 = nowMs();
      const first = (await s.sample(1)).wallMs;
      firstCall[i] = first;
      if (opts.hardDeadline !== undefined && nowMs() + first > opts.hardDeadline) throw new DeadlineExceeded(first);
      let fastest = first;
      let calls = 1;
      while (calls < opts.warmupCalls || (nowMs() - w0 < opts.warmupMs && calls < 1_000_000)) {
        if (nowMs() > deadline) {
          truncated[i] = calls < opts.warmupCalls;
          break;
        }
        // Warm up in small batches so a microsecond step does not pay a round trip per call.
        const batch = Math.max(1, Math.min(1000, Math.floor(1 / Math.max(fastest, 1e-3))));
        fastest = Math.min(fastest, (await s.sample(batch)).wallMs);
        calls += batch;
      }
      reps[i] = Math.max(1, Math.ceil(opts.minSampleMs / Math.max(fastest, 1e-6)));
      if (Number.isFinite(deadline)) {
        const left = deadline - nowMs();
        reps[i] = Math.max(1, Math.min(reps[i], Math.floor(left / Math.max(fastest, 1e-6) / n / Math.max(1, opts.minSamples))));
      }
      sampleMs[i] = reps[i] * fastest;
    } catch (e) {
      out[i] = toError(e);
    }
  }

  const live = (): number[] => [...Array(n).keys()].filter((i) => out[i] === null);
  const values: number[][] = samplers.map(() => []);
  const cpu: number[][] = samplers.map(() => []);
  const spent: number[] = new Array<number>(n).fill(0);
  const slice = Math.min(Math.max(...live().map((i) => sampleMs[i]), 0), opts.budgetMs / Math.max(1, opts.minSamples));
  const wants = (i: number): boolean =>
    values[i].length < opts.maxSamples && (values[i].length < opts.minSamples || spent[i] < opts.budgetMs);
  while (live().some(wants)) {
    if (live().every((i) => values[i].length > 0) && nowMs() > deadline) {
      for (const i of live()) truncated[i] = truncated[i] || values[i].length < opts.minSamples;
      break;
    }
    for (const i of live()) {
      if (!wants(i)) continue;
      try {
        await samplers[i].prepare?.();
        const r0 = nowMs();
        do {
          const t = await samplers[i].sample(reps[i]);
          values[i].push(t.wallMs);
          cpu[i].push(t.cpuMs);
          spent[i] += t.wallMs * reps[i];
        } while (nowMs() - r0 < slice && wants(i));
      } catch (e) {
        out[i] = toError(e);
      }
    }
  }
  return out.map((o, i) => o ?? summarize(values[i], reps[i], truncated[i], cpu[i], firstCall[i]));
}
