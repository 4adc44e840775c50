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
// Why a 4 x 8 (f32) / 4 x 4 (f64) tile, i.e. 4 rows x two v128 per row, 8 accumulators:
// V8's TurboFan (Node 20) schedules every load of a loop body to its top, so all A and B
// vectors of one k step are live at once next to the accumulators. x64 has 16 xmm registers
// and V8 keeps one as scratch: 8 accumulators + 2 B + 4 A (+ 1 product without FMA) fits in
// 15. Bigger tiles (6x8, 5x8, 4x12) and k-unrolling were measured and spill accumulators to
// the stack, which costs 10-40% (6x8 with FMA still spills 4 of its 12 accumulators).
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
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = min(MR, mc - ir);
    let src = a + (<usize>(i0 + ir) * dr + <usize>p0 * dk);
    if (mr == MR && !transA) {
      // Rows contiguous in k: 4 x kc -> kc x 4.
      transpose4<T>(src, dr, kc, dst, <usize>MR * sz);
      dst += <usize>kc * MR * sz;
    } else if (mr == MR) {
      // transA: the MR values of one k are contiguous in A: straight vector copies.
      for (let p = 0; p < kc; p++) {
        v128.store(dst, v128.load(src));
        if (sz == 8) v128.store(dst, v128.load(src, 16), 16);
        src += dk;
        dst += <usize>MR * sz;
      }
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
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = min(NR, nc - jr);
    if (!transB) {
      // op(B)[p, j] = B[p, j]: the NR values for each k are contiguous: two v128 copies.
      let src = b + (<usize>p0 * ldb + j0 + jr) * sz;
      const step = <usize>ldb * sz;
      if (nr == NR) {
        for (let p = 0; p < kc; p++) {
          for (let o: usize = 0; o < <usize>NRB; o += 16) v128.store(dst + o, v128.load(src + o));
          src += step;
          dst += NRB;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          for (let c = 0; c < NR; c++) {
            store<T>(dst + c * sz, c < nr ? load<T>(src + c * sz) : <T>0);
          }
          src += step;
          dst += NRB;
        }
      }
    } else if (nr == NR) {
      // op(B)[p, j] = B[j, p]: column j of op(B) is row j of B, contiguous in k. Transpose
      // groups of 4 rows into the k-major panel (f32: two groups, the two halves of a row).
      const col0 = b + (<usize>(j0 + jr) * ldb + p0) * sz;
      const ld = <usize>ldb * sz;
      for (let g = 0; g < NR; g += 4) transpose4<T>(col0 + <usize>g * ld, ld, kc, dst + <usize>g * sz, <usize>NRB);
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
    }
    if (transB) dst += <usize>kc * NRB;
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
  // packed A block + packed B block + one MR x NR tile buffer, each 64-byte aligned.
  const kc = <usize>kcFor<T>();
  return ((<usize>mc * kc * sz + 63) & ~63) + ((<usize>nc * kc * sz + 63) & ~63) + <usize>(MR * NRB) + 64;
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
          const biasTile = bias + <usize>(jc + jr) * sz;
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
// The bias buffer must be readable up to 32 bytes past its end (the loader pads it).
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
