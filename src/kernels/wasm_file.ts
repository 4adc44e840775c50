/**
 * Where the project's WebAssembly modules are found at run time.
 *
 * @packageDocumentation
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The path of a built module (`gemm.wasm`, `gemm-mt.wasm`, `elementwise.wasm`), or undefined
 * when it is not built: next to the calling file's directory `dir` (if a build step copies it
 * there), then `build/<name>` in the nearest ancestor directory whose package.json is named
 * tapegrad. Walking up makes the same code work from src/ (ts-node, jest) and from dist/.
 *
 * @param name - the module's file name.
 * @param dir - where the loader lives (its `__dirname`).
 * @example
 * ```ts
 * const file = findWasmFile('gemm.wasm', __dirname);
 * ```
 */
export function findWasmFile(name: string, dir: string): string | undefined {
  const candidates = [path.join(dir, name)];
  for (let d = dir; ; ) {
    const pkg = path.join(d, 'package.json');
    try {
      if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'tapegrad') {
        candidates.push(path.join(d, 'build', name));
        break;
      }
    } catch {
      // unreadable or malformed package.json: keep walking up
    }
    const parent = path.dirname(d);
    if (parent === d) break;
    d = parent;
  }
  return candidates.find((p) => fs.existsSync(p));
}
