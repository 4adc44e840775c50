#!/usr/bin/env node
/**
 * Builds the WebAssembly SIMD elementwise kernels (BatchNorm forward/backward, ReLU forward/
 * backward): compiles asm/elementwise.ts with the AssemblyScript compiler (a devDependency, so
 * this works offline after `npm ci`) and writes build/elementwise.wasm at the package root,
 * where src/kernels/simd/ looks for it.
 *
 * Usage: node scripts/build-wasm-elementwise.js          (release build, -O3)
 *        node scripts/build-wasm-elementwise.js --wat    (also writes build/elementwise.wat)
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'build');
const outFile = path.join(outDir, 'elementwise.wasm');

async function main() {
  // assemblyscript ships as ESM only; dynamic import() works from CommonJS.
  let asc;
  try {
    asc = await import('assemblyscript/asc');
  } catch (err) {
    console.error('build-wasm-elementwise: cannot load assemblyscript (run `npm ci` first):', err.message);
    process.exit(1);
  }
  fs.mkdirSync(outDir, { recursive: true });
  const args = [
    path.join(root, 'asm', 'elementwise.ts'),
    '-O3',
    '--noAssert',
    '--runtime', 'stub', // no GC or allocator: the JS loader owns the memory layout
    '--use', 'abort=', // no abort import: the module needs no imports at all
    '--enable', 'simd', // plain SIMD128 only; relaxed-simd (FMA) would also break bit-identity
    '--initialMemory', '1', // the loader grows it to fit each call's operands
    '--outFile', outFile,
    ...(process.argv.includes('--wat') ? ['--textFile', path.join(outDir, 'elementwise.wat')] : []),
  ];
  const { error, stderr } = await asc.main(args, {});
  if (error) {
    console.error(stderr.toString());
    throw new Error(`compilation of ${path.relative(root, outFile)} failed: ${error.message}`);
  }
  console.log(`build-wasm-elementwise: wrote ${path.relative(root, outFile)} (${fs.statSync(outFile).size} bytes)`);
}

main().catch((err) => {
  console.error('build-wasm-elementwise:', err);
  process.exit(1);
});
