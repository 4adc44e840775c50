/**
 * Installs the Node.js platform (wasm from build/, node:crypto, worker_threads) in every test's
 * module registry, as src/index.ts does for users: tests that import src/kernels/... directly,
 * without the entry point, get the same kernels and threads. Tests of the portable (browser)
 * platform set it themselves.
 */
import '../../src/platform/node';
