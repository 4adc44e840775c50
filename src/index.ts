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
// Added on main after the browser work branched (resolved in wt-play's merge of wt-web; the io
// readers and the ONNX export stay in the Node.js entry until checked for node: imports).
export * as io from './io/public';
export { exportOnnx, type ExportOnnxOptions } from './onnx/export';
