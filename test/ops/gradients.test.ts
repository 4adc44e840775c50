/**
 * Every differentiable op's gradient against central differences in float64, over random
 * shapes and values (fast-check, pinned seed). ReLU inputs stay away from the kink at 0.
 */
import { gradcheck, ops, Tensor } from '../../src';
import { broadcastPairArb, shapeArb, tensorArb } from '../../src/testing/arbitraries';
import { FC, fc } from '../helpers/fc';

const away0 = { awayFrom: { kinks: [0], margin: 1e-3 } };

describe('elementwise ops with broadcasting', () => {
  const binaries: [string, (a: Tensor, b: Tensor) => Tensor, object][] = [
    ['add', (a, b) => a.add(b), {}],
    ['sub', (a, b) => a.sub(b), {}],
    ['mul', (a, b) => a.mul(b), {}],
    ['div', (a, b) => a.div(b), { min: 0.5, max: 2 }],
  ];
  it.each(binaries)('%s', (_name, f, range) => {
    fc.assert(
      fc.property(
        broadcastPairArb({ maxRank: 3, maxDim: 4 }).chain(([sa, sb]) =>
          fc.tuple(tensorArb(sa), tensorArb(sb, range)),
        ),
        ([a, b]) => {
          gradcheck(f, [a, b]);
        },
      ),
      FC,
    );
  });

  it.each([
    ['neg', (x: Tensor) => x.neg(), {}],
    ['exp', (x: Tensor) => x.exp(), {}],
    ['log', (x: Tensor) => x.log(), { min: 0.1, max: 3 }],
    ['relu', (x: Tensor) => x.relu(), away0],
  ] as const)('%s', (_name, f, range) => {
    fc.assert(fc.property(tensorArb(shapeArb(), range), (x) => void gradcheck(f, [x])), FC);
  });
});

describe('matmul, reductions and shape ops', () => {
  it('matmul', () => {
    const dims = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }));
    fc.assert(
      fc.property(dims.chain(([m, k, n]) => fc.tuple(tensorArb([m, k]), tensorArb([k, n]))), ([a, b]) => {
        gradcheck((x, y) => x.matmul(y), [a, b]);
      }),
      FC,
    );
  });

  it('sum and mean over all or one axis, with and without keepDims', () => {
    const arb = tensorArb(shapeArb()).chain((x) =>
      fc.tuple(fc.constant(x), fc.option(fc.integer({ min: -x.ndim, max: x.ndim - 1 }), { nil: undefined }), fc.boolean()),
    );
    fc.assert(
      fc.property(arb, ([x, axis, keepDims]) => {
        gradcheck((t) => t.sum(axis, keepDims), [x]);
        gradcheck((t) => t.mean(axis, keepDims), [x]);
      }),
      FC,
    );
  });

  it('reshape and transpose', () => {
    fc.assert(
      fc.property(tensorArb(shapeArb()), (x) => {
        gradcheck((t) => t.reshape([-1]), [x]);
        gradcheck((t) => t.transpose(), [x]);
        const perm = x.shape.map((_, i) => i).reverse();
        if (x.ndim === 3) gradcheck((t) => t.transpose([1, 0, 2]), [x]);
        gradcheck((t) => t.transpose(perm).reshape([1, -1]), [x]);
      }),
      FC,
    );
  });
});

describe('layer ops on the seed kernels', () => {
  const dims = fc.tuple(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }));

  it('affine (x, w, b), including inputs with more than 2 dimensions', () => {
    fc.assert(
      fc.property(
        dims.chain(([n, d, m]) =>
          fc.tuple(tensorArb([n, d, 2]), tensorArb([d * 2, m]), tensorArb([m])),
        ),
        ([x, w, b]) => void gradcheck((a, c, e) => ops.affine(a, c, e), [x, w, b]),
      ),
      FC,
    );
  });

  it('batchnorm in train mode (dx, dgamma, dbeta) and test mode', () => {
    fc.assert(
      fc.property(
        dims.chain(([n, d]) => fc.tuple(tensorArb([n, d], { min: -3, max: 3 }), tensorArb([d]), tensorArb([d]))),
        ([x, gamma, beta]) => {
          // A fresh bnParam per call: the running statistics must not leak between evaluations.
          gradcheck((a, g, b) => ops.batchnorm(a, g, b, { mode: 'train' }), [x, gamma, beta], { rtol: 1e-6 });
          const runningMean = Float64Array.from({ length: x.shape[1] }, (_, j) => 0.1 * j);
          const runningVar = Float64Array.from({ length: x.shape[1] }, (_, j) => 1 + j);
          gradcheck((a, g, b) => ops.batchnorm(a, g, b, { mode: 'test', runningMean, runningVar }), [x, gamma, beta]);
        },
      ),
      FC,
    );
  });

  it('softmax cross-entropy, SVM and MSE losses', () => {
    fc.assert(
      fc.property(
        fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 2, max: 5 })).chain(([n, c]) =>
          fc.tuple(
            tensorArb([n, c], { min: -3, max: 3 }),
            fc.array(fc.integer({ min: 0, max: c - 1 }), { minLength: n, maxLength: n }),
            tensorArb([n, c], { requiresGrad: false }),
          ),
        ),
        ([scores, labels, target]) => {
          gradcheck((s) => ops.softmaxCrossEntropy(s, labels), [scores]);
          gradcheck((s) => ops.softmaxCrossEntropy(s, labels, { reduction: 'sum' }), [scores]);
          gradcheck((s) => ops.mseLoss(s, target), [scores]);
          // The hinge has kinks where a margin is exactly 0; random doubles miss them.
          gradcheck((s) => ops.svmLoss(s, Int32Array.from(labels)), [scores], { rtol: 1e-6 });
        },
      ),
      FC,
    );
  });
});
