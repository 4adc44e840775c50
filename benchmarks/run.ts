/**
 * Benchmark runner: tapegrad against TensorFlow.js (`cpu` and `wasm` backends, one thread)
 * on the same workloads, in the same process run.
 *
 * ```
 * npm run bench                       # full run, writes benchmarks/RESULTS.md
 * npm run bench -- --quick            # reduced sizes and samples, under a minute
 * npm run bench -- --json             # one JSON line per figure on stdout (table on stderr)
 * npm run bench -- --only W1,W2       # a subset of W1, W2, W3, W4, MEM
 * npm run bench -- --impl tfjs-wasm   # a subset of tapegrad, tfjs-cpu, tfjs-wasm
 * ```
 *
 * Figures are measured workload by workload with the implementations interleaved, so that
 * load from other processes on the shared machine hits every implementation alike. Errors
 * are caught per implementation and per figure and shown as `error: <message>`.
 *
 * @packageDocumentation
 */

import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { IMPL_NAMES, ImplName, createImpl } from './lib/impls';
import type { MemoryMessage, MemoryResult } from './lib/memory_child';
import { DeadlineExceeded, MeasureOptions, Stats, measure, nowMs } from './lib/timing';
import {
  ACTIVATIONS,
  DType,
  GEMM_OPS,
  Impl,
  MLP_SPECS,
  MlpSpec,
  MlpId,
  Prepared,
  errorMessage,
  gemmFlops,
  withActivation,
} from './lib/workloads';

/** Workload selectors accepted by `--only`. */
const WORKLOADS = ['W1', 'W2', 'W3', 'W4', 'MEM'] as const;
type WorkloadName = (typeof WORKLOADS)[number];

const HELP = `Usage: npm run bench -- [options]

Benchmarks tapegrad against TensorFlow.js (cpu and wasm backends, one thread).

Options:
  --quick           W1 at n=256 only, W2-W4 in float32 only, 3 samples, MEM 200 steps
                    capped at 8 s; a 50 s budget is shared out among the figures, so
                    the run ends within a minute even on a loaded machine (figures
                    the budget cut short are marked '*', left out 'skipped'; MEM
                    runs only if 9 s are left)
  --json            print one JSON line per figure on stdout (the table goes to stderr);
                    use 'npm run -s bench -- --json' so npm's banner stays off stdout
  --only LIST       comma-separated subset of W1,W2,W3,W4,MEM (default: all)
  --impl LIST       comma-separated subset of ${IMPL_NAMES.join(',')} (default: all)
  --mem-impl LIST   implementations for MEM (default: tapegrad; tfjs W2 steps are slow)
  --activation LIST hidden activations for W2-W4, a subset of ${ACTIVATIONS.join(',')} (default:
                    relu); each is its own figure, run back to back per dtype
  --out FILE        where to write the Markdown report (default benchmarks/RESULTS.md)
  --help            show this help

Workloads:
  W1   GEMM C = A@B, A@Bt, At@B; n = 256, 512, 1024 (quick: 256); GFLOP/s
  W2   ${MLP_SPECS.W2.title}; ms/step
  W3   ${MLP_SPECS.W3.title}; ms/step
  W4   ${MLP_SPECS.W4.title}; µs/step
  MEM  W2 float32 for 1000 steps (quick: 200) in a child process: peak RSS, and heap
       growth between step 100 and the end (quick: 50)

Results are written to benchmarks/RESULTS.md (or --out). Ratios are speed ratios,
tapegrad speed / tfjs speed: above 1 means tapegrad is faster.
`;

/** Outcome of one implementation on one figure. */
type Cell =
  | {
      readonly kind: 'ok';
      readonly stats: Stats;
      /** Median in the figure's unit (from wall time). */
      readonly value: number;
      readonly q1: number;
      readonly q3: number;
      /** The figure computed from the median CPU time instead of wall time. */
      readonly cpuValue: number;
      readonly loss?: number;
    }
  | { readonly kind: 'na'; readonly reason: string }
  | { readonly kind: 'error'; readonly message: string }
  | { readonly kind: 'skipped'; readonly reason: string };

type Metric = 'GFLOP/s' | 'ms/step' | 'µs/step';

/** One row of the results: a workload case in one dtype, measured by every implementation. */
interface Figure {
  readonly workload: 'W1' | MlpId;
  readonly caseLabel: string;
  readonly dtype: DType;
  readonly metric: Metric;
  readonly extra: Record<string, string | number>;
  readonly cells: Map<ImplName, Cell>;
}

/** Settings that differ between quick and full runs. */
interface Mode {
  readonly gemmSizes: readonly number[];
  readonly mlpDTypes: readonly DType[];
  readonly timing: MeasureOptions;
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
}

/** Least time left in the budget for which the MEM child is still started (quick mode). */
const MEM_MIN_MS = 9_000;

const QUICK: Mode = {
  gemmSizes: [256],
  mlpDTypes: ['float32'],
  timing: { warmupCalls: 1, warmupMs: 100, minSamples: 3, maxSamples: 200, budgetMs: 200, minSampleMs: 5 },
  w4WarmupMs: 800,
  memSteps: 200,
  memFrom: 50,
  memMaxMs: 8_000,
  memReserveMs: 2_000,
  deadlineMs: 50_000,
};

const FULL: Mode = {
  gemmSizes: [256, 512, 1024],
  mlpDTypes: ['float32', 'float64'],
  timing: { warmupCalls: 1, warmupMs: 1000, minSamples: 5, maxSamples: 1000, budgetMs: 3000, minSampleMs: 20 },
  w4WarmupMs: 3000,
  memSteps: 1000,
  memFrom: 100,
  memMaxMs: 30 * 60_000,
  memReserveMs: 0,
  deadlineMs: Infinity,
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

/** Progress to stderr. */
function progress(line: string): void {
  process.stderr.write(line + '\n');
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 10) return v.toFixed(2);
  if (a >= 1) return v.toFixed(3);
  return v.toPrecision(3);
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}

function cellText(c: Cell | undefined, maxErr = 48): string {
  if (c === undefined) return '-';
  switch (c.kind) {
    case 'ok':
      return fmt(c.value) + (c.stats.truncated ? '*' : '');
    case 'na':
      return 'n/a';
    case 'skipped':
      return 'skipped';
    case 'error':
      return truncate(`error: ${c.message}`, maxErr);
  }
}

/** Speed ratio tapegrad / other (> 1: tapegrad faster), or null. */
function speedRatio(f: Figure, other: ImplName): number | null {
  const tg = f.cells.get('tapegrad');
  const ot = f.cells.get(other);
  if (tg?.kind !== 'ok' || ot?.kind !== 'ok') return null;
  return f.metric === 'GFLOP/s' ? tg.value / ot.value : ot.value / tg.value;
}

function ratioText(r: number | null): string {
  return r === null ? '-' : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

function textTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

function mdTable(header: string[], rows: string[][], rightFrom = 3): string[] {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map((_, i) => (i >= rightFrom ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ];
}

// ---------------------------------------------------------------------------------------
// Measuring

/** Result of initialising one implementation. */
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

/** Prepare, time and dispose one figure for one implementation; never throws. */
async function measureCell(
  state: ImplState,
  dtype: DType,
  prepare: (impl: Impl) => Prepared,
  opts: MeasureOptions,
  toValue: (ms: number) => number,
  wantLoss: boolean,
): Promise<Cell> {
  if (state.impl === null) return { kind: 'error', message: state.error ?? 'not initialised' };
  if (!state.impl.supports(dtype)) return { kind: 'na', reason: `${state.name} has no ${dtype}` };
  let prepared: Prepared | null = null;
  try {
    await state.impl.activate();
    prepared = prepare(state.impl);
    const p = prepared;
    const stats = measure(() => p.run(), opts);
    const loss = wantLoss && p.stepWithLoss ? p.stepWithLoss() : undefined;
    const a = toValue(stats.q1);
    const b = toValue(stats.q3);
    return {
      kind: 'ok',
      stats,
      value: toValue(stats.median),
      q1: Math.min(a, b),
      q3: Math.max(a, b),
      cpuValue: toValue(stats.cpuMedian),
      loss,
    };
  } catch (e) {
    if (e instanceof DeadlineExceeded) return { kind: 'skipped', reason: e.message };
    return { kind: 'error', message: errorMessage(e) };
  } finally {
    try {
      prepared?.dispose();
    } catch {
      /* a failing dispose must not hide the figure */
    }
  }
}

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
// Environment

function packageVersion(name: string): string {
  try {
    const p = require.resolve(`${name}/package.json`, { paths: [path.resolve(__dirname, '..')] });
    return (JSON.parse(fs.readFileSync(p, 'utf8')) as { version?: string }).version ?? '?';
  } catch {
    return 'not installed';
  }
}

function commandLine(argv: readonly string[]): string {
  const args = argv.join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${args ? ` -- ${args}` : ''}`;
  return `npx ts-node --transpile-only benchmarks/run.ts${args ? ` ${args}` : ''}`;
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
      'mem-impl': { type: 'string' },
      out: { type: 'string' },
      activation: { type: 'string' },
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
  const want = (w: WorkloadName): boolean => only.includes(w);
  const started = nowMs();
  const startDate = new Date();
  const loadStart = os.loadavg();

  progress(`tapegrad benchmarks (${values.quick ? 'quick' : 'full'}): ${only.join(',')} on ${implNames.join(', ')}`);
  const states: ImplState[] = [];
  for (const name of implNames) {
    const s = await initImpl(name);
    progress(s.error === null ? `  ${name}: ready` : `  ${name}: error: ${s.error}`);
    states.push(s);
  }

  // Plan every figure first, then measure them in order. In quick mode each cell gets a
  // share of the remaining time budget in proportion to its weight, so slow cells late in
  // the run (or a loaded machine) shorten sampling instead of blowing the minute.
  interface Task {
    readonly fig: Figure;
    readonly prepare: (impl: Impl) => Prepared;
    readonly opts: MeasureOptions;
    readonly toValue: (ms: number) => number;
    readonly wantLoss: boolean;
    readonly weight: number;
  }
  const figures: Figure[] = [];
  const tasks: Task[] = [];
  const timedDeadline = started + mode.deadlineMs - (want('MEM') ? mode.memReserveMs : 0);

  if (want('W1')) {
    for (const n of mode.gemmSizes) {
      const flops = gemmFlops(n);
      for (const op of GEMM_OPS) {
        for (const dtype of ['float32', 'float64'] as const) {
          const fig: Figure = { workload: 'W1', caseLabel: `${op} n=${n}`, dtype, metric: 'GFLOP/s', extra: { op, n }, cells: new Map() };
          figures.push(fig);
          tasks.push({
            fig,
            prepare: (impl) => impl.gemm(n, op, dtype),
            opts: mode.timing,
            toValue: (ms) => flops / (ms * 1e6),
            wantLoss: false,
            weight: (n / 256) ** 3,
          });
        }
      }
    }
  }
  // Measurement order: the cheap W1 and W4 first (their sampling is capped by budgetMs, so
  // they take little of the budget), then the heavy W2 and W3, then MEM with what is left.
  for (const id of ['W4', 'W2', 'W3'] as const) {
    if (!want(id)) continue;
    const micro = MLP_SPECS[id].unit === 'µs/step';
    const opts: MeasureOptions = micro ? { ...mode.timing, warmupMs: mode.w4WarmupMs } : mode.timing;
    // Activations of one dtype run back to back, so their ratios come from the same stretch of machine load.
    for (const dtype of mode.mlpDTypes) for (const activation of activations) {
      const spec = withActivation(MLP_SPECS[id], activation);
      const fig: Figure = {
        workload: id,
        caseLabel: `batch ${spec.batch}, ${spec.dims.join('-')}${spec.batchNorm ? ', BN' : ''}${activation === 'relu' ? '' : `, ${activation}`}`,
        dtype,
        metric: spec.unit,
        extra: {},
        cells: new Map(),
      };
      figures.push(fig);
      tasks.push({
        fig,
        prepare: (impl) => impl.mlp(spec, dtype),
        opts,
        toValue: (ms) => (micro ? ms * 1000 : ms),
        wantLoss: true,
        weight: micro ? 3 : 8,
      });
    }
  }

  // Per-cell weights: n/a and failed implementations take no time.
  const cellWeight = (t: Task, s: ImplState): number =>
    s.impl !== null && s.impl.supports(t.fig.dtype) ? t.weight : 0;
  let remainingWeight = 0;
  for (const t of tasks) for (const s of states) remainingWeight += cellWeight(t, s);

  for (const t of tasks) {
    for (const s of states) {
      const w = cellWeight(t, s);
      const now = nowMs();
      // Cheapest cold first call another implementation needed on this figure: a guess at
      // the least this cell will cost (one warm-up call and one sample).
      const firstCalls = [...t.fig.cells.values()].map((c) => (c.kind === 'ok' ? c.stats.firstCallMs : Infinity));
      const guess = Math.min(...firstCalls);
      if (w > 0 && Number.isFinite(timedDeadline) && (now > timedDeadline || (Number.isFinite(guess) && now + 2 * guess > timedDeadline))) {
        t.fig.cells.set(s.name, { kind: 'skipped', reason: 'quick-mode time limit' });
        remainingWeight -= w;
        continue;
      }
      const share = remainingWeight > 0 ? ((timedDeadline - now) * w) / remainingWeight : Infinity;
      const opts: MeasureOptions = Number.isFinite(share)
        ? { ...t.opts, deadline: now + share, hardDeadline: timedDeadline }
        : t.opts;
      t.fig.cells.set(s.name, await measureCell(s, t.fig.dtype, t.prepare, opts, t.toValue, t.wantLoss));
      remainingWeight -= w;
    }
    progress(
      `  ${t.fig.workload} ${t.fig.caseLabel} ${t.fig.dtype}: ` +
        states.map((s) => `${s.name} ${cellText(t.fig.cells.get(s.name), 60)}`).join(', ') +
        ` ${t.fig.metric}`,
    );
  }
  // W2 float64 against float32 on tapegrad, step for step: the two figures above are timed
  // minutes apart, so a change in the machine's load between them moves their ratio; here
  // every pair of steps shares the same moment.
  let dtypePair: DtypePair | null = null;
  const tgForPair = states.find((s) => s.name === 'tapegrad' && s.impl !== null);
  if (want('W2') && mode.mlpDTypes.includes('float64') && tgForPair?.impl) {
    progress('  W2 float64 vs float32 on tapegrad, interleaved…');
    try {
      await tgForPair.impl.activate();
      dtypePair = pairDtypes(tgForPair.impl, MLP_SPECS.W2, PAIRS);
      progress(`  W2 float64 ÷ float32: ${dtypePair.ratio.toFixed(2)}× (median of ${dtypePair.pairs} pairs)`);
    } catch (e) {
      progress(`  W2 float64 vs float32: error: ${errorMessage(e)}`);
    }
  }

  // The MEM child needs a few seconds to start (ts-node) plus its capped run.
  const pastDeadline = (): boolean => started + mode.deadlineMs - nowMs() < MEM_MIN_MS;

  const memory: { impl: ImplName; result: MemoryResult | null; error: string | null }[] = [];
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

  const elapsedS = (nowMs() - started) / 1000;
  // Table order W1, W2, W3, W4 (measurement order put the cheap W4 first); sort is stable.
  figures.sort((a, b) => a.workload.localeCompare(b.workload));
  const peers = implNames.filter((n) => n !== 'tapegrad');
  const hasTg = implNames.includes('tapegrad');

  // ---- console table
  const header = ['Workload', 'Case', 'dtype', 'unit', ...implNames, ...(hasTg ? peers.map((p) => `tg/${p.replace('tfjs-', '')}`) : [])];
  const rows = (maxErr: number): string[][] =>
    figures.map((f) => [
      f.workload,
      f.caseLabel,
      f.dtype,
      f.metric,
      ...implNames.map((n) => cellText(f.cells.get(n), maxErr)),
      ...(hasTg ? peers.map((p) => ratioText(speedRatio(f, p))) : []),
    ]);
  say();
  for (const l of textTable(header, rows(40))) say(l);
  if (hasTg && peers.length > 0) say('tg/x = speed of tapegrad ÷ speed of x (above 1: tapegrad faster).');
  if (figures.some((f) => [...f.cells.values()].some((c) => c.kind === 'ok' && c.stats.truncated))) {
    say('* fewer samples or warm-up calls than asked for: the time limit cut them short.');
  }
  const errors = new Map<string, string>();
  for (const f of figures) {
    for (const [n, c] of f.cells) if (c.kind === 'error') errors.set(`${n}: ${c.message}`, '');
  }
  for (const e of errors.keys()) say(`  error ${e}`);
  const memRows = memory.map((m) => memoryRow(m.impl, m.result, m.error));
  const memHeader = ['Impl', 'steps', 'peak RSS MiB', 'max sampled RSS MiB', 'heap growth MiB', 'external growth MiB', 'ms/step', 'notes'];
  if (memRows.length > 0) {
    say();
    for (const l of textTable(memHeader, memRows)) say(l);
  }
  if (dtypePair !== null) say(`\n${dtypePairText(dtypePair)}`);
  say(`\nfinished in ${elapsedS.toFixed(1)} s`);

  // ---- JSON lines
  if (jsonMode) {
    for (const f of figures) {
      for (const n of implNames) {
        const c = f.cells.get(n);
        if (c === undefined) continue;
        const base = { workload: f.workload, ...f.extra, case: f.caseLabel, impl: n, dtype: f.dtype, metric: f.metric };
        const line =
          c.kind === 'ok'
            ? {
                ...base, median: c.value, q1: c.q1, q3: c.q3, samples: c.stats.samples, reps: c.stats.reps,
                wallOverCpu: Number((c.stats.median / c.stats.cpuMedian).toFixed(3)),
                fromCpuTime: c.cpuValue,
                ...(c.stats.truncated ? { truncated: true } : {}),
              }
            : { ...base, median: null, samples: 0, status: c.kind, ...(c.kind === 'error' ? { error: c.message } : { reason: c.reason }) };
        process.stdout.write(JSON.stringify(line) + '\n');
      }
    }
    if (dtypePair !== null) {
      process.stdout.write(JSON.stringify({
        workload: 'W2', case: 'float64 / float32, interleaved', impl: 'tapegrad', metric: 'time ratio',
        median: dtypePair.ratio, samples: dtypePair.pairs, float32Ms: dtypePair.f32Ms, float64Ms: dtypePair.f64Ms,
      }) + '\n');
    }
    for (const m of memory) {
      const base = { workload: 'MEM', impl: m.impl, dtype: 'float32' };
      if (m.result === null) {
        process.stdout.write(JSON.stringify({ ...base, metric: 'peak RSS MiB', median: null, samples: 0, status: 'error', error: m.error }) + '\n');
        continue;
      }
      const r = m.result;
      const lines: [string, number | null][] = [
        ['peak RSS MiB', r.peakRssMiB],
        ['heap growth MiB', r.heapAtFromMiB === null ? null : r.heapAtEndMiB - r.heapAtFromMiB],
        ['external growth MiB', r.externalAtFromMiB === null ? null : r.externalAtEndMiB - r.externalAtFromMiB],
      ];
      for (const [metric, v] of lines) {
        process.stdout.write(JSON.stringify({ ...base, metric, median: v, samples: 1, steps: r.steps, fromStep: r.fromStep }) + '\n');
      }
    }
  }

  // ---- RESULTS.md
  const describe: string[] = [];
  for (const s of states) {
    if (s.impl) describe.push(`- ${s.name}: ${Object.entries(s.impl.describe()).map(([k, v]) => `${k} ${v}`).join('; ')}`);
    else describe.push(`- ${s.name}: error: ${s.error}`);
  }
  const cpus = os.cpus();
  const tgState = states.find((s) => s.name === 'tapegrad');
  const tgTransposed = tgState?.impl?.describe()['transposed GEMM via'] ?? '(not measured)';
  const md: string[] = [
    '# Benchmark results',
    '',
    `Generated by \`benchmarks/run.ts\` on ${startDate.toISOString()} (${values.quick ? 'quick mode' : 'full mode'}, ${elapsedS.toFixed(1)} s).`,
    '',
    '## How it was run',
    '',
    '```sh',
    commandLine(argv),
    '```',
    '',
    '## Machine and versions',
    '',
    `- CPU: ${cpus[0]?.model ?? 'unknown'}; ${cpus.length} logical cores; ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `- OS: ${os.type()} ${os.release()} ${os.arch()}`,
    `- Node ${process.version} (V8 ${process.versions.v8})`,
    `- Load average (1/5/15 min) at start: ${loadStart.map((x) => x.toFixed(2)).join(' / ')}; at end: ${os.loadavg().map((x) => x.toFixed(2)).join(' / ')}`,
    `- Packages: tapegrad ${selfVersion()}, ` +
      `@tensorflow/tfjs ${packageVersion('@tensorflow/tfjs')}, @tensorflow/tfjs-backend-wasm ${packageVersion('@tensorflow/tfjs-backend-wasm')}, ` +
      `typescript ${packageVersion('typescript')}, ts-node ${packageVersion('ts-node')}`,
    ...describe,
    '',
    '## Figures',
    '',
    'Medians over the samples after warm-up (GFLOP/s for W1: higher is better; ms or µs per step for W2–W4: lower is better). ' +
      '`tg/x` is a speed ratio, tapegrad speed ÷ speed of x: above 1 means tapegrad is faster. ' +
      'TensorFlow.js has no float64, so its float64 cells are n/a. ' +
      '`*` marks a figure whose warm-up or sampling the time limit cut short (see the sample counts under Spread); ' +
      '`skipped` a figure the time limit left out.',
    '',
    ...mdTable(header, rows(80)),
    '',
  ];
  if (errors.size > 0) {
    md.push('Errors:', '', ...[...errors.keys()].map((e) => `- ${e}`), '');
  }
  md.push(
    '### Spread',
    '',
    'Interquartile range of each figure (in the figure\'s unit), number of samples, and calls per sample ' +
      '(fast workloads are timed in batches of calls; each sample is the mean per call). ' +
      '`wall/CPU` is median wall time ÷ median CPU time of the process: well above 1 means other processes ' +
      'took the CPU from this one during the samples, so the figure understates the implementation; ' +
      '`from CPU time` is the figure computed from the median CPU time instead (closer to an idle machine, ' +
      'but it also counts V8\'s background GC/compiler threads). ' +
      '`loss check` is the training loss of one extra step after timing; it only shows that the step computes ' +
      'finite numbers (tfjs-cpu and tfjs-wasm share data and initialisation, tapegrad uses its own).',
    '',
    ...mdTable(
      ['Workload', 'Case', 'dtype', 'impl', 'median', 'Q1', 'Q3', 'samples', 'calls/sample', 'wall/CPU', 'from CPU time', 'loss check'],
      figures.flatMap((f) =>
        implNames.flatMap((n) => {
          const c = f.cells.get(n);
          if (c?.kind !== 'ok') return [];
          return [[
            f.workload, f.caseLabel, f.dtype, n, fmt(c.value) + (c.stats.truncated ? '*' : ''), fmt(c.q1), fmt(c.q3),
            String(c.stats.samples), String(c.stats.reps), (c.stats.median / c.stats.cpuMedian).toFixed(2), fmt(c.cpuValue),
            c.loss === undefined ? '' : c.loss.toFixed(4),
          ]];
        }),
      ),
      4,
    ),
    '',
  );
  if (dtypePair !== null) {
    md.push('### W2 float64 against float32 (tapegrad)', '', dtypePairText(dtypePair), '');
  }
  if (memory.length > 0) {
    md.push(
      '## Memory',
      '',
      `W2 (float32) for ${mode.memSteps} steps in a fresh child process (\`node --expose-gc\`). ` +
        `Peak RSS is the kernel high-water mark of that process (includes Node, ts-node and the library). ` +
        `Growth is measured after a forced full GC at step ${mode.memFrom} and after the last step; ` +
        '`external` holds typed-array and wasm memory.',
      '',
      ...mdTable(memHeader, memRows, 1),
      '',
    );
  }
  md.push(
    '## Notes',
    '',
    '- Threads: tfjs `cpu` is plain JavaScript on one thread; tfjs `wasm` (XNNPACK) is pinned with `setThreadsCount(1)` ' +
      'and, in Node, tfjs 4.x never enables wasm threads anyway. tapegrad runs everything on the main thread except ' +
      'large GEMMs, which it splits with one worker thread when the machine has 2 or more cores (the tapegrad line ' +
      'above says which applied); `TAPEGRAD_THREADS=1 npm run bench` measures it on one thread.',
    '- tfjs workloads are written with low-level ops: `tf.fused.matMul` (matmul + bias, + ReLU when no BatchNorm follows, ' +
      'as `tf.layers.dense` does), `tf.moments` + `tf.batchNorm` with running statistics, `tf.losses.softmaxCrossEntropy`, ' +
      'and `tf.train.sgd(...).minimize` (which disposes every intermediate). W1 uses `tf.matMul(a, b, transposeA, transposeB)`.',
    `- tapegrad's A@B is \`a.matmul(b)\`; its transposed GEMMs ran through ${tgTransposed}.`,
    '- tfjs-wasm runs `tf.matMul` through XNNPACK only without transpose flags; with `transposeA` or `transposeB` ' +
      'its BatchMatMul kernel falls back to a much slower loop (see the W1 A@Bt/At@B rows), and the matmul gradients ' +
      'in W2/W3 use those flags too.',
    '- The machine is shared with other work, so figures are medians with their IQR; compare ratios from the same run.',
    '',
  );
  const outPath = values.out !== undefined ? path.resolve(values.out) : path.join(__dirname, 'RESULTS.md');
  fs.writeFileSync(outPath, md.join('\n'));
  progress(`wrote ${path.relative(process.cwd(), outPath)}`);
}

function selfVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', 'package.json'), 'utf8')) as { version?: string }).version ?? '?';
  } catch {
    return '?';
  }
}

function memoryRow(impl: ImplName, r: MemoryResult | null, error: string | null): string[] {
  if (r === null) return [impl, '-', '-', '-', '-', '-', '-', truncate(`error: ${error ?? 'unknown'}`, 60)];
  const heap = r.heapAtFromMiB === null ? 'n/a' : fmt(r.heapAtEndMiB - r.heapAtFromMiB);
  const ext = r.externalAtFromMiB === null ? 'n/a' : fmt(r.externalAtEndMiB - r.externalAtFromMiB);
  const notes: string[] = [];
  notes.push(`growth from step ${r.fromStep} to ${r.steps}`);
  if (r.truncated) notes.push(`stopped by time cap after ${r.steps}/${r.requestedSteps} steps`);
  if (!r.gcExposed) notes.push('no --expose-gc');
  if (r.tfjsTensors) notes.push(`live tensors ${r.tfjsTensors.atFrom ?? '?'} → ${r.tfjsTensors.atEnd}`);
  return [impl, String(r.steps), fmt(r.peakRssMiB), fmt(r.peakSampledRssMiB), heap, ext, fmt(r.medianStepMs), notes.join('; ')];
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${errorMessage(e)}\n`);
  process.exitCode = 1;
});

/** Step pairs timed by {@link pairDtypes}. */
const PAIRS = 21;

/** W2 float32 and float64 steps timed alternately. */
interface DtypePair {
  /** Median of the per-pair time ratios float64 ÷ float32. */
  readonly ratio: number;
  /** Median step times, ms. */
  readonly f32Ms: number;
  readonly f64Ms: number;
  /** Pairs timed. */
  readonly pairs: number;
}

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

function dtypePairText(p: DtypePair): string {
  return (
    `W2 float64 ÷ float32 on tapegrad, timed step for step (one float32 step, then one float64 step, ${p.pairs} pairs): ` +
    `${p.ratio.toFixed(2)}× (median of the pair ratios; median steps ${fmt(p.f32Ms)} ms float32, ${fmt(p.f64Ms)} ms float64).`
  );
}

