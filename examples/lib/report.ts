/**
 * Terminal reporting helpers for the example scripts: confusion matrices,
 * ASCII line charts (via `asciichart`) and an epoch progress bar (via
 * `cli-progress`) that stays quiet when stdout is not a terminal.
 *
 * Works on plain numbers and typed arrays (no `src/` imports).
 *
 * @module
 */

import * as asciichart from 'asciichart';
import { SingleBar } from 'cli-progress';

// ---------------------------------------------------------------------------
// Confusion matrix
// ---------------------------------------------------------------------------

/**
 * Count (true class, predicted class) pairs.
 *
 * @param pred - predicted class per sample, in `0..classes-1`.
 * @param truth - true class per sample, same length as `pred`.
 * @param classes - number of classes.
 * @returns `classes x classes` counts, `m[true][pred]`; entries sum to `pred.length`.
 * @throws RangeError on length mismatch or a class id outside `0..classes-1`.
 *
 * @example
 * ```ts
 * const m = confusionMatrix(Int32Array.of(0, 1, 1), Int32Array.of(0, 1, 0), 2);
 * // [[1, 1], [0, 1]]
 * ```
 */
export function confusionMatrix(pred: ArrayLike<number>, truth: ArrayLike<number>, classes: number): number[][] {
  if (pred.length !== truth.length) {
    throw new RangeError(`confusionMatrix: pred has ${pred.length} entries but truth has ${truth.length}`);
  }
  if (!Number.isInteger(classes) || classes <= 0) throw new RangeError(`confusionMatrix: bad classes ${classes}`);
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i];
    const t = truth[i];
    if (!(Number.isInteger(p) && p >= 0 && p < classes) || !(Number.isInteger(t) && t >= 0 && t < classes)) {
      throw new RangeError(`confusionMatrix: sample ${i} has pred ${p}, truth ${t}; expected 0..${classes - 1}`);
    }
    m[t][p]++;
  }
  return m;
}

/**
 * Fraction of samples with `pred[i] === truth[i]` (NaN when empty).
 *
 * @param pred - predicted classes.
 * @param truth - true classes, same length.
 * @returns accuracy in [0, 1].
 *
 * @example
 * ```ts
 * accuracy(Int32Array.of(1, 2, 3), Int32Array.of(1, 2, 0)); // 0.666...
 * ```
 */
export function accuracy(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  if (pred.length !== truth.length) throw new RangeError(`accuracy: length ${pred.length} vs ${truth.length}`);
  let ok = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === truth[i]) ok++;
  return pred.length ? ok / pred.length : NaN;
}

/** Options for {@link formatConfusionMatrix}. */
export interface FormatConfusionOptions {
  /** Class names (default: the class index). */
  labels?: readonly string[];
  /** Character printed for zero counts to reduce clutter (default: `'.'`; use `'0'` for plain). */
  zero?: string;
}

function pct(v: number): string {
  return Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : '-';
}

/**
 * Format a confusion matrix as an aligned plain-text table: one row per true
 * class, one column per predicted class, then the row total and per-class
 * accuracy (recall); a final row gives per-class precision and the overall
 * accuracy. Output is ASCII only (safe for logs).
 *
 * @param m - square count matrix `m[true][pred]` (e.g. from {@link confusionMatrix}).
 * @param opts - class labels (default: indices) and the zero placeholder (default `'.'`).
 * @returns the table, lines joined by `\n` (no trailing newline).
 * @throws RangeError if `m` is not square.
 *
 * @example
 * ```ts
 * console.log(formatConfusionMatrix(confusionMatrix(pred, labels, 10)));
 * // true\pred    0    1 ...    9 |  total    acc
 * //         0  970    . ...    1 |    980  99.0%
 * ```
 */
export function formatConfusionMatrix(m: readonly (readonly number[])[], opts: FormatConfusionOptions = {}): string {
  const k = m.length;
  for (const row of m) if (row.length !== k) throw new RangeError('formatConfusionMatrix: matrix must be square');
  const zero = opts.zero ?? '.';
  const names = Array.from({ length: k }, (_, i) => opts.labels?.[i] ?? String(i));
  const rowSum = m.map((r) => r.reduce((a, b) => a + b, 0));
  const colSum = Array.from({ length: k }, (_, j) => m.reduce((a, r) => a + r[j], 0));
  const total = rowSum.reduce((a, b) => a + b, 0);
  let correct = 0;
  for (let i = 0; i < k; i++) correct += m[i][i];

  const corner = 'true\\pred';
  // At least 5 wide so a precision of '100.0' keeps a space before it.
  const cellW = Math.max(5, ...names.map((s) => s.length), ...m.flat().map((v) => String(v).length)) + 1;
  const headW = Math.max(corner.length, 'precision'.length, ...names.map((s) => s.length));
  const totW = Math.max(5, String(total).length) + 1;
  const accW = 7;
  const lines: string[] = [];
  lines.push(
    corner.padStart(headW) +
      names.map((s) => s.padStart(cellW)).join('') +
      ' |' +
      'total'.padStart(totW) +
      'acc'.padStart(accW),
  );
  for (let i = 0; i < k; i++) {
    const cells = m[i].map((v) => (v === 0 ? zero : String(v)).padStart(cellW)).join('');
    lines.push(
      names[i].padStart(headW) + cells + ' |' + String(rowSum[i]).padStart(totW) + pct(m[i][i] / rowSum[i]).padStart(accW),
    );
  }
  lines.push('-'.repeat(headW + cellW * k) + '-+' + '-'.repeat(totW + accW));
  lines.push(
    'precision'.padStart(headW) +
      colSum.map((c, j) => pct(m[j][j] / c).replace(/%$/, '').padStart(cellW)).join('') +
      ' |' +
      String(total).padStart(totW) +
      pct(correct / total).padStart(accW),
  );
  lines.push(`accuracy ${pct(correct / total)} (${correct}/${total}); acc = per-class recall, precision row in %`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// ASCII chart
// ---------------------------------------------------------------------------

/** A named series for {@link asciiChart}. */
export interface AsciiSeries {
  /** Legend label. */
  name: string;
  /** Values; non-finite entries are bridged with the previous finite value. */
  values: ArrayLike<number>;
}

/** Options for {@link asciiChart}. */
export interface AsciiChartOptions {
  /** Plot height in rows (default: 10). */
  height?: number;
  /** Maximum plot width in columns; longer series are averaged into buckets (default: 70). */
  width?: number;
  /** Title line printed above the chart (default: none). */
  title?: string;
  /** Use ANSI colours (default: `process.stdout.isTTY` and `NO_COLOR` unset). */
  color?: boolean;
  /** Fixed lower bound of the y-axis (default: data minimum). */
  min?: number;
  /** Fixed upper bound of the y-axis (default: data maximum). */
  max?: number;
  /** Decimals of the y labels (default: chosen from the value range). */
  decimals?: number;
}

const ASCII_COLORS = [asciichart.blue, asciichart.yellow, asciichart.red, asciichart.cyan, asciichart.green, asciichart.magenta];

function bucketMeans(values: number[], width: number): number[] {
  if (values.length <= width) return values;
  const out: number[] = [];
  for (let b = 0; b < width; b++) {
    const i0 = Math.floor((b * values.length) / width);
    const i1 = Math.floor(((b + 1) * values.length) / width);
    let s = 0;
    for (let i = i0; i < i1; i++) s += values[i];
    out.push(s / Math.max(1, i1 - i0));
  }
  return out;
}

function bridgeNonFinite(values: ArrayLike<number>): { values: number[]; skipped: number } {
  const out: number[] = [];
  let skipped = 0;
  let prev: number | undefined;
  let first: number | undefined;
  for (let i = 0; i < values.length; i++) {
    if (Number.isFinite(values[i])) {
      first = values[i];
      break;
    }
  }
  if (first === undefined) return { values: [], skipped: values.length };
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) prev = v;
    else skipped++;
    out.push(prev ?? first);
  }
  return { values: out, skipped };
}

/**
 * Draw one or more series as an ASCII line chart (wraps `asciichart.plot`),
 * with bucket-averaging for long series, safe handling of NaN/Infinity
 * (bridged, and counted in the legend), y labels of a sensible precision and
 * a legend line showing each series' last value.
 *
 * @param series - a single array of numbers, or named series (`{ name, values }`).
 * @param opts - height 10, width 70, colours only on a TTY by default.
 * @returns the chart text (no trailing newline); `'(no finite data)'` if nothing can be drawn.
 *
 * @example
 * ```ts
 * console.log(asciiChart([{ name: 'loss', values: losses }, { name: 'val', values: valLosses }],
 *   { title: 'loss per epoch', height: 8 }));
 * ```
 */
export function asciiChart(series: ArrayLike<number> | readonly AsciiSeries[], opts: AsciiChartOptions = {}): string {
  const named: AsciiSeries[] = isNamedList(series) ? [...series] : [{ name: 'series', values: series }];
  const width = Math.max(2, Math.floor(opts.width ?? 70));
  const height = Math.max(1, Math.floor(opts.height ?? 10));
  const color = opts.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  const prepared = named.map((s) => {
    const b = bridgeNonFinite(s.values);
    return { name: s.name, raw: b.values, values: bucketMeans(b.values, width), skipped: b.skipped };
  });
  const drawable = prepared.filter((p) => p.values.length > 0);
  const lines: string[] = [];
  if (opts.title) lines.push(opts.title);
  if (drawable.length === 0) {
    lines.push('(no finite data)');
    return lines.join('\n');
  }
  let lo = opts.min ?? Infinity;
  let hi = opts.max ?? -Infinity;
  if (opts.min === undefined || opts.max === undefined) {
    for (const p of drawable) {
      for (const v of p.values) {
        if (opts.min === undefined && v < lo) lo = v;
        if (opts.max === undefined && v > hi) hi = v;
      }
    }
  }
  // Clamp into [lo, hi] so fixed bounds never index outside asciichart's grid.
  const clamped = drawable.map((p) => p.values.map((v) => Math.min(hi, Math.max(lo, v))));
  const range = hi - lo;
  const decimals =
    opts.decimals ?? (range > 0 ? Math.max(0, Math.min(6, 2 - Math.floor(Math.log10(range)))) : 2);
  const labelW = Math.max(lo.toFixed(decimals).length, hi.toFixed(decimals).length) + 1;
  const colors = drawable.map((_, i) => (color ? ASCII_COLORS[i % ASCII_COLORS.length] : undefined));
  lines.push(
    asciichart.plot(clamped, {
      height,
      min: lo,
      max: hi,
      colors,
      format: (x: number) => x.toFixed(decimals).padStart(labelW),
    }),
  );
  const legend = drawable.map((p, i) => {
    const mark = color ? asciichart.colored('──', colors[i]) : '──';
    const last = p.raw[p.raw.length - 1];
    const extra = [
      `last ${formatNumber(last)}`,
      p.raw.length > p.values.length ? `${p.raw.length} pts averaged to ${p.values.length}` : '',
      p.skipped ? `${p.skipped} non-finite` : '',
    ]
      .filter(Boolean)
      .join(', ');
    return `${mark} ${p.name} (${extra})`;
  });
  const missing = prepared.filter((p) => p.values.length === 0).map((p) => `${p.name} (no finite data)`);
  lines.push(' '.repeat(labelW) + [...legend, ...missing].join('   '));
  return lines.join('\n');
}

function isNamedList(s: ArrayLike<number> | readonly AsciiSeries[]): s is readonly AsciiSeries[] {
  return s.length > 0 && typeof (s as ArrayLike<unknown>)[0] === 'object' && (s as ArrayLike<unknown>)[0] !== null;
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const av = Math.abs(v);
  if (av !== 0 && (av < 1e-3 || av >= 1e6)) return v.toExponential(2);
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(4)));
}

/**
 * Format a duration for humans: `850ms`, `12.3s`, `4m05s`, `1h02m`.
 *
 * @param ms - milliseconds (non-finite -> `'?'`).
 * @returns a short string.
 *
 * @example
 * ```ts
 * formatDuration(245_000); // '4m05s'
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

// ---------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------

/** Minimal writable stream accepted by {@link createProgress} (e.g. `process.stdout`). */
export interface ProgressStream {
  write(chunk: string): boolean;
  /** `true` only for interactive terminals. */
  isTTY?: boolean;
  /** Terminal width, if known. */
  columns?: number;
}

/**
 * How {@link createProgress} reports: `'bar'` = live cli-progress bar per
 * epoch plus a summary line; `'lines'` = only one summary line per epoch;
 * `'silent'` = nothing.
 */
export type ProgressMode = 'bar' | 'lines' | 'silent';

/** Options for {@link createProgress}. */
export interface ProgressOptions {
  /** Total number of epochs (used for `epoch 3/10` and the overall ETA). */
  epochs: number;
  /** Steps (batches) per epoch. */
  stepsPerEpoch: number;
  /** Samples per step for the samples/s rate, unless `step()` passes `samples` (default: 1). */
  samplesPerStep?: number;
  /** Output stream (default: `process.stdout`). */
  stream?: ProgressStream;
  /**
   * Reporting mode (default `'auto'`: `'bar'` if the stream is a TTY and
   * neither `CI` is set nor `TERM=dumb`, otherwise `'lines'`).
   */
  mode?: ProgressMode | 'auto';
  /** Digits after the decimal point for loss/metrics (default: 4). */
  decimals?: number;
}

/** Per-step information for {@link Progress.step}. */
export interface StepInfo {
  /** Loss of this step (shown as the running mean over the epoch). */
  loss?: number;
  /** Samples processed in this step (default: `samplesPerStep`). */
  samples?: number;
}

/** Summary of one finished epoch, returned by {@link Progress.endEpoch}. */
export interface EpochSummary {
  /** Epoch number as displayed (1-based unless `startEpoch` was given another number). */
  epoch: number;
  /** Mean of the step losses of the epoch (NaN if none reported). */
  meanLoss: number;
  /** Samples processed in the epoch. */
  samples: number;
  /** Wall-clock time of the epoch in ms. */
  ms: number;
  /** Throughput in samples per second. */
  samplesPerSec: number;
  /** The printed summary line (also returned in `'silent'` mode). */
  line: string;
}

/** Handle returned by {@link createProgress}. */
export interface Progress {
  /** The resolved reporting mode. */
  readonly mode: ProgressMode;
  /** Begin an epoch (default number: previous + 1, starting at 1). Called implicitly by the first `step()`. */
  startEpoch(epoch?: number): void;
  /** Record one finished step. */
  step(info?: StepInfo): void;
  /**
   * Finish the epoch and print one summary line with optional extra metrics (e.g.
   * `{ test_acc: 0.97, lr: '1.0e-3' }`): numbers are printed with `decimals` digits, strings as given.
   */
  endEpoch(metrics?: Readonly<Record<string, number | string>>): EpochSummary;
  /** Print a line without garbling an active bar. */
  log(line: string): void;
  /** Stop any live bar (idempotent). Call in `finally` blocks. */
  stop(): void;
}

/**
 * Create an epoch/step progress reporter. On a terminal it shows a live
 * `cli-progress` bar per epoch with running loss, samples/s and ETA, replaced
 * by a one-line summary at the end of the epoch; when the stream is not a TTY
 * (CI, jest, `| tee log`) it prints only the summary lines and never emits
 * escape codes.
 *
 * @param opts - see {@link ProgressOptions}; defaults: `process.stdout`, mode `'auto'`, 1 sample/step, 4 decimals.
 * @returns a {@link Progress} handle.
 *
 * @example
 * ```ts
 * const progress = createProgress({ epochs: 10, stepsPerEpoch: Math.ceil(nTrain / 64), samplesPerStep: 64 });
 * try {
 *   for (let e = 0; e < 10; e++) {
 *     for (const batch of batches) progress.step({ loss: trainStep(batch) });
 *     progress.endEpoch({ test_acc: evaluate() });
 *     // epoch  1/10  loss 0.4123  test_acc 0.9210  | 1.2k samples/s  6.8s  ETA 1m01s
 *   }
 * } finally {
 *   progress.stop();
 * }
 * ```
 */
export function createProgress(opts: ProgressOptions): Progress {
  const stream: ProgressStream = opts.stream ?? process.stdout;
  const decimals = opts.decimals ?? 4;
  const perStep = opts.samplesPerStep ?? 1;
  const requested = opts.mode ?? 'auto';
  const mode: ProgressMode =
    requested !== 'auto'
      ? requested
      : stream.isTTY === true && !process.env.CI && process.env.TERM !== 'dumb'
        ? 'bar'
        : 'lines';
  const epochW = String(opts.epochs).length;

  let bar: SingleBar | null = null;
  let epoch = 0;
  let inEpoch = false;
  let epochStart = 0;
  let steps = 0;
  let samples = 0;
  let lossSum = 0;
  let lossCount = 0;
  let epochsDone = 0;
  let trainMs = 0;

  const fmt = (v: number): string => (Number.isFinite(v) ? v.toFixed(decimals) : String(v));
  const rate = (n: number, ms: number): string => {
    const r = ms > 0 ? (n * 1000) / ms : NaN;
    if (!Number.isFinite(r)) return '?';
    return r >= 1e4 ? `${(r / 1000).toFixed(1)}k` : r >= 100 ? r.toFixed(0) : r.toFixed(1);
  };

  const payload = () => {
    const elapsed = performance.now() - epochStart;
    const etaMs = steps > 0 ? (elapsed / steps) * Math.max(0, opts.stepsPerEpoch - steps) : NaN;
    return {
      epoch: `${String(epoch).padStart(epochW)}/${opts.epochs}`,
      loss: lossCount ? fmt(lossSum / lossCount) : '-',
      rate: rate(samples, elapsed),
      etaText: formatDuration(etaMs),
    };
  };

  const total = Math.max(1, opts.stepsPerEpoch);

  // cli-progress saves/restores the cursor around a bar, so anything printed
  // while a bar is live must stop it first and start a fresh one afterwards.
  const startBar = (): void => {
    bar = new SingleBar({
      stream: stream as unknown as NodeJS.WritableStream,
      format: 'epoch {epoch} [{bar}] {percentage}% | loss {loss} | {rate} samples/s | ETA {etaText}',
      barsize: 24,
      barCompleteChar: '=',
      barIncompleteChar: '-',
      clearOnComplete: true,
      hideCursor: false,
      gracefulExit: false,
      forceRedraw: true,
      fps: 10,
    });
    bar.start(total, Math.min(steps, total), payload());
  };

  const startEpoch = (n?: number): void => {
    if (inEpoch) stopBar();
    epoch = n ?? epoch + 1;
    inEpoch = true;
    epochStart = performance.now();
    steps = 0;
    samples = 0;
    lossSum = 0;
    lossCount = 0;
    if (mode === 'bar') startBar();
  };

  const stopBar = (): void => {
    if (bar) {
      bar.stop();
      bar = null;
    }
  };

  const write = (line: string): void => {
    if (mode !== 'silent') stream.write(line + '\n');
  };

  return {
    mode,
    startEpoch,
    step(info: StepInfo = {}): void {
      if (!inEpoch) startEpoch();
      steps++;
      samples += info.samples ?? perStep;
      if (info.loss !== undefined) {
        lossSum += info.loss;
        lossCount++;
      }
      if (bar) bar.update(Math.min(steps, total), payload());
    },
    endEpoch(metrics: Readonly<Record<string, number | string>> = {}): EpochSummary {
      if (!inEpoch) startEpoch();
      const ms = performance.now() - epochStart;
      stopBar();
      inEpoch = false;
      epochsDone++;
      trainMs += ms;
      const meanLoss = lossCount ? lossSum / lossCount : NaN;
      const remaining = Math.max(0, opts.epochs - epochsDone);
      const parts = [`epoch ${String(epoch).padStart(epochW)}/${opts.epochs}`];
      if (lossCount) parts.push(`loss ${fmt(meanLoss)}`);
      for (const [k, v] of Object.entries(metrics)) parts.push(`${k} ${typeof v === 'string' ? v : fmt(v)}`);
      let line = parts.join('  ') + `  | ${rate(samples, ms)} samples/s  ${formatDuration(ms)}`;
      if (remaining > 0) line += `  ETA ${formatDuration((trainMs / epochsDone) * remaining)}`;
      write(line);
      return { epoch, meanLoss, samples, ms, samplesPerSec: ms > 0 ? (samples * 1000) / ms : NaN, line };
    },
    log(line: string): void {
      if (bar) {
        stopBar();
        write(line);
        startBar();
      } else {
        write(line);
      }
    },
    stop(): void {
      stopBar();
    },
  };
}
