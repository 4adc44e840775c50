/**
 * Second derivatives through the seed's layers (affine, BatchNorm in training and eval mode,
 * LayerNorm, ReLU, tanh) and the losses, against PyTorch 1.13's double backward in float64
 * (test/fixtures/torch_layers_double_backward.json, made by gen_torch_layers_double_backward.py),
 * and the losses' Hessian-vector products against central differences of their gradients.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { autograd, GradError, nn, ops, Tensor, defineOp } from '../../src';

interface Case {
  name: string;
  mode: 'train' | 'eval';
  act: 'relu' | 'tanh';
  loss: 'ce' | 'mse';
  norm: 'bn' | 'ln';
  x: number[];
  w1: number[];
  b1: number[];
  gamma: number[];
  beta: number[];
  rm: number[];
  rv: number[];
  w2: number[];
  b2: number[];
  y: number[];
  target: number[];
  v: number[][];
  L: number;
  grad: number[][];
  hv: number[][];
}

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/torch_layers_double_backward.json'), 'utf8')) as { cases: Case[] };

/**
 * max |a - b| relative to max |b|, with a floor of 1e-3 for arrays that are 0 in exact
 * arithmetic (the first layer's bias under BatchNorm: both sides hold rounding noise of 1e-17).
 */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-3);
}

function lossOf(c: Case, ps: Tensor[]): Tensor {
  const [x, w1, b1, gamma, beta, w2, b2] = ps;
  let h = ops.affine(x, w1, b1);
  if (c.norm === 'bn') {
    h = ops.batchnorm(h, gamma, beta, {
      mode: c.mode === 'train' ? 'train' : 'test',
      eps: 1e-5,
      runningMean: Float64Array.from(c.rm),
      runningVar: Float64Array.from(c.rv),
    });
  } else {
    h = ops.layernorm(h, gamma, beta, 1e-5);
  }
  h = c.act === 'relu' ? h.relu() : h.tanh();
  const out = ops.affine(h, w2, b2);
  return c.loss === 'ce' ? nn.softmaxCrossEntropy(out, c.y) : nn.mseLoss(out, new Tensor(Float64Array.from(c.target), [6, 2]));
}

describe('double backward of the seed layers and losses matches PyTorch (float64)', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const shapes = [[6, 3], [3, 5], [5], [5], [5], [5, 2], [2]];
    const values = [c.x, c.w1, c.b1, c.gamma, c.beta, c.w2, c.b2];
    const ps = values.map((v, i) => new Tensor(Float64Array.from(v), shapes[i], { requiresGrad: true }));
    const L = lossOf(c, ps);
    expect(Math.abs(L.item() - c.L) / Math.abs(c.L)).toBeLessThan(1e-13);
    const grads = autograd.grad([L], ps, { createGraph: true });
    grads.forEach((g, i) => expect(relErr(g!.data, c.grad[i])).toBeLessThan(1e-12));
    let dot: Tensor | null = null;
    grads.forEach((g, i) => {
      const term = g!.mul(new Tensor(Float64Array.from(c.v[i]), shapes[i])).sum();
      dot = dot === null ? term : dot.add(term);
    });
    const hv = autograd.grad([dot!], ps, { allowUnused: true });
    hv.forEach((h, i) => expect([i, relErr(h?.data ?? new Float64Array(values[i].length), c.hv[i]) < 1e-10]).toEqual([i, true]));
  });
});

describe('the losses differentiate twice', () => {
  const hvpNumeric = (f: (x: Tensor) => Tensor, x0: Float64Array, v: Float64Array, shape: number[]): Float64Array => {
    const gradAt = (d: number): Float64Array => {
      const x = new Tensor(x0.map((xi, i) => xi + d * v[i]), shape, { requiresGrad: true });
      return autograd.grad([f(x)], [x])[0]!.data as Float64Array;
    };
    const h = 1e-5;
    const gp = gradAt(h);
    const gm = gradAt(-h);
    return gp.map((a, i) => (a - gm[i]) / (2 * h));
  };
  const x0 = Float64Array.from({ length: 12 }, (_, i) => Math.sin(3.1 * i + 0.4) * 1.7);
  const v = Float64Array.from({ length: 12 }, (_, i) => Math.cos(1.3 * i));
  const t = new Tensor(Float64Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? 1 : 0.25 * (i % 4))), [4, 3]);
  const labels = [0, 2, 1, 2];
  const cases: [string, (x: Tensor) => Tensor][] = [
    ['softmaxCrossEntropy', (x) => nn.softmaxCrossEntropy(x.mul(x), labels)],
    ['softmaxCrossEntropy sum', (x) => nn.softmaxCrossEntropy(x.mul(x), labels, { reduction: 'sum' })],
    ['svmLoss', (x) => nn.svmLoss(x.mul(x), labels)],
    ['mseLoss', (x) => nn.mseLoss(x.mul(x), t)],
    ['bceWithLogits', (x) => nn.bceWithLogits(x.mul(x).sub(1), t)],
    ['bceWithLogits posWeight', (x) => nn.bceWithLogits(x.mul(x).sub(1), t, { posWeight: new Tensor(Float64Array.of(0.5, 2, 3), [3]) })],
    ['l1Loss', (x) => nn.l1Loss(x.mul(x), t)],
    ['huberLoss', (x) => nn.huberLoss(x.mul(x), t, { delta: 1.5 })],
    ['nllLoss none', (x) => nn.nllLoss(x.mul(x).logSoftmax(), labels, { reduction: 'none' }).mul(new Tensor(Float64Array.of(1, 2, 3, 4), [4])).sum()],
  ];
  it.each(cases)('%s: Hessian-vector product against central differences of the gradient', (_, f) => {
    const x = new Tensor(x0.slice(), [4, 3], { requiresGrad: true });
    const [g] = autograd.grad([f(x)], [x], { createGraph: true });
    const [hv] = autograd.grad([g!.mul(new Tensor(v, [4, 3])).sum()], [x]);
    expect(relErr(hv!.data, hvpNumeric(f, x0, v, [4, 3]))).toBeLessThan(1e-6);
  });
});

describe('errors', () => {
  it('createGraph through an op made with defineOp names the op', () => {
    const twice = defineOp({
      name: 'twice',
      forward: (x) => ({ out: { shape: x.shape, data: x.data.map((a) => 2 * a) }, cache: null }),
      backward: (dout) => [dout.data.map((g) => 2 * g)],
    });
    const x = Tensor.randn([3], { requiresGrad: true });
    expect(() => twice(x).sum().backward(undefined, { createGraph: true })).toThrow(GradError);
    expect(() => autograd.grad([twice(x).sum()], [x], { createGraph: true })).toThrow(/'twice' has no differentiable backward rule/);
    // First derivatives through it still work in autograd.grad.
    expect(Array.from(autograd.grad([twice(x).sum()], [x])[0]!.data)).toEqual([2, 2, 2]);
  });

  it('an input the outputs do not use, non-scalar outputs, freed graphs', () => {
    const x = Tensor.randn([3], { requiresGrad: true });
    const z = Tensor.randn([3], { requiresGrad: true });
    expect(() => autograd.grad([x.sum()], [z])).toThrow(/inputs\[0\] \(\[3\]\) is not used to compute the outputs/);
    expect(autograd.grad([x.sum()], [z], { allowUnused: true })).toEqual([null]);
    expect(() => autograd.grad([x.mul(2)], [x])).toThrow(/a non-scalar output needs opts.gradOutputs\[0\]/);
    const y = x.mul(x).sum();
    autograd.grad([y], [x]);
    expect(() => autograd.grad([y], [x])).toThrow(/freed by an earlier backward/);
    expect(() => autograd.grad([x.sum()], [x], { createGrpah: true } as never)).toThrow(/createGrpah is not an option of autograd.grad/);
  });

  it('backward with createGraph leaves differentiable gradients in the leaves, and .grad is not touched by autograd.grad', () => {
    const x = new Tensor(Float64Array.of(0.5, -1, 2), [3], { requiresGrad: true });
    x.tanh().sum().backward(undefined, { createGraph: true });
    expect(x.grad!.requiresGrad).toBe(true);
    const g1 = Array.from(x.grad!.data);
    const [d2] = autograd.grad([x.grad!.sum()], [x]);
    g1.forEach((gi, i) => expect(gi).toBeCloseTo(1 - Math.tanh(x.data[i]) ** 2, 14));
    Array.from(d2!.data).forEach((d, i) => expect(d).toBeCloseTo(-2 * Math.tanh(x.data[i]) * (1 - Math.tanh(x.data[i]) ** 2), 14));
    expect(Array.from(x.grad!.data)).toEqual(g1);
  });
});
