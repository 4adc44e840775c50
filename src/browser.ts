/**
 * tapegrad for browsers (and any host without Node.js's modules): everything the Node.js entry
 * (src/index.ts) exports except the file functions (saveCheckpoint, loadCheckpoint,
 * readCheckpointInfo, cleanStaleTemps), with checkpoints as bytes through encodeCheckpoint and
 * decodeCheckpoint. No `node:` module is reachable from here: the WebAssembly kernels come
 * inlined, SHA-256 is computed in TypeScript, and large GEMMs use a Web Worker on a
 * cross-origin-isolated page (see kernels.gemmThreads). Bundlers pick this file through the
 * package's `browser` export condition.
 *
 * @example
 * ```ts
 * import { Tensor, nn, optim, encodeCheckpoint, decodeCheckpoint, kernels } from 'tapegrad';
 * await kernels.loadWasm(); // compile the kernels off the main thread's synchronous path
 * ```
 *
 * @packageDocumentation
 */
export * from './exports';
