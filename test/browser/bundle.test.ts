/**
 * tapegrad as a browser bundler sees it: esbuild bundles `import ... from 'tapegrad'` for the
 * browser platform from the browser entry (src/browser.ts, what the package's `browser` export
 * condition names in dist/esm), no `node:` module may be reachable, and the bundle must run in
 * a bare JavaScript realm (a fresh `vm` context: no require, no process, no Buffer; only
 * TextEncoder added, as every browser and worker has it): train a small model with the
 * WebAssembly kernels, round-trip a checkpoint through bytes, and do the same with WebAssembly
 * absent (the TypeScript loops). Prints the bundle's and the wasm modules' sizes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import * as zlib from 'node:zlib';
import { build, type Metafile } from 'esbuild';

const root = path.resolve(__dirname, '..', '..');

/** The user's code: what a page would run. Leaves its result on globalThis.result. */
const USER = `
import { Tensor, nn, optim, encodeCheckpoint, decodeCheckpoint, kernels, manualSeed, CheckpointError } from 'tapegrad';
globalThis.result = (async () => {
  const wasm = await kernels.loadWasm();
  manualSeed(0);
  const x = Tensor.randn([64, 2]);
  const y = Int32Array.from({ length: 64 }, (_, i) => (x.data[2 * i] * x.data[2 * i + 1] > 0 ? 1 : 0));
  const build = () => new nn.Sequential(new nn.Affine(2, 32), new nn.BatchNorm1d(32), new nn.ReLU(), new nn.Affine(32, 2));
  const model = build();
  const opt = new optim.Adam(model.parameters(), { lr: 0.05 });
  const losses = [];
  for (let step = 0; step < 40; step++) {
    opt.zeroGrad();
    const loss = nn.softmaxCrossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    losses.push(loss.item());
  }
  const bytes = encodeCheckpoint({ model, optimizer: opt, meta: { steps: 40 } });
  const model2 = build();
  const opt2 = new optim.Adam(model2.parameters(), { lr: 0.05 });
  const meta = decodeCheckpoint(bytes, { model: model2, optimizer: opt2 });
  model.eval(); model2.eval();
  const same = model.forward(x).data.every((v, i) => v === model2.forward(x).data[i]);
  const flipped = bytes.slice();
  flipped[flipped.length - 5] ^= 4;
  let refused = '';
  try { decodeCheckpoint(flipped, { model: model2 }); } catch (e) { refused = e instanceof CheckpointError ? e.message : 'other: ' + e; }
  return { wasm, variant: kernels.gemmVariant(), threads: kernels.gemmThreads(), first: losses[0], last: losses.at(-1), bytes: bytes.length, meta, same, refused };
})();
`;

interface Result {
  wasm: { gemm: boolean; elementwise: boolean; variant: string };
  variant: string;
  threads: { requested: number; available: boolean; active: boolean };
  first: number;
  last: number;
  bytes: number;
  meta: unknown;
  same: boolean;
  refused: string;
}

let code = '';
let metafile: Metafile;

beforeAll(async () => {
  const r = await build({
    stdin: { contents: USER, resolveDir: root, loader: 'js' },
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'iife',
    minify: true,
    metafile: true,
    target: 'es2022',
    // The package resolves 'tapegrad' to dist/esm/browser.js under the 'browser' condition;
    // here the same entry from source (test/package/install.test.ts bundles the packed package).
    alias: { tapegrad: './src/browser.ts' },
    logLevel: 'silent',
  });
  code = r.outputFiles[0].text;
  metafile = r.metafile;
}, 60_000);

/** Runs the bundle in a fresh realm with only `extra` added to its globals. */
async function runBundle(extra: Record<string, unknown>): Promise<Result> {
  const sandbox: Record<string, unknown> = { TextEncoder, TextDecoder, ...extra };
  const ctx = vm.createContext(sandbox);
  vm.runInContext(code, ctx, { filename: 'bundle.js' });
  // A plain JSON round trip: the result is made of the realm's own objects.
  return JSON.parse(JSON.stringify(await (sandbox.result as Promise<Result>))) as Result;
}

describe('the browser bundle', () => {
  it('reaches no node: module and does not touch engine flags', () => {
    const inputs = Object.keys(metafile.inputs);
    expect(inputs.filter((f) => f.startsWith('node:'))).toEqual([]);
    const imports = Object.values(metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
    expect(imports.filter((p) => p.startsWith('node:') || ['fs', 'path', 'crypto', 'os', 'v8', 'worker_threads'].includes(p))).toEqual([]);
    expect(inputs).toContain('src/platform/browser.ts');
    expect(inputs).not.toContain('src/platform/node.ts');
    expect(inputs).not.toContain('src/io/atomic.ts');
    expect(code).not.toMatch(/setFlagsFromString|experimental-wasm|require\(/);
    const wasm = Object.fromEntries(
      ['gemm.wasm', 'gemm-fma.wasm', 'gemm-mt.wasm', 'gemm-mt-fma.wasm', 'elementwise.wasm', 'elementwise-mt.wasm'].map((f) => [f, fs.statSync(path.join(root, 'build', f)).size]),
    );
    console.log(`browser bundle (minified, wasm inlined): ${code.length} B, gzip ${zlib.gzipSync(code, { level: 9 }).length} B; wasm: ${JSON.stringify(wasm)}`);
  });

  it('trains and round-trips a checkpoint in a bare realm, with the WebAssembly kernels', async () => {
    const r = await runBundle({});
    expect(r.wasm).toEqual({ gemm: true, elementwise: true, variant: r.variant });
    expect(['fma', 'simd']).toContain(r.variant);
    // Not cross-origin isolated (no crossOriginIsolated global): one thread, and it says so.
    expect(r.threads).toMatchObject({ requested: 1, available: false, active: false });
    expect(r.last).toBeLessThan(0.5 * r.first);
    expect(r.meta).toEqual({ steps: 40 });
    expect(r.same).toBe(true);
    expect(r.refused).toMatch(/^decodeCheckpoint: bytes is not a valid tapegrad-checkpoint\/1 file: checksum must be/);
  });

  it('falls back to the TypeScript loops where WebAssembly is missing', async () => {
    const r = await runBundle({ WebAssembly: undefined });
    expect(r.wasm).toEqual({ gemm: false, elementwise: false, variant: 'simd' });
    expect(r.last).toBeLessThan(0.5 * r.first);
    expect(r.same).toBe(true);
    expect(r.refused).toMatch(/checksum must be/);
  });
});
