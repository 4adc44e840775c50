/**
 * softmax, logSoftmax, max/min, argmax and the shape ops (slice, gather, flatten, squeeze,
 * unsqueeze, concat, stack): forward and gradient against PyTorch's float64 numbers
 * (test/fixtures/torch_reductions.json, from gen_torch_reductions.py), numerical gradients
 * under fast-check, invariants, float32, every error; and nn.Softmax, LogSoftmax, Flatten.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError, DTypeError, gradcheck, nn, ops, ShapeError, Tensor, tensor, ValueError } from '../../src';
import { checkModuleGradients } from '../../src/testing';
import { shapeArb, tensorArb } from '../../src/testing/arbitraries';
import { maxRelError, normRelError } from '../helpers/close';
import { expectThrows } from '../helpers/errors';
import { FC, fc } from '../helpers/fc';

interface FxArray {
  shape: number[];
  data: (number | string)[];
}
interface FxCase {
  op: string;
  args: { axis?: number | null; keepDims?: boolean; begin?: number[]; size?: number[]; indices?: number[]; startAxis?: number };
  note: string;
  inputs: FxArray[];
  upstream?: FxArray;
  out: FxArray;
  grads?: FxArray[];
}
const fixture = JSON.parse(readFileSync(join(__dirname, '../fixtures/torch_reductions.json'), 'utf8')) as { torch: string; cases: FxCase[] };

const num = (v: number | string): number => (typeof v === 'number' ? v : Number(v));
const f64 = (a: FxArray): Float64Array => Float64Array.from(a.data, num);
const fromFx = (a: FxArray, dtype: 'float64' | 'float32' = 'float64'): Tensor =>
  new Tensor(dtype === 'float64' ? f64(a) : Float32Array.from(a.data, num), a.shape, { requiresGrad: true });

/** Runs a fixture case's op through tapegrad. */
function run(c: FxCase, xs: Tensor[]): Tensor {
  const a = c.args;
  const axis = a.axis === null ? undefined : a.axis;
  switch (c.op) {
    case 'softmax':
      return xs[0].softmax(axis);
    case 'logSoftmax':
      return xs[0].logSoftmax(axis);
    case 'max':
      return xs[0].max(axis, a.keepDims ?? false);
    case 'min':
      return xs[0].min(axis, a.keepDims ?? false);
    case 'slice':
      return xs[0].slice(a.begin!, a.size!);
    case 'gather':
      return xs[0].gather(a.indices!, axis);
    case 'flatten':
      return xs[0].flatten(a.startAxis);
    case 'squeeze':
      return xs[0].squeeze(axis);
    case 'unsqueeze':
      return xs[0].unsqueeze(axis!);
    case 'concat':
      return ops.concat(xs, axis);
    case 'stack':
      return ops.stack(xs, axis);
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

/** Same values, NaN matching NaN; the relative error of the rest. */
function compare(actual: ArrayLike<number>, expected: Float64Array): { rel: number; norm: number } {
  expect(actual.length).toBe(expected.length);
  const a: number[] = [];
  const e: number[] = [];
  for (let i = 0; i < expected.length; i++) {
    if (Number.isNaN(expected[i])) expect(actual[i]).toBeNaN();
    else {
      a.push(actual[i]);
      e.push(expected[i]);
    }
  }
  return { rel: maxRelError(a, e), norm: normRelError(a, e) };
}

describe(`agreement with PyTorch (float64, fixtures from torch ${fixture.torch})`, () => {
  const worst = new Map<string, { rel: number; norm: number }>();
  const note = (op: string, r: { rel: number; norm: number }): void => {
    const w = worst.get(op) ?? { rel: 0, norm: 0 };
    worst.set(op, { rel: Math.max(w.rel, r.rel), norm: Math.max(w.norm, r.norm) });
  };
  afterAll(() => {
    const lines = [...worst].map(([op, w]) => `${op.padEnd(11)} elementwise rel ${w.rel.toExponential(2)}, rel to max|.| ${w.norm.toExponential(2)}`);
    // The worst disagreement per op, for the record (the assertions are per case below).
    console.log(`worst disagreement with PyTorch per op (forward and gradient):\n${lines.join('\n')}`);
  });

  const gradCases = fixture.cases.filter((c) => c.op !== 'argmax');
  it.each(gradCases.map((c, i) => [`${i}: ${c.op} ${JSON.stringify(c.args)} ${c.note}`, c] as const))('%s', (_name, c) => {
    const xs = c.inputs.map((a) => fromFx(a));
    const out = run(c, xs);
    expect([...out.shape]).toEqual(c.out.shape);
    const fwd = compare(out.data, f64(c.out));
    note(c.op, fwd);
    out.backward(new Tensor(f64(c.upstream!), c.upstream!.shape));
    const errs = xs.map((x, i) => {
      expect([...x.grad!.shape]).toEqual(c.grads![i].shape);
      return compare(x.grad!.data, f64(c.grads![i]));
    });
    for (const r of errs) note(c.op, r);
    // Values and gradients within 1e-12 of PyTorch's, relative to the array's scale; elementwise
    // too wherever no cancellation is involved (only the softmax backwards subtract).
    const elementwise = c.op === 'softmax' || c.op === 'logSoftmax' ? 1e-9 : 1e-12;
    for (const r of [fwd, ...errs]) {
      expect(r.norm).toBeLessThanOrEqual(1e-12);
      expect(r.rel).toBeLessThanOrEqual(elementwise);
    }
    for (const x of xs) for (const v of x.grad!.data) expect(Number.isFinite(v) || c.note.includes('NaN')).toBe(true);
  });

  const argCases = fixture.cases.filter((c) => c.op === 'argmax');
  it.each(argCases.map((c, i) => [`${i}: argmax ${JSON.stringify(c.args)} ${c.note}`, c] as const))('%s', (_name, c) => {
    const x = fromFx(c.inputs[0]);
    const idx = x.argmax(c.args.axis ?? undefined);
    expect(idx).toBeInstanceOf(Int32Array);
    expect([...idx]).toEqual(c.out.data);
  });

  it('the fixture covers every op, the ±1e4 logits, ties, negative axes and 0-D tensors', () => {
    const ops = new Set(fixture.cases.map((c) => c.op));
    expect([...ops].sort()).toEqual(['argmax', 'concat', 'flatten', 'gather', 'logSoftmax', 'max', 'min', 'slice', 'softmax', 'squeeze', 'stack', 'unsqueeze']);
    expect(fixture.cases.filter((c) => c.note.includes('1e4')).length).toBeGreaterThanOrEqual(6);
    expect(fixture.cases.filter((c) => c.note.includes('ties')).length).toBeGreaterThanOrEqual(10);
    expect(fixture.cases.filter((c) => (c.args.axis ?? 0) < 0).length).toBeGreaterThanOrEqual(10);
  });
});

describe('numerical gradients under fast-check', () => {
  const withAxis = (opts: { minRank?: number } = {}) =>
    tensorArb(shapeArb({ minRank: opts.minRank ?? 1 }), { min: -3, max: 3 }).chain((x) =>
      fc.tuple(fc.constant(x), fc.integer({ min: -x.ndim, max: x.ndim - 1 })),
    );

  it('softmax and logSoftmax along any axis', () => {
    fc.assert(
      fc.property(withAxis(), ([x, axis]) => {
        gradcheck((t) => t.softmax(axis), [x]);
        gradcheck((t) => t.logSoftmax(axis), [x]);
      }),
      FC,
    );
  });

  // Distinct values (gaps >= 0.01), so no tie sits within the finite-difference step.
  const tieFree = shapeArb().chain((shape) =>
    fc
      .uniqueArray(fc.integer({ min: -300, max: 300 }), { minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) })
      .map((v) => new Tensor(Float64Array.from(v, (k) => k / 100), shape, { requiresGrad: true })),
  );

  it('max and min over all elements or along any axis, with and without keepDims (tie-free inputs)', () => {
    const arb = tieFree.chain((x) =>
      fc.tuple(fc.constant(x), fc.option(fc.integer({ min: -x.ndim, max: x.ndim - 1 }), { nil: undefined }), fc.boolean()),
    );
    fc.assert(
      fc.property(arb, ([x, axis, keepDims]) => {
        gradcheck((t) => t.max(axis, keepDims), [x]);
        gradcheck((t) => t.min(axis, keepDims), [x]);
      }),
      FC,
    );
  });

  it('slice of any block', () => {
    const arb = tensorArb(shapeArb()).chain((x) =>
      fc.tuple(
        fc.constant(x),
        fc.tuple(...x.shape.map((d) => fc.integer({ min: 0, max: d }).chain((b) => fc.tuple(fc.constant(b), fc.integer({ min: -1, max: d - b }))))),
      ),
    );
    fc.assert(
      fc.property(arb, ([x, bs]) => {
        gradcheck((t) => t.slice(bs.map(([b]) => b), bs.map(([, s]) => s)), [x]);
      }),
      FC,
    );
  });

  it('gather along any axis, with repeated indices', () => {
    const arb = withAxis().chain(([x, axis]) =>
      fc.tuple(fc.constant(x), fc.constant(axis), fc.array(fc.integer({ min: 0, max: x.shape[(axis + x.ndim) % x.ndim] - 1 }), { maxLength: 6 })),
    );
    fc.assert(
      fc.property(arb, ([x, axis, idx]) => {
        gradcheck((t) => t.gather(idx, axis), [x]);
        gradcheck((t) => t.gather(Int32Array.from(idx), axis), [x]);
      }),
      FC,
    );
  });

  it('flatten, squeeze and unsqueeze at any axis', () => {
    const arb = tensorArb(shapeArb({ maxDim: 2 })).chain((x) =>
      fc.tuple(fc.constant(x), fc.integer({ min: -x.ndim, max: x.ndim - 1 }), fc.integer({ min: -x.ndim - 1, max: x.ndim })),
    );
    fc.assert(
      fc.property(arb, ([x, axis, uAxis]) => {
        gradcheck((t) => t.flatten(axis), [x]);
        gradcheck((t) => t.squeeze(axis), [x]);
        gradcheck((t) => t.squeeze(), [x]);
        gradcheck((t) => t.unsqueeze(uAxis), [x]);
      }),
      FC,
    );
  });

  it('concat and stack of 1-3 tensors along any axis', () => {
    const arb = shapeArb().chain((base) =>
      fc.integer({ min: -base.length, max: base.length - 1 }).chain((axis) =>
        fc.tuple(
          fc.constant(axis),
          fc.array(
            fc.integer({ min: 0, max: 3 }).chain((n) => tensorArb(base.map((d, k) => (k === (axis + base.length) % base.length ? n : d)))),
            { minLength: 1, maxLength: 3 },
          ),
          fc.array(tensorArb(base), { minLength: 1, maxLength: 3 }),
          fc.integer({ min: -base.length - 1, max: base.length }),
        ),
      ),
    );
    fc.assert(
      fc.property(arb, ([axis, parts, same, sAxis]) => {
        gradcheck((...ts) => ops.concat(ts, axis), parts);
        gradcheck((...ts) => ops.stack(ts, sAxis), same);
      }),
      FC,
    );
  });
});

describe('invariants', () => {
  it('softmax lines sum to 1 and logSoftmax = log(softmax), along any axis, even for logits of ±1e4', () => {
    const arb = tensorArb(shapeArb(), { min: -1e4, max: 1e4 }).chain((x) => fc.tuple(fc.constant(x), fc.integer({ min: -x.ndim, max: x.ndim - 1 })));
    fc.assert(
      fc.property(arb, ([x, axis]) => {
        const y = x.softmax(axis);
        const s = y.sum(axis);
        for (const v of s.data) expect(Math.abs(v - 1)).toBeLessThan(1e-14 * x.shape[(axis + x.ndim) % x.ndim] + 1e-15);
        const ly = x.logSoftmax(axis);
        for (const v of ly.data) expect(Number.isFinite(v)).toBe(true);
        // Where softmax has not underflowed to 0, the log agrees.
        for (let i = 0; i < y.size; i++) if (y.data[i] > 1e-300) expect(Math.abs(Math.log(y.data[i]) - ly.data[i])).toBeLessThan(1e-12 * Math.max(1, Math.abs(ly.data[i])));
        y.backward(Tensor.ones(y.shape));
        for (const v of x.grad!.data) expect(Number.isFinite(v)).toBe(true);
      }),
      FC,
    );
  });

  it('logits of ±1e4 give finite values and gradients in float32 too', () => {
    for (const dtype of ['float64', 'float32'] as const) {
      const x = tensor([[1e4, -1e4, 0], [-1e4, -1e4, -1e4]], { dtype, requiresGrad: true });
      const l = x.logSoftmax().mul(tensor([[1, 2, 3], [4, 5, 6]], { dtype })).sum();
      const y = x.softmax(0).mul(tensor([[1, 2, 3], [4, 5, 6]], { dtype })).sum();
      l.backward();
      y.backward();
      for (const v of [...l.data, ...y.data, ...x.grad!.data]) expect(Number.isFinite(v)).toBe(true);
      expect(x.logSoftmax().data[1]).toBe(-2e4); // exact: 1e4 - 1e4 - log(1 + tiny)
    }
  });

  it('max/min split the gradient evenly among ties; argmax takes the first; max(axis) agrees with argmax', () => {
    const x = tensor([[3, 1, 3, 3], [0, -2, -2, 5]], { requiresGrad: true });
    x.max(1).backward(tensor([6, 1]));
    expect(x.grad!.toArray()).toEqual([[2, 0, 2, 2], [0, 0, 0, 1]]);
    x.zeroGrad();
    x.min().backward();
    expect(x.grad!.toArray()).toEqual([[0, 0, 0, 0], [0, 0.5, 0.5, 0]]);
    expect([...x.argmax(1)]).toEqual([0, 3]);
    expect([...x.argmax()]).toEqual([7]);
    fc.assert(
      fc.property(
        tensorArb(shapeArb()).chain((t) => fc.tuple(fc.constant(t), fc.integer({ min: -t.ndim, max: t.ndim - 1 }))),
        ([t, axis]) => {
          const m = t.max(axis).data;
          const idx = t.argmax(axis);
          const picked = t.gather([0], axis); // shape check only: same outer/inner layout as max
          expect(idx.length).toBe(m.length);
          expect(picked.size).toBe(m.length);
          const ax = (axis + t.ndim) % t.ndim;
          const inner = t.shape.slice(ax + 1).reduce((a, b) => a * b, 1);
          for (let k = 0; k < m.length; k++) {
            const o = Math.floor(k / inner);
            const i = k % inner;
            expect(t.data[(o * t.shape[ax] + idx[k]) * inner + i]).toBe(m[k]);
          }
        },
      ),
      FC,
    );
  });

  it('NaN: max/min/argmax propagate it; the gradient goes to the NaN entries (as torch.max(x) does)', () => {
    const x = tensor([[1, NaN, 3], [2, 2, 0]], { requiresGrad: true });
    const m = x.max(1);
    expect(m.data[0]).toBeNaN();
    expect(m.data[1]).toBe(2);
    m.backward(tensor([1, 1]));
    expect(x.grad!.toArray()).toEqual([[0, 1, 0], [0.5, 0.5, 0]]);
    expect([...x.argmax(1)]).toEqual([1, 0]);
    expect(x.min(0).data[1]).toBeNaN();
  });

  it('concat then slice gives back the parts; stack = unsqueeze + concat (values and gradients)', () => {
    const arb = shapeArb({ maxRank: 3 }).chain((base) =>
      fc.tuple(fc.constant(base), fc.integer({ min: 0, max: base.length - 1 }), fc.array(tensorArb(base), { minLength: 1, maxLength: 3 })),
    );
    fc.assert(
      fc.property(arb, ([base, axis, parts]) => {
        const cat = ops.concat(parts, axis);
        let at = 0;
        for (const p of parts) {
          const back = cat.slice(base.map((_, k) => (k === axis ? at : 0)), base.map((d, k) => (k === axis ? d : -1)));
          expect(back.shape).toEqual(p.shape);
          expect(back.data).toEqual(p.data);
          at += base[axis];
        }
        const st = ops.stack(parts, axis);
        const viaUnsqueeze = ops.concat(parts.map((p) => p.unsqueeze(axis)), axis);
        expect(st.shape).toEqual(viaUnsqueeze.shape);
        expect(st.data).toEqual(viaUnsqueeze.data);
        const w = Tensor.randn(st.shape);
        st.backward(w);
        const g1 = parts.map((p) => p.grad!.data.slice());
        parts.forEach((p) => p.zeroGrad());
        viaUnsqueeze.backward(w);
        parts.forEach((p, i) => expect(p.grad!.data).toEqual(g1[i]));
      }),
      FC,
    );
  });

  it('flatten, squeeze and unsqueeze are views: same data, gradient passed through', () => {
    const x = Tensor.randn([2, 1, 3], { requiresGrad: true });
    const views = [x.flatten(), x.flatten(0), x.squeeze(), x.squeeze(1), x.squeeze(0), x.unsqueeze(0), x.unsqueeze(-1)];
    expect(views.map((v) => v.shape)).toEqual([[2, 3], [6], [2, 3], [2, 3], [2, 1, 3], [1, 2, 1, 3], [2, 1, 3, 1]]);
    for (const v of views) expect(v.data).toBe(x.data);
    const g = Tensor.randn([2, 3]);
    x.squeeze().backward(g);
    expect(x.grad!.data).toEqual(g.data);
    // A change through one view is one change of the shared memory, seen by every view's version.
    expect(views[0].version).toBe(x.version);
  });

  it('a tensor used twice accumulates (concat([x, x]), gather with repeats); indices are copied at the call', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    ops.concat([x, x]).backward(tensor([1, 2, 3, 4, 5, 6]));
    expect(x.grad!.toArray()).toEqual([5, 7, 9]);
    const y = tensor([[1, 2], [3, 4], [5, 6]], { requiresGrad: true });
    const idx = [2, 0, 2];
    const out = y.gather(idx);
    idx[0] = 1;
    expect(out.toArray()).toEqual([[5, 6], [1, 2], [5, 6]]);
    out.backward(tensor([[1, 1], [10, 10], [100, 100]]));
    expect(y.grad!.toArray()).toEqual([[10, 10], [0, 0], [101, 101]]);
  });

  it('only inputs that require grad get one; a zero upstream gives zero gradients', () => {
    const a = tensor([[1, 2]], { requiresGrad: true });
    const b = tensor([[3, 4]]);
    ops.concat([a, b]).backward(Tensor.zeros([2, 2]));
    expect(a.grad!.toArray()).toEqual([[0, 0]]);
    expect(b.grad).toBeNull();
  });

  it('empty selections: a zero-size slice or gather, concat of a zero-size part', () => {
    const x = Tensor.randn([2, 3], { requiresGrad: true });
    expect(x.slice([0, 3], [-1, -1]).shape).toEqual([2, 0]);
    expect(x.gather([], 1).shape).toEqual([2, 0]);
    const c = ops.concat([x, Tensor.zeros([0, 3])]);
    expect(c.data).toEqual(x.data);
    x.softmax(0).sum().backward();
    expect(x.grad!.shape).toEqual([2, 3]);
  });
});

describe('float32', () => {
  it('every op keeps float32 and agrees with float64 to float32 precision, values and gradients', () => {
    const x64 = Tensor.randn([3, 4, 2]);
    const cases: [string, (t: Tensor) => Tensor][] = [
      ['softmax', (t) => t.softmax(1)],
      ['logSoftmax', (t) => t.logSoftmax(-1)],
      ['max', (t) => t.max(1, true)],
      ['min', (t) => t.min()],
      ['slice', (t) => t.slice([1, 1], [2, -1])],
      ['gather', (t) => t.gather([3, 0, 3], 1)],
      ['flatten', (t) => t.flatten()],
      ['squeeze', (t) => t.unsqueeze(1).squeeze(1)],
      ['concat', (t) => ops.concat([t, t.mul(2)], 2)],
      ['stack', (t) => ops.stack([t, t.mul(2)], -1)],
    ];
    for (const [, f] of cases) {
      const a = new Tensor(x64.data.slice(), x64.shape, { requiresGrad: true });
      const b = new Tensor(Float32Array.from(x64.data), x64.shape, { requiresGrad: true });
      const ya = f(a);
      const yb = f(b);
      expect(yb.dtype).toBe('float32');
      expect(yb.shape).toEqual(ya.shape);
      expect(normRelError(yb.data, ya.data)).toBeLessThan(1e-6);
      const w = Tensor.randn(ya.shape);
      ya.backward(w);
      yb.backward(w.to('float32'));
      expect(b.grad!.dtype).toBe('float32');
      expect(normRelError(b.grad!.data, a.grad!.data)).toBeLessThan(1e-5);
    }
    expect([...new Tensor(Float32Array.of(1, 3, 2), [3]).argmax(0)]).toEqual([1]);
  });
});

describe('errors name the op, the argument, what was expected and what arrived', () => {
  const x = Tensor.randn([2, 3]);
  const x32 = Tensor.randn([2, 3], { dtype: 'float32' });

  it('axis out of range or not an integer', () => {
    expectThrows(() => x.softmax(2), ShapeError, /^softmax: axis must be an integer in \[-2, 2\) for a 2-D tensor, got 2$/);
    expectThrows(() => x.logSoftmax(-3), ShapeError, /^logSoftmax: axis .* got -3$/);
    expectThrows(() => x.max(2), ShapeError, /^max: axis .*got 2/);
    expectThrows(() => x.min(1.5), ShapeError, /^min: axis .*got 1.5/);
    expectThrows(() => x.argmax(-3), ShapeError, /^argmax: axis .*got -3/);
    expectThrows(() => x.gather([0], 2), ShapeError, /^gather: axis .*got 2/);
    expectThrows(() => x.flatten(2), ShapeError, /^flatten: axis must be an integer in \[-2, 2\).*got 2/);
    expectThrows(() => tensor([1, 2]).flatten(), ShapeError, /^flatten: .*1-D tensor, got 1/);
    expectThrows(() => x.squeeze(-3), ShapeError, /^squeeze: axis .*got -3/);
    expectThrows(() => x.unsqueeze(3), ShapeError, /^unsqueeze: axis must be an integer in \[-3, 3\).*got 3/);
    expectThrows(() => ops.concat([x, x], 2), ShapeError, /^concat: axis .*got 2/);
    expectThrows(() => ops.stack([x, x], -4), ShapeError, /^stack: axis .*got -4/);
    expectThrows(() => tensor(1).softmax(1), ShapeError, /^softmax: axis must be an integer in \[-1, 1\)/);
    expectThrows(() => x.max(0, 'yes' as unknown as boolean), ArgumentError, /^max: keepDims must be a boolean/);
  });

  it('reducing nothing', () => {
    expectThrows(() => Tensor.zeros([0, 3]).max(0), ShapeError, /^max: cannot reduce along axis 0 of x \[0, 3\].*size 0/);
    expectThrows(() => Tensor.zeros([0]).min(), ShapeError, /^min: cannot reduce over all elements of x \[0\]/);
    expectThrows(() => Tensor.zeros([2, 0]).argmax(1), ShapeError, /^argmax: cannot reduce along axis 1/);
    expect(Tensor.zeros([0, 3]).max(1).shape).toEqual([0]);
  });

  it('slice past the end, negative or non-integer begins, bad sizes, too many axes', () => {
    expectThrows(() => x.slice([1, 1], [2, 1]), ShapeError, /^slice: the block runs past the end of axis 0 of x \[2, 3\]: begin\[0\] 1 \+ size\[0\] 2 = 3 > 2$/);
    expectThrows(() => x.slice([0, 4], [1, -1]), ShapeError, /^slice: begin\[1\] must be an integer in \[0, 3\] for axis 1 of x \[2, 3\], got number 4$/);
    expectThrows(() => x.slice([-1, 0], [1, 1]), ShapeError, /begin\[0\] .*got number -1 \(negative begins are not allowed, as in tfjs\)/);
    expectThrows(() => x.slice([0.5], [1]), ShapeError, /begin\[0\] .*got number 0.5/);
    expectThrows(() => x.slice([0, 0], [1, -2]), ShapeError, /^slice: size\[1\] must be a non-negative integer or -1 \(to the end\), got number -2$/);
    expectThrows(() => x.slice([0, 0, 0], [1, 1, 1]), ShapeError, /^slice: begin must be an array of at most 2 integers/);
    expectThrows(() => x.slice(0 as unknown as number[], [1]), ShapeError, /^slice: begin must be an array/);
  });

  it('gather index out of range or not an integer', () => {
    expectThrows(() => x.gather([0, 2]), ValueError, /^gather: indices\[1\] must be an integer in \[0, 2\) \(the size of axis 0 of x \[2, 3\]\), got number 2$/);
    expectThrows(() => x.gather([-1], 1), ValueError, /indices\[0\] must be an integer in \[0, 3\).*got number -1/);
    expectThrows(() => x.gather([0.5]), ValueError, /indices\[0\] .*got number 0.5/);
    expectThrows(() => x.gather(['0' as unknown as number]), ValueError, /indices\[0\] .*got "0"/);
    expectThrows(() => x.gather(Int32Array.of(0, 5), 1), ValueError, /indices\[1\] .*got number 5/);
    expectThrows(() => x.gather(new Float64Array(1) as unknown as number[]), ArgumentError, /^gather: indices must be an Int32Array or an array of integers, got Float64Array/);
  });

  it('concat and stack: empty list, non-tensors, mismatched shapes or dtypes, 0-D concat', () => {
    expectThrows(() => ops.concat([]), ValueError, /^concat: tensors must hold at least one Tensor, got an empty array$/);
    expectThrows(() => ops.stack([]), ValueError, /^stack: tensors must hold at least one Tensor/);
    expectThrows(() => ops.concat(x as unknown as Tensor[]), ArgumentError, /^concat: tensors must be an array of Tensors/);
    expectThrows(() => ops.stack([x, 3 as unknown as Tensor]), ArgumentError, /^stack: tensors\[1\] must be a Tensor, got number 3/);
    expectThrows(() => ops.concat([x, x32]), DTypeError, /^concat: tensors\[1\] must have dtype 'float64' like tensors\[0\], got 'float32'$/);
    expectThrows(() => ops.stack([x32, x]), DTypeError, /^stack: tensors\[1\] must have dtype 'float32'/);
    expectThrows(() => ops.concat([x, Tensor.zeros([3, 3])], 1), ShapeError, /^concat: tensors\[1\] must have shape \[2, \*\] like tensors\[0\] \[2, 3\] \(any size on axis 1\), got \[3, 3\]$/);
    expectThrows(() => ops.concat([x, Tensor.zeros([2, 3, 1])]), ShapeError, /tensors\[1\] .*got \[2, 3, 1\]/);
    expectThrows(() => ops.stack([x, Tensor.zeros([2, 4])]), ShapeError, /^stack: tensors\[1\] must have shape \[2, 3\] like tensors\[0\], got \[2, 4\]$/);
    expectThrows(() => ops.concat([tensor(1), tensor(2)]), ShapeError, /^concat: tensors\[0\] must have at least one axis/);
    expect(ops.stack([tensor(1), tensor(2)]).toArray()).toEqual([1, 2]);
  });

  it('non-tensor inputs', () => {
    const fns: [string, () => unknown][] = [
      ['softmax', () => ops.softmax(3 as unknown as Tensor)],
      ['logSoftmax', () => ops.logSoftmax(null as unknown as Tensor)],
      ['max', () => ops.max([1] as unknown as Tensor)],
      ['min', () => ops.min({} as unknown as Tensor)],
      ['argmax', () => ops.argmax('x' as unknown as Tensor)],
      ['slice', () => ops.slice(1 as unknown as Tensor, [], [])],
      ['gather', () => ops.gather(1 as unknown as Tensor, [0])],
      ['flatten', () => ops.flatten(1 as unknown as Tensor)],
      ['squeeze', () => ops.squeeze(1 as unknown as Tensor)],
      ['unsqueeze', () => ops.unsqueeze(1 as unknown as Tensor, 0)],
    ];
    for (const [name, f] of fns) expectThrows(f, ArgumentError, new RegExp(`^${name}: x must be a Tensor`));
  });

  it('a failed call records nothing and changes nothing', () => {
    const a = tensor([[1, 2]], { requiresGrad: true });
    expect(() => ops.concat([a, tensor([1])])).toThrow(ShapeError);
    expect(() => a.gather([5])).toThrow(ValueError);
    expect(a.grad).toBeNull();
    expect(a.toArray()).toEqual([[1, 2]]);
    expect(a.version).toBe(0);
  });
});

describe('nn.Softmax, nn.LogSoftmax, nn.Flatten', () => {
  it('forward is the op; defaults are axis -1 and startAxis 1; repr shows the setting', () => {
    const x = Tensor.randn([2, 3, 4]);
    expect(new nn.Softmax().forward(x).data).toEqual(x.softmax(-1).data);
    expect(new nn.Softmax(0).forward(x).data).toEqual(x.softmax(0).data);
    expect(new nn.LogSoftmax().forward(x).data).toEqual(x.logSoftmax(-1).data);
    expect(new nn.LogSoftmax(1).forward(x).data).toEqual(x.logSoftmax(1).data);
    expect(new nn.Flatten().forward(x).shape).toEqual([2, 12]);
    expect(new nn.Flatten(-1).forward(x).shape).toEqual([2, 3, 4]);
    expect(new nn.Flatten(0).forward(x).data).toBe(x.data);
    expect(String(new nn.Softmax(1))).toBe('Softmax(axis=1)');
    expect(String(new nn.LogSoftmax())).toBe('LogSoftmax(axis=-1)');
    expect(String(new nn.Flatten())).toBe('Flatten(startAxis=1)');
    expect(new nn.Softmax().parameters()).toEqual([]);
  });

  it('gradients through a Sequential with Flatten and LogSoftmax', () => {
    const model = new nn.Sequential(new nn.Flatten(), new nn.Affine(6, 3), new nn.LogSoftmax(), new nn.Softmax(0));
    checkModuleGradients(model, { inputShape: [2, 3], numRuns: 5 });
    const x = Tensor.randn([4, 2, 3], { requiresGrad: true });
    model.forward(x).sum().backward();
    expect(x.grad!.shape).toEqual([4, 2, 3]);
  });

  it('arguments are checked at construction; a missing axis names the layer', () => {
    expectThrows(() => new nn.Softmax(1.5), ValueError, /^Softmax: axis must be an integer \(negative counts from the end\), got number 1.5$/);
    expectThrows(() => new nn.LogSoftmax('1' as unknown as number), ValueError, /^LogSoftmax: axis must be an integer/);
    expectThrows(() => new nn.Flatten(NaN), ValueError, /^Flatten: startAxis must be an integer/);
    expectThrows(() => new nn.Softmax(2).forward(Tensor.zeros([2, 2])), ShapeError, /^Softmax: expected x with at least 3 axes for axis 2, got x of shape \[2, 2\]$/);
    expectThrows(() => new nn.LogSoftmax(-3).forward(Tensor.zeros([2, 2])), ShapeError, /^LogSoftmax: expected x with at least 3 axes for axis -3/);
    expectThrows(() => new nn.Flatten().forward(Tensor.zeros([5])), ShapeError, /^Flatten: expected x with at least 2 axes for startAxis 1, got x of shape \[5\]$/);
    const model = new nn.Sequential(new nn.Affine(2, 2), new nn.Flatten(2));
    expectThrows(() => model.forward(Tensor.zeros([1, 2])), ShapeError, /^(Sequential > )?1:Flatten: expected x with at least 3 axes/);
  });
});
