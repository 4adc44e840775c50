/**
 * What tapegrad needs from its host (Node.js or a browser): the bytes of its WebAssembly
 * modules, a synchronous SHA-256, a helper thread for the GEMM, and a few facts.
 *
 * @packageDocumentation
 */

/** The WebAssembly modules the kernels load (built from asm/ into build/). */
export type WasmName = 'gemm.wasm' | 'gemm-fma.wasm' | 'gemm-mt.wasm' | 'gemm-mt-fma.wasm' | 'elementwise.wasm' | 'elementwise-mt.wasm';

/** An incremental SHA-256 hash: `update` any number of times, then `hex()` once. */
export interface Sha256 {
  /** Adds bytes, or a string as UTF-8. */
  update(data: Uint8Array | string): void;
  /** The digest as 64 lowercase hex digits. */
  hex(): string;
}

/** What the GEMM's helper thread receives: the compiled gemm-mt module, its shared memory, the control block. */
export interface GemmWorkerData {
  module: object;
  memory: object;
  ctlOffset: number;
}

/** Callbacks about a started helper thread. */
export interface GemmWorkerEvents {
  /** The thread failed (could not start, or threw outside a job). */
  error(): void;
  /** The thread ended; `code` 0 when it retired after idling. */
  exit(code: number): void;
}

/** The host services tapegrad uses. */
export interface Platform {
  /** 'node' or 'browser' (any host without Node's modules: browsers, workers, Deno's web APIs). */
  readonly name: 'node' | 'browser';
  /** The bytes of a WebAssembly module, or undefined when it is not available. */
  wasmBytes(name: WasmName): Uint8Array | undefined;
  /** A fresh SHA-256 hash. */
  sha256(): Sha256;
  /** An environment variable (Node's process.env), undefined where there is none. */
  env(name: string): string | undefined;
  /**
   * Lets the engine validate relaxed-SIMD modules when it implements them only behind a flag
   * (Node.js 20's V8); returns true if it changed something worth re-validating for. Called
   * only when the user opts in with TAPEGRAD_FMA=1 (the flag is process-wide). Browsers:
   * always false, no process-wide flag is ever changed there.
   */
  enableRelaxedSimd(): boolean;
  /** Logical processors available to this process or page. */
  cpuCount(): number;
  /** True when this thread may block in Atomics.wait (not a browser's main thread). */
  canBlock(): boolean;
  /**
   * Starts a helper thread that evaluates `runSource` (the source of a function expression taking
   * a GemmWorkerData) and calls it with `data`. Throws when threads are unavailable here.
   */
  startGemmWorker(runSource: string, data: GemmWorkerData, events: GemmWorkerEvents): void;
  /** Whether startGemmWorker can work here (shared memory that can be sent to a thread). */
  threadsPossible(): boolean;
}
