/**
 * Which build of the WebAssembly GEMM this process runs: `'fma'` (relaxed-simd fused
 * multiply-add, build/gemm-fma.wasm and gemm-mt-fma.wasm) or `'simd'` (plain SIMD128,
 * build/gemm.wasm and gemm-mt.wasm). Decided once, before the first module is compiled, so the
 * one-thread and two-thread paths always run the same code and stay bit-identical.
 *
 * @packageDocumentation
 */
import * as fs from 'node:fs';
import * as v8 from 'node:v8';

import { findWasmFile } from '../wasm_file';

/** The two builds of the GEMM: fused multiply-add (relaxed-simd) or plain SIMD128 mul + add. */
export type GemmVariant = 'fma' | 'simd';

/** The engine API the variant check needs (a subset of the global WebAssembly). */
interface ValidateApi {
  validate(bytes: Uint8Array): boolean;
}

let chosen: GemmVariant | undefined;

/** Node.js 20's V8 implements relaxed SIMD behind this flag (shipped by default from V8 11.4). */
const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';

/**
 * Decides the variant (once) and returns it. `'fma'` when the environment variable
 * `TAPEGRAD_FMA` is not `0`, build/gemm-fma.wasm exists, and the engine validates it. An engine
 * that implements relaxed SIMD only behind V8's `--experimental-wasm-relaxed-simd` flag
 * (Node.js 20; later versions ship it on) gets that flag set first: it only lets modules use
 * the relaxed-simd instructions and changes nothing else. Never throws: any failure means
 * `'simd'`.
 *
 * The fused variant rounds each multiply-add once instead of twice, so its results differ from
 * the plain variant's in the last bits; on one machine either variant is deterministic. On a
 * CPU without FMA the engine lowers relaxed multiply-add to a multiply and an add, so the
 * `'fma'` build then computes exactly what the `'simd'` build computes.
 *
 * @returns the variant every GEMM module of this process is loaded from.
 * @example
 * ```ts
 * console.log(gemmVariant()); // 'fma' on x64 with FMA3 under Node.js >= 20
 * ```
 */
export function gemmVariant(): GemmVariant {
  chosen ??= detect((globalThis as { WebAssembly?: ValidateApi }).WebAssembly);
  return chosen;
}

function detect(api: ValidateApi | undefined): GemmVariant {
  if (process.env.TAPEGRAD_FMA === '0' || api === undefined) return 'simd';
  try {
    const file = findWasmFile('gemm-fma.wasm', __dirname);
    if (file === undefined) return 'simd';
    const bytes = fs.readFileSync(file);
    if (api.validate(bytes)) return 'fma';
    if (typeof v8.setFlagsFromString !== 'function') return 'simd';
    v8.setFlagsFromString(RELAXED_FLAG);
    return api.validate(bytes) ? 'fma' : 'simd';
  } catch {
    return 'simd';
  }
}

/**
 * The file name of a GEMM module in the chosen variant: `gemm.wasm` → `gemm-fma.wasm`.
 *
 * @param base - `'gemm'` (single thread) or `'gemm-mt'` (shared memory, two threads).
 * @example
 * ```ts
 * const file = findWasmFile(variantFile('gemm'), __dirname); // .../build/gemm-fma.wasm
 * ```
 */
export function variantFile(base: 'gemm' | 'gemm-mt'): string {
  return gemmVariant() === 'fma' ? `${base}-fma.wasm` : `${base}.wasm`;
}
