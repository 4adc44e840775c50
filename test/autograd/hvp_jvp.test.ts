/**
 * autograd.hvp and autograd.jvp against explicit Hessians and Jacobians of small functions,
 * built column by column from central differences (of plain gradients for H, of the function
 * for J), over random points and directions (fast-check, pinned seed).
 */
import { ArgumentError, autograd, GradError, Tensor, tensor } from '../../src';
import { valuesArb } from '../../src/testing/arbitraries';
import { expectThrows } from '../helpers/errors';
import { FC, fc } from '../helpers/fc';

const H = 1e-5;

/** The Hessian of scalar f at x (n values), column j = central difference of grad f along e_j. */
function hessianFD(f: (x: Tensor) => Tensor, x: Float64Array, shape: readonly number[]): Float64Array[] {
  const gradAt = (p: Float64Array): Float64Array => {
    const t = new Tensor(p, [...shape], { requiresGrad: true });
    return autograd.grad([f(t)], [t])[0]!.data as Float64Array;
  };
  return Array.from(x, (_, j) => {
    const up = x.slice();
    const down = x.slice();
    up[j] += H;
    down[j] -= H;
    const gu = gradAt(up);
    const gd = gradAt(down);
    return gu.map((v, i) => (v - gd[i]) / (2 * H));
  });
}

/** The Jacobian of f at x, column j = central difference of f along e_j (flattened output). */
function jacobianFD(f: (x: Tensor) => Tensor, x: Float64Array, shape: readonly number[]): Float64Array[] {
  return Array.from(x, (_, j) => {
    const up = x.slice();
    const down = x.slice();
    up[j] += H;
    down[j] -= H;
    const fu = f(new Tensor(up, [...shape])).data;
    const fd = f(new Tensor(down, [...shape])).data;
    return Float64Array.from(fu, (v, i) => (v - fd[i]) / (2 * H));
  });
}

/** columns (n of them, each m long) times v. */
function times(cols: Float64Array[], v: Float64Array): Float64Array {
  const out = new Float64Array(cols[0].length);
  cols.forEach((c, j) => c.forEach((cij, i) => (out[i] += cij * v[j])));
  return out;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(1, ...Array.from(expected, Math.abs));
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > tol * scale) {
      throw new Error(`element ${i}: got ${actual[i]}, expected ${expected[i]} (tolerance ${tol * scale})`);
    }
  }
}

/** Rosenbrock in n dimensions: sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2. */
function rosenbrock(x: Tensor): Tensor {
  const n = x.shape[0];
  const head = x.reshape([n, 1]).transpose().matmul(firstRows(n)).reshape([n - 1]); // x_0..x_{n-2}
  const tail = x.reshape([n, 1]).transpose().matmul(lastRows(n)).reshape([n - 1]); // x_1..x_{n-1}
  const a = tail.sub(head.mul(head));
  const b = head.neg().add(1);
  return a.mul(a).mul(100).add(b.mul(b)).sum();
}
/** Selection matrices (constants) picking x_0..x_{n-2} and x_1..x_{n-1} by matmul. */
function firstRows(n: number): Tensor {
  const m = new Float64Array(n * (n - 1));
  for (let j = 0; j < n - 1; j++) m[j * (n - 1) + j] = 1;
  return new Tensor(m, [n, n - 1]);
}
function lastRows(n: number): Tensor {
  const m = new Float64Array(n * (n - 1));
  for (let j = 0; j < n - 1; j++) m[(j + 1) * (n - 1) + j] = 1;
  return new Tensor(m, [n, n - 1]);
}

const A = new Tensor(Float64Array.of(2, -1, 0.5, 0.3, 1, 0.7, -0.2, 0.4, 3), [3, 3]); // not symmetric
/** x^T A x: Hessian A + A^T. */
const quadratic = (x: Tensor): Tensor => x.reshape([1, 3]).matmul(A).matmul(x.reshape([3, 1])).sum();

const W1 = new Tensor(Float64Array.of(0.5, -0.3, 0.8, 0.1, 0.2, -0.6, 0.4, 0.9, -0.5, 0.3, 0.7, -0.2), [4, 3]);
const W2 = new Tensor(Float64Array.of(0.6, -0.4, 0.2, 0.3, -0.7, 0.5), [3, 2]);
const sigmoid = (z: Tensor): Tensor => tensor(1).div(z.neg().exp().add(1));
/** An MLP of the 4 inputs, 2 outputs (sigmoid hidden layer, from exp/div). */
const mlp = (x: Tensor): Tensor => sigmoid(x.reshape([1, 4]).matmul(W1).add(0.1)).matmul(W2).reshape([2]);
/** A scalar of it, for Hessians. */
const mlpScalar = (x: Tensor): Tensor => {
  const y = mlp(x);
  return y.mul(y).sum().add(y.exp().sum());
};

const point = (n: number): fc.Arbitrary<[Float64Array, Float64Array]> =>
  fc.tuple(valuesArb(n, { min: -1.5, max: 1.5 }), valuesArb(n, { min: -1, max: 1 })).map(([x, v]) => [Float64Array.from(x), Float64Array.from(v)]);

describe('autograd.hvp: H v against finite-difference Hessians', () => {
  it.each([
    ['Rosenbrock (4-D)', rosenbrock, 4],
    ['quadratic form x^T A x', quadratic, 3],
    ['an MLP-ish scalar', mlpScalar, 4],
  ] as const)('%s', (_name, f, n) => {
    fc.assert(
      fc.property(point(n), ([x, v]) => {
        const hess = hessianFD(f, x, [n]);
        const [hv] = autograd.hvp(f, [new Tensor(x.slice(), [n], { requiresGrad: true })], [new Tensor(v, [n])]);
        expectClose(hv.data, times(hess, v), 1e-6);
      }),
      { ...FC, numRuns: 15 },
    );
  });

  it('the quadratic form: exactly (A + A^T) v', () => {
    const x = tensor([0.3, -1, 2], { requiresGrad: true });
    const v = tensor([1, 2, -1]);
    const [hv] = autograd.hvp(quadratic, [x], [v]);
    const a = A.data;
    const want = [0, 1, 2].map((i) => [0, 1, 2].reduce((s, j) => s + (a[i * 3 + j] + a[j * 3 + i]) * v.data[j], 0));
    expectClose(hv.data, want, 1e-14);
  });

  it('Rosenbrock at its minimum (1, 1): the textbook Hessian [[802, -400], [-400, 200]]', () => {
    const x = tensor([1, 1], { requiresGrad: true });
    const [c0] = autograd.hvp(rosenbrock, [x], [tensor([1, 0])]);
    const [c1] = autograd.hvp(rosenbrock, [x], [tensor([0, 1])]);
    expect(Array.from(c0.data)).toEqual([802, -400]);
    expect(Array.from(c1.data)).toEqual([-400, 200]);
  });

  it('several params, one of them unused by f: zeros for it', () => {
    const x = tensor([0.5, -0.5, 1], { requiresGrad: true });
    const unused = tensor([1, 2], { requiresGrad: true });
    const [hx, hu] = autograd.hvp((a) => quadratic(a), [x, unused], [tensor([1, 0, 0]), tensor([1, 1])]);
    expectClose(hx.data, [4, -0.7, 0.3], 1e-14);
    expect(Array.from(hu.data)).toEqual([0, 0]);
  });

  it('leaves the params\' grad alone, and rejects a v that does not match', () => {
    const x = tensor([0.5, -0.5, 1], { requiresGrad: true });
    autograd.hvp(quadratic, [x], [tensor([1, 0, 0])]);
    expect(x.grad).toBeNull();
    expectThrows(() => autograd.hvp(quadratic, [x], [tensor([1, 0])]), ArgumentError, /^hvp: v\[0\] must have shape \[3\]/);
    expectThrows(() => autograd.hvp((a) => a.exp(), [x], [tensor([1, 0, 0])]), GradError, /non-scalar output needs opts.gradOutputs/);
  });
});

describe('autograd.jvp: J v against finite-difference Jacobians', () => {
  it.each([
    ['an MLP (4 -> 2)', mlp, 4],
    ['exp/log/div elementwise', (x: Tensor) => x.exp().add(x.mul(x).add(1).log()).div(x.mul(x).add(2)), 3],
    ['the gradient of Rosenbrock (a Jacobian that is a Hessian)', (x: Tensor) => autograd.grad([rosenbrock(x)], [x], { createGraph: true })[0]!, 4],
  ] as const)('%s', (_name, f, n) => {
    fc.assert(
      fc.property(point(n), ([x, v]) => {
        const jac = jacobianFD((t) => (t.requiresGrad ? f(t) : f(new Tensor(t.data, t.shape, { requiresGrad: true }))), x, [n]);
        const jv = autograd.jvp(f, [new Tensor(x.slice(), [n], { requiresGrad: true })], [new Tensor(v, [n])]);
        expect(jv.shape).toEqual([jac[0].length]);
        expectClose(jv.data, times(jac, v), 1e-6);
      }),
      { ...FC, numRuns: 15 },
    );
  });

  it('a linear map: exactly A v, whatever x', () => {
    const x = tensor([[0.3, -1, 2]], { requiresGrad: true });
    const v = tensor([[1, 2, -1]]);
    const jv = autograd.jvp((t) => t.matmul(A.transpose()), [x], [v]);
    expect(jv.shape).toEqual([1, 3]);
    const a = A.data;
    expectClose(jv.data, [0, 1, 2].map((i) => [0, 1, 2].reduce((s, j) => s + a[i * 3 + j] * v.data[j], 0)), 1e-14);
  });
});
