/**
 * The kernels' one WebAssembly runtime (src/kernels/wasm/runtime.ts): one memory for both
 * modules, the allocator, tensors resident in that memory (kernels run on them in place, with
 * no copies), views that survive the memory growing, regions that return only when nothing can
 * reach them, and operands that overlap getting their own region.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

import { kernels as kernelsApi, manualSeed, nn, optim, Tensor } from '../../src';
import { gemm, setGemmThreads } from '../../src/kernels/wasm';
import { simdReluForward } from '../../src/kernels/simd';
import {
  frame, heapAlloc, heapFree, heapStats, isHeapBuffer, memoryKey, ResidentFloat32Array, residentArray, runtime, storageKey,
} from '../../src/kernels/wasm/runtime';
import { filled } from '../helpers/arrays';

const root = path.resolve(__dirname, '../..');

beforeAll(() => setGemmThreads(1));

/** Residency is on here unless TAPEGRAD_RESIDENT=0 (the fallback, which the other suites cover). */
const resident = heapStats().resident;
const itResident = resident ? test : test.skip;

describe('one memory, one allocator', () => {
  test('both modules run on one shared memory here (Node.js)', () => {
    const r = runtime();
    expect(r).not.toBeNull();
    expect(r!.shared).toBe(true);
    expect(r!.gemm).not.toBeNull();
    expect(r!.ew).not.toBeNull();
    expect(r!.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  test('regions are 64-byte aligned, disjoint, reused after free, and merged when sizes change', () => {
    const sizes = [1, 63, 64, 65, 1000, 4096, 100_000];
    const got = sizes.map((s) => [heapAlloc(s), s] as const);
    for (const [at] of got) expect(at % 64).toBe(0);
    const sorted = [...got].sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i][0]).toBeGreaterThanOrEqual(sorted[i - 1][0] + sorted[i - 1][1]);
    const [at1000] = got[4];
    heapFree(at1000, 1000);
    expect(heapAlloc(1000)).toBe(at1000); // the same size comes back from its list
    for (const [at, s] of got) heapFree(at, s);
    // Many small freed regions serve one large request without growing the memory.
    const small = Array.from({ length: 64 }, () => heapAlloc(4096));
    const before = heapStats().memoryBytes;
    for (const at of small) heapFree(at, 4096);
    const big = heapAlloc(32 * 4096);
    expect(heapStats().memoryBytes).toBe(before);
    heapFree(big, 32 * 4096);
  });
});

describe('resident tensors', () => {
  itResident('tensors the library makes live in wasm memory, and behave as plain typed arrays', () => {
    const t = Tensor.randn([64, 64], { dtype: 'float32' });
    expect(isHeapBuffer(t.data.buffer)).toBe(true);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(Object.prototype.toString.call(t.data)).toBe('[object Float32Array]');
    expect(t.data.constructor.name).toBe('Float32Array');
    const copy = t.data.slice();
    expect(isHeapBuffer(copy.buffer)).toBe(false); // slice is an ordinary copy
    expect(Array.from(copy)).toEqual(Array.from(t.data));
    // Arrays under 16 KiB stay ordinary: copying them costs little, and the collector alone
    // reclaims them (see RESIDENT_MIN_BYTES).
    expect(isHeapBuffer(Tensor.zeros([3]).data.buffer)).toBe(false);
    expect(isHeapBuffer(Tensor.zeros([4095], { dtype: 'float32' }).data.buffer)).toBe(false);
    expect(isHeapBuffer(Tensor.zeros([4096], { dtype: 'float32' }).data.buffer)).toBe(true);
    expect(isHeapBuffer(Tensor.zeros([2048], { dtype: 'float64' }).data.buffer)).toBe(true);
  });

  itResident('a W2-shaped training step copies only its operands under 16 KiB in or out of wasm memory', () => {
    manualSeed(1);
    const model = new nn.Sequential(
      new nn.Affine(784, 512, { dtype: 'float32' }), new nn.BatchNorm1d(512, { dtype: 'float32' }), new nn.ReLU(),
      new nn.Affine(512, 32, { dtype: 'float32' }),
    );
    const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
    const x = Tensor.randn([256, 784], { dtype: 'float32' });
    const y = Int32Array.from({ length: 256 }, (_, i) => i % 32);
    const step = (): number => {
      opt.zeroGrad();
      const loss = nn.softmaxCrossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      return loss.item();
    };
    step();
    const before = heapStats().stagedBytes;
    const l = step();
    expect(Number.isFinite(l)).toBe(true);
    // BatchNorm's and the biases' vectors (2 KiB each) and the 32 KiB logits' gradient path;
    // without residency the same step copies about 12 MB.
    expect(heapStats().stagedBytes - before).toBeLessThan(200_000);
  });

  itResident('a user array (not resident) is copied in and the result copied back: same bits', () => {
    const [m, n, k] = [64, 80, 96];
    const a = filled(Float32Array, m * k, 1) as Float32Array;
    const b = filled(Float32Array, k * n, 2) as Float32Array;
    const c1 = new Float32Array(m * n);
    const c2 = residentArray(false, m * n, true) as Float32Array;
    const before = heapStats().stagedBytes;
    gemm(a, b, c1, m, n, k);
    expect(heapStats().stagedBytes - before).toBe((m * k + k * n + m * n) * 4);
    const ra = residentArray(false, a.length, false)!;
    ra.set(a);
    const rb = residentArray(false, b.length, false)!;
    rb.set(b);
    const mid = heapStats().stagedBytes;
    gemm(ra, rb, c2, m, n, k);
    expect(heapStats().stagedBytes).toBe(mid); // all resident: in place
    expect(Buffer.from(c2.buffer, c2.byteOffset, c2.byteLength).equals(Buffer.from(c1.buffer))).toBe(true);
  });

  itResident('an output that overlaps an input gets its own region: C may alias A, out may be x', () => {
    const n = 48;
    const a = residentArray(true, n * n, false) as Float64Array;
    a.set(filled(Float64Array, n * n, 3));
    const b = filled(Float64Array, n * n, 4) as Float64Array;
    const want = new Float64Array(n * n);
    gemm(a.slice(), b, want, n, n, n);
    gemm(a, b, a, n, n, n); // C is A, both resident
    expect(Array.from(a)).toEqual(Array.from(want));
    const x = residentArray(false, 5000, false) as Float32Array;
    x.set(filled(Float32Array, 5000, 5));
    const expected = x.map((v) => (v < 0 ? 0 : v));
    simdReluForward(x, x);
    expect(Array.from(x)).toEqual(Array.from(expected));
  });

  itResident('views a user holds survive the memory growing: same values, and kernels still see writes through them', () => {
    const t = Tensor.randn([64, 64], { dtype: 'float64' });
    const view = t.data.subarray(64, 128);
    const values = Array.from(view);
    const size = heapStats().memoryBytes;
    // Grow the memory by allocating more than it holds.
    const big = Tensor.zeros([Math.ceil(size / 8) + 1024 * 1024]);
    expect(heapStats().memoryBytes).toBeGreaterThan(size);
    expect(Array.from(view)).toEqual(values);
    view[0] = 42;
    expect(t.data[64]).toBe(42);
    const out = t.matmul(Tensor.ones([64, 1], { dtype: 'float64' }));
    let sum = 0;
    for (let j = 0; j < 64; j++) sum += t.data[64 + j];
    expect(out.data[1]).toBeCloseTo(sum, 10); // the kernel read the value written through the view
    expect(big.data.length).toBeGreaterThan(0);
    // Arrays made before and after the growth are in the same memory.
    expect(memoryKey(t.data)).toBe(memoryKey(big.data));
    expect(storageKey(view)).toBe(storageKey(t.data));
    expect(storageKey(big.data)).not.toBe(storageKey(t.data));
  });

  test('a frame that cannot get memory runs nothing and leaves the operands as they were', () => {
    const f = frame(false);
    f.scratch(2 ** 40); // beyond any wasm32 memory
    expect(f.ok).toBe(false);
    f.end(false);
    expect(frame(false).ok).toBe(true);
    frame(false).end(false);
  });

  itResident('subarray of a resident array is resident and keeps its parent (a ResidentFloat32Array)', () => {
    const t = Tensor.randn([4096], { dtype: 'float32' });
    const v = t.data.subarray(-8);
    expect(v).toBeInstanceOf(ResidentFloat32Array);
    expect(v.length).toBe(8);
    expect(v.byteOffset).toBe(t.data.byteOffset + 4088 * 4);
    expect(Array.from(v)).toEqual(Array.from(t.data).slice(-8));
    expect(t.data.subarray(5, 2).length).toBe(0);
    expect(Array.from(t.data.subarray(2, -4092))).toEqual(Array.from(t.data).slice(2, 4));
  });
});

/**
 * Garbage collection in a child process (--expose-gc): a region comes back only once its array,
 * and every subarray made from it, has been collected and finalizers have run.
 */
const GC_PROBE = `
require('./src/platform/node');
const { Tensor } = require('./src');
const { heapStats } = require('./src/kernels/wasm/runtime');
const { poolControl } = require('./src/dtype');
poolControl({ maxBytes: 0 }); // no pool: regions come back only through the collector
const tick = () => new Promise((r) => setTimeout(r, 20));
(async () => {
  let t = Tensor.randn([4000], { dtype: 'float64' });
  const sub = t.data.subarray(100, 110);
  const kept = Array.from(sub);
  let u = Tensor.randn([4000], { dtype: 'float64' });
  const before = heapStats().residentBytes;
  t = null; u = null;
  for (let i = 0; i < 5; i++) { global.gc(); await tick(); }
  const afterDrop = heapStats().residentBytes; // u's region is back, t's is held by sub
  // Reuse freed memory: fill fresh arrays of every size with a marker.
  const fresh = [];
  for (let i = 0; i < 50; i++) { const z = Tensor.zeros([4000], { dtype: 'float64' }); z.data.fill(-7); fresh.push(z); }
  const subIntact = Array.from(sub).every((v, i) => v === kept[i]);
  process.stdout.write(JSON.stringify({ before, afterDrop, subIntact }));
})();
`;

itResident('a region returns after its array is collected, and not while a subarray of it is reachable', () => {
  const out = execFileSync(process.execPath, ['--expose-gc', '-r', 'ts-node/register/transpile-only', '-e', GC_PROBE], {
    cwd: root, encoding: 'utf8',
  });
  const r = JSON.parse(out) as { before: number; afterDrop: number; subIntact: boolean };
  expect(r.afterDrop).toBe(r.before - 32000); // u came back; t is kept by its subarray
  expect(r.subIntact).toBe(true);
});

/** A few training steps in a child process; prints the losses and the final weights' bytes. */
const TRAIN_PROBE = `
require('./src/platform/node');
const tg = require('./src');
const { heapStats } = require('./src/kernels/wasm/runtime');
tg.manualSeed(3);
const model = new tg.nn.Sequential(new tg.nn.Affine(50, 40, { dtype: 'float32' }), new tg.nn.BatchNorm1d(40, { dtype: 'float32' }),
  new tg.nn.ReLU(), new tg.nn.Affine(40, 7, { dtype: 'float32' }));
const opt = new tg.optim.Adam(model.parameters(), { lr: 1e-2 });
const x = tg.Tensor.randn([64, 50], { dtype: 'float32' });
const y = Int32Array.from({ length: 64 }, (_, i) => i % 7);
const losses = [];
for (let s = 0; s < 5; s++) {
  opt.zeroGrad();
  const loss = tg.nn.softmaxCrossEntropy(model.forward(x), y);
  loss.backward();
  opt.step();
  losses.push(loss.item());
}
const w = model.parameters().map((p) => Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).toString('base64')).join(',');
process.stdout.write(JSON.stringify({ resident: heapStats().resident, losses, w }));
`;

test('resident or not, training gives the same bits (TAPEGRAD_RESIDENT=0 turns residency off)', () => {
  const run = (env: Record<string, string>) => JSON.parse(execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', TRAIN_PROBE], {
    cwd: root, encoding: 'utf8', env: { ...process.env, ...env },
  })) as { resident: boolean; losses: number[]; w: string };
  const on = run({ TAPEGRAD_RESIDENT: '1' });
  const off = run({ TAPEGRAD_RESIDENT: '0' });
  expect(on.resident).toBe(true);
  expect(off.resident).toBe(false);
  expect(on.losses[4]).toBeLessThan(on.losses[0]);
  expect(off.losses).toEqual(on.losses);
  expect(off.w).toBe(on.w);
});

itResident('kernels.setResident(false) makes ordinary arrays from then on (structuredClone then copies); true turns it back on', () => {
  const before = Tensor.zeros([8192], { dtype: 'float32' });
  try {
    expect(kernelsApi.setResident(false)).toBe(false);
    expect(heapStats().resident).toBe(false);
    const t = Tensor.randn([8192], { dtype: 'float32' });
    expect(isHeapBuffer(t.data.buffer)).toBe(false);
    expect(Object.prototype.toString.call(t.data.buffer)).toBe('[object ArrayBuffer]');
    const clone = structuredClone(t.data);
    clone[0] = 123;
    expect(t.data[0]).not.toBe(123); // a real copy
    expect(isHeapBuffer(before.data.buffer)).toBe(true); // arrays made earlier keep their memory
    // A resident array's structuredClone shares its memory (documented): the reason for the switch.
    const shared = structuredClone(before.data);
    shared[1] = 7;
    expect(before.data[1]).toBe(7);
  } finally {
    expect(kernelsApi.setResident(true)).toBe(true);
  }
  expect(isHeapBuffer(Tensor.zeros([8192], { dtype: 'float32' }).data.buffer)).toBe(true);
  expect(() => kernelsApi.setResident('no' as unknown as boolean)).toThrow(/^setResident: on must be a boolean, got "no"$/);
});

/**
 * A loop that drops a large result every iteration (W1's `a.matmul(b)`), yielding now and then:
 * the engine must see the memory those arrays hold, collect them, and their regions come back,
 * so the loop never runs out of its resident budget (192 MiB here) and never falls back to copies.
 */
const DROP_PROBE = `
require('./src/platform/node');
const tg = require('./src');
(async () => {
  const n = 512;
  const a = tg.Tensor.randn([n, n], { dtype: 'float32' }), b = tg.Tensor.randn([n, n], { dtype: 'float32' });
  let peak = 0;
  for (let r = 0; r < 60; r++) {
    for (let i = 0; i < 10; i++) a.matmul(b); // 1 MiB each, dropped: 600 MiB in all
    peak = Math.max(peak, tg.kernels.heapStats().residentBytes);
    await new Promise((res) => setTimeout(res, 1));
  }
  const s = tg.kernels.heapStats();
  process.stdout.write(JSON.stringify({ peak, budget: s.residentBudget, staged: s.stagedBytes }));
})();
`;

itResident('dropped resident results are collected and their regions reused: a loop stays within its budget', () => {
  const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', DROP_PROBE], {
    cwd: root, encoding: 'utf8', env: { ...process.env, TAPEGRAD_RESIDENT_MB: '192' },
  });
  const r = JSON.parse(out) as { peak: number; budget: number; staged: number };
  expect(r.budget).toBe(192 * 1024 * 1024);
  expect(r.peak).toBeLessThan(r.budget);
  expect(r.staged).toBe(0);
});
