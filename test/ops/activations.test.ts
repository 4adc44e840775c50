/**
 * The elementwise activations (ops/activations.ts) and their layers: forward and gradient
 * against PyTorch 1.13 in float64 (fixtures from test/fixtures/gen_torch_activations.py, with
 * mpmath's exact values where PyTorch's own formula cancels), float32 against float64, erf
 * against known values, central-difference gradients over random inputs (pinned seed), errors,
 * and small models that learn with each activation.
 */
import fixtures from '../fixtures/torch_activations.json';
import {
  ArgumentError,
  DTypeError,
  gradcheck,
  manualSeed,
  nn,
  ops,
  optim,
  ShapeError,
  Tensor,
  tensor,
  ValueError,
} from '../../src';
import { erf, erfc } from '../../src/ops/activations';
import { shapeArb, tensorArb, broadcastPairArb } from '../../src/testing/arbitraries';
import { expectThrows } from '../helpers/errors';
import { FC, fc } from '../helpers/fc';

interface Arr {
  shape: number[];
  data: (number | string)[];
}
interface Case {
  op: string;
  args: { p?: number; min?: number | null; max?: number | null; slope?: number; alpha?: number; approximate?: 'none' | 'tanh' };
  x?: Arr;
  a?: Arr;
  b?: Arr;
  g: Arr;
  y: Arr;
  dx?: Arr;
  da?: Arr;
  db?: Arr;
  exactY?: Arr;
  exactDx?: Arr;
}
const cases = (fixtures as { cases: Case[] }).cases;

const num = (v: number | string): number => (typeof v === 'number' ? v : Number(v));
function values(a: Arr): Float64Array {
  return Float64Array.from(a.data, num);
}
function leaf(data: Float64Array | Float32Array, shape: number[]): Tensor {
  return new Tensor(data, shape, { requiresGrad: true });
}

/** The op a unary fixture case names, applied with its arguments. */
function unaryOf(c: Case): (x: Tensor) => Tensor {
  const a = c.args;
  switch (c.op) {
    case 'pow':
      return (x) => x.pow(a.p!);
    case 'clamp':
      return (x) => x.clamp(a.min ?? undefined, a.max ?? undefined);
    case 'leakyRelu':
      return (x) => x.leakyRelu(a.slope);
    case 'elu':
      return (x) => x.elu(a.alpha);
    case 'gelu':
      return (x) => x.gelu({ approximate: a.approximate });
    default: {
      const name = c.op as 'tanh' | 'sigmoid' | 'sqrt' | 'abs' | 'silu' | 'softplus';
      return (x) => x[name]();
    }
  }
}

/** Output and input gradients of a fixture case, on inputs of the given dtype. */
function run(c: Case, ctor: Float64ArrayConstructor | Float32ArrayConstructor): { y: Tensor; grads: Tensor[] } {
  const g = new Tensor(ctor.from(values(c.g)), c.g.shape);
  if (c.x !== undefined) {
    const x = leaf(ctor.from(values(c.x)), c.x.shape);
    const y = unaryOf(c)(x);
    y.backward(g);
    return { y, grads: [x.grad!] };
  }
  const a = leaf(ctor.from(values(c.a!)), c.a!.shape);
  const b = leaf(ctor.from(values(c.b!)), c.b!.shape);
  const y = (c.op === 'maximum' ? ops.maximum : ops.minimum)(a, b);
  y.backward(g);
  return { y, grads: [a.grad!, b.grad!] };
}

/** Largest |a - b| / (max(|a|, |b|) * rtol + atol) over the elements; equal non-finite values count as 0. */
function worst(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol = 0): number {
  expect(actual.length).toBe(expected.length);
  let w = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (a === b || (Number.isNaN(a) && Number.isNaN(b))) continue;
    const e = Math.abs(a - b) / (Math.max(Math.abs(a), Math.abs(b)) * rtol + atol);
    if (!(e <= w)) w = Number.isNaN(e) ? Infinity : e;
  }
  return w;
}

const label = (c: Case): string => `${c.op} ${JSON.stringify(c.args)} ${JSON.stringify((c.x ?? c.a)!.shape)}`;

describe('agreement with PyTorch in float64', () => {
  it.each(cases.map((c) => [label(c), c] as const))('%s', (_name, c) => {
    const { y, grads } = run(c, Float64Array);
    expect([...y.shape]).toEqual(c.y.shape);
    const expected = c.x !== undefined ? [c.dx!] : [c.da!, c.db!];
    if (c.exactY === undefined) {
      // PyTorch's formula and ours are the same: relative agreement, to 1e-12 or better.
      expect(worst(y.data, values(c.y), 1e-12)).toBeLessThanOrEqual(1);
      grads.forEach((gr, i) => {
        expect([...gr.shape]).toEqual(expected[i].shape);
        expect(worst(gr.data, values(expected[i]), 1e-12)).toBeLessThanOrEqual(1);
      });
    } else {
      // Where PyTorch's formula cancels (tails of tanh', sigmoid', gelu; elu below 1e-8) ours
      // is the accurate one: relative to mpmath's exact values, absolute to PyTorch's.
      expect(worst(y.data, values(c.exactY), 1e-13)).toBeLessThanOrEqual(1);
      expect(worst(grads[0].data, values(c.exactDx!), 1e-13)).toBeLessThanOrEqual(1);
      expect(worst(y.data, values(c.y), 1e-12, 1e-15)).toBeLessThanOrEqual(1);
      expect(worst(grads[0].data, values(c.dx!), 1e-12, 1e-15)).toBeLessThanOrEqual(1);
    }
  });

  it('PyTorch semantics at the kinks and ties', () => {
    const grad = (f: (x: Tensor) => Tensor, v: number): number => {
      const x = tensor([v], { requiresGrad: true });
      f(x).sum().backward();
      return x.grad!.data[0];
    };
    expect(grad((x) => x.abs(), 0)).toBe(0);
    expect(grad((x) => x.leakyRelu(0.2), 0)).toBe(0.2);
    expect(grad((x) => x.elu(1.7), 0)).toBe(1.7);
    expect(grad((x) => x.clamp(0, 1), 0)).toBe(1);
    expect(grad((x) => x.clamp(0, 1), 1)).toBe(1);
    expect(grad((x) => x.clamp(2, 1), 1.5)).toBe(0);
    expect(grad((x) => x.pow(0.5), 0)).toBe(Infinity);
    expect(grad((x) => x.pow(0), 0)).toBe(0);
    expect(grad((x) => x.sqrt(), 0)).toBe(Infinity);
    const a = tensor([1, 2], { requiresGrad: true });
    const b = tensor([1, 3], { requiresGrad: true });
    ops.maximum(a, b).sum().backward();
    expect([...a.grad!.data]).toEqual([0.5, 0]);
    expect([...b.grad!.data]).toEqual([0.5, 1]);
  });

  it('large |x| gives finite results and gradients', () => {
    const big = [-1e4, -800, -30, 30, 800, 1e4];
    for (const f of [
      (x: Tensor) => x.tanh(),
      (x: Tensor) => x.sigmoid(),
      (x: Tensor) => x.silu(),
      (x: Tensor) => x.softplus(),
      (x: Tensor) => x.elu(),
      (x: Tensor) => x.gelu(),
      (x: Tensor) => x.gelu({ approximate: 'tanh' }),
    ]) {
      for (const dtype of ['float64', 'float32'] as const) {
        const x = tensor(big, { requiresGrad: true, dtype });
        const y = f(x);
        y.sum().backward();
        expect([...y.data].every(Number.isFinite)).toBe(true);
        expect([...x.grad!.data].every(Number.isFinite)).toBe(true);
      }
    }
  });
});

describe('float32', () => {
  // Each op computes in double from the float32 input and rounds once, so float32 results
  // match the float64 results on the same (float32-rounded) inputs to float32 precision.
  it.each(cases.map((c) => [label(c), c] as const))('%s', (_name, c) => {
    const r32 = run(c, Float32Array);
    expect(r32.y.dtype).toBe('float32');
    const rounded: Case = {
      ...c,
      x: c.x && { shape: c.x.shape, data: [...Float32Array.from(values(c.x))] },
      a: c.a && { shape: c.a.shape, data: [...Float32Array.from(values(c.a))] },
      b: c.b && { shape: c.b.shape, data: [...Float32Array.from(values(c.b))] },
      g: { shape: c.g.shape, data: [...Float32Array.from(values(c.g))] },
    };
    const r64 = run(rounded, Float64Array);
    expect(worst(r32.y.data, r64.y.data, 2.4e-7, 1e-38)).toBeLessThanOrEqual(1);
    r32.grads.forEach((gr, i) => {
      expect(gr.dtype).toBe('float32');
      expect(worst(gr.data, r64.grads[i].data, 2.4e-7, 1e-38)).toBeLessThanOrEqual(1);
    });
  });
});

describe('erf and erfc', () => {
  it('match known values to double precision', () => {
    // mpmath's values (40 digits) rounded to double.
    const known: [number, number, number][] = [
      [0, 0, 1],
      [1e-20, 1.1283791670955125e-20, 1],
      [0.1, 0.1124629160182849, 0.8875370839817152],
      [0.46875, 0.49261347321793797, 0.507386526782062],
      [0.5, 0.5204998778130465, 0.4795001221869535],
      [1, 0.8427007929497149, 0.15729920705028513],
      [2, 0.9953222650189527, 0.004677734981047266],
      [4, 0.9999999845827421, 1.541725790028002e-8],
      [5, 0.9999999999984626, 1.537459794428035e-12],
      [10, 1, 2.088487583762545e-45],
      [26, 1, 5.663192408856143e-296],
    ];
    for (const [x, e, c] of known) {
      expect(Math.abs(erf(x) - e)).toBeLessThanOrEqual(4e-16 * Math.abs(e));
      expect(Math.abs(erf(-x) + e)).toBeLessThanOrEqual(4e-16 * Math.abs(e));
      expect(Math.abs(erfc(x) - c)).toBeLessThanOrEqual(8e-16 * c);
      expect(Math.abs(erfc(-x) - (2 - c))).toBeLessThanOrEqual(4e-16 * (2 - c));
    }
    expect(erf(Infinity)).toBe(1);
    expect(erf(-Infinity)).toBe(-1);
    expect(erfc(Infinity)).toBe(0);
    expect(erfc(-Infinity)).toBe(2);
    expect(erf(NaN)).toBeNaN();
    expect(erfc(NaN)).toBeNaN();
  });
});

describe('gradients against central differences (fast-check, pinned seed)', () => {
  const away = (kinks: number[]) => ({ awayFrom: { kinks, margin: 1e-3 } });
  it.each([
    ['tanh', (x: Tensor) => x.tanh(), {}],
    ['sigmoid', (x: Tensor) => x.sigmoid(), { min: -6, max: 6 }],
    ['sqrt', (x: Tensor) => x.sqrt(), { min: 0.1, max: 4 }],
    ['abs', (x: Tensor) => x.abs(), away([0])],
    ['pow 3', (x: Tensor) => x.pow(3), {}],
    ['pow -1', (x: Tensor) => x.pow(-1), { min: 0.2, max: 3 }],
    ['pow 1.5', (x: Tensor) => x.pow(1.5), { min: 0.1, max: 3 }],
    ['clamp', (x: Tensor) => x.clamp(-0.5, 0.5), away([-0.5, 0.5])],
    ['clamp min', (x: Tensor) => x.clamp(0.25), away([0.25])],
    ['leakyRelu', (x: Tensor) => x.leakyRelu(), away([0])],
    ['leakyRelu 0.3', (x: Tensor) => x.leakyRelu(0.3), away([0])],
    ['elu', (x: Tensor) => x.elu(), away([0])],
    ['elu 1.7', (x: Tensor) => x.elu(1.7), away([0])],
    ['gelu', (x: Tensor) => x.gelu(), { min: -5, max: 5 }],
    ['gelu tanh', (x: Tensor) => x.gelu({ approximate: 'tanh' }), { min: -5, max: 5 }],
    ['silu', (x: Tensor) => x.silu(), { min: -8, max: 8 }],
    ['softplus', (x: Tensor) => x.softplus(), { min: -15, max: 15 }],
  ] as const)('%s', (_name, f, range) => {
    fc.assert(fc.property(tensorArb(shapeArb(), range), (x) => void gradcheck(f, [x])), FC);
  });

  it.each([
    ['maximum', ops.maximum],
    ['minimum', ops.minimum],
  ] as const)('%s with broadcasting', (_name, f) => {
    fc.assert(
      fc.property(
        broadcastPairArb({ maxRank: 3, maxDim: 4 }).chain(([sa, sb]) => fc.tuple(tensorArb(sa), tensorArb(sb))),
        ([a, b]) => void gradcheck((p, q) => f(p, q), [a, b]),
      ),
      FC,
    );
  });
});

describe('errors name the op and the argument', () => {
  it('ops', () => {
    expectThrows(() => ops.tanh([1, 2] as unknown as Tensor), ArgumentError, /^tanh: x must be a Tensor/);
    expectThrows(() => ops.gelu(3 as unknown as Tensor), ArgumentError, /^gelu: x must be a Tensor/);
    const x = tensor([1, 2]);
    expectThrows(() => x.pow(NaN), ValueError, /^pow: p must be a number, got NaN/);
    expectThrows(() => x.pow('2' as unknown as number), ValueError, /^pow: p must be a number/);
    expectThrows(() => x.clamp(), ArgumentError, /^clamp: at least one of min and max/);
    expectThrows(() => x.clamp(undefined, NaN), ValueError, /^clamp: max must be a number, got NaN/);
    expectThrows(() => x.leakyRelu(Infinity), ValueError, /^leakyRelu: slope must be a finite number, got Infinity/);
    expectThrows(() => x.elu(NaN), ValueError, /^elu: alpha must be a finite number/);
    expectThrows(() => x.gelu({ approximate: 'fast' as 'tanh' }), ValueError, /^gelu: opts.approximate must be 'none' or 'tanh', got 'fast'/);
    expectThrows(() => x.gelu({ approx: 'tanh' } as never), ValueError, /^gelu: approx is not an option of gelu/);
    expectThrows(() => x.gelu(null as never), ArgumentError, /^gelu: opts must be an object/);
    expectThrows(() => ops.maximum(tensor([1, 2]), tensor([1, 2, 3])), ShapeError, /maximum/);
    expectThrows(() => ops.minimum(tensor([1, 2]), tensor([1, 2], { dtype: 'float32' })), DTypeError, /^minimum: b must have dtype 'float64'/);
    expectThrows(() => ops.maximum(tensor([1]), {} as Tensor), ArgumentError, /^maximum: b must be a Tensor/);
  });

  it('layers', () => {
    expectThrows(() => new nn.GELU({ approximate: 'erf' as 'none' }), ValueError, /^GELU: opts.approximate must be 'none' or 'tanh'/);
    expectThrows(() => new nn.LeakyReLU(NaN), ValueError, /^LeakyReLU: slope must be a finite number, got NaN/);
    expectThrows(() => new nn.ELU('1' as unknown as number), ValueError, /^ELU: alpha must be a finite number/);
    expectThrows(() => new nn.Tanh({ inplace: true } as never), ValueError, /^Tanh: inplace is not an option of Tanh/);
    expectThrows(() => new nn.Softplus({ beta: 2 } as never), ValueError, /^Softplus: beta is not an option/);
    expectThrows(() => new nn.Identity(5 as never), ArgumentError, /^Identity: opts must be an object/);
    expectThrows(() => new nn.Sigmoid().forward('x' as unknown as Tensor), ArgumentError, /^sigmoid: x must be a Tensor/);
  });
});

describe('layers', () => {
  it('compute their ops, print their settings, and Identity passes its input through', () => {
    const x = tensor([-1, 0.5, 2]);
    const same = (a: Tensor, b: Tensor): void => expect([...a.data]).toEqual([...b.data]);
    same(new nn.Tanh().forward(x), x.tanh());
    same(new nn.Sigmoid().forward(x), x.sigmoid());
    same(new nn.LeakyReLU(0.2).forward(x), x.leakyRelu(0.2));
    same(new nn.LeakyReLU().forward(x), x.leakyRelu(0.01));
    same(new nn.GELU().forward(x), x.gelu());
    same(new nn.GELU({ approximate: 'tanh' }).forward(x), x.gelu({ approximate: 'tanh' }));
    same(new nn.ELU(0.5).forward(x), x.elu(0.5));
    same(new nn.SiLU().forward(x), x.silu());
    same(new nn.Softplus().forward(x), x.softplus());
    expect(new nn.Identity().forward(x)).toBe(x);
    expect(String(new nn.LeakyReLU(0.2))).toBe('LeakyReLU(slope=0.2)');
    expect(String(new nn.GELU())).toBe("GELU(approximate='none')");
    expect(String(new nn.ELU())).toBe('ELU(alpha=1)');
    expect(String(new nn.Tanh())).toBe('Tanh()');
    expect(new nn.Sequential(new nn.Tanh(), new nn.Identity()).parameters().length).toBe(0);
  });

  /** Two interleaved spirals' worth of points: a small problem a linear model cannot solve. */
  function data(): { x: Tensor; y: Int32Array } {
    const n = 60;
    const xs: number[][] = [];
    const ys = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const cls = i % 2;
      const r = 0.2 + (0.8 * Math.floor(i / 2)) / (n / 2);
      const t = 3 * r + cls * Math.PI;
      xs.push([r * Math.cos(t), r * Math.sin(t)]);
      ys[i] = cls;
    }
    return { x: tensor(xs), y: ys };
  }

  const activations: [string, () => nn.Module][] = [
    ['Tanh', () => new nn.Tanh()],
    ['Sigmoid', () => new nn.Sigmoid()],
    ['LeakyReLU', () => new nn.LeakyReLU(0.1)],
    ['GELU', () => new nn.GELU()],
    ['GELU tanh', () => new nn.GELU({ approximate: 'tanh' })],
    ['ELU', () => new nn.ELU()],
    ['SiLU', () => new nn.SiLU()],
    ['Softplus', () => new nn.Softplus()],
  ];

  it.each(activations)('an MLP with %s learns a small problem in float64 and float32', (_name, make) => {
    for (const dtype of ['float64', 'float32'] as const) {
      manualSeed(7);
      const { x, y } = data();
      const xs = x.to(dtype);
      const model = new nn.Sequential(
        new nn.Affine(2, 32, { dtype }),
        make(),
        new nn.Affine(32, 32, { dtype }),
        make(),
        new nn.Identity(),
        new nn.Affine(32, 2, { dtype }),
      );
      const opt = new optim.Adam(model.parameters(), { lr: 0.02 });
      const losses: number[] = [];
      for (let step = 0; step < 150; step++) {
        opt.zeroGrad();
        const loss = nn.softmaxCrossEntropy(model.forward(xs), y);
        loss.backward();
        opt.step();
        losses.push(loss.item());
      }
      expect(losses.every(Number.isFinite)).toBe(true);
      // Starts near log 2; a model that learns drives it well below.
      expect(losses[losses.length - 1]).toBeLessThan(0.5 * losses[0]);
    }
  });
});
