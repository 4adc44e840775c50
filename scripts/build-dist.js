#!/usr/bin/env node
/**
 * Builds dist/, after deleting it so that a file removed from src/ cannot linger and be packed:
 *
 * - dist/**: CommonJS .js, .d.ts and source maps, compiled from src/ by tsc with
 *   tsconfig.build.json (the `require` condition and the types of every condition);
 * - dist/esm/: ES modules bundled by esbuild from three entries sharing chunks (so
 *   `tapegrad` and `tapegrad/testing` share one Tensor class): index.js (Node.js, the `import`
 *   condition), browser.js (the `browser` condition: no `node:` module is reachable from it,
 *   the WebAssembly is inlined) and testing/index.js; dependencies stay imports. A
 *   package.json {"type": "module"} there makes Node.js load them as ES modules.
 *
 * Runs the TypeScript compiler and esbuild of this package's devDependencies, so it works the
 * same from `npm run build`, `npm pack` and the `prepare` step of a git install.
 *
 * Usage: node scripts/build-dist.js
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');

let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
} catch (err) {
  console.error('build-dist: cannot find the TypeScript compiler (run `npm ci` first):', err.message);
  process.exit(1);
}

fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
if (r.error) {
  console.error('build-dist: could not run tsc:', r.error.message);
  process.exit(1);
}
if (r.status !== 0) {
  console.error(`build-dist: tsc -p tsconfig.build.json failed (exit ${r.status ?? r.signal})`);
  process.exit(r.status ?? 1);
}

let esbuild;
try {
  esbuild = require(require.resolve('esbuild', { paths: [root] }));
} catch (err) {
  console.error('build-dist: cannot load esbuild (run `npm ci` first):', err.message);
  process.exit(1);
}
const esm = path.join(root, 'dist', 'esm');
try {
  esbuild.buildSync({
    absWorkingDir: root,
    entryPoints: { index: 'src/index.ts', browser: 'src/browser.ts', 'testing/index': 'src/testing/index.ts' },
    outdir: esm,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    packages: 'external',
    external: ['node:*'],
    // The dependencies' own export conditions decide their builds; 'module' for typed-array-utils.
    mainFields: ['module', 'main'],
    sourcemap: 'linked',
    sourcesContent: false,
    chunkNames: 'chunks/[name]-[hash]',
    logLevel: 'warning',
  });
} catch (err) {
  console.error('build-dist: esbuild failed:', err.message);
  process.exit(1);
}
fs.writeFileSync(path.join(esm, 'package.json'), `${JSON.stringify({ type: 'module' }, null, 2)}\n`);
console.log('build-dist: wrote dist/ (CommonJS) and dist/esm/ (ES modules)');
