/**
 * PyTorch's state-dict layout and BatchNorm convention, against files and numbers PyTorch 1.13
 * wrote (test/fixtures/gen_torch_statedict.py): the same eval outputs from a loaded file, and the
 * same training trajectory from the same initial weights.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fx from '../fixtures/torch_statedict.json';
import { io, kernels, nn, noGrad, optim, ops, StateDictError, Tensor, tensor, ValueError, type DType } from '../../src';
import { maxRelError } from '../helpers/close';

const FIX = join(__dirname, '..', 'fixtures');
const TAGS = [['float64', 'f64', 1e-12], ['float32', 'f32', 1e-6]] as const;

function model(dtype: DType, convention: 'seed' | 'torch' = 'torch'): nn.Sequential {
  return new nn.Sequential(
    new nn.Affine(4, 8, { dtype }),
    new nn.BatchNorm1d(8, { dtype, convention }),
    new nn.ReLU(),
    new nn.Affine(8, 3, { dtype }),
  );
}

const asDType = (rows: number[][], dtype: DType): Tensor => {
  const t = tensor(rows);
  return dtype === 'float64' ? t : new Tensor(Float32Array.from(t.data), t.shape);
};

/** Largest |a - b| / max(1, |b|) over all values. */
function maxErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

describe('the names and layouts', () => {
  it("are PyTorch's nn.Sequential ones, with Linear weights [out, in] and num_batches_tracked listed as int64", () => {
    const m = model('float64');
    const sd = m.stateDict({ layout: 'torch' });
    expect([...sd.keys()]).toEqual([
      '0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '3.weight', '3.bias',
    ]);
    expect(sd.get('0.weight')!.shape).toEqual([8, 4]);
    expect(sd.get('3.weight')!.shape).toEqual([3, 8]);
    expect(sd.get('1.num_batches_tracked')!.shape).toEqual([]);
    expect([...sd.int64Keys]).toEqual(['1.num_batches_tracked']);
    const w = (m.layers[0] as nn.Affine).weight;
    for (let i = 0; i < 4; i++) for (let o = 0; o < 8; o++) expect(sd.get('0.weight')!.data[o * 4 + i]).toBe(w.data[i * 8 + o]);
    // Where the layouts agree the tensor is the module's own, as in tapegrad's layout.
    expect(sd.get('1.running_mean')).toBe((m.layers[1] as nn.BatchNorm1d).runningMean);
    // tapegrad's own layout is unchanged.
    expect([...m.stateDict().keys()]).toEqual(['0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias', '1.runningMean', '1.runningVar']);
  });

  it("maps a custom module's fields by name, and LayerNorm as weight/bias", () => {
    class Block extends nn.Module {
      proj = new nn.Affine(3, 2);
      norm = new nn.LayerNorm(2);
      scale = tensor([1, 2], { requiresGrad: true });
      forward(x: Tensor): Tensor {
        return this.norm.forward(this.proj.forward(x)).mul(this.scale);
      }
    }
    const a = new Block();
    const sd = a.stateDict({ layout: 'torch' });
    expect([...sd.keys()]).toEqual(['scale', 'proj.weight', 'proj.bias', 'norm.weight', 'norm.bias']);
    expect(sd.get('proj.weight')!.shape).toEqual([2, 3]);
    const b = new Block();
    b.loadStateDict(io.decodeSafetensors(io.encodeSafetensors(sd)).tensors, { layout: 'torch' });
    for (const [k, t] of b.stateDict()) expect(Array.from(t.data)).toEqual(Array.from(a.stateDict().get(k)!.data));
  });

  it('round-trips through a file into a fresh model exactly, counter included', () => {
    const a = model('float64');
    a.forward(tensor([[1, 2, 3, 4], [0, -1, 2, 5], [3, 3, 1, 0]]));
    a.forward(tensor([[2, 2, 3, 4], [0, -1, 1, 5]]));
    const path = join(tmpdir(), `tapegrad-torch-layout-${process.pid}.safetensors`);
    io.writeSafetensors(path, a.stateDict({ layout: 'torch' }));
    const b = model('float64');
    b.loadStateDict(io.readSafetensors(path).tensors, { layout: 'torch' });
    rmSync(path);
    expect((b.layers[1] as nn.BatchNorm1d).numBatchesTracked).toBe(2);
    for (const [k, t] of a.stateDict()) expect(b.stateDict().get(k)!.data).toEqual(t.data);
  });
});

describe('loading a file PyTorch wrote', () => {
  it.each(TAGS)('%s: gives the eval outputs PyTorch gave', (dtype, tag, tol) => {
    const m = model(dtype);
    const { tensors, metadata } = io.readSafetensors(join(FIX, `torch_statedict_${tag}.safetensors`));
    expect(metadata.format).toBe('pt');
    expect(m.loadStateDict(tensors, { layout: 'torch' })).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect((m.layers[1] as nn.BatchNorm1d).numBatchesTracked).toBe(5);
    const y = noGrad(() => m.eval().forward(asDType(fx.x_eval, dtype)));
    expect(maxErr(y.data, fx[tag].eval_outputs.flat())).toBeLessThan(tol);
  });

  it('lists every missing, unexpected and mismatched key for another architecture, and changes nothing', () => {
    const { tensors } = io.readSafetensors(join(FIX, 'torch_statedict_f64.safetensors'));
    const other = new nn.Sequential(new nn.Affine(4, 9), new nn.ReLU(), new nn.BatchNorm1d(9, { convention: 'torch' }), new nn.Affine(9, 3));
    const before = [...other.stateDict()].map(([k, t]) => [k, Array.from(t.data)]);
    let msg = '';
    try {
      other.loadStateDict(tensors, { layout: 'torch' });
    } catch (e) {
      expect(e).toBeInstanceOf(StateDictError);
      msg = (e as Error).message;
    }
    expect(msg).toContain("missing keys ['2.weight', '2.bias', '2.running_mean', '2.running_var', '2.num_batches_tracked']");
    expect(msg).toContain("unexpected keys ['1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked']");
    expect(msg).toContain("'0.weight': expected shape [9, 4], got [8, 4]");
    expect(msg).toContain("'0.bias': expected shape [9], got [8]");
    expect(msg).toContain("'3.weight': expected shape [3, 9], got [3, 8]");
    expect(msg).toMatch(/nothing was loaded$/);
    expect([...other.stateDict()].map(([k, t]) => [k, Array.from(t.data)])).toEqual(before);
  });

  it('refuses a float32 file in a float64 model unless converted, and a non-count num_batches_tracked', () => {
    const path = join(FIX, 'torch_statedict_f32.safetensors');
    const m = model('float64');
    expect(() => m.loadStateDict(io.readSafetensors(path).tensors, { layout: 'torch' })).toThrow(/'0\.weight': expected dtype 'float64', got 'float32'/);
    m.loadStateDict(io.readSafetensors(path, { convert: 'float64' }).tensors, { layout: 'torch' });
    const y = noGrad(() => m.eval().forward(tensor(fx.x_eval)));
    expect(maxErr(y.data, fx.f32.eval_outputs.flat())).toBeLessThan(1e-6);

    const sd = m.stateDict({ layout: 'torch' });
    sd.set('1.num_batches_tracked', tensor(2.5));
    const w0 = Array.from((m.layers[0] as nn.Affine).weight.data);
    expect(() => m.loadStateDict(sd, { layout: 'torch' })).toThrow(/'1\.num_batches_tracked': expected a count \(a non-negative integer\), got 2\.5/);
    expect(Array.from((m.layers[0] as nn.Affine).weight.data)).toEqual(w0);
    expect(() => m.stateDict({ layout: 'pytorch' as 'torch' })).toThrow(ValueError);
    expect(() => m.loadStateDict(sd, { layout: 'keras' as 'torch' })).toThrow(/opts\.layout must be 'tapegrad' or 'torch', got "keras"/);
  });
});

describe("BatchNorm1d in PyTorch's convention", () => {
  it.each(TAGS)('%s: trains 5 SGD steps from PyTorch’s initial weights to PyTorch’s losses and weights', (dtype, tag, tol) => {
    const m = model(dtype);
    m.loadStateDict(io.readSafetensors(join(FIX, `torch_statedict_init_${tag}.safetensors`)).tensors, { layout: 'torch' });
    const opt = new optim.SGD(m.parameters(), { lr: fx.lr });
    m.train();
    const losses: number[] = [];
    for (const b of fx.batches) {
      opt.zeroGrad();
      const loss = ops.softmaxCrossEntropy(m.forward(asDType(b.x, dtype)), b.y);
      loss.backward();
      opt.step();
      losses.push(loss.data[0]);
    }
    // The losses alone would match in either convention (train mode normalizes with batch
    // statistics); the running statistics among the weights below are what the convention decides.
    expect(maxErr(losses, fx[tag].losses)).toBeLessThan(tol);
    const want = io.readSafetensors(join(FIX, `torch_statedict_${tag}.safetensors`)).tensors;
    const got = m.stateDict({ layout: 'torch' });
    expect([...got.keys()]).toEqual([...want.keys()]);
    for (const [k, t] of want) expect([k, maxErr(got.get(k)!.data, t.data) < tol]).toEqual([k, true]);
  });

  it('updates the running statistics by PyTorch’s rule, and the seed’s convention stays the default', () => {
    const x = tensor([[1, 2], [3, 6], [5, 1]]);
    const torch = new nn.BatchNorm1d(2, { convention: 'torch' });
    expect(torch.momentum).toBe(0.1);
    expect(Array.from(torch.runningVar.data)).toEqual([1, 1]);
    torch.forward(x);
    // mean [3, 3], biased var [8/3, 14/3], unbiased [4, 7]
    expect(maxRelError(torch.runningMean.data, new Float64Array([0.1 * 3, 0.1 * 3]))).toBeLessThan(1e-15);
    expect(maxRelError(torch.runningVar.data, new Float64Array([0.1 * 4 + 0.9, 0.1 * 7 + 0.9]))).toBeLessThan(1e-15);

    const seed = new nn.BatchNorm1d(2);
    expect(seed.momentum).toBe(0.9);
    expect(Array.from(seed.runningVar.data)).toEqual([0, 0]);
    seed.forward(x);
    expect(maxRelError(seed.runningVar.data, new Float64Array([0.1 * (8 / 3), 0.1 * (14 / 3)]))).toBeLessThan(1e-15);
    expect(seed.numBatchesTracked).toBe(1);
    seed.eval().forward(x);
    expect(seed.numBatchesTracked).toBe(1);

    // Both normalize the batch with its biased variance: same outputs.
    const a = new nn.BatchNorm1d(2, { convention: 'torch' }).forward(x);
    const b = new nn.BatchNorm1d(2).forward(x);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(String(torch)).toBe("BatchNorm1d(2, eps=0.00001, momentum=0.1, convention='torch')");
    expect(() => new nn.BatchNorm1d(2, { convention: 'keras' as 'torch' })).toThrow(/BatchNorm1d: opts\.convention must be 'seed' or 'torch', got "keras"/);
  });

  it.each(['float64', 'float32'] as const)('%s: the JS and SIMD kernels give the same running statistics, matching PyTorch’s formula', (dtype) => {
    const n = 64;
    const d = 16;
    const x = new Tensor(dtype === 'float64' ? new Float64Array(n * d) : new Float32Array(n * d), [n, d]);
    for (let i = 0; i < n * d; i++) x.data[i] = Math.sin(i * 0.7) * 3 + (i % d);
    const run = (backend: 'js' | 'simd') => {
      const prev = kernels.setElementwiseBackend(backend);
      try {
        const bn = new nn.BatchNorm1d(d, { convention: 'torch', dtype, momentum: 0.3 });
        bn.forward(x);
        bn.forward(x);
        return [Array.from(bn.runningMean.data), Array.from(bn.runningVar.data)];
      } finally {
        kernels.setElementwiseBackend(prev);
      }
    };
    const js = run('js');
    expect(run('simd')).toEqual(js);
    // PyTorch's rule, twice, in float64 from the same inputs.
    const mean = new Float64Array(d);
    const uvar = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      for (let i = 0; i < n; i++) mean[j] += x.data[i * d + j] / n;
      for (let i = 0; i < n; i++) uvar[j] += (x.data[i * d + j] - mean[j]) ** 2 / (n - 1);
    }
    const rm = Array.from(mean, (m) => 0.7 * (0.3 * m) + 0.3 * m);
    const rv = Array.from(uvar, (v) => 0.7 * (0.7 + 0.3 * v) + 0.3 * v);
    const tol = dtype === 'float64' ? 1e-13 : 1e-5;
    expect(maxErr(js[0], rm)).toBeLessThan(tol);
    expect(maxErr(js[1], rv)).toBeLessThan(tol);
  });
});
