/**
 * bceWithLogits, l1Loss, huberLoss and nllLoss: values and gradients against PyTorch (float64,
 * every reduction, edge cases: logits ±100 and ±1e4, |d| = delta, ties at 0), central-difference
 * gradient checks under fast-check, float32, and every error.
 */
import { ArgumentError, DTypeError, GradError, gradcheck, nn, ShapeError, Tensor, tensor, ValueError } from '../../src';
import { tensorArb } from '../../src/testing/arbitraries';
import { FC, fc } from '../helpers/fc';
import { maxRelError, type FixtureArray } from '../helpers/close';
import { expectThrows } from '../helpers/errors';
import fixtures from '../fixtures/torch_losses.json';

type Red = 'mean' | 'sum' | 'none';
interface LossResult {
  value: FixtureArray;
  dInput: FixtureArray;
  dTarget?: FixtureArray;
  gout?: FixtureArray;
}
interface LossCase {
  name: string;
  input: FixtureArray;
  target?: FixtureArray;
  labels?: number[];
  kw?: { delta?: number };
  extra?: { posWeight: FixtureArray };
  results: Record<Red, LossResult>;
}

const cases = fixtures.losses as unknown as LossCase[];
const t64 = (f: FixtureArray, requiresGrad = false): Tensor => new Tensor(Float64Array.from(f.data), f.shape, { requiresGrad });

function lossOf(c: LossCase, x: Tensor, t: Tensor | null, reduction: Red): Tensor {
  if (c.name.startsWith('bceWithLogits')) {
    const posWeight = c.extra === undefined ? undefined : t64(c.extra.posWeight);
    return posWeight === undefined ? nn.bceWithLogits(x, t!, { reduction }) : nn.bceWithLogits(x, t!, { reduction, posWeight });
  }
  if (c.name === 'l1Loss') return nn.l1Loss(x, t!, { reduction });
  if (c.name.startsWith('huberLoss')) return nn.huberLoss(x, t!, { reduction, delta: c.kw!.delta });
  return nn.nllLoss(x, c.labels!, { reduction });
}

/** The worst relative error over all fixtures, reported at the end. */
let worst = { err: 0, where: '' };
function check(actual: Tensor | null, expected: FixtureArray, where: string, tol = 1e-12): void {
  expect(actual).not.toBeNull();
  expect([...actual!.shape]).toEqual(expected.shape);
  // Relative error with a floor of 1e-30: PyTorch 1.13 rounds log(1 + e^-100) to 0 where
  // tapegrad's log1p gives 3.7e-44.
  const a = actual!.data;
  let err = 0;
  for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i] - expected.data[i]) / Math.max(Math.abs(a[i]), Math.abs(expected.data[i]), 1e-30));
  if (err > worst.err) worst = { err, where };
  expect(err).toBeLessThanOrEqual(tol);
}
afterAll(() => {
  // One line for the report: how far the closest loss came from PyTorch.
  console.log(`worst relative disagreement with PyTorch ${fixtures.torch}: ${worst.err.toExponential(2)} at ${worst.where}`);
});

describe('agreement with PyTorch (float64)', () => {
  const rows: [string, Red][] = [];
  for (const c of cases) for (const r of ['mean', 'sum', 'none'] as Red[]) rows.push([c.name, r]);
  it.each(rows)('%s, reduction %s: value and gradients', (name, red) => {
    const c = cases.find((k) => k.name === name)!;
    const res = c.results[red];
    const x = t64(c.input, true);
    const t = c.target === undefined ? null : t64(c.target, true);
    const loss = lossOf(c, x, t, red);
    check(loss, res.value, `${name} ${red} value`);
    if (red === 'none') loss.backward(t64(res.gout!));
    else loss.backward();
    check(x.grad, res.dInput, `${name} ${red} d input`);
    if (t !== null) check(t.grad, res.dTarget!, `${name} ${red} d target`);
  });

  it('bceWithLogits stays finite for logits of ±1e4 and ±100 (values and gradients)', () => {
    const x = tensor([1e4, -1e4, 100, -100], { requiresGrad: true });
    const loss = nn.bceWithLogits(x, tensor([0, 1, 1, 0]), { reduction: 'none' });
    expect(loss.toArray()).toEqual([1e4, 1e4, expect.any(Number), expect.any(Number)]);
    loss.sum().backward();
    expect([...x.grad!.data].slice(0, 3)).toEqual([1, -1, 0]);
    expect(x.grad!.data[3] / (Math.exp(-100) / (1 + Math.exp(-100)))).toBeCloseTo(1, 14);
    expect([...loss.data].every(Number.isFinite)).toBe(true);
  });

  it('l1Loss has gradient 0 where input equals target (torch.sign), huberLoss ±delta at |d| = delta', () => {
    const x = tensor([1, 2, 3.5, -0.5], { requiresGrad: true });
    nn.l1Loss(x, tensor([1, 2, 3, 0]), { reduction: 'sum' }).backward();
    expect([...x.grad!.data]).toEqual([0, 0, 1, -1]);
    const y = tensor([1.5, -0.5], { requiresGrad: true });
    const h = nn.huberLoss(y, tensor([0.5, 0.5]), { reduction: 'none' });
    expect(h.toArray()).toEqual([0.5, 0.5]);
    h.sum().backward();
    expect([...y.grad!.data]).toEqual([1, -1]);
  });

  it('nllLoss of logSoftmax-like input equals softmaxCrossEntropy', () => {
    const s = tensor([[1, 2, 3], [0.5, -1, 2]]);
    const lse = (r: number[]): number => Math.log(r.reduce((a, v) => a + Math.exp(v), 0));
    const rows = s.toArray() as number[][];
    const lp = tensor(rows.map((r) => r.map((v) => v - lse(r))));
    const a = nn.nllLoss(lp, [2, 0]).item();
    const b = nn.softmaxCrossEntropy(s, [2, 0]).item();
    expect(Math.abs(a - b)).toBeLessThan(1e-14);
  });
});

describe('gradients against central differences (fast-check)', () => {
  const pair = (opts: object = {}) =>
    fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }).chain((s) => fc.tuple(tensorArb(s, opts), tensorArb(s, opts), fc.constantFrom<Red>('mean', 'sum', 'none')));

  it('bceWithLogits (logits and targets)', () => {
    fc.assert(fc.property(pair({ min: -4, max: 4 }), ([x, t, reduction]) => void gradcheck((a, b) => nn.bceWithLogits(a, b, { reduction }), [x, t])), FC);
  });

  it('bceWithLogits with posWeight (logits and targets)', () => {
    fc.assert(
      fc.property(pair({ min: -4, max: 4 }), ([x, t, reduction]) => {
        const c = x.shape[x.ndim - 1];
        const posWeight = new Tensor(Float64Array.from({ length: c }, (_, i) => 0.5 + i), [c]);
        gradcheck((a, b) => nn.bceWithLogits(a, b, { reduction, posWeight }), [x, t]);
      }),
      FC,
    );
  });

  it('l1Loss and huberLoss (away from their kinks: the check skips kinks it meets)', () => {
    fc.assert(
      fc.property(pair(), fc.constantFrom(0.5, 1, 2), ([x, t, reduction], delta) => {
        gradcheck((a, b) => nn.l1Loss(a, b, { reduction }), [x, t]);
        gradcheck((a, b) => nn.huberLoss(a, b, { reduction, delta }), [x, t]);
      }),
      FC,
    );
  });

  it('nllLoss', () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })).chain(([n, c]) =>
      fc.tuple(tensorArb([n, c]), fc.array(fc.integer({ min: 0, max: c - 1 }), { minLength: n, maxLength: n }), fc.constantFrom<Red>('mean', 'sum', 'none')),
    );
    fc.assert(fc.property(arb, ([x, y, reduction]) => void gradcheck((a) => nn.nllLoss(a, y, { reduction }), [x])), FC);
  });
});

describe('float32', () => {
  it('each loss runs in float32 and returns float32 values and gradients close to float64', () => {
    const xs = [0.3, -1.2, 2.5, 0];
    const ts = [1, 0, 0.5, 0];
    for (const f of [
      (a: Tensor, b: Tensor) => nn.bceWithLogits(a, b),
      (a: Tensor, b: Tensor) => nn.l1Loss(a, b),
      (a: Tensor, b: Tensor) => nn.huberLoss(a, b, { delta: 0.7 }),
      (a: Tensor) => nn.nllLoss(a.reshape([2, 2]), [1, 0]),
    ]) {
      const a32 = tensor(xs, { dtype: 'float32', requiresGrad: true });
      const a64 = tensor(xs, { requiresGrad: true });
      const l32 = f(a32, tensor(ts, { dtype: 'float32' }));
      const l64 = f(a64, tensor(ts));
      expect(l32.dtype).toBe('float32');
      l32.backward();
      l64.backward();
      expect(a32.grad!.dtype).toBe('float32');
      expect(Math.abs(l32.item() - l64.item())).toBeLessThan(1e-6);
      expect(maxRelError(a32.grad!.data, a64.grad!.data)).toBeLessThan(1e-6);
    }
  });
});

describe('errors name the loss, the argument, the expected and the actual', () => {
  const x = tensor([[1, 2], [3, 4]]);
  it.each([
    ['bceWithLogits', nn.bceWithLogits, 'logits', 'targets'],
    ['l1Loss', nn.l1Loss, 'input', 'target'],
    ['huberLoss', nn.huberLoss, 'input', 'target'],
  ] as const)('%s', (name, f, a, b) => {
    const re = (s: string): RegExp => new RegExp(`^nn\\.${name}: ${s}`);
    expectThrows(() => f([1, 2] as never, x), ArgumentError, re(`${a} must be a Tensor, got`));
    expectThrows(() => f(x, null as never), ArgumentError, re(`${b} must be a Tensor`));
    expectThrows(() => f(x, tensor([1, 2, 3, 4])), ShapeError, re(`${b}`));
    expectThrows(() => f(x, tensor([[1, 2], [3, 4]], { dtype: 'float32' })), DTypeError, re(''));
    expectThrows(() => f(Tensor.zeros([0, 2]), Tensor.zeros([0, 2])), ShapeError, re(`${a} must hold at least one element`));
    expectThrows(() => f(x, x, { reduction: 'avg' as never }), ValueError, re(`opts.reduction must be 'mean', 'sum' or 'none', got`));
    expectThrows(() => f(x, x, { reductoin: 'sum' } as never), ValueError, re(`reductoin is not an option of nn\\.${name}`));
    expectThrows(() => f(x, x, 3 as never), ArgumentError, re('opts must be an object'));
  });

  it('huberLoss: delta must be a finite number > 0', () => {
    for (const delta of [0, -1, NaN, Infinity, '1']) {
      expectThrows(() => nn.huberLoss(x, x, { delta: delta as number }), ValueError, /^nn\.huberLoss: opts\.delta must be a finite number > 0, got /);
    }
  });

  it('bceWithLogits: posWeight must be a Tensor whose shape is a suffix of the logits, of their dtype, not requiring grad', () => {
    expectThrows(() => nn.bceWithLogits(x, x, { posWeight: [1, 2] as never }), ArgumentError, /^nn\.bceWithLogits: opts\.posWeight must be a Tensor/);
    expectThrows(() => nn.bceWithLogits(x, x, { posWeight: tensor([1, 2, 3]) }), ShapeError, /^nn\.bceWithLogits: opts\.posWeight must have a shape that is a suffix of logits' \[2, 2\].*got \[3\]$/);
    expectThrows(() => nn.bceWithLogits(x, x, { posWeight: Tensor.ones([3, 2, 2]) }), ShapeError, /got \[3, 2, 2\]$/);
    expectThrows(() => nn.bceWithLogits(x, x, { posWeight: tensor([1, 2], { dtype: 'float32' }) }), DTypeError, /^nn\.bceWithLogits:/);
    expectThrows(() => nn.bceWithLogits(x, x, { posWeight: tensor([1, 2], { requiresGrad: true }) }), GradError, /^nn\.bceWithLogits: opts\.posWeight must not require grad/);
    // A scalar weight and a full-shape weight are both suffixes.
    expect(nn.bceWithLogits(x, x, { posWeight: tensor(2) }).item()).toBeCloseTo(nn.bceWithLogits(x, x, { posWeight: Tensor.full([2, 2], 2) }).item(), 14);
  });

  it('nllLoss: logProbs (N, C), labels of length N, integers in [0, C)', () => {
    expectThrows(() => nn.nllLoss('x' as never, [0]), ArgumentError, /^nn\.nllLoss: logProbs must be a Tensor/);
    expectThrows(() => nn.nllLoss(tensor([1, 2]), [0]), ShapeError, /^nn\.nllLoss: logProbs must have shape \(N, C\) with N, C >= 1, got \[2\]$/);
    expectThrows(() => nn.nllLoss(Tensor.zeros([0, 3]), []), ShapeError, /got \[0, 3\]$/);
    expectThrows(() => nn.nllLoss(x, [0]), ShapeError, /^nn\.nllLoss: labels must hold 2 labels/);
    expectThrows(() => nn.nllLoss(x, [0, 2]), ValueError, /^nn\.nllLoss: labels\[1\] must be an integer class label in \[0, 2\), got number 2$/);
    expectThrows(() => nn.nllLoss(x, [0, -100]), ValueError, /^nn\.nllLoss: labels\[1\] must be an integer class label in \[0, 2\)/);
    expectThrows(() => nn.nllLoss(x, [0.5, 1]), ValueError, /^nn\.nllLoss: labels\[0\] must be an integer/);
    expectThrows(() => nn.nllLoss(x, 'ab' as never), ValueError, /^nn\.nllLoss: labels must be an Int32Array or number\[\]/);
    expectThrows(() => nn.nllLoss(x, [0, 1], { reduction: 'batchmean' as never }), ValueError, /^nn\.nllLoss: opts\.reduction/);
    expectThrows(() => nn.nllLoss(x, [0, 1], { ignoreIndex: -100 } as never), ValueError, /^nn\.nllLoss: ignoreIndex is not an option/);
  });
});
