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
 * Decides the variant (once) and returns it. `'fma'` when the environment variable
 * `TAPEGRAD_FMA` is not `0`, build/gemm-fma.wasm exists, and the engine validates it. An engine
 * that implements relaxed SIMD only behind V8's `--experimental-wasm-relaxed-simd` flag
 * (Node.js 20; later versions ship it on) gets that flag set first under Node.js: it only lets
 * modules use the relaxed-simd instructions and changes nothing else. In a browser no engine flag
 * is ever changed: `'fma'` only where the engine validates the module as it is. Never throws:
 * any failure means `'simd'`.
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
  const p = platform();
  if (p.env('TAPEGRAD_FMA') === '0' || api === undefined) return 'simd';
  try {
    const bytes = p.wasmBytes('gemm-fma.wasm');
    if (bytes === undefined) return 'simd';
    if (api.validate(bytes)) return 'fma';
    if (!p.enableRelaxedSimd()) return 'simd';
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
export function variantFile(base: 'gemm' | 'gemm-mt'): 'gemm.wasm' | 'gemm-fma.wasm' | 'gemm-mt.wasm' | 'gemm-mt-fma.wasm' {
  return gemmVariant() === 'fma' ? `${base}-fma.wasm` : `${base}.wasm`;
}
