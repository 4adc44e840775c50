/**
 * The host platform tapegrad runs on, chosen by the entry point: `src/index.ts` (Node.js)
 * installs the Node.js platform (files, node:crypto, worker_threads); `src/browser.ts` and any
 * module imported without it get the portable one (inlined WebAssembly, SHA-256 in TypeScript,
 * Web Workers), from which no `node:` module is reachable.
 *
 * Compiled WebAssembly modules are cached here, so an asynchronous {@link preloadWasm} (needed
 * on browsers' main threads, which may refuse to compile larger modules synchronously) serves
 * the kernels' synchronous loaders later.
 *
 * @packageDocumentation
 */
import { browserPlatform } from './browser';
import type { Platform, WasmName } from './types';

export type { GemmWorkerData, GemmWorkerEvents, Platform, Sha256, WasmName } from './types';

let current: Platform = browserPlatform;

/**
 * The platform in use.
 *
 * @example
 * ```ts
 * const h = platform().sha256();
 * ```
 */
export function platform(): Platform {
  return current;
}

/**
 * Installs a platform (the Node.js entry does, before any kernel is loaded).
 *
 * @param p - the platform.
 * @example
 * ```ts
 * setPlatform(nodePlatform);
 * ```
 */
export function setPlatform(p: Platform): void {
  current = p;
}

interface CompileApi {
  Module: new (bytes: Uint8Array) => object;
  compile?(bytes: Uint8Array): Promise<object>;
}

const compiled = new Map<WasmName, object>();

/**
 * The compiled module `name`: from the cache filled by {@link preloadWasm}, else compiled
 * synchronously now. Throws when the module is missing or the engine rejects it (no SIMD).
 *
 * @param name - the module.
 * @example
 * ```ts
 * const module = compileWasm('gemm.wasm');
 * ```
 */
export function compileWasm(name: WasmName): object {
  const hit = compiled.get(name);
  if (hit !== undefined) return hit;
  const api = (globalThis as { WebAssembly?: CompileApi }).WebAssembly;
  if (api === undefined) throw new Error('WebAssembly is not available');
  const bytes = current.wasmBytes(name);
  if (bytes === undefined) throw new Error(`${name} is not available`);
  const module = new api.Module(bytes);
  compiled.set(name, module);
  return module;
}

/**
 * Compiles the named WebAssembly modules asynchronously into the cache; a module that is
 * missing or that the engine rejects is skipped (its kernel falls back to TypeScript).
 *
 * @param names - the modules to compile.
 * @returns the names that compiled.
 * @example
 * ```ts
 * await preloadWasm(['gemm.wasm', 'elementwise.wasm']);
 * ```
 */
export async function preloadWasm(names: readonly WasmName[]): Promise<WasmName[]> {
  const api = (globalThis as { WebAssembly?: CompileApi }).WebAssembly;
  const ok: WasmName[] = [];
  if (api === undefined || typeof api.compile !== 'function') return ok;
  for (const name of names) {
    if (compiled.has(name)) {
      ok.push(name);
      continue;
    }
    const bytes = current.wasmBytes(name);
    if (bytes === undefined) continue;
    try {
      compiled.set(name, await api.compile(bytes));
      ok.push(name);
    } catch {
      // no SIMD (or relaxed SIMD) here: the synchronous loader will fail the same way and fall back
    }
  }
  return ok;
}
