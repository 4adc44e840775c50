/**
 * The playground page: controls, the decision-region canvas, the loss and accuracy chart and
 * the tape view. Training runs in a module worker (worker.ts); this thread only draws what the
 * worker posts, so the page stays responsive however large the model.
 *
 * The page's state is exposed for tests as `window.playground` (see {@link PlaygroundState})
 * and on the canvas as `data-accuracy` and `data-step`.
 *
 * @module
 */
import type { DatasetName } from './datasets';
import {
  DEFAULT_CONFIG, EXTENT,
  type ActivationName, type Environment, type FromWorker, type ParamRow, type RunConfig, type TapeRow, type ToWorker,
} from './protocol';

/** What the page exposes on `window.playground` for tests and the curious. */
export interface PlaygroundState {
  env: Environment | null;
  step: number;
  loss: number;
  accuracy: number;
  running: boolean;
  /** Decision-region frames drawn so far. */
  frames: number;
  errors: string[];
  config: RunConfig;
  /** The last recorded tape (see the worker's inspect). */
  tape: { rows: TapeRow[]; params: ParamRow[] } | null;
  /** Sends a message to the worker (tests use it to set a config in one go). */
  send(msg: ToWorker): void;
}

const CLASS_RGB: [number, number, number][] = [[232, 89, 12], [28, 126, 214], [47, 158, 68]];

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`playground: the page has no #${id}`);
  return el as T;
};

const regions = $<HTMLCanvasElement>('regions');
const chart = $<HTMLCanvasElement>('chart');
const playBtn = $<HTMLButtonElement>('play');

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const config: RunConfig = { ...DEFAULT_CONFIG };
const history: { step: number; loss: number; acc: number }[] = [];
let points: { x: Float64Array; y: Int32Array; classes: number } | null = null;
let lastProbs: { probs: Float32Array; grid: number; classes: number } | null = null;

const state: PlaygroundState = {
  env: null, step: 0, loss: NaN, accuracy: 0, running: false, frames: 0, errors: [], config, tape: null,
  send: (msg) => worker.postMessage(msg),
};
(window as unknown as { playground: PlaygroundState }).playground = state;

function send(msg: ToWorker): void {
  worker.postMessage(msg);
}

// ---- controls -------------------------------------------------------------------------------

function restart(): void {
  history.length = 0;
  lastProbs = null;
  send({ type: 'config', config: { ...config } });
  if (state.running) send({ type: 'play' });
}

const datasetButtons = Array.from($('dataset').querySelectorAll<HTMLButtonElement>('button'));
for (const b of datasetButtons) {
  b.addEventListener('click', () => {
    for (const o of datasetButtons) o.setAttribute('aria-pressed', String(o === b));
    config.dataset = b.dataset.value as DatasetName;
    restart();
  });
}

const bindSelect = (id: string, apply: (v: string) => void): void => {
  const el = $<HTMLSelectElement>(id);
  el.addEventListener('change', () => {
    apply(el.value);
    restart();
  });
};
bindSelect('layers', (v) => (config.layers = Number(v)));
bindSelect('width', (v) => (config.width = Number(v)));
bindSelect('activation', (v) => (config.activation = v as ActivationName));
bindSelect('optimizer', (v) => (config.optimizer = v as RunConfig['optimizer']));
bindSelect('lr', (v) => (config.lr = Number(v)));
bindSelect('batch', (v) => (config.batchSize = Number(v)));

const bn = $<HTMLInputElement>('batchnorm');
bn.addEventListener('change', () => {
  config.batchNorm = bn.checked;
  restart();
});

const noise = $<HTMLInputElement>('noise');
noise.addEventListener('input', () => {
  $('noise-out').textContent = Number(noise.value).toFixed(2);
});
noise.addEventListener('change', () => {
  config.noise = Number(noise.value);
  restart();
});

function setRunning(on: boolean): void {
  state.running = on;
  playBtn.textContent = on ? 'Pause' : 'Train';
  playBtn.setAttribute('aria-pressed', String(on));
}
playBtn.addEventListener('click', () => {
  setRunning(!state.running);
  send({ type: state.running ? 'play' : 'pause' });
});
$('step').addEventListener('click', () => {
  setRunning(false);
  send({ type: 'step' });
});
$('reset').addEventListener('click', () => {
  history.length = 0;
  lastProbs = null;
  send({ type: 'reset' });
  if (state.running) send({ type: 'play' });
});
$('inspect').addEventListener('click', () => {
  setRunning(false);
  send({ type: 'inspect' });
});

// ---- worker messages ------------------------------------------------------------------------

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const msg = e.data;
  switch (msg.type) {
    case 'ready':
      state.env = msg.env;
      showEnv(msg.env);
      send({ type: 'config', config: { ...config } });
      break;
    case 'data':
      points = { x: msg.x, y: msg.y, classes: msg.classes };
      drawRegions();
      break;
    case 'progress':
      onProgress(msg);
      break;
    case 'tape':
      showTape(msg.rows, msg.params);
      break;
    case 'error':
      showError(msg.message);
      setRunning(false);
      break;
  }
};
worker.onerror = (e) => showError(`worker: ${e.message}`);

function onProgress(msg: Extract<FromWorker, { type: 'progress' }>): void {
  state.step = msg.step;
  state.loss = msg.loss;
  state.accuracy = msg.accuracy;
  regions.dataset.accuracy = msg.accuracy.toFixed(4);
  regions.dataset.step = String(msg.step);
  $('stat-step').textContent = msg.step.toLocaleString('en-US');
  $('stat-epoch').textContent = String(msg.epoch);
  $('stat-loss').textContent = Number.isFinite(msg.loss) ? msg.loss.toPrecision(3) : '–';
  $('stat-acc').textContent = `${(msg.accuracy * 100).toFixed(1)}%`;
  if (msg.stepMs > 0) $('stat-speed').textContent = `${(msg.stepMs * 1000).toFixed(0)} µs/step`;
  if (Number.isFinite(msg.loss)) {
    const last = history[history.length - 1];
    if (last === undefined || msg.step > last.step) history.push({ step: msg.step, loss: msg.loss, acc: msg.accuracy });
    if (history.length > 600) thin(history);
  }
  if (msg.probs !== undefined && msg.grid !== undefined && points !== null) {
    lastProbs = { probs: msg.probs, grid: msg.grid, classes: points.classes };
  }
  scheduleDraw(msg.probs !== undefined);
}

/** Halves a long history, keeping the first and the latest points. */
function thin(h: typeof history): void {
  const kept = h.filter((_, i) => i % 2 === 0 || i === h.length - 1);
  h.length = 0;
  h.push(...kept);
}

let drawPending = false;
let regionsDirty = false;
function scheduleDraw(regionsToo: boolean): void {
  regionsDirty ||= regionsToo;
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    if (regionsDirty) drawRegions();
    regionsDirty = false;
    drawChart();
  });
}

// ---- drawing --------------------------------------------------------------------------------

const cellCanvas = document.createElement('canvas');

function drawRegions(): void {
  const ctx = regions.getContext('2d')!;
  const W = regions.width;
  const H = regions.height;
  ctx.fillStyle = '#fafbfd';
  ctx.fillRect(0, 0, W, H);
  if (lastProbs !== null) {
    const { probs, grid, classes } = lastProbs;
    cellCanvas.width = grid;
    cellCanvas.height = grid;
    const cctx = cellCanvas.getContext('2d')!;
    const img = cctx.createImageData(grid, grid);
    for (let i = 0; i < grid * grid; i++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let pmax = 0;
      for (let c = 0; c < classes; c++) {
        const p = probs[i * classes + c];
        r += p * CLASS_RGB[c][0];
        g += p * CLASS_RGB[c][1];
        b += p * CLASS_RGB[c][2];
        pmax = Math.max(pmax, p);
      }
      // Tint toward white: confident cells a light wash of the class colour, uncertain ones paler.
      const strength = 0.18 + 0.3 * Math.max(0, (pmax - 1 / classes) / (1 - 1 / classes));
      img.data[4 * i] = 255 - (255 - r) * strength;
      img.data[4 * i + 1] = 255 - (255 - g) * strength;
      img.data[4 * i + 2] = 255 - (255 - b) * strength;
      img.data[4 * i + 3] = 255;
    }
    cctx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(cellCanvas, 0, 0, W, H);
    state.frames++;
  }
  // Axes.
  ctx.strokeStyle = 'rgba(30, 40, 60, 0.12)';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(W / 2 + 0.5, 0);
  ctx.lineTo(W / 2 + 0.5, H);
  ctx.moveTo(0, H / 2 + 0.5);
  ctx.lineTo(W, H / 2 + 0.5);
  ctx.stroke();
  if (points === null) return;
  const dpr = window.devicePixelRatio || 1;
  const toPx = (v: number, flip: boolean): number => ((flip ? -v : v) + EXTENT) / (2 * EXTENT) * W;
  for (let i = 0; i < points.y.length; i++) {
    const [r, g, b] = CLASS_RGB[points.y[i]];
    ctx.beginPath();
    ctx.arc(toPx(points.x[2 * i], false), toPx(points.x[2 * i + 1], true), 3.6 * dpr, 0, 2 * Math.PI);
    ctx.fillStyle = `rgb(${r}, ${g}, ${b})`;
    ctx.fill();
    ctx.lineWidth = 1.2 * dpr;
    ctx.strokeStyle = 'rgba(255, 255, 255, 0.95)';
    ctx.stroke();
  }
}

function setupHiDpi(canvas: HTMLCanvasElement): void {
  const dpr = window.devicePixelRatio || 1;
  const rect = canvas.getBoundingClientRect();
  canvas.width = Math.round(rect.width * dpr);
  canvas.height = Math.round(rect.height * dpr);
}

function drawChart(): void {
  const ctx = chart.getContext('2d')!;
  const dpr = window.devicePixelRatio || 1;
  const W = chart.width;
  const H = chart.height;
  ctx.clearRect(0, 0, W, H);
  ctx.save();
  ctx.scale(dpr, dpr);
  const w = W / dpr;
  const h = H / dpr;
  const pad = { l: 34, r: 34, t: 8, b: 20 };
  const pw = w - pad.l - pad.r;
  const ph = h - pad.t - pad.b;
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#69707f';
  ctx.strokeStyle = '#eceef3';
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + (ph * i) / 4;
    ctx.beginPath();
    ctx.moveTo(pad.l, Math.round(y) + 0.5);
    ctx.lineTo(pad.l + pw, Math.round(y) + 0.5);
    ctx.stroke();
    ctx.textAlign = 'right';
    ctx.fillText(`${100 - i * 25}%`, w - 2, y + 4);
  }
  if (history.length === 0) {
    ctx.textAlign = 'center';
    ctx.fillText('press Train', pad.l + pw / 2, pad.t + ph / 2);
    ctx.restore();
    return;
  }
  const maxStep = Math.max(history[history.length - 1].step, 1);
  const maxLoss = Math.max(...history.map((p) => p.loss), 1e-3);
  const x = (s: number): number => pad.l + (s / maxStep) * pw;
  ctx.textAlign = 'left';
  ctx.fillText(maxLoss.toFixed(2), 2, pad.t + 4);
  ctx.fillText('0', 2, pad.t + ph + 4);
  ctx.textAlign = 'center';
  ctx.fillText(`step ${maxStep.toLocaleString('en-US')}`, pad.l + pw / 2, h - 4);
  const line = (color: string, y: (p: (typeof history)[number]) => number): void => {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    ctx.beginPath();
    history.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p.step), y(p)) : ctx.lineTo(x(p.step), y(p))));
    ctx.stroke();
  };
  line('#e8590c', (p) => pad.t + ph * (1 - p.loss / maxLoss));
  line('#3b5bdb', (p) => pad.t + ph * (1 - p.acc));
  ctx.restore();
}

// ---- environment, errors, tape ----------------------------------------------------------------

function pill(text: string, kind: 'on' | 'off' | '' = ''): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = `pill ${kind}`;
  s.textContent = text;
  return s;
}

function showEnv(env: Environment): void {
  const el = $('env');
  el.textContent = '';
  el.append(
    pill(env.crossOriginIsolated ? 'cross-origin isolated' : 'not isolated', env.crossOriginIsolated ? 'on' : 'off'),
    pill(`GEMM threads: ${env.gemmThreads}`, env.gemmThreads > 1 ? 'on' : 'off'),
    pill(env.wasm.gemm ? `wasm ${env.variant}` : 'TypeScript kernels', env.wasm.gemm ? 'on' : 'off'),
  );
  el.dataset.threads = String(env.gemmThreads);
  el.dataset.isolated = String(env.crossOriginIsolated);
}

function showError(message: string): void {
  state.errors.push(message);
  const el = $('error');
  el.hidden = false;
  el.textContent = message;
}

const fmt = (v: number | null): string => (v === null ? '–' : v === 0 ? '0' : v < 1e-3 ? v.toExponential(1) : v.toPrecision(3));
const shape = (s: number[]): string => `[${s.join(', ')}]`;

function cell(text: string, cls = ''): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls !== '') td.className = cls;
  td.title = text;
  return td;
}

function gradCell(v: number | null, max: number, text = fmt(v)): HTMLTableCellElement {
  const td = cell(text, 'num');
  if (v !== null && max > 0) {
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.max(2, Math.round(Math.log10(1 + (9 * v) / max) * 30))}px`;
    td.prepend(bar);
  }
  return td;
}

function showTape(rows: TapeRow[], params: ParamRow[]): void {
  state.tape = { rows, params };
  $('tape-hint').hidden = true;
  const tape = $<HTMLTableElement>('tape');
  const body = tape.tBodies[0];
  body.textContent = '';
  const maxG = Math.max(0, ...rows.map((r) => r.gradNorm ?? 0).filter((v) => v !== 1));
  for (const r of rows) {
    const tr = document.createElement('tr');
    const op = cell(r.op, 'op');
    const mod = document.createElement('span');
    mod.className = 'mod';
    mod.textContent = r.module === '' ? `#${r.id}` : `#${r.id} · ${r.module}`;
    op.append(mod);
    op.title = `#${r.id} ${r.op}${r.module === '' ? '' : ` in ${r.module}`}`;
    tr.append(op, cell(r.inputs.join(', '), 'in'), cell(shape(r.shape)), r.id === rows.length - 1 ? cell('1 (seed)', 'num') : gradCell(r.gradNorm, maxG));
    body.append(tr);
  }
  tape.hidden = false;
  tape.dataset.ops = String(rows.length);
  const pt = $<HTMLTableElement>('params');
  const pbody = pt.tBodies[0];
  pbody.textContent = '';
  const maxP = Math.max(0, ...params.map((p) => p.gradNorm));
  for (const p of params) {
    const tr = document.createElement('tr');
    tr.append(cell(p.name, 'op'), cell(shape(p.shape)), cell(fmt(p.norm), 'num'), gradCell(p.gradNorm, maxP));
    pbody.append(tr);
  }
  pt.hidden = false;
}

setupHiDpi(chart);
setupHiDpi(regions);
window.addEventListener('resize', () => {
  setupHiDpi(chart);
  drawChart();
});
drawRegions();
drawChart();
