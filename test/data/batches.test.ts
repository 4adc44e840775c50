/** batches(): seeded shuffles, every row once, fresh arrays, dropLast, Tensor targets, errors. */
import { ArgumentError, batches, manualSeed, randperm, ShapeError, Tensor, ValueError } from '../../src';
import { expectThrows } from '../helpers/errors';
import { sharesMemory } from '../helpers/arrays';

const n = 10;
const x = new Tensor(Float64Array.from({ length: n * 3 }, (_, i) => i), [n, 3]);
const y = Int32Array.from({ length: n }, (_, i) => i % 4);

describe('batches', () => {
  it('visits every row once, in randperm order from the seeded PRNG, rows and labels matched', () => {
    manualSeed(9);
    const order = randperm(n);
    manualSeed(9);
    const got = [...batches({ x, y }, { batchSize: 4 })];
    expect(got.map((b) => b.x.shape)).toEqual([[4, 3], [4, 3], [2, 3]]);
    const rows = got.flatMap((b) => Array.from({ length: b.x.shape[0] }, (_, i) => b.x.data[i * 3] / 3));
    expect(rows).toEqual([...order]);
    for (const b of got) for (let i = 0; i < b.y.length; i++) expect(b.y[i]).toBe(y[b.x.data[i * 3] / 3]);
  });

  it('shuffle: false keeps the order; dropLast leaves out the short batch', () => {
    const got = [...batches({ x, y: [...y] }, { batchSize: 3, shuffle: false, dropLast: true })];
    expect(got.length).toBe(3);
    expect([...got[0].y]).toEqual([0, 1, 2]);
    expect([...got[2].x.data]).toEqual([18, 19, 20, 21, 22, 23, 24, 25, 26]);
    expect([...batches({ x, y }, { batchSize: 20, dropLast: true })].length).toBe(0);
    expect([...batches({ x, y }, { batchSize: 20 })][0].x.shape).toEqual([10, 3]);
  });

  it('each batch owns fresh arrays (changing one changes nothing else), not requiring grad, in the dataset dtype', () => {
    const x32 = new Tensor(Float32Array.from(x.data), [n, 3]);
    const [a, b] = [...batches({ x: x32, y }, { batchSize: 5, shuffle: false })];
    expect(a.x.dtype).toBe('float32');
    expect(a.x.requiresGrad).toBe(false);
    a.x.data.fill(-1);
    a.y.fill(-1);
    expect(x32.data[0]).toBe(0);
    expect(y[1]).toBe(1);
    expect(b.x.data[0]).toBe(15);
    expect(sharesMemory(a.x.data, b.x.data)).toBe(false);
  });

  it('a Tensor y (regression targets) is batched by rows too', () => {
    const t = new Tensor(Float64Array.from({ length: n * 2 }, (_, i) => -i), [n, 2]);
    const [first] = [...batches({ x, y: t }, { batchSize: 4, shuffle: false })];
    expect(first.y).toBeInstanceOf(Tensor);
    expect(first.y.shape).toEqual([4, 2]);
    expect([...first.y.data]).toEqual([-0, -1, -2, -3, -4, -5, -6, -7]);
  });

  it('errors are thrown by the call itself, not at the first next()', () => {
    expectThrows(() => batches(null as never, { batchSize: 2 }), ArgumentError, /^batches: dataset must be \{ x: Tensor/);
    expectThrows(() => batches({ x: new Tensor(Float64Array.of(1), []), y: [] }, { batchSize: 2 }), ShapeError, /^batches: dataset\.x must have a first axis/);
    expectThrows(() => batches({ x, y: [1, 2] }, { batchSize: 2 }), ShapeError, /^batches: dataset\.y must hold 10 labels/);
    expectThrows(() => batches({ x, y: Tensor.zeros([3, 1]) }, { batchSize: 2 }), ShapeError, /^batches: dataset\.y must have 10 rows like dataset\.x \[10, 3\], got shape \[3, 1\]$/);
    expectThrows(() => batches({ x, y: [...y.slice(0, 9), 0.5] }, { batchSize: 2 }), ValueError, /^batches: dataset\.y\[9\] must be an integer/);
    expectThrows(() => batches({ x, y }, undefined as never), ArgumentError, /^batches: opts must be an object with batchSize/);
    expectThrows(() => batches({ x, y }, { batchSize: 0 }), ValueError, /^batches: opts\.batchSize must be a positive integer, got/);
    expectThrows(() => batches({ x, y }, { batchSize: 2, shuffle: 'yes' as never }), ArgumentError, /^batches: opts\.shuffle must be a boolean/);
    expectThrows(() => batches({ x, y }, { batchSize: 2, drop_last: true } as never), ValueError, /^batches: drop_last is not an option of batches/);
  });
});
