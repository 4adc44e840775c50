/**
 * defineOp: a kernel pair written the seed's way becomes an op on the tape. Its gradients are
 * checked against finite differences alone and among the library's ops, modules, optimizers
 * and testing tools; every misuse gets an error naming the op; and the arrays a user's kernels
 * return (and the dout they receive) stay the user's, never recycled by the tape's pool.
 */
import {
  AnomalyError,
  ArgumentError,
  DTypeError,
  GradError,
  ShapeError,
  Tensor,
  Trainer,
  ValueError,
  defineOp,
  detectAnomaly,
  gradcheck,
  manualSeed,
  nn,
  noGrad,
  optim,
  tensor,
  type FloatArray,
  type NDArray,
} from '../../src';
import { poolControl } from '../../src/dtype';
import { checkModuleGradients, shapeArb, tensorArb } from '../../src/testing';
import { expectThrows } from '../helpers/errors';
import { FC, fc } from '../helpers/fc';
import { sharesMemory } from '../helpers/arrays';

// ---------------------------------------------------------------------------------------------
// Kernel pairs in the seed's shape: pure functions over { shape, data }, no tape.

interface LeakyCache {
  x: NDArray;
  slope: number;
}

function leakyReluForward(x: NDArray, slope: number): { out: NDArray; cache: LeakyCache } {
  const out = x.data.map((v) => (v > 0 ? v : slope * v));
  return { out: { shape: x.shape, data: out }, cache: { x, slope } };
}

function leakyReluBackward(dout: NDArray, { x, slope }: LeakyCache): [FloatArray] {
  return [dout.data.map((g, i) => (x.data[i] > 0 ? g : slope * g))];
}

const leakyRelu = defineOp({ name: 'leakyRelu', forward: leakyReluForward, backward: leakyReluBackward });

/** out = scale * x @ w, x (N, D), w (D, M); the cache keeps both for the backward pass. */
function scaledMatmulForward(x: NDArray, w: NDArray, scale: number): { out: NDArray; cache: { x: NDArray; w: NDArray; scale: number } } {
  const [n, d] = x.shape;
  const m = w.shape[1];
  const out = x.data instanceof Float32Array ? new Float32Array(n * m) : new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) {
      const a = scale * x.data[i * d + k];
      for (let j = 0; j < m; j++) out[i * m + j] += a * w.data[k * m + j];
    }
  }
  return { out: { shape: [n, m], data: out }, cache: { x, w, scale } };
}

function scaledMatmulBackward(dout: NDArray, { x, w, scale }: { x: NDArray; w: NDArray; scale: number }): [FloatArray, FloatArray] {
  const [n, d] = x.shape;
  const m = w.shape[1];
  const dx = x.data.map(() => 0);
  const dw = w.data.map(() => 0);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) {
      let s = 0;
      for (let j = 0; j < m; j++) {
        const g = scale * dout.data[i * m + j];
        s += g * w.data[k * m + j];
        dw[k * m + j] += g * x.data[i * d + k];
      }
      dx[i * d + k] = s;
    }
  }
  return [dx, dw];
}

const scaledMatmul = defineOp({ name: 'scaledMatmul', forward: scaledMatmulForward, backward: scaledMatmulBackward });

/** Values away from leakyRelu's kink at 0, where finite differences are meaningless. */
function awayFromZero(shape: number[], opts: { dtype?: 'float64' | 'float32'; requiresGrad?: boolean } = {}): Tensor {
  const t = Tensor.rand(shape, -2, 2, { dtype: opts.dtype });
  for (let i = 0; i < t.data.length; i++) if (Math.abs(t.data[i]) < 0.1) t.data[i] = t.data[i] < 0 ? -0.1 : 0.1;
  t.requiresGrad = opts.requiresGrad ?? true;
  return t;
}

beforeEach(() => manualSeed(0));

describe('defineOp: the op on the tape', () => {
  it('runs the example of API.md as written, typed from forward: (x: Tensor, slope: number) => Tensor', () => {
    const leaky = defineOp({
      name: 'leakyRelu',
      forward: (x, slope: number) => {
        const out = x.data.map((v) => (v > 0 ? v : slope * v));
        return { out: { shape: x.shape, data: out }, cache: { x, slope } };
      },
      backward: (dout, { x, slope }) => [dout.data.map((g, i) => (x.data[i] > 0 ? g : slope * g))],
    });
    const xTensor = tensor([[-2, 1], [3, -4]], { requiresGrad: true });
    const y: Tensor = leaky(xTensor, 0.01);
    expect(y).toBeInstanceOf(Tensor);
    expect(y.requiresGrad).toBe(true);
    expect(y.toArray()).toEqual([[-0.02, 1], [3, -0.04]]);
    y.sum().backward();
    expect(xTensor.grad?.toArray()).toEqual([[0.01, 1], [1, 0.01]]);
    expect(leaky.name).toBe('leakyRelu');
    // @ts-expect-error slope is a number, not a string
    expect(() => leaky(xTensor, 'a')).not.toThrow(); // JS callers: forward gets what it is given
  });

  it('gradcheck passes for leakyRelu and for a two-input op with a cache (float64)', () => {
    const x = awayFromZero([3, 5]);
    expect(gradcheck((a) => leakyRelu(a, 0.1).sum(), [x]).maxRelError[0]).toBeLessThan(1e-7);
    const a = Tensor.randn([4, 3], { requiresGrad: true });
    const w = Tensor.randn([3, 5], { requiresGrad: true });
    const r = gradcheck((p, q) => scaledMatmul(p, q, 0.7), [a, w]); // non-scalar output: projected
    expect(r.maxRelError.every((e) => e < 1e-7)).toBe(true);
    // It agrees with the library's own matmul, gradients included.
    const ours = scaledMatmul(a, w, 0.7);
    const ref = a.matmul(w).mul(0.7);
    ours.data.forEach((v, i) => expect(v).toBeCloseTo(ref.data[i], 12));
  });

  it('composes with the library ops before and after it, in both arguments, and with itself', () => {
    const x = awayFromZero([3, 4]);
    const w = Tensor.randn([4, 4], { requiresGrad: true });
    const b = Tensor.randn([4], { requiresGrad: true });
    const f = (x: Tensor, w: Tensor, b: Tensor): Tensor => {
      const h = leakyRelu(scaledMatmul(x.add(1).exp().log().sub(1), w.transpose().transpose(), 0.5).add(b), 0.2);
      const g = scaledMatmul(h.mul(h).div(b.mul(b).add(1)).neg(), w, 1.5).reshape([12]).relu();
      return g.mean().add(leakyRelu(x, 0.3).sum()).add(scaledMatmul(x, x.transpose(), 1).matmul(x).sum(0).mean());
    };
    const r = gradcheck(f, [x, w, b], { rtol: 1e-6 });
    expect(r.maxRelError.every((e) => e < 1e-6)).toBe(true);
  });

  it('accumulates when one tensor is passed as two arguments: op(x, x)', () => {
    const x = Tensor.randn([3, 3], { requiresGrad: true });
    gradcheck((a) => scaledMatmul(a, a, 2).sum(), [x]);
    x.grad = null;
    scaledMatmul(x, x, 2).sum().backward();
    const ref = Tensor.randn([3, 3]);
    ref.data.set(x.data);
    ref.requiresGrad = true;
    ref.matmul(ref).mul(2).sum().backward();
    x.grad!.data.forEach((v, i) => expect(v).toBeCloseTo(ref.grad!.data[i], 12));
  });

  it('works in float32: output and gradients are Float32Array, close to the float64 results', () => {
    const x64 = awayFromZero([4, 3]);
    const w64 = Tensor.randn([3, 2], { requiresGrad: true });
    const x32 = new Tensor(Float32Array.from(x64.data), x64.shape, { requiresGrad: true });
    const w32 = new Tensor(Float32Array.from(w64.data), w64.shape, { requiresGrad: true });
    const y64 = leakyRelu(scaledMatmul(x64, w64, 0.5), 0.1);
    const y32 = leakyRelu(scaledMatmul(x32, w32, 0.5), 0.1);
    expect(y32.dtype).toBe('float32');
    y64.sum().backward();
    y32.sum().backward();
    expect(x32.grad?.data).toBeInstanceOf(Float32Array);
    expect(w32.grad?.data).toBeInstanceOf(Float32Array);
    y32.data.forEach((v, i) => expect(v).toBeCloseTo(y64.data[i], 5));
    x32.grad!.data.forEach((v, i) => expect(v).toBeCloseTo(x64.grad!.data[i], 5));
    w32.grad!.data.forEach((v, i) => expect(v).toBeCloseTo(w64.grad!.data[i], 5));
  });

  it('property: gradcheck passes over random shapes and values (leakyRelu, fast-check, pinned seed)', () => {
    fc.assert(
      fc.property(
        tensorArb(shapeArb({ minRank: 0, maxRank: 4, maxDim: 4 }), { awayFrom: { kinks: [0], margin: 1e-3 } }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (x, slope) => {
          const y = leakyRelu(x, slope);
          expect(y.shape).toEqual(x.shape);
          gradcheck((a) => leakyRelu(a, slope), [x]);
        },
      ),
      FC,
    );
  });

  it('property: the two-input op matches finite differences over random sizes', () => {
    const dims = fc.integer({ min: 1, max: 4 });
    fc.assert(
      fc.property(dims, dims, dims, fc.double({ min: -2, max: 2, noNaN: true }), (n, d, m, scale) => {
        const x = Tensor.randn([n, d], { requiresGrad: true });
        const w = Tensor.randn([d, m], { requiresGrad: true });
        gradcheck((a, b) => scaledMatmul(a, b, scale), [x, w]);
      }),
      FC,
    );
  });

  it('a planted bug in backward is caught by gradcheck, naming the input and element', () => {
    const buggy = defineOp({
      name: 'buggyLeakyRelu',
      forward: leakyReluForward,
      backward: (dout, { x }: LeakyCache) => [dout.data.map((g, i) => (x.data[i] > 0 ? g : 0))], // BUG: forgets the slope
    });
    const x = tensor([[1.5, -0.5, 2], [-1, 0.25, -3]], { requiresGrad: true });
    expectThrows(() => gradcheck((a) => buggy(a, 0.1).sum(), [x]), GradError, /gradient of input 0 .* at element 1 .*numerical 0\.1.*, analytical 0\b/);
  });

  it('under noGrad, forward runs and nothing is recorded; without inputs that require grad, neither', () => {
    const calls = { forward: 0, backward: 0 };
    const counted = defineOp({
      name: 'counted',
      forward: (x) => (calls.forward++, leakyReluForward(x, 0.1)),
      backward: (dout, cache: LeakyCache) => (calls.backward++, leakyReluBackward(dout, cache)),
    });
    const x = tensor([-1, 2], { requiresGrad: true });
    const y = noGrad(() => counted(x));
    expect(calls.forward).toBe(1);
    expect(y.requiresGrad).toBe(false);
    expect(y._node).toBeNull();
    expect(Array.from(y.data)).toEqual([-0.1, 2]);
    const z = counted(tensor([-1, 2]));
    expect(z.requiresGrad).toBe(false);
    expect(z._node).toBeNull();
    const loss = counted(x).sum();
    loss.backward();
    expect(calls).toEqual({ forward: 3, backward: 1 });
  });

  it('runs forward itself under noGrad: library ops inside a kernel compute and record nothing', () => {
    let inner: Tensor | null = null;
    const double = defineOp({
      name: 'double',
      forward: (x: Tensor) => {
        inner = x.mul(2); // a Tensor method inside the kernel: x arrives as the Tensor itself
        return { out: inner, cache: null };
      },
      backward: (dout) => [dout.data.map((g) => 2 * g)],
    });
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const y = double(x);
    expect(inner!.requiresGrad).toBe(false);
    expect(y.requiresGrad).toBe(true);
    y.sum().backward();
    expect(Array.from(x.grad!.data)).toEqual([2, 2, 2]);
  });

  it('passes non-tensor arguments through unchanged, and tells backward which inputs need a gradient', () => {
    const seen: unknown[] = [];
    const needs: (readonly boolean[])[] = [];
    const opts = { k: 3 };
    const labels = Int32Array.of(1, 0);
    const op = defineOp({
      name: 'withExtras',
      forward: (x: NDArray, o: { k: number }, w: NDArray, l: Int32Array, f: () => number) => {
        seen.push(o, l, f);
        return { out: { shape: x.shape, data: x.data.map((v, i) => v * w.data[i] * o.k * f()) }, cache: { x, w, k: o.k } };
      },
      backward: (dout, { x, w, k }, needsInputGrad) => {
        needs.push(needsInputGrad);
        return [needsInputGrad[0] ? dout.data.map((g, i) => g * w.data[i] * k) : null, needsInputGrad[1] ? dout.data.map((g, i) => g * x.data[i] * k) : null];
      },
    });
    const fn = (): number => 1;
    const x = tensor([1, 2], { requiresGrad: true });
    const w = tensor([3, 4]);
    op(x, opts, w, labels, fn).sum().backward();
    expect(seen[0]).toBe(opts);
    expect(seen[1]).toBe(labels);
    expect(seen[2]).toBe(fn);
    expect(needs).toEqual([[true, false]]);
    expect(Array.from(x.grad!.data)).toEqual([9, 12]);
    expect(w.grad).toBeNull();
  });

  it('accepts { shape, data } gradients (a Tensor too) and null (no gradient: zero)', () => {
    const op = defineOp({
      name: 'pairGrads',
      forward: (a: NDArray, b: NDArray) => ({ out: { shape: a.shape, data: a.data.map((v, i) => v + b.data[i]) }, cache: a.shape }),
      backward: (dout, shape) => [{ shape, data: dout.data.slice() }, null],
    });
    const a = tensor([[1, 2]], { requiresGrad: true });
    const b = tensor([[3, 4]], { requiresGrad: true });
    op(a, b).sum().backward();
    expect(a.grad?.toArray()).toEqual([[1, 1]]);
    expect(b.grad).toBeNull();
    const asTensor = defineOp({
      name: 'tensorGrad',
      forward: (x: NDArray) => ({ out: { shape: x.shape, data: x.data.map((v) => 3 * v) }, cache: x.shape }),
      backward: (dout, shape) => [new Tensor(dout.data.map((g) => 3 * g), shape)],
    });
    const x = tensor([1, 2], { requiresGrad: true });
    asTensor(x).sum().backward();
    expect(Array.from(x.grad!.data)).toEqual([3, 3]);
  });

  it('wraps the array forward returns without copying, but copies an output that is an input\'s memory', () => {
    let made: FloatArray | null = null;
    const fresh = defineOp({
      name: 'fresh',
      forward: (x: NDArray) => {
        made = x.data.map((v) => v + 1);
        return { out: { shape: x.shape, data: made }, cache: null };
      },
      backward: (dout) => [dout.data.slice()],
    });
    const x = tensor([1, 2, 3], { requiresGrad: true });
    expect(fresh(x).data).toBe(made);

    const identity = defineOp({ name: 'identity', forward: (x: NDArray) => ({ out: x, cache: null }), backward: (dout) => [dout.data] });
    const y = identity(x);
    expect(y.data).not.toBe(x.data);
    expect(Array.from(y.data)).toEqual([1, 2, 3]);
    y.data[0] = 100; // an in-place change to the output does not reach the input
    expect(x.data[0]).toBe(1);
    y.sum().backward();
    expect(Array.from(x.grad!.data)).toEqual([1, 1, 1]);

    const view = defineOp({
      name: 'view',
      forward: (x: NDArray) => ({ out: { shape: [2], data: x.data.subarray(1) }, cache: null }),
      backward: () => [null],
    });
    const v = view(x);
    expect(sharesMemory(v.data, x.data)).toBe(false);
    expect(Array.from(v.data)).toEqual([2, 3]);
  });

  it('records under the op name for anomaly detection', () => {
    const nanOp = defineOp({ name: 'makesNaN', forward: (x: NDArray) => ({ out: { shape: x.shape, data: x.data.map(() => Number.NaN) }, cache: null }), backward: () => [null] });
    expectThrows(() => detectAnomaly(() => nanOp(tensor([1], { requiresGrad: true }))), AnomalyError, /^makesNaN: forward output has NaN/);
  });
});

describe('defineOp: errors name the op', () => {
  const ok = { name: 'op', forward: leakyReluForward, backward: leakyReluBackward };

  it('checks its own options', () => {
    expectThrows(() => defineOp(undefined as never), ArgumentError, /^defineOp: def must be an object \{ name, forward, backward \}, got undefined$/);
    expectThrows(() => defineOp({ forward: leakyReluForward, backward: leakyReluBackward } as never), ArgumentError, /^defineOp: def\.name must be a non-empty string, got undefined$/);
    expectThrows(() => defineOp(null as never), ArgumentError, /^defineOp: def must be an object of options or undefined, got null/);
    expectThrows(() => defineOp(leakyReluForward as never), ArgumentError, /^defineOp: def must be an object/);
    expectThrows(() => defineOp({ ...ok, backwards: leakyReluBackward } as never), ValueError, /^defineOp: backwards is not an option of defineOp \(expected one of name, forward, backward\)/);
    expectThrows(() => defineOp({ ...ok, name: 3 } as never), ArgumentError, /^defineOp: def\.name must be a non-empty string, got number 3/);
    expectThrows(() => defineOp({ ...ok, name: ' ' }), ValueError, /^defineOp: def\.name must be a non-empty string, got " "/);
    expectThrows(() => defineOp({ ...ok, forward: undefined } as never), ArgumentError, /^defineOp: def\.forward of 'op' must be a function .*, got undefined/);
    expectThrows(() => defineOp({ ...ok, backward: 'x' } as never), ArgumentError, /^defineOp: def\.backward of 'op' must be a function .*, got "x"/);
    // Inherited names are not options either.
    const proto = Object.create({ name: 'inherited' }) as object;
    expectThrows(() => defineOp(Object.assign(proto, { forward: leakyReluForward, backward: leakyReluBackward }) as never), ArgumentError, /def\.name must be/);
  });

  it("checks forward's result", () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const bad = (forward: (x: NDArray) => unknown) => defineOp({ name: 'badForward', forward: forward as never, backward: () => [null] });
    expectThrows(() => bad(() => undefined)(x), ArgumentError, /^badForward: forward must return \{ out: \{ shape, data \}, cache \}, got undefined$/);
    expectThrows(() => bad((x) => ({ cache: x }))(x), ArgumentError, /^badForward: forward must return .*, got object without out$/);
    expectThrows(() => bad((x) => x.data)(x), ArgumentError, /^badForward: forward must return .*, got Float64Array\(3\)/);
    expectThrows(() => bad(() => ({ out: [1, 2, 3], cache: null }))(x), ArgumentError, /^badForward: .*out must be a \{ shape, data \} pair, got \[1,2,3\]/);
    expectThrows(() => bad((x) => ({ out: { shape: x.shape, data: [1, 2, 3] }, cache: null }))(x), DTypeError, /^badForward: forward's out\.data must be a Float64Array or Float32Array, got \[1,2,3\]/);
    expectThrows(() => bad((x) => ({ out: { shape: [2, 2], data: x.data.slice() }, cache: null }))(x), ShapeError, /^badForward: forward's out\.data must hold 4 values for out\.shape \[2, 2\], got Float64Array\(3\)/);
    expectThrows(() => bad((x) => ({ out: { shape: [-3], data: x.data.slice() }, cache: null }))(x), ShapeError, /^badForward: forward's out\.shape must be an array of non-negative integers, got \[-3\]/);
    expectThrows(() => bad((x) => ({ out: { shape: x.shape, data: Float32Array.from(x.data) }, cache: null }))(x), DTypeError, /^badForward: forward's out\.data must be a Float64Array like the tensor inputs \('float64'\), got Float32Array\(3\)/);
    expect(x.grad).toBeNull();
  });

  it('refuses tensor inputs of mixed dtypes before running forward', () => {
    let ran = false;
    const op = defineOp({ name: 'mixed', forward: (a: NDArray, b: NDArray) => ((ran = true), { out: a, cache: b }), backward: () => [null, null] });
    expectThrows(() => op(tensor([1]), tensor([1], { dtype: 'float32' })), DTypeError, /^mixed: tensor inputs must share one dtype, got a 'float64' and b 'float32'/);
    expect(ran).toBe(false);
  });

  it('refuses a tensor that requires grad hidden inside another argument', () => {
    const op = defineOp({ name: 'nested', forward: (x: NDArray, _more: Tensor[]) => ({ out: x, cache: null }), backward: () => [null] });
    const w = tensor([1], { requiresGrad: true });
    expectThrows(() => op(tensor([1]), [tensor([2]), w]), ArgumentError, /^nested: _more\[1\] is a Tensor that requires grad inside another argument/);
    expect(() => op(tensor([1]), [tensor([2])])).not.toThrow(); // constants are fine
  });

  /** Runs backward through an op whose backward returns `grads`; returns what it threw. */
  function backwardWith(grads: (dout: NDArray) => unknown, dtype: 'float64' | 'float32' = 'float64'): () => void {
    const op = defineOp({
      name: 'leakyRelu',
      forward: (x: NDArray, w: NDArray) => ({ out: { shape: x.shape, data: x.data.map((v, i) => v * w.data[i]) }, cache: null }),
      backward: (dout) => grads(dout) as never,
    });
    return () => {
      const x = Tensor.randn([3, 4], { dtype, requiresGrad: true });
      const w = Tensor.randn([3, 4], { dtype, requiresGrad: true });
      try {
        op(x, w).sum().backward();
      } finally {
        expect(x.grad).toBeNull(); // an aborted backward leaves no partial gradients
        expect(w.grad).toBeNull();
      }
    };
  }

  it("checks backward's gradients: count, kind, length, dtype, shape", () => {
    const n = (d: NDArray) => d.data.slice();
    expectThrows(backwardWith((d) => [n(d)]), GradError, /^leakyRelu: backward must return 2 gradients \(one per tensor input: x, w\), got 1$/);
    expectThrows(backwardWith((d) => [n(d), n(d), n(d)]), GradError, /^leakyRelu: backward must return 2 gradients \(one per tensor input: x, w\), got 3$/);
    expectThrows(backwardWith((d) => n(d)), GradError, /^leakyRelu: backward must return an array of 2 gradients \(one per tensor input: x, w\), got Float64Array\(12\); wrap it in an array/);
    expectThrows(backwardWith(() => undefined), GradError, /^leakyRelu: backward must return an array of 2 gradients .*, got undefined$/);
    expectThrows(backwardWith((d) => [n(d), 3]), GradError, /^leakyRelu: backward's gradient 1 \(for w, float64 \[3, 4\]\) must be a Float64Array of 12 values, a \{ shape, data \} pair or null, got number 3$/);
    expectThrows(backwardWith((d) => [Array.from(d.data), null]), GradError, /^leakyRelu: backward's gradient 0 \(for x, float64 \[3, 4\]\) must be a Float64Array of 12 values.*, got \[1(,1){11}\]$/);
    expectThrows(backwardWith((d) => [n(d), d.data.subarray(1)]), GradError, /^leakyRelu: backward's gradient 1 \(for w, float64 \[3, 4\]\) must hold 12 values, got Float64Array\(11\)$/);
    expectThrows(backwardWith((d) => [Float32Array.from(d.data), null]), GradError, /^leakyRelu: backward's gradient 0 \(for x, float64 \[3, 4\]\) must be a Float64Array like x, got Float32Array\(12\)$/);
    expectThrows(backwardWith((d) => [Float64Array.from(d.data), null], 'float32'), GradError, /^leakyRelu: backward's gradient 0 \(for x, float32 \[3, 4\]\) must be a Float32Array like x, got Float64Array\(12\)$/);
    expectThrows(backwardWith((d) => [{ shape: [4, 3], data: n(d) }, null]), GradError, /^leakyRelu: backward's gradient 0 \(for x, float64 \[3, 4\]\) must have x's shape \[3, 4\], got shape \[4,3\]$/);
  });

  it('names tensor inputs by forward\'s parameters, or by position when the source does not show them', () => {
    const cases: [string, (...a: never[]) => unknown, RegExp][] = [
      ['rest', (...xs: NDArray[]) => ({ out: xs[0], cache: null }), /one per tensor input: xs\[0\], xs\[1\]\)/],
      ['destructured', ({ data }: NDArray, w: NDArray) => ({ out: { shape: [data.length], data }, cache: w }), /one per tensor input: argument 0, w\)/],
      ['bound', function (this: unknown, x: NDArray) { return { out: x, cache: null }; }.bind(null), /one per tensor input: argument 0, argument 1\)/],
      ['method', { forward(/* a (comment) */ a: NDArray, b = ')' as unknown) { return { out: a, cache: b }; } }.forward, /one per tensor input: a, b\)/],
    ];
    for (const [name, forward, pattern] of cases) {
      const op = defineOp({ name, forward: forward as (...a: NDArray[]) => { out: NDArray; cache: unknown }, backward: () => [] });
      expectThrows(() => op(tensor([1, 2], { requiresGrad: true }), tensor([3, 4], { requiresGrad: true })).sum().backward(), GradError, pattern);
    }
  });

  it('errors thrown inside forward or backward reach the caller as the same object, with the op name added', () => {
    class KernelError extends Error {}
    const thrown = { forward: new KernelError('slope must be finite'), backward: new RangeError('index out of range') };
    const op = defineOp({
      name: 'throwing',
      forward: (x: NDArray, where: string) => {
        if (where === 'forward') throw thrown.forward;
        return { out: { shape: x.shape, data: x.data.slice() }, cache: where };
      },
      backward: (_dout, where) => {
        if (where === 'backward') throw thrown.backward;
        if (where === 'string') throw 'a string';
        return [null];
      },
    });
    const x = tensor([1, 2], { requiresGrad: true });
    let caught: unknown;
    try {
      op(x, 'forward');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBe(thrown.forward);
    expect(caught).toBeInstanceOf(KernelError);
    expect((caught as Error).message).toBe('throwing: forward threw: slope must be finite');
    expect((caught as Error).stack).toMatch(/^Error: throwing: forward threw: slope must be finite\n\s+at /);
    try {
      op(x, 'backward').sum().backward();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBe(thrown.backward);
    expect((caught as Error).message).toBe('throwing: backward threw: index out of range');
    expect(x.grad).toBeNull();
    expect(() => op(x, 'string').sum().backward()).toThrow('a string');
    // A TapegradError from a kernel the user calls keeps its class.
    const viaKernel = defineOp({ name: 'viaKernel', forward: (x: NDArray) => ({ out: tensor([1]).reshape([5]), cache: x }), backward: () => [null] });
    expectThrows(() => viaKernel(x), ShapeError, /^viaKernel: forward threw: reshape: /);
  });
});

// ---------------------------------------------------------------------------------------------
// In modules, with optimizers and the testing tools.

/** A layer on the user's ops: leakyRelu(scale * x @ weight + bias). */
class LeakyAffine extends nn.Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(inFeatures: number, outFeatures: number, readonly slope = 0.1, readonly scale = 1, op = scaledMatmul) {
    super();
    const w = Tensor.randn([inFeatures, outFeatures]);
    for (let i = 0; i < w.data.length; i++) w.data[i] *= Math.sqrt(2 / inFeatures);
    this.weight = this.registerParameter('weight', w);
    this.bias = this.registerParameter('bias', Tensor.zeros([outFeatures]));
    this.op = op;
  }

  private readonly op: typeof scaledMatmul;

  forward(x: Tensor): Tensor {
    return leakyRelu(this.op(x, this.weight, this.scale).add(this.bias), this.slope);
  }
}

/** Two interleaved spirals: a task a linear model cannot solve. */
function spirals(n: number): { x: Tensor; y: Int32Array } {
  const x = new Float64Array(2 * n);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    const r = (i / n) * 2 + 0.2;
    const t = (i / n) * 6 + c * Math.PI;
    x[2 * i] = r * Math.cos(t);
    x[2 * i + 1] = r * Math.sin(t);
    y[i] = c;
  }
  return { x: new Tensor(x, [n, 2]), y };
}

describe('defineOp in modules, optimizers and the testing tools', () => {
  it.each([
    ['SGD', (p: Tensor[]) => new optim.SGD(p, { lr: 0.1, momentum: 0.9 })],
    ['Adam', (p: Tensor[]) => new optim.Adam(p, { lr: 0.01 })],
    ['RMSProp', (p: Tensor[]) => new optim.RMSProp(p, { lr: 0.01 })],
  ])('a Module subclass on the ops trains with optim.%s: the loss falls', (_name, makeOptimizer) => {
    const model = new nn.Sequential(new LeakyAffine(2, 32), new nn.BatchNorm1d(32), new LeakyAffine(32, 32, 0.05, 0.5), new nn.Affine(32, 2));
    expect(model.namedParameters().map(([k]) => k)).toEqual(['0.weight', '0.bias', '1.weight', '1.bias', '2.weight', '2.bias', '3.weight', '3.bias']);
    const opt = makeOptimizer(model.parameters());
    const { x, y } = spirals(64);
    const losses: number[] = [];
    for (let step = 0; step < 60; step++) {
      opt.zeroGrad();
      const loss = nn.softmaxCrossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      losses.push(loss.item());
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[59]).toBeLessThan(losses[0] * 0.6);
  });

  it('checkModuleGradients passes on a module built on the ops, in train and eval mode', () => {
    const model = new nn.Sequential(new LeakyAffine(3, 5), new nn.BatchNorm1d(5), new LeakyAffine(5, 2, 0.2, 0.5));
    const awayFrom = { kinks: [0], margin: 1e-3 };
    const r = checkModuleGradients(model, { inputShape: [3], minBatch: 3, numRuns: 10, awayFrom, rtol: 1e-5, atol: 1e-8 });
    expect(Object.keys(r.maxRelError)).toEqual(['input', '0.weight', '0.bias', '1.weight', '1.bias', '2.weight', '2.bias']);
    checkModuleGradients(new LeakyAffine(4, 3).eval(), { inputShape: [4], numRuns: 10, awayFrom });
  });

  it('checkModuleGradients catches a module whose op has a planted bug', () => {
    const buggyMatmul = defineOp({
      name: 'buggyScaledMatmul',
      forward: scaledMatmulForward,
      backward: (dout, cache: { x: NDArray; w: NDArray; scale: number }) => {
        const [dx, dw] = scaledMatmulBackward(dout, cache);
        return [dx, dw.map((g) => g / cache.scale)]; // BUG: dw misses the scale
      },
    });
    // A bias of 0.5 keeps the pre-activations of the batches fast-check shrinks to (zeros) off
    // leakyRelu's kink, so what is found is the bug, not finite-difference noise at the kink.
    const opts = { inputShape: [3], numRuns: 10, min: -0.2, max: 0.2, rtol: 1e-6 };
    const good = new LeakyAffine(3, 2, 0.1, 2);
    good.bias.data.fill(0.5);
    checkModuleGradients(good, opts);
    const layer = new LeakyAffine(3, 2, 0.1, 2, buggyMatmul);
    layer.bias.data.fill(0.5);
    expectThrows(() => checkModuleGradients(layer, opts), GradError, /^checkModuleGradients: LeakyAffine gradients disagree.*gradient of 'weight'/s);
  });

  it('trains inside the Trainer (which releases activations after each backward)', () => {
    const model = new nn.Sequential(new LeakyAffine(2, 24), new nn.ReLU(), new nn.Affine(24, 2));
    const { x, y } = spirals(96);
    const history = new Trainer(model, { optimizer: new optim.Adam(model.parameters(), { lr: 0.02 }), epochs: 15, batchSize: 32 }).fit({ x, y });
    const losses = history.epochs.map((e) => e.trainLoss);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
  });
});

// ---------------------------------------------------------------------------------------------
// Ownership: what a user's kernels return, and the dout they receive, stay the user's.

describe("defineOp ownership (needs the tape's external-rule change)", () => {
  afterEach(() => poolControl({ enabled: true, poison: false, clear: true }));

  it('arrays the kernels returned and the douts they received are unchanged after 20 more steps with a poisoned pool', () => {
    poolControl({ enabled: true, poison: true, clear: true });
    const kept: { what: string; array: FloatArray; copy: FloatArray }[] = [];
    let keep = true;
    const remember = (what: string, array: FloatArray | null): void => {
      if (keep && array !== null) kept.push({ what, array, copy: array.slice() });
    };
    const trackedMatmul = defineOp({
      name: 'trackedMatmul',
      forward: (x: NDArray, w: NDArray, scale: number) => {
        const r = scaledMatmulForward(x, w, scale);
        remember('forward out', r.out.data);
        return r;
      },
      backward: (dout, cache: { x: NDArray; w: NDArray; scale: number }) => {
        remember('dout', dout.data);
        const grads = scaledMatmulBackward(dout, cache);
        remember('dx', grads[0]);
        remember('dw', grads[1]);
        return grads;
      },
    });
    const trackedLeaky = defineOp({
      name: 'trackedLeaky',
      forward: (x: NDArray, slope: number) => {
        const r = leakyReluForward(x, slope);
        remember('leaky out', r.out.data);
        return r;
      },
      // Returns dout itself where nothing changes (slope 1): the identity gradient.
      backward: (dout, cache: LeakyCache) => {
        remember('leaky dout', dout.data);
        const grads = cache.slope === 1 ? [dout.data] : leakyReluBackward(dout, cache);
        remember('leaky dx', grads[0]);
        return grads;
      },
    });
    class Tracked extends nn.Module {
      readonly weight = this.registerParameter('weight', Tensor.randn([16, 16]).mul(0.25));
      forward(x: Tensor): Tensor {
        return trackedLeaky(trackedLeaky(trackedMatmul(x, this.weight, 1), 0.1), 1); // 32 x 16: pooled sizes
      }
    }
    const model = new nn.Sequential(new nn.Affine(4, 16), new Tracked(), new nn.BatchNorm1d(16), new nn.ReLU(), new nn.Affine(16, 3));
    const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    const x = Tensor.randn([32, 4]);
    const y = Int32Array.from({ length: 32 }, (_, i) => i % 3);
    const step = (): number => {
      opt.zeroGrad();
      const h = model.forward(x);
      const loss = nn.softmaxCrossEntropy(h.add(h.mul(h).mul(0.01)), y); // more ops, more pooled arrays
      loss.backward();
      opt.step();
      return loss.item();
    };
    for (let s = 0; s < 3; s++) step();
    // The Trainer's backward releases activations: the op outputs are intermediates there.
    new Trainer(model, { optimizer: opt, epochs: 1, batchSize: 16 }).fit({ x, y });
    expect(kept.length).toBeGreaterThan(20);
    keep = false;
    const losses: number[] = [];
    for (let s = 0; s < 20; s++) losses.push(step());
    new Trainer(model, { optimizer: opt, epochs: 2, batchSize: 16 }).fit({ x, y });
    expect(losses.every(Number.isFinite)).toBe(true);
    const changed = kept.filter(({ array, copy }) => !array.every((v, i) => Object.is(v, copy[i]))).map(({ what }) => what);
    expect(changed).toEqual([]);
  });

  it("a gradient backward returns (here dout itself) is not kept as a leaf's grad nor recycled", () => {
    poolControl({ enabled: true, poison: true, clear: true });
    const returned: FloatArray[] = [];
    const passThrough = defineOp({
      name: 'passThrough',
      forward: (x: NDArray) => ({ out: { shape: x.shape, data: x.data.slice() }, cache: null }),
      backward: (dout) => {
        returned.push(dout.data); // the identity's gradient is dout itself
        return [dout.data];
      },
    });
    const x = Tensor.randn([20], { requiresGrad: true }); // 20 elements: a pooled size
    passThrough(x).mul(2).sum().backward();
    passThrough(x).mul(3).sum().backward(); // accumulates into x.grad
    expect(Array.from(x.grad!.data)).toEqual(new Array(20).fill(5));
    for (const r of returned) expect(x.grad!.data).not.toBe(r);
    expect(Array.from(returned[0])).toEqual(new Array(20).fill(2));
    expect(Array.from(returned[1])).toEqual(new Array(20).fill(3));
  });
});
