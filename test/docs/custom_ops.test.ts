/**
 * docs/custom-ops.md runs as printed: its ts blocks, in order, as one program against this
 * repository's sources, type-checked as a strict user file, each printing exactly the output
 * the guide shows after it.
 */
import * as fastCheck from 'fast-check';

import * as tapegrad from '../../src';
import * as testing from '../../src/testing';
import { codeBlocks, normalizeNumbers, readDoc, runBlocks, typeCheckBlocks, type CodeBlock } from './code_blocks';

const DOC = 'docs/custom-ops.md';
const blocks = codeBlocks(readDoc(DOC));
const tsBlocks = blocks.filter((b) => b.lang === 'ts');

/** The ```text block right after each ts block (the output it prints), or null. */
function shownOutputs(): (CodeBlock | null)[] {
  return tsBlocks.map((b) => {
    const next = blocks[blocks.indexOf(b) + 1];
    return next !== undefined && next.lang === 'text' ? next : null;
  });
}

describe(DOC, () => {
  it('has its code in ts blocks, each output in a text block right after one', () => {
    expect(tsBlocks.length).toBeGreaterThanOrEqual(8);
    expect(blocks.every((b) => b.lang === 'ts' || b.lang === 'text')).toBe(true);
    const outputs = shownOutputs();
    expect(blocks.filter((b) => b.lang === 'text').every((b) => outputs.includes(b))).toBe(true);
  });

  it('type-checks as a strict TypeScript file importing tapegrad, tapegrad/testing and fast-check', () => {
    expect(typeCheckBlocks(tsBlocks)).toEqual([]);
  }, 60_000);

  it('runs as printed and prints what it shows', () => {
    const printed = runBlocks(tsBlocks, { tapegrad, 'tapegrad/testing': testing, 'fast-check': fastCheck });
    const outputs = shownOutputs();
    tsBlocks.forEach((b, i) => {
      const shown = outputs[i];
      const got = `block at line ${b.line} printed:\n${normalizeNumbers(printed[i])}`;
      expect(got).toBe(`block at line ${b.line} printed:\n${shown === null ? '' : normalizeNumbers(shown.code)}`);
    });
  }, 60_000);
});
