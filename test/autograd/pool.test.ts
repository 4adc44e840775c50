/**
 * Buffer reuse: the tape recycles only arrays nothing can reach. With poisoning on, every
 * recycled array is filled with NaN, so a live array recycled by mistake would corrupt the
 * run; the poisoned run must match a run without any reuse bit for bit.
 */
import { manualSeed, nn, optim, Tensor } from '../../src';
import { poolControl } from '../../src/dtype';

function train(steps: number, dtype: 'float64' | 'float32', releaseActivations = false) {
  manualSeed(11);
  const model = new nn.Sequential(
    new nn.Affine(40, 64, { dtype }),
    new nn.BatchNorm1d(64, { dtype }),
    new nn.ReLU(),
    new nn.Dropout(0.2),
    new nn.Affine(64, 48, { dtype }),
    new nn.LayerNorm(48, { dtype }),
    new nn.ReLU(),
    new nn.Affine(48, 40, { dtype }), // 32 x 40 outputs: large enough to be pooled
  );
  const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
  const x = Tensor.randn([32, 40], { dtype });
  const y = Int32Array.from({ length: 32 }, (_, i) => i % 5);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    const h = model.forward(x);
    // Extra ops so elementwise, reshape and reduction gradients pass through the pool too.
    const loss = nn.softmaxCrossEntropy(h.add(h.mul(0.1)).reshape([32, 40]), y).add(h.mul(h).mean().mul(1e-3));
    const before = h.data.slice();
    loss.backward(undefined, { releaseActivations });
    // What the caller still holds must survive the backward pass untouched (unless released).
    if (!releaseActivations && !h.data.every((v, i) => Object.is(v, before[i]))) {
      throw new Error(`step ${s}: the output h changed during backward`);
    }
    opt.step();
    losses.push(loss.item());
  }
  return { losses, state: [...model.stateDict()].map(([k, t]) => [k, Array.from(t.data)] as const) };
}

describe('buffer pool', () => {
  afterEach(() => poolControl({ enabled: true, poison: false, clear: true }));

  it.each(['float64', 'float32'] as const)('a poisoned pool gives the same %s run as no pool, and is used', (dtype) => {
    poolControl({ enabled: false, clear: true });
    const plain = train(6, dtype);
    poolControl({ enabled: true, poison: true, clear: true });
    const before = poolControl().reused;
    const pooled = train(6, dtype);
    expect(poolControl().reused).toBeGreaterThan(before);
    expect(pooled.losses.every(Number.isFinite)).toBe(true);
    expect(pooled.losses).toEqual(plain.losses);
    expect(pooled.state).toEqual(plain.state);
  });

  it.each(['float64', 'float32'] as const)('releasing activations (%s) changes nothing but memory reuse, and keeps leaves', (dtype) => {
    poolControl({ enabled: false, clear: true });
    const plain = train(6, dtype);
    poolControl({ enabled: true, poison: true, clear: true });
    const released = train(6, dtype, true);
    expect(released.losses).toEqual(plain.losses);
    expect(released.state).toEqual(plain.state);
  });

  it('a reshape of a leaf shares its data and is never released', () => {
    poolControl({ poison: true });
    const x = Tensor.randn([40, 40], { requiresGrad: true });
    const before = x.data.slice();
    x.reshape([1600]).mul(2).sum().backward(undefined, { releaseActivations: true });
    expect(x.data).toEqual(before);
  });
});
