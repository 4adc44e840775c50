/**
 * End to end in a real browser: builds the playground with scripts/playground.js, serves it
 * twice on free localhost ports (with COOP/COEP, and with --no-isolation's headers), and drives
 * Debian's headless Chromium through playwright-core. On the isolated page it trains the spiral
 * to at least 95% accuracy, checks that the decision regions were redrawn, that the tape of a
 * step lists the ops with shapes and gradient norms, that the console stayed free of errors,
 * and that the library runs its GEMM on 2 threads; the kernels' unit checks (checks.html) pass
 * there, the two-thread GEMM included. On the page that is not isolated the library reports
 * 1 thread. A screenshot goes to test-output/playground.png.
 *
 * Skipped, with a message, only when no Chromium binary is found and CI is not set; under CI a
 * missing browser fails.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Browser, Page } from 'playwright-core';

import { buildPlayground, servePlayground, type PlaygroundServer } from '../../scripts/playground';
import { findChromium, launchChromium } from './chromium';

const chromiumPath = findChromium();
const inCI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
const OUTPUT = path.resolve(__dirname, '../../test-output');

if (chromiumPath === undefined && !inCI) {
  console.warn(
    'test/browser/playground.test.ts SKIPPED: no Chromium found (looked at TAPEGRAD_CHROMIUM, /usr/bin/chromium-headless-shell, ' +
      '/usr/bin/chromium); install it with `apt-get install -y chromium-headless-shell`. Under CI=true this fails instead.',
  );
}
const describeBrowser = chromiumPath === undefined && !inCI ? describe.skip : describe;

/** What the playground page exposes on window.playground (examples/playground/main.ts). */
interface PageState {
  env: { crossOriginIsolated: boolean; gemmThreads: number; threadsAvailable: boolean; variant: string; entry: string; wasm: { gemm: boolean; elementwise: boolean } } | null;
  step: number;
  accuracy: number;
  frames: number;
  errors: string[];
  tape: { rows: { op: string; module: string; shape: number[]; inputs: string[]; gradNorm: number | null }[]; params: { name: string; gradNorm: number }[] } | null;
}

interface CheckResults {
  done: boolean;
  results: { name: string; pass: boolean; detail: string }[];
  env: Record<string, unknown>;
}

/** A canvas as the page's 2-D context sees it (the project's type-check has no DOM lib). */
interface CanvasLike {
  width: number;
  height: number;
  dataset: Record<string, string | undefined>;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
}

/** The page's globals these tests read, inside page.evaluate. */
interface BrowserGlobal {
  playground?: PageState;
  kernelChecks?: CheckResults;
  crossOriginIsolated: boolean;
  document: { getElementById(id: string): CanvasLike | null };
}

/** Console errors, uncaught page errors and failed requests of a page, its workers included. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('worker', (w) => w.on('console', (m) => {
    if (m.type() === 'error') errors.push(`worker console.error: ${m.text()}`);
  }));
  return errors;
}

/** A digest of the canvas's pixels, and how many distinct colours it has. */
async function canvasDigest(page: Page): Promise<{ hash: number; colours: number }> {
  return page.evaluate(() => {
    const c = (globalThis as unknown as BrowserGlobal).document.getElementById('regions')!;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let h = 2166136261;
    const colours = new Set<number>();
    for (let i = 0; i < d.length; i += 4) {
      const v = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
      colours.add(v);
      h = Math.imul(h ^ v, 16777619) >>> 0;
    }
    return { hash: h, colours: colours.size };
  });
}

describeBrowser('playground in headless Chromium', () => {
  let browser: Browser;
  let isolated: PlaygroundServer;
  let plain: PlaygroundServer;
  let outdir: string;

  beforeAll(async () => {
    if (chromiumPath === undefined) {
      throw new Error('CI is set but no Chromium was found: .ci/run installs chromium-headless-shell with apt-get');
    }
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapegrad-playground-'));
    const built = await buildPlayground({ outdir, quiet: true });
    expect(built.entry).toBe('src/browser.ts');
    isolated = await servePlayground({ root: outdir, port: 0, isolation: true });
    plain = await servePlayground({ root: outdir, port: 0, isolation: false });
    browser = await launchChromium(chromiumPath);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await isolated?.close();
    await plain?.close();
    if (outdir !== undefined) fs.rmSync(outdir, { recursive: true, force: true });
  });

  it('trains the spiral to >= 95% accuracy on a cross-origin-isolated page, with 2 GEMM threads and no console error', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors = watchErrors(page);
    await page.goto(isolated.url);
    await page.waitForFunction(() => {
      const s = (globalThis as unknown as BrowserGlobal).playground;
      return s !== undefined && s.env !== null && s.frames > 0;
    }, null, { timeout: 20_000 });
    expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobal).crossOriginIsolated)).toBe(true);
    const env = await page.evaluate(() => (globalThis as unknown as BrowserGlobal).playground!.env!);
    expect(env).toMatchObject({ crossOriginIsolated: true, gemmThreads: 2, threadsAvailable: true, entry: 'src/browser.ts' });
    expect(env.wasm).toEqual({ gemm: true, elementwise: true });
    expect(await page.getAttribute('#env', 'data-threads')).toBe('2');

    await page.click('#dataset button[data-value="spiral"]');
    await page.waitForFunction(() => (globalThis as unknown as BrowserGlobal).playground!.frames > 0);
    const before = await canvasDigest(page);
    const t0 = Date.now();
    await page.click('#play');
    await page.waitForFunction(
      () => Number((globalThis as unknown as BrowserGlobal).document.getElementById('regions')!.dataset.accuracy) >= 0.95,
      null, { timeout: 60_000, polling: 100 },
    );
    const trainMs = Date.now() - t0;
    await page.click('#play'); // pause
    const state = await page.evaluate(() => (globalThis as unknown as BrowserGlobal).playground!);
    expect(state.accuracy).toBeGreaterThanOrEqual(0.95);
    await page.waitForTimeout(200); // the last frame is drawn on the next animation frame
    const after = await canvasDigest(page);
    expect(after.hash).not.toBe(before.hash);
    expect(after.colours).toBeGreaterThan(50); // regions in three blended colours, not a blank canvas

    // The tape of one step: the ops in order, with shapes and the gradients flowing back.
    await page.click('#inspect');
    await page.waitForFunction(() => (globalThis as unknown as BrowserGlobal).playground!.tape !== null);
    const tape = (await page.evaluate(() => (globalThis as unknown as BrowserGlobal).playground!.tape))!;
    expect(tape.rows.map((r) => r.op)).toEqual(['affine', 'relu', 'affine', 'relu', 'affine', 'softmaxCrossEntropy']);
    expect(tape.rows.map((r) => r.module)).toEqual(['0:Affine', '1:ReLU', '2:Affine', '3:ReLU', '4:Affine', 'loss']);
    expect(tape.rows[0].inputs).toEqual(['input', '0.weight', '0.bias']);
    expect(tape.rows[0].shape).toEqual([32, 32]);
    expect(tape.rows[4].shape).toEqual([32, 3]);
    expect(tape.rows[5].shape).toEqual([]);
    for (const r of tape.rows) expect(r.gradNorm).toBeGreaterThan(0);
    expect(tape.params.map((p) => p.name)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias', '4.weight', '4.bias']);
    for (const p of tape.params) expect(Number.isFinite(p.gradNorm)).toBe(true);
    expect(await page.locator('#tape tbody tr').count()).toBe(6);

    fs.mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: path.join(OUTPUT, 'playground.png') });
    expect(state.errors).toEqual([]);
    expect(errors).toEqual([]);
    console.log(`playground: spiral at ${(state.accuracy * 100).toFixed(1)}% after ${state.step} steps, ${trainMs} ms`);
    await page.close();
  }, 90_000);

  it('passes the kernels\' unit checks in the browser, the two-thread GEMM included', async () => {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(`${isolated.url}checks.html`);
    await page.waitForFunction(() => (globalThis as unknown as BrowserGlobal).kernelChecks?.done === true, null, { timeout: 30_000 });
    const checks = await page.evaluate(() => (globalThis as unknown as BrowserGlobal).kernelChecks!);
    const failed = checks.results.filter((r) => !r.pass);
    expect(failed).toEqual([]);
    const names = checks.results.map((r) => r.name).join('\n');
    expect(names).toMatch(/gemm \(WebAssembly\) float32/);
    expect(names).toMatch(/batchnorm \(WebAssembly\)/);
    expect(names).toMatch(/batchnorm \(TypeScript\)/);
    expect(names).toMatch(/softmaxLoss/);
    expect(names).toMatch(/two-thread GEMM is up and bit-identical/);
    expect(checks.results.length).toBeGreaterThanOrEqual(12);
    expect(checks.env).toMatchObject({ crossOriginIsolated: true, gemmThreads: 2, threadsAvailable: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  it('runs on one GEMM thread when the page is not cross-origin isolated (--no-isolation)', async () => {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(plain.url);
    await page.waitForFunction(() => (globalThis as unknown as BrowserGlobal).playground?.env != null, null, { timeout: 20_000 });
    expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobal).crossOriginIsolated)).toBe(false);
    const env = await page.evaluate(() => (globalThis as unknown as BrowserGlobal).playground!.env!);
    expect(env).toMatchObject({ crossOriginIsolated: false, gemmThreads: 1, threadsAvailable: false });
    expect(env.wasm).toEqual({ gemm: true, elementwise: true });
    await page.goto(`${plain.url}checks.html`);
    await page.waitForFunction(() => (globalThis as unknown as BrowserGlobal).kernelChecks?.done === true, null, { timeout: 30_000 });
    const checks = await page.evaluate(() => (globalThis as unknown as BrowserGlobal).kernelChecks!);
    expect(checks.results.filter((r) => !r.pass)).toEqual([]);
    expect(checks.results.map((r) => r.name)).toContain('not isolated: GEMM runs on one thread');
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
