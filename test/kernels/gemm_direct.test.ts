/**
 * Tests of the GEMM module's exports themselves (build/gemm.wasm and, where the engine runs it,
 * build/gemm-fma.wasm), independent of the JS loader: the direct path for small n, k or m
 * (asm/gemm.ts, directImpl) against a float64 reference loop, its bit-identity with the
 * packed path, the row / column range functions the two-thread path calls, and that no path
 * reads or writes outside its operands (each operand in turn ends exactly at the end of the
 * memory, where one byte more traps; everything outside C and the scratch is compared before
 * and after).
 *
 * Error measure as in wasm_gemm.test.ts: |c - ref| / (Σ_p |a·b| + |C_old| + |bias|).
 */

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';

import fc from 'fast-check';

const root = path.resolve(__dirname, '../..');

/** The exports of build/gemm*.wasm (pointers are byte offsets into `memory`). */
interface GemmModule {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  heapBase(): number;
  scratchBytesF32(m: number, n: number): number;
  scratchBytesF64(m: number, n: number): number;
  gemmF32: GemmFn;
  gemmF64: GemmFn;
  gemmRangeF32: RangeFn;
  gemmRangeF64: RangeFn;
  packedBBytesF32(n: number, k: number): number;
  packedBBytesF64(n: number, k: number): number;
  packAllBF32(n: number, k: number, b: number, transB: number, dst: number): void;
  packAllBF64(n: number, k: number, b: number, transB: number, dst: number): void;
}
type GemmFn = (
  m: number, n: number, k: number, a: number, b: number, c: number,
  transA: number, transB: number, accumulate: number, bias: number, relu: number, scratch: number,
) => void;
type RangeFn = (
  m: number, n: number, k: number, a: number, b: number, c: number,
  transA: number, transB: number, accumulate: number, bias: number, relu: number, scratch: number,
  i0: number, i1: number, j0: number, j1: number, packedB: number,
) => void;

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  Memory: new (desc: { initial: number }) => GemmModule['memory'];
  validate(bytes: Uint8Array): boolean;
}
const api = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** A fresh instance of one build on a memory of its own, or null when the engine cannot run it. */
function instantiate(file: string): GemmModule | null {
  const bytes = fs.readFileSync(path.join(root, 'build', file));
  if (!api.validate(bytes)) {
    // Node 20 has relaxed SIMD behind a flag (the library sets it only with TAPEGRAD_FMA=1).
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    if (!api.validate(bytes)) return null;
  }
  // The modules import their memory (the runtime gives both modules one).
  const memory = new api.Memory({ initial: 1 });
  const exports = new api.Instance(new api.Module(bytes), { env: { memory } }).exports as Omit<GemmModule, 'memory'>;
  return { ...exports, memory } as GemmModule;
}

beforeAll(() => {
  if (!['gemm.wasm', 'gemm-fma.wasm'].every((f) => fs.existsSync(path.join(root, 'build', f)))) {
    execFileSync(process.execPath, [path.join(root, 'scripts', 'build-wasm.js')], { stdio: 'inherit' });
  }
});

interface Flags { transA: boolean; transB: boolean; accumulate: boolean; bias: boolean; relu: boolean }
interface Case { f64: boolean; m: number; n: number; k: number; flags: Flags; seed: number }

/** Deterministic values in [-1, 1) (an LCG), with some exact zeros and negative zeros. */
function values(len: number, seed: number): Float64Array {
  const out = new Float64Array(len);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const v = s / 2 ** 31 - 1;
    out[i] = (s & 63) === 0 ? 0 : (s & 63) === 1 ? -0 : v;
  }
  return out;
}

/** The operands of one case, rounded to the dtype. */
function operands({ f64, m, n, k, seed }: Case): { a: Float64Array; b: Float64Array; c0: Float64Array; bias: Float64Array } {
  const round = (x: Float64Array): Float64Array => (f64 ? x : Float64Array.from(Float32Array.from(x)));
  return { a: round(values(m * k, seed)), b: round(values(k * n, seed + 1)), c0: round(values(m * n, seed + 2)), bias: round(values(n, seed + 3)) };
}

/** Largest scaled error of `c` against the float64 reference of the case. */
function scaledError(cs: Case, c: ArrayLike<number>): number {
  const { m, n, k, flags } = cs;
  const { a, b, c0, bias } = operands(cs);
  let worst = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      let scale = 0;
      for (let p = 0; p < k; p++) {
        const x = (flags.transA ? a[p * m + i] : a[i * k + p]) * (flags.transB ? b[j * k + p] : b[p * n + j]);
        s += x;
        scale += Math.abs(x);
      }
      if (flags.accumulate) { s += c0[i * n + j]; scale += Math.abs(c0[i * n + j]); }
      if (flags.bias) { s += bias[j]; scale += Math.abs(bias[j]); }
      if (flags.relu) s = Math.max(s, 0);
      const err = Math.abs(c[i * n + j] - s) / (scale || 1);
      if (!(err <= worst)) worst = Number.isNaN(err) ? Infinity : err;
    }
  }
  return worst;
}

const SENTINEL = 0x7fc00bad; // a NaN: if a kernel ever used a byte it should not read, results show it

/** Where one case's operands lie in the module's memory (byte offsets). */
interface Placement { a: number; b: number; c: number; bias: number; scratch: number; scratchBytes: number; end: number }

/**
 * Lays the operands out with gaps of sentinel bytes between them, at offsets that are a
 * multiple of the element size but otherwise unaligned (`skew`), so that `last` (the operand
 * named) ends exactly at the end of the memory: reading one byte past it traps.
 */
function place(w: GemmModule, cs: Case, last: 'a' | 'b' | 'c' | 'bias', skew: number): Placement {
  const { f64, m, n, k } = cs;
  const sz = f64 ? 8 : 4;
  const scratchBytes = f64 ? w.scratchBytesF64(m, n) : w.scratchBytesF32(m, n);
  const bytes = { a: m * k * sz, b: k * n * sz, c: m * n * sz, bias: n * sz };
  const gap = 64 + skew * sz;
  let at = Math.ceil(w.heapBase() / 64) * 64 + gap;
  const scratch = at;
  at += scratchBytes + gap;
  const pos: Record<string, number> = {};
  for (const name of (['a', 'b', 'c', 'bias'] as const).filter((x) => x !== last)) {
    pos[name] = at;
    at += bytes[name] + gap;
  }
  // The memory must end right after `last`: grow to at least `at + bytes[last]`, then place it
  // at the very end.
  const need = at + bytes[last];
  const have = w.memory.buffer.byteLength;
  if (need > have) w.memory.grow(Math.ceil((need - have) / 65536));
  const end = w.memory.buffer.byteLength;
  pos[last] = end - bytes[last];
  return { a: pos.a, b: pos.b, c: pos.c, bias: pos.bias, scratch, scratchBytes, end };
}

/**
 * Runs one case on module `w` through `call` (default: the whole product, gemmF32/F64), with
 * `last` ending the memory; checks that nothing outside C and the scratch changed, and
 * returns C.
 */
function runCase(
  w: GemmModule, cs: Case, last: 'a' | 'b' | 'c' | 'bias', skew: number,
  call?: (p: Placement) => void,
): Float64Array {
  const { f64, m, n, k, flags } = cs;
  const sz = f64 ? 8 : 4;
  const p = place(w, cs, last, skew);
  const lo = Math.ceil(w.heapBase() / 64) * 64;
  new Int32Array(w.memory.buffer, lo, (p.end - lo) >> 2).fill(SENTINEL);
  const heap = f64 ? new Float64Array(w.memory.buffer) : new Float32Array(w.memory.buffer);
  const { a, b, c0, bias } = operands(cs);
  heap.set(a, p.a / sz);
  heap.set(b, p.b / sz);
  heap.set(c0, p.c / sz);
  heap.set(bias, p.bias / sz);
  const before = Buffer.from(new Uint8Array(w.memory.buffer, lo, p.end - lo).slice());
  if (call !== undefined) call(p);
  else {
    (f64 ? w.gemmF64 : w.gemmF32)(
      m, n, k, p.a, p.b, p.c, +flags.transA, +flags.transB, +flags.accumulate, flags.bias ? p.bias : 0, +flags.relu, p.scratch,
    );
  }
  const after = Buffer.from(w.memory.buffer, lo, p.end - lo);
  // Everything but C and the scratch must be as it was (A, B, bias, the gaps).
  const holes = [[p.scratch, p.scratch + p.scratchBytes], [p.c, p.c + m * n * sz]].sort((x, y) => x[0] - y[0]);
  let from = lo;
  for (const [h0, h1] of [...holes, [p.end, p.end]]) {
    if (!after.subarray(from - lo, h0 - lo).equals(before.subarray(from - lo, h0 - lo))) {
      throw new Error(`bytes in [${from}, ${h0}), outside C and the scratch, changed (case ${JSON.stringify(cs)})`);
    }
    from = Math.max(from, h1);
  }
  const out = f64 ? new Float64Array(w.memory.buffer) : new Float32Array(w.memory.buffer); // the buffer may have grown
  return Float64Array.from(out.subarray(p.c / sz, p.c / sz + m * n));
}

const builds = ['gemm.wasm', 'gemm-fma.wasm'] as const;
const lasts = ['a', 'b', 'c', 'bias'] as const;

// The property tests take a few seconds each; more on a busy machine.
jest.setTimeout(60_000);

const flagsArb = fc.record({ transA: fc.boolean(), transB: fc.boolean(), accumulate: fc.boolean(), bias: fc.boolean(), relu: fc.boolean() });

describe.each(builds)('GEMM module %s', (file) => {
  let w: GemmModule | null = null;
  beforeAll(() => {
    w = instantiate(file);
  });
  const mod = (): GemmModule => {
    if (w === null) throw new Error(`${file} does not run on this engine`);
    return w;
  };
  // The plain build runs on every engine with SIMD; the fused one only where relaxed SIMD does.
  const maybe = file === 'gemm.wasm' ? test : (name: string, fn: () => void) => test(name, () => {
    if (w === null) return; // engine without relaxed SIMD: the loader never picks this build
    fn();
  });

  test.each([['float32', false], ['float64', true]] as const)(
    '%s: small n (1..17), k (0..5 and up to 600, across a K block) and m (1..40), every flag, against float64 loops; nothing outside C and the scratch is read or written',
    (_name, f64) => {
      if (file !== 'gemm.wasm' && w === null) return;
      const tol = f64 ? 1e-12 : 1e-5;
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 17 }),
          fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 6, max: 40 }), fc.integer({ min: 250, max: 600 })),
          flagsArb, fc.constantFrom(...lasts), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 1e6 }),
          (m, n, k, flags, last, skew, seed) => {
            const cs: Case = { f64, m, n, k, flags, seed };
            return scaledError(cs, runCase(mod(), cs, last, skew)) <= tol;
          },
        ),
        { seed: 42, numRuns: 300 },
      );
    },
  );

  maybe('small m (1..3) with wide n, and small k with wide n, against float64 loops', () => {
    for (const f64 of [false, true]) {
      const tol = f64 ? 1e-12 : 1e-5;
      fc.assert(
        fc.property(
          fc.oneof(
            fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 18, max: 150 }), fc.integer({ min: 0, max: 90 })),
            fc.tuple(fc.integer({ min: 4, max: 70 }), fc.integer({ min: 18, max: 150 }), fc.integer({ min: 0, max: 5 })),
          ),
          flagsArb, fc.constantFrom(...lasts), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 1e6 }),
          ([m, n, k], flags, last, skew, seed) => {
            const cs: Case = { f64, m, n, k, flags, seed };
            return scaledError(cs, runCase(mod(), cs, last, skew)) <= tol;
          },
        ),
        { seed: 7, numRuns: 150 },
      );
    }
  });

  maybe('the bias of a partial column panel is read no further than its n values (packed path)', () => {
    // n = 21 (f32) / 11 (f64): the packed path's last panel is partial; the bias ends the memory.
    for (const f64 of [false, true]) {
      for (const transB of [false, true]) {
        const cs: Case = { f64, m: 9, n: f64 ? 11 : 21, k: 13, flags: { transA: false, transB, accumulate: true, bias: true, relu: true }, seed: 3 };
        expect(scaledError(cs, runCase(mod(), cs, 'bias', 0))).toBeLessThanOrEqual(f64 ? 1e-12 : 1e-5);
      }
    }
  });

  maybe('the direct path gives the packed path\'s bits: a narrow product equals the same columns of a wide one', () => {
    // Per element both paths compute acc = Σ madd over each K block in order, then + C, + bias,
    // ReLU. Widening op(B) (extra columns) or op(A) (extra rows) moves the product to the packed
    // path without changing the first columns' or rows' operations.
    fc.assert(
      fc.property(
        fc.boolean(), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 16 }),
        fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 250, max: 560 })), flagsArb, fc.integer({ min: 1, max: 1e6 }),
        (f64, m, n, k, flags, seed) => {
          const sz = f64 ? 8 : 4;
          const narrow: Case = { f64, m, n, k, flags, seed };
          const cNarrow = runCase(mod(), narrow, 'c', 0);
          // Wide: n + 40 columns (>= 41 > 4 vectors) and m + 8 rows (>= 9 >= 4): the packed path
          // (except float32 in gemm-fma.wasm up to 2^20 multiply-adds: the direct path's 2 x 16
          // tiles, against the packed path in the next test).
          const M = m + 8, N = n + 40;
          const { a, b, c0, bias } = operands(narrow);
          const A = new Float64Array(M * k), B = new Float64Array(k * N), C0 = new Float64Array(M * N), Q = new Float64Array(N);
          for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) A[flags.transA ? p * M + i : i * k + p] = flags.transA ? a[p * m + i] : a[i * k + p];
          for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) B[flags.transB ? j * k + p : p * N + j] = flags.transB ? b[j * k + p] : b[p * n + j];
          for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) C0[i * N + j] = c0[i * n + j];
          Q.set(bias);
          const w2 = mod();
          const al = (x: number): number => Math.ceil(x / 64) * 64;
          const pa = al(w2.heapBase()), pb = pa + al(M * k * sz), pc = pb + al(k * N * sz), pq = pc + al(M * N * sz);
          const ps = pq + al(N * sz), end = ps + (f64 ? w2.scratchBytesF64(M, N) : w2.scratchBytesF32(M, N));
          if (end > w2.memory.buffer.byteLength) w2.memory.grow(Math.ceil((end - w2.memory.buffer.byteLength) / 65536));
          const heap = f64 ? new Float64Array(w2.memory.buffer) : new Float32Array(w2.memory.buffer);
          heap.set(A, pa / sz); heap.set(B, pb / sz); heap.set(C0, pc / sz); heap.set(Q, pq / sz);
          (f64 ? w2.gemmF64 : w2.gemmF32)(M, N, k, pa, pb, pc, +flags.transA, +flags.transB, +flags.accumulate, flags.bias ? pq : 0, +flags.relu, ps);
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < n; j++) {
              if (!Object.is(heap[pc / sz + i * N + j], cNarrow[i * n + j])) return false;
            }
          }
          return true;
        },
      ),
      { seed: 11, numRuns: 120 },
    );
  });

  maybe('mid-size products (the fused build\'s float32 direct path, up to 2^20 multiply-adds) match float64 loops and give the packed path\'s bits', () => {
    // In gemm-fma.wasm, float32 products with n > 16, m >= 4, k >= 5 and m·n·k <= 2^20 take the
    // direct path with 2-row x 16-column tiles; ragged m, n and k exercise its partial tiles. The
    // same rows computed inside a taller product (m·n·k > 2^20: the packed path in both builds)
    // must come out bit for bit the same.
    const LIMIT = 2 ** 20;
    fc.assert(
      fc.property(
        fc.boolean(), fc.integer({ min: 4, max: 40 }), fc.integer({ min: 17, max: 72 }),
        fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 5, max: 70 }) }, { weight: 1, arbitrary: fc.integer({ min: 500, max: 530 }) }),
        flagsArb, fc.constantFrom(...lasts), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 1e6 }),
        (f64, m, n, k, flags, last, skew, seed) => {
          const sz = f64 ? 8 : 4;
          const cs: Case = { f64, m, n, k, flags, seed };
          const small = runCase(mod(), cs, last, skew);
          if (!(scaledError(cs, small) <= (f64 ? 1e-12 : 1e-5))) return false;
          // Tall: the same first m rows, then rows of zeros up to M, with M·n·k > 2^20.
          const M = Math.max(m + 1, Math.floor(LIMIT / (n * k)) + 1);
          const { a, b, c0, bias } = operands(cs);
          const A = new Float64Array(M * k), C0 = new Float64Array(M * n);
          for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) A[flags.transA ? p * M + i : i * k + p] = flags.transA ? a[p * m + i] : a[i * k + p];
          C0.set(c0);
          const x = mod();
          const al = (v: number): number => Math.ceil(v / 64) * 64;
          const pa = al(x.heapBase()), pb = pa + al(M * k * sz), pc = pb + al(k * n * sz), pq = pc + al(M * n * sz);
          const ps = pq + al(n * sz), end = ps + (f64 ? x.scratchBytesF64(M, n) : x.scratchBytesF32(M, n));
          if (end > x.memory.buffer.byteLength) x.memory.grow(Math.ceil((end - x.memory.buffer.byteLength) / 65536));
          const heap = f64 ? new Float64Array(x.memory.buffer) : new Float32Array(x.memory.buffer);
          heap.set(A, pa / sz); heap.set(b, pb / sz); heap.set(C0, pc / sz); heap.set(bias, pq / sz);
          (f64 ? x.gemmF64 : x.gemmF32)(M, n, k, pa, pb, pc, +flags.transA, +flags.transB, +flags.accumulate, flags.bias ? pq : 0, +flags.relu, ps);
          for (let i = 0; i < m * n; i++) if (!Object.is(heap[pc / sz + i], small[i])) return false;
          return true;
        },
      ),
      { seed: 13, numRuns: 80 },
    );
  });

  maybe('row and column ranges (the two-thread path) give the whole product\'s bits on small shapes', () => {
    fc.assert(
      fc.property(
        fc.boolean(), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 300 }),
        flagsArb, fc.integer({ min: 1, max: 1e6 }), fc.boolean(), fc.integer({ min: 1, max: 7 }),
        (f64, m, n, k, flags, seed, byRows, chunk) => {
          const cs: Case = { f64, m, n, k, flags, seed };
          const x = mod();
          const whole = runCase(x, cs, 'c', 0);
          const range = f64 ? x.gemmRangeF64 : x.gemmRangeF32;
          const args = (p: Placement): [number, number, number, number, number, number, number, number, number, number, number, number] => [
            m, n, k, p.a, p.b, p.c, +flags.transA, +flags.transB, +flags.accumulate, flags.bias ? p.bias : 0, +flags.relu, p.scratch,
          ];
          // Row chunks read all of B packed once (packAllB, in the scratch's second half); column
          // chunks pack their own.
          const split = runCase(x, { ...cs }, 'c', 0, (p) => {
            if (byRows) {
              const packedBytes = f64 ? x.packedBBytesF64(n, k) : x.packedBBytesF32(n, k);
              // Room for packed B: grow, and put it past the end of every operand (memory end).
              const at = Math.ceil(p.end / 64) * 64;
              const need = at + packedBytes;
              if (need > x.memory.buffer.byteLength) x.memory.grow(Math.ceil((need - x.memory.buffer.byteLength) / 65536));
              (f64 ? x.packAllBF64 : x.packAllBF32)(n, k, p.b, +flags.transB, at);
              for (let i0 = 0; i0 < m; i0 += chunk) range(...args(p), i0, Math.min(m, i0 + chunk), 0, n, at);
            } else {
              for (let j0 = 0; j0 < n; j0 += chunk) range(...args(p), 0, m, j0, Math.min(n, j0 + chunk), 0);
            }
          });
          return whole.every((v, i) => Object.is(v, split[i]));
        },
      ),
      { seed: 5, numRuns: 120 },
    );
  });
});
