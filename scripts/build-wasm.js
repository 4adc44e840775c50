#!/usr/bin/env node
/**
 * Builds the WebAssembly SIMD GEMM: compiles asm/gemm.ts with the AssemblyScript compiler
 * (a devDependency, so this works offline after `npm ci`) and writes build/gemm.wasm and
 * build/gemm-mt.wasm (shared-memory variant for two threads), plus build/gemm-fma.wasm and
 * build/gemm-mt-fma.wasm (the same with relaxed-simd fused multiply-add), at the package root,
 * where src/kernels/wasm/ looks for them.
 *
 * Usage: node scripts/build-wasm.js            (release build, -O3)
 *        node scripts/build-wasm.js --wat      (also writes a .wat text file next to each)
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'build');

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
  const watFile = (name) => (wat ? ['--textFile', path.join(outDir, name.replace(/\.wasm$/, '.wat'))] : []);
  // Two instruction sets x two memory models. The plain builds use SIMD128 only and run on
  // every engine with SIMD; the -fma builds also enable relaxed-simd, so the micro-kernels'
  // multiply-add is one fused instruction where the CPU has one (see maddF32 in asm/gemm.ts).
  // The loader (src/kernels/wasm/variant.ts) picks one pair at run time.
  for (const fma of [false, true]) {
    const suffix = fma ? '-fma' : '';
    const features = fma ? 'simd,relaxed-simd' : 'simd';
    // gemm.wasm: single thread, owns its memory.
    const stFile = path.join(outDir, `gemm${suffix}.wasm`);
    await compile([...common, '--outFile', stFile, '--enable', features, '--initialMemory', '1', ...watFile(stFile)]);
    // gemm-mt.wasm: the same code importing a shared memory (env.memory), for the two-thread
    // path (src/kernels/wasm/threads.ts). Shared memories must declare a maximum: 16384 pages
    // = 1 GiB, which reserves address space only; pages are committed as the loader grows it.
    // Optional: if this build fails, the loader silently stays single-threaded.
    const mtFile = path.join(outDir, `gemm-mt${suffix}.wasm`);
    try {
      await compile([
        ...common, '--outFile', mtFile, '--enable', `${features},threads`,
        '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '16384',
        ...watFile(mtFile),
      ]);
    } catch (err) {
      console.warn(`build-wasm: ${err.message}; the GEMM will run single-threaded`);
    }
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
