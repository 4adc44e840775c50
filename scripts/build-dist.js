#!/usr/bin/env node
/**
 * Compiles src/ into dist/ (CommonJS .js, .d.ts, source maps) with tsconfig.build.json, after
 * deleting dist/ so that a file removed from src/ cannot linger in dist/ and be packed.
 * Runs the TypeScript compiler of this package's devDependencies (node_modules/typescript),
 * so it works the same from `npm run build`, `npm pack` and the `prepare` step of a git install.
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
console.log('build-dist: wrote dist/');
