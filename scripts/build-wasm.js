#!/usr/bin/env node
/**
 * Builds the WebAssembly SIMD GEMM: compiles asm/gemm.ts with the AssemblyScript compiler
 * (a devDependency, so this works offline after `npm ci`) and writes build/gemm.wasm and
 * build/gemm-mt.wasm (shared-memory variant for two threads) at the package root, where
 * src/kernels/wasm/ looks for them.
 *
 * Usage: node scripts/build-wasm.js            (release build, -O3)
 *        node scripts/build-wasm.js --wat      (also writes build/gemm.wat and gemm-mt.wat)
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'build');
const outFile = path.join(outDir, 'gemm.wasm');

async function main() {
  // assemblyscript ships as ESM only; dynamic import() works from CommonJS.
  let asc;
  try {
    asc = await import('assemblyscript/asc');
  } catch (err) {
    console.error('build-wasm: cannot load assemblyscript (run `npm ci` first):', err.message);
    process.exit(1);
  }
  fs.mkdirSync(outDir, { recursive: true });
  const common = [
    path.join(root, 'asm', 'gemm.ts'),
    '-O3',
    '--noAssert',
    '--runtime', 'stub', // no GC or allocator: the JS loader owns the memory layout
    '--use', 'abort=', // no abort import: the module needs no imports besides (mt) its memory
  ];
  const wat = process.argv.includes('--wat');
  // gemm.wasm: single thread, owns its memory. Plain SIMD128 only; relaxed-simd is not
  // universally available.
  await compile([
    ...common, '--outFile', outFile, '--enable', 'simd', '--initialMemory', '1',
    ...(wat ? ['--textFile', path.join(outDir, 'gemm.wat')] : []),
  ]);
  // gemm-mt.wasm: the same code importing a shared memory (env.memory), for the two-thread
  // path (src/kernels/wasm/threads.ts). Shared memories must declare a maximum: 16384 pages
  // = 1 GiB, which reserves address space only; pages are committed as the loader grows it.
  // Optional: if this build fails, the loader silently stays single-threaded.
  const mtFile = path.join(outDir, 'gemm-mt.wasm');
  try {
    await compile([
      ...common, '--outFile', mtFile, '--enable', 'simd,threads',
      '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '16384',
      ...(wat ? ['--textFile', path.join(outDir, 'gemm-mt.wat')] : []),
    ]);
  } catch (err) {
    console.warn(`build-wasm: ${err.message}; the GEMM will run single-threaded`);
  }

  async function compile(args) {
    const { error, stderr } = await asc.main(args, {});
    const out = args[args.indexOf('--outFile') + 1];
    if (error) {
      console.error(stderr.toString());
      throw new Error(`compilation of ${path.relative(root, out)} failed: ${error.message}`);
    }
    console.log(`build-wasm: wrote ${path.relative(root, out)} (${fs.statSync(out).size} bytes)`);
  }
}

main().catch((err) => {
  console.error('build-wasm:', err);
  process.exit(1);
});
