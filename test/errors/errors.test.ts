/**
 * Errors everywhere: every public function and module, called with generated bad input (wrong
 * ranks and shapes, mixed dtypes, bad labels, NaN where it is not allowed, empty batches, the
 * wrong kind of argument), throws a TapegradError whose message starts with the function's name
 * and says what it got: never a TypeError or RangeError from deep inside, never a silent NaN.
 */
import {
  ArgumentError,
  CheckpointError,
  DTypeError,
  GradError,
  gradcheck,
  kernels,
  manualSeed,
  nn,
  noGrad,
  numericalGradient,
  ops,
  optim,
  randperm,
  setDetectAnomaly,
  detectAnomaly,
  setRngState,
  ShapeError,
  StateDictError,
  Tensor,
  tensor,
  ValueError,
} from '../../src';
import { loadCheckpoint, readCheckpointInfo, saveCheckpoint } from '../../src/checkpoint';
import { FC, fc } from '../helpers/fc';
import { mustRefuse, type BadCall } from './cases';

const RUNS = { ...FC, numRuns: 150 };
type DT = 'float64' | 'float32';

beforeAll(() => manualSeed(0));

const dtArb = fc.constantFrom<DT>('float64', 'float32');
const dimArb = fc.integer({ min: 1, max: 4 });
const shapeArb = (min = 0, max = 3) => fc.array(dimArb, { minLength: min, maxLength: max });
const rnd = (shape: readonly number[], dtype: DT = 'float64', requiresGrad = false): Tensor =>
  Tensor.rand(shape, -1, 1, { dtype, requiresGrad });
const other = (dt: DT): DT => (dt === 'float64' ? 'float32' : 'float64');

/** Values that are not tensors. */
const notTensorArb = fc.constantFrom<unknown>(undefined, null, 3, 'x', [1, 2], { shape: [1] }, new Float64Array(2), () => 1);
/** Numbers that are not allowed as a positive count. */
const badCountArb = fc.constantFrom<unknown>(0, -1, 1.5, NaN, Infinity, '3', null);
/** Labels for C classes that are bad somewhere. */
const badLabelArb = (c: number) => fc.constantFrom<unknown>(NaN, -1, c, c + 7, 0.5, Infinity, '0', null);
/** Two shapes whose last dimensions differ and neither is 1: they never broadcast. */
const nonBroadcastPair = fc
  .tuple(shapeArb(0, 2), fc.integer({ min: 2, max: 4 }), fc.integer({ min: 2, max: 4 }))
  .filter(([, d, e]) => d !== e)
  .map(([pre, d, e]) => [[...pre, d], [e]] as const);

const BINARY = ['add', 'sub', 'mul', 'div'] as const;

function check(arb: fc.Arbitrary<BadCall>, runs = RUNS): void {
  if (process.env.ERRORS_SURVEY) {
    // Survey mode: list every distinct failure instead of stopping at the first.
    const seen = new Map<string, string>();
    for (const c of fc.sample(arb, { seed: runs.seed, numRuns: 600 })) {
      try {
        mustRefuse(c);
      } catch (e) {
        const m = (e as Error).message;
        seen.set(m.replace(/\d+/g, '#').slice(0, 140), m);
      }
    }
    if (seen.size > 0) throw new Error([...seen.values()].join('\n'));
    return;
  }
  fc.assert(fc.property(arb, (c) => void mustRefuse(c)), runs);
}

describe('tensor ops and Tensor methods', () => {
  it('binary ops: shapes that do not broadcast, mixed dtypes, non-tensor operands', () => {
    const cases = fc.oneof(
      fc.tuple(fc.constantFrom(...BINARY), nonBroadcastPair, dtArb, fc.boolean()).map(([op, [a, b], dt, method]): BadCall => ({
        label: `${op} ${JSON.stringify(a)} ${JSON.stringify(b)}`,
        call: () => (method ? rnd(a, dt)[op](rnd(b, dt)) : ops[op](rnd(a, dt), rnd(b, dt))),
        fns: [op],
        kind: ShapeError,
      })),
      fc.tuple(fc.constantFrom(...BINARY), shapeArb(), dtArb, fc.boolean()).map(([op, s, dt, method]): BadCall => ({
        label: `${op} mixed dtypes`,
        call: () => (method ? rnd(s, dt)[op](rnd(s, other(dt))) : ops[op](rnd(s, dt), rnd(s, other(dt)))),
        fns: [op],
        kind: DTypeError,
      })),
      fc.tuple(fc.constantFrom(...BINARY), notTensorArb.filter((v) => typeof v !== 'number'), fc.boolean()).map(([op, v, method]): BadCall => ({
        label: `${op} with ${String(v)}`,
        call: () => (method ? rnd([2])[op](v as Tensor) : ops[op](rnd([2]), v as Tensor)),
        fns: [op],
        kind: ArgumentError,
      })),
      fc.tuple(fc.constantFrom('neg', 'exp', 'log', 'relu', 'sum', 'mean', 'reshape', 'transpose', 'matmul', 'dropout') as fc.Arbitrary<string>, notTensorArb).map(([op, v]): BadCall => ({
        label: `ops.${op}(${String(v)})`,
        call: () => (ops as unknown as Record<string, (...a: unknown[]) => unknown>)[op](v, op === 'reshape' ? [1] : op === 'dropout' ? 0.5 : undefined),
        fns: [op],
        kind: ArgumentError,
      })),
    );
    check(cases);
  });

  it('matmul: ranks, inner dimensions, dtypes', () => {
    const cases = fc.oneof(
      fc.tuple(shapeArb(0, 4).filter((s) => s.length !== 2), fc.tuple(dimArb, dimArb), fc.boolean()).map(([s, m, left]): BadCall => ({
        label: `matmul rank ${s.length}`,
        call: () => (left ? rnd(s).matmul(rnd(m)) : rnd(m).matmul(rnd(s))),
        fns: ['matmul'],
        kind: ShapeError,
      })),
      fc.tuple(dimArb, dimArb, dimArb, dimArb).filter(([, k, k2]) => k !== k2).map(([m, k, k2, n]): BadCall => ({
        label: `matmul [${m},${k}] @ [${k2},${n}]`,
        call: () => rnd([m, k]).matmul(rnd([k2, n])),
        fns: ['matmul'],
        kind: ShapeError,
      })),
      fc.tuple(dimArb, dimArb, dimArb, dtArb).map(([m, k, n, dt]): BadCall => ({
        label: 'matmul mixed dtypes',
        call: () => rnd([m, k], dt).matmul(rnd([k, n], other(dt))),
        fns: ['matmul'],
        kind: DTypeError,
      })),
    );
    check(cases);
  });

  it('reductions, reshape, transpose, item, backward', () => {
    const badAxis = (rank: number) => fc.oneof(fc.integer({ min: rank, max: rank + 3 }), fc.integer({ min: -rank - 3, max: -rank - 1 }), fc.constantFrom(0.5, NaN, Infinity, -Infinity));
    const cases = fc.oneof(
      fc.tuple(fc.constantFrom('sum', 'mean') as fc.Arbitrary<'sum' | 'mean'>, shapeArb()).chain(([op, s]) =>
        badAxis(s.length).map((axis): BadCall => ({ label: `${op}(axis ${axis}) of rank ${s.length}`, call: () => rnd(s)[op](axis), fns: [op], kind: ShapeError })),
      ),
      fc.tuple(shapeArb(1), fc.constantFrom<unknown>([7, 11], [-1, -1], [NaN], [1.5, 2], [-2, -3], 'ab', null, 5, [Infinity])).map(([s, shape]): BadCall => ({
        label: `reshape ${JSON.stringify(s)} to ${String(shape)}`,
        call: () => rnd(s).reshape(shape as number[]),
        fns: ['reshape'],
        kind: ShapeError,
      })),
      fc.tuple(shapeArb(1), fc.constantFrom<unknown>([0, 0, 0], [5, 0, 1], [0.5], [-1, 0], 'ab', 5, { length: 1 })).map(([s, axes]): BadCall => ({
        label: `transpose ${JSON.stringify(s)} axes ${JSON.stringify(axes)}`,
        call: () => rnd(s).transpose(axes as number[]),
        fns: ['transpose'],
        kind: ShapeError,
      })),
      shapeArb(1).filter((s) => s.reduce((a, b) => a * b, 1) !== 1).map((s): BadCall => ({ label: `item of ${JSON.stringify(s)}`, call: () => rnd(s).item(), fns: ['item'], kind: ShapeError })),
      shapeArb().map((s): BadCall => ({ label: 'backward without requiresGrad', call: () => rnd(s).sum().backward(), fns: ['backward'], kind: GradError })),
      shapeArb(1).filter((s) => s.reduce((a, b) => a * b, 1) > 1).map((s): BadCall => ({
        label: 'backward of a non-scalar without a seed',
        call: () => rnd(s, 'float64', true).mul(2).backward(),
        fns: ['backward'],
        kind: GradError,
      })),
      fc.tuple(shapeArb(1), fc.constantFrom<unknown>('x', 3, [1], new Int32Array(1), new Float64Array(99))).map(([s, seed]): BadCall => ({
        label: `backward with seed ${String(seed)}`,
        call: () => rnd(s, 'float64', true).mul(2).backward(seed as Tensor),
        fns: ['backward'],
      })),
      fc.tuple(shapeArb(1), dtArb).map(([s, dt]): BadCall => ({
        label: 'backward with a seed of the other dtype',
        call: () => rnd(s, dt, true).mul(2).backward(rnd(s, other(dt))),
        fns: ['backward'],
        kind: DTypeError,
      })),
    );
    check(cases);
  });

  it('creation: bad shapes, dtypes, data, values', () => {
    const badShape = fc.constantFrom<unknown>([-1], [2, 1.5], [NaN], '2', null, [Infinity], [2, -3], [-2, -3], [2.5, 2.4]);
    const badDType = fc.constantFrom<unknown>('int32', 'float16', 1, 'Float64', null);
    const makers = ['zeros', 'ones', 'randn', 'rand'] as const;
    const cases = fc.oneof(
      fc.tuple(fc.constantFrom(...makers), badShape).map(([m, s]): BadCall => ({
        label: `Tensor.${m}(${JSON.stringify(s)})`,
        call: () => Tensor[m](s as number[]),
        fns: [`Tensor.${m}`],
        kind: ShapeError,
      })),
      fc.tuple(fc.constantFrom(...makers), badDType).map(([m, dt]): BadCall => ({
        label: `Tensor.${m} dtype ${String(dt)}`,
        call: () => (m === 'rand' ? Tensor.rand([2], 0, 1, { dtype: dt as DT }) : Tensor[m]([2], { dtype: dt as DT })),
        fns: [`Tensor.${m}`],
        kind: DTypeError,
      })),
      fc.tuple(badShape).map(([s]): BadCall => ({ label: `Tensor.full(${JSON.stringify(s)})`, call: () => Tensor.full(s as number[], 1), fns: ['Tensor.full'], kind: ShapeError })),
      fc.constantFrom<unknown>('1', null, undefined, {}).map((v): BadCall => ({ label: `Tensor.full value ${String(v)}`, call: () => Tensor.full([2], v as number), fns: ['Tensor.full'], kind: ValueError })),
      fc.tuple(fc.constantFrom<unknown>(NaN, Infinity, '0', null), fc.boolean()).map(([v, low]): BadCall => ({
        label: `Tensor.rand ${low ? 'low' : 'high'} ${String(v)}`,
        call: () => (low ? Tensor.rand([3], v as number, 1) : Tensor.rand([3], 0, v as number)),
        fns: ['Tensor.rand'],
        kind: ValueError,
      })),
      badShape.filter((s) => Array.isArray(s)).map((s): BadCall => ({
        label: `new Tensor(data, ${JSON.stringify(s)})`,
        call: () => new Tensor(new Float64Array(6), s as number[]),
        fns: ['Tensor'],
        kind: ShapeError,
      })),
      fc.constantFrom<unknown>([1, 2], new Int32Array(2), 'ab', null, new Uint8Array(2)).map((d): BadCall => ({
        label: `new Tensor(${String(d)})`,
        call: () => new Tensor(d as Float64Array),
        fns: ['Tensor'],
        kind: DTypeError,
      })),
      fc.constantFrom<unknown>([[1], [2, 3]], [1, 'a'], [[1, 2], 3], 'abc', [null], [[[1]], [2]]).map((v): BadCall => ({
        label: `tensor(${JSON.stringify(v)})`,
        call: () => tensor(v as number[]),
        fns: ['tensor'],
      })),
      badDType.map((dt): BadCall => ({ label: `tensor dtype ${String(dt)}`, call: () => tensor([1], { dtype: dt as DT }), fns: ['tensor'], kind: DTypeError })),
      badDType.map((dt): BadCall => ({ label: `to(${String(dt)})`, call: () => rnd([2]).to(dt as DT), fns: ['Tensor.to'], kind: DTypeError })),
    );
    check(cases);
  });
});

describe('kernels', () => {
  const arr = (shape: number[], dt: DT = 'float64') => ({ shape, data: rnd(shape, dt).data });
  it('affine, relu: shapes, dtypes, non-arrays, bad caches', () => {
    const cases = fc.oneof(
      fc.tuple(dimArb, dimArb, dimArb, dimArb).filter(([, d, d2]) => d !== d2).map(([n, d, d2, m]): BadCall => ({
        label: 'affineForward w rows',
        call: () => kernels.affineForward(arr([n, d]), arr([d2, m]), arr([m])),
        fns: ['affineForward'],
        kind: ShapeError,
      })),
      fc.tuple(dimArb, dimArb, dimArb, dimArb).filter(([, , m, m2]) => m !== m2).map(([n, d, m, m2]): BadCall => ({
        label: 'affineForward b length',
        call: () => kernels.affineForward(arr([n, d]), arr([d, m]), arr([m2])),
        fns: ['affineForward'],
        kind: ShapeError,
      })),
      fc.tuple(dimArb, dimArb, dimArb, dtArb, fc.integer({ min: 0, max: 2 })).map(([n, d, m, dt, which]): BadCall => ({
        label: `affineForward mixed dtype (arg ${which})`,
        call: () => kernels.affineForward(arr([n, d], which === 0 ? other(dt) : dt), arr([d, m], which === 1 ? other(dt) : dt), arr([m], which === 2 ? other(dt) : dt)),
        fns: ['affineForward'],
        kind: DTypeError,
      })),
      fc.tuple(notTensorArb, fc.integer({ min: 0, max: 2 })).map(([v, which]): BadCall => ({
        label: `affineForward non-array arg ${which}`,
        call: () => kernels.affineForward((which === 0 ? v : arr([2, 2])) as never, (which === 1 ? v : arr([2, 2])) as never, (which === 2 ? v : arr([2])) as never),
        fns: ['affineForward'],
      })),
      fc.constantFrom<unknown>({ shape: [2, 2], data: new Float64Array(3) }, { shape: [-1], data: new Float64Array(0) }, { shape: 'ab', data: new Float64Array(1) }, { shape: [2], data: [1, 2] }).map((x): BadCall => ({
        label: `reluForward(${JSON.stringify(x)})`,
        call: () => kernels.reluForward(x as never),
        fns: ['reluForward'],
      })),
      fc.tuple(dimArb, dimArb, dimArb).map(([n, d, m]): BadCall => ({
        label: 'affineBackward dout shape',
        call: () => kernels.affineBackward(arr([n + 1, m]), kernels.affineForward(arr([n, d]), arr([d, m]), arr([m])).cache),
        fns: ['affineBackward'],
        kind: ShapeError,
      })),
      fc.tuple(fc.constantFrom('affineBackward', 'batchnormBackward', 'batchnormBackwardAlt', 'layernormBackward', 'reluBackward') as fc.Arbitrary<'affineBackward'>, fc.constantFrom<unknown>(null, undefined, {}, 3, { x: 1 })).map(([k, cache]): BadCall => ({
        label: `${k} with cache ${JSON.stringify(cache)}`,
        call: () => kernels[k](arr([2, 2]), cache as never),
        fns: [k],
      })),
      fc.tuple(shapeArb(1), dtArb).map(([s, dt]): BadCall => ({
        label: 'reluBackward mismatch',
        call: () => kernels.reluBackward(arr([...s, 2], dt), kernels.reluForward(arr(s, dt)).cache),
        fns: ['reluBackward'],
        kind: ShapeError,
      })),
    );
    check(cases);
  });

  it('batchnorm and layernorm: rank, feature sizes, mode, eps/momentum NaN, running stats, batch of one and of none', () => {
    const param = (over: Record<string, unknown>) => ({ mode: 'train', ...over }) as never;
    const cases = fc.oneof(
      fc.tuple(shapeArb(0, 4).filter((s) => s.length !== 2), fc.boolean()).map(([s, bn]): BadCall => ({
        label: `${bn ? 'batch' : 'layer'}normForward rank ${s.length}`,
        call: () => (bn ? kernels.batchnormForward(arr(s), arr([2]), arr([2]), param({})) : kernels.layernormForward(arr(s), arr([2]), arr([2]))),
        fns: [bn ? 'batchnormForward' : 'layernormForward'],
        kind: ShapeError,
      })),
      fc.tuple(dimArb, dimArb, dimArb, fc.boolean()).filter(([, d, d2]) => d !== d2).map(([n, d, d2, bn]): BadCall => ({
        label: 'gamma length',
        call: () => (bn ? kernels.batchnormForward(arr([n + 1, d]), arr([d2]), arr([d]), param({})) : kernels.layernormForward(arr([n, d]), arr([d]), arr([d2]))),
        fns: [bn ? 'batchnormForward' : 'layernormForward'],
        kind: ShapeError,
      })),
      fc.constantFrom<Record<string, unknown>>(
        { mode: 'eval' }, { mode: undefined }, { eps: NaN }, { eps: -1 }, { eps: Infinity }, { momentum: NaN }, { momentum: 1.5 },
        { runningMean: new Float64Array(5) }, { runningVar: new Float32Array(3) }, { runningMean: [0, 0, 0] },
      ).map((over): BadCall => ({
        label: `batchnormForward bnParam ${JSON.stringify(over)}`,
        call: () => kernels.batchnormForward(arr([4, 3]), arr([3]), arr([3]), param(over)),
        fns: ['batchnormForward'],
      })),
      fc.constantFrom<unknown>(null, undefined, 'train', 3, [], new Float64Array(1)).map((p): BadCall => ({
        label: `batchnormForward bnParam ${String(p)}`,
        call: () => kernels.batchnormForward(arr([4, 3]), arr([3]), arr([3]), p as never),
        fns: ['batchnormForward'],
        kind: ArgumentError,
      })),
      fc.constantFrom<Record<string, unknown>>({ momentun: 0.1 }, { Mode: 'test' }, JSON.parse('{"__proto__": 1}') as Record<string, unknown>, { constructor: 1 }).map((over): BadCall => ({
        label: `batchnormForward bnParam unknown key ${Object.keys(over)[0]}`,
        call: () => kernels.batchnormForward(arr([4, 3]), arr([3]), arr([3]), param(over)),
        fns: ['batchnormForward'],
        kind: ValueError,
      })),
      fc.tuple(fc.constantFrom(0, 1), dimArb).map(([n, d]): BadCall => ({
        label: `batchnormForward train on ${n} rows`,
        call: () => kernels.batchnormForward(arr([n, d]), arr([d]), arr([d]), param({})),
        fns: ['batchnormForward'],
        kind: ShapeError,
      })),
      fc.constantFrom<unknown>(NaN, -1, Infinity, '1e-5', null).map((eps): BadCall => ({
        label: `layernormForward eps ${String(eps)}`,
        call: () => kernels.layernormForward(arr([2, 3]), arr([3]), arr([3]), eps as number),
        fns: ['layernormForward'],
        kind: ValueError,
      })),
      fc.tuple(dimArb, dimArb, fc.constantFrom('batchnormBackward', 'batchnormBackwardAlt', 'layernormBackward') as fc.Arbitrary<'batchnormBackward'>).map(([n, d, k]): BadCall => ({
        label: `${k} dout shape`,
        call: () => {
          const cache = (k as string) === 'layernormBackward'
            ? kernels.layernormForward(arr([n + 1, d]), arr([d]), arr([d])).cache
            : kernels.batchnormForward(arr([n + 1, d]), arr([d]), arr([d]), param({})).cache;
          return (kernels[k] as (a: unknown, b: unknown) => unknown)(arr([n + 1, d + 1]), cache);
        },
        fns: [k],
        kind: ShapeError,
      })),
    );
    check(cases);
  });

  it('losses: bad labels, counts, scores rank, empty batches', () => {
    const cases = fc.oneof(
      fc.tuple(fc.constantFrom('softmaxLoss', 'svmLoss') as fc.Arbitrary<'softmaxLoss' | 'svmLoss'>, dimArb, dimArb, fc.nat()).chain(([k, n, c, i]) =>
        badLabelArb(c).map((bad): BadCall => {
          const y: unknown[] = Array.from({ length: n }, (_, j) => j % c);
          y[i % n] = bad;
          return { label: `${k} label ${String(bad)} (C = ${c})`, call: () => kernels[k](arr([n, c]), y as number[]), fns: [k], kind: ValueError };
        }),
      ),
      fc.tuple(fc.constantFrom('softmaxLoss', 'svmLoss') as fc.Arbitrary<'softmaxLoss' | 'svmLoss'>, dimArb, dimArb).map(([k, n, c]): BadCall => ({
        label: `${k} label count`,
        call: () => kernels[k](arr([n, c]), new Int32Array(n + 1)),
        fns: [k],
        kind: ShapeError,
      })),
      fc.tuple(fc.constantFrom('softmaxLoss', 'svmLoss') as fc.Arbitrary<'softmaxLoss' | 'svmLoss'>, fc.constantFrom<unknown>('abc', null, 3, { length: 2 }, undefined)).map(([k, y]): BadCall => ({
        label: `${k} labels ${String(y)}`,
        call: () => kernels[k](arr([2, 3]), y as number[]),
        fns: [k],
        kind: ValueError,
      })),
      fc.tuple(fc.constantFrom('softmaxLoss', 'svmLoss') as fc.Arbitrary<'softmaxLoss' | 'svmLoss'>, fc.constantFrom<number[]>([3], [2, 3, 1], [0, 3], [3, 0], [])).map(([k, s]): BadCall => ({
        label: `${k} scores ${JSON.stringify(s)}`,
        call: () => kernels[k](arr(s), s[0] === 0 ? [] : [0, 1, 2].slice(0, s[0] ?? 0)),
        fns: [k],
        kind: ShapeError,
      })),
    );
    check(cases);
  });

  it('gemm and sumRows: lengths, dimensions, dtypes, non-arrays', () => {
    const f = (n: number, dt: DT = 'float64') => (dt === 'float64' ? new Float64Array(n) : new Float32Array(n));
    const cases = fc.oneof(
      fc.tuple(dimArb, dimArb, dimArb, fc.integer({ min: 0, max: 2 })).map(([m, n, k, short]): BadCall => ({
        label: `gemm with a short array ${short}`,
        call: () => kernels.gemm(f(m * k - (short === 0 ? 1 : 0)), f(k * n - (short === 1 ? 1 : 0)), f(m * n - (short === 2 ? 1 : 0)), m, n, k),
        fns: ['gemm'],
        kind: ShapeError,
      })),
      fc.tuple(fc.constantFrom<unknown>(-1, 1.5, NaN, '2'), fc.integer({ min: 0, max: 2 })).map(([bad, which]): BadCall => ({
        label: `gemm dimension ${String(bad)}`,
        call: () => kernels.gemm(f(4), f(4), f(4), (which === 0 ? bad : 2) as number, (which === 1 ? bad : 2) as number, (which === 2 ? bad : 2) as number),
        fns: ['gemm'],
      })),
      fc.tuple(dtArb, fc.integer({ min: 0, max: 2 })).map(([dt, which]): BadCall => ({
        label: 'gemm mixed dtypes',
        call: () => kernels.gemm(f(4, which === 0 ? other(dt) : dt), f(4, which === 1 ? other(dt) : dt), f(4, which === 2 ? other(dt) : dt), 2, 2, 2),
        fns: ['gemm'],
        kind: DTypeError,
      })),
      notTensorArb.map((v): BadCall => ({ label: `gemm(${String(v)})`, call: () => kernels.gemm(v as Float64Array, f(4), f(4), 2, 2, 2), fns: ['gemm'] })),
      fc.tuple(dimArb, dimArb).map(([r, c]): BadCall => ({ label: 'sumRows short', call: () => kernels.sumRows(f(r * c - 1), f(c), r, c), fns: ['sumRows'], kind: ShapeError })),
      notTensorArb.filter((v) => !ArrayBuffer.isView(v)).map((v): BadCall => ({ label: `sumRows(${String(v)})`, call: () => kernels.sumRows(v as Float64Array, f(2), 1, 2), fns: ['sumRows'] })),
    );
    check(cases);
  });

  it('an affine over an empty batch is legitimate: (0, M) out, zero weight gradients', () => {
    const x = Tensor.zeros([0, 3]);
    const layer = new nn.Affine(3, 4);
    const out = layer.forward(x);
    expect(out.shape).toEqual([0, 4]);
    out.sum().backward();
    expect(Array.from(layer.weight.grad!.data)).toEqual(new Array(12).fill(0));
    expect(Array.from(layer.bias!.grad!.data)).toEqual([0, 0, 0, 0]);
    // BatchNorm in eval mode and ReLU also pass an empty batch through.
    const bn = new nn.BatchNorm1d(4).eval();
    expect(bn.forward(out).shape).toEqual([0, 4]);
    expect(new nn.ReLU().forward(out).shape).toEqual([0, 4]);
  });
});

describe('nn modules', () => {
  it('constructors: counts, eps, momentum, p, dtype, layers', () => {
    const cases = fc.oneof(
      fc.tuple(badCountArb, fc.boolean()).map(([v, first]): BadCall => ({
        label: `Affine(${String(v)})`,
        call: () => (first ? new nn.Affine(v as number, 2) : new nn.Affine(2, v as number)),
        fns: ['Affine'],
        kind: ValueError,
      })),
      fc.tuple(fc.constantFrom('BatchNorm1d', 'LayerNorm') as fc.Arbitrary<'BatchNorm1d' | 'LayerNorm'>, badCountArb).map(([cls, v]): BadCall => ({
        label: `${cls}(${String(v)})`,
        call: () => new nn[cls](v as number),
        fns: [cls],
        kind: ValueError,
      })),
      fc.tuple(fc.constantFrom('BatchNorm1d', 'LayerNorm') as fc.Arbitrary<'BatchNorm1d' | 'LayerNorm'>, fc.constantFrom<unknown>(NaN, -1e-5, Infinity, '1e-5', false)).map(([cls, eps]): BadCall => ({
        label: `${cls} eps ${String(eps)}`,
        call: () => new nn[cls](3, { eps: eps as number }),
        fns: [cls],
        kind: ValueError,
      })),
      fc.constantFrom<unknown>(NaN, -0.1, 1.5, '0.9', false).map((mo): BadCall => ({
        label: `BatchNorm1d momentum ${String(mo)}`,
        call: () => new nn.BatchNorm1d(3, { momentum: mo as number }),
        fns: ['BatchNorm1d'],
        kind: ValueError,
      })),
      fc.constantFrom<unknown>(NaN, -0.5, 1, 2, '0.5', null).map((p): BadCall => ({ label: `Dropout(${String(p)})`, call: () => new nn.Dropout(p as number), fns: ['Dropout'], kind: ValueError })),
      fc.tuple(fc.constantFrom('Affine', 'BatchNorm1d', 'LayerNorm') as fc.Arbitrary<'Affine'>, fc.constantFrom<unknown>('int32', 'float16', 3)).map(([cls, dt]): BadCall => ({
        label: `${cls} dtype ${String(dt)}`,
        call: () => (cls === 'Affine' ? new nn.Affine(2, 2, { dtype: dt as DT }) : new (nn[cls] as typeof nn.LayerNorm)(2, { dtype: dt as DT })),
        fns: [cls],
        kind: DTypeError,
      })),
      notTensorArb.map((v): BadCall => ({ label: `Sequential(${String(v)})`, call: () => new nn.Sequential(new nn.ReLU(), v as nn.Module), fns: ['Sequential'], kind: ArgumentError })),
    );
    check(cases);
  });

  it('forward: widths, ranks, dtypes, non-tensors, BatchNorm batch of one or none in train mode', () => {
    const cases = fc.oneof(
      fc.tuple(dimArb, dimArb, dimArb, dimArb).filter(([, d, d2]) => d !== d2).map(([n, d, d2, m]): BadCall => ({
        label: `Affine(${d}, ${m}) on width ${d2}`,
        call: () => new nn.Affine(d, m).forward(rnd([n, d2])),
        fns: ['Affine'],
        kind: ShapeError,
      })),
      fc.tuple(dimArb, dimArb, dtArb).map(([n, d, dt]): BadCall => ({
        label: 'Affine mixed dtypes',
        call: () => new nn.Affine(d, 2, { dtype: dt }).forward(rnd([n, d], other(dt))),
        fns: ['affine', 'affineForward'],
        kind: DTypeError,
      })),
      fc.tuple(fc.constantFrom('BatchNorm1d', 'LayerNorm') as fc.Arbitrary<'BatchNorm1d' | 'LayerNorm'>, dimArb, dimArb, dimArb).filter(([, , d, d2]) => d !== d2).map(([cls, n, d, d2]): BadCall => ({
        label: `${cls}(${d}) on width ${d2}`,
        call: () => new nn[cls](d).forward(rnd([n + 1, d2])),
        fns: cls === 'BatchNorm1d' ? ['batchnorm', 'batchnormForward'] : ['layernorm', 'layernormForward'],
        kind: ShapeError,
      })),
      fc.tuple(fc.constantFrom('BatchNorm1d', 'LayerNorm') as fc.Arbitrary<'BatchNorm1d' | 'LayerNorm'>, shapeArb(0, 4).filter((s) => s.length !== 2)).map(([cls, s]): BadCall => ({
        label: `${cls} on rank ${s.length}`,
        call: () => new nn[cls](2).forward(rnd(s)),
        fns: cls === 'BatchNorm1d' ? ['batchnorm', 'batchnormForward'] : ['layernorm', 'layernormForward'],
        kind: ShapeError,
      })),
      fc.tuple(fc.constantFrom(0, 1), dimArb, dtArb).map(([n, d, dt]): BadCall => ({
        label: `BatchNorm1d train on ${n} rows`,
        call: () => new nn.BatchNorm1d(d, { dtype: dt }).forward(rnd([n, d], dt)),
        fns: ['batchnormForward'],
        kind: ShapeError,
      })),
      fc.tuple(fc.constantFrom('Affine', 'BatchNorm1d', 'LayerNorm', 'ReLU', 'Dropout', 'Sequential'), notTensorArb, fc.boolean()).map(([cls, v, train]): BadCall => {
        const mods: Record<string, () => nn.Module> = {
          Affine: () => new nn.Affine(2, 2),
          BatchNorm1d: () => new nn.BatchNorm1d(2),
          LayerNorm: () => new nn.LayerNorm(2),
          ReLU: () => new nn.ReLU(),
          Dropout: () => new nn.Dropout(0.5),
          Sequential: () => new nn.Sequential(new nn.ReLU()),
        };
        const op = { Affine: 'affine', BatchNorm1d: 'batchnorm', LayerNorm: 'layernorm', ReLU: 'relu', Dropout: 'dropout', Sequential: 'relu' }[cls]!;
        return {
          label: `${cls}.forward(${String(v)}) in ${train ? 'train' : 'eval'} mode`,
          call: () => mods[cls]().train(train).forward(v as Tensor),
          fns: [op, 'Dropout.forward'],
          kind: ArgumentError,
        };
      }),
      fc.constantFrom<unknown>(null, 3, new Map([['0.weight', 1]]), { '0.weight': rnd([9]) }, {}).map((state): BadCall => ({
        label: `loadStateDict(${String(state)})`,
        call: () => new nn.Sequential(new nn.Affine(2, 2)).loadStateDict(state as never),
        fns: ['loadStateDict'],
      })),
    );
    check(cases);
  });
});

describe('losses on the tape', () => {
  it('labels NaN, fractional, out of range, wrong count; scores rank; empty batches; reduction; mse shapes', () => {
    const sce: BadCall['fns'] = ['nn.softmaxCrossEntropy'];
    const cases = fc.oneof(
      fc.tuple(fc.boolean(), dimArb, fc.integer({ min: 2, max: 5 }), fc.nat()).chain(([svm, n, c, i]) =>
        badLabelArb(c).map((bad): BadCall => {
          const y: unknown[] = Array.from({ length: n }, (_, j) => j % c);
          y[i % n] = bad;
          return {
            label: `${svm ? 'svm' : 'softmax'} label ${String(bad)}`,
            call: () => (svm ? nn.svmLoss : nn.softmaxCrossEntropy)(rnd([n, c], 'float64', true), y as number[]),
            fns: svm ? ['nn.svmLoss'] : sce,
            kind: ValueError,
          };
        }),
      ),
      fc.tuple(fc.boolean(), dimArb, dimArb).map(([svm, n, c]): BadCall => ({
        label: 'label count',
        call: () => (svm ? nn.svmLoss : nn.softmaxCrossEntropy)(rnd([n, c]), new Int32Array(n + 2)),
        fns: svm ? ['nn.svmLoss'] : sce,
        kind: ShapeError,
      })),
      fc.tuple(fc.boolean(), dimArb, fc.constantFrom<'mean' | 'sum'>('mean', 'sum')).map(([svm, c, reduction]): BadCall => ({
        label: `empty batch (${reduction})`,
        call: () => (svm ? nn.svmLoss : nn.softmaxCrossEntropy)(rnd([0, c]), [], { reduction }),
        fns: svm ? ['nn.svmLoss'] : sce,
        kind: ShapeError,
      })),
      fc.tuple(shapeArb(), fc.constantFrom<'mean' | 'sum'>('mean', 'sum')).map(([s, reduction]): BadCall => ({
        label: `mseLoss on an empty batch ${JSON.stringify([0, ...s])}`,
        call: () => nn.mseLoss(rnd([0, ...s]), rnd([0, ...s]), { reduction }),
        fns: ['nn.mseLoss'],
        kind: ShapeError,
      })),
      fc.tuple(fc.constantFrom('softmaxCrossEntropy', 'svmLoss', 'mseLoss') as fc.Arbitrary<'mseLoss'>, fc.constantFrom<unknown>('avg', 'none', 3, false)).map(([k, r]): BadCall => ({
        label: `${k} reduction ${String(r)}`,
        call: () => (k === 'mseLoss' ? nn.mseLoss(rnd([2, 2]), rnd([2, 2]), { reduction: r as 'sum' }) : (nn[k] as typeof nn.svmLoss)(rnd([2, 2]), [0, 1], { reduction: r as 'sum' })),
        fns: [`nn.${k}`],
        kind: ValueError,
      })),
      fc.tuple(shapeArb(1), shapeArb(1)).filter(([a, b]) => JSON.stringify(a) !== JSON.stringify(b)).map(([a, b]): BadCall => ({
        label: `mseLoss ${JSON.stringify(a)} vs ${JSON.stringify(b)}`,
        call: () => nn.mseLoss(rnd(a), rnd(b)),
        fns: ['nn.mseLoss'],
        kind: ShapeError,
      })),
      fc.tuple(shapeArb(1), dtArb).map(([s, dt]): BadCall => ({ label: 'mseLoss dtypes', call: () => nn.mseLoss(rnd(s, dt), rnd(s, other(dt))), fns: ['nn.mseLoss'], kind: DTypeError })),
      fc.tuple(fc.constantFrom('softmaxCrossEntropy', 'svmLoss', 'mseLoss') as fc.Arbitrary<'mseLoss'>, notTensorArb).map(([k, v]): BadCall => ({
        label: `${k}(${String(v)})`,
        call: () => (k === 'mseLoss' ? nn.mseLoss(v as Tensor, rnd([2])) : (nn[k] as typeof nn.svmLoss)(v as Tensor, [0])),
        fns: [`nn.${k}`],
        kind: ArgumentError,
      })),
    );
    check(cases);
  });
});

describe('optimizers and schedules', () => {
  const params = () => [rnd([3], 'float64', true), rnd([2, 2], 'float64', true)];
  it('constructors: lr/eps/betas/momentum NaN or out of range, unknown options, bad params', () => {
    const badNum = fc.constantFrom<unknown>(NaN, -1, Infinity, '0.1', null);
    const cases = fc.oneof(
      fc.tuple(fc.constantFrom('SGD', 'Adam', 'RMSProp') as fc.Arbitrary<'SGD' | 'Adam' | 'RMSProp'>, fc.constantFrom('lr', 'eps', 'weightDecay', 'momentum', 'alpha', 'betas', 'bogus'), badNum).map(([cls, key, v]): BadCall => {
        const base: Record<string, unknown> = cls === 'SGD' ? { lr: 0.1 } : {};
        return {
          label: `${cls} ${key} = ${String(v)}`,
          call: () => new (optim[cls] as unknown as new (p: Tensor[], o: object) => unknown)(params(), { ...base, [key]: key === 'betas' ? [v, 0.9] : v }),
          fns: [cls],
          kind: ValueError,
        };
      }),
      fc.tuple(fc.constantFrom('SGD', 'Adam', 'RMSProp') as fc.Arbitrary<'SGD' | 'Adam' | 'RMSProp'>, fc.constantFrom<unknown>([], 'abc', null, 3, [3], [tensor([1])], 'dup')).map(([cls, ps]): BadCall => {
        const p = rnd([2], 'float64', true);
        return {
          label: `${cls} params ${String(ps)}`,
          call: () => new (optim[cls] as unknown as new (p: unknown, o: object) => unknown)(ps === 'dup' ? [p, p] : ps, { lr: 0.1 }),
          fns: [cls],
        };
      }),
      fc.constantFrom('SGD', 'Adam', 'RMSProp').map((cls): BadCall => ({
        label: `${cls} options null`,
        call: () => new (optim[cls as 'SGD'] as unknown as new (p: unknown, o: unknown) => unknown)(params(), 'fast'),
        fns: [cls],
        kind: ArgumentError,
      })),
      badNum.map((v): BadCall => ({ label: `opt.lr = ${String(v)}`, call: () => void (new optim.SGD(params(), { lr: 0.1 }).lr = v as number), fns: ['SGD'], kind: ValueError })),
      fc.constantFrom<unknown>(rnd([7]), rnd([3], 'float32'), 'g').map((g): BadCall => ({
        label: `step with grad ${String(g)}`,
        call: () => {
          const ps = params();
          const opt = new optim.Adam(ps);
          ps[0].grad = g as Tensor;
          opt.step();
        },
        fns: ['Adam.step'],
      })),
      fc.tuple(fc.constantFrom('StepLR', 'ExponentialLR', 'CosineAnnealingLR'), fc.constantFrom<unknown>(NaN, 0, -1, 1.5, Infinity, '3', null)).map(([cls, v]): BadCall => {
        const opts: Record<string, Record<string, unknown>> = { StepLR: { stepSize: v }, ExponentialLR: { gamma: v === 0 || v === 1.5 ? -1 : v }, CosineAnnealingLR: { tMax: v } };
        return {
          label: `${cls} ${JSON.stringify(opts[cls])}`,
          call: () => new (optim[cls as 'StepLR'] as unknown as new (o: unknown, p: unknown) => unknown)(new optim.SGD(params(), { lr: 0.1 }), opts[cls]),
          fns: [cls],
          kind: ValueError,
        };
      }),
      fc.constantFrom('StepLR', 'ExponentialLR', 'CosineAnnealingLR').map((cls): BadCall => ({
        label: `${cls} without an optimizer`,
        call: () => new (optim[cls as 'StepLR'] as unknown as new (o: unknown, p: unknown) => unknown)({ lr: 0.1 }, { StepLR: { stepSize: 1 }, ExponentialLR: { gamma: 0.5 }, CosineAnnealingLR: { tMax: 3 } }[cls]),
        fns: [cls],
        kind: ArgumentError,
      })),
    );
    check(cases);
  });
});

describe('gradcheck, PRNG, modes, checkpoints', () => {
  const x = () => rnd([3], 'float64', true);
  it('gradcheck and numericalGradient: fn, inputs, eps/rtol/atol NaN, index', () => {
    const cases = fc.oneof(
      fc.tuple(fc.boolean(), notTensorArb.filter((v) => typeof v !== 'function')).map(([num, f]): BadCall => ({
        label: `fn ${String(f)}`,
        call: () => (num ? numericalGradient : gradcheck)(f as never, [x()]),
        fns: [num ? 'numericalGradient' : 'gradcheck'],
        kind: ArgumentError,
      })),
      fc.tuple(fc.boolean(), fc.constantFrom<unknown>([], null, 'x', [3], [rnd([2], 'float32', true)])).map(([num, inputs]): BadCall => ({
        label: `inputs ${String(inputs)}`,
        call: () => (num ? numericalGradient : gradcheck)((a: Tensor) => a.sum(), inputs as Tensor[]),
        fns: [num ? 'numericalGradient' : 'gradcheck'],
      })),
      fc.tuple(fc.boolean(), fc.constantFrom('eps', 'rtol', 'atol'), fc.constantFrom<unknown>(NaN, -1, Infinity, '1e-6', null)).map(([num, key, v]): BadCall => ({
        label: `opts.${key} = ${String(v)}`,
        call: () => (num ? numericalGradient((a: Tensor) => a.mul(a).sum(), [x()], 0, { [key]: v }) : gradcheck((a: Tensor) => a.mul(a).sum(), [x()], { [key]: v })),
        fns: [num ? 'numericalGradient' : 'gradcheck'],
        kind: ValueError,
      })),
      fc.constantFrom<unknown>(-1, 1, 0.5, NaN, '0').map((i): BadCall => ({
        label: `numericalGradient index ${String(i)}`,
        call: () => numericalGradient((a: Tensor) => a.sum(), [x()], i as number),
        fns: ['numericalGradient'],
      })),
      fc.constant<BadCall>({ label: 'gradcheck without requiresGrad', call: () => gradcheck((a: Tensor) => a.sum(), [rnd([2])]), fns: ['gradcheck'], kind: GradError }),
      fc.constant<BadCall>({ label: 'gradcheck fn returning a number', call: () => gradcheck(() => 3 as unknown as Tensor, [x()]), fns: ['gradcheck'] }),
    );
    check(cases, { ...FC, numRuns: 60 });
  });

  it('PRNG and modes: seeds, states, randperm lengths, non-functions', () => {
    const cases = fc.oneof(
      fc.constantFrom<unknown>(NaN, Infinity, '1', null).map((s): BadCall => ({ label: `manualSeed(${String(s)})`, call: () => manualSeed(s as number), fns: ['manualSeed'], kind: ValueError })),
      fc.constantFrom<unknown>(null, [1, 2, 3], [1, 2, 3, 4.5, 0], [1, 2, 3, 2 ** 40, 0], 'abcd', [1, 2, 3, 4, 'x']).map((s): BadCall => ({
        label: `setRngState(${JSON.stringify(s)})`,
        call: () => setRngState(s as number[]),
        fns: ['setRngState'],
        kind: ValueError,
      })),
      fc.constantFrom<unknown>(-1, 1.5, NaN, Infinity, '3', null, 2 ** 53).map((n): BadCall => ({ label: `randperm(${String(n)})`, call: () => randperm(n as number), fns: ['randperm'], kind: ValueError })),
      fc.tuple(fc.constantFrom('noGrad', 'detectAnomaly'), notTensorArb.filter((v) => typeof v !== 'function')).map(([f, v]): BadCall => ({
        label: `${f}(${String(v)})`,
        call: () => (f === 'noGrad' ? noGrad : detectAnomaly)(v as () => unknown),
        fns: [f],
        kind: ArgumentError,
      })),
      fc.constantFrom<unknown>('yes', 1, null, undefined).map((v): BadCall => ({ label: `setDetectAnomaly(${String(v)})`, call: () => setDetectAnomaly(v as boolean), fns: ['setDetectAnomaly'], kind: ArgumentError })),
    );
    check(cases, { ...FC, numRuns: 60 });
  });

  it('saveCheckpoint, loadCheckpoint, readCheckpointInfo: bad arguments', () => {
    const model = new nn.Affine(2, 2);
    const cases = fc.oneof(
      fc.constantFrom<unknown>('', null, 3, undefined).map((p): BadCall => ({ label: `save path ${String(p)}`, call: () => saveCheckpoint(p as string, { model }), fns: ['saveCheckpoint'], kind: CheckpointError })),
      fc.constantFrom<unknown>(null, 3).map((c): BadCall => ({ label: `save contents ${String(c)}`, call: () => saveCheckpoint('/nonexistent-dir/x.safetensors', c as never), fns: ['saveCheckpoint'], kind: ArgumentError })),
      fc.constantFrom<unknown>({}, { model: 3 }, { model, optimizer: 3 }, { model, scheduler: {} }, { model, meta: [1] }, { model, meta: { x: NaN } }, { model, meta: { f: () => 1 } }, { model, includeRngState: 'yes' }).map((c): BadCall => ({
        label: `save contents ${String(c)}`,
        call: () => saveCheckpoint('/nonexistent-dir/x.safetensors', c as never),
        fns: ['saveCheckpoint'],
        kind: CheckpointError,
      })),
      fc.constantFrom<unknown>('', null, 3, '/nonexistent-dir/x.safetensors').map((p): BadCall => ({ label: `load path ${String(p)}`, call: () => loadCheckpoint(p as string, { model }), fns: ['loadCheckpoint'], kind: CheckpointError })),
      fc.constantFrom<unknown>(null, 3).map((t): BadCall => ({ label: `load target ${String(t)}`, call: () => loadCheckpoint('/nonexistent-dir/x.safetensors', t as never), fns: ['loadCheckpoint'], kind: ArgumentError })),
      fc.constantFrom<unknown>({}, { model: 3 }, { model, optimizer: {} }, { model, restoreRngState: 'no' }).map((t): BadCall => ({
        label: `load target ${String(t)}`,
        call: () => loadCheckpoint('/nonexistent-dir/x.safetensors', t as never),
        fns: ['loadCheckpoint'],
        kind: CheckpointError,
      })),
      fc.constantFrom<unknown>('', null, '/nonexistent-dir/x.safetensors').map((p): BadCall => ({ label: `info ${String(p)}`, call: () => readCheckpointInfo(p as string), fns: ['readCheckpointInfo'], kind: CheckpointError })),
    );
    check(cases, { ...FC, numRuns: 60 });
  });
});

describe('the error classes', () => {
  it('StateDictError lists every problem', () => {
    const m = new nn.Sequential(new nn.Affine(2, 2));
    const err = mustRefuse({ label: 'loadStateDict', call: () => m.loadStateDict({ '0.weight': rnd([3]) }), fns: ['loadStateDict'], kind: StateDictError });
    expect(err.message).toMatch(/missing keys \['0\.bias'\].*'0\.weight': expected shape \[2, 2\], got \[3\]/);
  });
});
