/**
 * Every TypeScript block of the README runs exactly as printed: the blocks, in order, form one
 * program (as a reader would paste them), which must type-check as a strict user file and run.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import * as tapegrad from '../src';
import * as testing from '../src/testing';
import { codeBlocks, readDoc, runBlocks, typeCheckBlocks } from './docs/code_blocks';

const blocks = codeBlocks(readDoc('README.md')).filter((b) => b.lang === 'ts');

describe('README', () => {
  it('has TypeScript blocks to run', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  it('its TypeScript blocks type-check as a strict user file', () => {
    expect(typeCheckBlocks(blocks)).toEqual([]);
  }, 60_000);

  it('its TypeScript blocks run as printed', () => {
    const printed = runBlocks(blocks, { tapegrad, 'tapegrad/testing': testing, 'node:fs': fs, 'node:os': os, 'node:path': path });
    const all = printed.join('\n');
    expect(all).not.toBe('');
    // Every check the README prints as "// true" holds.
    expect(all).toMatch(/^true$/m);
    expect(all).not.toMatch(/^false$/m);
  }, 120_000);
});
