/**
 * The browser entry exports what the Node.js entry exports, minus the file functions; the
 * inlined WebAssembly (src/platform/wasm_inline.ts) is exactly build/*.wasm.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import * as browser from '../../src/browser';
import * as node from '../../src';

const root = path.resolve(__dirname, '..', '..');
const NODE_ONLY = ['saveCheckpoint', 'loadCheckpoint', 'readCheckpointInfo', 'cleanStaleTemps'];

describe('entries', () => {
  it('src/browser.ts exports everything src/index.ts does except the file functions, as the same values', () => {
    const expected = Object.keys(node).filter((k) => !NODE_ONLY.includes(k)).sort();
    expect(Object.keys(browser).sort()).toEqual(expected);
    for (const k of expected) expect([k, (browser as Record<string, unknown>)[k] === (node as Record<string, unknown>)[k]]).toEqual([k, true]);
    for (const k of NODE_ONLY) expect([k, k in node]).toEqual([k, true]);
  });

  it('src/platform/wasm_inline.ts matches build/*.wasm (else: node scripts/build-wasm-inline.js)', () => {
    expect(execFileSync(process.execPath, [path.join(root, 'scripts', 'build-wasm-inline.js'), '--check'], { encoding: 'utf8' })).toMatch(/up to date/);
  });
});
