/**
 * Runs the TypeScript code blocks of a Markdown document exactly as printed: the ```ts blocks
 * of the document, in order, form one program (a later block may use what an earlier one
 * defined, as a reader would), whose imports of 'tapegrad' and 'tapegrad/testing' resolve to
 * this repository's sources. The program is type-checked in strict mode and then run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '../..');

/** A fenced code block: its language tag, its text, and the line it starts on. */
export interface CodeBlock {
  lang: string;
  code: string;
  line: number;
}

/** Every fenced block of a Markdown file. */
export function codeBlocks(file: string): CodeBlock[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const out: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^```(\w*)\s*$/.exec(lines[i]);
    if (m === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    out.push({ lang: m[1], code: body.join('\n'), line: start + 1 });
  }
  return out;
}

const IMPORT = /^import\s+(type\s+)?\{([^}]*)\}\s+from\s+'([^']+)';\s*$/;

/**
 * Joins blocks into one module: their `import { ... } from '...'` lines merged per module (a
 * reader's later block repeats the imports it needs), the rest in order, each block in its
 * own scope-free sequence.
 */
export function joinBlocks(blocks: readonly CodeBlock[]): string {
  const imports = new Map<string, Set<string>>();
  const body: string[] = [];
  for (const b of blocks) {
    body.push(`// ---- block at line ${b.line}`);
    for (const line of b.code.split('\n')) {
      const m = IMPORT.exec(line);
      if (m === null) {
        body.push(line);
        continue;
      }
      const names = imports.get(m[3]) ?? new Set<string>();
      for (const n of m[2].split(',').map((s) => s.trim()).filter(Boolean)) names.add(m[1] ? `type ${n}` : n);
      imports.set(m[3], names);
    }
  }
  const head = [...imports].map(([from, names]) => {
    const plain = new Set([...names].filter((n) => !n.startsWith('type ')).map((n) => n));
    const list = [...names].filter((n) => !(n.startsWith('type ') && plain.has(n.slice(5))));
    return `import { ${list.join(', ')} } from '${from}';`;
  });
  return [...head, ...body].join('\n');
}

const SPECIFIERS: Record<string, string> = {
  tapegrad: path.join(ROOT, 'src/index.ts'),
  'tapegrad/testing': path.join(ROOT, 'src/testing/index.ts'),
};

/** Strict type-check of `source` as a user's file importing tapegrad; returns the diagnostics. */
export function typeCheck(source: string, name: string): string[] {
  const file = path.join(ROOT, `.doc-check-${name}.ts`);
  const options: ts.CompilerOptions = {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10, esModuleInterop: true, skipLibCheck: true, types: ['node'],
    baseUrl: ROOT, paths: { tapegrad: ['src/index.ts'], 'tapegrad/testing': ['src/testing/index.ts'] },
  };
  const host = ts.createCompilerHost(options);
  const read = host.readFile.bind(host);
  host.readFile = (f) => (path.resolve(f) === file ? source : read(f));
  const exists = host.fileExists.bind(host);
  host.fileExists = (f) => path.resolve(f) === file || exists(f);
  const program = ts.createProgram([file], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file === undefined || path.resolve(d.file.fileName) === file)
    .map((d) => {
      const msg = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (d.file === undefined || d.start === undefined) return msg;
      const { line } = d.file.getLineAndCharacterOfPosition(d.start);
      return `line ${line + 1} (${source.split('\n')[line]?.trim()}): ${msg}`;
    });
}

/** Transpiles `source` to CommonJS and runs it with 'tapegrad' resolved to this repository. */
export async function runSource(source: string): Promise<void> {
  const js = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  }).outputText;
  const req = (id: string): unknown => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(SPECIFIERS[id] ?? id);
  };
  const mod = { exports: {} as Record<string, unknown> };
  const wrapped = `return (async () => {\n${js}\n})();`;
  const run = new Function('require', 'module', 'exports', wrapped) as (r: typeof req, m: typeof mod, e: unknown) => Promise<void>;
  await run(req, mod, mod.exports);
}
