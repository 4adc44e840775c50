#!/usr/bin/env node
/**
 * Builds tapegrad's WebAssembly kernels with the AssemblyScript compiler (a devDependency, so
 * this works offline after `npm ci`) into build/ at the package root, where the runtime
 * (src/kernels/wasm/runtime.ts) looks for them:
 *
 * - asm/gemm.ts → build/gemm.wasm and build/gemm-fma.wasm (the same with relaxed-simd fused
 *   multiply-add), each also as -mt (shared memory, for the two-thread path).
 * - asm/elementwise.ts → build/elementwise.wasm and build/elementwise-mt.wasm (plain SIMD128
 *   only: relaxed-simd would break bit-identity with the TypeScript kernels).
 *
 * Every module IMPORTS its memory (env.memory): the runtime creates one WebAssembly.Memory per
 * process and instantiates both modules on it, so tensors allocated there are operands of every
 * kernel without a copy. The -mt builds import a shared memory (declared maximum 65536 pages =
 * 4 GiB of address space, committed only as the runtime grows it); the others a plain one.
 * Neither source has static data (checked below), so the two modules cannot overwrite each
 * other's: both keep their stack-free code's globals to themselves.
 *
 * Usage: node scripts/build-wasm.js            (release build, -O3)
 *        node scripts/build-wasm.js --wat      (also writes a .wat text file next to each)
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'build');
/** Declared maximum of the shared memory in pages (4 GiB); must match MAX_PAGES in runtime.ts. */
const MAX_PAGES = '65536';

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
  const wat = process.argv.includes('--wat');
  const common = (source) => [
    path.join(root, 'asm', source),
    '-O3',
    '--noAssert',
    '--runtime', 'stub', // no GC or allocator: the JS runtime owns the memory layout
    '--use', 'abort=', // no abort import: the only import is the memory
    '--importMemory', '--initialMemory', '1',
  ];
  const shared = ['--sharedMemory', '--maximumMemory', MAX_PAGES];
  // gemm: two instruction sets x two memory models. The plain builds use SIMD128 only and run on
  // every engine with SIMD; the -fma builds also enable relaxed-simd, so the micro-kernels'
  // multiply-add is one fused instruction where the CPU has one (see maddF32 in asm/gemm.ts).
  // The runtime (src/kernels/wasm/variant.ts) picks one instruction set at run time.
  for (const fma of [false, true]) {
    const suffix = fma ? '-fma' : '';
    const features = fma ? 'simd,relaxed-simd' : 'simd';
    await compile([...common('gemm.ts'), '--enable', features], `gemm${suffix}.wasm`);
    await compile([...common('gemm.ts'), '--enable', `${features},threads`, ...shared], `gemm-mt${suffix}.wasm`);
  }
  await compile([...common('elementwise.ts'), '--enable', 'simd'], 'elementwise.wasm');
  await compile([...common('elementwise.ts'), '--enable', 'simd,threads', ...shared], 'elementwise-mt.wasm');

  async function compile(args, name) {
    const out = path.join(outDir, name);
    const text = path.join(outDir, name.replace(/\.wasm$/, '.wat'));
    // Always emit the text once to check for static data; keep it only with --wat.
    const { error, stderr } = await asc.main([...args, '--outFile', out, '--textFile', text], {});
    if (error) {
      console.error(stderr.toString());
      throw new Error(`compilation of ${path.relative(root, out)} failed: ${error.message}`);
    }
    const source = fs.readFileSync(text, 'utf8');
    if (!wat) fs.unlinkSync(text);
    if (/\(data\b/.test(source)) throw new Error(`${name} has static data: two modules on one memory would overwrite it`);
    console.log(`build-wasm: wrote ${path.relative(root, out)} (${fs.statSync(out).size} bytes)`);
  }
}

main().catch((err) => {
  console.error('build-wasm:', err);
  process.exit(1);
});
