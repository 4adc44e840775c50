/**
 * The playground's training worker (a module worker): builds the MLP, trains it in slices of
 * a few tens of milliseconds, and after each slice posts the loss, the accuracy and, every few
 * slices, the class probabilities over a grid of the plane for the page to draw. Between slices
 * it yields to its event loop, so pause, step, reset and inspect take effect at once.
 *
 * @module
 */
import { Tensor, kernels, manualSeed, nn, noGrad, optim } from 'tapegrad';

import { makeDataset, type Points } from './datasets';
import {
  DEFAULT_CONFIG, EXTENT, GRID,
  type ActivationName, type Environment, type FromWorker, type ParamRow, type RunConfig, type TapeRow, type ToWorker,
} from './protocol';

/** The bits of a dedicated worker's global scope used here (the project's lib is ES2022 + DOM). */
interface WorkerScope {
  postMessage(msg: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  crossOriginIsolated?: boolean;
}
const scope = self as unknown as WorkerScope;

/** Which library entry this bundle was built from (set by scripts/playground.js). */
declare const TAPEGRAD_ENTRY: string;

const SLICE_MS = 30;
const GRID_EVERY_MS = 120;

let config: RunConfig = { ...DEFAULT_CONFIG };
let data: Points;
let xAll: Tensor;
let model: nn.Sequential;
let optimizer: optim.SGD | optim.Adam;
let gridInput: Tensor;
let order: Int32Array;
let cursor = 0;
let step = 0;
let epoch = 0;
let running = false;
let timer: ReturnType<typeof setTimeout> | undefined;
let lastGridAt = 0;
let lastLoss = NaN;

function activation(name: ActivationName): nn.Module {
  switch (name) {
    case 'relu': return new nn.ReLU();
    case 'tanh': return new nn.Tanh();
    case 'gelu': return new nn.GELU();
    case 'silu': return new nn.SiLU();
    case 'elu': return new nn.ELU();
    case 'leaky-relu': return new nn.LeakyReLU();
    case 'sigmoid': return new nn.Sigmoid();
    case 'softplus': return new nn.Softplus();
  }
}

/** Builds data, model and optimizer from `config`; the weights are seeded from the data seed. */
function reset(): void {
  data = makeDataset(config.dataset, 300, config.noise, config.seed);
  xAll = new Tensor(Float32Array.from(data.x), [data.n, 2]);
  manualSeed(config.seed);
  const layers: nn.Module[] = [];
  let inF = 2;
  for (let i = 0; i < config.layers; i++) {
    layers.push(new nn.Affine(inF, config.width, { dtype: 'float32' }));
    if (config.batchNorm) layers.push(new nn.BatchNorm1d(config.width, { dtype: 'float32' }));
    layers.push(activation(config.activation));
    inF = config.width;
  }
  layers.push(new nn.Affine(inF, data.classes, { dtype: 'float32' }));
  model = new nn.Sequential(...layers);
  optimizer = config.optimizer === 'adam'
    ? new optim.Adam(model.parameters(), { lr: config.lr })
    : new optim.SGD(model.parameters(), { lr: config.lr, momentum: 0.9 });
  order = shuffled(data.n);
  cursor = 0;
  step = 0;
  epoch = 0;
  lastLoss = NaN;
  scope.postMessage({ type: 'data', x: data.x.slice(), y: data.y.slice(), classes: data.classes });
  report(true, 0);
}

/** A random permutation of 0..n-1 (Math.random: the order of batches need not be reproducible). */
function shuffled(n: number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** The next mini-batch, reshuffling at each epoch's end. */
function nextBatch(): { x: Tensor; y: Int32Array } {
  const size = config.batchSize <= 0 ? data.n : Math.min(config.batchSize, data.n);
  if (cursor + size > data.n) {
    order = shuffled(data.n);
    cursor = 0;
    epoch++;
  }
  const xb = new Float32Array(size * 2);
  const yb = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    const r = order[cursor + i];
    xb[2 * i] = data.x[2 * r];
    xb[2 * i + 1] = data.x[2 * r + 1];
    yb[i] = data.y[r];
  }
  cursor += size;
  // BatchNorm needs more than one row in training mode.
  return { x: new Tensor(xb, [size, 2]), y: yb };
}

/** One training step: zeroGrad, forward, softmax cross-entropy, backward, step. */
function trainStep(): number {
  const { x, y } = nextBatch();
  model.train();
  optimizer.zeroGrad();
  const loss = nn.softmaxCrossEntropy(model.forward(x), y);
  const value = loss.item();
  loss.backward();
  optimizer.step();
  step++;
  return value;
}

/** Accuracy over the whole data set, in eval mode (BatchNorm uses its running statistics). */
function accuracyAll(): number {
  model.eval();
  const scores = noGrad(() => model.forward(xAll));
  model.train();
  const pred = scores.argmax(1);
  let hits = 0;
  for (let i = 0; i < data.n; i++) if (pred[i] === data.y[i]) hits++;
  return hits / data.n;
}

/** Softmax probabilities over the GRID x GRID cell centres, top row first. */
function gridProbs(): Float32Array {
  if (gridInput === undefined) {
    const g = new Float32Array(GRID * GRID * 2);
    for (let r = 0; r < GRID; r++) {
      for (let c = 0; c < GRID; c++) {
        const i = r * GRID + c;
        g[2 * i] = -EXTENT + ((c + 0.5) / GRID) * 2 * EXTENT;
        g[2 * i + 1] = EXTENT - ((r + 0.5) / GRID) * 2 * EXTENT;
      }
    }
    gridInput = new Tensor(g, [GRID * GRID, 2]);
  }
  model.eval();
  const probs = noGrad(() => model.forward(gridInput).softmax(1));
  model.train();
  return Float32Array.from(probs.data);
}

function report(withGrid: boolean, stepMs: number): void {
  const msg: FromWorker = {
    type: 'progress', step, epoch, loss: lastLoss, accuracy: accuracyAll(), running, stepMs,
  };
  const transfer: Transferable[] = [];
  if (withGrid) {
    msg.probs = gridProbs();
    msg.grid = GRID;
    transfer.push(msg.probs.buffer);
    lastGridAt = performance.now();
  }
  scope.postMessage(msg, transfer);
}

/** Trains for about SLICE_MS, reports, and schedules the next slice while running. */
function slice(): void {
  timer = undefined;
  if (!running) return;
  const t0 = performance.now();
  let n = 0;
  let sum = 0;
  try {
    do {
      sum += trainStep();
      n++;
    } while (performance.now() - t0 < SLICE_MS);
    lastLoss = sum / n;
  } catch (e) {
    fail(e);
    return;
  }
  const stepMs = (performance.now() - t0) / n;
  report(performance.now() - lastGridAt >= GRID_EVERY_MS, stepMs);
  timer = setTimeout(slice, 0);
}

/**
 * One training step whose tape is recorded for the page: the model's layers are run one by one,
 * and after each a zero "probe" leaf is added (h + 0 is h exactly), whose gradient after
 * backward is the loss's gradient with respect to that layer's output. Before backward the
 * graph is walked from the loss through each output's `_node` (op, inputs, module), read-only,
 * and listed in the order the ops ran; the probes' adds are left out of the listing.
 */
function inspect(): void {
  const { x, y } = nextBatch();
  model.train();
  optimizer.zeroGrad();
  const probes = new Map<Tensor, Tensor>(); // probe's add output -> probe leaf
  const paramNames = new Map<Tensor, string>(model.namedParameters().map(([n, p]) => [p, n]));
  const outputs: Tensor[] = [];
  let h = x;
  for (const layer of model.layers) {
    const out = layer.forward(h);
    outputs.push(out);
    const probe = Tensor.zeros(out.shape, { dtype: 'float32', requiresGrad: true });
    h = out.add(probe);
    probes.set(h, probe);
  }
  const loss = nn.softmaxCrossEntropy(h, y);
  probes.set(loss, loss); // the loss's own gradient is 1

  // Walk the graph (depth-first, inputs before outputs), skipping the probes' adds. Each layer's
  // output is walked in turn, so the rows first reached from layer i's output are the ops its
  // forward ran: they are labelled with it when the node names no module itself.
  const ids = new Map<Tensor, number>();
  const rows: TapeRow[] = [];
  const gradOf = new Map<number, Tensor>(); // row id -> the leaf whose grad is that row's output grad
  let label = '';
  const unwrap = (t: Tensor): Tensor => {
    const node = t._node;
    if (node !== null && probes.has(t) && t !== loss) return node.inputs[0];
    return t;
  };
  const visit = (t0: Tensor): string => {
    const t = unwrap(t0);
    const name = paramNames.get(t);
    if (name !== undefined) return name;
    const node = t._node;
    if (node === null) return t === x ? 'input' : `const ${JSON.stringify(t.shape)}`;
    const seen = ids.get(t);
    if (seen !== undefined) return `#${seen}`;
    const inputs = node.inputs.map(visit);
    const id = rows.length;
    ids.set(t, id);
    rows.push({ id, op: node.op, module: node.module ?? label, shape: [...t.shape], inputs, gradNorm: null });
    if (t === loss) gradOf.set(id, loss);
    return `#${id}`;
  };
  model.layers.forEach((layer, i) => {
    label = `${i}:${layer.constructor.name}`;
    visit(outputs[i]);
  });
  label = 'loss';
  visit(loss);
  // Each probe belongs to the row of the layer output it was added to.
  for (const [sum, probe] of probes) {
    if (sum === loss) continue;
    const id = ids.get(unwrap(sum));
    if (id !== undefined) gradOf.set(id, probe);
  }

  const lossValue = loss.item();
  loss.backward();
  for (const [id, leaf] of gradOf) {
    rows[id].gradNorm = leaf === loss ? 1 : norm(leaf.grad?.data);
  }
  const params: ParamRow[] = model.namedParameters().map(([name, p]) => ({
    name, shape: [...p.shape], gradNorm: norm(p.grad?.data), norm: norm(p.data),
  }));
  optimizer.step();
  step++;
  lastLoss = lossValue;
  scope.postMessage({ type: 'tape', step, loss: lossValue, rows, params });
  report(true, 0);
}

function norm(a: ArrayLike<number> | undefined): number {
  if (a === undefined) return 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

function fail(e: unknown): void {
  running = false;
  scope.postMessage({ type: 'error', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
}

function handle(msg: ToWorker): void {
  switch (msg.type) {
    case 'config':
      config = { ...msg.config };
      reset();
      break;
    case 'reset':
      reset();
      break;
    case 'play':
      running = true;
      if (timer === undefined) timer = setTimeout(slice, 0);
      break;
    case 'pause':
      running = false;
      report(true, 0);
      break;
    case 'step':
      running = false;
      lastLoss = trainStep();
      report(true, 0);
      break;
    case 'inspect':
      running = false;
      inspect();
      break;
  }
}

async function start(): Promise<void> {
  const k = kernels as typeof kernels & {
    loadWasm?: () => Promise<{ gemm: boolean; elementwise: boolean; variant: string }>;
  };
  const wasm = k.loadWasm !== undefined ? await k.loadWasm() : { gemm: false, elementwise: false, variant: 'js' };
  const threads = kernels.gemmThreads() as ReturnType<typeof kernels.gemmThreads> & { available?: boolean };
  const env: Environment = {
    crossOriginIsolated: scope.crossOriginIsolated === true,
    gemmThreads: threads.requested,
    threadsAvailable: threads.available ?? false,
    variant: wasm.gemm ? wasm.variant : 'js',
    wasm: { gemm: wasm.gemm, elementwise: wasm.elementwise },
    entry: TAPEGRAD_ENTRY,
  };
  scope.postMessage({ type: 'ready', env });
  reset();
}

const queue: ToWorker[] = [];
let started = false;
scope.onmessage = (e) => {
  if (!started) {
    queue.push(e.data);
    return;
  }
  try {
    handle(e.data);
  } catch (err) {
    fail(err);
  }
};
start().then(
  () => {
    started = true;
    try {
      for (const m of queue.splice(0)) handle(m);
    } catch (err) {
      fail(err);
    }
  },
  fail,
);
