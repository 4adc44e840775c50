import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';

import {
  describeMnist,
  digitToAscii,
  gather,
  loadMnist,
  oneHot,
  splitTrainTest,
} from '../../examples/lib/mnist';
import {
  confusionMatrixSvg,
  decisionRegionsSvg,
  digitsGridSvg,
  escapeXml,
  gridPoints,
  lineChartSvg,
} from '../../examples/lib/svg';
import {
  accuracy,
  asciiChart,
  confusionMatrix,
  createProgress,
  formatConfusionMatrix,
  formatDuration,
  type ProgressStream,
} from '../../examples/lib/report';

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/** Seeded Fisher-Yates (LCG) standing in for the library's PRNG. */
function seededShuffle(seed: number): (a: Int32Array) => void {
  let s = seed >>> 0;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return (a) => {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  };
}

/**
 * Tiny XML well-formedness check: starts with <svg, ends with </svg>, tags
 * balance, attributes are quoted, no stray '<' or unescaped '&' in text.
 * Returns element counts by tag name.
 */
function checkSvg(svg: string): Map<string, number> {
  const problems: string[] = [];
  if (!/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/.test(svg)) problems.push('does not start with <svg xmlns=...');
  if (!svg.trimEnd().endsWith('</svg>')) problems.push('does not end with </svg>');
  const counts = new Map<string, number>();
  const stack: string[] = [];
  const tagRe = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = tagRe.exec(svg)) !== null) {
    const between = svg.slice(last, m.index);
    if (/[<>]/.test(between)) problems.push(`stray markup before offset ${m.index}: ${between.slice(0, 40)}`);
    if (/&(?!(amp|lt|gt|quot|#39);)/.test(between)) problems.push(`unescaped & before offset ${m.index}`);
    last = tagRe.lastIndex;
    const [, close, name, , selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open}>`);
    } else {
      counts.set(name, (counts.get(name) ?? 0) + 1);
      if (!selfClose) stack.push(name);
    }
  }
  if (svg.slice(last).trim() !== '') problems.push('trailing garbage');
  if (stack.length) problems.push(`unclosed: ${stack.join(',')}`);
  expect(problems).toEqual([]);
  return counts;
}

function attrValues(svg: string, tag: string, attr: string): string[] {
  const re = new RegExp(`<${tag}\\b[^>]*\\s${attr}="([^"]*)"`, 'g');
  return [...svg.matchAll(re)].map((x) => x[1]);
}

class Capture extends Writable implements ProgressStream {
  chunks: string[] = [];
  constructor(public isTTY: boolean) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk.toString());
    cb();
  }
  get text(): string {
    return this.chunks.join('');
  }
}

// ---------------------------------------------------------------------------
// mnist
// ---------------------------------------------------------------------------

describe('loadMnist', () => {
  const data = loadMnist({ dtype: 'float32' });

  test('10,000 samples x 784 features in [0,1], every digit present', () => {
    expect(data.n).toBe(10000);
    expect(data.width).toBe(28);
    expect(data.height).toBe(28);
    expect(data.images).toBeInstanceOf(Float32Array);
    expect(data.images.length).toBe(10000 * 784);
    expect(data.labels).toBeInstanceOf(Int32Array);
    expect(data.labels.length).toBe(10000);
    const s = describeMnist(data);
    expect(s.min).toBe(0);
    expect(s.max).toBe(1);
    expect(s.mean).toBeGreaterThan(0.1);
    expect(s.mean).toBeLessThan(0.2);
    // The package ships the first 10k MNIST *training* images; these are their class counts.
    expect(s.counts).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    expect(data.labels.every((y) => y >= 0 && y <= 9)).toBe(true);
  });

  test('float64 values are bit-identical to JSON.parse of the package files', () => {
    const d64 = loadMnist({ dtype: 'float64', order: 'byClass' });
    expect(d64.images).toBeInstanceOf(Float64Array);
    const file = path.join(path.dirname(require.resolve('mnist')), 'digits', '5.json');
    const ref = (JSON.parse(fs.readFileSync(file, 'utf8')) as { data: number[] }).data;
    const start = d64.labels.indexOf(5) * 784;
    expect(ref.length).toBe(863 * 784);
    let mismatches = 0;
    for (let i = 0; i < ref.length; i++) if (d64.images[start + i] !== ref[i]) mismatches++;
    expect(mismatches).toBe(0);
    // 5.json sample 0 is MNIST training image #0 (row 5 starts 3 18 18 18 126 136 ... /255).
    const row5 = Array.from(d64.images.subarray(start + 5 * 28 + 12, start + 5 * 28 + 18));
    expect(row5).toEqual([0.012, 0.071, 0.071, 0.071, 0.494, 0.533]);
  });

  test('orders: byClass is sorted, interleaved prefixes and limit are stratified', () => {
    const byClass = loadMnist({ dtype: 'float32', order: 'byClass', limit: 500 });
    expect(byClass.labels.every((y, i) => i === 0 || y >= byClass.labels[i - 1])).toBe(true);
    const small = loadMnist({ dtype: 'float64', limit: 1000 });
    expect(small.n).toBe(1000);
    expect(small.images.length).toBe(784_000);
    expect(Math.min(...describeMnist(small).counts)).toBeGreaterThanOrEqual(80);
    // Same samples, different order.
    expect(describeMnist(byClass).counts).toEqual(describeMnist(loadMnist({ dtype: 'float32', limit: 500 })).counts);
    expect(() => loadMnist({ dtype: 'float32', limit: -1 })).toThrow(RangeError);
  });

  test('digitToAscii renders 28 lines of 28 chars', () => {
    const art = digitToAscii(data.images, 0).split('\n');
    expect(art).toHaveLength(28);
    expect(art.every((line) => line.length === 28)).toBe(true);
    expect(art.join('')).toMatch(/[#%@]/);
  });
});

describe('splitTrainTest / gather / oneHot', () => {
  test('split is disjoint, sized right and deterministic for a seed', () => {
    const a = splitTrainTest(10000, 8000, 2000, seededShuffle(42));
    expect(a.train.length).toBe(8000);
    expect(a.test.length).toBe(2000);
    const seen = new Uint8Array(10000);
    for (const i of a.train) seen[i]++;
    for (const i of a.test) seen[i]++;
    expect(seen.every((v) => v === 1)).toBe(true);
    const b = splitTrainTest(10000, 8000, 2000, seededShuffle(42));
    expect(b.train.every((v, i) => v === a.train[i])).toBe(true);
    const c = splitTrainTest(100, 30, 20, seededShuffle(1));
    expect(c.train.length + c.test.length).toBe(50);
    expect(new Set([...c.train, ...c.test]).size).toBe(50);
    expect(splitTrainTest(10, 7, undefined, seededShuffle(3)).test.length).toBe(3);
  });

  test('split rejects bad sizes and non-permutation shuffles', () => {
    expect(() => splitTrainTest(10, 8, 3, seededShuffle(1))).toThrow(RangeError);
    expect(() => splitTrainTest(10, 5, 5, (ix) => ix.fill(0))).toThrow(/permutation/);
  });

  test('gather copies the requested rows and keeps the dtype', () => {
    const images = Float64Array.from({ length: 5 * 3 }, (_, i) => i);
    const labels = Int32Array.of(0, 1, 2, 3, 4);
    const g = gather(images, labels, [4, 0, 4], 3);
    expect(g.images).toBeInstanceOf(Float64Array);
    expect(Array.from(g.images)).toEqual([12, 13, 14, 0, 1, 2, 12, 13, 14]);
    expect(Array.from(g.labels)).toEqual([4, 0, 4]);
    expect(g.n).toBe(3);
    const g32 = gather(new Float32Array(6), Int32Array.of(1, 2), Int32Array.of(1), 3);
    expect(g32.images).toBeInstanceOf(Float32Array);
    expect(() => gather(images, labels, [5], 3)).toThrow(RangeError);
    expect(() => gather(images, labels, [0], 4)).toThrow(RangeError);
  });

  test('oneHot', () => {
    expect(Array.from(oneHot(Int32Array.of(2, 0), 3))).toEqual([0, 0, 1, 1, 0, 0]);
    expect(oneHot([1], 2, 'float64')).toBeInstanceOf(Float64Array);
    expect(() => oneHot([3], 3)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------
// svg
// ---------------------------------------------------------------------------

describe('lineChartSvg', () => {
  const epochs = 30;
  const loss = Array.from({ length: epochs }, (_, i) => 2 * Math.exp(-i / 5));
  const acc = Array.from({ length: epochs }, (_, i) => 1 - 0.9 * Math.exp(-i / 4));

  test('one polyline per series, markers for short series, two axes', () => {
    const svg = lineChartSvg({
      title: 'loss & <accuracy>',
      xLabel: 'epoch',
      series: [
        { name: 'train loss', values: loss },
        { name: 'train acc', values: acc, axis: 'right' },
        { name: 'test acc', values: Float64Array.from(acc, (v) => v - 0.02), axis: 'right', dashed: true },
      ],
      yRangeRight: [0, 1],
    });
    const counts = checkSvg(svg);
    expect(counts.get('polyline')).toBe(3);
    expect(counts.get('circle')).toBe(3 * epochs);
    expect(svg).toContain('loss &amp; &lt;accuracy&gt;');
    expect(svg).toContain('(right)');
    for (const pts of attrValues(svg, 'polyline', 'points')) {
      expect(pts.split(' ')).toHaveLength(epochs);
      expect(pts).toMatch(/^(-?[\d.]+,-?[\d.]+ )*-?[\d.]+,-?[\d.]+$/);
    }
  });

  test('non-finite values split the line; long series are bucketed with a band', () => {
    const gappy = loss.slice();
    gappy[10] = NaN;
    gappy[20] = Infinity;
    const c1 = checkSvg(lineChartSvg({ title: 'gaps', series: [{ name: 'loss', values: gappy }] }));
    expect(c1.get('polyline')).toBe(3);
    expect(c1.get('circle')).toBe(epochs - 2);

    const steps = Float64Array.from({ length: 20000 }, (_, i) => 2 * Math.exp(-i / 3000) + 0.1 * Math.sin(i));
    const svg = lineChartSvg({ title: 'steps', xLabel: 'step', series: [{ name: 'loss', values: steps }], logY: true, maxPoints: 500 });
    const c2 = checkSvg(svg);
    expect(c2.get('polyline')).toBe(1);
    expect(c2.get('polygon')).toBe(1);
    expect(c2.get('circle') ?? 0).toBe(0);
    expect(attrValues(svg, 'polyline', 'points')[0].split(' ').length).toBe(500);
    expect(svg.length).toBeLessThan(100_000);
  });

  test('handles empty / all-NaN series without throwing', () => {
    checkSvg(lineChartSvg({ title: 'empty', series: [] }));
    checkSvg(lineChartSvg({ title: 'nan', series: [{ name: 'x', values: [NaN, NaN] }, { name: 'c', values: [1, 1, 1] }] }));
    expect(() => lineChartSvg({ title: 'bad', series: [{ name: 'x', values: [1, 2], x: [1] }] })).toThrow(RangeError);
  });
});

describe('decisionRegionsSvg', () => {
  test('cells + one circle per point, merged runs', () => {
    const nx = 40;
    const ny = 30;
    const g = gridPoints([-1, 1], [-1, 1], nx, ny);
    expect(g.n).toBe(nx * ny);
    expect(g.x[0]).toBeCloseTo(-1 + 1 / nx);
    expect(g.y[0]).toBeCloseTo(-1 + 1 / ny);
    expect(g.y[nx]).toBeGreaterThan(g.y[0]); // row 1 is above row 0
    const classes = Int32Array.from({ length: g.n }, (_, i) => (Math.atan2(g.y[i], g.x[i]) + Math.PI) * 3 / (2 * Math.PI) | 0);
    const n = 90;
    const px = Float64Array.from({ length: n }, (_, i) => Math.cos(i) * 0.8);
    const py = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 1.3) * 0.8);
    const label = Int32Array.from({ length: n }, (_, i) => i % 3);
    const svg = decisionRegionsSvg({
      width: 500,
      height: 500,
      xRange: [-1, 1],
      yRange: [-1, 1],
      grid: { nx, ny, classes },
      points: { x: px, y: py, label },
      title: 'spiral',
      classNames: ['a', 'b', 'c'],
    });
    const counts = checkSvg(svg);
    expect(counts.get('circle')).toBe(n);
    const cellRects = (svg.match(/<g class="cells"[\s\S]*?<\/g>/)?.[0].match(/<rect /g) ?? []).length;
    expect(cellRects).toBeGreaterThanOrEqual(ny);
    expect(cellRects).toBeLessThan(nx * ny / 4);
    expect(svg).toContain('class="boundaries"');
    expect(() =>
      decisionRegionsSvg({ width: 100, height: 100, xRange: [0, 1], yRange: [0, 1], grid: { nx: 2, ny: 2, classes: new Int32Array(3) }, points: { x: [], y: [], label: new Int32Array(0) } }),
    ).toThrow(RangeError);
  });
});

describe('confusionMatrixSvg / digitsGridSvg', () => {
  test('confusion heatmap has k*k cells', () => {
    const m = Array.from({ length: 10 }, (_, i) => Array.from({ length: 10 }, (_, j) => (i === j ? 90 : (i + j) % 7 === 0 ? 3 : 0)));
    const svg = confusionMatrixSvg(m, [...'0123456789'], { title: 'MNIST <test>' });
    checkSvg(svg);
    expect((svg.match(/<rect class="cell"/g) ?? []).length).toBe(100);
    expect(svg).toContain('MNIST &lt;test&gt;');
    expect(() => confusionMatrixSvg([[1, 2]], ['a'])).toThrow(RangeError);
  });

  test('digits grid draws one group per digit with captions', () => {
    const d = loadMnist({ dtype: 'float32', limit: 50 });
    const pred = Int32Array.from(d.labels, (y, i) => (i % 4 === 0 ? (y + 1) % 10 : y));
    const wrong = [...pred.keys()].filter((i) => pred[i] !== d.labels[i]);
    const svg = digitsGridSvg({ images: d.images, labels: d.labels, predicted: pred, indices: wrong, max: 10, title: 'mistakes' });
    checkSvg(svg);
    expect((svg.match(/<g class="digit"/g) ?? []).length).toBe(10);
    expect(svg).toContain('\u2192');
    expect(() => digitsGridSvg({ images: d.images, indices: [50] })).toThrow(RangeError);
  });

  test('escapeXml', () => {
    expect(escapeXml(`a<b & "c" 'd'>`)).toBe('a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;');
  });
});

// ---------------------------------------------------------------------------
// report
// ---------------------------------------------------------------------------

describe('confusionMatrix / formatConfusionMatrix', () => {
  test('sums to n, diagonal = correct', () => {
    const d = loadMnist({ dtype: 'float32', limit: 2000 });
    const pred = Int32Array.from(d.labels, (y, i) => (i % 10 === 0 ? (y + 3) % 10 : y));
    const m = confusionMatrix(pred, d.labels, 10);
    expect(m.flat().reduce((a, b) => a + b, 0)).toBe(2000);
    const diag = m.reduce((a, row, i) => a + row[i], 0);
    expect(diag / 2000).toBeCloseTo(accuracy(pred, d.labels));
    expect(diag).toBe(1800);
    const table = formatConfusionMatrix(m);
    const lines = table.split('\n');
    expect(lines).toHaveLength(10 + 4);
    const widths = new Set(lines.slice(0, 11).map((l) => l.length));
    expect(widths.size).toBe(1); // aligned
    expect(lines[0]).toMatch(/^true\\pred\s+0\s+1/);
    expect(table).toContain('90.0%');
    expect(table).not.toMatch(/\x1b/);
  });

  test('rejects bad input', () => {
    expect(() => confusionMatrix([0, 1], [0], 2)).toThrow(RangeError);
    expect(() => confusionMatrix([0, 2], [0, 1], 2)).toThrow(RangeError);
    expect(formatConfusionMatrix([[0, 0], [0, 0]])).toContain('-');
  });
});

describe('asciiChart', () => {
  test('plots named series with legend, downsampling and NaN bridging', () => {
    const values = Array.from({ length: 500 }, (_, i) => Math.exp(-i / 100));
    values[7] = NaN;
    const out = asciiChart([{ name: 'loss', values }, { name: 'acc', values: [0.1, 0.5, 0.9] }], { height: 6, width: 40, color: false, title: 'T' });
    const lines = out.split('\n');
    expect(lines[0]).toBe('T');
    expect(lines).toHaveLength(1 + 7 + 1);
    expect(out).not.toMatch(/\x1b/);
    expect(out).toContain('500 pts averaged to 40');
    expect(out).toContain('1 non-finite');
    expect(Math.max(...lines.slice(1, -1).map((l) => l.length))).toBeLessThanOrEqual(60);
    expect(asciiChart([1, 2, 3], { color: true })).toMatch(/\x1b\[/);
    expect(asciiChart([NaN])).toContain('no finite data');
    expect(asciiChart([5, 5, 5], { color: false })).toContain('5.00');
  });

  test('formatDuration', () => {
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(12_340)).toBe('12.3s');
    expect(formatDuration(245_000)).toBe('4m05s');
    expect(formatDuration(3_720_000)).toBe('1h02m');
  });
});

describe('createProgress', () => {
  test('non-TTY: one plain line per epoch, no escape codes', () => {
    const out = new Capture(false);
    const p = createProgress({ epochs: 3, stepsPerEpoch: 20, samplesPerStep: 32, stream: out });
    expect(p.mode).toBe('lines');
    for (let e = 0; e < 3; e++) {
      for (let s = 0; s < 20; s++) p.step({ loss: 1 / (e + 1) });
      const sum = p.endEpoch({ test_acc: 0.5 + e / 10 });
      expect(sum.epoch).toBe(e + 1);
      expect(sum.samples).toBe(640);
      expect(sum.meanLoss).toBeCloseTo(1 / (e + 1));
    }
    p.stop();
    const lines = out.text.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^epoch 1\/3 {2}loss 1\.0000 {2}test_acc 0\.5000 {2}\| .* samples\/s .*ETA/);
    expect(lines[2]).not.toContain('ETA');
    expect(out.text).not.toMatch(/\x1b/);
  });

  test('TTY: live bar, then summary line; silent prints nothing', () => {
    const tty = new Capture(true);
    const p = createProgress({ epochs: 1, stepsPerEpoch: 5, stream: tty, mode: 'bar' });
    expect(p.mode).toBe('bar');
    for (let s = 0; s < 5; s++) p.step({ loss: 0.5, samples: 10 });
    p.log('hello');
    p.endEpoch();
    p.stop();
    p.stop();
    expect(tty.text).toContain('epoch 1/1 [');
    expect(tty.text).toContain('hello\n');
    expect(tty.text).toMatch(/epoch 1\/1 {2}loss 0\.5000 {2}\| .*samples\/s/);

    const quiet = new Capture(false);
    const q = createProgress({ epochs: 2, stepsPerEpoch: 1, stream: quiet, mode: 'silent' });
    q.step();
    expect(q.endEpoch().line).toMatch(/^epoch 1\/2/);
    expect(quiet.text).toBe('');
  });
});
