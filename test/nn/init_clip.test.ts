/**
 * nn.init (PyTorch's formulas, seeded, in place), Affine's init option, numParameters, and
 * gradient clipping against PyTorch's clip_grad_norm_ / clip_grad_value_.
 */
import { ArgumentError, GradError, manualSeed, nn, ShapeError, Tensor, tensor, ValueError } from '../../src';
import { expectThrows } from '../helpers/errors';
import { maxRelError, type FixtureArray } from '../helpers/close';
import fixtures from '../fixtures/torch_losses.json';

function stats(d: ArrayLike<number>): { mean: number; std: number; min: number; max: number } {
  let s = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < d.length; i++) {
    s += d[i];
    min = Math.min(min, d[i]);
    max = Math.max(max, d[i]);
  }
  const mean = s / d.length;
  let v = 0;
  for (let i = 0; i < d.length; i++) v += (d[i] - mean) ** 2;
  return { mean, std: Math.sqrt(v / d.length), min, max };
}

describe('nn.init.calculateGain', () => {
  it.each(fixtures.gains.map((g) => [g.nonlinearity, g.param, g.gain] as const))('%s (param %s) = PyTorch %s', (nl, param, gain) => {
    expect(nn.init.calculateGain(nl as nn.Nonlinearity, param ?? undefined)).toBe(gain);
  });
  it('refuses an unknown nonlinearity or a bad param', () => {
    expectThrows(() => nn.init.calculateGain('gelu' as never), ValueError, /^nn\.init\.calculateGain: nonlinearity must be one of 'linear', .*got "gelu"$/);
    expectThrows(() => nn.init.calculateGain('leaky_relu', NaN), ValueError, /^nn\.init\.calculateGain: param must be a finite number, got/);
  });
});

describe('nn.init distributions (200 x 150 = 30000 draws)', () => {
  const shape = [200, 150];
  const fanIn = 200;
  const fanOut = 150;
  const cases: [string, (t: Tensor) => Tensor, { std: number; bound?: number; mean?: number }][] = [
    ['uniform', (t) => nn.init.uniform(t, { a: -0.5, b: 1.5 }), { mean: 0.5, std: 2 / Math.sqrt(12), bound: 1.5 }],
    ['normal', (t) => nn.init.normal(t, { mean: 3, std: 0.5 }), { mean: 3, std: 0.5 }],
    ['xavierUniform', (t) => nn.init.xavierUniform(t, { gain: 2 }), { std: 2 * Math.sqrt(2 / (fanIn + fanOut)), bound: 2 * Math.sqrt(6 / (fanIn + fanOut)) }],
    ['xavierNormal', (t) => nn.init.xavierNormal(t), { std: Math.sqrt(2 / (fanIn + fanOut)) }],
    ['kaimingUniform (defaults: fanIn, leaky_relu a = 0)', (t) => nn.init.kaimingUniform(t), { std: Math.sqrt(2 / fanIn), bound: Math.sqrt(6 / fanIn) }],
    ['kaimingUniform fanOut tanh', (t) => nn.init.kaimingUniform(t, { mode: 'fanOut', nonlinearity: 'tanh' }), { std: 5 / 3 / Math.sqrt(fanOut), bound: (Math.sqrt(3) * 5) / 3 / Math.sqrt(fanOut) }],
    ['kaimingNormal leaky_relu a = 0.2', (t) => nn.init.kaimingNormal(t, { a: 0.2 }), { std: Math.sqrt(2 / 1.04) / Math.sqrt(fanIn) }],
  ];
  it.each(cases)('%s: mean, std and bounds, in place, deterministic under manualSeed', (_name, f, want) => {
    for (const dtype of ['float64', 'float32'] as const) {
      const t = Tensor.zeros(shape, { dtype, requiresGrad: true });
      const data = t.data;
      const v0 = t.version;
      manualSeed(7);
      expect(f(t)).toBe(t);
      expect(t.data).toBe(data);
      expect(t.version).toBe(v0 + 1);
      const s = stats(t.data);
      const mean = want.mean ?? 0;
      // 30000 draws: the sample mean is within 5 standard errors, the std within 3%.
      expect(Math.abs(s.mean - mean)).toBeLessThan((5 * want.std) / Math.sqrt(t.size));
      expect(Math.abs(s.std / want.std - 1)).toBeLessThan(0.03);
      if (want.bound !== undefined) {
        expect(s.max).toBeLessThanOrEqual(want.bound);
        expect(s.min).toBeGreaterThanOrEqual(mean - (want.bound - mean));
        expect(s.max).toBeGreaterThan(want.bound * 0.99);
      }
      const u = Tensor.zeros(shape, { dtype });
      manualSeed(7);
      f(u);
      expect(u.data).toEqual(t.data);
    }
  });

  it('zeros and ones fill in place and bump the version', () => {
    const t = Tensor.randn([3, 4]);
    const v = t.version;
    nn.init.ones(t);
    expect([...t.data].every((x) => x === 1)).toBe(true);
    nn.init.zeros(t);
    expect([...t.data].every((x) => x === 0)).toBe(true);
    expect(t.version).toBe(v + 2);
  });

  it('fans follow the [in, out] layout (times the receptive field for more axes)', () => {
    expect(nn.init.calculateFans(Tensor.zeros([784, 10]))).toEqual({ fanIn: 784, fanOut: 10 });
    expect(nn.init.calculateFans(Tensor.zeros([3, 4, 5, 2]))).toEqual({ fanIn: 30, fanOut: 40 });
  });

  it('kaimingUniform with defaults draws the distribution of Affine’s default init', () => {
    manualSeed(3);
    const a = new nn.Affine(50, 20).weight;
    manualSeed(3);
    const b = nn.init.kaimingUniform(Tensor.zeros([50, 20]));
    expect(maxRelError(a.data, b.data)).toBeLessThan(1e-15);
  });
});

describe('nn.init errors (nothing changes)', () => {
  const fns: [string, (t: Tensor, o?: never) => Tensor][] = [
    ['uniform', nn.init.uniform], ['normal', nn.init.normal], ['zeros', nn.init.zeros], ['ones', nn.init.ones],
    ['xavierUniform', nn.init.xavierUniform], ['xavierNormal', nn.init.xavierNormal],
    ['kaimingUniform', nn.init.kaimingUniform], ['kaimingNormal', nn.init.kaimingNormal],
  ];
  it.each(fns)('%s refuses a non-tensor and a tensor inside a graph', (name, f) => {
    expectThrows(() => f([1, 2] as never), ArgumentError, new RegExp(`^nn\\.init\\.${name}: tensor must be a Tensor, got`));
    const w = Tensor.ones([2, 2], { requiresGrad: true });
    const y = w.mul(2);
    const before = y.data.slice();
    expectThrows(() => f(y), GradError, new RegExp(`^nn\\.init\\.${name}: tensor must be a leaf .*got the \\[2, 2\\] output of an op`));
    expect(y.data).toEqual(before);
  });
  it('bad options', () => {
    const t = Tensor.ones([2, 3]);
    expectThrows(() => nn.init.uniform(t, { a: 1, b: 0 }), ValueError, /^nn\.init\.uniform: opts\.a must be <= opts\.b, got a = 1 > b = 0$/);
    expectThrows(() => nn.init.uniform(t, { a: NaN }), ValueError, /^nn\.init\.uniform: opts\.a must be a finite number/);
    expectThrows(() => nn.init.normal(t, { std: -1 }), ValueError, /^nn\.init\.normal: opts\.std must be >= 0, got -1$/);
    expectThrows(() => nn.init.normal(t, { sd: 1 } as never), ValueError, /^nn\.init\.normal: sd is not an option/);
    expectThrows(() => nn.init.xavierUniform(t, { gain: Infinity }), ValueError, /^nn\.init\.xavierUniform: opts\.gain must be a finite number/);
    expectThrows(() => nn.init.xavierUniform(Tensor.ones([5])), ShapeError, /^nn\.init\.xavierUniform: tensor must have at least 2 axes .*got shape \[5\]$/);
    expectThrows(() => nn.init.kaimingNormal(Tensor.ones([5])), ShapeError, /^nn\.init\.kaimingNormal: tensor must have at least 2 axes/);
    expectThrows(() => nn.init.kaimingUniform(t, { mode: 'fan_in' as never }), ValueError, /^nn\.init\.kaimingUniform: opts\.mode must be 'fanIn' or 'fanOut', got "fan_in"$/);
    expectThrows(() => nn.init.kaimingUniform(t, { nonlinearity: 'gelu' as never }), ValueError, /^nn\.init\.kaimingUniform: opts\.nonlinearity must be one of/);
    expect([...t.data]).toEqual([1, 1, 1, 1, 1, 1]);
  });
});

describe('Affine init option and numParameters', () => {
  it('no init option keeps the default draw bit for bit', () => {
    manualSeed(11);
    const a = new nn.Affine(6, 4);
    manualSeed(11);
    const w = nn.kaimingUniform([6, 4], 6);
    expect(a.weight.data).toEqual(w.data);
  });
  it('a name calls that nn.init function with its defaults; a function fills the weight', () => {
    manualSeed(5);
    const a = new nn.Affine(30, 20, { init: 'xavierNormal' });
    manualSeed(5);
    const w = nn.init.xavierNormal(Tensor.zeros([30, 20]));
    expect(a.weight.data).toEqual(w.data);
    expect(a.weight.requiresGrad).toBe(true);
    const b = new nn.Affine(3, 2, { init: (t) => void nn.init.ones(t), dtype: 'float32' });
    expect([...b.weight.data]).toEqual([1, 1, 1, 1, 1, 1]);
    expect(b.weight.dtype).toBe('float32');
    expect([...b.bias!.data]).toEqual([0, 0]);
  });
  it('refuses an unknown init name or a non-function', () => {
    expectThrows(() => new nn.Affine(2, 2, { init: 'he' as never }), ValueError, /^Affine: opts\.init must be one of 'kaimingUniform', 'kaimingNormal', 'xavierUniform', 'xavierNormal' or a function, got "he"$/);
    expectThrows(() => new nn.Affine(2, 2, { init: 3 as never }), ArgumentError, /^Affine: opts\.init must be the name of an nn\.init function or a function/);
    expectThrows(() => new nn.Affine(2, 2, { init: 'constructor' as never }), ValueError, /^Affine: opts\.init must be one of/);
  });
  it('numParameters counts elements, a shared tensor once', () => {
    const a = new nn.Affine(784, 10);
    expect(a.numParameters()).toBe(7850);
    const model = new nn.Sequential(new nn.Affine(4, 3), new nn.ReLU(), new nn.Affine(3, 2, { bias: false }));
    expect(model.numParameters()).toBe(4 * 3 + 3 + 3 * 2);
    class Tied extends nn.Module {
      w = Tensor.ones([3, 4], { requiresGrad: true });
      alias = this.w;
      b = Tensor.ones([4], { requiresGrad: true });
      forward(x: Tensor): Tensor {
        return x.matmul(this.w).add(this.b).matmul(this.alias.transpose());
      }
    }
    const tied = new Tied();
    expect(tied.parameters().length).toBe(2);
    expect(tied.numParameters()).toBe(12 + 4);
  });
});

interface ClipCase {
  normType: number | 'inf';
  maxNorm: number;
  grads: FixtureArray[];
  total: number;
  clipped: FixtureArray[];
}

function params(grads: FixtureArray[]): Tensor[] {
  return grads.map((g) => {
    const p = Tensor.zeros(g.shape, { requiresGrad: true });
    p.grad = new Tensor(Float64Array.from(g.data), g.shape);
    return p;
  });
}

describe('clipGradNorm and clipGradValue against PyTorch', () => {
  it.each((fixtures.clipGradNorm as ClipCase[]).map((c) => [c.normType, c.maxNorm, c] as const))('normType %s, maxNorm %s', (_n, _m, c) => {
    const ps = params(c.grads);
    const extra = Tensor.zeros([2], { requiresGrad: true }); // no grad: skipped
    const versions = ps.map((p) => p.grad!.version);
    const total = nn.clipGradNorm([...ps, extra], c.maxNorm, { normType: c.normType === 'inf' ? Infinity : c.normType });
    expect(Math.abs(total - c.total) / c.total).toBeLessThan(1e-12);
    ps.forEach((p, i) => expect(maxRelError(p.grad!.data, c.clipped[i].data)).toBeLessThan(1e-12));
    const clipped = c.maxNorm / (c.total + 1e-6) < 1;
    ps.forEach((p, i) => expect(p.grad!.version).toBe(versions[i] + (clipped ? 1 : 0)));
    expect(extra.grad).toBeNull();
  });

  it('after clipping the total norm is maxNorm (up to the 1e-6), for every norm; with a larger maxNorm nothing changes', () => {
    for (const normType of [1, 2, 3, Infinity]) {
      const ps = params((fixtures.clipGradNorm as ClipCase[])[0].grads);
      nn.clipGradNorm(ps, 0.5, { normType });
      const after = ps.map((p) => p.grad!.data.slice());
      const total = nn.clipGradNorm(ps, 1, { normType });
      expect(total).toBeLessThanOrEqual(0.5);
      expect(total).toBeGreaterThan(0.5 - 1e-6);
      ps.forEach((p, i) => expect(p.grad!.data).toEqual(after[i]));
    }
  });

  it.each(fixtures.clipGradValue.map((c) => [c.clipValue, c] as const))('clipGradValue %s', (_v, c) => {
    const ps = params(c.grads);
    const v0 = ps.map((p) => p.grad!.version);
    nn.clipGradValue(ps, c.clipValue);
    ps.forEach((p, i) => expect([...p.grad!.data]).toEqual(c.clipped[i].data));
    ps.forEach((p, i) => expect(p.grad!.version).toBe(v0[i] + 1));
  });

  it('a single tensor, no grads at all, the same parameter twice, and errorIfNonfinite', () => {
    const p = Tensor.zeros([2], { requiresGrad: true });
    expect(nn.clipGradNorm(p, 1)).toBe(0);
    p.grad = tensor([3, 4]);
    expect(nn.clipGradNorm([p, p], 1)).toBe(5);
    expect(p.grad.data[0]).toBeCloseTo(0.6, 6);
    p.grad = tensor([Infinity, 1]);
    expectThrows(() => nn.clipGradNorm(p, 1, { errorIfNonfinite: true }), ValueError, /^nn\.clipGradNorm: the total 2-norm of the gradients must be finite with errorIfNonfinite, got Infinity/);
    expect([...p.grad.data]).toEqual([Infinity, 1]);
  });

  it('errors change nothing', () => {
    const p = Tensor.zeros([2], { requiresGrad: true });
    p.grad = tensor([3, 4]);
    expectThrows(() => nn.clipGradNorm(3 as never, 1), ArgumentError, /^nn\.clipGradNorm: params must be a Tensor or an array/);
    expectThrows(() => nn.clipGradNorm([p, 'w'] as never, 1), ArgumentError, /^nn\.clipGradNorm: params\[1\] must be a Tensor, got/);
    expectThrows(() => nn.clipGradNorm([p], -1), ValueError, /^nn\.clipGradNorm: maxNorm must be a number >= 0, got -1$/);
    expectThrows(() => nn.clipGradNorm([p], NaN), ValueError, /^nn\.clipGradNorm: maxNorm must be a number >= 0/);
    expectThrows(() => nn.clipGradNorm([p], 1, { normType: 0 }), ValueError, /^nn\.clipGradNorm: opts\.normType must be a number > 0 or Infinity, got 0$/);
    expectThrows(() => nn.clipGradNorm([p], 1, { norm: 2 } as never), ValueError, /^nn\.clipGradNorm: norm is not an option/);
    expectThrows(() => nn.clipGradValue([p], -0.5), ValueError, /^nn\.clipGradValue: clipValue must be a number >= 0, got -0\.5$/);
    expectThrows(() => nn.clipGradValue(null as never, 1), ArgumentError, /^nn\.clipGradValue: params must be/);
    expect([...p.grad.data]).toEqual([3, 4]);
  });
});
