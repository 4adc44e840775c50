/**
 * One GemmOptions for the public `kernels.gemm` and the raw WebAssembly GEMM: `relu` works in
 * both, and the TypeScript loops' epilogue (bias, then max(x, +0)) gives the WebAssembly
 * epilogue's bits, NaN and signed zeros included.
 */
import { gemm, setGemmBackend, type GemmOptions } from '../../src/kernels/gemm';
import { wasmAvailable, type GemmOptions as WasmGemmOptions } from '../../src/kernels/wasm';
import { ValueError } from '../../src/errors';
import { expectThrows } from '../helpers/errors';

const itWasm = wasmAvailable() ? it : it.skip;

itWasm('relu with bias: TypeScript loops and WebAssembly give the same bits (NaN, -0, negatives)', () => {
  const [m, n, k] = [7, 9, 5];
  for (const C of [Float32Array, Float64Array]) {
    // Small integers: every product and sum is exact, so both GEMMs give the same values and
    // only the epilogue could differ.
    const ints = (len: number, seed: number) => C.from(Array.from({ length: len }, (_, i) => ((i * 7 + seed * 3) % 7) - 3));
    const a = ints(m * k, 1);
    const b = ints(k * n, 2);
    a[3] = NaN; // row 0 of C is NaN
    const bias = C.from(Array.from({ length: n }, (_, j) => (j % 3) - 1.5));
    const opts: GemmOptions = { bias, relu: true };
    const prev = setGemmBackend('js');
    const js = new C(m * n);
    try {
      gemm(a, b, js, m, n, k, opts);
    } finally {
      setGemmBackend(prev);
    }
    const w = new C(m * n);
    setGemmBackend('wasm');
    try {
      gemm(a, b, w, m, n, k, opts);
    } finally {
      setGemmBackend(prev);
    }
    expect(Array.from(js).map((v) => Object.is(v, -0) ? '-0' : v)).toEqual(Array.from(w).map((v) => Object.is(v, -0) ? '-0' : v));
    expect(js.some((v) => Number.isNaN(v))).toBe(true);
    expect(js.every((v) => Number.isNaN(v) || v >= 0)).toBe(true);
    // An empty product accumulated into -0 plus a -0 bias is -0 before the ReLU: max makes it +0
    // in WebAssembly, and so in the loops.
    for (const mode of ['js', 'wasm'] as const) {
      const z = new C(4).fill(-0);
      setGemmBackend(mode);
      try {
        gemm(new C(0), new C(0), z, 2, 2, 0, { accumulate: true, bias: C.of(-0, -0), relu: true });
      } finally {
        setGemmBackend(prev);
      }
      expect(Array.from(z).map((v) => Object.is(v, 0))).toEqual([true, true, true, true]);
    }
  }
});

it('the two entry points share one options type and reject unknown keys', () => {
  const o: WasmGemmOptions<Float32Array> = { transA: false, relu: true };
  const p: GemmOptions = o;
  expect(p.relu).toBe(true);
  const a = new Float64Array(4);
  expectThrows(() => gemm(a, a, a, 2, 2, 2, { rleu: true } as never), ValueError, /^gemm: .*rleu/);
});
