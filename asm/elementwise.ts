// AssemblyScript source of tapegrad's WebAssembly SIMD elementwise kernels (built by
// scripts/build-wasm.js into build/elementwise.wasm; loaded by src/kernels/simd/).
//
// BatchNorm forward (train and test mode), BatchNorm backward (the seed's step-by-step form),
// ReLU forward/backward, gradient accumulation, and the SGD (plain and momentum), Adam and
// RMSProp updates, for float64 and float32, BIT-IDENTICAL to the TypeScript kernels in
// src/kernels/batchnorm.ts and src/kernels/relu.ts and the loops in src/autograd/tape.ts and
// src/optim/{sgd,adam,rmsprop}.ts. How:
//
// * Vectorized ACROSS the feature dimension j: one v128 holds adjacent columns of one row, so
//   every per-column sum over rows i is accumulated in the TS loops' order (i ascending) and
//   every lane sees exactly the TS expression, operation for operation, in the same order
//   (true divisions, no reciprocal multiplies, no FMA: plain SIMD128 has none, and neither V8
//   nor Binaryen contracts a*b+c). Per-column (O(D)) steps run as scalar code. Columns past the
//   last full vector (D not a multiple of the width) run as a scalar tail of each row.
//
// * float64: the TS kernels compute and store in f64, so f64x2 throughout.
//
// * float32, BatchNorm: every per-element operation is one float32 operation (the TS reference
//   rounds each with Math.fround or a Float32Array store), so f32x4 throughout the (N, D) loops.
//   Per-column steps (mean / N, sqrt(var + eps), 1 / sqrtvar, dvar, dmu, running statistics) are
//   computed in f64 from the stored f32 values and rounded once, as the TS stores them.
//
// * float32, other kernels: the TS code holds data in Float32Arrays, but JS evaluates every
//   expression in f64 and rounds only when storing into a Float32Array. JS locals are NOT
//   rounded. Mirrored by loading f32 pairs (v128.load64_zero), promoting to f64x2, computing in
//   f64 and demoting on store (ld2 / st2); values stored and read back later are rounded at
//   exactly those points (`rnd`). A single IEEE operation on f32 operands gives the same result
//   whether done in f32 or in f64 and then rounded (53 >= 2*24 + 2, Figueroa 1995), so steps
//   that are one operation use f32x4 directly: twice the lanes, same bits.
//
// Loop order: row-major (for i: for j), with the per-column accumulators in scratch memory
// (L1-resident, store-to-load forwarded). Column blocks with the sums in registers (for j-block:
// for i) were measured: 20% faster at (64, 64) f64, but 2x slower at (256, 512), where the
// 4 KiB row stride makes every row of a column block hit the same L1 set.
//
// Memory: --runtime stub, no allocator. The JS loader owns the layout above heapBase(): it
// copies the inputs in, passes pointers, copies the results out. `s` is a scratch region of
// SCRATCH_ARRAYS arrays of ceil16(D * 8) bytes each (scratchBytes(d)); the kernels initialise the
// accumulators they use, so nothing has to be cleared by the caller.

/** Number of D-length f64 scratch arrays a call may use. */
const SCRATCH_ARRAYS: usize = 8;

/** First free byte after the module's static data; the loader places its buffers above it. */
export function heapBase(): usize {
  return __heap_base;
}

/** Bytes of one D-length f64 scratch array, rounded up to 16 for aligned v128 access. */
// @ts-ignore: decorator
@inline function stride(d: i32): usize {
  return ((<usize>d << 3) + 15) & ~(<usize>15);
}

/** Bytes of scratch a BatchNorm call on D features needs (the `s` argument). */
export function scratchBytes(d: i32): usize {
  return SCRATCH_ARRAYS * stride(d);
}

/** Loads two f32 (8 bytes) and widens them to an f64x2. */
// @ts-ignore: decorator
@inline function ld2(p: usize): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(p));
}

/** Rounds an f64x2 to f32 and stores the two floats (8 bytes): a Float32Array store. */
// @ts-ignore: decorator
@inline function st2(p: usize, v: v128): void {
  v128.store64_lane(p, f32x4.demote_f64x2_zero(v), 0);
}

/** Rounds each lane to f32 and back: the value a Float32Array element would hold. */
// @ts-ignore: decorator
@inline function rnd(v: v128): v128 {
  return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(v));
}

/** Scalar counterpart of {@link rnd}. */
// @ts-ignore: decorator
@inline function rnd1(v: f64): f64 {
  return <f64><f32>v;
}

// ============================================================================================
// BatchNorm forward, float64. Arguments (byte pointers): x (N, D) input, overwritten by `out`
// (x is dead once out is written, so the loader passes one region for both and saves a copy's
// worth of cache), g = gamma, bt = beta, rm / rv running stats (read; train mode updates them),
// xmm = xMinusMean, xn = normalizedData, ivar, sv = sqrtvar, s = scratch.
// ============================================================================================

export function bnTrainForwardF64(
  x: usize, g: usize, bt: usize, rm: usize, rv: usize, out: usize, xmm: usize, xn: usize, ivar: usize, sv: usize,
  s: usize, n: i32, d: i32, eps: f64, momentum: f64,
): void {
  const rowB = <usize>d << 3;
  const vecB = <usize>(d & ~1) << 3;
  const nn = <f64>n;
  const mean = s;
  const vr = s + stride(d);
  memory.fill(mean, 0, rowB);
  memory.fill(vr, 0, rowB);
  // mean[j] += xs[i*d+j]
  for (let i = 0; i < n; i++) {
    const r = x + <usize>i * rowB;
    let o: usize = 0;
    for (; o < vecB; o += 16) v128.store(mean + o, f64x2.add(v128.load(mean + o), v128.load(r + o)));
    for (; o < rowB; o += 8) store<f64>(mean + o, load<f64>(mean + o) + load<f64>(r + o));
  }
  for (let o: usize = 0; o < rowB; o += 8) store<f64>(mean + o, load<f64>(mean + o) / nn);
  // c = xs - mean; xMinusMean = c; variance += c * c
  for (let i = 0; i < n; i++) {
    const r = x + <usize>i * rowB;
    const m = xmm + <usize>i * rowB;
    let o: usize = 0;
    for (; o < vecB; o += 16) {
      const c = f64x2.sub(v128.load(r + o), v128.load(mean + o));
      v128.store(m + o, c);
      v128.store(vr + o, f64x2.add(v128.load(vr + o), f64x2.mul(c, c)));
    }
    for (; o < rowB; o += 8) {
      const c = load<f64>(r + o) - load<f64>(mean + o);
      store<f64>(m + o, c);
      store<f64>(vr + o, load<f64>(vr + o) + c * c);
    }
  }
  for (let o: usize = 0; o < rowB; o += 8) {
    const v = load<f64>(vr + o) / nn;
    store<f64>(vr + o, v);
    const q = Math.sqrt(v + eps);
    store<f64>(sv + o, q);
    store<f64>(ivar + o, 1 / q);
  }
  // xhat = xMinusMean / sqrtvar; normalizedData = xhat; out = g * xhat + bt
  for (let i = 0; i < n; i++) {
    const k = <usize>i * rowB;
    let o: usize = 0;
    for (; o < vecB; o += 16) {
      const xh = f64x2.div(v128.load(xmm + k + o), v128.load(sv + o));
      v128.store(xn + k + o, xh);
      v128.store(out + k + o, f64x2.add(f64x2.mul(v128.load(g + o), xh), v128.load(bt + o)));
    }
    for (; o < rowB; o += 8) {
      const xh = load<f64>(xmm + k + o) / load<f64>(sv + o);
      store<f64>(xn + k + o, xh);
      store<f64>(out + k + o, load<f64>(g + o) * xh + load<f64>(bt + o));
    }
  }
  for (let o: usize = 0; o < rowB; o += 8) {
    store<f64>(rm + o, momentum * load<f64>(rm + o) + (1 - momentum) * load<f64>(mean + o));
    store<f64>(rv + o, momentum * load<f64>(rv + o) + (1 - momentum) * load<f64>(vr + o));
  }
}

export function bnTestForwardF64(
  x: usize, g: usize, bt: usize, rm: usize, rv: usize, out: usize, xmm: usize, xn: usize, ivar: usize, sv: usize,
  s: usize, n: i32, d: i32, eps: f64,
): void {
  const rowB = <usize>d << 3;
  const vecB = <usize>(d & ~1) << 3;
  const scale = s;
  const shift = s + stride(d);
  for (let o: usize = 0; o < rowB; o += 8) {
    const q = Math.sqrt(load<f64>(rv + o) + eps);
    store<f64>(sv + o, q);
    store<f64>(ivar + o, 1 / q);
    const gj = load<f64>(g + o);
    store<f64>(scale + o, gj / q);
    store<f64>(shift + o, load<f64>(bt + o) - (gj * load<f64>(rm + o)) / q);
  }
  // out = scale * xs + shift; c = xs - runningMean; xMinusMean = c; normalizedData = c / sqrtvar.
  // x is loaded before out (which may alias it) is stored.
  for (let i = 0; i < n; i++) {
    const k = <usize>i * rowB;
    let o: usize = 0;
    for (; o < vecB; o += 16) {
      const xv = v128.load(x + k + o);
      v128.store(out + k + o, f64x2.add(f64x2.mul(v128.load(scale + o), xv), v128.load(shift + o)));
      const c = f64x2.sub(xv, v128.load(rm + o));
      v128.store(xmm + k + o, c);
      v128.store(xn + k + o, f64x2.div(c, v128.load(sv + o)));
    }
    for (; o < rowB; o += 8) {
      const xv = load<f64>(x + k + o);
      store<f64>(out + k + o, load<f64>(scale + o) * xv + load<f64>(shift + o));
      const c = xv - load<f64>(rm + o);
      store<f64>(xmm + k + o, c);
      store<f64>(xn + k + o, c / load<f64>(sv + o));
    }
  }
}

// ============================================================================================
// BatchNorm backward, float64. dout (N, D) is overwritten by dx (each element of dout is read
// before dx at the same index is written). xmm / xn / gamma / ivar / sv from the forward cache
// (xmm and sv are only read in train mode). dgamma, dbeta (D) are written, not accumulated.
// ============================================================================================

export function bnBackwardF64(
  train: i32, dout: usize, xmm: usize, xn: usize, gamma: usize, ivar: usize, sv: usize,
  dx: usize, dgamma: usize, dbeta: usize, s: usize, n: i32, d: i32,
): void {
  const rowB = <usize>d << 3;
  const vecB = <usize>(d & ~1) << 3;
  const nn = <f64>n;
  memory.fill(dgamma, 0, rowB);
  memory.fill(dbeta, 0, rowB);
  if (!train) {
    // paramGrads (dbeta += g; dgamma += g * xhat) fused with dx = g * gamma * ivar: each
    // accumulator still sees rows in ascending order.
    for (let i = 0; i < n; i++) {
      const k = <usize>i * rowB;
      let o: usize = 0;
      for (; o < vecB; o += 16) {
        const gv = v128.load(dout + k + o);
        v128.store(dbeta + o, f64x2.add(v128.load(dbeta + o), gv));
        v128.store(dgamma + o, f64x2.add(v128.load(dgamma + o), f64x2.mul(gv, v128.load(xn + k + o))));
        v128.store(dx + k + o, f64x2.mul(f64x2.mul(gv, v128.load(gamma + o)), v128.load(ivar + o)));
      }
      for (; o < rowB; o += 8) {
        const gv = load<f64>(dout + k + o);
        store<f64>(dbeta + o, load<f64>(dbeta + o) + gv);
        store<f64>(dgamma + o, load<f64>(dgamma + o) + gv * load<f64>(xn + k + o));
        store<f64>(dx + k + o, gv * load<f64>(gamma + o) * load<f64>(ivar + o));
      }
    }
    return;
  }
  const divar = s;
  const t = s + stride(d); // (1 / n) * dvar * 2, the row-independent prefix of the dx1 term
  const dmu = s + 2 * stride(d);
  memory.fill(divar, 0, rowB);
  memory.fill(dmu, 0, rowB);
  // paramGrads fused with step 3: divar += g * gamma * xMinusMean.
  for (let i = 0; i < n; i++) {
    const k = <usize>i * rowB;
    let o: usize = 0;
    for (; o < vecB; o += 16) {
      const gv = v128.load(dout + k + o);
      v128.store(dbeta + o, f64x2.add(v128.load(dbeta + o), gv));
      v128.store(dgamma + o, f64x2.add(v128.load(dgamma + o), f64x2.mul(gv, v128.load(xn + k + o))));
      const p = f64x2.mul(f64x2.mul(gv, v128.load(gamma + o)), v128.load(xmm + k + o));
      v128.store(divar + o, f64x2.add(v128.load(divar + o), p));
    }
    for (; o < rowB; o += 8) {
      const gv = load<f64>(dout + k + o);
      store<f64>(dbeta + o, load<f64>(dbeta + o) + gv);
      store<f64>(dgamma + o, load<f64>(dgamma + o) + gv * load<f64>(xn + k + o));
      store<f64>(divar + o, load<f64>(divar + o) + gv * load<f64>(gamma + o) * load<f64>(xmm + k + o));
    }
  }
  // Steps 4-5: dvar = divar * (-1 / sqrtvar^2) * 0.5 * (1 / sqrtvar); TS then multiplies
  // (1 / n) * dvar[j] * 2 * xMinusMean left to right, so ((1 / n) * dvar) * 2 is a per-column
  // constant computed exactly as TS computes it.
  for (let o: usize = 0; o < rowB; o += 8) {
    const q = load<f64>(sv + o);
    const dvar = load<f64>(divar + o) * (-1 / (q * q)) * 0.5 * (1 / q);
    store<f64>(t + o, (1 / nn) * dvar * 2);
  }
  // dx1 = g * gamma * ivar + t * xMinusMean; dx = dx1; dmu += dx1.
  for (let i = 0; i < n; i++) {
    const k = <usize>i * rowB;
    let o: usize = 0;
    for (; o < vecB; o += 16) {
      const a = f64x2.mul(f64x2.mul(v128.load(dout + k + o), v128.load(gamma + o)), v128.load(ivar + o));
      const dx1 = f64x2.add(a, f64x2.mul(v128.load(t + o), v128.load(xmm + k + o)));
      v128.store(dx + k + o, dx1);
      v128.store(dmu + o, f64x2.add(v128.load(dmu + o), dx1));
    }
    for (; o < rowB; o += 8) {
      const dx1 = load<f64>(dout + k + o) * load<f64>(gamma + o) * load<f64>(ivar + o) + load<f64>(t + o) * load<f64>(xmm + k + o);
      store<f64>(dx + k + o, dx1);
      store<f64>(dmu + o, load<f64>(dmu + o) + dx1);
    }
  }
  for (let o: usize = 0; o < rowB; o += 8) store<f64>(dmu + o, (1 / nn) * -load<f64>(dmu + o));
  // dx = dmu + dx
  for (let i = 0; i < n; i++) {
    const k = <usize>i * rowB;
    let o: usize = 0;
    for (; o < vecB; o += 16) v128.store(dx + k + o, f64x2.add(v128.load(dmu + o), v128.load(dx + k + o)));
    for (; o < rowB; o += 8) store<f64>(dx + k + o, load<f64>(dmu + o) + load<f64>(dx + k + o));
  }
}

// ============================================================================================
// BatchNorm, float32: f32x4 across features. Every per-element operation is one float32 operation
// (f32x4.add / sub / mul / div, or f32 scalar ops in the tail), in the TS reference's order; the
// per-column steps compute in f64 from the stored f32 values and round once, as the TS stores
// into its Float32Arrays. Every per-column sum runs over rows in ascending order: row 0
// initialises the accumulator as 0 + v (so a -0 sums to +0, as a zero-filled Float32Array gives),
// later rows are added two per pass over the accumulator ((acc + row i) + row i+1: the same
// sequence of roundings, half the accumulator loads and stores).
// ============================================================================================

export function bnTrainForwardF32(
  x: usize, g: usize, bt: usize, rm: usize, rv: usize, out: usize, xmm: usize, xn: usize, ivar: usize, sv: usize,
  s: usize, n: i32, d: i32, eps: f64, momentum: f64,
): void {
  const rowB = <usize>d << 2;
  const vecB = <usize>(d & ~3) << 2;
  const nn = <f64>n;
  const mean = s; // f32: the Float32Array `mean`
  const vr = s + stride(d); // f32: `variance`
  const z = f32x4.splat(0);
  // mean[j] += xs[i*d+j]
  let o: usize = 0;
  for (; o < vecB; o += 16) v128.store(mean + o, f32x4.add(z, v128.load(x + o)));
  for (; o < rowB; o += 4) store<f32>(mean + o, <f32>0 + load<f32>(x + o));
  let i = 1;
  for (; i + 1 < n; i += 2) {
    const r = x + <usize>i * rowB;
    const r1 = r + rowB;
    for (o = 0; o < vecB; o += 16) {
      v128.store(mean + o, f32x4.add(f32x4.add(v128.load(mean + o), v128.load(r + o)), v128.load(r1 + o)));
    }
    for (; o < rowB; o += 4) store<f32>(mean + o, load<f32>(mean + o) + load<f32>(r + o) + load<f32>(r1 + o));
  }
  if (i < n) {
    const r = x + <usize>i * rowB;
    for (o = 0; o < vecB; o += 16) v128.store(mean + o, f32x4.add(v128.load(mean + o), v128.load(r + o)));
    for (; o < rowB; o += 4) store<f32>(mean + o, load<f32>(mean + o) + load<f32>(r + o));
  }
  for (o = 0; o < rowB; o += 4) store<f32>(mean + o, <f32>(<f64>load<f32>(mean + o) / nn));
  // c = xs - mean; xMinusMean = c; variance += c * c. Row 0: variance = c * c (never -0).
  for (o = 0; o < vecB; o += 16) {
    const c = f32x4.sub(v128.load(x + o), v128.load(mean + o));
    v128.store(xmm + o, c);
    v128.store(vr + o, f32x4.mul(c, c));
  }
  for (; o < rowB; o += 4) {
    const c = load<f32>(x + o) - load<f32>(mean + o);
    store<f32>(xmm + o, c);
    store<f32>(vr + o, c * c);
  }
  for (i = 1; i + 1 < n; i += 2) {
    const k = <usize>i * rowB;
    const r = x + k;
    const r1 = r + rowB;
    const m = xmm + k;
    const m1 = m + rowB;
    for (o = 0; o < vecB; o += 16) {
      const mv = v128.load(mean + o);
      const c = f32x4.sub(v128.load(r + o), mv);
      const c1 = f32x4.sub(v128.load(r1 + o), mv);
      v128.store(m + o, c);
      v128.store(m1 + o, c1);
      v128.store(vr + o, f32x4.add(f32x4.add(v128.load(vr + o), f32x4.mul(c, c)), f32x4.mul(c1, c1)));
    }
    for (; o < rowB; o += 4) {
      const mv = load<f32>(mean + o);
      const c = load<f32>(r + o) - mv;
      const c1 = load<f32>(r1 + o) - mv;
      store<f32>(m + o, c);
      store<f32>(m1 + o, c1);
      store<f32>(vr + o, load<f32>(vr + o) + c * c + c1 * c1);
    }
  }
  if (i < n) {
    const k = <usize>i * rowB;
    const xR = x + k;
    const xmmR = xmm + k;
    for (o = 0; o < vecB; o += 16) {
      const c = f32x4.sub(v128.load(xR + o), v128.load(mean + o));
      v128.store(xmmR + o, c);
      v128.store(vr + o, f32x4.add(v128.load(vr + o), f32x4.mul(c, c)));
    }
    for (; o < rowB; o += 4) {
      const c = load<f32>(xR + o) - load<f32>(mean + o);
      store<f32>(xmmR + o, c);
      store<f32>(vr + o, load<f32>(vr + o) + c * c);
    }
  }
  for (o = 0; o < rowB; o += 4) {
    const v = <f32>(<f64>load<f32>(vr + o) / nn);
    store<f32>(vr + o, v);
    const q = <f32>Math.sqrt(<f64>v + eps);
    store<f32>(sv + o, q);
    store<f32>(ivar + o, <f32>(1 / <f64>q));
  }
  // xhat = xMinusMean / sqrtvar; normalizedData = xhat; out = g * xhat + bt
  for (i = 0; i < n; i++) {
    const k = <usize>i * rowB;
    const pm = xmm + k;
    const pn = xn + k;
    const po = out + k;
    for (o = 0; o < vecB; o += 16) {
      const xh = f32x4.div(v128.load(pm + o), v128.load(sv + o));
      v128.store(pn + o, xh);
      v128.store(po + o, f32x4.add(f32x4.mul(v128.load(g + o), xh), v128.load(bt + o)));
    }
    for (; o < rowB; o += 4) {
      const xh = load<f32>(pm + o) / load<f32>(sv + o);
      store<f32>(pn + o, xh);
      store<f32>(po + o, load<f32>(g + o) * xh + load<f32>(bt + o));
    }
  }
  for (o = 0; o < rowB; o += 4) {
    store<f32>(rm + o, <f32>(momentum * <f64>load<f32>(rm + o) + (1 - momentum) * <f64>load<f32>(mean + o)));
    store<f32>(rv + o, <f32>(momentum * <f64>load<f32>(rv + o) + (1 - momentum) * <f64>load<f32>(vr + o)));
  }
}

export function bnTestForwardF32(
  x: usize, g: usize, bt: usize, rm: usize, rv: usize, out: usize, xmm: usize, xn: usize, ivar: usize, sv: usize,
  s: usize, n: i32, d: i32, eps: f64,
): void {
  const rowB = <usize>d << 2;
  const vecB = <usize>(d & ~3) << 2;
  const scale = s; // f32: the Float32Arrays `scale`, `shift`
  const shift = s + stride(d);
  for (let o: usize = 0; o < rowB; o += 4) {
    const q = <f64><f32>Math.sqrt(<f64>load<f32>(rv + o) + eps);
    store<f32>(sv + o, <f32>q);
    store<f32>(ivar + o, <f32>(1 / q));
    const gj = <f64>load<f32>(g + o);
    store<f32>(scale + o, <f32>(gj / q));
    store<f32>(shift + o, <f32>(<f64>load<f32>(bt + o) - (gj * <f64>load<f32>(rm + o)) / q));
  }
  // out = scale * xs + shift; c = xs - runningMean; xMinusMean = c; normalizedData = c / sqrtvar.
  // x is loaded before out (which may alias it) is stored.
  for (let i = 0; i < n; i++) {
    const k = <usize>i * rowB;
    const xR = x + k;
    const outR = out + k;
    const xmmR = xmm + k;
    const xnR = xn + k;
    let o: usize = 0;
    for (; o < vecB; o += 16) {
      const xv = v128.load(xR + o);
      v128.store(outR + o, f32x4.add(f32x4.mul(v128.load(scale + o), xv), v128.load(shift + o)));
      const c = f32x4.sub(xv, v128.load(rm + o));
      v128.store(xmmR + o, c);
      v128.store(xnR + o, f32x4.div(c, v128.load(sv + o)));
    }
    for (; o < rowB; o += 4) {
      const xv = load<f32>(xR + o);
      store<f32>(outR + o, load<f32>(scale + o) * xv + load<f32>(shift + o));
      const c = xv - load<f32>(rm + o);
      store<f32>(xmmR + o, c);
      store<f32>(xnR + o, c / load<f32>(sv + o));
    }
  }
}

// ============================================================================================
// BatchNorm backward, float32. Same arguments as bnBackwardF64 (f32 arrays); the accumulators
// are dgamma and dbeta themselves.
// ============================================================================================

export function bnBackwardF32(
  train: i32, dout: usize, xmm: usize, xn: usize, gamma: usize, ivar: usize, sv: usize,
  dx: usize, dgamma: usize, dbeta: usize, s: usize, n: i32, d: i32,
): void {
  const rowB = <usize>d << 2;
  const vecB = <usize>(d & ~3) << 2;
  const nn = <f64>n;
  const z = f32x4.splat(0);
  let o: usize = 0;
  let i = 0;
  if (!train) {
    // dbeta += g; dgamma += g * xhat; dx = g * gamma * ivar.
    for (o = 0; o < vecB; o += 16) {
      const gv = v128.load(dout + o);
      v128.store(dbeta + o, f32x4.add(z, gv));
      v128.store(dgamma + o, f32x4.add(z, f32x4.mul(gv, v128.load(xn + o))));
      v128.store(dx + o, f32x4.mul(f32x4.mul(gv, v128.load(gamma + o)), v128.load(ivar + o)));
    }
    for (; o < rowB; o += 4) {
      const gv = load<f32>(dout + o);
      store<f32>(dbeta + o, <f32>0 + gv);
      store<f32>(dgamma + o, <f32>0 + gv * load<f32>(xn + o));
      store<f32>(dx + o, gv * load<f32>(gamma + o) * load<f32>(ivar + o));
    }
    for (i = 1; i < n; i++) {
      const k = <usize>i * rowB;
      const doutR = dout + k;
      const xnR = xn + k;
      const dxR = dx + k;
      for (o = 0; o < vecB; o += 16) {
        const gv = v128.load(doutR + o);
        v128.store(dbeta + o, f32x4.add(v128.load(dbeta + o), gv));
        v128.store(dgamma + o, f32x4.add(v128.load(dgamma + o), f32x4.mul(gv, v128.load(xnR + o))));
        v128.store(dxR + o, f32x4.mul(f32x4.mul(gv, v128.load(gamma + o)), v128.load(ivar + o)));
      }
      for (; o < rowB; o += 4) {
        const gv = load<f32>(doutR + o);
        store<f32>(dbeta + o, load<f32>(dbeta + o) + gv);
        store<f32>(dgamma + o, load<f32>(dgamma + o) + gv * load<f32>(xnR + o));
        store<f32>(dxR + o, gv * load<f32>(gamma + o) * load<f32>(ivar + o));
      }
    }
    return;
  }
  const st = stride(d);
  const divar = s;
  const t = s + st; // (1 / n) * dvar * 2, rounded once
  const dmu = s + 2 * st;
  // dbeta += g; dgamma += g * xhat; divar += g * gamma * xMinusMean.
  for (o = 0; o < vecB; o += 16) {
    const gv = v128.load(dout + o);
    v128.store(dbeta + o, f32x4.add(z, gv));
    v128.store(dgamma + o, f32x4.add(z, f32x4.mul(gv, v128.load(xn + o))));
    v128.store(divar + o, f32x4.add(z, f32x4.mul(f32x4.mul(gv, v128.load(gamma + o)), v128.load(xmm + o))));
  }
  for (; o < rowB; o += 4) {
    const gv = load<f32>(dout + o);
    store<f32>(dbeta + o, <f32>0 + gv);
    store<f32>(dgamma + o, <f32>0 + gv * load<f32>(xn + o));
    store<f32>(divar + o, <f32>0 + gv * load<f32>(gamma + o) * load<f32>(xmm + o));
  }
  for (i = 1; i + 1 < n; i += 2) {
    const k = <usize>i * rowB;
    const k1 = k + rowB;
    const doutR = dout + k;
    const xnR = xn + k;
    const xmmR = xmm + k;
    const doutR1 = dout + k1;
    const xnR1 = xn + k1;
    const xmmR1 = xmm + k1;
    for (o = 0; o < vecB; o += 16) {
      const gm = v128.load(gamma + o);
      const gv = v128.load(doutR + o);
      const gv1 = v128.load(doutR1 + o);
      v128.store(dbeta + o, f32x4.add(f32x4.add(v128.load(dbeta + o), gv), gv1));
      const dg = f32x4.add(v128.load(dgamma + o), f32x4.mul(gv, v128.load(xnR + o)));
      v128.store(dgamma + o, f32x4.add(dg, f32x4.mul(gv1, v128.load(xnR1 + o))));
      const dv = f32x4.add(v128.load(divar + o), f32x4.mul(f32x4.mul(gv, gm), v128.load(xmmR + o)));
      v128.store(divar + o, f32x4.add(dv, f32x4.mul(f32x4.mul(gv1, gm), v128.load(xmmR1 + o))));
    }
    for (; o < rowB; o += 4) {
      const gm = load<f32>(gamma + o);
      const gv = load<f32>(doutR + o);
      const gv1 = load<f32>(doutR1 + o);
      store<f32>(dbeta + o, load<f32>(dbeta + o) + gv + gv1);
      store<f32>(dgamma + o, load<f32>(dgamma + o) + gv * load<f32>(xnR + o) + gv1 * load<f32>(xnR1 + o));
      store<f32>(divar + o, load<f32>(divar + o) + gv * gm * load<f32>(xmmR + o) + gv1 * gm * load<f32>(xmmR1 + o));
    }
  }
  if (i < n) {
    const k = <usize>i * rowB;
    const doutR = dout + k;
    const xnR = xn + k;
    const xmmR = xmm + k;
    for (o = 0; o < vecB; o += 16) {
      const gv = v128.load(doutR + o);
      v128.store(dbeta + o, f32x4.add(v128.load(dbeta + o), gv));
      v128.store(dgamma + o, f32x4.add(v128.load(dgamma + o), f32x4.mul(gv, v128.load(xnR + o))));
      const p = f32x4.mul(f32x4.mul(gv, v128.load(gamma + o)), v128.load(xmmR + o));
      v128.store(divar + o, f32x4.add(v128.load(divar + o), p));
    }
    for (; o < rowB; o += 4) {
      const gv = load<f32>(doutR + o);
      store<f32>(dbeta + o, load<f32>(dbeta + o) + gv);
      store<f32>(dgamma + o, load<f32>(dgamma + o) + gv * load<f32>(xnR + o));
      store<f32>(divar + o, load<f32>(divar + o) + gv * load<f32>(gamma + o) * load<f32>(xmmR + o));
    }
  }
  // Steps 4-5 per column in f64, rounded as the Float32Arrays dvar and t hold them.
  for (o = 0; o < rowB; o += 4) {
    const q = <f64>load<f32>(sv + o);
    const dvar = rnd1(<f64>load<f32>(divar + o) * (-1 / (q * q)) * 0.5 * (1 / q));
    store<f32>(t + o, <f32>((1 / nn) * dvar * 2));
  }
  // dx1 = g * gamma * ivar + t * xMinusMean; dx = dx1; dmu += dx1 (row 0: dmu = 0 + dx1).
  for (o = 0; o < vecB; o += 16) {
    const a = f32x4.mul(f32x4.mul(v128.load(dout + o), v128.load(gamma + o)), v128.load(ivar + o));
    const dx1 = f32x4.add(a, f32x4.mul(v128.load(t + o), v128.load(xmm + o)));
    v128.store(dx + o, dx1);
    v128.store(dmu + o, f32x4.add(z, dx1));
  }
  for (; o < rowB; o += 4) {
    const dx1 = load<f32>(dout + o) * load<f32>(gamma + o) * load<f32>(ivar + o) + load<f32>(t + o) * load<f32>(xmm + o);
    store<f32>(dx + o, dx1);
    store<f32>(dmu + o, <f32>0 + dx1);
  }
  for (i = 1; i + 1 < n; i += 2) {
    const k = <usize>i * rowB;
    const k1 = k + rowB;
    const doutR = dout + k;
    const xmmR = xmm + k;
    const dxR = dx + k;
    const doutR1 = dout + k1;
    const xmmR1 = xmm + k1;
    const dxR1 = dx + k1;
    for (o = 0; o < vecB; o += 16) {
      const gm = v128.load(gamma + o);
      const iv = v128.load(ivar + o);
      const tv = v128.load(t + o);
      const a = f32x4.mul(f32x4.mul(v128.load(doutR + o), gm), iv);
      const dx1 = f32x4.add(a, f32x4.mul(tv, v128.load(xmmR + o)));
      const a1 = f32x4.mul(f32x4.mul(v128.load(doutR1 + o), gm), iv);
      const dx11 = f32x4.add(a1, f32x4.mul(tv, v128.load(xmmR1 + o)));
      v128.store(dxR + o, dx1);
      v128.store(dxR1 + o, dx11);
      v128.store(dmu + o, f32x4.add(f32x4.add(v128.load(dmu + o), dx1), dx11));
    }
    for (; o < rowB; o += 4) {
      const gm = load<f32>(gamma + o);
      const iv = load<f32>(ivar + o);
      const tv = load<f32>(t + o);
      const dx1 = load<f32>(doutR + o) * gm * iv + tv * load<f32>(xmmR + o);
      const dx11 = load<f32>(doutR1 + o) * gm * iv + tv * load<f32>(xmmR1 + o);
      store<f32>(dxR + o, dx1);
      store<f32>(dxR1 + o, dx11);
      store<f32>(dmu + o, load<f32>(dmu + o) + dx1 + dx11);
    }
  }
  if (i < n) {
    const k = <usize>i * rowB;
    const doutR = dout + k;
    const xmmR = xmm + k;
    const dxR = dx + k;
    for (o = 0; o < vecB; o += 16) {
      const a = f32x4.mul(f32x4.mul(v128.load(doutR + o), v128.load(gamma + o)), v128.load(ivar + o));
      const dx1 = f32x4.add(a, f32x4.mul(v128.load(t + o), v128.load(xmmR + o)));
      v128.store(dxR + o, dx1);
      v128.store(dmu + o, f32x4.add(v128.load(dmu + o), dx1));
    }
    for (; o < rowB; o += 4) {
      const dx1 = load<f32>(doutR + o) * load<f32>(gamma + o) * load<f32>(ivar + o) + load<f32>(t + o) * load<f32>(xmmR + o);
      store<f32>(dxR + o, dx1);
      store<f32>(dmu + o, load<f32>(dmu + o) + dx1);
    }
  }
  for (o = 0; o < rowB; o += 4) store<f32>(dmu + o, <f32>((1 / nn) * -<f64>load<f32>(dmu + o)));
  // dx = dmu + dx
  for (i = 0; i < n; i++) {
    const k = <usize>i * rowB;
    const dxR = dx + k;
    for (o = 0; o < vecB; o += 16) v128.store(dxR + o, f32x4.add(v128.load(dmu + o), v128.load(dxR + o)));
    for (; o < rowB; o += 4) store<f32>(dxR + o, load<f32>(dmu + o) + load<f32>(dxR + o));
  }
}

// ============================================================================================
// ReLU. Forward: out = v < 0 ? 0 : v, i.e. clear the lanes where v < 0. Not f32x4.max(v, 0):
// that would turn -0 into +0, and the TS keeps -0 (and NaN, since NaN < 0 is false) as is.
// Backward: dx = x >= 0 ? g : 0, i.e. g masked by (x >= 0) (false for NaN: +0, as in TS).
// In place is fine (out == x, dx == dout): each vector is loaded before it is stored.
// `len` counts elements; vectors cover 16 bytes, the rest is a scalar tail.
// ============================================================================================

export function reluForwardF64(x: usize, out: usize, len: i32): void {
  const allB = <usize>len << 3;
  const vecB = <usize>(len & ~1) << 3;
  const zero = f64x2.splat(0);
  let o: usize = 0;
  for (; o < vecB; o += 16) {
    const v = v128.load(x + o);
    v128.store(out + o, v128.andnot(v, f64x2.lt(v, zero)));
  }
  for (; o < allB; o += 8) {
    const v = load<f64>(x + o);
    store<f64>(out + o, v < 0 ? 0 : v);
  }
}

export function reluForwardF32(x: usize, out: usize, len: i32): void {
  const allB = <usize>len << 2;
  const vecB = <usize>(len & ~3) << 2;
  const zero = f32x4.splat(0);
  let o: usize = 0;
  for (; o < vecB; o += 16) {
    const v = v128.load(x + o);
    v128.store(out + o, v128.andnot(v, f32x4.lt(v, zero)));
  }
  for (; o < allB; o += 4) {
    const v = load<f32>(x + o);
    store<f32>(out + o, v < 0 ? 0 : v);
  }
}

export function reluBackwardF64(dout: usize, x: usize, dx: usize, len: i32): void {
  const allB = <usize>len << 3;
  const vecB = <usize>(len & ~1) << 3;
  const zero = f64x2.splat(0);
  let o: usize = 0;
  for (; o < vecB; o += 16) v128.store(dx + o, v128.and(v128.load(dout + o), f64x2.ge(v128.load(x + o), zero)));
  for (; o < allB; o += 8) store<f64>(dx + o, load<f64>(x + o) >= 0 ? load<f64>(dout + o) : 0);
}

export function reluBackwardF32(dout: usize, x: usize, dx: usize, len: i32): void {
  const allB = <usize>len << 2;
  const vecB = <usize>(len & ~3) << 2;
  const zero = f32x4.splat(0);
  let o: usize = 0;
  for (; o < vecB; o += 16) v128.store(dx + o, v128.and(v128.load(dout + o), f32x4.ge(v128.load(x + o), zero)));
  for (; o < allB; o += 4) store<f32>(dx + o, load<f32>(x + o) >= 0 ? load<f32>(dout + o) : 0);
}

// ============================================================================================
// Gradient accumulation, bit-identical to addInto in src/autograd/tape.ts: acc[i] += g[i] is
// one IEEE add, so f32x4 / f64x2 directly (see the f32 note above). `len` counts elements;
// vectors cover 16 bytes, the rest is a scalar tail.
// ============================================================================================

export function addF64(acc: usize, g: usize, len: i32): void {
  const allB = <usize>len << 3;
  const vecB = <usize>(len & ~1) << 3;
  let o: usize = 0;
  for (; o < vecB; o += 16) v128.store(acc + o, f64x2.add(v128.load(acc + o), v128.load(g + o)));
  for (; o < allB; o += 8) store<f64>(acc + o, load<f64>(acc + o) + load<f64>(g + o));
}

export function addF32(acc: usize, g: usize, len: i32): void {
  const allB = <usize>len << 2;
  const vecB = <usize>(len & ~3) << 2;
  let o: usize = 0;
  for (; o < vecB; o += 16) v128.store(acc + o, f32x4.add(v128.load(acc + o), v128.load(g + o)));
  for (; o < allB; o += 4) store<f32>(acc + o, load<f32>(acc + o) + load<f32>(g + o));
}

// ============================================================================================
// Column sums (the affine layer's bias gradient): out[j] = sum over rows i of a[i, j], each
// column summed in f64 from 0 in row order and rounded once into out, as `sumRows` in
// src/kernels/affine.ts does. Two columns per f64x2 (f32 input: four columns per load, two
// accumulators); a scalar tail for the odd columns.
// ============================================================================================

export function colSumsF64(a: usize, out: usize, rows: i32, cols: i32): void {
  const rowB = <usize>cols << 3;
  const vecB = <usize>(cols & ~1) << 3;
  const end = a + <usize>rows * rowB;
  let o: usize = 0;
  for (; o < vecB; o += 16) {
    let acc = f64x2.splat(0);
    for (let p = a + o; p < end; p += rowB) acc = f64x2.add(acc, v128.load(p));
    v128.store(out + o, acc);
  }
  for (; o < rowB; o += 8) {
    let acc: f64 = 0;
    for (let p = a + o; p < end; p += rowB) acc += load<f64>(p);
    store<f64>(out + o, acc);
  }
}

export function colSumsF32(a: usize, out: usize, rows: i32, cols: i32): void {
  const rowB = <usize>cols << 2;
  const vecB = <usize>(cols & ~3) << 2;
  const end = a + <usize>rows * rowB;
  let o: usize = 0;
  for (; o < vecB; o += 16) {
    let lo = f64x2.splat(0);
    let hi = f64x2.splat(0);
    for (let p = a + o; p < end; p += rowB) {
      const v = v128.load(p);
      lo = f64x2.add(lo, f64x2.promote_low_f32x4(v));
      hi = f64x2.add(hi, f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)));
    }
    v128.store64_lane(out + o, f32x4.demote_f64x2_zero(lo), 0);
    v128.store64_lane(out + o + 8, f32x4.demote_f64x2_zero(hi), 0);
  }
  for (; o < rowB; o += 4) {
    let acc: f64 = 0;
    for (let p = a + o; p < end; p += rowB) acc += <f64>load<f32>(p);
    store<f32>(out + o, <f32>acc);
  }
}

// ============================================================================================
// SGD (plain: p -= lr * gi, gi = wd != 0 ? g + wd * p : g; and with momentum), Adam and
// RMSProp, bit-identical to their update methods (src/optim): every
// expression in f64 in the TS order, and each value the TS loop stores into the parameter or
// a state buffer rounded there (for f32: demote on store, and later reads use the stored value).
// Two elements per step (one f64x2), written once for both dtypes: ldv / stv load and store
// two elements of T as an f64x2; the scalar tail handles an odd length.
// ============================================================================================

// @ts-ignore: decorator
@inline function ldv<T>(p: usize): v128 {
  return sizeof<T>() == 8 ? v128.load(p) : ld2(p);
}

// @ts-ignore: decorator
@inline function stv<T>(p: usize, v: v128): void {
  if (sizeof<T>() == 8) v128.store(p, v);
  else st2(p, v);
}

/** The value a store of `v` into an array of T reads back: identity for f64, f32 rounding. */
// @ts-ignore: decorator
@inline function rndv<T>(v: v128): v128 {
  return sizeof<T>() == 8 ? v : rnd(v);
}

// @ts-ignore: decorator
@inline function rnds<T>(v: f64): f64 {
  return sizeof<T>() == 8 ? v : rnd1(v);
}

function sgdImpl<T>(p: usize, g: usize, len: i32, lr: f64, wd: f64): void {
  const sz = <usize>sizeof<T>();
  const vecB = <usize>(len & ~1) * sz;
  const allB = <usize>len * sz;
  const vlr = f64x2.splat(lr), vwd = f64x2.splat(wd);
  let o: usize = 0;
  for (; o < vecB; o += 2 * sz) {
    const pv = ldv<T>(p + o);
    const gv = ldv<T>(g + o);
    // wd == 0 must not compute g + 0 * p: that is NaN where p is infinite, and the TS reads g alone.
    const gi = wd != 0 ? f64x2.add(gv, f64x2.mul(vwd, pv)) : gv;
    stv<T>(p + o, f64x2.sub(pv, f64x2.mul(vlr, gi)));
  }
  for (; o < allB; o += sz) {
    const pv = <f64>load<T>(p + o);
    const gv = <f64>load<T>(g + o);
    store<T>(p + o, <T>(pv - lr * (wd != 0 ? gv + wd * pv : gv)));
  }
}

export function sgdF64(p: usize, g: usize, len: i32, lr: f64, wd: f64): void {
  sgdImpl<f64>(p, g, len, lr, wd);
}

export function sgdF32(p: usize, g: usize, len: i32, lr: f64, wd: f64): void {
  sgdImpl<f32>(p, g, len, lr, wd);
}

function sgdMomentumImpl<T>(
  p: usize, g: usize, buf: usize, len: i32, lr: f64, wd: f64, momentum: f64, keep: f64, nesterov: bool, fresh: bool,
): void {
  const sz = <usize>sizeof<T>();
  const vecB = <usize>(len & ~1) * sz;
  const allB = <usize>len * sz;
  const vlr = f64x2.splat(lr), vwd = f64x2.splat(wd), vmom = f64x2.splat(momentum), vkeep = f64x2.splat(keep);
  let o: usize = 0;
  for (; o < vecB; o += 2 * sz) {
    const pv = ldv<T>(p + o);
    const gv = ldv<T>(g + o);
    const gi = wd != 0 ? f64x2.add(gv, f64x2.mul(vwd, pv)) : gv;
    const bnew = fresh ? gi : f64x2.add(f64x2.mul(vmom, ldv<T>(buf + o)), f64x2.mul(vkeep, gi));
    const b = rndv<T>(bnew);
    stv<T>(buf + o, bnew);
    const upd = nesterov ? f64x2.add(gi, f64x2.mul(vmom, b)) : b;
    stv<T>(p + o, f64x2.sub(pv, f64x2.mul(vlr, upd)));
  }
  for (; o < allB; o += sz) {
    const pv = <f64>load<T>(p + o);
    const gv = <f64>load<T>(g + o);
    const gi = wd != 0 ? gv + wd * pv : gv;
    const b = rnds<T>(fresh ? gi : momentum * <f64>load<T>(buf + o) + keep * gi);
    store<T>(buf + o, <T>b);
    store<T>(p + o, <T>(pv - lr * (nesterov ? gi + momentum * b : b)));
  }
}

export function sgdMomentumF64(
  p: usize, g: usize, buf: usize, len: i32, lr: f64, wd: f64, momentum: f64, keep: f64, nesterov: bool, fresh: bool,
): void {
  sgdMomentumImpl<f64>(p, g, buf, len, lr, wd, momentum, keep, nesterov, fresh);
}

export function sgdMomentumF32(
  p: usize, g: usize, buf: usize, len: i32, lr: f64, wd: f64, momentum: f64, keep: f64, nesterov: bool, fresh: bool,
): void {
  sgdMomentumImpl<f32>(p, g, buf, len, lr, wd, momentum, keep, nesterov, fresh);
}

function adamImpl<T>(
  p: usize, g: usize, m: usize, v: usize, len: i32,
  stepSize: f64, bc2Sqrt: f64, b1: f64, c1: f64, b2: f64, c2: f64, eps: f64, decay: f64, l2: f64,
): void {
  const sz = <usize>sizeof<T>();
  const vecB = <usize>(len & ~1) * sz;
  const allB = <usize>len * sz;
  const vstep = f64x2.splat(stepSize), vbc2 = f64x2.splat(bc2Sqrt), vb1 = f64x2.splat(b1), vc1 = f64x2.splat(c1);
  const vb2 = f64x2.splat(b2), vc2 = f64x2.splat(c2), veps = f64x2.splat(eps), vdecay = f64x2.splat(decay), vl2 = f64x2.splat(l2);
  let o: usize = 0;
  for (; o < vecB; o += 2 * sz) {
    let pv = ldv<T>(p + o);
    if (decay != 1) pv = rndv<T>(f64x2.mul(pv, vdecay));
    const gv = ldv<T>(g + o);
    const gi = l2 != 0 ? f64x2.add(gv, f64x2.mul(vl2, pv)) : gv;
    const mv = rndv<T>(f64x2.add(f64x2.mul(vb1, ldv<T>(m + o)), f64x2.mul(vc1, gi)));
    const vv = rndv<T>(f64x2.add(f64x2.mul(vb2, ldv<T>(v + o)), f64x2.mul(f64x2.mul(vc2, gi), gi)));
    stv<T>(m + o, mv);
    stv<T>(v + o, vv);
    const denom = f64x2.add(f64x2.div(f64x2.sqrt(vv), vbc2), veps);
    stv<T>(p + o, f64x2.sub(pv, f64x2.mul(vstep, f64x2.div(mv, denom))));
  }
  for (; o < allB; o += sz) {
    let pv = <f64>load<T>(p + o);
    if (decay != 1) pv = rnds<T>(pv * decay);
    const gv = <f64>load<T>(g + o);
    const gi = l2 != 0 ? gv + l2 * pv : gv;
    const mv = rnds<T>(b1 * <f64>load<T>(m + o) + c1 * gi);
    const vv = rnds<T>(b2 * <f64>load<T>(v + o) + c2 * gi * gi);
    store<T>(m + o, <T>mv);
    store<T>(v + o, <T>vv);
    store<T>(p + o, <T>(pv - stepSize * (mv / (Math.sqrt(vv) / bc2Sqrt + eps))));
  }
}

export function adamF64(
  p: usize, g: usize, m: usize, v: usize, len: i32,
  stepSize: f64, bc2Sqrt: f64, b1: f64, c1: f64, b2: f64, c2: f64, eps: f64, decay: f64, l2: f64,
): void {
  adamImpl<f64>(p, g, m, v, len, stepSize, bc2Sqrt, b1, c1, b2, c2, eps, decay, l2);
}

export function adamF32(
  p: usize, g: usize, m: usize, v: usize, len: i32,
  stepSize: f64, bc2Sqrt: f64, b1: f64, c1: f64, b2: f64, c2: f64, eps: f64, decay: f64, l2: f64,
): void {
  adamImpl<f32>(p, g, m, v, len, stepSize, bc2Sqrt, b1, c1, b2, c2, eps, decay, l2);
}

// RMSProp (src/optim/rmsprop.ts), with momentum when `momentum != 0` (then `buf` is used).
function rmspropImpl<T>(
  p: usize, g: usize, v: usize, buf: usize, len: i32, lr: f64, alpha: f64, c: f64, eps: f64, wd: f64, momentum: f64,
): void {
  const sz = <usize>sizeof<T>();
  const vecB = <usize>(len & ~1) * sz;
  const allB = <usize>len * sz;
  const vlr = f64x2.splat(lr), valpha = f64x2.splat(alpha), vc = f64x2.splat(c), veps = f64x2.splat(eps);
  const vwd = f64x2.splat(wd), vmom = f64x2.splat(momentum);
  let o: usize = 0;
  for (; o < vecB; o += 2 * sz) {
    const pv = ldv<T>(p + o);
    const gv = ldv<T>(g + o);
    const gi = wd != 0 ? f64x2.add(gv, f64x2.mul(vwd, pv)) : gv;
    const vv = rndv<T>(f64x2.add(f64x2.mul(valpha, ldv<T>(v + o)), f64x2.mul(f64x2.mul(vc, gi), gi)));
    stv<T>(v + o, vv);
    const q = f64x2.div(gi, f64x2.add(f64x2.sqrt(vv), veps));
    if (momentum == 0) {
      stv<T>(p + o, f64x2.sub(pv, f64x2.mul(vlr, q)));
    } else {
      const bb = rndv<T>(f64x2.add(f64x2.mul(vmom, ldv<T>(buf + o)), q));
      stv<T>(buf + o, bb);
      stv<T>(p + o, f64x2.sub(pv, f64x2.mul(vlr, bb)));
    }
  }
  for (; o < allB; o += sz) {
    const pv = <f64>load<T>(p + o);
    const gv = <f64>load<T>(g + o);
    const gi = wd != 0 ? gv + wd * pv : gv;
    const vv = rnds<T>(alpha * <f64>load<T>(v + o) + c * gi * gi);
    store<T>(v + o, <T>vv);
    const q = gi / (Math.sqrt(vv) + eps);
    if (momentum == 0) {
      store<T>(p + o, <T>(pv - lr * q));
    } else {
      const bb = rnds<T>(momentum * <f64>load<T>(buf + o) + q);
      store<T>(buf + o, <T>bb);
      store<T>(p + o, <T>(pv - lr * bb));
    }
  }
}

export function rmspropF64(
  p: usize, g: usize, v: usize, buf: usize, len: i32, lr: f64, alpha: f64, c: f64, eps: f64, wd: f64, momentum: f64,
): void {
  rmspropImpl<f64>(p, g, v, buf, len, lr, alpha, c, eps, wd, momentum);
}

export function rmspropF32(
  p: usize, g: usize, v: usize, buf: usize, len: i32, lr: f64, alpha: f64, c: f64, eps: f64, wd: f64, momentum: f64,
): void {
  rmspropImpl<f32>(p, g, v, buf, len, lr, alpha, c, eps, wd, momentum);
}

// ============================================================================================
// Transcendental activations: tanh, sigmoid and their gradients, and the exponentials of
// softmax, BIT-IDENTICAL to src/kernels/transcendental.ts, which spells out each function as a
// sequence of double operations (Cody-Waite exp with a degree-13 Taylor polynomial, scaling by
// exponent bits); every line below is the lane-wise twin of a line there. float32 data is
// promoted, computed in f64 and rounded on store, as the TS loops do.
//
// The loops run two elements per step over the whole padded length: the loader places each
// array in a 64-byte-aligned region, so an odd f64 count or a count of f32 not a multiple of 2
// reads and writes (garbage) lanes inside the region, and the copy out takes only `len`.
// ============================================================================================

const LOG2E: f64 = 1.4426950408889634;
const SHIFT: f64 = 6755399441055744;
const LN2_HI: f64 = 6.93147180369123816490e-1;
const LN2_LO: f64 = 1.90821492927058770002e-10;
const EXP_MIN: f64 = -746;
const TWO_M64: f64 = 5.421010862427522e-20;
const TANH_CLAMP: f64 = 20;
const TANH_TINY: f64 = 3.725290298461914e-9;
const C2: f64 = 0.5;
const C3: f64 = 0.16666666666666666;
const C4: f64 = 0.041666666666666664;
const C5: f64 = 0.008333333333333333;
const C6: f64 = 0.001388888888888889;
const C7: f64 = 0.0001984126984126984;
const C8: f64 = 0.0000248015873015873;
const C9: f64 = 0.0000027557319223985893;
const C10: f64 = 2.755731922398589e-7;
const C11: f64 = 2.505210838544172e-8;
const C12: f64 = 2.08767569878681e-9;
const C13: f64 = 1.6059043836821613e-10;

// @ts-ignore: decorator
@inline function sp(c: f64): v128 {
  return f64x2.splat(c);
}

/** expm1Poly of transcendental.ts. */
// @ts-ignore: decorator
@inline function expm1PolyV(r: v128): v128 {
  let q = sp(C13);
  q = f64x2.add(sp(C12), f64x2.mul(r, q));
  q = f64x2.add(sp(C11), f64x2.mul(r, q));
  q = f64x2.add(sp(C10), f64x2.mul(r, q));
  q = f64x2.add(sp(C9), f64x2.mul(r, q));
  q = f64x2.add(sp(C8), f64x2.mul(r, q));
  q = f64x2.add(sp(C7), f64x2.mul(r, q));
  q = f64x2.add(sp(C6), f64x2.mul(r, q));
  q = f64x2.add(sp(C5), f64x2.mul(r, q));
  q = f64x2.add(sp(C4), f64x2.mul(r, q));
  q = f64x2.add(sp(C3), f64x2.mul(r, q));
  q = f64x2.add(sp(C2), f64x2.mul(r, q));
  return f64x2.add(r, f64x2.mul(f64x2.mul(r, r), q));
}

/** 2^(k + bias) from t = k + SHIFT (k an integer in the binade of SHIFT): exponent bits. */
// @ts-ignore: decorator
@inline function pow2V(t: v128, bias: i64): v128 {
  const k = i64x2.sub(t, i64x2.splat(<i64>reinterpret<u64>(SHIFT)));
  return i64x2.shl(i64x2.add(k, i64x2.splat(1023 + bias)), 52);
}

/** expNeg of transcendental.ts: e^v for v <= 0. */
// @ts-ignore: decorator
@inline function expNegV(v: v128): v128 {
  const w = v128.bitselect(sp(EXP_MIN), v, f64x2.lt(v, sp(EXP_MIN)));
  const t = f64x2.add(f64x2.mul(w, sp(LOG2E)), sp(SHIFT));
  const k = f64x2.sub(t, sp(SHIFT));
  const r = f64x2.sub(f64x2.sub(w, f64x2.mul(k, sp(LN2_HI))), f64x2.mul(k, sp(LN2_LO)));
  const p = expm1PolyV(r);
  return f64x2.mul(f64x2.mul(f64x2.add(sp(1), p), pow2V(t, 64)), sp(TWO_M64));
}

/** x < 0 ? -x : x (the TS spelling, which keeps -0 as -0). */
// @ts-ignore: decorator
@inline function absTsV(x: v128): v128 {
  return v128.bitselect(f64x2.neg(x), x, f64x2.lt(x, sp(0)));
}

/** x < 0 ? x : -x. */
// @ts-ignore: decorator
@inline function negAbsTsV(x: v128): v128 {
  return v128.bitselect(x, f64x2.neg(x), f64x2.lt(x, sp(0)));
}

/** tanhOf of transcendental.ts. */
// @ts-ignore: decorator
@inline function tanhV(x: v128): v128 {
  const a0 = absTsV(x);
  const a = v128.bitselect(sp(TANH_CLAMP), a0, f64x2.gt(a0, sp(TANH_CLAMP)));
  const w = f64x2.mul(sp(-2), a);
  const t = f64x2.add(f64x2.mul(w, sp(LOG2E)), sp(SHIFT));
  const k = f64x2.sub(t, sp(SHIFT));
  const r = f64x2.sub(f64x2.sub(w, f64x2.mul(k, sp(LN2_HI))), f64x2.mul(k, sp(LN2_LO)));
  const p = expm1PolyV(r);
  const s = pow2V(t, 0);
  const u = f64x2.add(f64x2.mul(s, p), f64x2.sub(s, sp(1)));
  const y = f64x2.div(f64x2.neg(u), f64x2.add(u, sp(2)));
  const signed = v128.bitselect(f64x2.neg(y), y, f64x2.lt(x, sp(0)));
  return v128.bitselect(x, signed, f64x2.lt(a, sp(TANH_TINY)));
}

/** sech2Of of transcendental.ts. */
// @ts-ignore: decorator
@inline function sech2V(x: v128): v128 {
  const t = expNegV(f64x2.mul(sp(-2), absTsV(x)));
  const d = f64x2.add(sp(1), t);
  return f64x2.div(f64x2.mul(sp(4), t), f64x2.mul(d, d));
}

/** sigmoidOf of transcendental.ts. */
// @ts-ignore: decorator
@inline function sigmoidV(x: v128): v128 {
  const e = expNegV(negAbsTsV(x));
  const d = f64x2.add(sp(1), e);
  return v128.bitselect(f64x2.div(sp(1), d), f64x2.div(e, d), f64x2.ge(x, sp(0)));
}

/** sigmoidBackwardOf of transcendental.ts: (g e) / (1 + e)^2. */
// @ts-ignore: decorator
@inline function sigmoidBackV(g: v128, x: v128): v128 {
  const e = expNegV(negAbsTsV(x));
  const d = f64x2.add(sp(1), e);
  return f64x2.div(f64x2.mul(g, e), f64x2.mul(d, d));
}

// Unary kernels: out[i] = f(x[i]) over len elements (out may alias x).
export function tanhF64(x: usize, out: usize, len: i32): void {
  for (let o: usize = 0; o < <usize>len << 3; o += 16) v128.store(out + o, tanhV(v128.load(x + o)));
}
export function tanhF32(x: usize, out: usize, len: i32): void {
  for (let o: usize = 0; o < <usize>len << 2; o += 8) st2(out + o, tanhV(ld2(x + o)));
}
export function sigmoidF64(x: usize, out: usize, len: i32): void {
  for (let o: usize = 0; o < <usize>len << 3; o += 16) v128.store(out + o, sigmoidV(v128.load(x + o)));
}
export function sigmoidF32(x: usize, out: usize, len: i32): void {
  for (let o: usize = 0; o < <usize>len << 2; o += 8) st2(out + o, sigmoidV(ld2(x + o)));
}

// Gradient kernels: dx[i] = g[i] * f'(x[i]) in the TS order (dx may alias g).
export function tanhBackwardF64(g: usize, x: usize, dx: usize, len: i32): void {
  for (let o: usize = 0; o < <usize>len << 3; o += 16) {
    v128.store(dx + o, f64x2.mul(v128.load(g + o), sech2V(v128.load(x + o))));
  }
}
export function tanhBackwardF32(g: usize, x: usize, dx: usize, len: i32): void {
  for (let o: usize = 0; o < <usize>len << 2; o += 8) st2(dx + o, f64x2.mul(ld2(g + o), sech2V(ld2(x + o))));
}
export function sigmoidBackwardF64(g: usize, x: usize, dx: usize, len: i32): void {
  for (let o: usize = 0; o < <usize>len << 3; o += 16) v128.store(dx + o, sigmoidBackV(v128.load(g + o), v128.load(x + o)));
}
export function sigmoidBackwardF32(g: usize, x: usize, dx: usize, len: i32): void {
  for (let o: usize = 0; o < <usize>len << 2; o += 8) st2(dx + o, sigmoidBackV(ld2(g + o), ld2(x + o)));
}

// Softmax along the last axis of `rows` contiguous lines of `size` elements, the exact
// computation of `softmax` in src/ops/softmax.ts: m = the line's maximum (NaN skipped), e =
// expNeg(x - m) stored into y (so f32 rounds here) and summed in two interleaved partial sums
// (even and odd positions, the odd-length line's last element into the even one), s = s0 + s1,
// then y = y / s from the stored e. y may alias x.
function softmaxRowsImpl<T>(x: usize, y: usize, rows: i32, size: i32): void {
  const sz = <usize>sizeof<T>();
  const pairB = <usize>(size & ~1) * sz;
  const rowB = <usize>size * sz;
  for (let i = 0; i < rows; i++) {
    const xr = x + <usize>i * rowB;
    const yr = y + <usize>i * rowB;
    let vm = sp(-Infinity);
    let o: usize = 0;
    for (; o < pairB; o += 2 * sz) {
      const v = ldv<T>(xr + o);
      vm = v128.bitselect(v, vm, f64x2.gt(v, vm));
    }
    let m = f64x2.extract_lane(vm, 0);
    const m1 = f64x2.extract_lane(vm, 1);
    if (m1 > m) m = m1;
    if (o < rowB) {
      const v = <f64>load<T>(xr + o);
      if (v > m) m = v;
    }
    const vmm = sp(m);
    let acc = sp(0);
    for (o = 0; o < pairB; o += 2 * sz) {
      const e = expNegV(f64x2.sub(ldv<T>(xr + o), vmm));
      stv<T>(yr + o, e);
      acc = f64x2.add(acc, e);
    }
    let s0 = f64x2.extract_lane(acc, 0);
    if (o < rowB) {
      const e = f64x2.extract_lane(expNegV(sp(<f64>load<T>(xr + o) - m)), 0);
      store<T>(yr + o, <T>e);
      s0 += e;
    }
    const vs = sp(s0 + f64x2.extract_lane(acc, 1));
    for (o = 0; o < pairB; o += 2 * sz) stv<T>(yr + o, f64x2.div(ldv<T>(yr + o), vs));
    if (o < rowB) store<T>(yr + o, <T>(<f64>load<T>(yr + o) / f64x2.extract_lane(vs, 0)));
  }
}

export function softmaxRowsF64(x: usize, y: usize, rows: i32, size: i32): void {
  softmaxRowsImpl<f64>(x, y, rows, size);
}
export function softmaxRowsF32(x: usize, y: usize, rows: i32, size: i32): void {
  softmaxRowsImpl<f32>(x, y, rows, size);
}

// Softmax backward along the last axis: dot = sum g * y (two interleaved partial sums as
// above), dx = y * (g - dot). dx may alias g.
function softmaxRowsBackwardImpl<T>(g: usize, y: usize, dx: usize, rows: i32, size: i32): void {
  const sz = <usize>sizeof<T>();
  const pairB = <usize>(size & ~1) * sz;
  const rowB = <usize>size * sz;
  for (let i = 0; i < rows; i++) {
    const k = <usize>i * rowB;
    let acc = sp(0);
    let o: usize = 0;
    for (; o < pairB; o += 2 * sz) acc = f64x2.add(acc, f64x2.mul(ldv<T>(g + k + o), ldv<T>(y + k + o)));
    let d0 = f64x2.extract_lane(acc, 0);
    if (o < rowB) d0 += <f64>load<T>(g + k + o) * <f64>load<T>(y + k + o);
    const dot = d0 + f64x2.extract_lane(acc, 1);
    const vd = sp(dot);
    for (o = 0; o < pairB; o += 2 * sz) stv<T>(dx + k + o, f64x2.mul(ldv<T>(y + k + o), f64x2.sub(ldv<T>(g + k + o), vd)));
    if (o < rowB) store<T>(dx + k + o, <T>(<f64>load<T>(y + k + o) * (<f64>load<T>(g + k + o) - dot)));
  }
}

export function softmaxRowsBackwardF64(g: usize, y: usize, dx: usize, rows: i32, size: i32): void {
  softmaxRowsBackwardImpl<f64>(g, y, dx, rows, size);
}
export function softmaxRowsBackwardF32(g: usize, y: usize, dx: usize, rows: i32, size: i32): void {
  softmaxRowsBackwardImpl<f32>(g, y, dx, rows, size);
}

// GELU, exact form, the loops of `gelu` in src/ops/activations.ts: forward v * 0.5 * erfc(-v /
// sqrt 2), backward g * (0.5 erfc(-v / sqrt 2) + v * expNeg(-0.5 v v) / sqrt(2 pi)), with
// W. J. Cody's erfc as written there (erfSmall / erfcLarge): every branch is computed for the
// pair (or skipped when no lane takes it) and each lane keeps its own branch's value.
const ERF_THRESH: f64 = 0.46875;
const SQRT1_2: f64 = 0.7071067811865476;
const INV_SQRT_2PI: f64 = 0.3989422804014327;
const INV_SQRT_PI: f64 = 0.56418958354775628695;

// @ts-ignore: decorator
@inline function erfcV(x: v128): v128 {
  const y = f64x2.abs(x);
  const smallMask = f64x2.le(y, sp(ERF_THRESH));
  let res = sp(0);
  if (v128.any_true(smallMask)) {
    // erfSmall(x)
    const ysq = v128.bitselect(f64x2.mul(y, y), sp(0), f64x2.gt(y, sp(1.11e-16)));
    let num = f64x2.mul(sp(0.185777706184603153), ysq);
    let den = ysq;
    num = f64x2.mul(f64x2.add(num, sp(3.1611237438705656)), ysq);
    den = f64x2.mul(f64x2.add(den, sp(23.6012909523441209)), ysq);
    num = f64x2.mul(f64x2.add(num, sp(113.864154151050156)), ysq);
    den = f64x2.mul(f64x2.add(den, sp(244.024637934444173)), ysq);
    num = f64x2.mul(f64x2.add(num, sp(377.485237685302021)), ysq);
    den = f64x2.mul(f64x2.add(den, sp(1282.61652607737228)), ysq);
    const e = f64x2.div(f64x2.mul(x, f64x2.add(num, sp(3209.37758913846947))), f64x2.add(den, sp(2844.23683343917062)));
    res = f64x2.sub(sp(1), e);
  }
  if (!v128.all_true<i64>(smallMask)) {
    // erfcLarge(y)
    const midMask = f64x2.le(y, sp(4));
    let r = sp(0);
    if (v128.any_true(midMask)) {
      let num = f64x2.mul(sp(2.15311535474403846e-8), y);
      let den = y;
      num = f64x2.mul(f64x2.add(num, sp(0.564188496988670089)), y);
      den = f64x2.mul(f64x2.add(den, sp(15.7449261107098347)), y);
      num = f64x2.mul(f64x2.add(num, sp(8.88314979438837594)), y);
      den = f64x2.mul(f64x2.add(den, sp(117.693950891312499)), y);
      num = f64x2.mul(f64x2.add(num, sp(66.1191906371416295)), y);
      den = f64x2.mul(f64x2.add(den, sp(537.181101862009858)), y);
      num = f64x2.mul(f64x2.add(num, sp(298.635138197400131)), y);
      den = f64x2.mul(f64x2.add(den, sp(1621.38957456669019)), y);
      num = f64x2.mul(f64x2.add(num, sp(881.95222124176909)), y);
      den = f64x2.mul(f64x2.add(den, sp(3290.79923573345963)), y);
      num = f64x2.mul(f64x2.add(num, sp(1712.04761263407058)), y);
      den = f64x2.mul(f64x2.add(den, sp(4362.61909014324716)), y);
      num = f64x2.mul(f64x2.add(num, sp(2051.07837782607147)), y);
      den = f64x2.mul(f64x2.add(den, sp(3439.36767414372164)), y);
      r = f64x2.div(f64x2.add(num, sp(1230.33935479799725)), f64x2.add(den, sp(1230.33935480374942)));
    }
    if (!v128.all_true<i64>(midMask)) {
      const z = f64x2.div(sp(1), f64x2.mul(y, y));
      let num = f64x2.mul(sp(0.0163153871373020978), z);
      let den = z;
      num = f64x2.mul(f64x2.add(num, sp(0.305326634961232344)), z);
      den = f64x2.mul(f64x2.add(den, sp(2.56852019228982242)), z);
      num = f64x2.mul(f64x2.add(num, sp(0.360344899949804439)), z);
      den = f64x2.mul(f64x2.add(den, sp(1.87295284992346725)), z);
      num = f64x2.mul(f64x2.add(num, sp(0.125781726111229246)), z);
      den = f64x2.mul(f64x2.add(den, sp(0.527905102951428412)), z);
      num = f64x2.mul(f64x2.add(num, sp(0.0160837851487422766)), z);
      den = f64x2.mul(f64x2.add(den, sp(0.0605183413124413191)), z);
      let rl = f64x2.div(f64x2.mul(z, f64x2.add(num, sp(6.58749161529837803e-4))), f64x2.add(den, sp(0.00233520497626869185)));
      rl = f64x2.div(f64x2.sub(sp(INV_SQRT_PI), rl), y);
      r = v128.bitselect(r, rl, midMask);
    }
    const ysq = f64x2.div(f64x2.trunc(f64x2.mul(y, sp(16))), sp(16));
    const del = f64x2.mul(f64x2.sub(y, ysq), f64x2.add(y, ysq));
    let big = f64x2.mul(f64x2.mul(expNegV(f64x2.mul(f64x2.neg(ysq), ysq)), expNegV(f64x2.neg(del))), r);
    big = v128.bitselect(sp(0), big, f64x2.ge(y, sp(26.6)));
    big = v128.bitselect(f64x2.sub(sp(2), big), big, f64x2.lt(x, sp(0)));
    res = v128.bitselect(res, big, smallMask);
  }
  return res;
}

// @ts-ignore: decorator
@inline function geluV(v: v128): v128 {
  return f64x2.mul(f64x2.mul(v, sp(0.5)), erfcV(f64x2.mul(f64x2.neg(v), sp(SQRT1_2))));
}

// @ts-ignore: decorator
@inline function geluBackV(g: v128, v: v128): v128 {
  const cdf = f64x2.mul(sp(0.5), erfcV(f64x2.mul(f64x2.neg(v), sp(SQRT1_2))));
  const pdf = f64x2.mul(expNegV(f64x2.mul(f64x2.mul(sp(-0.5), v), v)), sp(INV_SQRT_2PI));
  return f64x2.mul(g, f64x2.add(cdf, f64x2.mul(v, pdf)));
}

export function geluF64(x: usize, out: usize, len: i32): void {
  for (let o: usize = 0; o < <usize>len << 3; o += 16) v128.store(out + o, geluV(v128.load(x + o)));
}
export function geluF32(x: usize, out: usize, len: i32): void {
  for (let o: usize = 0; o < <usize>len << 2; o += 8) st2(out + o, geluV(ld2(x + o)));
}
export function geluBackwardF64(g: usize, x: usize, dx: usize, len: i32): void {
  for (let o: usize = 0; o < <usize>len << 3; o += 16) v128.store(dx + o, geluBackV(v128.load(g + o), v128.load(x + o)));
}
export function geluBackwardF32(g: usize, x: usize, dx: usize, len: i32): void {
  for (let o: usize = 0; o < <usize>len << 2; o += 8) st2(dx + o, geluBackV(ld2(g + o), ld2(x + o)));
}
