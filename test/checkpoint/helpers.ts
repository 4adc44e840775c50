/**
 * Helpers for the checkpoint tests: models and data to train, snapshots of everything a load
 * could change, and re-signing hand-edited checkpoint files (recomputing the documented checksum)
 * so each validation step can be reached on its own.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRngState, manualSeed, nn, optim, randperm, Tensor } from '../../src';
import { decodeSafetensors, encodeSafetensors, type RawTensor } from '../../src/io';

/** A temp directory for the whole test file, removed afterwards. */
export function tempDir(prefix: string): { path: (name: string) => string } {
  let root = '';
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), prefix));
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });
  return { path: (name: string) => join(root, name) };
}

/** A tiny deterministic data set (its own LCG, so it does not touch the global PRNG). */
export function blobs(n: number): { x: Tensor; y: Int32Array } {
  const x = new Float64Array(n * 2);
  const y = new Int32Array(n);
  let s = 12345;
  const rnd = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    y[i] = c;
    x[2 * i] = Math.cos((2 * Math.PI * c) / 3) + 0.6 * rnd();
    x[2 * i + 1] = Math.sin((2 * Math.PI * c) / 3) + 0.6 * rnd();
  }
  return { x: new Tensor(x, [n, 2]), y };
}

export type OptKind = 'sgd' | 'adam';

/** The MLP of the resume test, with Dropout so the PRNG matters. */
export function buildMLP(dtype: 'float64' | 'float32' = 'float64'): nn.Sequential {
  return new nn.Sequential(
    new nn.Affine(2, 16, { dtype }),
    new nn.BatchNorm1d(16, { dtype }),
    new nn.ReLU(),
    new nn.Dropout(0.25),
    new nn.Affine(16, 3, { dtype }),
  );
}

/** Model, optimizer and schedule built from `seed`. */
export function build(seed: number, kind: OptKind, dtype: 'float64' | 'float32' = 'float64') {
  manualSeed(seed);
  const model = buildMLP(dtype);
  const optimizer: optim.Optimizer<any> = // eslint-disable-line @typescript-eslint/no-explicit-any
    kind === 'sgd'
      ? new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 })
      : new optim.Adam(model.parameters(), { lr: 0.01 });
  const scheduler = new optim.StepLR(optimizer, { stepSize: 1, gamma: 0.8 });
  return { model, optimizer, scheduler };
}

/** One epoch of a hand-written loop: a randperm shuffle, batches of 8, a schedule step. */
export function trainEpoch(
  parts: ReturnType<typeof build>,
  data: { x: Tensor; y: Int32Array },
  batch = 8,
): void {
  const { model, optimizer, scheduler } = parts;
  const n = data.y.length;
  const order = randperm(n);
  model.train();
  for (let s = 0; s + 1 < n; s += batch) {
    const e = Math.min(s + batch, n);
    const xb = new Float64Array((e - s) * 2);
    const yb = new Int32Array(e - s);
    for (let i = s; i < e; i++) {
      xb[(i - s) * 2] = data.x.data[order[i] * 2];
      xb[(i - s) * 2 + 1] = data.x.data[order[i] * 2 + 1];
      yb[i - s] = data.y[order[i]];
    }
    const xt = new Tensor(xb, [e - s, 2]);
    const loss = nn.softmaxCrossEntropy(model.forward(model.parameters()[0].dtype === 'float32' ? xt.to('float32') : xt), yb);
    optimizer.zeroGrad();
    loss.backward();
    optimizer.step();
  }
  scheduler.step();
}

/** Everything a load may change, as comparable plain data (typed arrays copied). */
export function snapshot(parts: { model: nn.Module; optimizer?: optim.Optimizer<any>; scheduler?: { stateDict(): object } }) { // eslint-disable-line @typescript-eslint/no-explicit-any
  return {
    model: [...parts.model.stateDict()].map(([k, t]) => [k, t.dtype, [...t.shape], t.data.slice()] as const),
    optimizer: parts.optimizer === undefined ? null : (() => {
      const s = parts.optimizer.stateDict();
      return { type: s.type, hyper: s.hyper, step: s.step, slots: [...s.slots].map(([k, v]) => [k, v.slice()] as const) };
    })(),
    lr: parts.optimizer?.lr ?? null,
    scheduler: parts.scheduler?.stateDict() ?? null,
    rng: getRngState().map((v) => (Number.isNaN(v) ? 'NaN' : v)),
  };
}

/** The checksum as the checkpoint module documents it (re-implemented here as a spec check). */
export function checksumOf(tensors: Map<string, RawTensor>, metadata: Record<string, string>): string {
  const h = createHash('sha256');
  for (const name of [...tensors.keys()].sort()) {
    const t = tensors.get(name)!;
    h.update(JSON.stringify([name, t.dtype, t.shape]));
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  const entries = Object.keys(metadata)
    .filter((k) => k !== 'tapegrad.checksum')
    .sort()
    .map((k) => [k, metadata[k]]);
  h.update(JSON.stringify(entries));
  return `sha256:${h.digest('hex')}`;
}

/** Decodes a checkpoint, lets `edit` change tensors and metadata, re-signs and re-encodes it. */
export function resign(
  bytes: Uint8Array,
  edit: (tensors: Map<string, RawTensor>, metadata: Record<string, string>) => void,
): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(bytes);
  edit(tensors, metadata);
  metadata['tapegrad.checksum'] = checksumOf(tensors, metadata);
  return encodeSafetensors(tensors, metadata);
}
