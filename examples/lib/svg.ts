/**
 * Dependency-free SVG writers for the example scripts: line charts (loss /
 * accuracy curves with an optional second y-axis), 2-D decision regions,
 * confusion-matrix heatmaps and grids of digit images.
 *
 * Every function returns a complete standalone SVG document as a string;
 * write it with `fs.writeFileSync('runs/loss.svg', svg)` and open it in a
 * browser. Works on plain numbers and typed arrays (no `src/` imports).
 *
 * @module
 */

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/**
 * Default categorical palette (Tableau 10): blue, orange, red, teal, green,
 * yellow, purple, pink, brown, grey.
 */
export const PALETTE: readonly string[] = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";
const INK = '#1f2937';
const MUTED = '#6b7280';
const GRID = '#e5e7eb';
const AXIS = '#9ca3af';

let idCounter = 0;
function nextId(prefix: string): string {
  idCounter += 1;
  return `${prefix}${idCounter}`;
}

/**
 * Escape text for use in SVG/XML character data and attribute values.
 *
 * @param s - raw text.
 * @returns `s` with `& < > " '` replaced by entities.
 *
 * @example
 * ```ts
 * escapeXml('a<b & "c"'); // 'a&lt;b &amp; &quot;c&quot;'
 * ```
 */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) =>
    ch === '&' ? '&amp;' : ch === '<' ? '&lt;' : ch === '>' ? '&gt;' : ch === '"' ? '&quot;' : '&#39;',
  );
}

/** Round to 2 decimals for compact coordinates. */
function r2(v: number): string {
  const s = (Math.round(v * 100) / 100).toString();
  return s === '-0' ? '0' : s;
}

/** Rough width of `text` in px at `size` px (no font metrics available). */
function textWidth(text: string, size: number): number {
  return text.length * size * 0.58;
}

function parseHex(color: string): [number, number, number] | null {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color.trim());
  if (!m) return null;
  let h = m[1];
  if (h.length === 3) h = h[0] + h[0] + h[1] + h[1] + h[2] + h[2];
  return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
}

function toHex(rgb: readonly number[]): string {
  return (
    '#' +
    rgb
      .map((v) =>
        Math.max(0, Math.min(255, Math.round(v)))
          .toString(16)
          .padStart(2, '0'),
      )
      .join('')
  );
}

/** Mix `color` with `other` (t = 0 -> color, 1 -> other). Non-hex colours are returned unchanged. */
function mix(color: string, other: string, t: number): string {
  const a = parseHex(color);
  const b = parseHex(other);
  if (!a || !b) return color;
  return toHex([0, 1, 2].map((i) => a[i] + (b[i] - a[i]) * t));
}

function svgDocument(width: number, height: number, title: string | undefined, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${r2(width)}" height="${r2(height)}" viewBox="0 0 ${r2(width)} ${r2(height)}" font-family="${escapeXml(FONT)}" font-size="12" fill="${INK}">`,
    title ? `<title>${escapeXml(title)}</title>` : '',
    `<rect x="0" y="0" width="${r2(width)}" height="${r2(height)}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ]
    .filter((s) => s !== '')
    .join('\n');
}

function text(
  x: number,
  y: number,
  content: string,
  attrs: Record<string, string | number | undefined> = {},
): string {
  const a = Object.entries(attrs)
    .filter((e): e is [string, string | number] => e[1] !== undefined)
    .map(([k, v]) => ` ${k}="${typeof v === 'number' ? r2(v) : escapeXml(v)}"`)
    .join('');
  return `<text x="${r2(x)}" y="${r2(y)}"${a}>${escapeXml(content)}</text>`;
}

/** Tick positions and a formatter for one axis. */
interface Ticks {
  lo: number;
  hi: number;
  values: number[];
  format: (v: number) => string;
}

function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const nice = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return nice * mag;
}

function formatWithStep(v: number, step: number): string {
  if (v === 0) return '0';
  const av = Math.abs(v);
  if (av >= 1e4 && step >= 1000) {
    if (av >= 1e6 && step >= 1e5) return `${trimZeros((v / 1e6).toFixed(Math.max(0, -Math.floor(Math.log10(step / 1e6)))))}M`;
    return `${trimZeros((v / 1e3).toFixed(Math.max(0, -Math.floor(Math.log10(step / 1e3)))))}k`;
  }
  if (av < 1e-4) return v.toExponential(1);
  const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

function trimZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** Linear ticks; `extend` rounds the domain out to whole ticks. */
function linearTicks(min: number, max: number, target: number, extend: boolean, integer = false): Ticks {
  if (!(max > min)) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  let step = niceStep(max - min, target);
  if (integer && step < 1) step = 1;
  const lo = extend ? Math.floor(min / step + 1e-9) * step : min;
  const hi = extend ? Math.ceil(max / step - 1e-9) * step : max;
  const values: number[] = [];
  const first = Math.ceil(lo / step - 1e-9);
  for (let k = first; k * step <= hi + step * 1e-9; k++) values.push(k * step);
  const fix = (v: number): number => Number(v.toPrecision(12));
  return { lo, hi, values: values.map(fix), format: (v) => formatWithStep(v, step) };
}

function formatLog(v: number): string {
  if (v >= 1e-3 && v < 1e5) return String(Number(v.toPrecision(3)));
  const e = Math.floor(Math.log10(v));
  const m = v / 10 ** e;
  return Math.abs(m - 1) < 1e-9 ? `1e${e}` : `${trimZeros(m.toFixed(1))}e${e}`;
}

/** Log10 ticks at 1-2-5 / 1-3 / 1 multiples of powers of ten; domain rounded out to ticks. */
function logTicks(min: number, max: number): Ticks {
  if (!(min > 0)) min = max > 0 ? max / 10 : 1;
  if (!(max > min)) max = min * 10;
  const e0 = Math.floor(Math.log10(min) + 1e-9);
  const e1 = Math.ceil(Math.log10(max) - 1e-9);
  const decades = Math.max(1, e1 - e0);
  const mults = decades <= 2 ? [1, 2, 5] : decades <= 4 ? [1, 3] : [1];
  const cand: number[] = [];
  for (let e = e0; e <= e1; e++) for (const m of mults) cand.push(Number((m * 10 ** e).toPrecision(12)));
  let lo = cand[0];
  let hi = cand[cand.length - 1];
  for (const v of cand) if (v <= min * (1 + 1e-9)) lo = v;
  for (let i = cand.length - 1; i >= 0; i--) if (cand[i] >= max * (1 - 1e-9)) hi = cand[i];
  if (!(hi > lo)) hi = lo * 10;
  return { lo, hi, values: cand.filter((v) => v >= lo && v <= hi), format: formatLog };
}

function finiteExtent(values: Iterable<number>, positiveOnly = false): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v) || (positiveOnly && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}

// ---------------------------------------------------------------------------
// Line chart
// ---------------------------------------------------------------------------

/** One curve of a {@link lineChartSvg}. */
export interface LineSeries {
  /** Legend label. */
  name: string;
  /** y values; non-finite values (NaN, Infinity) leave a gap in the line. */
  values: ArrayLike<number>;
  /** x values, same length as `values` (default: `xStart + index`). */
  x?: ArrayLike<number>;
  /** Which y-axis the series uses (default: `'left'`). */
  axis?: 'left' | 'right';
  /** Stroke colour (default: next {@link PALETTE} entry). */
  color?: string;
  /** Draw dashed (default: false). */
  dashed?: boolean;
}

/** Options for {@link lineChartSvg}. */
export interface LineChartOptions {
  /** Chart title. */
  title: string;
  /** Optional smaller line under the title. */
  subtitle?: string;
  /** x-axis label (default: none). */
  xLabel?: string;
  /** Left y-axis label (default: names of the left-axis series). */
  yLabel?: string;
  /** Right y-axis label (default: names of the right-axis series). */
  yLabelRight?: string;
  /** Curves to draw. */
  series: LineSeries[];
  /** Document width in px (default: 800). */
  width?: number;
  /** Document height in px (default: 450). */
  height?: number;
  /** x of the first value when a series has no `x` (default: 1, e.g. epoch 1). */
  xStart?: number;
  /** Fixed left-axis range (default: fitted to the data and rounded to nice ticks). */
  yRange?: [number, number];
  /** Fixed right-axis range, e.g. `[0, 1]` for accuracy (default: fitted). */
  yRangeRight?: [number, number];
  /** Logarithmic left axis, handy for losses (default: false). Values <= 0 are skipped. */
  logY?: boolean;
  /** Tick label formatter for the left axis (default: based on tick step). */
  formatY?: (v: number) => string;
  /** Tick label formatter for the right axis, e.g. `(v) => `${v * 100}%`` (default: based on tick step). */
  formatYRight?: (v: number) => string;
  /**
   * Series longer than this are bucketed: a line through bucket means plus a
   * light min-max band, which keeps noisy per-step losses readable and the
   * file small (default: 600).
   */
  maxPoints?: number;
  /** Draw point markers when a series has at most this many points (default: 60). */
  markersUpTo?: number;
  /** Show each series' last finite value in the legend (default: true). */
  legendValues?: boolean;
}

interface PreparedSeries {
  name: string;
  color: string;
  dashed: boolean;
  axis: 'left' | 'right';
  /** Segments of [x, y] points (means when bucketed). */
  segments: Array<Array<[number, number]>>;
  /** Min/max band segments (only when bucketed): [x, lo, hi]. */
  band: Array<Array<[number, number, number]>>;
  last: number | undefined;
  count: number;
  bucketed: boolean;
  /** Extent of the raw (un-bucketed) finite x values. */
  xMin: number;
  xMax: number;
}

function prepareSeries(s: LineSeries, color: string, xStart: number, maxPoints: number, log: boolean): PreparedSeries {
  const n = s.values.length;
  if (s.x && s.x.length !== n) {
    throw new RangeError(`lineChartSvg: series "${s.name}" has ${n} values but ${s.x.length} x values`);
  }
  const xAt = (i: number): number => (s.x ? s.x[i] : xStart + i);
  const ok = (x: number, y: number): boolean => Number.isFinite(x) && Number.isFinite(y) && (!log || y > 0);
  const segments: Array<Array<[number, number]>> = [];
  const band: Array<Array<[number, number, number]>> = [];
  let last: number | undefined;
  let count = 0;
  let xMin = Infinity;
  let xMax = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = xAt(i);
    if (!ok(x, s.values[i])) continue;
    last = s.values[i];
    count++;
    if (x < xMin) xMin = x;
    if (x > xMax) xMax = x;
  }
  const bucketed = n > maxPoints;
  if (!bucketed) {
    let seg: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) {
      const x = xAt(i);
      const y = s.values[i];
      if (ok(x, y)) seg.push([x, y]);
      else if (seg.length) {
        segments.push(seg);
        seg = [];
      }
    }
    if (seg.length) segments.push(seg);
  } else {
    const buckets = Math.max(2, Math.floor(maxPoints));
    let seg: Array<[number, number]> = [];
    let bseg: Array<[number, number, number]> = [];
    for (let b = 0; b < buckets; b++) {
      const i0 = Math.floor((b * n) / buckets);
      const i1 = Math.floor(((b + 1) * n) / buckets);
      let sx = 0;
      let sy = 0;
      let c = 0;
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = i0; i < i1; i++) {
        const x = xAt(i);
        const y = s.values[i];
        if (!ok(x, y)) continue;
        sx += x;
        // Average log-losses geometrically so the mean line sits inside the band.
        sy += log ? Math.log(y) : y;
        c++;
        if (y < lo) lo = y;
        if (y > hi) hi = y;
      }
      if (c > 0) {
        const mx = sx / c;
        const my = log ? Math.exp(sy / c) : sy / c;
        seg.push([mx, my]);
        bseg.push([mx, lo, hi]);
      } else if (seg.length) {
        segments.push(seg);
        band.push(bseg);
        seg = [];
        bseg = [];
      }
    }
    if (seg.length) {
      segments.push(seg);
      band.push(bseg);
    }
  }
  return {
    name: s.name,
    color,
    dashed: s.dashed ?? false,
    axis: s.axis ?? 'left',
    segments,
    band,
    last,
    count,
    bucketed,
    xMin,
    xMax,
  };
}

function formatLegendValue(v: number): string {
  const av = Math.abs(v);
  if (av !== 0 && (av < 1e-3 || av >= 1e6)) return v.toExponential(2);
  return trimZeros(v.toPrecision(4));
}

/**
 * Render one or more curves as an SVG line chart with axes, ticks, grid,
 * legend and an optional second (right) y-axis.
 *
 * Each series becomes one `<polyline>` per unbroken run of finite values.
 * Short series (<= `markersUpTo` points) also get circle markers with hover
 * tooltips. Long series (> `maxPoints`) are bucketed into a mean line plus a
 * translucent min-max band (`<polygon>`), so 100k-step loss curves stay small.
 *
 * @param opts - see {@link LineChartOptions}; defaults: 800x450 px, xStart 1, linear axes fitted to the data.
 * @returns a standalone SVG document.
 * @throws RangeError if a series' `x` and `values` lengths differ.
 *
 * @example
 * ```ts
 * fs.writeFileSync('runs/mnist.svg', lineChartSvg({
 *   title: 'MNIST MLP', xLabel: 'epoch',
 *   series: [
 *     { name: 'train loss', values: losses },
 *     { name: 'train acc', values: trainAcc, axis: 'right' },
 *     { name: 'test acc', values: testAcc, axis: 'right', dashed: true },
 *   ],
 *   yRangeRight: [0, 1],
 * }));
 * ```
 */
export function lineChartSvg(opts: LineChartOptions): string {
  const W = opts.width ?? 800;
  const H = opts.height ?? 450;
  const xStart = opts.xStart ?? 1;
  const maxPoints = opts.maxPoints ?? 600;
  const markersUpTo = opts.markersUpTo ?? 60;
  const log = opts.logY ?? false;
  const legendValues = opts.legendValues ?? true;
  const clipId = nextId('tg-clip-');

  const prepared = opts.series.map((s, i) =>
    prepareSeries(s, s.color ?? PALETTE[i % PALETTE.length], xStart, maxPoints, log && (s.axis ?? 'left') === 'left'),
  );
  const left = prepared.filter((p) => p.axis === 'left');
  const right = prepared.filter((p) => p.axis === 'right');
  const hasRight = right.length > 0;
  const hasLeft = left.length > 0 || !hasRight;

  // ---- legend layout (rows under the title) ----
  const legendFont = 12;
  const legendItems = prepared.map((p) => {
    let label = p.name;
    if (hasRight && hasLeft) label += p.axis === 'right' ? ' (right)' : ' (left)';
    if (legendValues && p.last !== undefined) label += `: ${formatLegendValue(p.last)}`;
    return { p, label, w: 22 + textWidth(label, legendFont) + 18 };
  });
  const titleH = 28 + (opts.subtitle ? 18 : 0);
  const mLeft = hasLeft ? 70 : 24;
  const mRight = hasRight ? 70 : 24;
  const plotW0 = W - mLeft - mRight;
  const rows: Array<typeof legendItems> = [];
  let rowW = 0;
  for (const it of legendItems) {
    if (!rows.length || rowW + it.w > plotW0) {
      rows.push([]);
      rowW = 0;
    }
    rows[rows.length - 1].push(it);
    rowW += it.w;
  }
  const legendH = rows.length * 18 + (rows.length ? 6 : 0);
  const mTop = titleH + legendH + 12;
  const mBottom = opts.xLabel ? 52 : 34;
  const plotX = mLeft;
  const plotY = mTop;
  const plotW = Math.max(10, W - mLeft - mRight);
  const plotH = Math.max(10, H - mTop - mBottom);

  // ---- domains ----
  const allX: number[] = [];
  for (const p of prepared) {
    if (p.count > 0) allX.push(p.xMin, p.xMax);
    if (!p.bucketed) for (const seg of p.segments) for (const [x] of seg) allX.push(x);
  }
  const xExt = finiteExtent(allX) ?? [xStart, xStart + 1];
  const xInteger = allX.every((x) => Number.isInteger(x));
  const xt = linearTicks(xExt[0], xExt[1], Math.max(2, Math.floor(plotW / 90)), false, xInteger);

  const yValues = (group: PreparedSeries[]): number[] => {
    const out: number[] = [];
    for (const p of group) {
      for (const seg of p.segments) for (const [, y] of seg) out.push(y);
      for (const seg of p.band) for (const [, lo, hi] of seg) out.push(lo, hi);
    }
    return out;
  };
  const yTarget = Math.max(2, Math.floor(plotH / 55));
  const axisTicks = (group: PreparedSeries[], range: [number, number] | undefined, isLog: boolean): Ticks => {
    if (range) {
      const t = isLog ? logTicks(range[0], range[1]) : linearTicks(range[0], range[1], yTarget, false);
      return { ...t, lo: range[0], hi: range[1] };
    }
    const ext = finiteExtent(yValues(group), isLog) ?? (isLog ? [0.1, 1] : [0, 1]);
    return isLog ? logTicks(ext[0], ext[1]) : linearTicks(ext[0], ext[1], yTarget, true);
  };
  const ytL = axisTicks(left, opts.yRange, log);
  const ytR = axisTicks(right, opts.yRangeRight, false);
  const fmtL = opts.formatY ?? ytL.format;
  const fmtR = opts.formatYRight ?? ytR.format;

  const sx = (x: number): number => plotX + ((x - xt.lo) / (xt.hi - xt.lo || 1)) * plotW;
  const syFor = (axis: 'left' | 'right') => {
    const t = axis === 'left' ? ytL : ytR;
    const isLog = axis === 'left' && log;
    const lo = isLog ? Math.log10(t.lo) : t.lo;
    const hi = isLog ? Math.log10(t.hi) : t.hi;
    return (y: number): number => plotY + plotH - (((isLog ? Math.log10(y) : y) - lo) / (hi - lo || 1)) * plotH;
  };
  const syL = syFor('left');
  const syR = syFor('right');

  const body: string[] = [];
  body.push(`<defs><clipPath id="${clipId}"><rect x="${r2(plotX)}" y="${r2(plotY)}" width="${r2(plotW)}" height="${r2(plotH)}"/></clipPath></defs>`);

  // Title, subtitle.
  body.push(text(W / 2, 22, opts.title, { 'text-anchor': 'middle', 'font-size': 16, 'font-weight': 600 }));
  if (opts.subtitle) body.push(text(W / 2, 40, opts.subtitle, { 'text-anchor': 'middle', fill: MUTED }));

  // Legend.
  const legend: string[] = ['<g class="legend">'];
  rows.forEach((row, ri) => {
    const total = row.reduce((a, it) => a + it.w, 0) - 18;
    let x = plotX + Math.max(0, (plotW - total) / 2);
    const y = titleH + 10 + ri * 18;
    for (const it of row) {
      legend.push(
        `<line x1="${r2(x)}" y1="${r2(y)}" x2="${r2(x + 18)}" y2="${r2(y)}" stroke="${it.p.color}" stroke-width="2.5"${it.p.dashed ? ' stroke-dasharray="6 4"' : ''} stroke-linecap="round"/>`,
      );
      legend.push(text(x + 22, y + 4, it.label, { fill: INK }));
      x += it.w;
    }
  });
  legend.push('</g>');
  body.push(legend.join('\n'));

  // Grid + axes.
  const grid: string[] = ['<g class="grid" stroke-width="1" shape-rendering="crispEdges">'];
  const gridTicks = hasLeft ? ytL : ytR;
  const gridSy = hasLeft ? syL : syR;
  for (const v of gridTicks.values) {
    const y = gridSy(v);
    if (y < plotY - 0.5 || y > plotY + plotH + 0.5) continue;
    grid.push(`<line x1="${r2(plotX)}" y1="${r2(y)}" x2="${r2(plotX + plotW)}" y2="${r2(y)}" stroke="${GRID}"/>`);
  }
  for (const v of xt.values) {
    const x = sx(v);
    grid.push(`<line x1="${r2(x)}" y1="${r2(plotY)}" x2="${r2(x)}" y2="${r2(plotY + plotH)}" stroke="${GRID}" stroke-dasharray="2 3"/>`);
  }
  grid.push(`<rect x="${r2(plotX)}" y="${r2(plotY)}" width="${r2(plotW)}" height="${r2(plotH)}" fill="none" stroke="${AXIS}"/>`);
  grid.push('</g>');
  body.push(grid.join('\n'));

  const axes: string[] = ['<g class="axes" font-size="11" fill="' + MUTED + '">'];
  for (const v of xt.values) {
    const x = sx(v);
    axes.push(`<line x1="${r2(x)}" y1="${r2(plotY + plotH)}" x2="${r2(x)}" y2="${r2(plotY + plotH + 5)}" stroke="${AXIS}"/>`);
    axes.push(text(x, plotY + plotH + 18, xt.format(v), { 'text-anchor': 'middle' }));
  }
  const yAxis = (t: Ticks, sy: (y: number) => number, fmt: (v: number) => string, side: 'left' | 'right'): void => {
    const x0 = side === 'left' ? plotX : plotX + plotW;
    const dir = side === 'left' ? -1 : 1;
    for (const v of t.values) {
      const y = sy(v);
      if (y < plotY - 0.5 || y > plotY + plotH + 0.5) continue;
      axes.push(`<line x1="${r2(x0)}" y1="${r2(y)}" x2="${r2(x0 + dir * 5)}" y2="${r2(y)}" stroke="${AXIS}"/>`);
      axes.push(text(x0 + dir * 8, y + 4, fmt(v), { 'text-anchor': side === 'left' ? 'end' : 'start' }));
    }
  };
  if (hasLeft) yAxis(ytL, syL, fmtL, 'left');
  if (hasRight) yAxis(ytR, syR, fmtR, 'right');
  axes.push('</g>');
  body.push(axes.join('\n'));

  // Axis labels.
  if (opts.xLabel) body.push(text(plotX + plotW / 2, H - 12, opts.xLabel, { 'text-anchor': 'middle', fill: INK }));
  const leftLabel = opts.yLabel ?? left.map((p) => p.name).join(', ');
  const rightLabel = opts.yLabelRight ?? right.map((p) => p.name).join(', ');
  const cy = plotY + plotH / 2;
  if (hasLeft && leftLabel) {
    body.push(text(16, cy, leftLabel + (log ? ' (log)' : ''), { 'text-anchor': 'middle', transform: `rotate(-90 16 ${r2(cy)})` }));
  }
  if (hasRight && rightLabel) {
    body.push(text(W - 14, cy, rightLabel, { 'text-anchor': 'middle', transform: `rotate(90 ${r2(W - 14)} ${r2(cy)})` }));
  }

  // Data.
  const data: string[] = [`<g class="series" clip-path="url(#${clipId})" fill="none" stroke-linejoin="round" stroke-linecap="round">`];
  for (const p of prepared) {
    const sy = p.axis === 'left' ? syL : syR;
    const fmtX = (x: number): string => (Number.isInteger(x) ? String(x) : formatLegendValue(x));
    data.push(`<g class="line" data-name="${escapeXml(p.name)}">`);
    for (const seg of p.band) {
      if (seg.length < 2) continue;
      const upper = seg.map(([x, , hi]) => `${r2(sx(x))},${r2(sy(hi))}`);
      const lower = seg.map(([x, lo]) => `${r2(sx(x))},${r2(sy(lo))}`).reverse();
      data.push(`<polygon points="${upper.concat(lower).join(' ')}" fill="${p.color}" fill-opacity="0.18" stroke="none"/>`);
    }
    for (const seg of p.segments) {
      const pts = seg.map(([x, y]) => `${r2(sx(x))},${r2(sy(y))}`).join(' ');
      data.push(
        `<polyline points="${pts}" stroke="${p.color}" stroke-width="2"${p.dashed ? ' stroke-dasharray="6 4"' : ''}><title>${escapeXml(p.name)}</title></polyline>`,
      );
    }
    if (!p.bucketed && p.count <= markersUpTo) {
      for (const seg of p.segments) {
        for (const [x, y] of seg) {
          data.push(
            `<circle cx="${r2(sx(x))}" cy="${r2(sy(y))}" r="3" fill="${p.color}" stroke="#ffffff" stroke-width="1"><title>${escapeXml(`${p.name}: ${fmtX(x)}, ${formatLegendValue(y)}`)}</title></circle>`,
          );
        }
      }
    }
    data.push('</g>');
  }
  data.push('</g>');
  body.push(data.join('\n'));

  return svgDocument(W, H, opts.title, body);
}

// ---------------------------------------------------------------------------
// Decision regions
// ---------------------------------------------------------------------------

/** Cell centres produced by {@link gridPoints}. */
export interface GridPoints {
  /** x of each cell centre, length `nx * ny`. */
  x: Float64Array;
  /** y of each cell centre, length `nx * ny`. */
  y: Float64Array;
  /** `nx * ny`. */
  n: number;
}

/**
 * Centres of an `nx` x `ny` grid of cells covering `xRange` x `yRange`, in
 * the order {@link decisionRegionsSvg} expects: row-major, row 0 at the
 * bottom (`yRange[0]`), i.e. index `iy * nx + ix`.
 *
 * @param xRange - `[xmin, xmax]`.
 * @param yRange - `[ymin, ymax]`.
 * @param nx - cells along x.
 * @param ny - cells along y.
 * @returns the cell centres.
 *
 * @example
 * ```ts
 * const g = gridPoints([-1, 1], [-1, 1], 120, 120);
 * const classes = predictClasses(g.x, g.y); // your model, Int32Array(g.n)
 * const svg = decisionRegionsSvg({ width: 600, height: 600, xRange: [-1, 1], yRange: [-1, 1],
 *   grid: { nx: 120, ny: 120, classes }, points });
 * ```
 */
export function gridPoints(xRange: [number, number], yRange: [number, number], nx: number, ny: number): GridPoints {
  if (!Number.isInteger(nx) || !Number.isInteger(ny) || nx <= 0 || ny <= 0) {
    throw new RangeError(`gridPoints: nx, ny must be positive integers, got ${nx}, ${ny}`);
  }
  const n = nx * ny;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const dx = (xRange[1] - xRange[0]) / nx;
  const dy = (yRange[1] - yRange[0]) / ny;
  for (let iy = 0; iy < ny; iy++) {
    for (let ix = 0; ix < nx; ix++) {
      x[iy * nx + ix] = xRange[0] + (ix + 0.5) * dx;
      y[iy * nx + ix] = yRange[0] + (iy + 0.5) * dy;
    }
  }
  return { x, y, n };
}

/** Options for {@link decisionRegionsSvg}. */
export interface DecisionRegionsOptions {
  /** Document width in px. */
  width: number;
  /** Document height in px. */
  height: number;
  /** Data-space x extent covered by the grid, `[xmin, xmax]`. */
  xRange: [number, number];
  /** Data-space y extent covered by the grid, `[ymin, ymax]`. */
  yRange: [number, number];
  /**
   * Predicted class per grid cell, index `iy * nx + ix` with `iy = 0` at the
   * bottom (see {@link gridPoints}). Negative classes are left blank.
   */
  grid: { nx: number; ny: number; classes: Int32Array };
  /** Optional per-cell confidence in [0, 1] (e.g. max softmax prob); low confidence fades the cell. */
  confidence?: ArrayLike<number>;
  /** Data points drawn on top, coloured by their true label. */
  points: { x: ArrayLike<number>; y: ArrayLike<number>; label: Int32Array };
  /** Colour per class (default: {@link PALETTE}). */
  classColors?: readonly string[];
  /** Legend names per class (default: `class 0`, `class 1`, ...). */
  classNames?: readonly string[];
  /** Title (default: none). */
  title?: string;
  /** Point radius in px (default: 3.5, or 2.5 above 1000 points). */
  pointRadius?: number;
  /** Draw thin lines along class boundaries (default: true). */
  boundaries?: boolean;
}

/**
 * Render a 2-D classifier's decision regions: light background cells coloured
 * by the predicted class, optional boundary lines, and the data points in a
 * darker shade of their true class with a white outline (so misclassified
 * points stand out against a differently coloured cell).
 *
 * Adjacent same-class cells of a row are merged into one `<rect>`; every data
 * point is one `<circle>`.
 *
 * @param opts - see {@link DecisionRegionsOptions}; defaults: Tableau palette, boundaries on.
 * @returns a standalone SVG document.
 * @throws RangeError if `grid.classes.length !== nx * ny` or point arrays differ in length.
 *
 * @example
 * ```ts
 * const svg = decisionRegionsSvg({
 *   width: 640, height: 640, xRange: [-1.2, 1.2], yRange: [-1.2, 1.2],
 *   grid: { nx: 150, ny: 150, classes }, points: { x: xs, y: ys, label: ys3 },
 *   title: 'spiral, 3 classes', classNames: ['A', 'B', 'C'],
 * });
 * ```
 */
export function decisionRegionsSvg(opts: DecisionRegionsOptions): string {
  const { width: W, height: H, xRange, yRange } = opts;
  const { nx, ny, classes } = opts.grid;
  if (classes.length !== nx * ny) {
    throw new RangeError(`decisionRegionsSvg: grid.classes has ${classes.length} entries, expected nx*ny = ${nx * ny}`);
  }
  if (opts.confidence && opts.confidence.length !== classes.length) {
    throw new RangeError(`decisionRegionsSvg: confidence has ${opts.confidence.length} entries, expected ${classes.length}`);
  }
  const pts = opts.points;
  if (pts.x.length !== pts.y.length || pts.x.length !== pts.label.length) {
    throw new RangeError('decisionRegionsSvg: points.x, points.y and points.label must have the same length');
  }
  const colors = opts.classColors ?? PALETTE;
  const colorOf = (c: number): string => (c >= 0 ? colors[c % colors.length] : '#9ca3af');
  let maxClass = -1;
  for (let i = 0; i < classes.length; i++) maxClass = Math.max(maxClass, classes[i]);
  for (let i = 0; i < pts.label.length; i++) maxClass = Math.max(maxClass, pts.label[i]);
  const nClasses = Math.max(maxClass + 1, opts.classNames?.length ?? 0);
  const names = Array.from({ length: nClasses }, (_, c) => opts.classNames?.[c] ?? `class ${c}`);

  const titleH = opts.title ? 30 : 8;
  const legendH = nClasses > 0 ? 22 : 0;
  const mTop = titleH + legendH + 6;
  const mLeft = 52;
  const mRight = 16;
  const mBottom = 36;
  const plotW = Math.max(10, W - mLeft - mRight);
  const plotH = Math.max(10, H - mTop - mBottom);
  const px0 = mLeft;
  const py0 = mTop;
  const sx = (x: number): number => px0 + ((x - xRange[0]) / (xRange[1] - xRange[0] || 1)) * plotW;
  const sy = (y: number): number => py0 + plotH - ((y - yRange[0]) / (yRange[1] - yRange[0] || 1)) * plotH;
  const cw = plotW / nx;
  const ch = plotH / ny;
  const clipId = nextId('tg-clip-');

  const body: string[] = [];
  body.push(`<defs><clipPath id="${clipId}"><rect x="${r2(px0)}" y="${r2(py0)}" width="${r2(plotW)}" height="${r2(plotH)}"/></clipPath></defs>`);
  if (opts.title) body.push(text(W / 2, 21, opts.title, { 'text-anchor': 'middle', 'font-size': 16, 'font-weight': 600 }));

  // Legend.
  if (nClasses > 0) {
    const items = names.map((nm) => ({ nm, w: 18 + textWidth(nm, 12) + 16 }));
    const total = items.reduce((a, it) => a + it.w, 0) - 16;
    let x = px0 + Math.max(0, (plotW - total) / 2);
    const y = titleH + 10;
    const leg: string[] = ['<g class="legend">'];
    items.forEach((it, c) => {
      leg.push(`<rect x="${r2(x)}" y="${r2(y - 6)}" width="12" height="12" rx="2" fill="${mix(colorOf(c), '#ffffff', 0.55)}" stroke="${mix(colorOf(c), '#000000', 0.3)}"/>`);
      leg.push(text(x + 17, y + 4, it.nm));
      x += it.w;
    });
    leg.push('</g>');
    body.push(leg.join('\n'));
  }

  // Cells: merge horizontal runs of equal class (and equal quantised confidence).
  const conf = opts.confidence;
  const level = (i: number): number => (conf ? Math.round(Math.max(0, Math.min(1, conf[i])) * 8) : 8);
  const cells: string[] = [`<g class="cells" clip-path="url(#${clipId})" shape-rendering="crispEdges" stroke="none">`];
  for (let iy = 0; iy < ny; iy++) {
    let ix = 0;
    while (ix < nx) {
      const i = iy * nx + ix;
      const c = classes[i];
      const lv = level(i);
      let end = ix + 1;
      while (end < nx && classes[iy * nx + end] === c && level(iy * nx + end) === lv) end++;
      if (c >= 0) {
        // Slight overlap (0.5 px) hides hairline seams between rects.
        const x = px0 + ix * cw;
        const y = py0 + plotH - (iy + 1) * ch;
        const fill = mix(colorOf(c), '#ffffff', 0.55 + (1 - lv / 8) * 0.4);
        cells.push(`<rect x="${r2(x)}" y="${r2(y)}" width="${r2((end - ix) * cw + 0.5)}" height="${r2(ch + 0.5)}" fill="${fill}"/>`);
      }
      ix = end;
    }
  }
  cells.push('</g>');
  body.push(cells.join('\n'));

  // Class boundaries as one path of cell edges.
  if (opts.boundaries ?? true) {
    const d: string[] = [];
    for (let iy = 0; iy < ny; iy++) {
      for (let ix = 0; ix < nx; ix++) {
        const c = classes[iy * nx + ix];
        if (ix + 1 < nx && classes[iy * nx + ix + 1] !== c) {
          const x = px0 + (ix + 1) * cw;
          d.push(`M${r2(x)} ${r2(py0 + plotH - (iy + 1) * ch)}v${r2(ch)}`);
        }
        if (iy + 1 < ny && classes[(iy + 1) * nx + ix] !== c) {
          const y = py0 + plotH - (iy + 1) * ch;
          d.push(`M${r2(px0 + ix * cw)} ${r2(y)}h${r2(cw)}`);
        }
      }
    }
    if (d.length) body.push(`<path class="boundaries" d="${d.join('')}" fill="none" stroke="${INK}" stroke-opacity="0.35" stroke-width="1"/>`);
  }

  // Axes.
  const xt = linearTicks(xRange[0], xRange[1], Math.max(2, Math.floor(plotW / 80)), false);
  const yt = linearTicks(yRange[0], yRange[1], Math.max(2, Math.floor(plotH / 60)), false);
  const axes: string[] = [`<g class="axes" font-size="11" fill="${MUTED}">`];
  axes.push(`<rect x="${r2(px0)}" y="${r2(py0)}" width="${r2(plotW)}" height="${r2(plotH)}" fill="none" stroke="${AXIS}"/>`);
  for (const v of xt.values) {
    const x = sx(v);
    axes.push(`<line x1="${r2(x)}" y1="${r2(py0 + plotH)}" x2="${r2(x)}" y2="${r2(py0 + plotH + 5)}" stroke="${AXIS}"/>`);
    axes.push(text(x, py0 + plotH + 18, xt.format(v), { 'text-anchor': 'middle' }));
  }
  for (const v of yt.values) {
    const y = sy(v);
    axes.push(`<line x1="${r2(px0 - 5)}" y1="${r2(y)}" x2="${r2(px0)}" y2="${r2(y)}" stroke="${AXIS}"/>`);
    axes.push(text(px0 - 8, y + 4, yt.format(v), { 'text-anchor': 'end' }));
  }
  axes.push('</g>');
  body.push(axes.join('\n'));

  // Points.
  const radius = opts.pointRadius ?? (pts.x.length > 1000 ? 2.5 : 3.5);
  const dots: string[] = [`<g class="points" clip-path="url(#${clipId})" stroke="#ffffff" stroke-width="${radius > 3 ? 1.2 : 0.8}">`];
  for (let i = 0; i < pts.x.length; i++) {
    const x = pts.x[i];
    const y = pts.y[i];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    dots.push(`<circle cx="${r2(sx(x))}" cy="${r2(sy(y))}" r="${r2(radius)}" fill="${mix(colorOf(pts.label[i]), '#000000', 0.28)}"/>`);
  }
  dots.push('</g>');
  body.push(dots.join('\n'));

  return svgDocument(W, H, opts.title, body);
}

// ---------------------------------------------------------------------------
// Confusion matrix heatmap
// ---------------------------------------------------------------------------

/** Options for {@link confusionMatrixSvg}. */
export interface ConfusionMatrixSvgOptions {
  /** Title (default: `'Confusion matrix'`). */
  title?: string;
  /** Cell edge in px (default: 44). */
  cellSize?: number;
}

/**
 * Render a confusion matrix (rows = true class, columns = predicted class) as
 * a heatmap. Colour intensity is the row-normalised fraction: correct cells in
 * blue, errors in red, so weak classes and common confusions stand out. A
 * right-hand column shows per-class accuracy (recall); the subtitle shows the
 * overall accuracy.
 *
 * @param matrix - square count matrix, `matrix[true][pred]`.
 * @param labels - class names, one per row (default when shorter: the index).
 * @param opts - title and cell size.
 * @returns a standalone SVG document with one `<rect class="cell">` per matrix entry.
 * @throws RangeError if `matrix` is not square.
 *
 * @example
 * ```ts
 * const m = confusionMatrix(pred, truth, 10); // from ./report
 * fs.writeFileSync('runs/confusion.svg', confusionMatrixSvg(m, ['0','1','2','3','4','5','6','7','8','9']));
 * ```
 */
export function confusionMatrixSvg(
  matrix: readonly (readonly number[])[],
  labels: readonly string[],
  opts: ConfusionMatrixSvgOptions = {},
): string {
  const k = matrix.length;
  for (const row of matrix) {
    if (row.length !== k) throw new RangeError(`confusionMatrixSvg: matrix must be square, got a row of ${row.length} in ${k}x?`);
  }
  const names = Array.from({ length: k }, (_, i) => labels[i] ?? String(i));
  const cs = opts.cellSize ?? 44;
  const title = opts.title ?? 'Confusion matrix';
  const rowSums = matrix.map((row) => row.reduce((a, b) => a + b, 0));
  const total = rowSums.reduce((a, b) => a + b, 0);
  let correct = 0;
  for (let i = 0; i < k; i++) correct += matrix[i][i];

  const labelW = Math.max(24, ...names.map((nm) => textWidth(nm, 12))) + 12;
  const mLeft = 26 + labelW;
  const mTop = 64 + 22;
  const accW = 64;
  const W = mLeft + k * cs + accW + 16;
  const H = mTop + k * cs + 20;
  const body: string[] = [];
  body.push(text(W / 2, 22, title, { 'text-anchor': 'middle', 'font-size': 16, 'font-weight': 600 }));
  body.push(
    text(
      W / 2,
      40,
      total > 0 ? `accuracy ${((100 * correct) / total).toFixed(2)}% (${correct}/${total}); colour = share of the true class` : 'empty',
      { 'text-anchor': 'middle', fill: MUTED, 'font-size': 11 },
    ),
  );
  body.push(text(mLeft + (k * cs) / 2, mTop - 26, 'predicted', { 'text-anchor': 'middle', fill: MUTED }));
  const cy = mTop + (k * cs) / 2;
  body.push(text(14, cy, 'true', { 'text-anchor': 'middle', fill: MUTED, transform: `rotate(-90 14 ${r2(cy)})` }));
  body.push(text(mLeft + k * cs + accW / 2 + 4, mTop - 8, 'acc', { 'text-anchor': 'middle', fill: MUTED, 'font-size': 11 }));

  const cellsOut: string[] = ['<g class="cells" font-size="11">'];
  for (let j = 0; j < k; j++) {
    cellsOut.push(text(mLeft + j * cs + cs / 2, mTop - 8, names[j], { 'text-anchor': 'middle', 'font-weight': 600 }));
  }
  for (let i = 0; i < k; i++) {
    const y = mTop + i * cs;
    cellsOut.push(text(mLeft - 8, y + cs / 2 + 4, names[i], { 'text-anchor': 'end', 'font-weight': 600 }));
    for (let j = 0; j < k; j++) {
      const x = mLeft + j * cs;
      const v = matrix[i][j];
      const frac = rowSums[i] > 0 ? v / rowSums[i] : 0;
      // Errors are usually small fractions; a sqrt ramp keeps them visible.
      const t = i === j ? frac : Math.min(1, Math.sqrt(frac) * 1.3);
      const base = i === j ? '#2b6cb0' : '#c53030';
      const fill = v === 0 ? '#f9fafb' : mix('#ffffff', base, 0.08 + 0.92 * t);
      const dark = v !== 0 && 0.08 + 0.92 * t > 0.55;
      const tip = `true ${names[i]}, predicted ${names[j]}: ${v}${rowSums[i] > 0 ? ` (${(100 * frac).toFixed(1)}% of ${names[i]})` : ''}`;
      cellsOut.push(
        `<rect class="cell" x="${r2(x)}" y="${r2(y)}" width="${r2(cs)}" height="${r2(cs)}" fill="${fill}" stroke="#ffffff" stroke-width="1"><title>${escapeXml(tip)}</title></rect>`,
      );
      if (v !== 0) {
        cellsOut.push(text(x + cs / 2, y + cs / 2 + 4, String(v), { 'text-anchor': 'middle', fill: dark ? '#ffffff' : INK }));
      }
    }
    const acc = rowSums[i] > 0 ? matrix[i][i] / rowSums[i] : NaN;
    cellsOut.push(
      text(mLeft + k * cs + accW / 2 + 4, y + cs / 2 + 4, Number.isNaN(acc) ? '-' : `${(100 * acc).toFixed(1)}%`, {
        'text-anchor': 'middle',
        fill: Number.isNaN(acc) ? MUTED : acc < 0.9 ? '#c53030' : INK,
      }),
    );
  }
  cellsOut.push('</g>');
  body.push(cellsOut.join('\n'));
  return svgDocument(W, H, title, body);
}

// ---------------------------------------------------------------------------
// Digit grid
// ---------------------------------------------------------------------------

/** Options for {@link digitsGridSvg}. */
export interface DigitsGridOptions {
  /** Row-major `[N * width * height]` pixels in [0, 1] (0 = background). */
  images: ArrayLike<number>;
  /** Which samples to draw, in order (default: all, up to `max`). */
  indices?: ArrayLike<number>;
  /** True labels of all N samples (indexed by sample, not by position in `indices`). */
  labels?: ArrayLike<number>;
  /** Predicted labels of all N samples; mismatches are captioned in red. */
  predicted?: ArrayLike<number>;
  /** Image width in pixels (default: 28). */
  width?: number;
  /** Image height in pixels (default: 28). */
  height?: number;
  /** Images per row (default: 10). */
  cols?: number;
  /** Screen pixels per image pixel (default: 3). */
  scale?: number;
  /** At most this many images (default: 100). */
  max?: number;
  /** Title (default: none). */
  title?: string;
}

/**
 * Render a grid of small grayscale images (e.g. misclassified digits) with
 * `true -> predicted` captions. Ink is drawn dark-on-white with 8 grey levels;
 * each image is one `<g class="digit">` holding at most 8 `<path>`s, plus a
 * hover tooltip with the sample index.
 *
 * @param opts - see {@link DigitsGridOptions}; defaults: 28x28 images, 10 columns, scale 3, max 100.
 * @returns a standalone SVG document.
 * @throws RangeError if an index is outside the image array.
 *
 * @example
 * ```ts
 * const wrong = [...Array(n).keys()].filter((i) => pred[i] !== labels[i]);
 * fs.writeFileSync('runs/mistakes.svg', digitsGridSvg({
 *   images, labels, predicted: pred, indices: wrong, title: 'misclassified test digits',
 * }));
 * ```
 */
export function digitsGridSvg(opts: DigitsGridOptions): string {
  const w = opts.width ?? 28;
  const h = opts.height ?? 28;
  const per = w * h;
  const total = Math.floor(opts.images.length / per);
  const max = opts.max ?? 100;
  const all = opts.indices ?? Array.from({ length: total }, (_, i) => i);
  const count = Math.min(all.length, max);
  const cols = Math.max(1, Math.min(opts.cols ?? 10, Math.max(1, count)));
  const scale = opts.scale ?? 3;
  const hasCaption = opts.labels !== undefined || opts.predicted !== undefined;
  const cellW = w * scale + 10;
  const cellH = h * scale + (hasCaption ? 26 : 10);
  const titleH = opts.title ? 34 : 6;
  const rows = Math.ceil(count / cols);
  const W = Math.max(cols * cellW + 12, opts.title ? textWidth(opts.title, 16) + 24 : 0);
  const H = titleH + rows * cellH + 6;
  const levels = 8;

  const body: string[] = [];
  if (opts.title) body.push(text(W / 2, 22, opts.title, { 'text-anchor': 'middle', 'font-size': 16, 'font-weight': 600 }));
  if (all.length > count) {
    body.push(text(W - 8, titleH - 6, `showing ${count} of ${all.length}`, { 'text-anchor': 'end', fill: MUTED, 'font-size': 10 }));
  }
  for (let p = 0; p < count; p++) {
    const idx = all[p];
    if (!Number.isInteger(idx) || idx < 0 || idx >= total) throw new RangeError(`digitsGridSvg: index ${idx} out of range [0, ${total})`);
    const ox = 6 + (p % cols) * cellW + 5;
    const oy = titleH + Math.floor(p / cols) * cellH + 4;
    const paths: string[][] = Array.from({ length: levels }, () => []);
    for (let r = 0; r < h; r++) {
      let c = 0;
      while (c < w) {
        const v = opts.images[idx * per + r * w + c];
        const lv = Math.min(levels, Math.round(Math.max(0, Math.min(1, v)) * levels));
        let end = c + 1;
        while (end < w && Math.min(levels, Math.round(Math.max(0, Math.min(1, opts.images[idx * per + r * w + end])) * levels)) === lv) end++;
        if (lv > 0) paths[lv - 1].push(`M${c * scale} ${r * scale}h${(end - c) * scale}v${scale}h${-(end - c) * scale}z`);
        c = end;
      }
    }
    const yTrue = opts.labels?.[idx];
    const yPred = opts.predicted?.[idx];
    const wrong = yTrue !== undefined && yPred !== undefined && yTrue !== yPred;
    const tip = `#${idx}` + (yTrue !== undefined ? ` true ${yTrue}` : '') + (yPred !== undefined ? ` predicted ${yPred}` : '');
    const g: string[] = [`<g class="digit" transform="translate(${r2(ox)} ${r2(oy)})"><title>${escapeXml(tip)}</title>`];
    g.push(`<rect x="-1" y="-1" width="${w * scale + 2}" height="${h * scale + 2}" fill="#ffffff" stroke="${wrong ? '#fca5a5' : GRID}"/>`);
    paths.forEach((d, li) => {
      if (d.length) g.push(`<path d="${d.join('')}" fill="${INK}" fill-opacity="${r2((li + 1) / levels)}" shape-rendering="crispEdges"/>`);
    });
    if (hasCaption) {
      const caption =
        yTrue !== undefined && yPred !== undefined
          ? wrong
            ? `${yTrue} \u2192 ${yPred}`
            : `${yTrue} \u2713`
          : String(yTrue ?? yPred);
      g.push(text((w * scale) / 2, h * scale + 16, caption, { 'text-anchor': 'middle', fill: wrong ? '#c53030' : MUTED, 'font-size': 12, 'font-weight': 600 }));
    }
    g.push('</g>');
    body.push(g.join(''));
  }
  return svgDocument(W, H, opts.title, body);
}
