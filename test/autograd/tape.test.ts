/**
 * The tape's invariants: gradient shapes, zero upstream, accumulation, deep graphs, node
 * release, noGrad/detach, and gradcheck's own ability to catch a wrong gradient.
 */
import { GradError, gradcheck, noGrad, ops, Tensor, tensor, numericalGradient, relError, DTypeError } from '../../src';
import { record } from '../../src/autograd/tape';
import { shapeArb, tensorArb } from '../../src/testing/arbitraries';
import { FC, fc } from '../helpers/fc';

describe('gradient invariants', () => {
  it('a gradient has its input\'s shape, and a zero upstream gives zero gradients', () => {
    fc.assert(
      fc.property(tensorArb(shapeArb({ minRank: 2, maxRank: 2 })), (x) => {
        const w = Tensor.randn([x.shape[1], 3], { requiresGrad: true });
        const b = Tensor.randn([3], { requiresGrad: true });
        const out = ops.affine(x, w, b).relu().mul(x.sum());
        out.backward(Tensor.zeros(out.shape));
        for (const t of [x, w, b]) {
          expect(t.grad!.shape).toEqual(t.shape);
          expect(Array.from(t.grad!.data).every((v) => v === 0)).toBe(true);
        }
      }),
      FC,
    );
  });

  it('a tensor used twice accumulates both paths', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    x.mul(x).add(x).sum().backward();
    expect(x.grad!.toArray()).toEqual([3, 5, 7]); // 2x + 1
  });

  it('two backward passes accumulate twice; zeroGrad clears', () => {
    const x = tensor([1, -2], { requiresGrad: true });
    const loss = x.mul(x).sum();
    loss.backward(undefined, { retainGraph: true });
    loss.backward();
    expect(x.grad!.toArray()).toEqual([4, -8]);
    x.mul(x).sum().backward(); // a fresh forward accumulates again
    expect(x.grad!.toArray()).toEqual([6, -12]);
    x.zeroGrad();
    expect(x.grad!.toArray()).toEqual([0, 0]);
    x.zeroGrad({ setToNone: true });
    expect(x.grad).toBeNull();
  });

  it('an op handing one gradient to two inputs does not alias them', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const b = tensor([3, 4], { requiresGrad: true });
    const s = a.add(b);
    s.mul(tensor([2, 2])).sum().backward();
    a.grad!.data[0] = 100;
    expect(b.grad!.toArray()).toEqual([2, 2]);
  });

  it('a chain of 100,000 ops runs without recursion', () => {
    const x = tensor([0.5], { requiresGrad: true });
    let y = x;
    for (let i = 0; i < 100_000; i++) y = y.add(1);
    y.sum().backward();
    expect(x.grad!.toArray()).toEqual([1]);
  });

  it('backward frees the nodes it passed, and reusing the freed graph is an error', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const h = x.mul(x);
    const loss = h.sum();
    expect(h._node).not.toBeNull();
    loss.backward();
    expect(h._node).toBeNull();
    expect(loss._node).toBeNull();
    expect(() => loss.backward()).toThrow(GradError);
    expect(() => h.add(x).sum().backward()).toThrow(/freed by an earlier backward/);
  });

  it('noGrad records nothing; detach cuts the tape', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = noGrad(() => x.mul(x));
    expect(y.requiresGrad).toBe(false);
    expect(y._node).toBeNull();
    const z = x.detach();
    expect(z.requiresGrad).toBe(false);
    expect(z.data).toBe(x.data);
  });
});

describe('backward errors', () => {
  it('backward on a tensor that does not require grad', () => {
    expect(() => tensor([1]).backward()).toThrow(GradError);
    expect(() => tensor([1]).backward()).toThrow(/backward: this \[1\] tensor does not require grad/);
  });

  it('a non-scalar needs a seed gradient of its shape and dtype', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    expect(() => x.mul(x).backward()).toThrow(/gradient must be given for a non-scalar tensor of shape \[2\]/);
    expect(() => x.mul(x).backward(tensor([1, 2, 3]))).toThrow(/gradient must have shape \[2\]/);
    expect(() => x.mul(x).backward(Float32Array.of(1, 1))).toThrow(DTypeError);
  });
});

describe('gradcheck', () => {
  it('catches a wrong gradient and names the input, the element, and both values', () => {
    const square = (x: Tensor): Tensor => {
      const out = new Tensor(x.data.map((v) => v * v), x.shape);
      return record(out, 'badSquare', [x], (g) => [g.map((gi, i) => gi * 3 * x.data[i])]); // should be 2x
    };
    const x = tensor([[1, 2], [3, 4]], { requiresGrad: true });
    expect(() => gradcheck((t) => square(t).sum(), [x])).toThrow(GradError);
    expect(() => gradcheck((t) => square(t).sum(), [x])).toThrow(
      /input 0 \(shape \[2, 2\]\) at element 0 \(index \[0, 0\]\): numerical 2\.0000\d*, analytical 3/,
    );
  });

  it('numericalGradient matches a known derivative; relError is symmetric', () => {
    const x = tensor([0.5, -1.5]);
    const num = numericalGradient((t) => t.mul(t).mul(t).sum(), [x]);
    expect(relError(num[0], 0.75)).toBeLessThan(1e-9);
    expect(relError(num[1], 6.75)).toBeLessThan(1e-9);
    expect(relError(1, 2)).toBe(relError(2, 1));
    expect(relError(0, 0)).toBe(0);
  });

  it('restores the inputs\' existing gradients', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    x.grad = tensor([7, 7]);
    gradcheck((t) => t.mul(t).sum(), [x]);
    expect(x.grad.toArray()).toEqual([7, 7]);
  });

  it('insists on float64 inputs', () => {
    const x = tensor([1, 2], { dtype: 'float32', requiresGrad: true });
    expect(() => gradcheck((t) => t.sum(), [x])).toThrow(/inputs\[0\] must be float64/);
  });
});
