#!/usr/bin/env node
/**
 * Builds the WebAssembly SIMD GEMM: compiles asm/gemm.ts with the AssemblyScript compiler
 * (a devDependency, so this works offline after `npm ci`) and writes build/gemm.wasm at the
 * package root, where src/kernels/wasm/index.ts looks for it.
 *
 * Usage: node scripts/build-wasm.js            (release build, -O3)
 *        node scripts/build-wasm.js --wat      (also writes build/gemm.wat for inspection)
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
  const args = [
    path.join(root, 'asm', 'gemm.ts'),
    '--outFile', outFile,
    '-O3',
    '--noAssert',
    '--runtime', 'stub', // no GC or allocator: the JS loader owns the memory layout
    '--enable', 'simd', // plain SIMD128 only; relaxed-simd is not universally available
    '--use', 'abort=', // no abort import: the module needs no imports at all
    '--initialMemory', '1',
  ];
  if (process.argv.includes('--wat')) args.push('--textFile', path.join(outDir, 'gemm.wat'));
  const { error, stderr } = await asc.main(args, {});
  if (error) {
    console.error(stderr.toString());
    console.error('build-wasm: compilation failed:', error.message);
    process.exit(1);
  }
  const bytes = fs.statSync(outFile).size;
  console.log(`build-wasm: wrote ${path.relative(root, outFile)} (${bytes} bytes)`);
}

main().catch((err) => {
  console.error('build-wasm:', err);
  process.exit(1);
});
