/**
 * Runs the code blocks of a Markdown document exactly as printed: every ```ts block, in order,
 * as one program (so a later block uses what an earlier one defined, as a reader would), with
 * `import ... from 'tapegrad'` and `'tapegrad/testing'` bound to this repository's sources.
 * What each block prints with console.log is kept per block, so a test can compare it with
 * the output the document shows after it (a ```text block). The same program can be
 * type-checked as a user's strict TypeScript file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import ts from 'typescript';

/** One fenced block of a Markdown document. */
export interface CodeBlock {
  /** The info string's first word: 'ts', 'text', 'sh', ... ('' for none). */
  lang: string;
  /** The block's text, without the fences. */
  code: string;
  /** The 1-based line of the opening fence, for messages. */
  line: number;
}

/** The repository root (this file is test/docs/code_blocks.ts). */
export const ROOT = path.resolve(__dirname, '../..');

/**
 * The fenced code blocks of a Markdown text, in order.
 *
 * @param markdown - the document.
 */
export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)/.exec(lines[i]);
    if (open === null) continue;
    const fence = open[2];
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !lines[j].trimStart().startsWith(fence)) body.push(lines[j++]);
    if (j === lines.length) throw new Error(`unclosed code block opened at line ${i + 1}`);
    blocks.push({ lang: open[3], code: body.join('\n'), line: i + 1 });
    i = j;
  }
  return blocks;
}

/**
 * The ts blocks as one program, each preceded by a marker call `__block(i)`. A document's
 * blocks each carry the imports they need (a reader may copy any one of them), so a name a
 * later block imports again from the same module is dropped from its import line (the line
 * stays, empty if nothing new is left, so line numbers hold).
 */
function programOf(blocks: readonly CodeBlock[]): string {
  const imported = new Map<string, Set<string>>();
  const dedupe = (line: string): string => {
    const m = /^import\s+(type\s+)?\{([^}]*)\}\s+from\s+'([^']+)';\s*$/.exec(line);
    if (m === null) return line;
    const seen = imported.get(m[3]) ?? new Set<string>();
    imported.set(m[3], seen);
    const fresh = m[2].split(',').map((n) => n.trim()).filter((n) => n !== '' && !seen.has(n.replace(/^type\s+/, '')));
    for (const n of fresh) seen.add(n.replace(/^type\s+/, ''));
    return fresh.length === 0 ? '' : `import ${m[1] ?? ''}{ ${fresh.join(', ')} } from '${m[3]}';`;
  };
  return blocks.map((b, i) => `__block(${i}); // line ${b.line}\n${b.code.split('\n').map(dedupe).join('\n')}`).join('\n');
}

/**
 * Runs the ts blocks as one CommonJS program. `modules` maps each module name the blocks may
 * import ('tapegrad', 'tapegrad/testing', 'fast-check') to the module itself; any other
 * import throws.
 *
 * @param blocks - the ts blocks, in document order.
 * @param modules - what `require(name)` returns for each allowed name.
 * @returns what each block printed with console.log (lines joined by '\n').
 */
export function runBlocks(blocks: readonly CodeBlock[], modules: Record<string, unknown>): string[] {
  const js = ts.transpileModule(programOf(blocks), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    reportDiagnostics: false,
  }).outputText;
  const printed: string[][] = blocks.map(() => []);
  let current = -1;
  const sandboxConsole = {
    log: (...args: unknown[]): void => {
      printed[current].push(args.map((a) => (typeof a === 'string' ? a : formatValue(a))).join(' '));
    },
  };
  const requireModule = (name: string): unknown => {
    if (!(name in modules)) throw new Error(`the document imports '${name}', which the test does not provide`);
    return modules[name];
  };
  const mod = { exports: {} };
  const run = new Function('require', 'module', 'exports', 'console', '__block', js) as (...a: unknown[]) => void;
  run(requireModule, mod, mod.exports, sandboxConsole, (i: number) => (current = i));
  return printed.map((lines) => lines.join('\n'));
}

/** console.log's formatting of a non-string value (arrays and objects as Node prints them). */
function formatValue(v: unknown): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('node:util') as typeof import('node:util')).inspect(v, { depth: 4, breakLength: 120 });
}

/**
 * Type-checks the ts blocks as one strict TypeScript file of a user's project in which
 * 'tapegrad' and 'tapegrad/testing' resolve to this repository's sources.
 *
 * @param blocks - the ts blocks, in document order.
 * @returns the diagnostics, formatted with the document line of the block they are in.
 */
export function typeCheckBlocks(blocks: readonly CodeBlock[]): string[] {
  const source = programOf(blocks.map((b) => b)).replace(/^__block\(\d+\);/gm, '');
  const file = path.join(ROOT, '__doc_blocks__.ts');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    skipLibCheck: true,
    types: ['node'],
    lib: ['lib.es2022.d.ts'],
    paths: { tapegrad: [path.join(ROOT, 'src/index.ts')], 'tapegrad/testing': [path.join(ROOT, 'src/testing/index.ts')] },
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, onError) =>
    path.resolve(name) === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, onError);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const sf = program.getSourceFile(file)!;
  const diagnostics = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
  const starts = source.split('\n').flatMap((l, i) => (/^ \/\/ line (\d+)$/.exec(l) ? [[i, Number(/\d+/.exec(l)![0])]] : []));
  return diagnostics.map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.start === undefined) return text;
    const { line } = sf.getLineAndCharacterOfPosition(d.start);
    const block = starts.filter(([at]) => at <= line).pop();
    return block === undefined ? text : `document line ${block[1] + line - block[0]}: ${text}`;
  });
}

/**
 * Reads a document of this repository.
 *
 * @param rel - its path from the repository root.
 */
export function readDoc(rel: string): string {
  return fs.readFileSync(path.join(ROOT, rel), 'utf8');
}

/**
 * Makes printed output comparable across machines: every decimal number is rounded to 6
 * significant digits (the last digits of a finite-difference quotient may differ in libm).
 *
 * @param text - printed text.
 */
export function normalizeNumbers(text: string): string {
  return text.trim().replace(/-?\d+\.\d+(?:e[-+]?\d+)?/g, (m) => Number(m).toPrecision(6));
}
