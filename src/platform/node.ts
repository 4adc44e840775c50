/**
 * The Node.js platform: the WebAssembly is read from build/ (next to the package), SHA-256
 * is node:crypto's, and the GEMM's helper thread is a worker_threads Worker. Importing this
 * module installs it; the Node.js entry (src/index.ts) does, the browser entry never does.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as v8 from 'node:v8';
import { Worker } from 'node:worker_threads';

import { findWasmFile } from '../kernels/wasm_file';
import { inlinedWasm } from './browser';
import { setPlatform } from './index';
import type { GemmWorkerData, GemmWorkerEvents, Platform, Sha256, WasmName } from './types';

/** Node.js 20's V8 implements relaxed SIMD behind this flag (shipped by default from V8 11.4). */
const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';

/**
 * The Node.js platform (see the module documentation).
 *
 * @example
 * ```ts
 * setPlatform(nodePlatform);
 * ```
 */
export const nodePlatform: Platform = {
  name: 'node',
  wasmBytes(name: WasmName): Uint8Array | undefined {
    // CommonJS (dist/, ts-node, jest): build/ at the package root. The ES module build has no
    // __dirname: it uses the copies inlined at build time, the same bytes.
    if (typeof __dirname !== 'string') return inlinedWasm(name);
    const file = findWasmFile(name, __dirname);
    return file === undefined ? undefined : fs.readFileSync(file);
  },
  sha256(): Sha256 {
    const h = createHash('sha256');
    return {
      update: (data) => void h.update(data),
      hex: () => h.digest('hex'),
    };
  },
  env: (name) => process.env[name],
  enableRelaxedSimd(): boolean {
    if (typeof v8.setFlagsFromString !== 'function') return false;
    v8.setFlagsFromString(RELAXED_FLAG);
    return true;
  },
  cpuCount(): number {
    try {
      return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    } catch {
      return 1;
    }
  },
  canBlock: () => true,
  threadsPossible: () => typeof SharedArrayBuffer === 'function',
  startGemmWorker(runSource: string, data: GemmWorkerData, events: GemmWorkerEvents): void {
    const src = `'use strict';\nconst run = ${runSource};\nrun(require('node:worker_threads').workerData);\n`;
    const worker = new Worker(src, {
      eval: true,
      workerData: data,
      // Not the parent's flags: e.g. `-r ts-node/register` would load a compiler into a worker
      // that only runs plain JS and wasm.
      execArgv: [],
    });
    // Never keep the process alive for the worker: it is a pure accelerator.
    worker.unref();
    worker.on('error', () => events.error());
    worker.on('exit', (code) => events.exit(code));
  },
};

setPlatform(nodePlatform);
