#!/usr/bin/env node
/**
 * First step of `prepare`: checks that the build's devDependencies (assemblyscript for the
 * wasm, typescript and esbuild for dist/) are installed here, and if not, says what to do instead of
 * failing deep inside the build. They are missing when npm runs `prepare` in a folder it was
 * pointed at (`npm install <folder>` runs the folder's `prepare` in place, without installing
 * its devDependencies); a git URL install, `npm ci` in a checkout and `npm pack` after
 * `npm ci` have them.
 *
 * Usage: node scripts/check-build-deps.js
 */
'use strict';

const path = require('node:path');

const root = path.resolve(__dirname, '..');
const missing = ['assemblyscript/package.json', 'typescript/package.json', 'esbuild/package.json'].filter((id) => {
  try {
    require.resolve(id, { paths: [root] });
    return false;
  } catch {
    return true;
  }
}).map((id) => id.split('/')[0]);

if (missing.length > 0) {
  console.error(
    `tapegrad: cannot build ${root}: its devDependencies ${missing.join(' and ')} are not installed there.\n` +
    `  Run \`npm ci\` in ${root} first (it installs them and builds), then install the folder again;\n` +
    `  or install from git instead: npm install git+file://${root.split(path.sep).join('/')}\n` +
    '  (npm installs the devDependencies in a temporary clone and builds there).',
  );
  process.exit(1);
}
