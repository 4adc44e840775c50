/**
 * Buffer reuse: the tape recycles only arrays nothing can reach. With poisoning on, every
 * recycled array is filled with NaN, so a live array recycled by mistake would corrupt the
 * run; the poisoned run must match a run without any reuse bit for bit.
 */
import { manualSeed, nn, optim, Tensor } from '../../src';
import { poolControl } from '../../src/dtype';
import { setElementwiseBackend, type ElementwiseBackend } from '../../src/kernels/backend';
import { setGemmBackend, type GemmBackend } from '../../src/kernels/gemm';

type DType = 'float64' | 'float32';

function train(steps: number, dtype: DType) {
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
    loss.backward();
    // What the caller still holds must survive the backward pass untouched.
    if (!h.data.every((v, i) => Object.is(v, before[i]))) {
      throw new Error(`step ${s}: the output h changed during backward`);
    }
    opt.step();
    losses.push(loss.item());
  }
  return { losses, state: [...model.stateDict()].map(([k, t]) => [k, Array.from(t.data)] as const) };
}

describe('buffer pool', () => {
  afterEach(() => poolControl({ enabled: true, poison: false, clear: true }));

  // Kernels write their outputs into pooled arrays without zeroing them first
  // (allocateUninit): under poison, an element a kernel fails to write, or a kernel that adds
  // into its output, reads NaN. Each backend has its own loops, so each is run.
  const backends: [DType, ElementwiseBackend, GemmBackend][] = [];
  for (const dtype of ['float64', 'float32'] as const) {
    for (const [ew, gm] of [['auto', 'auto'], ['js', 'js'], ['simd', 'wasm']] as const) backends.push([dtype, ew, gm]);
  }
  it.each(backends)('a poisoned pool gives the same %s run as no pool, and is used (elementwise %s, gemm %s)', (dtype, ew, gm) => {
    const prevEw = setElementwiseBackend(ew);
    const prevGm = setGemmBackend(gm);
    try {
      poolControl({ enabled: false, clear: true });
      const plain = train(6, dtype);
      poolControl({ enabled: true, poison: true, clear: true });
      const before = poolControl().reused;
      const pooled = train(6, dtype);
      expect(poolControl().reused).toBeGreaterThan(before);
      expect(pooled.losses.every(Number.isFinite)).toBe(true);
      expect(pooled.losses).toEqual(plain.losses);
      expect(pooled.state).toEqual(plain.state);
    } finally {
      setElementwiseBackend(prevEw);
      setGemmBackend(prevGm);
    }
  });

  it('a reshape of a leaf shares its data and is never recycled', () => {
    poolControl({ poison: true });
    const x = Tensor.randn([40, 40], { requiresGrad: true });
    const before = x.data.slice();
    x.reshape([1600]).mul(2).sum().backward();
    expect(x.data).toEqual(before);
  });

  describe("nn.Sequential's intermediates", () => {
    const X = () => Tensor.randn([16, 8], { dtype: 'float32' });
    const loss = (out: Tensor) => out.mul(out).sum();

    it('are recycled by a plain backward', () => {
      // Arrays served from the pool in a steady-state step, with the library's ReLU between
      // the two Affines and with one whose forward is wrapped by user code (which might keep
      // what it sees, so neither neighbour of it is recycled): the two intermediates make the
      // difference.
      const wrapped = (): nn.ReLU => {
        const r = new nn.ReLU();
        const orig = r.forward.bind(r);
        r.forward = (h: Tensor) => orig(h);
        return r;
      };
      const reusedPerStep = (relu: nn.Module): number => {
        manualSeed(3);
        const model = new nn.Sequential(new nn.Affine(8, 32, { dtype: 'float32' }), relu, new nn.Affine(32, 4, { dtype: 'float32' }));
        const x = X();
        for (let s = 0; s < 3; s++) loss(model.forward(x)).backward();
        const before = poolControl().reused;
        loss(model.forward(x)).backward();
        return poolControl().reused - before;
      };
      expect(reusedPerStep(new nn.ReLU()) - reusedPerStep(wrapped())).toBe(2);
    });
  });

  // The "steady state allocates nothing per op": after warm-up, every array a step
  // needs comes from the pool, except the model's output, which the caller may keep.
  it.each([
    ['float32', 'SGD'], ['float64', 'Adam'],
  ] as const)('a steady-state %s %s step makes no fresh arrays but its output', (dtype, opt) => {
    manualSeed(5);
    const model = new nn.Sequential(
      new nn.Affine(6, 32, { dtype }), new nn.BatchNorm1d(32, { dtype }), new nn.ReLU(),
      new nn.Affine(32, 32, { dtype }), new nn.LayerNorm(32, { dtype }), new nn.ReLU(), new nn.Dropout(0.1), new nn.Affine(32, 5, { dtype }),
    );
    const o = opt === 'SGD' ? new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 }) : new optim.Adam(model.parameters(), { lr: 1e-3 });
    const x = Tensor.randn([16, 6], { dtype });
    const y = Int32Array.from({ length: 16 }, (_, i) => i % 5);
    const step = () => {
      o.zeroGrad();
      nn.softmaxCrossEntropy(model.forward(x), y).backward();
      o.step();
    };
    for (let s = 0; s < 3; s++) step();
    const before = poolControl().fresh;
    for (let s = 0; s < 5; s++) step();
    expect(poolControl().fresh - before).toBe(5);
  });
});

