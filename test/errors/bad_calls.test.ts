/**
 * Issue 11, "every bad call a clear TapegradError, and nothing bad accepted": calls that used to
 * crash with a raw TypeError/RangeError, or that were accepted silently, now throw a
 * TapegradError whose message names what the user called.
 */
import { ArgumentError, DTypeError, kernels, nn, ops, OutOfMemoryError, ShapeError, Tensor, tensor, TapegradError, ValueError } from '../../src';
import { describe as describeValue, MAX_ELEMENTS } from '../../src/shape';
import { gemm as wasmGemm, wasmAvailable } from '../../src/kernels/wasm';
import { expectThrows } from '../helpers/errors';

/** Calls a constructor with arguments TypeScript would reject, as JavaScript callers can. */
const loose = <T>(ctor: new (...a: never[]) => T, ...args: unknown[]): T => new (ctor as unknown as new (...a: unknown[]) => T)(...args);
/** Calls a function with arguments TypeScript would reject. */
const call = (f: (...a: never[]) => unknown, ...args: unknown[]): unknown => (f as unknown as (...a: unknown[]) => unknown)(...args);

describe('describe() never throws, whatever it is given', () => {
  const cyclic: unknown[] = [1, 2];
  cyclic.push(cyclic);
  const throwingGetter = Object.defineProperty({}, 'constructor', {
    get() {
      throw new Error('boom');
    },
  });
  const proxyArray = new Proxy([1, 2], {
    get() {
      throw new Error('trap');
    },
  });
  const proxyObject = new Proxy(
    {},
    {
      getPrototypeOf() {
        throw new Error('trap');
      },
    },
  );
  const { proxy: revoked, revoke } = Proxy.revocable([1], {});
  revoke();
  const badToString = {
    toString() {
      throw new Error('no');
    },
  };
  class Odd {
    static get name(): string {
      throw new Error('no name');
    }
  }

  it.each<[string, unknown, RegExp]>([
    ['a BigInt', 3n, /^bigint 3n$/],
    ['an array holding a BigInt', [3n], /^\[3n\]$/],
    ['a symbol', Symbol('s'), /^symbol Symbol\(s\)$/],
    ['an array holding a symbol', [Symbol('s')], /^\[symbol Symbol\(s\)\]$/],
    ['a cyclic array', cyclic, /^\[1,2,\[\.\.\.\]\]$/],
    ['an object whose constructor getter throws', throwingGetter, /^object$/],
    ['a Proxy of an array whose get trap throws', proxyArray, /^object/],
    ['a Proxy whose getPrototypeOf trap throws', proxyObject, /^object/],
    ['a revoked Proxy', revoked, /^object/],
    ['an object whose toString throws', badToString, /^object$/],
    ['an instance of a class whose name getter throws', new Odd(), /^object/],
    ['NaN and Infinity in an array', [NaN, -Infinity, undefined], /^\[NaN,-Infinity,undefined\]$/],
    ['a long array', new Array(100).fill(0), /^array\(100\)$/],
    ['a long string', 'x'.repeat(1000), /^"x{60}"\.\.\. \(1000 characters\)$/],
  ])('%s', (_what, v, pattern) => {
    let out = '';
    expect(() => (out = describeValue(v))).not.toThrow();
    expect(out).toMatch(pattern);
  });

  it('keeps the compact JSON form for ordinary arrays', () => {
    expect(describeValue([1, 2, 3])).toBe('[1,2,3]');
    expect(describeValue([[1], ['a']])).toBe('[[1],["a"]]');
    expect(describeValue(new Float32Array(3))).toBe('Float32Array(3)');
  });
});

describe('shapes that cannot exist are ShapeErrors, not RangeErrors', () => {
  it('Tensor.zeros([3n]) names the function and shows the BigInt', () => {
    expectThrows(() => Tensor.zeros([3n] as unknown as number[]), ShapeError, /^Tensor\.zeros: shape must be an array of non-negative integers, got \[3n\]$/);
  });

  it('a shape Proxy whose traps throw is refused as a shape', () => {
    const shape = new Proxy([2], {
      get() {
        throw new Error('trap');
      },
    });
    expectThrows(() => Tensor.zeros(shape), ShapeError, /^Tensor\.zeros: shape must be an array of non-negative integers, got object/);
  });

  it.each<[string, () => unknown]>([
    ['Tensor.zeros', () => Tensor.zeros([2 ** 30, 2 ** 30])],
    ['Tensor.ones', () => Tensor.ones([2 ** 30, 2 ** 30])],
    ['Tensor.full', () => Tensor.full([2 ** 30, 2 ** 30], 1)],
    ['Tensor.randn', () => Tensor.randn([2 ** 30, 2 ** 30])],
    ['Tensor.rand', () => Tensor.rand([2 ** 30, 2 ** 30])],
  ])('%s([2**30, 2**30]) names the function and the size', (fn, f) => {
    const msg = expectThrows(f, ShapeError, new RegExp(`^${fn.replace('.', '\\.')}: shape must hold at most ${MAX_ELEMENTS} elements`));
    expect(msg).toContain('got [1073741824, 1073741824] (1152921504606846976 elements)');
  });

  it('sizes beyond 2^53 and overflowing to Infinity are refused too', () => {
    const dims = new Array(25).fill(2 ** 52);
    const msg = expectThrows(() => Tensor.zeros(dims), ShapeError, /^Tensor\.zeros: shape must hold at most 4294967296 elements .* \(\d+ elements\)$/);
    expect(msg).toContain(`(${(2n ** 52n) ** 25n} elements)`);
  });

  it('a zero dimension makes an empty tensor even next to dimensions whose product overflows', () => {
    const t = Tensor.zeros([...new Array(25).fill(2 ** 52), 0]);
    expect(t.size).toBe(0);
  });

  it('a broadcast or a matrix product whose result cannot exist names the op', () => {
    const col = Tensor.zeros([2 ** 17, 1]);
    const row = Tensor.zeros([1, 2 ** 17]);
    expectThrows(() => col.add(row), ShapeError, /^add: the broadcast result must hold at most 4294967296 elements .*got \[131072, 131072\]/);
    expectThrows(() => col.matmul(row), ShapeError, /^matmul: the result \(M, N\) must hold at most 4294967296 elements .*got \[131072, 131072\]/);
  });
});

describe('memory that cannot be had', () => {
  it('a shape that is valid but larger than the machine gives an OutOfMemoryError naming the function', () => {
    // 2^32 float64 elements are 32 GiB: within a typed array's length limit, beyond this
    // 24 GiB machine and V8's largest ArrayBuffer.
    expect(() => Tensor.zeros([2 ** 32])).toThrow(OutOfMemoryError);
    expect(() => Tensor.randn([2 ** 16, 2 ** 16])).toThrow(/^Tensor.randn: cannot allocate 4294967296 float64 elements \(32.00 GiB\)/);
  });
});

describe('booleans are booleans', () => {
  const x = tensor([
    [1, 2],
    [3, 4],
  ]);
  it.each<[string, () => unknown]>([
    ['mean', () => x.mean(0, 'yes' as unknown as boolean)],
    ['sum', () => x.sum(0, 'yes' as unknown as boolean)],
    ['sum', () => ops.sum(x, undefined, 1 as unknown as boolean)],
    ['mean', () => ops.mean(x, 1, null as unknown as boolean)],
  ])('%s with a non-boolean keepDims', (fn, f) => {
    expectThrows(f, ArgumentError, new RegExp(`^${fn}: keepDims must be a boolean, got`));
  });

  it('keepDims true and false still work', () => {
    expect(x.mean(0, true).shape).toEqual([1, 2]);
    expect(x.sum(0, false).shape).toEqual([2]);
  });

  it("nn.Affine { bias: 'no' } is an error, not a bias", () => {
    expectThrows(() => new nn.Affine(3, 2, { bias: 'no' as unknown as boolean }), ArgumentError, /^Affine: opts\.bias must be a boolean, got "no"$/);
    expect(new nn.Affine(3, 2, { bias: false }).bias).toBeNull();
  });
});

describe('layer constructors check their options', () => {
  it.each<[string, () => unknown]>([
    ['Affine', () => loose(nn.Affine, 3, 2, null)],
    ['BatchNorm1d', () => loose(nn.BatchNorm1d, 3, null)],
    ['LayerNorm', () => loose(nn.LayerNorm, 3, null)],
    ['Dropout', () => loose(nn.Dropout, 0.5, null)],
    ['ReLU', () => loose(nn.ReLU, null)],
    ['Affine', () => loose(nn.Affine, 3, 2, 'float32')],
    ['BatchNorm1d', () => loose(nn.BatchNorm1d, 3, [0.1])],
  ])('%s with options that are not an object: ArgumentError', (cls, f) => {
    expectThrows(f, ArgumentError, new RegExp(`^${cls}: opts must be an object of options or undefined, got`));
  });

  it.each<[string, () => unknown, string]>([
    ['Affine', () => loose(nn.Affine, 3, 2, { biass: false }), 'biass'],
    ['Affine', () => loose(nn.Affine, 3, 2, { constructor: 1 }), 'constructor'],
    ['Affine', () => loose(nn.Affine, 3, 2, JSON.parse('{"__proto__": {"bias": false}}')), '__proto__'],
    ['BatchNorm1d', () => loose(nn.BatchNorm1d, 3, { momentun: 0.1 }), 'momentun'],
    ['BatchNorm1d', () => loose(nn.BatchNorm1d, 3, { toString: 1 }), 'toString'],
    ['LayerNorm', () => loose(nn.LayerNorm, 3, { momentum: 0.1 }), 'momentum'],
    ['ReLU', () => loose(nn.ReLU, { inplace: true }), 'inplace'],
    ['Dropout', () => loose(nn.Dropout, 0.5, { inplace: true }), 'inplace'],
  ])('%s with an unknown option (%#): ValueError naming it', (cls, f, key) => {
    expectThrows(f, ValueError, new RegExp(`^${cls}: ${key} is not an option of ${cls} `));
  });

  it('options are read from own keys only, never from a prototype', () => {
    const inherited = Object.create({ bias: false, dtype: 'float32' }) as nn.AffineOptions;
    const layer = new nn.Affine(3, 2, inherited);
    expect(layer.bias).not.toBeNull();
    expect(layer.weight.dtype).toBe('float64');
  });

  it('kaimingUniform names itself for a bad fanIn, shape or dtype', () => {
    expectThrows(() => nn.kaimingUniform([2, 2], NaN), ValueError, /^kaimingUniform: fanIn must be a non-negative integer, got number NaN$/);
    expectThrows(() => nn.kaimingUniform([2, -1], 2), ShapeError, /^kaimingUniform: shape must be/);
    expectThrows(() => nn.kaimingUniform([2, 2], 2, 'int8' as never), DTypeError, /^kaimingUniform: dtype must be/);
  });
});

describe('errors name what the user called', () => {
  it('a wrong input width into nn.Affine inside a Sequential names the layer and inFeatures', () => {
    const model = new nn.Sequential(new nn.Affine(4, 2));
    expectThrows(
      () => model.forward(Tensor.zeros([2, 3])),
      ShapeError,
      /^0:Affine: expected x of shape \(N, d1\.\.dk\) with 4 features \(inFeatures\), got x of shape \[2, 3\]$/,
    );
  });

  it('and outside any Sequential names the class', () => {
    expectThrows(() => new nn.Affine(4, 2).forward(Tensor.zeros([2, 2, 3])), ShapeError, /^Affine: expected x .* with 4 features \(inFeatures\), got x of shape \[2, 2, 3\]$/);
    expectThrows(() => new nn.Affine(4, 2).forward(Tensor.zeros([])), ShapeError, /^Affine: expected x .*, got x of shape \[\]$/);
    // Flattened features that match are fine.
    expect(new nn.Affine(4, 2).forward(Tensor.zeros([3, 2, 2])).shape).toEqual([3, 2]);
  });

  it('the kernel keeps its own check for direct calls', () => {
    const x = { shape: [2, 3], data: new Float64Array(6) };
    const w = { shape: [4, 2], data: new Float64Array(8) };
    const b = { shape: [2], data: new Float64Array(2) };
    expectThrows(() => kernels.affineForward(x, w, b), ShapeError, /^affineForward: w must have shape \[D, M\] with D = 3/);
  });

  it('label errors from the losses name nn.softmaxCrossEntropy / nn.svmLoss and the labels argument', () => {
    const scores = Tensor.zeros([2, 3], { requiresGrad: true });
    expectThrows(() => nn.softmaxCrossEntropy(scores, [0, 3]), ValueError, /^nn\.softmaxCrossEntropy: labels\[1\] must be an integer class label in \[0, 3\), got number 3$/);
    expectThrows(() => nn.svmLoss(scores, [0.5, 1]), ValueError, /^nn\.svmLoss: labels\[0\] must be an integer class label/);
    expectThrows(() => nn.softmaxCrossEntropy(scores, [0]), ShapeError, /^nn\.softmaxCrossEntropy: labels must hold 2 labels/);
    expectThrows(() => nn.softmaxCrossEntropy(Tensor.zeros([3]), [0]), ShapeError, /^nn\.softmaxCrossEntropy: scores must be 2-D/);
    expectThrows(() => nn.mseLoss(Tensor.zeros([2]), Tensor.zeros([3])), ShapeError, /^nn\.mseLoss: target must have shape \[2\]/);
    // The kernels called directly still name themselves.
    expectThrows(() => kernels.softmaxLoss(scores, [0, 3]), ValueError, /^softmaxLoss: y\[1\]/);
  });

  it('the losses check their options', () => {
    const s = Tensor.zeros([2, 3]);
    expectThrows(() => nn.softmaxCrossEntropy(s, [0, 1], { reductio: 'sum' } as never), ValueError, /^nn\.softmaxCrossEntropy: reductio is not an option/);
    expectThrows(() => call(nn.svmLoss, s, [0, 1], null), ArgumentError, /^nn\.svmLoss: opts must be an object/);
    expectThrows(() => nn.mseLoss(s, s, { constructor: 'sum' } as never), ValueError, /^nn\.mseLoss: constructor is not an option/);
  });
});

describe('kernel options objects', () => {
  const a = Float64Array.of(1, 2, 3, 4);
  const b = Float64Array.of(5, 6, 7, 8);
  it.each<[string, unknown, typeof TapegradError, RegExp]>([
    ['a misspelt flag', { transa: true }, ValueError, /^gemm: transa is not an option of gemm/],
    ['an inherited name', { hasOwnProperty: 1 }, ValueError, /^gemm: hasOwnProperty is not an option of gemm/],
    ['a non-boolean flag', { transA: 'yes' }, ArgumentError, /^gemm: opts\.transA must be a boolean, got "yes"$/],
    ['null', null, ArgumentError, /^gemm: opts must be an object of options or undefined, got null$/],
  ])('gemm with %s', (_what, opts, cls, pattern) => {
    const c = new Float64Array(4).fill(7);
    expectThrows(() => kernels.gemm(a, b, c, 2, 2, 2, opts as never), cls, pattern);
    expect(Array.from(c)).toEqual([7, 7, 7, 7]); // nothing written
  });

  (wasmAvailable() ? it : it.skip)('the WebAssembly gemm checks its options the same way', () => {
    const c = new Float64Array(4).fill(7);
    expectThrows(() => wasmGemm(a, b, c, 2, 2, 2, { rel: true } as never), ValueError, /^gemm: rel is not an option of gemm \(expected one of transA, transB, accumulate, bias, relu\)/);
    expectThrows(() => wasmGemm(a, b, c, 2, 2, 2, { relu: 1 } as never), ArgumentError, /^gemm: opts\.relu must be a boolean, got 1$/);
    expectThrows(() => wasmGemm(a, b, c, 2, 2, 2, null as never), ArgumentError, /^gemm: opts must be an object/);
    expect(Array.from(c)).toEqual([7, 7, 7, 7]);
    wasmGemm(a, b, c, 2, 2, 2, Object.create({ transA: true }) as never);
    expect(Array.from(c)).toEqual([19, 22, 43, 50]);
  });

  it('affineGrads checks which gradients it is asked for', () => {
    const x = { shape: [2, 2], data: Float64Array.of(1, 2, 3, 4) };
    const w = { shape: [2, 2], data: Float64Array.of(1, 0, 0, 1) };
    const bb = { shape: [2], data: Float64Array.of(0, 0) };
    const { out, cache } = kernels.affineForward(x, w, bb);
    expectThrows(() => kernels.affineGrads(out, cache, { dx: true, dW: true } as never), ValueError, /^affineGrads: dW is not an option of affineGrads/);
    expectThrows(() => kernels.affineGrads(out, cache, { dx: 'yes' } as never), ArgumentError, /^affineGrads: want\.dx must be a boolean, got "yes"$/);
    expectThrows(() => kernels.affineGrads(out, cache, null as never), ArgumentError, /^affineGrads: want must be an object/);
    const g = kernels.affineGrads(out, cache, { dw: true } as never);
    expect(g.dx).toBeNull();
    expect(g.db).toBeNull();
    expect(Array.from(g.dw!.data)).toEqual([10, 14, 14, 20]);
  });

  it('gemm reads its flags from own keys only', () => {
    const c = new Float64Array(4);
    kernels.gemm(a, b, c, 2, 2, 2, Object.create({ transA: true }) as kernels.GemmOptions);
    expect(Array.from(c)).toEqual([19, 22, 43, 50]); // A @ B, not Aᵀ @ B
  });

  it('gemmReference adds a bias like gemm instead of ignoring it', () => {
    const bias = Float64Array.of(100, 200);
    const ref = new Float64Array(4);
    const fast = new Float64Array(4);
    kernels.gemmReference(a, b, ref, 2, 2, 2, { bias });
    kernels.gemm(a, b, fast, 2, 2, 2, { bias });
    expect(Array.from(ref)).toEqual([119, 222, 143, 250]);
    expect(Array.from(fast)).toEqual(Array.from(ref));
  });

  it('batchnormForward refuses an unknown bnParam key, so a typo is not the default', () => {
    const x = { shape: [2, 2], data: Float64Array.of(1, 2, 3, 4) };
    const g = { shape: [2], data: Float64Array.of(1, 1) };
    const be = { shape: [2], data: Float64Array.of(0, 0) };
    const runningMean = new Float64Array(2);
    expectThrows(
      () => kernels.batchnormForward(x, g, be, { mode: 'train', momentun: 0.1, runningMean } as never),
      ValueError,
      /^batchnormForward: momentun is not an option of batchnormForward \(expected one of mode, eps, momentum, convention, runningMean, runningVar\), got 0\.1 for it$/,
    );
    expect(Array.from(runningMean)).toEqual([0, 0]); // nothing changed
    expectThrows(() => kernels.batchnormForward(x, g, be, null as never), ArgumentError, /^batchnormForward: bnParam must be an object/);
  });
});
