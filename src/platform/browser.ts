/**
 * The portable platform: browsers, Web Workers, and any host without Node's modules. The
 * WebAssembly comes inlined (wasm_inline.ts), SHA-256 is computed in TypeScript, and the GEMM's
 * helper thread is a Web Worker on shared memory, which browsers allow only on
 * cross-origin-isolated pages (`crossOriginIsolated`). No process-wide engine flag is changed.
 *
 * @packageDocumentation
 */
import { createSha256 } from './sha256';
import type { GemmWorkerData, GemmWorkerEvents, Platform, WasmName } from './types';
import { WASM_BASE64 } from './wasm_inline';

/** The browser's Worker, typed locally (the project's lib has no "dom" types). */
interface WebWorker {
  postMessage(msg: unknown): void;
  terminate(): void;
  onerror: ((e: unknown) => void) | null;
  onmessage: ((e: { data: unknown }) => void) | null;
}

interface BrowserGlobals {
  Worker?: new (url: string, opts?: { name?: string }) => WebWorker;
  Blob?: new (parts: string[], opts: { type: string }) => object;
  URL?: { createObjectURL(blob: object): string; revokeObjectURL(url: string): void };
  crossOriginIsolated?: boolean;
  navigator?: { hardwareConcurrency?: number };
  document?: unknown;
  atob?: (s: string) => string;
  SharedArrayBuffer?: unknown;
}

const g = globalThis as BrowserGlobals;

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Decodes base64 without atob (absent in some workers' and sandboxes' globals). */
function fromBase64(s: string): Uint8Array {
  const lookup = new Uint8Array(128);
  for (let i = 0; i < B64.length; i++) lookup[B64.charCodeAt(i)] = i;
  let len = (s.length / 4) * 3;
  if (s.endsWith('==')) len -= 2;
  else if (s.endsWith('=')) len -= 1;
  const out = new Uint8Array(len);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const n = (lookup[s.charCodeAt(i)] << 18) | (lookup[s.charCodeAt(i + 1)] << 12) | (lookup[s.charCodeAt(i + 2)] << 6) | lookup[s.charCodeAt(i + 3)];
    if (o < len) out[o++] = n >> 16;
    if (o < len) out[o++] = (n >> 8) & 255;
    if (o < len) out[o++] = n & 255;
  }
  return out;
}

const decoded = new Map<WasmName, Uint8Array>();

/**
 * The bytes of an inlined module (decoded once).
 *
 * @param name - the module.
 * @example
 * ```ts
 * inlinedWasm('gemm.wasm')!.length; // ~6.7 KB
 * ```
 */
export function inlinedWasm(name: WasmName): Uint8Array | undefined {
  let bytes = decoded.get(name);
  if (bytes === undefined) {
    const b64 = Object.prototype.hasOwnProperty.call(WASM_BASE64, name) ? WASM_BASE64[name] : undefined;
    if (b64 === undefined) return undefined;
    bytes = fromBase64(b64);
    decoded.set(name, bytes);
  }
  return bytes;
}

/**
 * The portable platform (see the module documentation).
 *
 * @example
 * ```ts
 * setPlatform(browserPlatform);
 * ```
 */
export const browserPlatform: Platform = {
  name: 'browser',
  wasmBytes: inlinedWasm,
  sha256: createSha256,
  env: () => undefined,
  enableRelaxedSimd: () => false,
  cpuCount: () => {
    const n = g.navigator?.hardwareConcurrency;
    return typeof n === 'number' && n >= 1 ? n : 1;
  },
  // Browsers' main threads (the ones with a document) throw on Atomics.wait; workers may block.
  canBlock: () => g.document === undefined,
  threadsPossible: () =>
    g.crossOriginIsolated === true && typeof g.SharedArrayBuffer === 'function' &&
    typeof g.Worker === 'function' && typeof g.Blob === 'function' && g.URL !== undefined,
  startGemmWorker(runSource: string, data: GemmWorkerData, events: GemmWorkerEvents): void {
    if (!browserPlatform.threadsPossible()) throw new Error('threads need a cross-origin-isolated page with Worker and SharedArrayBuffer');
    // The worker posts 'retired' when it stops after idling, and closes itself.
    const src = `'use strict';\nconst run = ${runSource};\n` +
      `self.onmessage = (e) => { self.onmessage = null; run(e.data); self.postMessage('retired'); self.close(); };\n`;
    const url = g.URL!.createObjectURL(new g.Blob!([src], { type: 'text/javascript' }));
    let worker: WebWorker;
    try {
      worker = new g.Worker!(url, { name: 'tapegrad-gemm' });
    } finally {
      g.URL!.revokeObjectURL(url);
    }
    worker.onerror = () => {
      worker.terminate();
      events.error();
      events.exit(1);
    };
    worker.onmessage = (e) => {
      if (e.data === 'retired') events.exit(0);
    };
    worker.postMessage(data);
  },
};
