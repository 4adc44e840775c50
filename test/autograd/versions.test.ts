/**
 * Nothing stale is ever used: every in-place change made through tapegrad bumps the changed
 * tensor's version, and backward refuses a graph whose saved tensors moved on since the
 * forward pass (as PyTorch does), before any gradient is touched. Writing into `.data` by
 * hand is the escape hatch: anomaly mode catches it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  AnomalyError, GradError, Tensor, bumpVersion, detectAnomaly, loadCheckpoint, manualSeed, nn, noGrad, optim, saveCheckpoint, tensor,
} from '../../src';

const model = () => {
  manualSeed(7);
  return new nn.Sequential(new nn.Affine(4, 8), new nn.BatchNorm1d(8), new nn.ReLU(), new nn.Affine(8, 3));
};
const x = () => Tensor.randn([6, 4]);
const y = [0, 1, 2, 0, 1, 2];

describe('versions', () => {
  it('count in-place changes, shared by views of the same memory', () => {
    const w = Tensor.randn([2, 3], { requiresGrad: true });
    const view = w.detach().reshape([6]);
    expect(w.version).toBe(0);
    w.fill_(1);
    expect(w.version).toBe(1);
    expect(view.version).toBe(1);
    noGrad(() => view.copy_(Tensor.zeros([6])));
    expect(w.version).toBe(2);
    bumpVersion(w);
    expect(w.version).toBe(3);
  });

  it('move with every optimizer step, loadStateDict and loadCheckpoint', () => {
    const m = model();
    const w = m.parameters()[0];
    const opt = new optim.Adam(m.parameters(), { lr: 1e-2 });
    nn.softmaxCrossEntropy(m.forward(x()), y).backward();
    const v0 = w.version;
    opt.step();
    expect(w.version).toBe(v0 + 1);
    m.loadStateDict(m.stateDict());
    expect(w.version).toBe(v0 + 2);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapegrad-versions-'));
    try {
      const file = path.join(dir, 'm.safetensors');
      void saveCheckpoint(file, { model: m, optimizer: opt });
      void loadCheckpoint(file, { model: m, optimizer: opt });
      expect(w.version).toBeGreaterThan(v0 + 2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('backward refuses stale saved tensors', () => {
  it('retainGraph, then an optimizer step, then a second backward', () => {
    const m = model();
    const opt = new optim.SGD(m.parameters(), { lr: 0.1 });
    const loss = nn.softmaxCrossEntropy(m.forward(x()), y);
    loss.backward(undefined, { retainGraph: true });
    opt.step();
    opt.zeroGrad();
    const grads = m.parameters().map((p) => p.grad!.data.slice());
    expect(() => loss.backward()).toThrow(GradError);
    expect(() => loss.backward()).toThrow(/'affine' \(in 0:Affine\), a leaf \(a parameter\?\) \[4, 8\] float64 tensor, was changed in place after the forward pass \(saved at version 0, now version 1/);
    // Nothing was accumulated by the refused walk.
    m.parameters().forEach((p, i) => expect(p.grad!.data).toEqual(grads[i]));
  });

  it('loadStateDict or loadCheckpoint between forward and backward', () => {
    const m = model();
    const snapshot = new Map([...m.stateDict()].map(([k, t]) => [k, t.clone()]));
    const loss = nn.softmaxCrossEntropy(m.forward(x()), y);
    m.loadStateDict(snapshot);
    expect(() => loss.backward()).toThrow(/was changed in place after the forward pass \(saved at version 0, now version 1/);

    const m2 = model();
    const opt = new optim.SGD(m2.parameters(), { lr: 0.1 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapegrad-versions-'));
    try {
      const file = path.join(dir, 'm.safetensors');
      void saveCheckpoint(file, { model: m2, optimizer: opt });
      const loss2 = nn.softmaxCrossEntropy(m2.forward(x()), y);
      void loadCheckpoint(file, { model: m2, optimizer: opt });
      expect(() => loss2.backward()).toThrow(GradError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('in-place copy_/fill_ of a saved leaf, including through a view', () => {
    const w = Tensor.randn([3, 3], { requiresGrad: true });
    const xs = Tensor.randn([2, 3]);
    const out = xs.matmul(w).sum();
    noGrad(() => w.detach().fill_(0.5));
    expect(() => out.backward()).toThrow(/input 1 of 'matmul', a leaf \(a parameter\?\) \[3, 3\] float64 tensor, was changed in place/);
    expect(w.grad).toBeNull();

    const out2 = xs.matmul(w).sum();
    xs.copy_(Tensor.ones([2, 3]));
    expect(() => out2.backward()).toThrow(/input 0 of 'matmul', a leaf \[2, 3\] float64 tensor/);
  });

  it('refuses in-place changes of a tensor inside a graph', () => {
    const w = Tensor.randn([3], { requiresGrad: true });
    const h = w.mul(2);
    expect(() => h.fill_(0)).toThrow(/fill_: this \[3\] tensor is the output of 'mul' and requires grad/);
    expect(() => h.copy_(Tensor.zeros([4]))).toThrow(/copy_: src must have shape \[3\] like this tensor, got \[4\]/);
    expect(() => w.copy_(Tensor.zeros([3], { dtype: 'float32' }))).toThrow(/copy_: src must have dtype 'float64'/);
    expect(() => w.fill_('1' as never)).toThrow(/fill_: value must be a number, got "1"/);
  });

  it('writing into .data by hand is not seen, except by anomaly mode', () => {
    const w = Tensor.randn([3, 3], { requiresGrad: true });
    const xs = Tensor.randn([2, 3]);
    const loss = xs.matmul(w).sum();
    w.data[0] += 1; // the escape hatch: no version bump
    expect(() => loss.backward()).not.toThrow();

    detectAnomaly(() => {
      const l2 = xs.matmul(w).sum();
      w.data[0] += 1;
      expect(() => l2.backward()).toThrow(AnomalyError);
      expect(() => xs.matmul(w).exp().sum().backward()).not.toThrow();
    });
  });

  it('anomaly mode catches a leaf gradient that overflows while accumulating', () => {
    const w = tensor([1, 1], { requiresGrad: true });
    const c = tensor([1e308, 1]);
    w.mul(c).sum().backward();
    detectAnomaly(() => {
      expect(() => w.mul(c).sum().backward()).toThrow(/accumulated gradient of a leaf \[2\] tensor has Infinity at flat index 0/);
    });
  });
});
