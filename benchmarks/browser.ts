/**
 * Bundle facts and browser step times, for the README:
 * - the size of the browser bundle (esbuild, minified, then gzip): all of the browser entry,
 *   and a training loop that imports only Tensor, nn and optim;
 * - the size of each build/*.wasm (raw and gzip; the browser bundle inlines them as base64);
 * - the W2 and W4 training steps (float32, see examples/playground/checks/workload.ts) in
 *   headless Chromium (in a module worker, on a cross-origin-isolated page and on one that is
 *   not) against Node.js on the same machine, the same code, rounds interleaved so that all
 *   see the same load. Medians of per-sample times.
 *
 * ```sh
 * npx ts-node --transpile-only benchmarks/browser.ts [--rounds 8] [--json out.json]
 * ```
 *
 * @module
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as zlib from 'node:zlib';

import * as esbuild from 'esbuild';

import * as tg from '../src';
import { makeStep, timeSteps, type WorkloadApi, type WorkloadId } from '../examples/playground/checks/workload';
import { buildPlayground, servePlayground } from '../scripts/playground';
import { findChromium, launchChromium } from '../test/browser/chromium';

const ROOT = path.resolve(__dirname, '..');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
const gz = (b: Uint8Array): number => zlib.gzipSync(b, { level: 9 }).length;

async function bundleSize(contents: string): Promise<{ min: number; gzip: number }> {
  const r = await esbuild.build({
    stdin: { contents, resolveDir: ROOT, loader: 'ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    write: false,
    logLevel: 'silent',
    plugins: [{ name: 'tapegrad', setup: (b) => b.onResolve({ filter: /^tapegrad$/ }, () => ({ path: path.join(ROOT, 'src', 'browser.ts') })) }],
  });
  const bytes = r.outputFiles[0].contents;
  return { min: bytes.length, gzip: gz(bytes) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, json: { type: 'string' } } });
  const rounds = Number(values.rounds ?? 8);

  // ---- sizes ----
  const all = await bundleSize("export * from 'tapegrad';");
  const loop = await bundleSize(`
    import { Tensor, nn, optim } from 'tapegrad';
    const model = new nn.Sequential(new nn.Affine(2, 64), new nn.ReLU(), new nn.Affine(64, 3));
    const opt = new optim.Adam(model.parameters(), { lr: 0.01 });
    const x = Tensor.randn([64, 2]);
    opt.zeroGrad(); nn.softmaxCrossEntropy(model.forward(x), new Int32Array(64)).backward(); opt.step();`);
  console.log(`browser bundle, all of src/browser.ts: ${kib(all.min)} minified, ${kib(all.gzip)} gzip`);
  console.log(`browser bundle, a training loop (Tensor, nn, optim): ${kib(loop.min)} minified, ${kib(loop.gzip)} gzip`);
  const wasm: Record<string, { raw: number; gzip: number }> = {};
  for (const f of fs.readdirSync(path.join(ROOT, 'build')).filter((f) => f.endsWith('.wasm')).sort()) {
    const b = fs.readFileSync(path.join(ROOT, 'build', f));
    wasm[f] = { raw: b.length, gzip: gz(b) };
    console.log(`build/${f}: ${b.length} bytes, ${gz(b)} gzip`);
  }

  // ---- step times ----
  const chromiumPath = findChromium();
  if (chromiumPath === undefined) throw new Error('no Chromium found: apt-get install -y chromium-headless-shell');
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapegrad-bench-'));
  await buildPlayground({ outdir, quiet: true });
  const iso = await servePlayground({ root: outdir, port: 0, isolation: true });
  const plain = await servePlayground({ root: outdir, port: 0, isolation: false });
  const browser = await launchChromium(chromiumPath);
  type Bench = { prepare(id: WorkloadId): Promise<unknown>; run(id: WorkloadId, samples: number): Promise<number[]> };
  const pages: Record<string, import('playwright-core').Page> = {};
  for (const [name, srv] of [['chromium (isolated)', iso], ['chromium (not isolated)', plain]] as const) {
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') console.error(`${name}: ${m.text()}`);
    });
    await page.goto(`${srv.url}bench.html`);
    await page.waitForFunction(() => (globalThis as unknown as { bench?: Bench }).bench !== undefined);
    pages[name] = page;
  }
  const ids: WorkloadId[] = ['W2', 'W4'];
  const samples: Record<WorkloadId, number> = { W2: 10, W4: 20 };
  const nodeSteps = new Map(ids.map((id) => [id, makeStep(tg as unknown as WorkloadApi, id)]));
  if (tg.kernels.gemmThreads().requested === 2) await tg.kernels.gemmThreadsReady?.(10_000);
  const env: Record<string, unknown> = { node: process.version, nodeThreads: tg.kernels.gemmThreads().requested, variant: tg.kernels.gemmVariant() };
  for (const [name, page] of Object.entries(pages)) {
    for (const id of ids) {
      env[`${name} ${id}`] = await page.evaluate(async (w) => (globalThis as unknown as { bench: Bench }).bench.prepare(w), id);
    }
  }
  const times: Record<string, number[]> = {};
  const record = (key: string, xs: number[]): void => {
    (times[key] ??= []).push(...xs);
  };
  // Warm-up: one round, not recorded.
  for (let r = 0; r <= rounds; r++) {
    for (const id of ids) {
      const n = r === 0 ? 3 : samples[id];
      const nodeT = timeSteps(nodeSteps.get(id)!, id, n, () => performance.now());
      if (r > 0) record(`node ${id}`, nodeT);
      for (const [name, page] of Object.entries(pages)) {
        const t = await page.evaluate(async ([w, k]) => (globalThis as unknown as { bench: Bench }).bench.run(w, k), [id, n] as const);
        if (r > 0) record(`${name} ${id}`, t);
      }
    }
    if (r > 0) process.stdout.write(`round ${r}/${rounds}\r`);
  }
  // Thread statistics after the runs: how many GEMMs were split between two threads.
  for (const [name, page] of Object.entries(pages)) {
    const after = (await page.evaluate(async () => (globalThis as unknown as { bench: Bench }).bench.prepare('W2'))) as { threads: unknown };
    env[`${name} threads after`] = after.threads;
  }
  env['node threads after'] = tg.kernels.gemmThreads();
  await browser.close();
  await iso.close();
  await plain.close();
  fs.rmSync(outdir, { recursive: true, force: true });

  console.log(`\nW2/W4 step times, medians over ${rounds} interleaved rounds (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}):`);
  const result: Record<string, { medianMs: number; samples: number }> = {};
  for (const id of ids) {
    const nodeMed = median(times[`node ${id}`]);
    for (const key of [`node ${id}`, ...Object.keys(pages).map((p) => `${p} ${id}`)]) {
      const med = median(times[key]);
      result[key] = { medianMs: med, samples: times[key].length };
      const shown = id === 'W4' ? `${(med * 1000).toFixed(0)} µs` : `${med.toFixed(1)} ms`;
      console.log(`  ${key.padEnd(30)} ${shown.padStart(9)}  (${(med / nodeMed).toFixed(2)}x Node, ${times[key].length} samples)`);
    }
  }
  console.log(JSON.stringify(env));
  if (values.json !== undefined) {
    fs.writeFileSync(values.json, JSON.stringify({ bundle: { all, loop }, wasm, steps: result, env }, null, 2));
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
