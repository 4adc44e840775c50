/**
 * Benchmark runner: tapegrad against TensorFlow.js (`cpu` and `wasm` backends, one thread,
 * each training step in its fastest formulation) and PyTorch (one thread, in a Python child
 * process, when `import torch` works), on the same workloads, in the same run.
 *
 * ```
 * npm run bench                       # full run, writes benchmarks/RESULTS.md
 * npm run bench -- --quick            # reduced sizes and samples, about a minute
 * npm run bench -- --json             # one JSON line per figure on stdout (table on stderr)
 * npm run bench -- --only W1,W2       # a subset of W1, W2, W3, W4, MEM
 * npm run bench -- --impl tfjs-wasm   # a subset of tapegrad, tfjs-cpu, tfjs-wasm, torch
 * npm run bench -- --pin              # everything on one CPU, tapegrad on one thread
 * ```
 *
 * The implementations of each figure are timed in interleaved rounds, so that load from other
 * processes on the shared machine hits every implementation alike, and the machine's load is
 * recorded (load averages, a two-thread check, other processes' CPU use per figure). Errors
 * are caught per implementation and per figure and shown as `error: <message>`.
 *
 * @packageDocumentation
 */

import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { IMPL_NAMES, ImplName, createImpl } from './lib/impls';
import {
  CpuWindow,
  OthersLoad,
  TwoThreadCheck,
  allowedCpus,
  loadAverages,
  pinProcess,
  twoThreadCheck,
} from './lib/machine';
import type { MemoryMessage, MemoryResult } from './lib/memory_child';
import {
  Calibration,
  Cell,
  DtypePair,
  Figure,
  FormulationTiming,
  MemoryEntry,
  Metric,
  RunReport,
  TorchChoice,
  WorkloadLoad,
  cellText,
  consoleLines,
  jsonLines,
  markdown,
} from './lib/report';
import type { TapegradImpl } from './lib/tapegrad_impl';
import type { TfjsImpl } from './lib/tfjs_impl';
import { DeadlineExceeded, MeasureOptions, Sampler, Stats, localSampler, measureInterleaved, nowMs } from './lib/timing';
import { TorchPeer, findTorchPython } from './lib/torch_client';
import {
  ACTIVATIONS,
  AnyPrepared,
  DType,
  GEMM_OPS,
  GemmOp,
  Impl,
  MLP_SPECS,
  MlpSpec,
  errorMessage,
  gemmFlops,
  isAsyncPrepared,
  withActivation,
} from './lib/workloads';

/** Workload selectors accepted by `--only`. */
const WORKLOADS = ['W1', 'W2', 'W3', 'W4', 'MEM'] as const;
type WorkloadName = (typeof WORKLOADS)[number];

const HELP = `Usage: npm run bench -- [options]

Benchmarks tapegrad against TensorFlow.js (cpu and wasm backends, one thread) and PyTorch
(one thread, when 'import torch' works).

Options:
  --quick           W1 at n=256 only, W2-W4 in float32 only, 3 samples, MEM 200 steps
                    capped at 8 s, tfjs formulations fixed instead of timed; a 50 s budget
                    is shared out among the figures, so the run ends within about a minute
                    even on a loaded machine (figures the budget cut short are marked '*',
                    left out 'skipped'; MEM runs only if 9 s are left)
  --json            print one JSON line per figure on stdout (the table goes to stderr);
                    use 'npm run -s bench -- --json' so npm's banner stays off stdout
  --only LIST       comma-separated subset of W1,W2,W3,W4,MEM (default: all)
  --impl LIST       comma-separated subset of ${IMPL_NAMES.join(',')} (default: all)
  --dtype LIST      dtypes for W2-W4, a subset of float32,float64 (default: both; quick: float32)
  --mem-impl LIST   implementations for MEM (default: tapegrad; tfjs W2 steps are slow)
  --activation LIST hidden activations for W2-W4, a subset of ${ACTIVATIONS.join(',')} (default:
                    relu); each is its own figure, run back to back per dtype (torch: relu only)
  --tfjs-formulations WHICH
                    how each tfjs figure's formulation is chosen, per workload and backend:
                    'short' (default; time the short list, use the fastest), 'all' (time every
                    formulation), 'fixed' (the documented choice, no timing; quick mode's
                    default), or one formulation id, or several separated by ';' (time those)
  --pin             pin this process (every thread) and the PyTorch peer to one CPU with
                    taskset and run tapegrad's GEMMs on one thread, for the whole run
  --pin-cpu N       the CPU for --pin and for the pinned W2 row (default 0)
  --skip-pinned     leave out the extra 'W2 float32, 1 thread, pinned' row that runs
                    whenever W2 float32 runs without --pin
  --out FILE        where to write the Markdown report (default benchmarks/RESULTS.md)
  --help            show this help

Workloads:
  W1   GEMM C = A@B, A@Bt, At@B; n = 256, 512, 1024 (quick: 256); GFLOP/s (not on torch)
  W2   ${MLP_SPECS.W2.title}; ms/step
  W3   ${MLP_SPECS.W3.title}; ms/step
  W4   ${MLP_SPECS.W4.title}; µs/step
  MEM  W2 float32 for 1000 steps (quick: 200) in a child process: peak RSS, and heap
       growth between step 100 and the end (quick: 50)

Environment: TAPEGRAD_THREADS=1 runs tapegrad on one thread; TAPEGRAD_BENCH_PYTHON names the
Python that has torch (default: the first of python3, /usr/bin/python3 that imports it).

Results are written to benchmarks/RESULTS.md (or --out). Ratios are speed ratios,
tapegrad speed / peer speed: above 1 means tapegrad is faster.
`;

/** Settings that differ between quick and full runs. */
interface Mode {
  readonly gemmSizes: readonly number[];
  readonly mlpDTypes: readonly DType[];
  readonly timing: MeasureOptions;
  /** Timing of the tfjs formulations before a figure (each formulation). */
  readonly calibration: MeasureOptions;
  /** Extra warm-up time for the tiny W4 (the JIT needs a few hundred steps). */
  readonly w4WarmupMs: number;
  readonly memSteps: number;
  readonly memFrom: number;
  readonly memMaxMs: number;
  /**
   * Time kept back from the timed figures when MEM is selected. MEM runs only if at least
   * {@link MEM_MIN_MS} of the total budget is left once the timed figures are done.
   */
  readonly memReserveMs: number;
  /** Total time budget of the run, ms from start (Infinity: none). */
  readonly deadlineMs: number;
  /** Default of --tfjs-formulations. */
  readonly tfjsFormulations: string;
}

/** Least time left in the budget for which the MEM child is still started (quick mode). */
const MEM_MIN_MS = 9_000;

const QUICK: Mode = {
  gemmSizes: [256],
  mlpDTypes: ['float32'],
  timing: { warmupCalls: 1, warmupMs: 100, minSamples: 3, maxSamples: 200, budgetMs: 200, minSampleMs: 5 },
  calibration: { warmupCalls: 1, warmupMs: 100, minSamples: 3, maxSamples: 50, budgetMs: 150, minSampleMs: 5 },
  w4WarmupMs: 800,
  memSteps: 200,
  memFrom: 50,
  memMaxMs: 8_000,
  memReserveMs: 2_000,
  deadlineMs: 50_000,
  tfjsFormulations: 'fixed',
};

const FULL: Mode = {
  gemmSizes: [256, 512, 1024],
  mlpDTypes: ['float32', 'float64'],
  timing: { warmupCalls: 1, warmupMs: 1000, minSamples: 5, maxSamples: 1000, budgetMs: 3000, minSampleMs: 20 },
  calibration: { warmupCalls: 1, warmupMs: 300, minSamples: 3, maxSamples: 100, budgetMs: 600, minSampleMs: 10 },
  w4WarmupMs: 3000,
  memSteps: 1000,
  memFrom: 100,
  memMaxMs: 30 * 60_000,
  memReserveMs: 0,
  deadlineMs: Infinity,
  tfjsFormulations: 'short',
};

function parseList<T extends string>(
  flag: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: readonly T[],
): T[] {
  if (value === undefined) return [...fallback];
  const items = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const bad = items.filter((s) => !(allowed as readonly string[]).includes(s));
  if (bad.length > 0 || items.length === 0) {
    throw new Error(`${flag}: must be a comma-separated subset of ${allowed.join(',')}, got '${value}'`);
  }
  return items as T[];
}

// ---------------------------------------------------------------------------------------
// Output helpers

let jsonMode = false;

/** Human-readable output: stdout normally, stderr in --json mode (stdout is JSON only). */
function say(line = ''): void {
  (jsonMode ? process.stderr : process.stdout).write(line + '\n');
}

const progressStart = Date.now();

/** Progress to stderr, with the seconds since start. */
function progress(line: string): void {
  process.stderr.write(`[${((Date.now() - progressStart) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
}

// ---------------------------------------------------------------------------------------
// Implementations

/** Result of initialising one in-process implementation. */
interface ImplState {
  readonly name: ImplName;
  readonly impl: Impl | null;
  readonly error: string | null;
}

async function initImpl(name: ImplName): Promise<ImplState> {
  try {
    const impl = createImpl(name);
    await impl.init();
    return { name, impl, error: null };
  } catch (e) {
    return { name, impl: null, error: errorMessage(e) };
  }
}

/** The PyTorch peer, or why it is not there. */
interface TorchState {
  readonly peer: TorchPeer | null;
  readonly reason: string | null;
}

async function startTorch(): Promise<TorchState> {
  const found = findTorchPython();
  if ('reason' in found) return { peer: null, reason: found.reason };
  try {
    return { peer: await TorchPeer.start(found.python), reason: null };
  } catch (e) {
    return { peer: null, reason: errorMessage(e) };
  }
}

/** What the runner needs to measure a figure. */
interface Ctx {
  readonly states: readonly ImplState[];
  readonly torch: TorchState | null;
  readonly implNames: readonly ImplName[];
  /** Chosen tfjs formulation per `${impl} ${workload}/${activation}`. */
  readonly chosen: Map<string, string>;
  readonly torchChoices: TorchChoice[];
  readonly pids: () => number[];
}

/** One planned figure. */
interface Task {
  readonly fig: Figure;
  readonly gemm?: { readonly n: number; readonly op: GemmOp };
  readonly spec?: MlpSpec;
  readonly opts: MeasureOptions;
  readonly toValue: (ms: number) => number;
  /** Relative cost per implementation, for sharing out the quick-mode budget. */
  readonly weight: number;
  /** Implementations this figure leaves out, with the reason. */
  readonly leaveOut?: ReadonlyMap<ImplName, string>;
}

/** An implementation ready to be sampled for one figure. */
interface Entry {
  readonly name: ImplName;
  readonly sampler: Sampler;
  readonly firstLoss?: number;
  /** One more step after timing; its loss. */
  readonly finish?: () => Promise<number>;
  readonly dispose: () => Promise<void>;
}

function chosenKey(impl: ImplName, spec: MlpSpec): string {
  return `${impl} ${spec.id}/${spec.activation ?? 'relu'}`;
}

function samplerOf(p: AnyPrepared, activate: () => Promise<void>): Sampler {
  return isAsyncPrepared(p) ? localSampler(() => p.runAsync(), activate, true) : localSampler(() => p.run(), activate);
}

async function lossOf(p: AnyPrepared): Promise<number | undefined> {
  if (isAsyncPrepared(p)) return p.stepWithLossAsync();
  return p.stepWithLoss?.();
}

/** Prepare one implementation for a figure, or say why it has no cell. */
async function prepareEntry(ctx: Ctx, name: ImplName, task: Task, pinned: boolean): Promise<Entry | Cell> {
  const { fig } = task;
  const out = task.leaveOut?.get(name);
  if (out !== undefined) return { kind: 'na', reason: out };
  try {
    if (name === 'torch') {
      const peer = ctx.torch?.peer ?? null;
      if (peer === null) return { kind: 'skipped', reason: ctx.torch?.reason ?? 'not started' };
      if (task.spec === undefined) return { kind: 'na', reason: 'W1 is not run on torch' };
      if ((task.spec.activation ?? 'relu') !== 'relu') return { kind: 'na', reason: 'the torch peer runs ReLU only' };
      const tp = await peer.prepare(task.spec, fig.dtype);
      fig.ran.set('torch', `SGD ${tp.variant}`);
      ctx.torchChoices.push({ workload: task.spec.id, dtype: fig.dtype, pinned, chosen: tp.variant, variants: tp.variants });
      return {
        name,
        sampler: { sample: (reps) => tp.sample(reps) },
        firstLoss: tp.firstLoss,
        finish: () => tp.loss(),
        dispose: () => tp.dispose(),
      };
    }
    const st = ctx.states.find((s) => s.name === name);
    if (st === undefined || st.impl === null) return { kind: 'error', message: st?.error ?? 'not initialised' };
    const impl = st.impl;
    if (!impl.supports(fig.dtype)) return { kind: 'na', reason: `${name} has no ${fig.dtype}` };
    await impl.activate();
    const activate = (): Promise<void> => impl.activate();
    if (task.gemm !== undefined) {
      const { n, op } = task.gemm;
      let p: AnyPrepared;
      if ((name === 'tfjs-cpu' || name === 'tfjs-wasm') && op !== 'A@B' && fig.dtype === 'float32') {
        const variant = ctx.chosen.get(gemmKey(name, op, n));
        if (variant !== 'flags' && variant !== 'tf.transpose') throw new Error('no tfjs GEMM variant chosen');
        fig.ran.set(name, variant);
        p = (impl as TfjsImpl).gemm(n, op, fig.dtype, variant);
      } else {
        p = impl.gemm(n, op, fig.dtype);
      }
      return { name, sampler: samplerOf(p, activate), dispose: async () => p.dispose() };
    }
    const spec = task.spec!;
    let p: AnyPrepared;
    if (name === 'tfjs-cpu' || name === 'tfjs-wasm') {
      const formulation = ctx.chosen.get(chosenKey(name, spec));
      if (formulation === undefined) throw new Error('no tfjs formulation chosen');
      fig.ran.set(name, formulation);
      p = (impl as TfjsImpl).formulation(spec, fig.dtype, formulation);
    } else {
      p = impl.mlp(spec, fig.dtype);
    }
    const firstLoss = await lossOf(p);
    return {
      name,
      sampler: samplerOf(p, activate),
      firstLoss,
      // Another tfjs backend may be current by now: a step on the wrong one would move (and
      // here corrupt) this instance's tensors.
      finish: async () => {
        await activate();
        return (await lossOf(p)) ?? NaN;
      },
      dispose: async () => p.dispose(),
    };
  } catch (e) {
    if (e instanceof DeadlineExceeded) return { kind: 'skipped', reason: e.message };
    return { kind: 'error', message: errorMessage(e) };
  }
}

/** Measure one figure: every implementation, interleaved. */
async function runFigure(ctx: Ctx, task: Task, opts: MeasureOptions, pinned: boolean): Promise<void> {
  const { fig } = task;
  const window = CpuWindow.start(ctx.pids);
  const entries: Entry[] = [];
  for (const name of ctx.implNames) {
    const e = await prepareEntry(ctx, name, task, pinned);
    if ('kind' in e) fig.cells.set(name, e);
    else entries.push(e);
  }
  try {
    const results = await measureInterleaved(entries.map((e) => e.sampler), opts);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      const r = results[i];
      if (r instanceof Error) {
        fig.cells.set(e.name, r instanceof DeadlineExceeded ? { kind: 'skipped', reason: r.message } : { kind: 'error', message: errorMessage(r) });
        continue;
      }
      let loss: number | undefined;
      try {
        loss = e.finish ? await e.finish() : undefined;
      } catch (err) {
        fig.cells.set(e.name, { kind: 'error', message: `loss check: ${errorMessage(err)}` });
        continue;
      }
      fig.cells.set(e.name, okCell(r, task.toValue, e.firstLoss, loss));
    }
  } finally {
    for (const e of entries) {
      try {
        await e.dispose();
      } catch {
        /* a failing dispose must not hide the figure */
      }
    }
    fig.load = window?.end() ?? null;
  }
}

function okCell(stats: Stats, toValue: (ms: number) => number, firstLoss: number | undefined, loss: number | undefined): Cell {
  const a = toValue(stats.q1);
  const b = toValue(stats.q3);
  return {
    kind: 'ok',
    stats,
    value: toValue(stats.median),
    q1: Math.min(a, b),
    q3: Math.max(a, b),
    cpuValue: toValue(stats.cpuMedian),
    firstLoss,
    loss,
  };
}

// ---------------------------------------------------------------------------------------
// tfjs formulations

/** One way to write a figure's work in tfjs, for {@link calibrate}. */
interface Candidate {
  readonly id: string;
  readonly make: () => AnyPrepared;
}

/** What {@link calibrate} is choosing for. */
interface CalibrationTarget {
  readonly workload: Figure['workload'];
  readonly caseLabel: string;
  readonly metric: Metric;
  readonly toValue: (ms: number) => number;
  /** 'measured', or 'given' when the command line named the candidates. */
  readonly how: 'measured' | 'given';
}

/**
 * Choose how tfjs writes one figure on one backend: time the candidates in interleaved
 * rounds and take the fastest whose first loss (training steps) agrees with the first
 * candidate's.
 */
async function calibrate(
  st: ImplState,
  target: CalibrationTarget,
  candidates: readonly Candidate[],
  opts: MeasureOptions,
  pids: () => number[],
): Promise<Calibration> {
  const impl = st.impl as TfjsImpl;
  const window = CpuWindow.start(pids);
  await impl.activate();
  const activate = (): Promise<void> => impl.activate();
  const prepared: { id: string; p: AnyPrepared | null; firstLoss: number | null; note: string | null }[] = [];
  for (const c of candidates) {
    try {
      const p = c.make();
      prepared.push({ id: c.id, p, firstLoss: (await lossOf(p)) ?? null, note: null });
    } catch (e) {
      prepared.push({ id: c.id, p: null, firstLoss: null, note: `error: ${errorMessage(e)}` });
    }
  }
  const ref = prepared.find((x) => x.firstLoss !== null)?.firstLoss ?? null;
  for (const x of prepared) {
    if (x.firstLoss === null || ref === null) continue;
    if (!Number.isFinite(x.firstLoss) || Math.abs(x.firstLoss - ref) > 1e-3 * Math.max(1, Math.abs(ref))) {
      x.note = `first loss differs from ${prepared[0].id}'s ${ref.toFixed(5)}: not eligible`;
    }
  }
  const live = prepared.filter((x) => x.p !== null);
  const results = await measureInterleaved(live.map((x) => samplerOf(x.p!, activate)), opts);
  const rows: FormulationTiming[] = [];
  const { toValue } = target;
  for (const x of prepared) {
    const i = live.indexOf(x);
    const r = i >= 0 ? results[i] : null;
    if (r === null || r instanceof Error) {
      rows.push({ id: x.id, ms: null, median: null, q1: null, q3: null, samples: 0, firstLoss: x.firstLoss, note: x.note ?? (r instanceof Error ? `error: ${errorMessage(r)}` : null) });
    } else {
      const a = toValue(r.q1);
      const b = toValue(r.q3);
      rows.push({ id: x.id, ms: r.median, median: toValue(r.median), q1: Math.min(a, b), q3: Math.max(a, b), samples: r.samples, firstLoss: x.firstLoss, note: x.note });
    }
    x.p?.dispose();
  }
  const eligible = rows.filter((row) => row.ms !== null && row.note === null);
  const best = [...eligible].sort((a, b) => a.ms! - b.ms!)[0];
  if (best === undefined) throw new Error(`no tfjs candidate could be timed: ${rows.map((r) => `${r.id}: ${r.note ?? '?'}`).join('; ')}`);
  return { workload: target.workload, caseLabel: target.caseLabel, impl: st.name, how: target.how, chosen: best.id, metric: target.metric, rows, load: window?.end() ?? null };
}

function gemmKey(impl: ImplName, op: GemmOp, n: number): string {
  return `${impl} W1/${op}/${n}`;
}

/**
 * The tfjs formulation of a training-step figure, or the variant of a transposed GEMM, on
 * one backend: fixed, or timed among the candidates `which` names.
 */
async function chooseTfjs(st: ImplState, t: Task, which: string, opts: MeasureOptions, pids: () => number[]): Promise<Calibration> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tj = require('./lib/tfjs_impl') as typeof import('./lib/tfjs_impl');
  const impl = st.impl as TfjsImpl;
  const backend = impl.backend;
  const caseLabel = t.fig.caseLabel.replace(/, 1 thread.*$/, '');
  const target = { workload: t.fig.workload, caseLabel, metric: t.fig.metric, toValue: t.toValue };
  if (t.gemm !== undefined) {
    const { n, op } = t.gemm;
    if (which === 'fixed') return { ...target, impl: st.name, how: 'fixed', chosen: tj.TFJS_FIXED_GEMM[backend], rows: [], load: null };
    const candidates = tj.TFJS_GEMM_VARIANTS.map((v) => ({ id: v.id, make: () => impl.gemm(n, op, 'float32', v.id) }));
    return calibrate(st, { ...target, how: 'measured' }, candidates, opts, pids);
  }
  const spec = t.spec!;
  if (which === 'fixed') return { ...target, impl: st.name, how: 'fixed', chosen: tj.TFJS_FIXED_CHOICE[backend][spec.id], rows: [], load: null };
  const applicable = tj.tfjsFormulationsFor(spec).map((f) => f.id);
  let ids: string[];
  if (which === 'all') ids = applicable;
  else if (which === 'short') ids = tj.TFJS_SHORTLIST[backend].filter((id) => applicable.includes(id));
  else ids = which.split(';').map((x) => x.trim()).filter((x) => x.length > 0);
  const candidates = ids.map((id) => ({ id, make: () => impl.formulation(spec, 'float32', id) }));
  return calibrate(st, { ...target, how: which === 'short' || which === 'all' ? 'measured' : 'given' }, candidates, opts, pids);
}

// ---------------------------------------------------------------------------------------
// Memory child

function runMemoryChild(impl: ImplName, mode: Mode, maxMs: number): Promise<MemoryResult> {
  return new Promise((resolve, reject) => {
    const child = fork(
      path.join(__dirname, 'lib', 'memory_child.ts'),
      [impl, String(mode.memSteps), String(mode.memFrom), String(Math.round(maxMs))],
      {
        execArgv: ['--expose-gc', '-r', require.resolve('ts-node/register/transpile-only')],
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      },
    );
    let stderr = '';
    let settled = false;
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('message', (m: MemoryMessage) => {
      settled = true;
      if (m.ok) resolve(m.result);
      else reject(new Error(m.error));
    });
    child.on('error', (e) => {
      if (!settled) reject(e);
      settled = true;
    });
    child.on('exit', (code) => {
      if (!settled) {
        settled = true;
        const last = stderr.trim().split('\n').filter((l) => l.trim().length > 0);
        reject(new Error(`memory child exited with code ${code}: ${last.slice(-1)[0] ?? 'no output'}`));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      only: { type: 'string' },
      impl: { type: 'string' },
      dtype: { type: 'string' },
      'mem-impl': { type: 'string' },
      out: { type: 'string' },
      activation: { type: 'string' },
      'tfjs-formulations': { type: 'string' },
      pin: { type: 'boolean', default: false },
      'pin-cpu': { type: 'string' },
      'skip-pinned': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  jsonMode = values.json === true;
  const mode = values.quick ? QUICK : FULL;
  const only = parseList('--only', values.only, WORKLOADS, WORKLOADS);
  const implNames = parseList('--impl', values.impl, IMPL_NAMES, IMPL_NAMES);
  const activations = parseList('--activation', values.activation, ACTIVATIONS, ['relu']);
  const memImpls = parseList('--mem-impl', values['mem-impl'], IMPL_NAMES, ['tapegrad']);
  const mlpDTypes = parseList('--dtype', values.dtype, ['float32', 'float64'] as const, mode.mlpDTypes);
  const tfjsWhich = values['tfjs-formulations'] ?? mode.tfjsFormulations;
  if (!['short', 'all', 'fixed'].includes(tfjsWhich) && implNames.some((n) => n.startsWith('tfjs'))) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const known = (require('./lib/tfjs_impl') as typeof import('./lib/tfjs_impl')).TFJS_FORMULATIONS.map((f) => f.id);
    const bad = tfjsWhich.split(';').map((x) => x.trim()).filter((x) => !known.includes(x));
    if (bad.length > 0) {
      throw new Error(`--tfjs-formulations: 'short', 'all', 'fixed' or formulation ids separated by ';'; unknown: ${bad.map((b) => `'${b}'`).join(', ')} (known: ${known.join(' | ')})`);
    }
  }
  const pinCpu = values['pin-cpu'] ?? '0';
  if (!/^\d+$/.test(pinCpu)) throw new Error(`--pin-cpu: must be a CPU number, got '${pinCpu}'`);
  const want = (w: WorkloadName): boolean => only.includes(w);
  const started = nowMs();
  const startDate = new Date();

  // Load before anything of ours runs; the two-thread check before pinning (pinned, both
  // threads would share one CPU).
  const loadStart = loadAverages();
  const twoThreadStart = await twoThreadCheck();
  let pinnedRun: string | null = null;
  // --pin: every figure pinned (pinAll) and labelled with runLabel; if taskset fails, the run
  // goes on with tapegrad on one thread, unpinned, and says so.
  let pinAll = false;
  let runLabel: string | null = null;
  if (values.pin) {
    const original = allowedCpus() ?? '?';
    const err = pinProcess(process.pid, pinCpu);
    // Read when tapegrad decides its thread count; setGemmThreads(1) below as well.
    process.env.TAPEGRAD_THREADS = '1';
    if (err === null) {
      pinAll = true;
      runLabel = `1 thread, pinned to CPU ${pinCpu}`;
      pinnedRun = `this process (every thread) and the PyTorch peer pinned to CPU ${pinCpu} with taskset (was ${original}); tapegrad's GEMMs on one thread`;
    } else {
      runLabel = '1 thread, not pinned';
      pinnedRun = `asked for (--pin), but pinning to CPU ${pinCpu} failed (${err}): the process was NOT pinned; tapegrad's GEMMs ran on one thread`;
      progress(`--pin: could not pin this process to CPU ${pinCpu}: ${err}; running unpinned with tapegrad on one thread`);
    }
  }

  progress(`tapegrad benchmarks (${values.quick ? 'quick' : 'full'}): ${only.join(',')} on ${implNames.join(', ')}${runLabel !== null ? `, ${runLabel}` : ''}`);
  const states: ImplState[] = [];
  for (const name of implNames.filter((n) => n !== 'torch')) {
    const s = await initImpl(name);
    progress(s.error === null ? `  ${name}: ready` : `  ${name}: error: ${s.error}`);
    states.push(s);
  }
  const tgImpl = (states.find((s) => s.name === 'tapegrad')?.impl ?? null) as TapegradImpl | null;
  if (values.pin && tgImpl !== null) await tgImpl.setGemmThreads(1);
  const needTorch = implNames.includes('torch') && (want('W2') || want('W3') || want('W4'));
  const torch = needTorch ? await startTorch() : null;
  if (torch !== null) progress(torch.peer !== null ? `  torch: ready (${torch.peer.info.torch}, BLAS ${torch.peer.info.blas})` : `  torch: skipped: ${torch.reason}`);
  const torchNote = !implNames.includes('torch')
    ? null
    : torch === null
      ? 'not run (no W2-W4 selected)'
      : torch.reason !== null
        ? `skipped: ${torch.reason}`
        : null;

  const ctx: Ctx = {
    states,
    torch,
    implNames,
    chosen: new Map(),
    torchChoices: [],
    pids: () => [process.pid, ...(torch?.peer ? [torch.peer.pid] : [])],
  };
  const runWindow = CpuWindow.start(ctx.pids);

  // Plan every figure first, then measure them in order. In quick mode each figure gets a
  // share of the remaining time budget in proportion to its weight, so slow figures late in
  // the run (or a loaded machine) shorten sampling instead of blowing the minute.
  const figures: Figure[] = [];
  const tasks: Task[] = [];
  const timedDeadline = started + mode.deadlineMs - (want('MEM') ? mode.memReserveMs : 0);
  const newFigure = (workload: Figure['workload'], caseLabel: string, dtype: DType, metric: Metric, extra: Record<string, string | number>, pinned: boolean): Figure => ({
    workload, caseLabel, dtype, metric, extra, cells: new Map(), ran: new Map(), pinned, load: null,
  });
  const pinLabel = `1 thread, pinned to CPU ${pinCpu}`;

  if (want('W1')) {
    for (const n of mode.gemmSizes) {
      const flops = gemmFlops(n);
      for (const op of GEMM_OPS) {
        for (const dtype of ['float32', 'float64'] as const) {
          const fig = newFigure('W1', `${op} n=${n}${runLabel !== null ? `, ${runLabel}` : ''}`, dtype, 'GFLOP/s', { op, n }, pinAll);
          figures.push(fig);
          tasks.push({ fig, gemm: { n, op }, opts: mode.timing, toValue: (ms) => flops / (ms * 1e6), weight: (n / 256) ** 3 });
        }
      }
    }
  }
  // Measurement order: the cheap W1 and W4 first (their sampling is capped by budgetMs, so
  // they take little of the budget), then the heavy W2 and W3, then MEM with what is left.
  const pinnedExtra = !values.pin && !values['skip-pinned'] && want('W2') && mlpDTypes.includes('float32');
  for (const id of ['W4', 'W2', 'W3'] as const) {
    if (!want(id)) continue;
    const micro = MLP_SPECS[id].unit === 'µs/step';
    const opts: MeasureOptions = micro ? { ...mode.timing, warmupMs: mode.w4WarmupMs } : mode.timing;
    // Activations of one dtype run back to back, so their ratios come from the same stretch of machine load.
    for (const dtype of mlpDTypes) for (const activation of activations) {
      const spec = withActivation(MLP_SPECS[id], activation);
      const base = `batch ${spec.batch}, ${spec.dims.join('-')}${spec.batchNorm ? ', BN' : ''}${activation === 'relu' ? '' : `, ${activation}`}`;
      const toValue = (ms: number): number => (micro ? ms * 1000 : ms);
      const fig = newFigure(id, runLabel !== null ? `${base}, ${runLabel}` : base, dtype, spec.unit, {}, pinAll);
      figures.push(fig);
      tasks.push({ fig, spec, opts, toValue, weight: micro ? 3 : 8 });
      if (pinnedExtra && id === 'W2' && dtype === 'float32' && activation === 'relu') {
        const pfig = newFigure(id, `${base}, ${pinLabel}`, dtype, spec.unit, {}, true);
        figures.push(pfig);
        tasks.push({ fig: pfig, spec, opts, toValue, weight: 8 });
      }
    }
  }

  // Per-cell weights: n/a and failed implementations take no time.
  const liveCells = (t: Task): number =>
    implNames.filter((n) => {
      if (n === 'torch') return torch?.peer != null && t.spec !== undefined;
      const s = states.find((x) => x.name === n);
      return s?.impl != null && s.impl.supports(t.fig.dtype);
    }).length;
  let remainingWeight = 0;
  for (const t of tasks) remainingWeight += t.weight * liveCells(t);

  const workloadLoads: WorkloadLoad[] = [];
  let groupWindow: CpuWindow | null = null;
  let pinnedNote: string | null = null;
  const calibrations: Calibration[] = [];
  const tfjsStates = states.filter((s) => (s.name === 'tfjs-cpu' || s.name === 'tfjs-wasm') && s.impl !== null);

  for (const t of tasks) {
    const w = t.weight * liveCells(t);
    // A new workload: record the load before it and close the previous one's window.
    if (workloadLoads.length === 0 || workloadLoads[workloadLoads.length - 1].workload !== t.fig.workload) {
      if (groupWindow !== null) workloadLoads[workloadLoads.length - 1].others = groupWindow.end();
      const loadavg = loadAverages();
      const check: TwoThreadCheck | null = pinAll ? null : await twoThreadCheck();
      workloadLoads.push({ workload: t.fig.workload, loadavg, twoThread: check, ...(pinAll ? { twoThreadNote: 'not run (pinned: both threads would share one CPU)' } : {}), others: null });
      groupWindow = CpuWindow.start(ctx.pids);
      progress(`  ${t.fig.workload}: load average ${loadavg.map((x) => x.toFixed(2)).join(' ')}${check ? `, two-thread check ${check.ratio.toFixed(2)} (SIMD ${check.simd?.ratio.toFixed(2) ?? 'n/a'})` : ''}`);
    }
    // How tfjs writes this figure (float32 only; once per workload and activation, or per
    // transposed GEMM form and size).
    if (t.fig.dtype === 'float32' && (t.spec !== undefined || (t.gemm !== undefined && t.gemm.op !== 'A@B'))) {
      for (const st of tfjsStates) {
        const key = t.spec !== undefined ? chosenKey(st.name, t.spec) : gemmKey(st.name, t.gemm!.op, t.gemm!.n);
        if (ctx.chosen.has(key)) continue;
        const cal = await chooseTfjs(st, t, tfjsWhich, mode.calibration, ctx.pids);
        calibrations.push(cal);
        ctx.chosen.set(key, cal.chosen);
        progress(`  ${t.fig.workload} ${t.fig.caseLabel} ${st.name}: ${cal.how === 'fixed' ? 'fixed' : 'fastest'} ${cal.chosen}` +
          (cal.rows.length > 0 ? ` (${cal.rows.map((r) => `${r.id} ${r.median === null ? r.note : r.median.toFixed(1)}`).join('; ')})` : ''));
      }
    }

    const now = nowMs();
    if (Number.isFinite(timedDeadline) && now > timedDeadline) {
      for (const n of implNames) t.fig.cells.set(n, { kind: 'skipped', reason: 'quick-mode time limit' });
      remainingWeight -= w;
      continue;
    }
    const share = remainingWeight > 0 ? ((timedDeadline - now) * w) / remainingWeight : Infinity;
    const opts: MeasureOptions = Number.isFinite(share) ? { ...t.opts, deadline: now + share, hardDeadline: timedDeadline } : t.opts;

    const threadsBefore = tgThreadCounts(tgImpl);
    const extraPin = t.fig.pinned && !values.pin;
    if (extraPin) {
      const restore = await pinFor(ctx, tgImpl, pinCpu);
      if (typeof restore === 'string') {
        pinnedNote = `not measured: ${restore}`;
        figures.splice(figures.indexOf(t.fig), 1);
        remainingWeight -= w;
        continue;
      }
      try {
        await runFigure(ctx, t, opts, true);
      } finally {
        await restore();
      }
    } else {
      await runFigure(ctx, t, opts, pinAll);
    }
    remainingWeight -= w;
    progress(
      `  ${t.fig.workload} ${t.fig.caseLabel} ${t.fig.dtype}: ` +
        implNames.map((n) => `${n} ${cellText(t.fig.cells.get(n), 60)}`).join(', ') +
        ` ${t.fig.metric}` + (t.fig.load ? ` (others ${t.fig.load.othersCores.toFixed(2)} cores)` : '') +
        threadDelta(threadsBefore, tgThreadCounts(tgImpl)),
    );
  }
  if (groupWindow !== null && workloadLoads.length > 0) workloadLoads[workloadLoads.length - 1].others = groupWindow.end();

  // W2 float64 against float32 on tapegrad, step for step: the two figures above are timed
  // minutes apart, so a change in the machine's load between them moves their ratio; here
  // every pair of steps shares the same moment.
  let dtypePair: DtypePair | null = null;
  if (want('W2') && mlpDTypes.includes('float64') && mlpDTypes.includes('float32') && tgImpl !== null) {
    progress('  W2 float64 vs float32 on tapegrad, interleaved…');
    try {
      dtypePair = pairDtypes(tgImpl, MLP_SPECS.W2, PAIRS);
      progress(`  W2 float64 ÷ float32: ${dtypePair.ratio.toFixed(2)}× (median of ${dtypePair.pairs} pairs)`);
    } catch (e) {
      progress(`  W2 float64 vs float32: error: ${errorMessage(e)}`);
    }
  }

  // The MEM child needs a few seconds to start (ts-node) plus its capped run.
  const pastDeadline = (): boolean => started + mode.deadlineMs - nowMs() < MEM_MIN_MS;
  const memory: MemoryEntry[] = [];
  if (want('MEM')) {
    for (const name of memImpls) {
      if (!implNames.includes(name)) continue;
      const st = states.find((s) => s.name === name);
      if (st?.error) {
        memory.push({ impl: name, result: null, error: st.error });
        continue;
      }
      if (pastDeadline()) {
        memory.push({ impl: name, result: null, error: 'skipped (quick-mode time limit)' });
        continue;
      }
      progress(`  MEM ${name}: ${mode.memSteps} W2 steps in a child process…`);
      try {
        const capMs = Number.isFinite(mode.deadlineMs)
          ? Math.max(1000, Math.min(mode.memMaxMs, started + mode.deadlineMs - nowMs() - 4500))
          : mode.memMaxMs;
        const result = await runMemoryChild(name, mode, capMs);
        memory.push({ impl: name, result, error: null });
      } catch (e) {
        memory.push({ impl: name, result: null, error: errorMessage(e) });
      }
    }
  }

  const runLoad: OthersLoad | null = runWindow?.end() ?? null;
  const twoThreadEnd = pinAll ? null : await twoThreadCheck();
  await torch?.peer?.close();
  const elapsedS = (nowMs() - started) / 1000;
  // Table order W1, W2, W3, W4 (measurement order put the cheap W4 first); sort is stable.
  figures.sort((a, b) => a.workload.localeCompare(b.workload));

  const describe: string[] = [];
  for (const s of states) {
    if (s.impl) describe.push(`- ${s.name}: ${Object.entries(s.impl.describe()).map(([k, v]) => `${k} ${v}`).join('; ')}`);
    else describe.push(`- ${s.name}: error: ${s.error}`);
  }
  if (torch?.peer) {
    const i = torch.peer.info;
    describe.push(`- torch: PyTorch ${i.torch} (Python ${i.python}); threads ${i.threads} (interop ${i.interopThreads}); BLAS mapped: ${i.blas}`);
  } else if (torchNote !== null) {
    describe.push(`- torch: ${torchNote}`);
  }
  const formulations = tfjsStates.length > 0
    ? // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require('./lib/tfjs_impl') as typeof import('./lib/tfjs_impl')).TFJS_FORMULATIONS
    : [];
  const gemmVariants = tfjsStates.length > 0
    ? // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require('./lib/tfjs_impl') as typeof import('./lib/tfjs_impl')).TFJS_GEMM_VARIANTS
    : [];
  const formulationTexts = new Map([...formulations.map((f) => [f.id, f.text] as const), ...gemmVariants.map((v) => [v.id, v.text] as const)]);
  const customGradIds = new Set(formulations.filter((f) => f.flaglessGrad || f.batchNorm === 'customGrad').map((f) => f.id));
  const report: RunReport = {
    argv,
    quick: values.quick === true,
    startDate,
    elapsedS,
    implNames,
    describe,
    figures,
    calibrations,
    formulationTexts,
    customGradIds,
    torchChoices: ctx.torchChoices,
    torchNote,
    loadStart,
    loadEnd: loadAverages(),
    twoThreadStart,
    twoThreadEnd,
    workloadLoads,
    runLoad,
    pinnedRun,
    pinnedNote,
    tapegradThreads: tgImpl?.gemmThreadCount() ?? 1,
    dtypePair,
    memory,
    memSteps: mode.memSteps,
    memFrom: mode.memFrom,
    tgTransposed: tgImpl?.describe()['transposed GEMM via'] ?? '(not measured)',
  };
  for (const l of consoleLines(report)) say(l);
  if (jsonMode) for (const l of jsonLines(report)) process.stdout.write(l + '\n');
  const outPath = values.out !== undefined ? path.resolve(values.out) : path.join(__dirname, 'RESULTS.md');
  fs.writeFileSync(outPath, markdown(report));
  progress(`wrote ${path.relative(process.cwd(), outPath)}`);
}

/**
 * Pin this process and the PyTorch peer to one CPU and tapegrad to one thread.
 *
 * @returns a function that undoes it, or why pinning failed (nothing changed then).
 */
async function pinFor(ctx: Ctx, tg: TapegradImpl | null, cpu: string): Promise<(() => Promise<void>) | string> {
  const original = allowedCpus();
  if (original === null) return 'CPU affinity unknown here (no /proc/self/status)';
  const err = pinProcess(process.pid, cpu);
  if (err !== null) return `taskset failed: ${err}`;
  const peer = ctx.torch?.peer ?? null;
  const peerOriginal = peer !== null ? allowedCpus(peer.pid) : null;
  if (peer !== null) pinProcess(peer.pid, cpu);
  const threads = tg?.gemmThreadCount() ?? 1;
  if (tg !== null) await tg.setGemmThreads(1);
  progress(`  pinned to CPU ${cpu} (was ${original}), tapegrad on one thread`);
  return async () => {
    pinProcess(process.pid, original);
    if (peer !== null && peerOriginal !== null) pinProcess(peer.pid, peerOriginal);
    if (tg !== null && threads === 2) await tg.setGemmThreads(2);
  };
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${errorMessage(e)}\n`);
  process.exitCode = 1;
});

/** Step pairs timed by {@link pairDtypes}. */
const PAIRS = 21;

/**
 * Times `pairs` pairs of training steps, one float32 step then one float64 step of the same
 * workload, after 3 warm-up steps of each.
 *
 * @param impl - the implementation (must support both dtypes).
 * @param spec - the workload.
 * @param pairs - how many pairs.
 */
function pairDtypes(impl: Impl, spec: MlpSpec, pairs: number): DtypePair {
  const f32 = impl.mlp(spec, 'float32');
  const f64 = impl.mlp(spec, 'float64');
  try {
    for (let i = 0; i < 3; i++) {
      f32.run();
      f64.run();
    }
    const t32: number[] = [];
    const t64: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < pairs; i++) {
      let t0 = nowMs();
      f32.run();
      const a = nowMs() - t0;
      t0 = nowMs();
      f64.run();
      const b = nowMs() - t0;
      t32.push(a);
      t64.push(b);
      ratios.push(b / a);
    }
    return { ratio: median(ratios), f32Ms: median(t32), f64Ms: median(t64), pairs };
  } finally {
    f32.dispose();
    f64.dispose();
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** tapegrad's two-thread GEMM counters now (null when it has none or is not loaded). */
function tgThreadCounts(tg: TapegradImpl | null | undefined): { split: number; worker: number; stolen: number; rests: number } | null {
  const t = tg?.threadStats();
  return t ?? null;
}

/** What tapegrad's helper thread did during one figure, for the progress line ('' if nothing). */
function threadDelta(
  a: ReturnType<typeof tgThreadCounts>,
  b: ReturnType<typeof tgThreadCounts>,
): string {
  if (a === null || b === null || b.split === a.split) return '';
  return ` [tapegrad threads: ${b.split - a.split} split calls, ${b.worker - a.worker} chunks by the worker, ` +
    `${b.stolen - a.stolen} taken over, ${b.rests - a.rests} rests]`;
}
