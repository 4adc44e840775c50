// AssemblyScript source of tapegrad's WebAssembly SIMD GEMM (built by scripts/build-wasm.js).
//
// C[M,N] = op(A) @ op(B) (+ C) (+ bias) (ReLU), row-major, tight strides, op = optional transpose.
//
// Structure follows BLIS / XNNPACK:
//   for jc in N step NC          (B block)
//     for pc in K step KC        pack B[pc:pc+kc, jc:jc+nc] into NR-wide k-major micro-panels
//       for ic in M step MC      pack A[ic:ic+mc, pc:pc+kc] into MR-tall k-major micro-panels
//         for jr in nc step NR   one B micro-panel (KC x NR)
//           for ir in mc step MR micro-kernel: MR x NR tile of C held in v128 registers
//
// Packing is the only code that knows about transposition, so all four (transA, transB)
// combinations share one micro-kernel per dtype. Packing zero-pads partial panels, so the
// micro-kernel always computes a full MR x NR tile; partial tiles go through a tile buffer.
//
// Products with a small n (at most 4 vectors: 16 f32 / 8 f64 columns), a small m (< 4) or a
// tiny k (1..4), and in the fused build float32 products of at most 2^20 multiply-adds (see
// DIRECT_MAX_FMA), take the direct path instead (see directImpl): no packed A, register tiles
// shaped to the output's width, and for tiny k whole row strips per call. It computes every
// element with the same operations in the same order as the packed path, so both give the
// same bits; it only saves the packing and the padding that dominate those shapes.
//
// Why a 4 x 8 (f32) / 4 x 4 (f64) tile, i.e. 4 rows x two v128 per row, 8 accumulators:
// V8's TurboFan (Node 20) schedules every load of a loop body to its top, so all A and B
// vectors of one k step are live at once next to the accumulators. x64 has 16 xmm registers
// and V8 keeps one as scratch: 8 accumulators + 2 B + 4 A (+ 1 product without FMA) fits in
// 15. Bigger tiles (6x8, 5x8, 4x12) and k-unrolling were measured and spill accumulators to
// the stack, which costs 10-40% (6x8 with FMA still spills 4 of its 12 accumulators). A 3 x 6
// f64 tile (9 accumulators, 15 registers, no spill) measured the same as 4 x 4 (Zen 4, best of
// 11 interleaved rounds on the W2 shapes: 0.95-1.03x), so the 4 x 4 stays. Both dtypes' kernels
// run at about 6.4-6.5 G fused multiply-adds per second there, 88% of the 7.3 G a loop of 12
// independent FMAs reaches; float64 moves 2 lanes per instruction to float32's 4, so its
// GFLOP/s are half of float32's (0.49-0.51 measured).
//
// Two instruction sets: the plain build multiplies then adds (SIMD128); the -fma build uses
// relaxed-simd's fused multiply-add (see maddF32), which V8 lowers to vfmadd231ps on x64 with
// FMA3. The fused kernel issues half the floating-point instructions and needs no product
// register: `npm run bench:gemm -- --only single` measured 38-42 GFLOP/s (best per size and
// form, f32) against 30-33 for the plain build (TAPEGRAD_FMA=0), Zen 3, Node 20.
//
// Memory: no GC, no allocator (--runtime stub). The JS loader owns the linear memory layout:
// it copies A, B, C and bias in above heapBase(), and passes a scratch pointer of at least
// scratchBytes*(m, n) bytes for the packed panels.
//
// Four artifacts are built from this one source: build/gemm.wasm (owns its memory) and
// build/gemm-mt.wasm (imports a shared memory as env.memory, so that the main thread and a
// worker thread can run gemmRange* on the same operands, each with its own scratch), each
// also as -fma (relaxed-simd). The
// code has no globals that change at run time and no data segments that matter, so two
// instances on one memory do not interfere.

/** Rows of the micro-kernel tile (both dtypes). */
const MR: i32 = 4;
/** Bytes per row of the micro-kernel tile: two v128 (8 x f32 or 4 x f64). */
const NRB: i32 = 32;
/**
 * Depth of one packed block, in bytes of one row of A: KC = 2048 / sizeof<T> elements of K
 * (512 f32, 256 f64). With MC = 128 rows of A per packed block, the packed A block is
 * 128 x 2 KiB = 256 KiB (half of Zen 3's 512 KiB L2) and one B micro-panel KC x 32 B = 16 KiB
 * f32 / 8 KiB f64 (within the 32 KiB L1), so each B micro-panel is loaded into L1 once and used
 * by all MC / MR = 32 micro-kernel calls of the block, while A streams from L2: the BLIS
 * arrangement. Measured with bench:gemm's single mode (n = 256..1024, two runs each, noisy
 * host), the mean over sizes and forms of the best times: KC = 512 / MC = 128 gave 38.0 and
 * 38.4 GFLOP/s in float32, the most consistent (KC = 256 / MC = 64: 32.2 and 38.9; the other
 * KC = 256 or 384 pairs with MC = 96..256: 30.5-37.2), and KC = 256 / MC = 128 was best in
 * float64 (17.7, 17.8 against 15.7-17.5). An
 * interleaved A/B of KC 1 or 2 KiB per row with MC 64, 96 or 128 found no difference beyond
 * the noise.
 */
const KC_BYTES: i32 = 2048;
const MC: i32 = 128;
/** Columns of B per packed block, in bytes per k row (packed B block = KC x 16 KiB = 2 MiB). */
const NC_BYTES: i32 = 4096 * 4;
/**
 * In the fused (relaxed-simd) build, float32 products of at most this many multiply-adds take
 * the direct path (see useDirect), with 2 x 4-vector tiles (2 rows x 16 columns) where n is
 * wider than 4 vectors. At 64³ that saves packing A and B (about 0.4 µs each of 11.3 µs) and
 * the packed kernel's address arithmetic: V8 (Node 20, x64) folds the constant offsets of
 * v128.load into the address but not those of load32_splat, so the 4 x 2 kernel's loop is 25
 * instructions per k step for 8 FMAs, the 2 x 4 direct one's 24. 64³ float32 measured
 * 10.2-10.7 µs against 11.3-11.6 packed (1.07-1.12x, the three forms, Zen 3), i.e. about the
 * 50-52 GFLOP/s a loop of 12 independent FMAs reaches there; the gain shrinks with size (96³
 * 1.07x, 128³ 0.96-1.03x, 256³ Aᵀ·B 0.83x). The plain SIMD128 build measured 0.95-0.98x at
 * 64³ with this path, and float64 0.95-0.99x in the fused build, so both keep the packed path.
 */
const DIRECT_MAX_FMA: i64 = 1 << 20;

/** First free byte after the module's static data; the loader places its buffers above it. */
export function heapBase(): usize {
  return __heap_base;
}

// --------------------------------------------------------------------------------------------
// Micro-kernels. `ap` = packed A: per k, MR scalars (see packA). `bp` = packed B:
// per k, NRB bytes. `c` points at the tile's top-left element, `ldc` is the row stride in
// BYTES. flags: F_LOADC = add the existing C tile, F_BIAS = add bias (pointing at the tile's
// first column), F_RELU = max(x, 0). Bias and ReLU are only requested on the last K block.
// One small non-inlined function per dtype gives V8's register allocator a clean loop.
// --------------------------------------------------------------------------------------------

const F_LOADC: i32 = 1;
const F_BIAS: i32 = 2;
const F_RELU: i32 = 4;

/**
 * c + a * b, lane-wise. In the relaxed-simd build (ASC_FEATURE_RELAXED_SIMD, resolved at compile
 * time) this is one fused multiply-add where the CPU has one (x64 FMA3, ARM64), which halves the
 * micro-kernel's floating-point instructions and rounds once instead of twice; otherwise it is
 * the plain SIMD128 multiply then add.
 */
// @ts-ignore: decorator
@inline function maddF32(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/** f64x2 counterpart of {@link maddF32}. */
// @ts-ignore: decorator
@inline function maddF64(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f64x2.relaxed_madd(a, b, c);
  return f64x2.add(c, f64x2.mul(a, b));
}

function kernelF32(kc: i32, ap: usize, bp: usize, c: usize, ldc: usize, flags: i32, bias: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const bEnd = bp + <usize>kc * 32;
  // Loop on the B pointer: one fewer induction variable than a counter.
  while (bp < bEnd) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const a0 = v128.load32_splat(ap);
    c00 = maddF32(a0, b0, c00);
    c01 = maddF32(a0, b1, c01);
    const a1 = v128.load32_splat(ap, 4);
    c10 = maddF32(a1, b0, c10);
    c11 = maddF32(a1, b1, c11);
    const a2 = v128.load32_splat(ap, 8);
    c20 = maddF32(a2, b0, c20);
    c21 = maddF32(a2, b1, c21);
    const a3 = v128.load32_splat(ap, 12);
    c30 = maddF32(a3, b0, c30);
    c31 = maddF32(a3, b1, c31);
    ap += 16;
    bp += 32;
  }
  if (flags & F_LOADC) {
    c00 = f32x4.add(c00, v128.load(c));
    c01 = f32x4.add(c01, v128.load(c, 16));
    c10 = f32x4.add(c10, v128.load(c + ldc));
    c11 = f32x4.add(c11, v128.load(c + ldc, 16));
    c20 = f32x4.add(c20, v128.load(c + 2 * ldc));
    c21 = f32x4.add(c21, v128.load(c + 2 * ldc, 16));
    c30 = f32x4.add(c30, v128.load(c + 3 * ldc));
    c31 = f32x4.add(c31, v128.load(c + 3 * ldc, 16));
  }
  if (flags & F_BIAS) {
    const q0 = v128.load(bias);
    const q1 = v128.load(bias, 16);
    c00 = f32x4.add(c00, q0); c01 = f32x4.add(c01, q1);
    c10 = f32x4.add(c10, q0); c11 = f32x4.add(c11, q1);
    c20 = f32x4.add(c20, q0); c21 = f32x4.add(c21, q1);
    c30 = f32x4.add(c30, q0); c31 = f32x4.add(c31, q1);
  }
  if (flags & F_RELU) {
    // f32x4.max propagates NaN, like Math.max in the pure-JS path.
    const z = f32x4.splat(0);
    c00 = f32x4.max(c00, z); c01 = f32x4.max(c01, z);
    c10 = f32x4.max(c10, z); c11 = f32x4.max(c11, z);
    c20 = f32x4.max(c20, z); c21 = f32x4.max(c21, z);
    c30 = f32x4.max(c30, z); c31 = f32x4.max(c31, z);
  }
  v128.store(c, c00); v128.store(c, c01, 16); c += ldc;
  v128.store(c, c10); v128.store(c, c11, 16); c += ldc;
  v128.store(c, c20); v128.store(c, c21, 16); c += ldc;
  v128.store(c, c30); v128.store(c, c31, 16);
}

function kernelF64(kc: i32, ap: usize, bp: usize, c: usize, ldc: usize, flags: i32, bias: usize): void {
  let c00 = f64x2.splat(0), c01 = f64x2.splat(0);
  let c10 = f64x2.splat(0), c11 = f64x2.splat(0);
  let c20 = f64x2.splat(0), c21 = f64x2.splat(0);
  let c30 = f64x2.splat(0), c31 = f64x2.splat(0);
  const bEnd = bp + <usize>kc * 32;
  while (bp < bEnd) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const a0 = v128.load64_splat(ap);
    c00 = maddF64(a0, b0, c00);
    c01 = maddF64(a0, b1, c01);
    const a1 = v128.load64_splat(ap, 8);
    c10 = maddF64(a1, b0, c10);
    c11 = maddF64(a1, b1, c11);
    const a2 = v128.load64_splat(ap, 16);
    c20 = maddF64(a2, b0, c20);
    c21 = maddF64(a2, b1, c21);
    const a3 = v128.load64_splat(ap, 24);
    c30 = maddF64(a3, b0, c30);
    c31 = maddF64(a3, b1, c31);
    ap += 32;
    bp += 32;
  }
  if (flags & F_LOADC) {
    c00 = f64x2.add(c00, v128.load(c));
    c01 = f64x2.add(c01, v128.load(c, 16));
    c10 = f64x2.add(c10, v128.load(c + ldc));
    c11 = f64x2.add(c11, v128.load(c + ldc, 16));
    c20 = f64x2.add(c20, v128.load(c + 2 * ldc));
    c21 = f64x2.add(c21, v128.load(c + 2 * ldc, 16));
    c30 = f64x2.add(c30, v128.load(c + 3 * ldc));
    c31 = f64x2.add(c31, v128.load(c + 3 * ldc, 16));
  }
  if (flags & F_BIAS) {
    const q0 = v128.load(bias);
    const q1 = v128.load(bias, 16);
    c00 = f64x2.add(c00, q0); c01 = f64x2.add(c01, q1);
    c10 = f64x2.add(c10, q0); c11 = f64x2.add(c11, q1);
    c20 = f64x2.add(c20, q0); c21 = f64x2.add(c21, q1);
    c30 = f64x2.add(c30, q0); c31 = f64x2.add(c31, q1);
  }
  if (flags & F_RELU) {
    const z = f64x2.splat(0);
    c00 = f64x2.max(c00, z); c01 = f64x2.max(c01, z);
    c10 = f64x2.max(c10, z); c11 = f64x2.max(c11, z);
    c20 = f64x2.max(c20, z); c21 = f64x2.max(c21, z);
    c30 = f64x2.max(c30, z); c31 = f64x2.max(c31, z);
  }
  v128.store(c, c00); v128.store(c, c01, 16); c += ldc;
  v128.store(c, c10); v128.store(c, c11, 16); c += ldc;
  v128.store(c, c20); v128.store(c, c21, 16); c += ldc;
  v128.store(c, c30); v128.store(c, c31, 16);
}

// --------------------------------------------------------------------------------------------
// Packing. T is f32 or f64; every branch on sizeof<T>() is resolved at compile time.
// --------------------------------------------------------------------------------------------

/**
 * Transposes 4 rows x `count` elements into `count` groups of 4: for each p < count, writes
 * row0[p], row1[p], row2[p], row3[p] (16 bytes f32, 32 bytes f64) at dst + p * dstStride.
 * Rows start at `src` and are `ld` bytes apart, elements contiguous within a row. This is the
 * layout change both packers need for a contiguous-in-k source (A when !transA, B when
 * transB); with SIMD shuffles it moves 4x4 (f32) or 4x2 (f64) blocks per step instead of one
 * scalar load and store per element. `count` need not be a multiple of the block.
 */
// @ts-ignore: decorator
@inline function transpose4<T>(src: usize, ld: usize, count: i32, dst: usize, dstStride: usize): void {
  const sz = <usize>sizeof<T>();
  const r1 = src + ld, r2 = src + 2 * ld, r3 = src + 3 * ld;
  let p = 0;
  if (sz == 4) {
    for (; p + 4 <= count; p += 4) {
      const o = <usize>p * 4;
      const x0 = v128.load(src + o), x1 = v128.load(r1 + o), x2 = v128.load(r2 + o), x3 = v128.load(r3 + o);
      const t0 = i32x4.shuffle(x0, x1, 0, 4, 1, 5); // r0[0] r1[0] r0[1] r1[1]
      const t1 = i32x4.shuffle(x0, x1, 2, 6, 3, 7); // r0[2] r1[2] r0[3] r1[3]
      const t2 = i32x4.shuffle(x2, x3, 0, 4, 1, 5);
      const t3 = i32x4.shuffle(x2, x3, 2, 6, 3, 7);
      const d = dst + <usize>p * dstStride;
      v128.store(d, i64x2.shuffle(t0, t2, 0, 2));
      v128.store(d + dstStride, i64x2.shuffle(t0, t2, 1, 3));
      v128.store(d + 2 * dstStride, i64x2.shuffle(t1, t3, 0, 2));
      v128.store(d + 3 * dstStride, i64x2.shuffle(t1, t3, 1, 3));
    }
  } else {
    for (; p + 2 <= count; p += 2) {
      const o = <usize>p * 8;
      const x0 = v128.load(src + o), x1 = v128.load(r1 + o), x2 = v128.load(r2 + o), x3 = v128.load(r3 + o);
      const d = dst + <usize>p * dstStride;
      v128.store(d, i64x2.shuffle(x0, x1, 0, 2));
      v128.store(d, i64x2.shuffle(x2, x3, 0, 2), 16);
      v128.store(d + dstStride, i64x2.shuffle(x0, x1, 1, 3));
      v128.store(d + dstStride, i64x2.shuffle(x2, x3, 1, 3), 16);
    }
  }
  for (; p < count; p++) {
    const o = <usize>p * sz;
    const d = dst + <usize>p * dstStride;
    store<T>(d, load<T>(src + o));
    store<T>(d + sz, load<T>(r1 + o));
    store<T>(d + 2 * sz, load<T>(r2 + o));
    store<T>(d + 3 * sz, load<T>(r3 + o));
  }
}

/**
 * Packs rows [i0, i0+mc) x depth [p0, p0+kc) of op(A) into MR-tall micro-panels at `dst`:
 * panel q holds, for each k, MR consecutive scalars (rows i0+q*MR .. +MR), zero-padded past
 * row mc. The micro-kernel broadcasts each with one load*_splat (vbroadcastss / vmovddup).
 * An earlier version stored every value pre-broadcast as a full v128, which saves V8 an
 * address computation per row but makes the packed A block 4x (f32) larger; with the bigger
 * BLIS blocks (KC x MC, see KC_BYTES) that no longer fits L2, and scalars measured faster.
 * Full panels move with SIMD: 4x4 / 4x2 transposes when !transA, vector copies when transA.
 * A is stored M x K (lda = K) when !transA, K x M (lda = M) when transA.
 */
function packA<T>(a: usize, lda: i32, transA: bool, i0: i32, mc: i32, p0: i32, kc: i32, dst: usize): void {
  const sz = <usize>sizeof<T>();
  // Step between consecutive k (dk) and consecutive rows (dr) of op(A), in bytes.
  const dk: usize = transA ? <usize>lda * sz : sz;
  const dr: usize = transA ? sz : <usize>lda * sz;
  const panel = <usize>kc * MR * sz; // bytes of one packed panel
  let ir = 0;
  if (transA) {
    // The MR values of one k are contiguous in A (a row of the stored k x m matrix). Copy 4 k
    // at a time across all full panels, so that each stored row is read once, left to right
    // (panel by panel, each k would be a walk down the rows m·sz bytes apart, reading 16 or 32
    // bytes per cache line and fetching every line again for the next panel).
    const full = mc / MR * MR;
    const w = <usize>MR * sz;
    for (let p = 0; p < kc; p += 4) {
      const pr = min(4, kc - p);
      let src = a + (<usize>(p0 + p) * lda + i0) * sz;
      let d = dst + <usize>p * w;
      for (let q = 0; q < full; q += MR) {
        let s = src, dd = d;
        for (let r = 0; r < pr; r++) {
          v128.store(dd, v128.load(s));
          if (sz == 8) v128.store(dd, v128.load(s, 16), 16);
          s += dk;
          dd += w;
        }
        src += w;
        d += panel;
      }
    }
    ir = full;
    dst += <usize>(full / MR) * panel;
  }
  for (; ir < mc; ir += MR) {
    const mr = min(MR, mc - ir);
    let src = a + (<usize>(i0 + ir) * dr + <usize>p0 * dk);
    if (mr == MR) {
      // Rows contiguous in k (!transA): 4 x kc -> kc x 4.
      transpose4<T>(src, dr, kc, dst, <usize>MR * sz);
      dst += panel;
    } else {
      for (let p = 0; p < kc; p++) {
        let s = src;
        for (let r = 0; r < MR; r++) {
          store<T>(dst, r < mr ? load<T>(s) : <T>0);
          s += dr;
          dst += sz;
        }
        src += dk;
      }
    }
  }
}

/**
 * Packs depth [p0, p0+kc) x columns [j0, j0+nc) of op(B) into NR-wide micro-panels at `dst`:
 * panel q holds, for each k, NR consecutive values (columns j0+q*NR .. +NR), zero-padded.
 * B is stored K x N (ldb = N) when !transB, N x K (ldb = K) when transB.
 */
function packB<T>(b: usize, ldb: i32, transB: bool, p0: i32, kc: i32, j0: i32, nc: i32, dst: usize): void {
  const sz = <usize>sizeof<T>();
  const NR = NRB / <i32>sz;
  const panel = <usize>kc * NRB; // bytes of one packed panel
  let jr = 0;
  if (!transB) {
    // op(B)[p, j] = B[p, j]: the NR values for each k are contiguous: two v128 copies. Copy 4
    // k at a time across all full panels, so that each row of B is read once, left to right
    // (panel by panel, each k would be a walk down the rows n·sz bytes apart, 32 bytes per
    // cache line, and every line fetched again for the next panel: packAllB measured 1.4-3.7x
    // slower that way for n = 256..1024).
    const full = nc / NR * NR;
    const step = <usize>ldb * sz;
    const G = 16 * NR; // columns per pass: 16 panels, 512 bytes (f32) or 1 KiB (f64) of a row
    for (let g = 0; g < full; g += G) {
      const gEnd = min(full, g + G);
      for (let p = 0; p < kc; p += 4) {
        const pr = min(4, kc - p);
        let src = b + (<usize>(p0 + p) * ldb + j0 + g) * sz;
        let d = dst + <usize>(g / NR) * panel + <usize>p * NRB;
        for (let q = g; q < gEnd; q += NR) {
          let s = src, dd = d;
          for (let r = 0; r < pr; r++) {
            v128.store(dd, v128.load(s));
            v128.store(dd, v128.load(s, 16), 16);
            s += step;
            dd += NRB;
          }
          src += NRB;
          d += panel;
        }
      }
    }
    jr = full;
    dst += <usize>(full / NR) * panel;
  }
  for (; jr < nc; jr += NR) {
    const nr = min(NR, nc - jr);
    if (!transB) {
      // Partial panel: zero columns past nr.
      let src = b + (<usize>p0 * ldb + j0 + jr) * sz;
      const step = <usize>ldb * sz;
      for (let p = 0; p < kc; p++) {
        for (let c = 0; c < NR; c++) {
          store<T>(dst + c * sz, c < nr ? load<T>(src + c * sz) : <T>0);
        }
        src += step;
        dst += NRB;
      }
    } else if (nr == NR) {
      // op(B)[p, j] = B[j, p]: column j of op(B) is row j of B, contiguous in k. Transpose
      // groups of 4 rows into the k-major panel (f32: two groups, the two halves of a row).
      const col0 = b + (<usize>(j0 + jr) * ldb + p0) * sz;
      const ld = <usize>ldb * sz;
      for (let g = 0; g < NR; g += 4) transpose4<T>(col0 + <usize>g * ld, ld, kc, dst + <usize>g * sz, <usize>NRB);
      dst += panel;
    } else {
      // Partial panel: scalar scatter with stride NR, zero columns past nr.
      const col0 = b + (<usize>(j0 + jr) * ldb + p0) * sz;
      const ld = <usize>ldb * sz;
      for (let c = 0; c < NR; c++) {
        let d = dst + c * sz;
        if (c < nr) {
          let s = col0 + c * ld;
          for (let p = 0; p < kc; p++) {
            store<T>(d, load<T>(s));
            s += sz;
            d += NRB;
          }
        } else {
          for (let p = 0; p < kc; p++) {
            store<T>(d, <T>0);
            d += NRB;
          }
        }
      }
      dst += panel;
    }
  }
}

// --------------------------------------------------------------------------------------------
// Direct path, for products with a small n, k or m: no packed A. The micro-kernels below
// read op(A) where it lies, one scalar broadcast per row and k (two strides: dk between
// consecutive k, dr between consecutive rows, so the same code serves A and Aᵀ), and op(B) as
// rows of whole vectors, from B itself when it is stored k x n with n a multiple of the lane
// count, else from a zero-padded copy of the current (KC x NC) block (packRowsB). The tile is
// R rows x NV vectors, NV = 1..4 with R = 6, 4, 3, 2 (R·NV accumulators + NV B vectors + R
// broadcasts fit in the 15 usable xmm registers), so a narrow C (n = 3, 10) wastes at most
// L - 1 lanes per row instead of padding to a multiple of 8 (f32) / 4 (f64) columns.
//
// Summation order: exactly the packed path's. For every element, lane-wise: acc = 0, then
// acc = madd(a, b, acc) for each k of one KC block in order; then + C (accumulate or a later
// KC block), + bias (last block), ReLU (last block). So the direct and packed paths give
// bit-identical results, and whichever path or block bounds a thread uses, it computes the same
// bits.
//
// Row tails: the rows of a tile past the last valid one read the last valid row of A (their
// results are computed and dropped). Column tails: the tile's last vector has `lanes` valid
// lanes (1..L); C and the bias are read and written lane by lane there, never past n.
// --------------------------------------------------------------------------------------------

/** Broadcasts one scalar of A (f32 or f64) to all lanes. */
// @ts-ignore: decorator
@inline function vsplat<T>(p: usize): v128 {
  if (sizeof<T>() == 4) return v128.load32_splat(p);
  return v128.load64_splat(p);
}

// @ts-ignore: decorator
@inline function vmadd<T>(a: v128, b: v128, c: v128): v128 {
  if (sizeof<T>() == 4) return maddF32(a, b, c);
  return maddF64(a, b, c);
}

// @ts-ignore: decorator
@inline function vadd<T>(a: v128, b: v128): v128 {
  if (sizeof<T>() == 4) return f32x4.add(a, b);
  return f64x2.add(a, b);
}

/**
 * Loads the first `lanes` elements at p (the rest zero) without touching memory past them;
 * `lanes` = L: one full load.
 */
// @ts-ignore: decorator
@inline function loadPart<T>(p: usize, lanes: i32): v128 {
  if (lanes == 16 / sizeof<T>()) return v128.load(p);
  if (sizeof<T>() == 8 || lanes == 2) return v128.load64_zero(p);
  if (lanes == 1) return v128.load32_zero(p);
  return v128.load32_lane(p + 8, v128.load64_zero(p), 2);
}

/** Stores the first `lanes` elements of v at p, nothing past them. */
// @ts-ignore: decorator
@inline function storePart<T>(p: usize, v: v128, lanes: i32): void {
  if (lanes == 16 / sizeof<T>()) {
    v128.store(p, v);
  } else if (sizeof<T>() == 8 || lanes == 2) {
    v128.store64_lane(p, v, 0);
  } else if (lanes == 1) {
    v128.store32_lane(p, v, 0);
  } else {
    v128.store64_lane(p, v, 0);
    v128.store32_lane(p + 8, v, 2);
  }
}

/** The epilogue of one accumulator vector: + C, + bias q, ReLU (per flags), store `lanes` lanes. */
// @ts-ignore: decorator
@inline function finish<T>(x: v128, c: usize, flags: i32, q: v128, lanes: i32): void {
  if (flags & F_LOADC) x = vadd<T>(x, loadPart<T>(c, lanes));
  if (flags & F_BIAS) x = vadd<T>(x, q);
  if (flags & F_RELU) x = vmax0<T>(x);
  storePart<T>(c, x, lanes);
}

/**
 * The epilogue of a partial tile: the kernel stored its raw accumulators (rows x nv vectors,
 * all R rows) at `tb`; this applies + C, + bias, ReLU to the `rows` x (nv - 1 vectors +
 * `lanes` lanes) that exist and stores them in C, touching nothing past them. Same operations
 * in the same order as a full tile's epilogue, so the same bits.
 */
function finishTile<T>(tb: usize, nv: i32, rows: i32, lanes: i32, c: usize, ldc: usize, flags: i32, bias: usize): void {
  const L = 16 / <i32>sizeof<T>();
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < nv; v++) {
      const w = v == nv - 1 ? lanes : L;
      const q = flags & F_BIAS ? loadPart<T>(bias + <usize>v * 16, w) : i64x2.splat(0);
      finish<T>(v128.load(tb + <usize>(r * nv + v) * 16), c + <usize>r * ldc + <usize>v * 16, flags, q, w);
    }
  }
}

/** max(x, 0) lane-wise, NaN-propagating like Math.max. */
// @ts-ignore: decorator
@inline function vmax0<T>(x: v128): v128 {
  if (sizeof<T>() == 4) return f32x4.max(x, f32x4.splat(0));
  return f64x2.max(x, f64x2.splat(0));
}

/**
 * Direct micro-kernel, 6 rows x 1 vector: C[0:6, 0:L] (full tile; see directImpl for partial
 * ones). `a` = op(A)[row 0, first k], `dk` / `dr` = bytes between consecutive k / rows of
 * op(A), `rows` = rows of A that exist (1..6; the others reread the last one), `b` = op(B)
 * [first k, first column], `ldb` = bytes between op(B) rows, the rest as kernelF32.
 */
function direct6x1<T>(kc: i32, a: usize, dk: usize, dr: usize, rows: i32, b: usize, ldb: usize,
  c: usize, ldc: usize, flags: i32, bias: usize): void {
  // Row pointers advance with k (loop-carried, so V8 keeps them in registers instead of
  // recomputing the clamp in every iteration).
  let a0 = a, a1 = a + <usize>min(1, rows - 1) * dr, a2 = a + <usize>min(2, rows - 1) * dr, a3 = a + <usize>min(3, rows - 1) * dr, a4 = a + <usize>min(4, rows - 1) * dr, a5 = a + <usize>min(5, rows - 1) * dr;
  let c00 = i64x2.splat(0);
  let c10 = i64x2.splat(0);
  let c20 = i64x2.splat(0);
  let c30 = i64x2.splat(0);
  let c40 = i64x2.splat(0);
  let c50 = i64x2.splat(0);
  for (let p = kc; p > 0; p--) {
    const b0 = v128.load(b);
    const x0 = vsplat<T>(a0);
    c00 = vmadd<T>(x0, b0, c00);
    const x1 = vsplat<T>(a1);
    c10 = vmadd<T>(x1, b0, c10);
    const x2 = vsplat<T>(a2);
    c20 = vmadd<T>(x2, b0, c20);
    const x3 = vsplat<T>(a3);
    c30 = vmadd<T>(x3, b0, c30);
    const x4 = vsplat<T>(a4);
    c40 = vmadd<T>(x4, b0, c40);
    const x5 = vsplat<T>(a5);
    c50 = vmadd<T>(x5, b0, c50);
    a0 += dk; a1 += dk; a2 += dk; a3 += dk; a4 += dk; a5 += dk;
    b += ldb;
  }
  if (flags & F_LOADC) {
    c00 = vadd<T>(c00, v128.load(c));
    c10 = vadd<T>(c10, v128.load(c + ldc));
    c20 = vadd<T>(c20, v128.load(c + 2 * ldc));
    c30 = vadd<T>(c30, v128.load(c + 3 * ldc));
    c40 = vadd<T>(c40, v128.load(c + 4 * ldc));
    c50 = vadd<T>(c50, v128.load(c + 5 * ldc));
  }
  if (flags & F_BIAS) {
    const q0 = v128.load(bias);
    c00 = vadd<T>(c00, q0);
    c10 = vadd<T>(c10, q0);
    c20 = vadd<T>(c20, q0);
    c30 = vadd<T>(c30, q0);
    c40 = vadd<T>(c40, q0);
    c50 = vadd<T>(c50, q0);
  }
  if (flags & F_RELU) {
    c00 = vmax0<T>(c00);
    c10 = vmax0<T>(c10);
    c20 = vmax0<T>(c20);
    c30 = vmax0<T>(c30);
    c40 = vmax0<T>(c40);
    c50 = vmax0<T>(c50);
  }
  v128.store(c, c00);
  v128.store(c + ldc, c10);
  v128.store(c + 2 * ldc, c20);
  v128.store(c + 3 * ldc, c30);
  v128.store(c + 4 * ldc, c40);
  v128.store(c + 5 * ldc, c50);
}

/** Direct micro-kernel, 4 rows x 2 vectors (arguments as direct6x1). */
function direct4x2<T>(kc: i32, a: usize, dk: usize, dr: usize, rows: i32, b: usize, ldb: usize,
  c: usize, ldc: usize, flags: i32, bias: usize): void {
  let a0 = a, a1 = a + <usize>min(1, rows - 1) * dr, a2 = a + <usize>min(2, rows - 1) * dr, a3 = a + <usize>min(3, rows - 1) * dr;
  let c00 = i64x2.splat(0), c01 = i64x2.splat(0);
  let c10 = i64x2.splat(0), c11 = i64x2.splat(0);
  let c20 = i64x2.splat(0), c21 = i64x2.splat(0);
  let c30 = i64x2.splat(0), c31 = i64x2.splat(0);
  for (let p = kc; p > 0; p--) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    const x0 = vsplat<T>(a0);
    c00 = vmadd<T>(x0, b0, c00);
    c01 = vmadd<T>(x0, b1, c01);
    const x1 = vsplat<T>(a1);
    c10 = vmadd<T>(x1, b0, c10);
    c11 = vmadd<T>(x1, b1, c11);
    const x2 = vsplat<T>(a2);
    c20 = vmadd<T>(x2, b0, c20);
    c21 = vmadd<T>(x2, b1, c21);
    const x3 = vsplat<T>(a3);
    c30 = vmadd<T>(x3, b0, c30);
    c31 = vmadd<T>(x3, b1, c31);
    a0 += dk; a1 += dk; a2 += dk; a3 += dk;
    b += ldb;
  }
  if (flags & F_LOADC) {
    c00 = vadd<T>(c00, v128.load(c)); c01 = vadd<T>(c01, v128.load(c, 16));
    c10 = vadd<T>(c10, v128.load(c + ldc)); c11 = vadd<T>(c11, v128.load(c + ldc, 16));
    c20 = vadd<T>(c20, v128.load(c + 2 * ldc)); c21 = vadd<T>(c21, v128.load(c + 2 * ldc, 16));
    c30 = vadd<T>(c30, v128.load(c + 3 * ldc)); c31 = vadd<T>(c31, v128.load(c + 3 * ldc, 16));
  }
  if (flags & F_BIAS) {
    const q0 = v128.load(bias), q1 = v128.load(bias, 16);
    c00 = vadd<T>(c00, q0); c01 = vadd<T>(c01, q1);
    c10 = vadd<T>(c10, q0); c11 = vadd<T>(c11, q1);
    c20 = vadd<T>(c20, q0); c21 = vadd<T>(c21, q1);
    c30 = vadd<T>(c30, q0); c31 = vadd<T>(c31, q1);
  }
  if (flags & F_RELU) {
    c00 = vmax0<T>(c00); c01 = vmax0<T>(c01);
    c10 = vmax0<T>(c10); c11 = vmax0<T>(c11);
    c20 = vmax0<T>(c20); c21 = vmax0<T>(c21);
    c30 = vmax0<T>(c30); c31 = vmax0<T>(c31);
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  v128.store(c + ldc, c10); v128.store(c + ldc, c11, 16);
  v128.store(c + 2 * ldc, c20); v128.store(c + 2 * ldc, c21, 16);
  v128.store(c + 3 * ldc, c30); v128.store(c + 3 * ldc, c31, 16);
}

/** Direct micro-kernel, 3 rows x 3 vectors (arguments as direct6x1). */
function direct3x3<T>(kc: i32, a: usize, dk: usize, dr: usize, rows: i32, b: usize, ldb: usize,
  c: usize, ldc: usize, flags: i32, bias: usize): void {
  let a0 = a, a1 = a + <usize>min(1, rows - 1) * dr, a2 = a + <usize>min(2, rows - 1) * dr;
  let c00 = i64x2.splat(0), c01 = i64x2.splat(0), c02 = i64x2.splat(0);
  let c10 = i64x2.splat(0), c11 = i64x2.splat(0), c12 = i64x2.splat(0);
  let c20 = i64x2.splat(0), c21 = i64x2.splat(0), c22 = i64x2.splat(0);
  for (let p = kc; p > 0; p--) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    const b2 = v128.load(b, 32);
    const x0 = vsplat<T>(a0);
    c00 = vmadd<T>(x0, b0, c00);
    c01 = vmadd<T>(x0, b1, c01);
    c02 = vmadd<T>(x0, b2, c02);
    const x1 = vsplat<T>(a1);
    c10 = vmadd<T>(x1, b0, c10);
    c11 = vmadd<T>(x1, b1, c11);
    c12 = vmadd<T>(x1, b2, c12);
    const x2 = vsplat<T>(a2);
    c20 = vmadd<T>(x2, b0, c20);
    c21 = vmadd<T>(x2, b1, c21);
    c22 = vmadd<T>(x2, b2, c22);
    a0 += dk; a1 += dk; a2 += dk;
    b += ldb;
  }
  if (flags & F_LOADC) {
    c00 = vadd<T>(c00, v128.load(c)); c01 = vadd<T>(c01, v128.load(c, 16)); c02 = vadd<T>(c02, v128.load(c, 32));
    c10 = vadd<T>(c10, v128.load(c + ldc)); c11 = vadd<T>(c11, v128.load(c + ldc, 16)); c12 = vadd<T>(c12, v128.load(c + ldc, 32));
    c20 = vadd<T>(c20, v128.load(c + 2 * ldc)); c21 = vadd<T>(c21, v128.load(c + 2 * ldc, 16)); c22 = vadd<T>(c22, v128.load(c + 2 * ldc, 32));
  }
  if (flags & F_BIAS) {
    const q0 = v128.load(bias), q1 = v128.load(bias, 16), q2 = v128.load(bias, 32);
    c00 = vadd<T>(c00, q0); c01 = vadd<T>(c01, q1); c02 = vadd<T>(c02, q2);
    c10 = vadd<T>(c10, q0); c11 = vadd<T>(c11, q1); c12 = vadd<T>(c12, q2);
    c20 = vadd<T>(c20, q0); c21 = vadd<T>(c21, q1); c22 = vadd<T>(c22, q2);
  }
  if (flags & F_RELU) {
    c00 = vmax0<T>(c00); c01 = vmax0<T>(c01); c02 = vmax0<T>(c02);
    c10 = vmax0<T>(c10); c11 = vmax0<T>(c11); c12 = vmax0<T>(c12);
    c20 = vmax0<T>(c20); c21 = vmax0<T>(c21); c22 = vmax0<T>(c22);
  }
  v128.store(c, c00); v128.store(c, c01, 16); v128.store(c, c02, 32);
  v128.store(c + ldc, c10); v128.store(c + ldc, c11, 16); v128.store(c + ldc, c12, 32);
  v128.store(c + 2 * ldc, c20); v128.store(c + 2 * ldc, c21, 16); v128.store(c + 2 * ldc, c22, 32);
}

/** Direct micro-kernel, 2 rows x 4 vectors (arguments as direct6x1). */
function direct2x4<T>(kc: i32, a: usize, dk: usize, dr: usize, rows: i32, b: usize, ldb: usize,
  c: usize, ldc: usize, flags: i32, bias: usize): void {
  let a0 = a, a1 = a + <usize>min(1, rows - 1) * dr;
  let c00 = i64x2.splat(0), c01 = i64x2.splat(0), c02 = i64x2.splat(0), c03 = i64x2.splat(0);
  let c10 = i64x2.splat(0), c11 = i64x2.splat(0), c12 = i64x2.splat(0), c13 = i64x2.splat(0);
  for (let p = kc; p > 0; p--) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    const b2 = v128.load(b, 32);
    const b3 = v128.load(b, 48);
    const x0 = vsplat<T>(a0);
    c00 = vmadd<T>(x0, b0, c00);
    c01 = vmadd<T>(x0, b1, c01);
    c02 = vmadd<T>(x0, b2, c02);
    c03 = vmadd<T>(x0, b3, c03);
    const x1 = vsplat<T>(a1);
    c10 = vmadd<T>(x1, b0, c10);
    c11 = vmadd<T>(x1, b1, c11);
    c12 = vmadd<T>(x1, b2, c12);
    c13 = vmadd<T>(x1, b3, c13);
    a0 += dk; a1 += dk;
    b += ldb;
  }
  if (flags & F_LOADC) {
    c00 = vadd<T>(c00, v128.load(c)); c01 = vadd<T>(c01, v128.load(c, 16)); c02 = vadd<T>(c02, v128.load(c, 32)); c03 = vadd<T>(c03, v128.load(c, 48));
    c10 = vadd<T>(c10, v128.load(c + ldc)); c11 = vadd<T>(c11, v128.load(c + ldc, 16)); c12 = vadd<T>(c12, v128.load(c + ldc, 32)); c13 = vadd<T>(c13, v128.load(c + ldc, 48));
  }
  if (flags & F_BIAS) {
    const q0 = v128.load(bias), q1 = v128.load(bias, 16), q2 = v128.load(bias, 32), q3 = v128.load(bias, 48);
    c00 = vadd<T>(c00, q0); c01 = vadd<T>(c01, q1); c02 = vadd<T>(c02, q2); c03 = vadd<T>(c03, q3);
    c10 = vadd<T>(c10, q0); c11 = vadd<T>(c11, q1); c12 = vadd<T>(c12, q2); c13 = vadd<T>(c13, q3);
  }
  if (flags & F_RELU) {
    c00 = vmax0<T>(c00); c01 = vmax0<T>(c01); c02 = vmax0<T>(c02); c03 = vmax0<T>(c03);
    c10 = vmax0<T>(c10); c11 = vmax0<T>(c11); c12 = vmax0<T>(c12); c13 = vmax0<T>(c13);
  }
  v128.store(c, c00); v128.store(c, c01, 16); v128.store(c, c02, 32); v128.store(c, c03, 48);
  v128.store(c + ldc, c10); v128.store(c + ldc, c11, 16); v128.store(c + ldc, c12, 32); v128.store(c + ldc, c13, 48);
}

/**
 * Tiny-k strip kernel: rows [0, 4) x `nvec` whole vectors of C for k = 1, the row's op(A)
 * values held in registers across the strip (no per-tile call, no accumulator set-up). Same
 * operations per element as the tile kernels: acc = madd(a_p, b_p, ...) from zero, then + C,
 * + bias, ReLU. Arguments as direct6x1; all rows exist.
 */
function strip4k1<T>(a: usize, dk: usize, dr: usize, b: usize, ldb: usize, c: usize, ldc: usize, nvec: i32, flags: i32, bias: usize): void {
  const x00 = vsplat<T>(a);
  const x10 = vsplat<T>(a + dr);
  const x20 = vsplat<T>(a + 2 * dr);
  const x30 = vsplat<T>(a + 3 * dr);
  const z = i64x2.splat(0);
  for (let v = 0; v < nvec; v++) {
    const b0 = v128.load(b);
    let r0 = vmadd<T>(x00, b0, z);
    let r1 = vmadd<T>(x10, b0, z);
    let r2 = vmadd<T>(x20, b0, z);
    let r3 = vmadd<T>(x30, b0, z);
    if (flags & F_LOADC) {
      r0 = vadd<T>(r0, v128.load(c)); r1 = vadd<T>(r1, v128.load(c + ldc)); r2 = vadd<T>(r2, v128.load(c + 2 * ldc)); r3 = vadd<T>(r3, v128.load(c + 3 * ldc));
    }
    if (flags & F_BIAS) {
      const q = v128.load(bias);
      r0 = vadd<T>(r0, q); r1 = vadd<T>(r1, q); r2 = vadd<T>(r2, q); r3 = vadd<T>(r3, q);
    }
    if (flags & F_RELU) {
      r0 = vmax0<T>(r0); r1 = vmax0<T>(r1); r2 = vmax0<T>(r2); r3 = vmax0<T>(r3);
    }
    v128.store(c, r0); v128.store(c + ldc, r1); v128.store(c + 2 * ldc, r2); v128.store(c + 3 * ldc, r3);
    b += 16;
    c += 16;
    bias += 16;
  }
}

/** Tiny-k strip kernel, 4 rows, k = 2 (see strip4k1). */
function strip4k2<T>(a: usize, dk: usize, dr: usize, b: usize, ldb: usize, c: usize, ldc: usize, nvec: i32, flags: i32, bias: usize): void {
  const x00 = vsplat<T>(a);
  const x01 = vsplat<T>(a + dk);
  const x10 = vsplat<T>(a + dr);
  const x11 = vsplat<T>(a + dr + dk);
  const x20 = vsplat<T>(a + 2 * dr);
  const x21 = vsplat<T>(a + 2 * dr + dk);
  const x30 = vsplat<T>(a + 3 * dr);
  const x31 = vsplat<T>(a + 3 * dr + dk);
  const z = i64x2.splat(0);
  for (let v = 0; v < nvec; v++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b + ldb);
    let r0 = vmadd<T>(x01, b1, vmadd<T>(x00, b0, z));
    let r1 = vmadd<T>(x11, b1, vmadd<T>(x10, b0, z));
    let r2 = vmadd<T>(x21, b1, vmadd<T>(x20, b0, z));
    let r3 = vmadd<T>(x31, b1, vmadd<T>(x30, b0, z));
    if (flags & F_LOADC) {
      r0 = vadd<T>(r0, v128.load(c)); r1 = vadd<T>(r1, v128.load(c + ldc)); r2 = vadd<T>(r2, v128.load(c + 2 * ldc)); r3 = vadd<T>(r3, v128.load(c + 3 * ldc));
    }
    if (flags & F_BIAS) {
      const q = v128.load(bias);
      r0 = vadd<T>(r0, q); r1 = vadd<T>(r1, q); r2 = vadd<T>(r2, q); r3 = vadd<T>(r3, q);
    }
    if (flags & F_RELU) {
      r0 = vmax0<T>(r0); r1 = vmax0<T>(r1); r2 = vmax0<T>(r2); r3 = vmax0<T>(r3);
    }
    v128.store(c, r0); v128.store(c + ldc, r1); v128.store(c + 2 * ldc, r2); v128.store(c + 3 * ldc, r3);
    b += 16;
    c += 16;
    bias += 16;
  }
}

/** Tiny-k strip kernel, 3 rows, k = 3 (see strip4k1). */
function strip3k3<T>(a: usize, dk: usize, dr: usize, b: usize, ldb: usize, c: usize, ldc: usize, nvec: i32, flags: i32, bias: usize): void {
  const x00 = vsplat<T>(a);
  const x01 = vsplat<T>(a + dk);
  const x02 = vsplat<T>(a + 2 * dk);
  const x10 = vsplat<T>(a + dr);
  const x11 = vsplat<T>(a + dr + dk);
  const x12 = vsplat<T>(a + dr + 2 * dk);
  const x20 = vsplat<T>(a + 2 * dr);
  const x21 = vsplat<T>(a + 2 * dr + dk);
  const x22 = vsplat<T>(a + 2 * dr + 2 * dk);
  const z = i64x2.splat(0);
  for (let v = 0; v < nvec; v++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b + ldb);
    const b2 = v128.load(b + 2 * ldb);
    let r0 = vmadd<T>(x02, b2, vmadd<T>(x01, b1, vmadd<T>(x00, b0, z)));
    let r1 = vmadd<T>(x12, b2, vmadd<T>(x11, b1, vmadd<T>(x10, b0, z)));
    let r2 = vmadd<T>(x22, b2, vmadd<T>(x21, b1, vmadd<T>(x20, b0, z)));
    if (flags & F_LOADC) {
      r0 = vadd<T>(r0, v128.load(c)); r1 = vadd<T>(r1, v128.load(c + ldc)); r2 = vadd<T>(r2, v128.load(c + 2 * ldc));
    }
    if (flags & F_BIAS) {
      const q = v128.load(bias);
      r0 = vadd<T>(r0, q); r1 = vadd<T>(r1, q); r2 = vadd<T>(r2, q);
    }
    if (flags & F_RELU) {
      r0 = vmax0<T>(r0); r1 = vmax0<T>(r1); r2 = vmax0<T>(r2);
    }
    v128.store(c, r0); v128.store(c + ldc, r1); v128.store(c + 2 * ldc, r2);
    b += 16;
    c += 16;
    bias += 16;
  }
}

/** Tiny-k strip kernel, 2 rows, k = 4 (see strip4k1). */
function strip2k4<T>(a: usize, dk: usize, dr: usize, b: usize, ldb: usize, c: usize, ldc: usize, nvec: i32, flags: i32, bias: usize): void {
  const x00 = vsplat<T>(a);
  const x01 = vsplat<T>(a + dk);
  const x02 = vsplat<T>(a + 2 * dk);
  const x03 = vsplat<T>(a + 3 * dk);
  const x10 = vsplat<T>(a + dr);
  const x11 = vsplat<T>(a + dr + dk);
  const x12 = vsplat<T>(a + dr + 2 * dk);
  const x13 = vsplat<T>(a + dr + 3 * dk);
  const z = i64x2.splat(0);
  for (let v = 0; v < nvec; v++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b + ldb);
    const b2 = v128.load(b + 2 * ldb);
    const b3 = v128.load(b + 3 * ldb);
    let r0 = vmadd<T>(x03, b3, vmadd<T>(x02, b2, vmadd<T>(x01, b1, vmadd<T>(x00, b0, z))));
    let r1 = vmadd<T>(x13, b3, vmadd<T>(x12, b2, vmadd<T>(x11, b1, vmadd<T>(x10, b0, z))));
    if (flags & F_LOADC) {
      r0 = vadd<T>(r0, v128.load(c)); r1 = vadd<T>(r1, v128.load(c + ldc));
    }
    if (flags & F_BIAS) {
      const q = v128.load(bias);
      r0 = vadd<T>(r0, q); r1 = vadd<T>(r1, q);
    }
    if (flags & F_RELU) {
      r0 = vmax0<T>(r0); r1 = vmax0<T>(r1);
    }
    v128.store(c, r0); v128.store(c + ldc, r1);
    b += 16;
    c += 16;
    bias += 16;
  }
}

/** Rows per strip of the tiny-k kernels (k = 1..4): as many as keep k·R broadcasts in registers. */
function stripRows(k: i32): i32 {
  return k <= 2 ? 4 : k == 3 ? 3 : 2;
}

/** Rows per tile of the direct kernel with `nv` vectors per row. */
function directRows(nv: i32): i32 {
  return nv == 1 ? 6 : nv == 2 ? 4 : nv == 3 ? 3 : 2;
}

/**
 * Copies op(B)[p0:p0+kc, j0:j0+nc] row by row to `dst`, `ldd` bytes per row (>= nc elements,
 * a multiple of 16), zero-filling each row past nc: the layout the direct kernels read.
 */
function packRowsB<T>(b: usize, ldb: i32, transB: bool, p0: i32, kc: i32, j0: i32, nc: i32, dst: usize, ldd: usize): void {
  const sz = <usize>sizeof<T>();
  const w = <i32>(ldd / sz);
  if (!transB) {
    for (let p = 0; p < kc; p++) {
      const src = b + (<usize>(p0 + p) * ldb + j0) * sz;
      const d = dst + <usize>p * ldd;
      let j = 0;
      for (; j + 16 / <i32>sz <= nc; j += 16 / <i32>sz) v128.store(d + <usize>j * sz, v128.load(src + <usize>j * sz));
      for (; j < nc; j++) store<T>(d + <usize>j * sz, load<T>(src + <usize>j * sz));
      for (; j < w; j++) store<T>(d + <usize>j * sz, <T>0);
    }
    return;
  }
  // op(B)[p, j] = B[j, p]: rows of B are contiguous in p; transpose them 4 at a time.
  const ld = <usize>ldb * sz;
  let j = 0;
  for (; j + 4 <= nc; j += 4) transpose4<T>(b + (<usize>(j0 + j) * ldb + p0) * sz, ld, kc, dst + <usize>j * sz, ldd);
  for (; j < w; j++) {
    const s = b + (<usize>(j0 + j) * ldb + p0) * sz;
    let d = dst + <usize>j * sz;
    for (let p = 0; p < kc; p++) {
      store<T>(d, j < nc ? load<T>(s + <usize>p * sz) : <T>0);
      d += ldd;
    }
  }
}

/**
 * Whether the direct path computes an m x n x k product (faster than packing there; both
 * give the same bits, see above). Depends on the full m, n, k only, so every row or column
 * range of one product takes the same path.
 */
function useDirect<T>(m: i32, n: i32, k: i32): bool {
  const L = 16 / <i32>sizeof<T>();
  if (n <= 4 * L || m < MR || (k >= 1 && k <= 4)) return true;
  return ASC_FEATURE_RELAXED_SIMD && sizeof<T>() == 4 && <i64>m * n * k <= DIRECT_MAX_FMA;
}

/**
 * The tile loops of the direct path: rows [r0, r1) x columns [q0, q1) of the current column
 * block (which starts at column jc of C) for one K block (from pc, kc deep), in tiles of up
 * to nvMax vectors; `bb` / `lb` = op(B)'s block and its row stride, `tb` = the tile buffer.
 */
// @ts-ignore: decorator
@inline function directTiles<T>(
  kc: i32, r0: i32, r1: i32, q0: i32, q1: i32, nvMax: i32,
  a: usize, dk: usize, dr: usize, pc: i32, bb: usize, lb: usize,
  c: usize, n: i32, jc: i32, flags: i32, bias: usize, tb: usize,
): void {
  const sz = <usize>sizeof<T>();
  const L = 16 / <i32>sz;
  const ldc = <usize>n * sz;
  for (let jr = q0; jr < q1; jr += nvMax * L) {
    const w = min(nvMax * L, q1 - jr);
    const nv = (w + L - 1) / L;
    const lanes = w - (nv - 1) * L;
    const R = directRows(nv);
    const bp = bb + <usize>jr * sz;
    const bq = bias + <usize>(jc + jr) * sz;
    for (let ir = r0; ir < r1; ir += R) {
      const rows = min(R, r1 - ir);
      const ap = a + <usize>ir * dr + <usize>pc * dk;
      const cp = c + (<usize>ir * n + jc + jr) * sz;
      // A full tile goes straight to C; a partial one through the tile buffer.
      const full = rows == R && lanes == L;
      const ct = full ? cp : tb;
      const lt = full ? ldc : <usize>nv * 16;
      const ft = full ? flags : 0;
      if (nv == 1) direct6x1<T>(kc, ap, dk, dr, rows, bp, lb, ct, lt, ft, bq);
      else if (nv == 2) direct4x2<T>(kc, ap, dk, dr, rows, bp, lb, ct, lt, ft, bq);
      else if (nv == 3) direct3x3<T>(kc, ap, dk, dr, rows, bp, lb, ct, lt, ft, bq);
      else direct2x4<T>(kc, ap, dk, dr, rows, bp, lb, ct, lt, ft, bq);
      if (!full) finishTile<T>(tb, nv, rows, lanes, cp, ldc, flags, bq);
    }
  }
}

/** The direct path of gemmImpl (same arguments, no pre-packed B). */
function directImpl<T>(
  m: i32, n: i32, k: i32,
  a: usize, b: usize, c: usize,
  transA: bool, transB: bool, accumulate: bool,
  bias: usize, relu: bool, scratch: usize,
  i0: i32, i1: i32, j0: i32, j1: i32,
): void {
  const sz = <usize>sizeof<T>();
  const L = 16 / <i32>sz;
  const NCmax = ncFor<T>();
  const KC = kcFor<T>();
  const lda = transA ? m : k;
  const ldb = transB ? k : n;
  const dk: usize = transA ? <usize>lda * sz : sz;
  const dr: usize = transA ? sz : <usize>lda * sz;
  const ldc = <usize>n * sz;
  // Vectors per tile: the whole (padded) width when it is at most 4 vectors, else 4 (2 rows;
  // against 4 rows x 2 vectors: 64 x 64 x 3 1.07-1.10x in both builds and dtypes, where the
  // row left over by the 3-row strips goes through the tiles; see DIRECT_MAX_FMA).
  const nvMax = n <= 4 * L ? (n + L - 1) / L : 4;
  // B is read in place when its rows are whole vectors, else from a padded copy at `packed`
  // (kc x roundUp(nc, L) <= KC x min(NC, roundUp(n, NR)): within scratchBytes*(m, n)).
  const inPlace = !transB && n % L == 0;
  // Scratch: a 256-byte tile buffer for partial tiles (at most 9 vectors: 3 x 3), then
  // the copy of B; the packed path's A block (>= MR x KC elements, unused here) covers the 256.
  const tb = (scratch + 63) & ~<usize>63;
  const packed = tb + 256;
  for (let jc = j0; jc < j1; jc += NCmax) {
    const nc = min(NCmax, j1 - jc);
    let pc = 0;
    do {
      const kc = min(KC, k - pc);
      const last = pc + kc >= k;
      let flags = (accumulate || pc > 0) ? F_LOADC : 0;
      if (last) {
        if (bias != 0) flags |= F_BIAS;
        if (relu) flags |= F_RELU;
      }
      let bb: usize, lb: usize;
      if (inPlace) {
        bb = b + (<usize>pc * n + jc) * sz;
        lb = <usize>n * sz;
      } else {
        lb = <usize>roundUp(nc, L) * sz;
        packRowsB<T>(b, ldb, transB, pc, kc, jc, nc, packed, lb);
        bb = packed;
      }
      if (kc >= 1 && kc <= 4 && kc == k) {
        // Tiny k: strips of R rows x all whole vectors; the rows left over and the columns past
        // the last whole vector go through the tiles.
        const nFull = nc / L * L;
        const R = stripRows(kc);
        let ir = i0;
        if (nFull > 0) {
          const bq = bias + <usize>jc * sz;
          for (; ir + R <= i1; ir += R) {
            const ap = a + <usize>ir * dr;
            const cp = c + (<usize>ir * n + jc) * sz;
            const nvec = nFull / L;
            if (kc == 1) strip4k1<T>(ap, dk, dr, bb, lb, cp, ldc, nvec, flags, bq);
            else if (kc == 2) strip4k2<T>(ap, dk, dr, bb, lb, cp, ldc, nvec, flags, bq);
            else if (kc == 3) strip3k3<T>(ap, dk, dr, bb, lb, cp, ldc, nvec, flags, bq);
            else strip2k4<T>(ap, dk, dr, bb, lb, cp, ldc, nvec, flags, bq);
          }
          directTiles<T>(kc, ir, i1, 0, nFull, nvMax, a, dk, dr, pc, bb, lb, c, n, jc, flags, bias, tb);
        }
        directTiles<T>(kc, i0, i1, nFull, nc, nvMax, a, dk, dr, pc, bb, lb, c, n, jc, flags, bias, tb);
      } else {
        directTiles<T>(kc, i0, i1, 0, nc, nvMax, a, dk, dr, pc, bb, lb, c, n, jc, flags, bias, tb);
      }
      pc += kc;
    } while (pc < k);
  }
}

// --------------------------------------------------------------------------------------------
// Driver.
// --------------------------------------------------------------------------------------------

function ncFor<T>(): i32 {
  return NC_BYTES / sizeof<T>();
}

function kcFor<T>(): i32 {
  return KC_BYTES / sizeof<T>();
}

function roundUp(x: i32, m: i32): i32 {
  return (x + m - 1) / m * m;
}

function scratchFor<T>(m: i32, n: i32): usize {
  const sz = <usize>sizeof<T>();
  const NR = NRB / <i32>sz;
  const mc = min(MC, roundUp(m, MR));
  const nc = min(ncFor<T>(), roundUp(n, NR));
  // packed A block + packed B block + one MR x NR tile buffer + a zero-padded NR bias
  // segment (NRB bytes, rounded to 64), each 64-byte aligned.
  const kc = <usize>kcFor<T>();
  return ((<usize>mc * kc * sz + 63) & ~63) + ((<usize>nc * kc * sz + 63) & ~63) + <usize>(MR * NRB) + 64 + 64;
}

/** Bytes packAllB<T> writes for op(B) of k x n: every (KC, NC) block, NR-padded columns. */
function packedAllBBytes<T>(n: i32, k: i32): usize {
  const NR = NRB / <i32>sizeof<T>();
  return <usize>roundUp(n, NR) * <usize>k * <usize>sizeof<T>();
}

/**
 * Packs all of op(B) (k x n) at `dst`, block by block exactly as gemmImpl packs it: block
 * (pc, jc) of kc x nc at dst + jc·k·sz + roundUp(nc, NR)·pc·sz. Threads computing row ranges of
 * one product then share one packed B instead of each packing all of it.
 */
function packAllB<T>(n: i32, k: i32, b: usize, transB: bool, dst: usize): void {
  const sz = <usize>sizeof<T>();
  const NR = NRB / <i32>sz;
  const NCmax = ncFor<T>();
  const KC = kcFor<T>();
  const ldb = transB ? k : n;
  for (let jc = 0; jc < n; jc += NCmax) {
    const nc = min(NCmax, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      packB<T>(b, ldb, transB, pc, kc, jc, nc, dst + <usize>jc * <usize>k * sz + <usize>roundUp(nc, NR) * <usize>pc * sz);
    }
  }
}

/**
 * Computes the block [i0, i1) x [j0, j1) of C (the whole product when i0 = j0 = 0, i1 = m,
 * j1 = n). Every element of C goes through the same operation sequence whatever block it is
 * computed in: lane-wise, acc = Σ a·b over each KC block of K in order (one madd per term),
 * then + C, + bias, ReLU. Neither the block bounds nor the tile or lane an element lands in
 * change that, so threads computing disjoint blocks produce results bit-identical to one
 * thread computing everything. Strides and the scratch layout come from the full m, n, k.
 */
function gemmImpl<T>(
  m: i32, n: i32, k: i32,
  a: usize, b: usize, c: usize,
  transA: bool, transB: bool, accumulate: bool,
  bias: usize, relu: bool, scratch: usize,
  i0: i32, i1: i32, j0: i32, j1: i32, prepackedB: usize,
): void {
  if (useDirect<T>(m, n, k)) {
    directImpl<T>(m, n, k, a, b, c, transA, transB, accumulate, bias, relu, scratch, i0, i1, j0, j1);
    return;
  }
  const sz = <usize>sizeof<T>();
  const NR = NRB / <i32>sz;
  const MCmax = MC;
  const NCmax = ncFor<T>();
  const KC = kcFor<T>();
  const lda = transA ? m : k;
  const ldb = transB ? k : n;
  const ldc = <usize>n * sz;

  const mcCap = min(MCmax, roundUp(m, MR));
  const packedA = (scratch + 63) & ~<usize>63;
  const packedB = (packedA + <usize>mcCap * <usize>KC * sz + 63) & ~<usize>63;
  const ncCap = min(NCmax, roundUp(n, NR));
  const tile = (packedB + <usize>ncCap * <usize>KC * sz + 63) & ~<usize>63;
  // The bias of a partial column panel, zero-padded to NR: the kernel reads NRB bytes of bias,
  // and reading past the caller's n values could leave the memory.
  const biasPad = tile + <usize>(MR * NRB);

  for (let jc = j0; jc < j1; jc += NCmax) {
    const nc = min(NCmax, j1 - jc);
    // do/while so that k == 0 still runs one (empty) block that applies beta, bias and ReLU.
    let pc = 0;
    do {
      const kc = min(KC, k - pc);
      const last = pc + kc >= k;
      let flags = (accumulate || pc > 0) ? F_LOADC : 0;
      if (last) {
        if (bias != 0) flags |= F_BIAS;
        if (relu) flags |= F_RELU;
      }
      // B's block (pc, jc): packed here, or already packed by packAllB (see there).
      let bBlock = packedB;
      if (prepackedB != 0) bBlock = prepackedB + <usize>jc * <usize>k * sz + <usize>roundUp(nc, NR) * <usize>pc * sz;
      else packB<T>(b, ldb, transB, pc, kc, jc, nc, packedB);
      for (let ic = i0; ic < i1; ic += MCmax) {
        const mc = min(MCmax, i1 - ic);
        packA<T>(a, lda, transA, ic, mc, pc, kc, packedA);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bp = bBlock + <usize>jr * kc * sz;
          let biasTile = bias + <usize>(jc + jr) * sz;
          if (bias != 0 && nr < NR && (flags & F_BIAS)) {
            for (let q = 0; q < NR; q++) store<T>(biasPad + <usize>q * sz, q < nr ? load<T>(biasTile + <usize>q * sz) : <T>0);
            biasTile = biasPad;
          }
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const ap = packedA + <usize>ir * kc * sz;
            const cp = c + (<usize>(ic + ir) * n + jc + jr) * sz;
            if (mr == MR && nr == NR) {
              kernel<T>(kc, ap, bp, cp, ldc, flags, biasTile);
            } else {
              // Partial tile: run the full kernel on a tile buffer, then copy the valid part.
              if (flags & F_LOADC) {
                for (let r = 0; r < mr; r++) {
                  for (let q = 0; q < nr; q++) {
                    store<T>(tile + <usize>(r * NRB) + q * sz, load<T>(cp + r * ldc + q * sz));
                  }
                }
              }
              kernel<T>(kc, ap, bp, tile, NRB, flags, biasTile);
              for (let r = 0; r < mr; r++) {
                for (let q = 0; q < nr; q++) {
                  store<T>(cp + r * ldc + q * sz, load<T>(tile + <usize>(r * NRB) + q * sz));
                }
              }
            }
          }
        }
      }
      pc += kc;
    } while (pc < k);
  }
}

// @inline so that the dtype dispatch disappears at compile time.
@inline function kernel<T>(kc: i32, ap: usize, bp: usize, c: usize, ldc: usize, flags: i32, bias: usize): void {
  if (sizeof<T>() == 4) kernelF32(kc, ap, bp, c, ldc, flags, bias);
  else kernelF64(kc, ap, bp, c, ldc, flags, bias);
}

// --------------------------------------------------------------------------------------------
// Exports. Pointers are byte offsets into this module's memory; bias = 0 means "no bias".
// Neither path reads or writes past the m·k, k·n, m·n and n elements of A, B, C and the bias
// (earlier versions read up to 32 bytes past the bias), nor outside the scratch region; the
// operands need no particular alignment beyond their element size.
// --------------------------------------------------------------------------------------------

/** Bytes of scratch the float32 GEMM needs for an m x n output. */
export function scratchBytesF32(m: i32, n: i32): usize {
  return scratchFor<f32>(m, n);
}

/** Bytes of scratch the float64 GEMM needs for an m x n output. */
export function scratchBytesF64(m: i32, n: i32): usize {
  return scratchFor<f64>(m, n);
}

/** float32 C[m,n] = op(A) @ op(B) (+ C if accumulate) (+ bias) (ReLU if relu). */
export function gemmF32(
  m: i32, n: i32, k: i32, a: usize, b: usize, c: usize,
  transA: bool, transB: bool, accumulate: bool, bias: usize, relu: bool, scratch: usize,
): void {
  gemmImpl<f32>(m, n, k, a, b, c, transA, transB, accumulate, bias, relu, scratch, 0, m, 0, n, 0);
}

/** float64 C[m,n] = op(A) @ op(B) (+ C if accumulate) (+ bias) (ReLU if relu). */
export function gemmF64(
  m: i32, n: i32, k: i32, a: usize, b: usize, c: usize,
  transA: bool, transB: bool, accumulate: bool, bias: usize, relu: bool, scratch: usize,
): void {
  gemmImpl<f64>(m, n, k, a, b, c, transA, transB, accumulate, bias, relu, scratch, 0, m, 0, n, 0);
}

/**
 * float32 block [i0, i1) x [j0, j1) of the product gemmF32 would compute (same arguments).
 * Used by the two-thread path: each thread computes a disjoint block with its own scratch,
 * on a shared memory. Bit-identical to the same elements of gemmF32 (see gemmImpl).
 * `packedB` = 0: pack B's blocks as needed; otherwise all of B packed by packAllBF32 there
 * (for row ranges, j0 = 0 and j1 = n).
 */
export function gemmRangeF32(
  m: i32, n: i32, k: i32, a: usize, b: usize, c: usize,
  transA: bool, transB: bool, accumulate: bool, bias: usize, relu: bool, scratch: usize,
  i0: i32, i1: i32, j0: i32, j1: i32, packedB: usize,
): void {
  gemmImpl<f32>(m, n, k, a, b, c, transA, transB, accumulate, bias, relu, scratch, i0, i1, j0, j1, packedB);
}

/** float64 counterpart of gemmRangeF32. */
export function gemmRangeF64(
  m: i32, n: i32, k: i32, a: usize, b: usize, c: usize,
  transA: bool, transB: bool, accumulate: bool, bias: usize, relu: bool, scratch: usize,
  i0: i32, i1: i32, j0: i32, j1: i32, packedB: usize,
): void {
  gemmImpl<f64>(m, n, k, a, b, c, transA, transB, accumulate, bias, relu, scratch, i0, i1, j0, j1, packedB);
}

/** Bytes packAllBF32 writes for a k x n op(B). */
export function packedBBytesF32(n: i32, k: i32): usize {
  return packedAllBBytes<f32>(n, k);
}

/** Bytes packAllBF64 writes for a k x n op(B). */
export function packedBBytesF64(n: i32, k: i32): usize {
  return packedAllBBytes<f64>(n, k);
}

/** Packs all of float32 op(B) (k x n; B stored n x k when transB) at dst, for gemmRangeF32. */
export function packAllBF32(n: i32, k: i32, b: usize, transB: bool, dst: usize): void {
  packAllB<f32>(n, k, b, transB, dst);
}

/** Packs all of float64 op(B) at dst, for gemmRangeF64. */
export function packAllBF64(n: i32, k: i32, b: usize, transB: bool, dst: usize): void {
  packAllB<f64>(n, k, b, transB, dst);
}
