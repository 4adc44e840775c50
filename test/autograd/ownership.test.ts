/**
 * The ownership rule: an array is recycled only when the library can prove no user code can
 * reach it. Every way a user can hold on to a value (kept activations, hooks by wrapping,
 * prototype patches, replaced layers, Proxies, user modules keeping intermediates, outputs
 * kept across steps, noGrad outputs, views) runs here with the pool's poison mode on: a
 * recycled array is filled with NaN at once, and handed to the next allocation, so any value
 * that was wrongly recycled changes and the comparison with its copy fails.
 */
import { manualSeed, nn, noGrad, optim, Tensor, Trainer, poolControl } from '../../src';
import { allocate } from '../../src/dtype';
import { record } from '../../src/autograd/tape';
import { sharesMemory } from '../helpers/arrays';

type Kept = { t: Tensor; copy: Float32Array | Float64Array; what: string };

const keep = (t: Tensor, what: string): Kept => ({ t, copy: t.data.slice(), what });

function expectUnchanged(kept: readonly Kept[]): void {
  expect(kept.length).toBeGreaterThan(0);
  for (const k of kept) {
    const same = k.t.data.length === k.copy.length && k.t.data.every((v, i) => Object.is(v, k.copy[i]));
    if (!same) throw new Error(`${k.what}: a value the user kept changed after later steps`);
    // Nothing fresh may share its memory either.
    for (let i = 0; i < 8; i++) {
      expect(sharesMemory(Tensor.zeros(k.t.shape, { dtype: k.t.dtype }).data, k.t.data)).toBe(false);
    }
  }
}

const dtype = 'float32' as const;
const X = () => Tensor.randn([16, 8], { dtype });
const Y = Int32Array.from({ length: 16 }, (_, i) => i % 4);

function makeModel(middle: nn.Module = new nn.ReLU()): nn.Sequential {
  return new nn.Sequential(
    new nn.Affine(8, 32, { dtype }), new nn.BatchNorm1d(32, { dtype }), middle, new nn.Affine(32, 32, { dtype }),
    new nn.ReLU(), new nn.Affine(32, 4, { dtype }),
  );
}

/** Trains `model` for `steps` steps, calling `afterForward` with each step's output. */
function trainSteps(model: nn.Module, steps: number, afterForward: (out: Tensor, step: number) => void = () => {}): void {
  const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const x = X();
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    const out = model.forward(x);
    afterForward(out, s);
    nn.softmaxCrossEntropy(out, Y).backward();
    opt.step();
  }
}

describe('nothing a user holds is ever overwritten (poison mode on)', () => {
  beforeEach(() => {
    manualSeed(21);
    poolControl({ enabled: true, poison: true, clear: true });
  });
  afterAll(() => poolControl({ poison: false, clear: true }));

  it('an activation captured by wrapping a layer instance\'s forward', () => {
    const relu = new nn.ReLU();
    const orig = relu.forward.bind(relu);
    let captured: Tensor | undefined;
    relu.forward = (h: Tensor) => {
      captured ??= h;
      return orig(h);
    };
    const model = makeModel(relu);
    trainSteps(model, 1);
    const kept = [keep(captured!, 'captured input of the wrapped ReLU')];
    trainSteps(model, 5);
    expectUnchanged(kept);
  });

  it('an activation captured by patching nn.ReLU.prototype.forward', () => {
    const orig = nn.ReLU.prototype.forward;
    const seen: Tensor[] = [];
    nn.ReLU.prototype.forward = function (this: nn.ReLU, h: Tensor) {
      seen.push(h);
      const out = orig.call(this, h);
      seen.push(out);
      return out;
    };
    try {
      const model = makeModel();
      trainSteps(model, 1);
      const kept = seen.map((t, i) => keep(t, `patched ReLU tensor ${i}`));
      trainSteps(model, 5);
      expectUnchanged(kept);
    } finally {
      nn.ReLU.prototype.forward = orig;
    }
  });

  it('an activation seen by a layer put into seq.layers after construction', () => {
    class Recorder extends nn.Module {
      seen: Tensor[] = [];
      forward(x: Tensor): Tensor {
        this.seen.push(x);
        return x.relu();
      }
    }
    const model = makeModel();
    trainSteps(model, 3); // first without the recorder
    const recorder = new Recorder();
    model.layers[2] = recorder;
    trainSteps(model, 1);
    const kept = recorder.seen.map((t) => keep(t, 'input seen by the replacing layer'));
    trainSteps(model, 5);
    expectUnchanged(kept);
  });

  it('activations seen through a Proxy or a getter-defined forward', () => {
    const relu = new nn.ReLU();
    const seen: Tensor[] = [];
    const proxy = new Proxy(relu, {
      get(target, key, receiver) {
        if (key === 'forward') return (h: Tensor) => { seen.push(h); return target.forward(h); };
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const relu2 = new nn.ReLU();
    const orig2 = nn.ReLU.prototype.forward;
    Object.defineProperty(relu2, 'forward', { get: () => (h: Tensor) => { seen.push(h); return orig2.call(relu2, h); } });
    const model = new nn.Sequential(new nn.Affine(8, 32, { dtype }), proxy, new nn.Affine(32, 32, { dtype }), relu2, new nn.Affine(32, 4, { dtype }));
    trainSteps(model, 1);
    const kept = seen.map((t) => keep(t, 'tensor seen through a Proxy/getter'));
    expect(kept).toHaveLength(2);
    trainSteps(model, 5);
    expectUnchanged(kept);
  });

  it('a subclass that keeps its output, a module that keeps its input, eval Dropout', () => {
    class KeepingAffine extends nn.Affine {
      kept: Tensor | null = null;
      override forward(x: Tensor): Tensor {
        return (this.kept = super.forward(x));
      }
    }
    class Spy extends nn.Module {
      seen: Tensor | null = null;
      forward(x: Tensor): Tensor {
        this.seen = x;
        return x.mul(1);
      }
    }
    const first = new KeepingAffine(8, 32, { dtype });
    const spy = new Spy();
    const drop = new nn.Dropout(0.5);
    const model = new nn.Sequential(first, new nn.ReLU(), new nn.Affine(32, 32, { dtype }), spy, new nn.ReLU(), new nn.Affine(32, 4, { dtype }), drop);
    drop.eval();
    let out: Tensor | undefined;
    trainSteps(model, 1, (o) => (out = o));
    const kept = [keep(first.kept!, 'kept output'), keep(spy.seen!, 'kept input'), keep(out!, 'model output')];
    trainSteps(model, 5);
    expectUnchanged(kept);
  });

  it('intermediates a user module keeps (this.last = x.mul(2)) under the Trainer', () => {
    class Keeper extends nn.Module {
      last: Tensor | null = null;
      view: Tensor | null = null;
      forward(x: Tensor): Tensor {
        this.last = x.mul(2);
        this.view = this.last.reshape([-1]);
        return this.last.relu();
      }
    }
    const keeper = new Keeper();
    const model = new nn.Sequential(new nn.Affine(8, 32, { dtype }), keeper, new nn.Affine(32, 4, { dtype }));
    const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
    const x = Tensor.randn([64, 8], { dtype });
    const y = Int32Array.from({ length: 64 }, (_, i) => i % 4);
    const kept: Kept[] = [];
    const trainer = new Trainer(model, {
      optimizer: opt, epochs: 3, batchSize: 16,
      callbacks: { onBatchEnd: () => { kept.push(keep(keeper.last!, 'kept intermediate'), keep(keeper.view!, 'view of it')); } },
    });
    trainer.fit({ x, y });
    expect(kept.length).toBe(2 * 3 * 4);
    expectUnchanged(kept);
  });

  it('outputs kept across steps, noGrad outputs, detached views', () => {
    const model = makeModel();
    const x = X();
    const kept: Kept[] = [];
    trainSteps(model, 4, (out, s) => {
      kept.push(keep(out, `output of step ${s}`), keep(out.detach(), `detached output ${s}`));
      const evalOut = noGrad(() => model.forward(x));
      kept.push(keep(evalOut, `noGrad output ${s}`));
    });
    trainSteps(model, 4);
    expectUnchanged(kept);
  });

  it('gradients of leaves are the user\'s', () => {
    const model = makeModel();
    trainSteps(model, 2);
    const kept = model.parameters().map((p, i) => keep(p.grad!, `grad of parameter ${i}`));
    const other = makeModel();
    trainSteps(other, 4);
    expectUnchanged(kept);
  });

  it('intermediates reused around every sealed activation leave a run bit-identical to one without reuse', () => {
    const run = (): number[] => {
      manualSeed(5);
      const model = new nn.Sequential(new nn.Affine(8, 32, { dtype }), new nn.Softmax(), new nn.Affine(32, 32, { dtype }),
        new nn.LogSoftmax(), new nn.Affine(32, 32, { dtype }), new nn.Tanh(), new nn.Affine(32, 32, { dtype }), new nn.GELU(),
        new nn.Affine(32, 32, { dtype }), new nn.SiLU(), new nn.Affine(32, 32, { dtype }), new nn.Sigmoid(),
        new nn.Affine(32, 32, { dtype }), new nn.ELU(), new nn.Affine(32, 32, { dtype }), new nn.Softplus(),
        new nn.Affine(32, 32, { dtype }), new nn.LeakyReLU(), new nn.Affine(32, 4, { dtype }));
      const losses: number[] = [];
      trainSteps(model, 6, (out) => losses.push(out.data[0]));
      return losses;
    };
    poolControl({ enabled: false, clear: true });
    const plain = run();
    poolControl({ enabled: true, poison: true, clear: true });
    const before = poolControl().reused;
    const pooled = run();
    expect(poolControl().reused).toBeGreaterThan(before);
    expect(pooled).toEqual(plain);
  });

  it('a backward rule that returns one array for two inputs', () => {
    // f(p, q) = sum(p) + sum(q); its rule returns the same array for both. p also flows into a
    // second op, so p already holds a gradient when the shared array arrives: the walk adds it
    // into p's and must still hand q an array nobody else owns.
    const x = Tensor.randn([4, 8], { requiresGrad: true });
    const y = Tensor.randn([4, 8], { requiresGrad: true });
    const p = x.mul(1);
    const q = y.mul(1);
    const out = Tensor.zeros([]);
    const f = record(out, 'sharedRule', [p, q], (g) => {
      const r = allocate('float64', 32).fill(g[0]);
      return [r, r];
    });
    f.add(p.sum()).backward(); // p.sum() is walked first, so p holds a gradient when f is
    for (let i = 0; i < 20; i++) Tensor.randn([4, 8]).mul(3).sum(); // fresh allocations reuse pooled arrays
    expect(Array.from(x.grad!.data)).toEqual(new Array(32).fill(2));
    expect(Array.from(y.grad!.data)).toEqual(new Array(32).fill(1));
  });
});

describe('the pool is bounded by recency and size', () => {
  afterEach(() => poolControl({ maxBytes: 256 * 1024 * 1024, maxIdle: 32768, poison: false, clear: true }));

  const step = (n: number) => {
    const a = Tensor.zeros([n, 64], { requiresGrad: true });
    a.mul(2).relu().sum().backward();
  };

  it('gives memory back: lengths not asked for in maxIdle requests are dropped', () => {
    poolControl({ clear: true, maxIdle: 2000 });
    for (let n = 2; n < 200; n++) step(n);
    const full = poolControl().pooledBytes;
    expect(full).toBeGreaterThan(1e6);
    for (let i = 0; i < 2000; i++) step(3);
    expect(poolControl().pooledBytes).toBeLessThan(full / 20);
  });

  it('a later fixed-size loop is served from the pool as well after it filled with other lengths', () => {
    const freshPerStep = (pollute: boolean): number => {
      poolControl({ clear: true, maxBytes: 1024 * 1024, maxIdle: 1e9 });
      if (pollute) {
        for (let n = 300; n < 500; n++) step(n); // fills the pool with lengths not needed again
        expect(poolControl().pooledBytes).toBeGreaterThan(0.9 * 1024 * 1024);
      }
      for (let i = 0; i < 3; i++) step(250);
      const before = poolControl().fresh;
      for (let i = 0; i < 10; i++) step(250);
      expect(poolControl().pooledBytes).toBeLessThanOrEqual(1024 * 1024);
      return (poolControl().fresh - before) / 10;
    };
    // Per step, what the user may hold is fresh (the leaf, its grad, the op outputs); what the
    // tape proved dead is served from the pool, full of stale lengths or not.
    expect(freshPerStep(true)).toBe(freshPerStep(false));
  });

  it('rejects bad settings and unknown options, changing nothing', () => {
    const before = poolControl();
    expect(() => poolControl({ maxBytes: -1 })).toThrow(/poolControl: opts.maxBytes must be a non-negative integer, got number -1/);
    expect(() => poolControl({ poision: true } as never)).toThrow(/poision is not an option of poolControl/);
    expect(() => poolControl(null as never)).toThrow(/poolControl: opts must be an object/);
    expect(poolControl()).toEqual(before);
  });
});
