/**
 * Every TypeScript block of the README runs exactly as printed: the blocks, in order, form one
 * program (as a reader would paste them), which must type-check as a strict user file and run.
 */
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
    const printed = runBlocks(blocks, { tapegrad, 'tapegrad/testing': testing });
    expect(printed.join('\n')).not.toBe('');
  }, 120_000);
});
