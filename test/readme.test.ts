/**
 * Every TypeScript block of the README runs exactly as printed: the blocks, in order, form one
 * program (as a reader would paste them), which must type-check in strict mode and run.
 */
import * as path from 'node:path';

import { codeBlocks, joinBlocks, runSource, typeCheck } from './helpers/doc_blocks';

const README = path.resolve(__dirname, '../README.md');

describe('README', () => {
  const blocks = codeBlocks(README).filter((b) => b.lang === 'ts');
  const program = joinBlocks(blocks);

  it('has TypeScript blocks to run', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
  });

  it('its TypeScript blocks type-check in strict mode', () => {
    expect(typeCheck(program, 'readme')).toEqual([]);
  });

  it('its TypeScript blocks run as printed', async () => {
    const log = jest.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await runSource(program);
      expect(log).toHaveBeenCalled();
    } finally {
      log.mockRestore();
    }
  }, 120_000);
});
