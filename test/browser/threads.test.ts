/**
 * The GEMM's second thread as a browser runs it: the browser bundle in a fresh realm whose
 * `Worker`, `Blob` and `URL.createObjectURL` are the browser's APIs re-created on Node's
 * worker_threads (the worker evaluates the Blob's text with a `self` that has onmessage,
 * postMessage and close, as a dedicated worker's global does). On a cross-origin-isolated page
 * large GEMMs then run on two threads, bit-identical to one; the page's main thread (a
 * `document` exists) never blocks in Atomics.wait; without isolation threads stay off and
 * `gemmThreads().available` says so.
 */
import * as path from 'node:path';
import * as vm from 'node:vm';
import { Worker as NodeWorker } from 'node:worker_threads';
import { build } from 'esbuild';

const root = path.resolve(__dirname, '..', '..');

const PAGE = `
import { Tensor, nn, kernels, manualSeed } from 'tapegrad';
globalThis.result = (async () => {
  await kernels.loadWasm();
  const threads0 = kernels.gemmThreads();
  kernels.setGemmThreads(2, 0);
  const up = await kernels.gemmThreadsReady(10000);
  manualSeed(3);
  const x = Tensor.randn([256, 128], { dtype: 'float32' });
  const layer = new nn.Affine(128, 192, { dtype: 'float32' });
  const two = Array.from(layer.forward(x).data);
  const s = kernels.gemmThreads();
  kernels.setGemmThreads(1);
  const one = Array.from(layer.forward(x).data);
  return { threads0, up, s, same: two.every((v, i) => v === one[i]) };
})();
`;

const started: NodeWorker[] = [];
afterAll(async () => {
  await Promise.all(started.map((w) => w.terminate()));
});

/** Browser worker APIs on worker_threads: the Blob's text runs with a dedicated worker's `self`. */
function browserWorkerApis(): Record<string, unknown> {
  const blobs = new Map<string, string>();
  let next = 0;
  class Blob {
    constructor(readonly parts: string[], readonly opts: { type: string }) {}
  }
  const URL = {
    createObjectURL: (b: Blob) => {
      const url = `blob:test/${next++}`;
      blobs.set(url, b.parts.join(''));
      return url;
    },
    revokeObjectURL: (url: string) => void blobs.delete(url),
  };
  const PRELUDE = `const { parentPort } = require('node:worker_threads');
const self = globalThis.self = { onmessage: null, postMessage: (m) => parentPort.postMessage(m), close: () => parentPort.close() };
parentPort.on('message', (data) => self.onmessage && self.onmessage({ data }));
`;
  class Worker {
    onerror: ((e: unknown) => void) | null = null;
    onmessage: ((e: { data: unknown }) => void) | null = null;
    private w: NodeWorker;
    constructor(url: string) {
      const src = blobs.get(url);
      if (src === undefined) throw new Error(`no blob ${url}`);
      this.w = new NodeWorker(PRELUDE + src, { eval: true, execArgv: [] });
      this.w.unref();
      started.push(this.w);
      this.w.on('error', (e) => this.onerror?.(e));
      this.w.on('message', (data) => this.onmessage?.({ data }));
    }
    postMessage(m: unknown): void {
      this.w.postMessage(m);
    }
    terminate(): void {
      void this.w.terminate();
    }
  }
  return { Blob, URL, Worker };
}

let code = '';
beforeAll(async () => {
  const r = await build({
    stdin: { contents: PAGE, resolveDir: root, loader: 'js' },
    bundle: true, write: false, platform: 'browser', format: 'iife', alias: { tapegrad: './src/browser.ts' }, logLevel: 'silent',
  });
  code = r.outputFiles[0].text;
}, 60_000);

interface Out {
  threads0: { requested: number; available: boolean };
  up: boolean;
  s: { requested: number; active: boolean; splitCalls: number; workerChunks: number };
  same: boolean;
}

async function page(globals: Record<string, unknown>): Promise<Out> {
  const sandbox: Record<string, unknown> = {
    TextEncoder, TextDecoder, setTimeout, clearTimeout, performance, navigator: { hardwareConcurrency: 2 }, document: {}, ...globals,
  };
  vm.runInContext(code, vm.createContext(sandbox));
  return JSON.parse(JSON.stringify(await (sandbox.result as Promise<Out>))) as Out;
}

describe('threads in the browser bundle', () => {
  it('a cross-origin-isolated page: two threads through a Web Worker, bit-identical to one', async () => {
    const r = await page({ crossOriginIsolated: true, ...browserWorkerApis() });
    expect(r.threads0).toMatchObject({ requested: 2, available: true });
    expect(r.up).toBe(true);
    expect(r.s).toMatchObject({ requested: 2, active: true });
    expect(r.s.splitCalls).toBeGreaterThan(0);
    expect(r.same).toBe(true);
    expect(started.length).toBe(1);
  }, 30_000);

  it('a page that is not isolated: one thread, reported as unavailable', async () => {
    const r = await page({ crossOriginIsolated: false, ...browserWorkerApis() });
    expect(r.threads0).toMatchObject({ requested: 1, available: false });
    expect(r.up).toBe(false);
    expect(r.s).toMatchObject({ requested: 2, active: false, splitCalls: 0 });
    expect(r.same).toBe(true);
  }, 30_000);
});
