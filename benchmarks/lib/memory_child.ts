/**
 * Child process for the MEM figures: runs W2 (float32) for a number of steps in a fresh
 * process (so earlier workloads do not inflate the peak), started by `benchmarks/run.ts`
 * with `--expose-gc`, and sends one {@link MemoryResult} back over IPC.
 *
 * Arguments: `<impl> <steps> <fromStep> <maxMs>`.
 *
 * - Peak RSS: `process.resourceUsage().maxRSS` (the kernel's high-water mark for this
 *   process, including Node and module start-up) and the highest RSS sampled after a step.
 * - Growth: `heapUsed` and `external` (typed-array and wasm memory live there) after a
 *   forced full GC at step `fromStep` and again after the last step.
 *
 * @packageDocumentation
 */

import { createImpl, isImplName } from './impls';
import { MLP_SPECS, errorMessage } from './workloads';
import { median } from './timing';

/** What the child reports. Sizes are in MiB. */
export interface MemoryResult {
  /** Implementation name. */
  readonly impl: string;
  /** Steps asked for. */
  readonly requestedSteps: number;
  /** Steps actually run (fewer when the time cap was hit). */
  readonly steps: number;
  /**
   * Step after which the growth baseline was taken: the requested one, or an earlier one
   * when the time cap would have stopped the run before it.
   */
  readonly fromStep: number;
  /** Kernel high-water mark of the child's RSS. */
  readonly peakRssMiB: number;
  /** Highest RSS sampled after any step. */
  readonly peakSampledRssMiB: number;
  /** RSS once the model and data were built, before the first step. */
  readonly rssBeforeMiB: number;
  /** heapUsed after GC at `fromStep`, or null if the run stopped before it. */
  readonly heapAtFromMiB: number | null;
  /** heapUsed after GC after the last step. */
  readonly heapAtEndMiB: number;
  /** external after GC at `fromStep`, or null. */
  readonly externalAtFromMiB: number | null;
  /** external after GC after the last step. */
  readonly externalAtEndMiB: number;
  /** Median step time during the run, ms. */
  readonly medianStepMs: number;
  /** Whether the time cap stopped the run early. */
  readonly truncated: boolean;
  /** Whether a real full GC was available (`--expose-gc`). */
  readonly gcExposed: boolean;
  /** Live tfjs tensors at `fromStep` and at the end (tfjs only). */
  readonly tfjsTensors?: { readonly atFrom: number | null; readonly atEnd: number };
}

/** Message the child sends: a result or an error. */
export type MemoryMessage =
  | { readonly ok: true; readonly result: MemoryResult }
  | { readonly ok: false; readonly error: string };

const MiB = 1024 * 1024;

function fullGc(): boolean {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g !== 'function') return false;
  g();
  g();
  return true;
}

async function main(): Promise<MemoryResult> {
  const [implName, stepsArg, fromArg, maxMsArg] = process.argv.slice(2);
  if (implName === undefined || !isImplName(implName)) {
    throw new Error(`memory_child: impl must be an implementation name, got ${String(implName)}`);
  }
  const requestedSteps = Number(stepsArg);
  const fromStep = Number(fromArg);
  const maxMs = Number(maxMsArg);
  const impl = createImpl(implName);
  await impl.init();
  await impl.activate();
  // Loaded only for tfjs runs, so a tapegrad memory run never pays for importing tfjs.
  const tfjsMemory = implName.startsWith('tfjs')
    ? // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require('./tfjs_impl') as typeof import('./tfjs_impl')).tfjsMemory
    : null;
  const w = impl.mlp(MLP_SPECS.W2, 'float32');
  const gcExposed = fullGc();
  const rssBefore = process.memoryUsage.rss();
  let peakSampled = rssBefore;
  let heapAtFrom: number | null = null;
  let externalAtFrom: number | null = null;
  let tensorsAtFrom: number | null = null;
  const times: number[] = [];
  const t0 = Date.now();
  let steps = 0;
  let actualFrom = fromStep;
  let truncated = false;
  while (steps < requestedSteps) {
    const s0 = process.hrtime.bigint();
    w.run();
    times.push(Number(process.hrtime.bigint() - s0) / 1e6);
    steps++;
    peakSampled = Math.max(peakSampled, process.memoryUsage.rss());
    // Take the growth baseline at fromStep, or earlier if the time cap would otherwise stop
    // the run before fromStep (then growth covers the second half of what did run).
    const late = heapAtFrom === null && steps < fromStep && Date.now() - t0 > maxMs / 2;
    if (late) actualFrom = steps;
    if (steps === fromStep || late) {
      fullGc();
      const m = process.memoryUsage();
      heapAtFrom = m.heapUsed;
      externalAtFrom = m.external;
      if (tfjsMemory) tensorsAtFrom = tfjsMemory().numTensors;
    }
    if (Date.now() - t0 > maxMs && steps < requestedSteps) {
      truncated = true;
      break;
    }
  }
  fullGc();
  const end = process.memoryUsage();
  const result: MemoryResult = {
    impl: implName,
    requestedSteps,
    steps,
    fromStep: actualFrom,
    peakRssMiB: (process.resourceUsage().maxRSS * 1024) / MiB,
    peakSampledRssMiB: peakSampled / MiB,
    rssBeforeMiB: rssBefore / MiB,
    heapAtFromMiB: heapAtFrom === null ? null : heapAtFrom / MiB,
    heapAtEndMiB: end.heapUsed / MiB,
    externalAtFromMiB: externalAtFrom === null ? null : externalAtFrom / MiB,
    externalAtEndMiB: end.external / MiB,
    medianStepMs: times.length > 0 ? median(times) : NaN,
    truncated,
    gcExposed,
    ...(tfjsMemory ? { tfjsTensors: { atFrom: tensorsAtFrom, atEnd: tfjsMemory().numTensors } } : {}),
  };
  w.dispose();
  return result;
}

function send(msg: MemoryMessage): void {
  if (typeof process.send === 'function') {
    process.send(msg, () => process.exit(0));
  } else {
    process.stdout.write(JSON.stringify(msg) + '\n');
  }
}

main().then(
  (result) => send({ ok: true, result }),
  (e: unknown) => send({ ok: false, error: errorMessage(e) }),
);
