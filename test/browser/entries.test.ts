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
/** Namespaces whose browser version is the Node.js one minus its file functions. */
const SUBSET = ['io'];
const NODE_ONLY_IO = ['readSafetensors', 'writeSafetensors'];

describe('entries', () => {
  it('src/browser.ts exports everything src/index.ts does except the file functions, as the same values', () => {
    const expected = Object.keys(node).filter((k) => !NODE_ONLY.includes(k)).sort();
    expect(Object.keys(browser).sort()).toEqual(expected);
    for (const k of expected.filter((n) => !SUBSET.includes(n))) {
      expect([k, (browser as Record<string, unknown>)[k] === (node as Record<string, unknown>)[k]]).toEqual([k, true]);
    }
    for (const k of NODE_ONLY) expect([k, k in node]).toEqual([k, true]);
    // io: the same functions, minus the ones that read or write files.
    const bio = browser.io as Record<string, unknown>;
    const nio = node.io as Record<string, unknown>;
    expect(Object.keys(bio).sort()).toEqual(Object.keys(nio).filter((k) => !NODE_ONLY_IO.includes(k)).sort());
    for (const k of Object.keys(bio)) expect([k, bio[k] === nio[k]]).toEqual([k, true]);
  });

  it('src/platform/wasm_inline.ts matches build/*.wasm (else: node scripts/build-wasm-inline.js)', () => {
    expect(execFileSync(process.execPath, [path.join(root, 'scripts', 'build-wasm-inline.js'), '--check'], { encoding: 'utf8' })).toMatch(/up to date/);
  });
});
