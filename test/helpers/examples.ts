/** Helpers shared by the examples' smoke tests: run a main() in-process, check an SVG. */
import * as fs from 'node:fs';

/** A writable stream stand-in that keeps what was written. */
export class Collector {
  text = '';
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

/** The io an example's main() accepts besides its streams (e.g. the progress mode). */
type ExtraIo = Record<string, unknown>;

/**
 * Runs an example's `main(argv, io)` with captured stdout and stderr.
 *
 * @param main - the example's entry point.
 * @param argv - its arguments.
 * @param extra - more io options, e.g. `{ progress: 'lines' }`.
 */
export async function runExample(
  main: (argv: string[], io: never) => Promise<number>,
  argv: string[],
  extra: ExtraIo = {},
): Promise<{ code: number; out: string; err: string }> {
  const out = new Collector();
  const err = new Collector();
  const code = await main(argv, { stdout: out, stderr: err, ...extra } as never);
  return { code, out: out.text, err: err.text };
}

/** Expects a standalone SVG document whose tags nest properly; returns its text. */
export function expectWellFormedSvg(file: string): string {
  const svg = fs.readFileSync(file, 'utf8');
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([A-Za-z][\w:-]*)\b[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) expect(stack.pop()).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
  return svg;
}
