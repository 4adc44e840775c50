/**
 * nn.Sequential runs a BatchNorm1d followed by a ReLU as one tape node ('batchnorm+relu').
 * It must be invisible except for speed: the same outputs, gradients, running statistics and
 * second derivatives, bit for bit, as the two layers run apart; and it must not happen where
 * the two would not be the library's own layers, or in anomaly mode.
 */
import * as fc from 'fast-check';

import { autograd, manualSeed, nn, setDetectAnomaly, Tensor, type DType } from '../../src';

/** The op names along the first-input chain from `t` down to the leaves. */
function opChain(t: Tensor): string[] {
  const ops: string[] = [];
  for (let s: Tensor | undefined = t; s?._node; s = s._node.inputs[0]) ops.push(s._node.op);
  return ops;
}

/** Two identical models (same seed), the second with each layer's forward wrapped, so Sequential cannot fuse it. */
function twins(dtype: DType, d: number): [nn.Sequential, nn.Sequential] {
  const make = (): nn.Sequential => {
    manualSeed(7);
    return new nn.Sequential(
      new nn.Affine(3, d, { dtype }),
      new nn.BatchNorm1d(d, { dtype }),
      new nn.ReLU(),
      new nn.Affine(d, 2, { dtype }),
    );
  };
  const fused = make();
  const apart = make();
  for (const layer of apart.layers) {
    const f = layer.forward;
    Object.defineProperty(layer, 'forward', { value: (x: Tensor) => f.call(layer, x), configurable: true });
  }
  return [fused, apart];
}

function bits(a: ArrayLike<number>): string {
  return Array.from(a, (v) => (Object.is(v, -0) ? '-0' : String(v))).join(',');
}

describe('nn.Sequential: BatchNorm1d then ReLU as one op', () => {
  it('is one node, and only for the library\'s own layers', () => {
    const [fused, apart] = twins('float64', 4);
    const x = Tensor.randn([5, 3]);
    expect(opChain(fused.forward(x))).toEqual(['affine', 'batchnorm+relu', 'affine']);
    expect(opChain(apart.forward(x))).toEqual(['affine', 'relu', 'batchnorm', 'affine']);
    // A ReLU whose forward is patched runs as written.
    const patched = new nn.Sequential(new nn.BatchNorm1d(3), new nn.ReLU());
    let calls = 0;
    const relu = patched.layers[1];
    const f = relu.forward;
    relu.forward = (t: Tensor) => {
      calls++;
      return f.call(relu, t);
    };
    expect(opChain(patched.forward(x))).toEqual(['relu', 'batchnorm']);
    expect(calls).toBe(1);
    // Anomaly mode keeps the two ops apart, so its messages name each.
    setDetectAnomaly(true);
    try {
      expect(opChain(fused.forward(x))).toEqual(['affine', 'relu', 'batchnorm', 'affine']);
    } finally {
      setDetectAnomaly(false);
    }
  });

  it.each(['float64', 'float32'] as const)('gives the same bits as the two layers apart (%s, train and eval)', (dtype) => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 9 }), fc.integer({ min: 1, max: 11 }), fc.boolean(), (n, d, train) => {
        const [fused, apart] = twins(dtype, d);
        const x = Tensor.randn([n, 3], { dtype });
        const y = Int32Array.from({ length: n }, (_, i) => i % 2);
        for (const m of [fused, apart]) {
          if (train) m.train();
          else m.eval();
        }
        for (let step = 0; step < 2; step++) {
          const lf = nn.softmaxCrossEntropy(fused.forward(x), y);
          const la = nn.softmaxCrossEntropy(apart.forward(x), y);
          expect(bits(lf.data)).toBe(bits(la.data));
          lf.backward();
          la.backward();
          const pf = fused.parameters();
          const pa = apart.parameters();
          pf.forEach((p, i) => expect(bits(p.grad!.data)).toBe(bits(pa[i].grad!.data)));
          const bf = fused.layers[1] as nn.BatchNorm1d;
          const ba = apart.layers[1] as nn.BatchNorm1d;
          expect(bits(bf.runningMean.data)).toBe(bits(ba.runningMean.data));
          expect(bits(bf.runningVar.data)).toBe(bits(ba.runningVar.data));
          expect(bf.numBatchesTracked).toBe(ba.numBatchesTracked);
        }
      }),
      { seed: 42, numRuns: 40 },
    );
  });

  it.each(['train', 'eval'] as const)('has the same second derivatives (%s)', (mode) => {
    const [fused, apart] = twins('float64', 5);
    const x = Tensor.randn([6, 3], { requiresGrad: true });
    const grads = (m: nn.Sequential): string[] => {
      if (mode === 'train') m.train();
      else m.eval();
      const out = m.forward(x);
      const s = out.mul(out).sum();
      const [gx] = autograd.grad([s], [x], { createGraph: true });
      const [ggx] = autograd.grad([gx!.mul(gx!).sum()], [x]);
      return [bits(gx!.data), bits(ggx!.data)];
    };
    expect(grads(fused)).toEqual(grads(apart));
  });

  it('records no node when nothing needs a gradient, and recycles only its own intermediate', () => {
    // The fused op last, so its output is what the user holds.
    const make = (): nn.Sequential => {
      manualSeed(3);
      return new nn.Sequential(new nn.Affine(3, 64, { dtype: 'float32' }), new nn.BatchNorm1d(64, { dtype: 'float32' }), new nn.ReLU());
    };
    const fused = make();
    const apart = make();
    for (const layer of apart.layers) {
      const f = layer.forward;
      Object.defineProperty(layer, 'forward', { value: (t: Tensor) => f.call(layer, t), configurable: true });
    }
    const x = Tensor.randn([64, 3], { dtype: 'float32' });
    for (const p of [...fused.parameters(), ...apart.parameters()]) p.requiresGrad = false;
    const out1 = fused.forward(x);
    expect(out1._node).toBeNull();
    expect(opChain(out1)).toEqual([]);
    const kept = bits(out1.data);
    // Later calls reuse the recycled intermediate; the output the user holds must not change.
    for (let i = 0; i < 3; i++) fused.forward(Tensor.randn([64, 3], { dtype: 'float32' }));
    expect(bits(out1.data)).toBe(kept);
    expect(kept).toBe(bits(apart.forward(x).data));
  });
});
