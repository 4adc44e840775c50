/**
 * What the benchmark runner measured, and how it is shown: the console table, JSON lines,
 * and RESULTS.md (figures, tfjs formulations, PyTorch variants, machine load, spread, memory).
 *
 * @packageDocumentation
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ImplName } from './impls';
import {
  OTHERS_BUSY_CORES,
  OthersLoad,
  TWO_THREAD_BUSY_RATIO,
  TwoThreadCheck,
  loadText,
  twoThreadText,
} from './machine';
import type { MemoryResult } from './memory_child';
import type { Stats } from './timing';
import type { DType, MlpId } from './workloads';

/** Outcome of one implementation on one figure. */
export type Cell =
  | {
      readonly kind: 'ok';
      readonly stats: Stats;
      /** Median in the figure's unit (from wall time). */
      readonly value: number;
      readonly q1: number;
      readonly q3: number;
      /** The figure computed from the median CPU time instead of wall time. */
      readonly cpuValue: number;
      /** Loss of the first step from the initial parameters (before timing). */
      readonly firstLoss?: number;
      /** Loss of one extra step after timing. */
      readonly loss?: number;
    }
  | { readonly kind: 'na'; readonly reason: string }
  | { readonly kind: 'error'; readonly message: string }
  | { readonly kind: 'skipped'; readonly reason: string };

/** Unit of a figure. */
export type Metric = 'GFLOP/s' | 'ms/step' | 'µs/step';

/** One row of the results: a workload case in one dtype, measured by every implementation. */
export interface Figure {
  readonly workload: 'W1' | MlpId;
  readonly caseLabel: string;
  readonly dtype: DType;
  readonly metric: Metric;
  readonly extra: Record<string, string | number>;
  readonly cells: Map<ImplName, Cell>;
  /** What each peer ran: the tfjs formulation, the PyTorch SGD variant. */
  readonly ran: Map<ImplName, string>;
  /** Whether the process was pinned to one CPU and tapegrad ran on one thread. */
  readonly pinned: boolean;
  /** Other tenants' CPU use while the figure was measured (null: not measurable here). */
  load: OthersLoad | null;
}

/** One formulation's timing in a tfjs calibration. */
export interface FormulationTiming {
  readonly id: string;
  /** Median time per call, ms (what the choice is made on). */
  readonly ms: number | null;
  readonly median: number | null;
  readonly q1: number | null;
  readonly q3: number | null;
  readonly samples: number;
  readonly firstLoss: number | null;
  /** Why it was not timed or not eligible (error, loss mismatch). */
  readonly note: string | null;
}

/** How the tfjs formulation of one workload on one backend was chosen. */
export interface Calibration {
  readonly workload: 'W1' | MlpId;
  readonly caseLabel: string;
  readonly impl: ImplName;
  /** 'measured': timed here; 'fixed': the documented choice (quick mode); 'given': --tfjs-formulations named one. */
  readonly how: 'measured' | 'fixed' | 'given';
  readonly chosen: string;
  /** Unit of the medians ('ms/step' or 'µs/step'). */
  readonly metric: Metric;
  readonly rows: readonly FormulationTiming[];
  readonly load: OthersLoad | null;
}

/** The machine's state before one workload. */
export interface WorkloadLoad {
  readonly workload: string;
  readonly loadavg: readonly number[];
  readonly twoThread: TwoThreadCheck | null;
  /** Why the two-thread check did not run (pinned run). */
  readonly twoThreadNote?: string;
  /** Other tenants' CPU use over the whole workload (figures and calibrations). */
  others: OthersLoad | null;
}

/** A PyTorch SGD-variant choice. */
export interface TorchChoice {
  readonly workload: MlpId;
  readonly dtype: DType;
  readonly pinned: boolean;
  readonly chosen: string;
  readonly variants: Readonly<Record<string, number>>;
}

/** W2 float64 against float32 on tapegrad, timed step for step. */
export interface DtypePair {
  readonly ratio: number;
  readonly f32Ms: number;
  readonly f64Ms: number;
  readonly pairs: number;
}

/** A memory figure. */
export interface MemoryEntry {
  readonly impl: ImplName;
  readonly result: MemoryResult | null;
  readonly error: string | null;
}

/** Everything the report needs. */
export interface RunReport {
  readonly argv: readonly string[];
  readonly quick: boolean;
  readonly startDate: Date;
  readonly elapsedS: number;
  readonly implNames: readonly ImplName[];
  readonly describe: readonly string[];
  readonly figures: readonly Figure[];
  readonly calibrations: readonly Calibration[];
  readonly formulationTexts: ReadonlyMap<string, string>;
  /** Formulations that define a gradient with `tf.customGrad` (the others use tfjs' own). */
  readonly customGradIds: ReadonlySet<string>;
  readonly torchChoices: readonly TorchChoice[];
  readonly torchNote: string | null;
  readonly loadStart: readonly number[];
  readonly loadEnd: readonly number[];
  readonly twoThreadStart: TwoThreadCheck | null;
  readonly twoThreadEnd: TwoThreadCheck | null;
  readonly workloadLoads: readonly WorkloadLoad[];
  readonly runLoad: OthersLoad | null;
  /** How the run was pinned: null (not), or a description. */
  readonly pinnedRun: string | null;
  /** Why the pinned W2 row is missing, if it is. */
  readonly pinnedNote: string | null;
  readonly tapegradThreads: 1 | 2;
  readonly dtypePair: DtypePair | null;
  readonly memory: readonly MemoryEntry[];
  readonly memSteps: number;
  readonly memFrom: number;
  readonly tgTransposed: string;
}

// ---------------------------------------------------------------------------------------
// Formatting

/** A number with 3-4 significant digits. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 10) return v.toFixed(2);
  if (a >= 1) return v.toFixed(3);
  return v.toPrecision(3);
}

/** Shorten to n characters with an ellipsis. */
export function truncate(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}

/** A cell as text for a table. */
export function cellText(c: Cell | undefined, maxErr = 48): string {
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
export function speedRatio(f: Figure, other: ImplName): number | null {
  const tg = f.cells.get('tapegrad');
  const ot = f.cells.get(other);
  if (tg?.kind !== 'ok' || ot?.kind !== 'ok') return null;
  return f.metric === 'GFLOP/s' ? tg.value / ot.value : ot.value / tg.value;
}

function ratioText(r: number | null): string {
  return r === null ? '-' : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

/** A plain-text table (first three columns left-aligned). */
export function textTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

/** A Markdown table; columns from `rightFrom` on are right-aligned. */
export function mdTable(header: string[], rows: string[][], rightFrom = 3): string[] {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map((_, i) => (i >= rightFrom ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ];
}

function othersText(l: OthersLoad | null): string {
  return l === null ? 'n/a' : l.othersCores.toFixed(2);
}

// ---------------------------------------------------------------------------------------
// Machine load verdict

/** Whether, and on what evidence, another tenant held the second core. */
export function busyVerdict(r: RunReport): { busy: boolean; evidence: string[] } {
  const evidence: string[] = [];
  const checks: [string, TwoThreadCheck | null][] = [
    ['at start', r.twoThreadStart],
    ...r.workloadLoads.map((w): [string, TwoThreadCheck | null] => [`before ${w.workload}`, w.twoThread]),
    ['at end', r.twoThreadEnd],
  ];
  const slow = checks.filter((c): c is [string, TwoThreadCheck] => c[1] !== null && c[1].worst > TWO_THREAD_BUSY_RATIO);
  const ran = checks.filter((c) => c[1] !== null).length;
  if (slow.length === 1) evidence.push(`two-thread check ${slow[0][0]}: ${slow[0][1].worst.toFixed(2)}`);
  else if (slow.length > 1) evidence.push(`${slow.length} of ${ran} two-thread checks above ${TWO_THREAD_BUSY_RATIO} (${range(slow.map((c) => c[1].worst))})`);
  const measured = r.figures.filter((f) => f.load !== null);
  const busy = measured.filter((f) => f.load!.othersCores > OTHERS_BUSY_CORES);
  if (busy.length === 1) {
    const f = busy[0];
    evidence.push(`${f.workload} ${f.dtype}${f.pinned ? ' pinned' : ''}: other processes used ${f.load!.othersCores.toFixed(2)} cores`);
  } else if (busy.length > 1) {
    evidence.push(`other processes used ${range(busy.map((f) => f.load!.othersCores))} cores during ${busy.length} of ${measured.length} figures`);
  }
  // The load average lags (a one-minute exponential average, counting this run's own
  // threads), so it only decides when nothing was measured directly.
  if (ran === 0 && measured.length === 0 && r.loadStart[0] > 1) {
    evidence.push(`1-minute load average at start ${r.loadStart[0].toFixed(2)} (no direct measurement)`);
  }
  return { busy: evidence.length > 0, evidence };
}

function range(xs: readonly number[]): string {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo.toFixed(2) === hi.toFixed(2) ? lo.toFixed(2) : `${lo.toFixed(2)}–${hi.toFixed(2)}`;
}

// ---------------------------------------------------------------------------------------
// Console

function header(r: RunReport): string[] {
  const peers = r.implNames.filter((n) => n !== 'tapegrad');
  const hasTg = r.implNames.includes('tapegrad');
  return ['Workload', 'Case', 'dtype', 'unit', ...r.implNames, ...(hasTg ? peers.map((p) => `tg/${p.replace('tfjs-', '')}`) : [])];
}

function rows(r: RunReport, maxErr: number): string[][] {
  const peers = r.implNames.filter((n) => n !== 'tapegrad');
  const hasTg = r.implNames.includes('tapegrad');
  return r.figures.map((f) => [
    f.workload,
    f.caseLabel,
    f.dtype,
    f.metric,
    ...r.implNames.map((n) => cellText(f.cells.get(n), maxErr)),
    ...(hasTg ? peers.map((p) => ratioText(speedRatio(f, p))) : []),
  ]);
}

const MEM_HEADER = ['Impl', 'steps', 'peak RSS MiB', 'max sampled RSS MiB', 'heap growth MiB', 'external growth MiB', 'ms/step', 'notes'];

function memoryRow(m: MemoryEntry): string[] {
  const r = m.result;
  if (r === null) return [m.impl, '-', '-', '-', '-', '-', '-', truncate(`error: ${m.error ?? 'unknown'}`, 60)];
  const heap = r.heapAtFromMiB === null ? 'n/a' : fmt(r.heapAtEndMiB - r.heapAtFromMiB);
  const ext = r.externalAtFromMiB === null ? 'n/a' : fmt(r.externalAtEndMiB - r.externalAtFromMiB);
  const notes: string[] = [];
  notes.push(`growth from step ${r.fromStep} to ${r.steps}`);
  if (r.truncated) notes.push(`stopped by time cap after ${r.steps}/${r.requestedSteps} steps`);
  if (!r.gcExposed) notes.push('no --expose-gc');
  if (r.tfjsTensors) notes.push(`live tensors ${r.tfjsTensors.atFrom ?? '?'} → ${r.tfjsTensors.atEnd}`);
  return [m.impl, String(r.steps), fmt(r.peakRssMiB), fmt(r.peakSampledRssMiB), heap, ext, fmt(r.medianStepMs), notes.join('; ')];
}

function errorsOf(r: RunReport): string[] {
  const errors = new Set<string>();
  for (const f of r.figures) {
    for (const [n, c] of f.cells) if (c.kind === 'error') errors.add(`${n}: ${c.message}`);
  }
  return [...errors];
}

/** The console summary (table, errors, memory, load verdict). */
export function consoleLines(r: RunReport): string[] {
  const out: string[] = ['', ...textTable(header(r), rows(r, 40))];
  if (r.implNames.includes('tapegrad') && r.implNames.length > 1) out.push('tg/x = speed of tapegrad ÷ speed of x (above 1: tapegrad faster).');
  if (r.figures.some((f) => [...f.cells.values()].some((c) => c.kind === 'ok' && c.stats.truncated))) {
    out.push('* fewer samples or warm-up calls than asked for: the time limit cut them short.');
  }
  for (const e of errorsOf(r)) out.push(`  error ${e}`);
  if (r.torchNote !== null) out.push(`  torch: ${r.torchNote}`);
  const used = usedFormulationLines(r);
  if (used.length > 0) out.push('', 'tfjs formulations used (fastest of those timed):', ...used.map((l) => `  ${l}`));
  if (r.memory.length > 0) out.push('', ...textTable(MEM_HEADER, r.memory.map(memoryRow)));
  if (r.dtypePair !== null) out.push('', dtypePairText(r.dtypePair));
  out.push('', loadSentence(r));
  out.push('', `finished in ${r.elapsedS.toFixed(1)} s`);
  return out;
}

/** The fastest timed formulation of a calibration that uses no `tf.customGrad`, or null. */
function plainBest(r: RunReport, c: Calibration): FormulationTiming | null {
  if (c.workload === 'W1') return null;
  const plain = c.rows.filter((row) => row.ms !== null && row.note === null && !r.customGradIds.has(row.id));
  return plain.sort((a, b) => a.ms! - b.ms!)[0] ?? null;
}

function usedFormulationLines(r: RunReport): string[] {
  return r.calibrations.map(
    (c) => `${c.workload}${c.workload === 'W1' ? ` ${c.caseLabel}` : ''} ${c.impl}: ${c.chosen} (${c.how === 'measured' ? 'timed here' : c.how === 'fixed' ? 'fixed choice, not timed in quick mode' : 'named on the command line'})`,
  );
}

function dtypePairText(p: DtypePair): string {
  return (
    `W2 float64 ÷ float32 on tapegrad, timed step for step (one float32 step, then one float64 step, ${p.pairs} pairs): ` +
    `${p.ratio.toFixed(2)}× (median of the pair ratios; median steps ${fmt(p.f32Ms)} ms float32, ${fmt(p.f64Ms)} ms float64).`
  );
}

/** The one-paragraph verdict on the machine's load. */
export function loadSentence(r: RunReport): string {
  const v = busyVerdict(r);
  if (v.busy) {
    return (
      `**Another tenant held the second core during this run** (${v.evidence.join('; ')}). ` +
      (r.tapegradThreads === 2
        ? "tapegrad's two-thread figures (large GEMMs in W1, W2, W3) are not representative of an idle machine: " +
          'they measure what the second core had left. '
        : '') +
      'Every figure shared the machine with other work; compare ratios from rows measured at the same time, ' +
      'and see `from CPU time` under Spread.'
    );
  }
  return (
    'The second core looked free during this run (two-thread checks at most ' +
    `${TWO_THREAD_BUSY_RATIO}, other processes below ${OTHERS_BUSY_CORES} cores during every figure; ` +
    'the load average lags behind and also counts this run).'
  );
}

// ---------------------------------------------------------------------------------------
// JSON lines

/** One JSON object per figure cell, calibration row, load record and memory figure. */
export function jsonLines(r: RunReport): string[] {
  const out: string[] = [];
  for (const f of r.figures) {
    for (const n of r.implNames) {
      const c = f.cells.get(n);
      if (c === undefined) continue;
      const base = {
        workload: f.workload, ...f.extra, case: f.caseLabel, impl: n, dtype: f.dtype, metric: f.metric,
        ...(f.pinned ? { pinned: true } : {}),
        ...(f.ran.has(n) ? { ran: f.ran.get(n) } : {}),
        ...(f.load !== null ? { othersCores: Number(f.load.othersCores.toFixed(3)) } : {}),
      };
      const line =
        c.kind === 'ok'
          ? {
              ...base, median: c.value, q1: c.q1, q3: c.q3, samples: c.stats.samples, reps: c.stats.reps,
              wallOverCpu: Number((c.stats.median / c.stats.cpuMedian).toFixed(3)),
              fromCpuTime: c.cpuValue,
              ...(c.firstLoss !== undefined ? { firstLoss: c.firstLoss } : {}),
              ...(c.loss !== undefined ? { loss: c.loss } : {}),
              ...(c.stats.truncated ? { truncated: true } : {}),
            }
          : { ...base, median: null, samples: 0, status: c.kind, ...(c.kind === 'error' ? { error: c.message } : { reason: c.reason }) };
      out.push(JSON.stringify(line));
    }
  }
  for (const c of r.calibrations) {
    for (const row of c.rows) {
      out.push(JSON.stringify({
        workload: c.workload, case: c.caseLabel, impl: c.impl, dtype: 'float32', metric: c.metric, calibration: true,
        formulation: row.id, chosen: row.id === c.chosen, customGrad: r.customGradIds.has(row.id), how: c.how, median: row.median, q1: row.q1, q3: row.q3,
        samples: row.samples, firstLoss: row.firstLoss, ...(row.note !== null ? { note: row.note } : {}),
      }));
    }
  }
  for (const t of r.torchChoices) {
    out.push(JSON.stringify({ workload: t.workload, impl: 'torch', dtype: t.dtype, metric: 'ms/step', sgdVariants: t.variants, chosen: t.chosen, pinned: t.pinned }));
  }
  const v = busyVerdict(r);
  out.push(JSON.stringify({
    metric: 'machine load', loadStart: r.loadStart, loadEnd: r.loadEnd,
    twoThreadStart: r.twoThreadStart?.worst ?? null, twoThreadEnd: r.twoThreadEnd?.worst ?? null,
    workloads: r.workloadLoads.map((w) => ({ workload: w.workload, loadavg: w.loadavg, twoThread: w.twoThread?.worst ?? null, othersCores: w.others?.othersCores ?? null })),
    othersCores: r.runLoad?.othersCores ?? null, secondCoreBusy: v.busy, evidence: v.evidence,
  }));
  if (r.dtypePair !== null) {
    const p = r.dtypePair;
    out.push(JSON.stringify({
      workload: 'W2', case: 'float64 / float32, interleaved', impl: 'tapegrad', metric: 'time ratio',
      median: p.ratio, samples: p.pairs, float32Ms: p.f32Ms, float64Ms: p.f64Ms,
    }));
  }
  for (const m of r.memory) {
    const base = { workload: 'MEM', impl: m.impl, dtype: 'float32' };
    if (m.result === null) {
      out.push(JSON.stringify({ ...base, metric: 'peak RSS MiB', median: null, samples: 0, status: 'error', error: m.error }));
      continue;
    }
    const res = m.result;
    const lines: [string, number | null][] = [
      ['peak RSS MiB', res.peakRssMiB],
      ['heap growth MiB', res.heapAtFromMiB === null ? null : res.heapAtEndMiB - res.heapAtFromMiB],
      ['external growth MiB', res.externalAtFromMiB === null ? null : res.externalAtEndMiB - res.externalAtFromMiB],
    ];
    for (const [metric, val] of lines) out.push(JSON.stringify({ ...base, metric, median: val, samples: 1, steps: res.steps, fromStep: res.fromStep }));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// RESULTS.md

function packageVersion(name: string): string {
  try {
    const p = require.resolve(`${name}/package.json`, { paths: [path.resolve(__dirname, '..', '..')] });
    return (JSON.parse(fs.readFileSync(p, 'utf8')) as { version?: string }).version ?? '?';
  } catch {
    return 'not installed';
  }
}

function selfVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: string }).version ?? '?';
  } catch {
    return '?';
  }
}

function commandLine(argv: readonly string[]): string {
  const args = argv.join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${args ? ` -- ${args}` : ''}`;
  return `npx ts-node --transpile-only benchmarks/run.ts${args ? ` ${args}` : ''}`;
}

function lossText(c: Cell): string {
  if (c.kind !== 'ok') return '';
  const parts: string[] = [];
  if (c.firstLoss !== undefined) parts.push(c.firstLoss.toFixed(4));
  if (c.loss !== undefined) parts.push(c.loss.toFixed(4));
  const ok =
    c.loss === undefined ||
    (Number.isFinite(c.loss) && (c.firstLoss === undefined || (Number.isFinite(c.firstLoss) && c.loss < c.firstLoss)));
  return parts.join(' → ') + (ok ? '' : ' (not finite or not decreasing!)');
}

/** The whole RESULTS.md. */
export function markdown(r: RunReport): string {
  const cpus = os.cpus();
  const md: string[] = [
    '# Benchmark results',
    '',
    `Generated by \`benchmarks/run.ts\` on ${r.startDate.toISOString()} (${r.quick ? 'quick mode' : 'full mode'}, ${r.elapsedS.toFixed(1)} s).`,
    '',
    '## How it was run',
    '',
    '```sh',
    commandLine(r.argv),
    '```',
    '',
    '## Machine and versions',
    '',
    `- CPU: ${cpus[0]?.model ?? 'unknown'}; ${cpus.length} logical cores; ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `- OS: ${os.type()} ${os.release()} ${os.arch()}`,
    `- Node ${process.version} (V8 ${process.versions.v8})`,
    `- Packages: tapegrad ${selfVersion()}, ` +
      `@tensorflow/tfjs ${packageVersion('@tensorflow/tfjs')}, @tensorflow/tfjs-backend-wasm ${packageVersion('@tensorflow/tfjs-backend-wasm')}, ` +
      `typescript ${packageVersion('typescript')}, ts-node ${packageVersion('ts-node')}`,
    ...r.describe,
    ...(r.pinnedRun !== null ? [`- Pinned run: ${r.pinnedRun}`] : []),
    '',
    '## Machine load',
    '',
    loadSentence(r),
    '',
    `- Load average (1/5/15 min) at start: ${loadText(r.loadStart)}; at end: ${loadText(r.loadEnd)}`,
    `- Two-thread check (the same loop on two threads at once ÷ on one; ≈ 1 when the second core is free, toward 2 when another tenant holds it). ` +
      'Two loops: an integer multiply chain, and a WebAssembly SIMD multiply-add loop that keeps the floating-point units busy as a GEMM does; ' +
      'the second also sees a virtual second core that shares its floating-point units with ours or with another tenant on the host, which the first cannot see. ' +
      `The larger ratio is the one compared with ${TWO_THREAD_BUSY_RATIO}: ` +
      `at start ${twoThreadText(r.twoThreadStart)}; at end ${twoThreadText(r.twoThreadEnd)}`,
    `- Other processes (machine busy time from /proc/stat minus this process and the PyTorch peer) used ${othersText(r.runLoad)} cores on average over the run.`,
    '',
  ];
  if (r.workloadLoads.length > 0) {
    md.push(
      ...mdTable(
        ['Workload', 'load avg before (1/5/15 min)', 'two-thread check before', "other processes' cores during"],
        r.workloadLoads.map((w) => [w.workload, loadText(w.loadavg), w.twoThread === null ? (w.twoThreadNote ?? 'n/a') : twoThreadText(w.twoThread), othersText(w.others)]),
        1,
      ),
      '',
    );
  }
  md.push(
    '## Figures',
    '',
    'Medians over the samples after warm-up (GFLOP/s for W1: higher is better; ms or µs per step for W2–W4: lower is better). ' +
      '`tg/x` is a speed ratio, tapegrad speed ÷ speed of x: above 1 means tapegrad is faster. ' +
      'The implementations of a row are timed in interleaved rounds (each gets about the same wall time per round), ' +
      'so load from other processes falls on all of them alike. ' +
      'Each tfjs figure uses the fastest formulation found for that workload and backend (see tfjs formulations below); ' +
      'torch is PyTorch on one thread (see its line above). ' +
      'TensorFlow.js has no float64, so its float64 cells are n/a. ' +
      '`*` marks a figure whose warm-up or sampling the time limit cut short (see the sample counts under Spread); ' +
      '`skipped` a figure the time limit left out.',
    '',
    ...mdTable(header(r), rows(r, 80)),
    '',
  );
  if (r.pinnedNote !== null) md.push(`Pinned W2 row: ${r.pinnedNote}`, '');
  else if (r.figures.some((f) => f.pinned) && r.pinnedRun === null) {
    md.push(
      'The row marked `1 thread, pinned` was measured with this process and the PyTorch peer pinned to one CPU ' +
        '(`taskset -a -p`, every thread, V8\'s included) and tapegrad\'s GEMMs on one thread (`kernels.setGemmThreads(1)`); ' +
        'tfjs runs on one thread anyway.',
      '',
    );
  }
  const errors = errorsOf(r);
  if (errors.length > 0) md.push('Errors:', '', ...errors.map((e) => `- ${e}`), '');
  if (r.torchNote !== null) md.push(`PyTorch: ${r.torchNote}`, '');

  if (r.calibrations.length > 0) {
    md.push(
      '## tfjs formulations',
      '',
      'A tfjs user can write the same training step (or transposed product) several ways, and the ways differ several-fold in speed ' +
        '(tfjs-wasm sends matrix products with `transposeA`/`transposeB` flags, which tfjs\' own matMul gradients use, ' +
        'to a slow loop instead of XNNPACK). Each tfjs figure above uses the fastest formulation timed here for that ' +
        'workload and backend (float32, the same data and initial weights for every formulation; first-step losses ' +
        'must agree, which they did unless a row says otherwise). Timed in interleaved rounds, separately from and ' +
        'before the figure itself, which re-measures the chosen formulation alongside the other implementations.',
      '',
    );
    const gemmCals = r.calibrations.filter((c) => c.workload === 'W1');
    if (gemmCals.length > 0) {
      const ids = [...new Set(gemmCals.flatMap((c) => c.rows.map((row) => row.id)))];
      md.push(
        '**W1, transposed products** (GFLOP/s, float32; each case timed separately):',
        '',
        ...mdTable(
          ['Case', 'impl', ...ids, 'used'],
          gemmCals.map((c) => [
            c.caseLabel,
            c.impl,
            ...ids.map((id) => {
              const row = c.rows.find((x) => x.id === id);
              return row?.median == null ? (row?.note ?? '-') : fmt(row.median);
            }),
            c.how === 'fixed' ? `${c.chosen} (fixed)` : c.chosen,
          ]),
          2,
        ),
        '',
      );
    }
    for (const c of r.calibrations) {
      if (c.workload === 'W1') continue;
      md.push(
        `**${c.workload} ${c.impl}** (${c.caseLabel}): ${c.how === 'measured' ? 'timed here' : c.how === 'fixed' ? 'quick mode: the fixed choice from earlier full runs, not timed' : 'named with --tfjs-formulations'}; used \`${c.chosen}\`` +
          (c.load !== null ? `; other processes used ${c.load.othersCores.toFixed(2)} cores meanwhile.` : '.'),
        '',
      );
      const plain = plainBest(r, c);
      const chosenRow = c.rows.find((row) => row.id === c.chosen);
      if (plain !== null && chosenRow?.median != null && plain.id !== c.chosen) {
        md.push(
          `Fastest with tfjs' own gradients only (no \`tf.customGrad\`): \`${plain.id}\` at ${fmt(plain.median!)} ${c.metric}, ` +
            `${(plain.ms! / chosenRow.ms!).toFixed(1)}× the time of \`${c.chosen}\`.`,
          '',
        );
      }
      if (c.rows.length > 0) {
        md.push(
          ...mdTable(
            ['formulation', c.metric, 'Q1', 'Q3', 'samples', 'first loss', 'note'],
            [...c.rows]
              .sort((a, b) => (a.ms ?? Infinity) - (b.ms ?? Infinity))
              .map((row) => [
                row.id === c.chosen ? `**${row.id}**` : row.id,
                row.median === null ? '-' : fmt(row.median),
                row.q1 === null ? '-' : fmt(row.q1),
                row.q3 === null ? '-' : fmt(row.q3),
                String(row.samples),
                row.firstLoss === null ? '-' : row.firstLoss.toFixed(5),
                row.note ?? '',
              ]),
            1,
          ),
          '',
        );
      }
    }
    const ids = new Set(r.calibrations.flatMap((c) => [c.chosen, ...c.rows.map((row) => row.id)]));
    md.push('Formulations:', '', ...[...ids].map((id) => `- \`${id}\`: ${r.formulationTexts.get(id) ?? '?'}`), '');
  }
  if (r.torchChoices.length > 0) {
    md.push(
      '## PyTorch step',
      '',
      '`nn.Sequential(nn.Linear, nn.BatchNorm1d, nn.ReLU(inplace=True), …)`, `F.cross_entropy`, `torch.optim.SGD`, ' +
        '`zero_grad(set_to_none=True)`; one thread (`torch.set_num_threads(1)`, OMP/OpenBLAS/MKL threads 1). ' +
        'Trained on the same data and initial weights as the tfjs formulations (its first-step loss is listed under Spread). ' +
        'Both SGD implementations were timed briefly before each figure and the faster used (ms/step):',
      '',
      ...mdTable(
        ['Workload', 'dtype', 'plain (foreach=False)', 'foreach=True', 'used'],
        r.torchChoices.map((t) => [
          `${t.workload}${t.pinned ? ' pinned' : ''}`, t.dtype,
          t.variants.plain === undefined ? '-' : fmt(t.variants.plain),
          t.variants.foreach === undefined ? '-' : fmt(t.variants.foreach),
          t.chosen,
        ]),
        2,
      ),
      '',
    );
  }
  md.push(
    '### Spread',
    '',
    'Interquartile range of each figure (in the figure\'s unit), number of samples, and calls per sample ' +
      '(fast workloads are timed in batches of calls; each sample is the mean per call). ' +
      '`wall/CPU` is median wall time ÷ median CPU time of the process: well above 1 means other processes ' +
      'took the CPU from this one during the samples, so the figure understates the implementation; ' +
      '`from CPU time` is the figure computed from the median CPU time instead (closer to an idle machine, ' +
      'but it also counts V8\'s background GC/compiler threads, and tapegrad\'s GEMM worker when two threads run). ' +
      '`others` is the number of cores other processes kept busy while the row was measured. ' +
      '`loss` is the loss of the first step from the initial parameters → the loss of one extra step after timing ' +
      '(it must be finite and lower); tfjs, and PyTorch share data and initialisation, so their first losses agree; ' +
      'tapegrad initialises its own layers.',
    '',
    ...mdTable(
      ['Workload', 'Case', 'dtype', 'impl', 'median', 'Q1', 'Q3', 'samples', 'calls/sample', 'wall/CPU', 'from CPU time', 'others', 'loss'],
      r.figures.flatMap((f) =>
        r.implNames.flatMap((n) => {
          const c = f.cells.get(n);
          if (c?.kind !== 'ok') return [];
          return [[
            f.workload, f.caseLabel, f.dtype, n, fmt(c.value) + (c.stats.truncated ? '*' : ''), fmt(c.q1), fmt(c.q3),
            String(c.stats.samples), String(c.stats.reps), (c.stats.median / c.stats.cpuMedian).toFixed(2), fmt(c.cpuValue),
            othersText(f.load), lossText(c),
          ]];
        }),
      ),
      4,
    ),
    '',
  );
  if (r.dtypePair !== null) md.push('### W2 float64 against float32 (tapegrad)', '', dtypePairText(r.dtypePair), '');
  if (r.memory.length > 0) {
    md.push(
      '## Memory',
      '',
      `W2 (float32) for ${r.memSteps} steps in a fresh child process (\`node --expose-gc\`). ` +
        `Peak RSS is the kernel high-water mark of that process (includes Node, ts-node and the library). ` +
        `Growth is measured after a forced full GC at step ${r.memFrom} and after the last step; ` +
        '`external` holds typed-array and wasm memory.',
      '',
      ...mdTable(MEM_HEADER, r.memory.map(memoryRow), 1),
      '',
    );
  }
  md.push(
    '## Notes',
    '',
    '- Threads: tfjs `cpu` is plain JavaScript on one thread; tfjs `wasm` (XNNPACK) is pinned with `setThreadsCount(1)` ' +
      'and, in Node, tfjs 4.x never enables wasm threads anyway; PyTorch runs on one thread. tapegrad runs everything on the ' +
      'main thread except large GEMMs, which it splits with one worker thread when the machine has 2 or more cores ' +
      '(the tapegrad line above says which applied); the pinned row and `--pin` measure it on one thread and one CPU.',
    '- W1\'s A@B is `tf.matMul(a, b)` on tfjs; its A@Bt and At@B use the faster of `tf.matMul(a, b, transposeA, transposeB)` ' +
      'and an explicit `tf.transpose` + flagless `tf.matMul` (timed with the product; see tfjs formulations): tfjs-wasm runs ' +
      'only flagless products through XNNPACK and sends flagged ones to a much slower loop.',
    `- tapegrad's A@B is \`a.matmul(b)\`; its transposed GEMMs ran through ${r.tgTransposed}.`,
    '- The machine is shared with other work, so figures are medians with their IQR; compare ratios from the same run.',
    '',
  );
  return md.join('\n');
}
