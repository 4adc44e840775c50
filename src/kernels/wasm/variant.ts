/**
 * Which build of the WebAssembly GEMM this process runs: `'fma'` (relaxed-simd fused
 * multiply-add, build/gemm-fma.wasm and gemm-mt-fma.wasm) or `'simd'` (plain SIMD128,
 * build/gemm.wasm and gemm-mt.wasm). Decided once, before the first module is compiled, so the
 * one-thread and two-thread paths always run the same code and stay bit-identical.
 *
 * @packageDocumentation
 */
import { platform } from '../../platform';

/** The two builds of the GEMM: fused multiply-add (relaxed-simd) or plain SIMD128 mul + add. */
export type GemmVariant = 'fma' | 'simd';

/** The engine API the variant check needs (a subset of the global WebAssembly). */
interface ValidateApi {
  validate(bytes: Uint8Array): boolean;
}

let chosen: GemmVariant | undefined;

/**
 * Decides the variant (once) and returns it: `'fma'` where the engine validates
 * build/gemm-fma.wasm as it is (Node.js 22 and later, current browsers), `'simd'` otherwise.
 * The environment variable `TAPEGRAD_FMA` overrides: `0` always picks `'simd'`; `1` picks `'fma'`
 * and, on an engine that implements relaxed SIMD only behind V8's
 * `--experimental-wasm-relaxed-simd` flag (Node.js 20), sets that flag first: an explicit
 * opt-in, because the flag is process-wide (starting Node.js with the flag does the same).
 * tapegrad never changes an engine flag otherwise. Never throws: any failure means `'simd'`.
 *
 * The fused variant rounds each multiply-add once instead of twice, so its results differ from
 * the plain variant's in the last bits; on one machine either variant is deterministic. On a
 * CPU without FMA the engine lowers relaxed multiply-add to a multiply and an add, so the
 * `'fma'` build then computes exactly what the `'simd'` build computes.
 *
 * @returns the variant every GEMM module of this process is loaded from.
 * @example
 * ```ts
 * console.log(gemmVariant()); // 'fma' on Node.js 22, 'simd' on Node.js 20 unless TAPEGRAD_FMA=1
 * ```
 */
export function gemmVariant(): GemmVariant {
  chosen ??= detect((globalThis as { WebAssembly?: ValidateApi }).WebAssembly);
  return chosen;
}

function detect(api: ValidateApi | undefined): GemmVariant {
  const p = platform();
  const env = p.env('TAPEGRAD_FMA');
  if (env === '0' || api === undefined) return 'simd';
  try {
    const bytes = p.wasmBytes('gemm-fma.wasm');
    if (bytes === undefined) return 'simd';
    if (api.validate(bytes)) return 'fma';
    if (env !== '1' || !p.enableRelaxedSimd()) return 'simd';
    return api.validate(bytes) ? 'fma' : 'simd';
  } catch {
    return 'simd';
  }
}
