/**
 * tapegrad: a Tensor on a tape, the seed's hand-written layer kernels, modules, optimizers,
 * and property-based gradient testing. This is the Node.js entry (file checkpoints, a
 * worker_threads helper for the GEMM); browsers get src/browser.ts, the same minus the files.
 *
 * @packageDocumentation
 */
// First: install the Node.js platform (wasm from build/, node:crypto, worker_threads).
import './platform/node';

export * from './exports';
export { saveCheckpoint, loadCheckpoint, readCheckpointInfo } from './checkpoint';
export { cleanStaleTemps, type CleanStaleTempsOptions } from './io/atomic';
// The full io (files too) takes the place of the bytes-only io of './exports'.
export * as io from './io/public';
