/**
 * A GEMM whose operands do not fit in the WebAssembly memory (issue 11: a [24000, 24000]
 * float64 matmul needs more than wasm32's 4 GiB) runs in tiles that do, and gives the product;
 * when not even a small tile fits, `kernels.gemm` falls back to the TypeScript loops and the
 * raw wasm entry point throws a clear ValueError instead of a RangeError.
 *
 * The failure is forced on small products by capping the memory the module may use
 * (`setGemmMemoryLimit`, internal).
 */
import { ValueError } from '../../src/errors';
import { gemm as kernelGemm, gemmReference, setGemmBackend } from '../../src/kernels/gemm';
import { gemm as wasmGemm, gemmTiledCount, setGemmMemoryLimit, setGemmThreads, wasmAvailable, type FloatArray } from '../../src/kernels/wasm';
import { matmul } from '../../src/ops';
import { Tensor } from '../../src/tensor';
import { filled, type Ctor } from '../helpers/arrays';
import { expectThrows } from '../helpers/errors';

interface Opts {
  transA: boolean;
  transB: boolean;
  accumulate: boolean;
  bias: boolean;
  relu: boolean;
}

/**
 * The product in float64 by the definition, and the scale of each element's rounding error
 * (the sum of the magnitudes of its terms). Copies op(A) and op(B)ᵀ into monomorphic
 * Float64Arrays first so the inner loop is contiguous and fast under jest.
 */
function reference(a: FloatArray, b: FloatArray, c0: FloatArray, bias: FloatArray | null, m: number, n: number, k: number, o: Opts) {
  const opA = new Float64Array(m * k);
  const opBt = new Float64Array(n * k);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) opA[i * k + p] = o.transA ? a[p * m + i] : a[i * k + p];
  for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) opBt[j * k + p] = o.transB ? b[j * k + p] : b[p * n + j];
  const ref = new Float64Array(m * n);
  const scale = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      let sc = 0;
      for (let p = 0; p < k; p++) {
        const xy = opA[i * k + p] * opBt[j * k + p];
        s += xy;
        sc += xy < 0 ? -xy : xy;
      }
      const extra = (o.accumulate ? c0[i * n + j] : 0) + (bias ? bias[j] : 0);
      s += extra;
      sc += (o.accumulate ? Math.abs(c0[i * n + j]) : 0) + (bias ? Math.abs(bias[j]) : 0);
      ref[i * n + j] = o.relu ? Math.max(s, 0) : s;
      scale[i * n + j] = sc;
    }
  }
  return { ref, scale };
}

function worstError(c: FloatArray, ref: Float64Array, scale: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs(c[i] - ref[i]) / (scale[i] || 1));
  return worst;
}

const ALL: Opts[] = [];
for (let bits = 0; bits < 32; bits++) {
  ALL.push({ transA: (bits & 1) !== 0, transB: (bits & 2) !== 0, accumulate: (bits & 4) !== 0, bias: (bits & 8) !== 0, relu: (bits & 16) !== 0 });
}

/** 600 KB: a 150 x 170 x 190 product (about 1.3 MB with its scratch) must run in tiles. */
const SMALL_LIMIT = 600_000;
/** Below what a 16 x 16 tile's scratch alone needs: nothing fits. */
const TINY_LIMIT = 60_000;

let prevLimit = Infinity;
beforeAll(() => {
  setGemmThreads(1);
});
afterEach(() => {
  setGemmMemoryLimit(prevLimit);
});

const itWasm = wasmAvailable() ? it : it.skip;

describe('a product larger than the wasm memory runs in tiles', () => {
  itWasm.each([
    ['float64', Float64Array, 1e-12],
    ['float32', Float32Array, 1e-5],
  ] as const)('%s, every combination of transA, transB, accumulate, bias, relu', (_dt, C, tol) => {
    const [m, n, k] = [150, 170, 190];
    prevLimit = setGemmMemoryLimit(SMALL_LIMIT);
    for (const o of ALL) {
      const a = filled(C as Ctor, m * k, 1);
      const b = filled(C as Ctor, k * n, 2);
      const c0 = filled(C as Ctor, m * n, 3);
      const bias = o.bias ? filled(C as Ctor, n, 4) : null;
      const c = (C as Ctor).from(c0) as FloatArray;
      const before = gemmTiledCount();
      wasmGemm(a, b, c, m, n, k, { ...o, bias });
      expect(gemmTiledCount()).toBe(before + 1);
      const { ref, scale } = reference(a, b, c0, bias, m, n, k, o);
      const err = worstError(c, ref, scale);
      if (!(err < tol)) throw new Error(`${JSON.stringify(o)}: scaled error ${err} >= ${tol}`);
    }
  });

  itWasm('kernels.gemm and ops.matmul give the product through the tiles (operands not in wasm memory)', () => {
    const [m, n, k] = [150, 170, 190];
    // Tensors made from the user's own arrays: every call copies them into wasm memory.
    const x = new Tensor(Float64Array.from(Tensor.rand([m, k], -1, 1).data), [m, k]);
    const y = new Tensor(Float64Array.from(Tensor.rand([k, n], -1, 1).data), [k, n]);
    const whole = matmul(x, y).data.slice();
    prevLimit = setGemmMemoryLimit(SMALL_LIMIT);
    const before = gemmTiledCount();
    const tiled = matmul(x, y).data;
    expect(gemmTiledCount()).toBe(before + 1);
    const { ref, scale } = reference(x.data, y.data, new Float64Array(0), null, m, n, k, ALL[0]);
    expect(worstError(tiled, ref, scale)).toBeLessThan(1e-12);
    expect(worstError(whole, ref, scale)).toBeLessThan(1e-12);
  });

  itWasm('C may alias A or B, as for a product that fits', () => {
    const n = 200; // 3 x 320 KB of operands: tiles
    prevLimit = setGemmMemoryLimit(SMALL_LIMIT);
    const a = filled(Float64Array, n * n, 5) as Float64Array;
    const b = filled(Float64Array, n * n, 6) as Float64Array;
    const { ref, scale } = reference(a.slice(), b.slice(), new Float64Array(0), null, n, n, n, ALL[0]);
    const before = gemmTiledCount();
    wasmGemm(a, b, a, n, n, n); // C is A
    expect(gemmTiledCount()).toBe(before + 1);
    expect(worstError(a, ref, scale)).toBeLessThan(1e-12);
  });

  itWasm('an empty inner dimension: C = bias (+ C), then ReLU', () => {
    const [m, n] = [300, 300]; // C alone is 720 KB
    prevLimit = setGemmMemoryLimit(SMALL_LIMIT);
    const c0 = filled(Float64Array, m * n, 7) as Float64Array;
    const bias = filled(Float64Array, n, 8) as Float64Array;
    const c = c0.slice();
    wasmGemm(new Float64Array(0), new Float64Array(0), c, m, n, 0, { accumulate: true, bias, relu: true });
    const want = Float64Array.from(c0, (v, i) => Math.max(v + bias[i % n], 0));
    expect(Array.from(c)).toEqual(Array.from(want));
  });
});

describe('when not even a small tile fits', () => {
  itWasm('kernels.gemm falls back to the TypeScript loops: the same result as gemmReference', () => {
    const [m, n, k] = [40, 30, 50];
    const a = filled(Float64Array, m * k, 1) as Float64Array;
    const b = filled(Float64Array, k * n, 2) as Float64Array;
    const bias = filled(Float64Array, n, 3) as Float64Array;
    const want = new Float64Array(m * n);
    gemmReference(a, b, want, m, n, k, { transB: false, bias });
    prevLimit = setGemmMemoryLimit(TINY_LIMIT);
    const prevBackend = setGemmBackend('wasm');
    try {
      const c = new Float64Array(m * n);
      kernelGemm(a, b, c, m, n, k, { bias });
      expect(Array.from(c)).toEqual(Array.from(want)); // bit for bit: the same loops
    } finally {
      setGemmBackend(prevBackend);
    }
  });

  itWasm('the raw WebAssembly GEMM throws a ValueError, not a RangeError, and leaves C as it was', () => {
    prevLimit = setGemmMemoryLimit(TINY_LIMIT);
    const c = new Float64Array(64 * 64).fill(3);
    expectThrows(
      () => wasmGemm(new Float64Array(64 * 64), new Float64Array(64 * 64), c, 64, 64, 64),
      ValueError,
      /^gemm: the WebAssembly memory must grow to hold at least a 16 x 16 tile of the product, got no room/,
    );
    expect(c.every((v) => v === 3)).toBe(true);
  });

  it('setGemmMemoryLimit checks its argument', () => {
    expectThrows(() => setGemmMemoryLimit(0), ValueError, /^setGemmMemoryLimit: bytes must be a positive number or Infinity, got 0$/);
  });
});
