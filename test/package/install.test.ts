/**
 * tapegrad as a user gets it. Copies this checkout's files (what git tracks or would track: no
 * dist/, no build/) to a temporary directory, runs `npm pack` there (its `prepare` must build
 * the wasm and dist/ by itself), installs the tarball into a fresh temporary project, and there
 * runs a CommonJS script and an ES module (which must load the ES module build, dist/esm) that
 * train a tiny model and use `tapegrad/testing`, a stack trace under --enable-source-maps,
 * strict TypeScript compiles of a user file under `"module": "commonjs"` and `"module":
 * "nodenext"`, and an esbuild bundle for the browser that must reach no `node:` module and run
 * in a bare realm. Everything is deleted afterwards.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { build as esbuild } from 'esbuild';

const root = path.resolve(__dirname, '..', '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const fastCheckVersion = (JSON.parse(fs.readFileSync(path.join(root, 'node_modules', 'fast-check', 'package.json'), 'utf8')) as { version: string }).version;

/**
 * The environment for child processes, without what an enclosing `npm test` adds about itself
 * and its package (npm_lifecycle_*, npm_package_*, the prefixes pointing at this checkout):
 * the npm commands below must act on their own directories. User configuration (registry,
 * cache, proxy: npm_config_*) stays.
 */
const NPM_RUN_VARS = /^(npm_lifecycle_|npm_package_|npm_command$|npm_execpath$|npm_node_execpath$|npm_config_(local_|global_)?prefix$|INIT_CWD$)/;
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !NPM_RUN_VARS.test(k)));

/** Runs a command; throws with its output unless it exits 0 (or `allowFail`). */
function run(cmd: string, args: string[], cwd: string, allowFail = false): { status: number; out: string } {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  const out = `${r.stdout}${r.stderr}`;
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}:\n${out}`);
  return { status: r.status ?? -1, out };
}

/** Top-level paths never copied: installed or built output, and the git directory. */
const NOT_SOURCE = new Set(['node_modules', 'dist', 'build', '.git', 'coverage', 'runs', '.tmp']);
const isSource = (rel: string): boolean => !NOT_SOURCE.has(rel.split('/')[0]) && !rel.startsWith('docs/api/');

/** The checkout's source files, relative: git's view (tracked plus untracked, not ignored). */
function sourceFiles(): string[] {
  const r = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  let files: string[];
  if (r.status === 0) {
    files = r.stdout.split('\0').filter((f) => f !== '');
  } else {
    // No git (an exported tree): walk it.
    files = [];
    const walk = (rel: string): void => {
      for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
        const p = rel === '' ? e.name : `${rel}/${e.name}`;
        if (!isSource(p)) continue;
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) files.push(p);
      }
    };
    walk('');
  }
  return files.filter((f) => isSource(f) && fs.lstatSync(path.join(root, f), { throwIfNoEntry: false })?.isFile() === true);
}

/** Every file under dir, relative, with '/' separators. */
function listFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...listFiles(dir, p));
    else out.push(p);
  }
  return out;
}

interface TscError { file: string; code: string; message: string }

/** Compiles a temp-project tsconfig with the repo's tsc; the errors it reports. */
function compile(project: string, tsconfig: string): TscError[] {
  const { out } = run(process.execPath, [tsc, '-p', tsconfig, '--pretty', 'false'], project, true);
  const errors: TscError[] = [];
  for (const line of out.split('\n')) {
    const m = /^(.+?)\(\d+,\d+\): error (TS\d+): (.*)$/.exec(line);
    if (m) errors.push({ file: m[1].replace(/\\/g, '/'), code: m[2], message: m[3] });
  }
  if (errors.length === 0 && /error TS/.test(out)) throw new Error(`unparsed tsc output:\n${out}`);
  return errors;
}

const INTERNALS = ['_node', '_gradBuf', '_mark', '_freed', '_graphOnly'];

/** A user's CommonJS script: trains a small MLP, checks gradients, property-tests with fast-check. */
const CJS_SCRIPT = `'use strict';
const path = require('node:path');
const fc = require('fast-check');
const { manualSeed, nn, optim, Tensor, kernels, TapegradError } = require('tapegrad');
const { checkModuleGradients, tensorArb } = require('tapegrad/testing');

// The wasm modules are found from the installed dist/ (modules' own state, not public API).
const pkg = path.dirname(require.resolve('tapegrad/package.json'));
const wasm = require(path.join(pkg, 'dist/kernels/wasm/index.js')).wasmAvailable();
const simd = require(path.join(pkg, 'dist/kernels/simd/index.js')).simdAvailable();
kernels.setGemmBackend('wasm');

manualSeed(0);
const x = Tensor.randn([64, 2]);
const y = Int32Array.from({ length: 64 }, (_, i) => (x.data[2 * i] * x.data[2 * i + 1] > 0 ? 1 : 0));
const model = new nn.Sequential(new nn.Affine(2, 16), new nn.BatchNorm1d(16), new nn.ReLU(), new nn.Affine(16, 2));
const opt = new optim.Adam(model.parameters(), { lr: 0.05 });
const losses = [];
for (let step = 0; step < 30; step++) {
  opt.zeroGrad();
  const loss = nn.softmaxCrossEntropy(model.forward(x), y);
  loss.backward();
  opt.step();
  losses.push(loss.item());
}
const check = checkModuleGradients(new nn.Sequential(new nn.Affine(3, 4)), { inputShape: [3], numRuns: 5 });
fc.assert(fc.property(tensorArb([2, 3]), (t) => t.shape[1] === 3 && t.requiresGrad), { seed: 42, numRuns: 20 });
let shapeError = false;
try { Tensor.zeros([2, 3]).matmul(Tensor.zeros([2, 3])); } catch (e) { shapeError = e instanceof TapegradError; }
console.log(JSON.stringify({ first: losses[0], last: losses[losses.length - 1], wasm, simd, checked: check.numRuns, shapeError }));
`;

/** A user's ES module: named imports from the ES module build, the same training. */
const ESM_SCRIPT = `import { createRequire } from 'node:module';
import fc from 'fast-check';
import * as tapegrad from 'tapegrad';
import * as testing from 'tapegrad/testing';
import { manualSeed, nn, optim, Tensor } from 'tapegrad';
import { checkModuleGradients, tensorArb } from 'tapegrad/testing';

// The ES module build exports the same names as the CommonJS build, and tapegrad and
// tapegrad/testing share one Tensor class.
const require = createRequire(import.meta.url);
const missing = [];
for (const [spec, ns] of [['tapegrad', tapegrad], ['tapegrad/testing', testing]]) {
  const cjs = Object.keys(require(spec)).filter((k) => k !== '__esModule').sort();
  const esm = Object.keys(ns).sort();
  if (JSON.stringify(cjs) !== JSON.stringify(esm)) missing.push(spec + ': ' + cjs.filter((k) => !esm.includes(k)).concat(esm.filter((k) => !cjs.includes(k))).join(','));
}
const resolved = [import.meta.resolve('tapegrad'), import.meta.resolve('tapegrad/testing'), require.resolve('tapegrad')];
let sharedTensor = false;
fc.assert(fc.property(tensorArb([2]), (t) => { sharedTensor = t instanceof Tensor; return true; }), { seed: 1, numRuns: 1 });

manualSeed(1);
const x = Tensor.randn([48, 3]);
const y = Int32Array.from({ length: 48 }, (_, i) => (x.data[3 * i] + x.data[3 * i + 2] > 0 ? 1 : 0));
const model = new nn.Sequential(new nn.Affine(3, 8), new nn.ReLU(), new nn.Affine(8, 2));
const opt = new optim.SGD(model.parameters(), { lr: 0.3, momentum: 0.9 });
const losses = [];
for (let step = 0; step < 30; step++) {
  opt.zeroGrad();
  const loss = nn.softmaxCrossEntropy(model.forward(x), y);
  loss.backward();
  opt.step();
  losses.push(loss.item());
}
const check = checkModuleGradients(new nn.Sequential(new nn.Affine(2, 3)), { inputShape: [2], numRuns: 5 });
fc.assert(fc.property(tensorArb([4]), (t) => t.size === 4), { seed: 42, numRuns: 20 });
console.log(JSON.stringify({ first: losses[0], last: losses.at(-1), missing, names: Object.keys(tapegrad).length, checked: check.numRuns, resolved, sharedTensor }));
`;

/** A page's script, bundled for the browser from the installed package. */
const BROWSER_SCRIPT = `import { Tensor, nn, optim, encodeCheckpoint, decodeCheckpoint, kernels } from 'tapegrad';
globalThis.result = (async () => {
  const wasm = await kernels.loadWasm();
  const x = Tensor.randn([32, 2]);
  const y = Int32Array.from({ length: 32 }, (_, i) => (x.data[2 * i] > 0 ? 1 : 0));
  const model = new nn.Sequential(new nn.Affine(2, 8), new nn.ReLU(), new nn.Affine(8, 2));
  const opt = new optim.SGD(model.parameters(), { lr: 0.5 });
  const losses = [];
  for (let i = 0; i < 20; i++) {
    opt.zeroGrad();
    const loss = nn.softmaxCrossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    losses.push(loss.item());
  }
  const other = new nn.Sequential(new nn.Affine(2, 8), new nn.ReLU(), new nn.Affine(8, 2));
  const meta = decodeCheckpoint(encodeCheckpoint({ model, meta: { ok: true } }), { model: other });
  return JSON.stringify({ wasm, first: losses[0], last: losses.at(-1), meta });
})();
`;

/** Throws a ShapeError from inside the library, prints the stack. */
const TRACE_SCRIPT = `const { Tensor } = require('tapegrad');
try { Tensor.zeros([1, 2]).matmul(Tensor.zeros([1, 3])); } catch (e) { console.log(e.stack); }
`;

/** A user's TypeScript: the public API, typed, from both entry points. */
const USER_TS = `import { manualSeed, nn, optim, Tensor, tensor, gradcheck, TapegradError, type Shape, type DType } from 'tapegrad';
import { checkModuleGradients, tensorArb, type CheckModuleResult, type CheckModuleOptions } from 'tapegrad/testing';

manualSeed(0);
const shape: Shape = [4, 2];
const dtype: DType = 'float64';
const x: Tensor = Tensor.randn(shape, { dtype });
const model = new nn.Sequential(new nn.Affine(2, 3), new nn.ReLU(), new nn.Affine(3, 2));
const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
const loss: Tensor = nn.softmaxCrossEntropy(model.forward(x), Int32Array.of(0, 1, 0, 1));
loss.backward();
opt.step();
gradcheck((a: Tensor) => a.mul(a).sum(), [tensor([1, 2], { requiresGrad: true })]);
const opts: CheckModuleOptions = { inputShape: [2], numRuns: 3 };
export const result: CheckModuleResult = checkModuleGradients(model.eval(), opts);
export const isTapegradError = (e: unknown): boolean => e instanceof TapegradError;
export const arb = tensorArb([2, 2]);
export const value: number = loss.item();
`;

/** Reaches for the tape's internals: each line must be a compile error. */
const INTERNALS_TS = `import { Tensor } from 'tapegrad';
const t = Tensor.zeros([2], { requiresGrad: true });
${INTERNALS.map((name) => `export const ${name.slice(1)} = t.${name};`).join('\n')}
`;

describe('the npm package, installed into a fresh project', () => {
  let tmp = '';
  let project = '';
  let installed = '';
  const timings: Record<string, number> = {};
  const timed = <T>(label: string, fn: () => T): T => {
    const t0 = Date.now();
    try {
      return fn();
    } finally {
      timings[label] = (Date.now() - t0) / 1000;
    }
  };

  beforeAll(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'tapegrad-pack-')));
    const clone = path.join(tmp, 'clone');
    // A checkout without dist/ or build/, sharing this one's node_modules (the devDependencies
    // that `prepare` needs, as `npm ci` would install them).
    timed('copy', () => {
      for (const f of sourceFiles()) {
        fs.mkdirSync(path.dirname(path.join(clone, f)), { recursive: true });
        fs.copyFileSync(path.join(root, f), path.join(clone, f));
      }
      fs.symlinkSync(fs.realpathSync(path.join(root, 'node_modules')), path.join(clone, 'node_modules'), 'dir');
    });
    expect(fs.existsSync(path.join(clone, 'dist'))).toBe(false);
    expect(fs.existsSync(path.join(clone, 'build'))).toBe(false);
    timed('npm pack', () => run('npm', ['pack', '--pack-destination', tmp], clone));
    const tarballs = fs.readdirSync(tmp).filter((f) => f.endsWith('.tgz'));
    expect(tarballs).toHaveLength(1);

    project = path.join(tmp, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', private: true }, null, 2));
    timed('npm install', () => run('npm', ['install', path.join(tmp, tarballs[0]), `fast-check@${fastCheckVersion}`, '--no-audit', '--no-fund', '--prefer-offline'], project));
    installed = path.join(project, 'node_modules', 'tapegrad');
    fs.writeFileSync(path.join(project, 'train.cjs'), CJS_SCRIPT);
    fs.writeFileSync(path.join(project, 'train.mjs'), ESM_SCRIPT);
    fs.writeFileSync(path.join(project, 'trace.cjs'), TRACE_SCRIPT);
    fs.writeFileSync(path.join(project, 'page.js'), BROWSER_SCRIPT);
    fs.writeFileSync(path.join(project, 'user.ts'), USER_TS);
    fs.writeFileSync(path.join(project, 'user.mts'), USER_TS);
    fs.writeFileSync(path.join(project, 'internals.ts'), INTERNALS_TS);
  }, 150_000);

  afterAll(() => {
    if (tmp !== '') {
      const link = path.join(tmp, 'clone', 'node_modules');
      if (fs.lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink()) fs.unlinkSync(link);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    console.log(`package test timings (s): ${JSON.stringify(timings)}`);
  });

  it('ships the compiled JavaScript, the declarations, the wasm and the sources the maps name', () => {
    const files = new Set(listFiles(installed));
    for (const f of [
      'package.json', 'README.md',
      'dist/index.js', 'dist/index.d.ts', 'dist/testing/index.js', 'dist/testing/index.d.ts', 'dist/browser.d.ts',
      'dist/esm/package.json', 'dist/esm/index.js', 'dist/esm/browser.js', 'dist/esm/testing/index.js',
      'build/gemm.wasm', 'build/gemm-mt.wasm', 'build/gemm-fma.wasm', 'build/gemm-mt-fma.wasm', 'build/elementwise.wasm',
      'src/index.ts', 'src/tensor.ts',
    ]) {
      expect([f, files.has(f)]).toEqual([f, true]);
    }
    // Nothing but the package: no tests, benchmarks, scripts or installed modules.
    expect([...files].filter((f) => !/^(dist|src|build)\//.test(f) && !['package.json', 'README.md', 'LICENSE'].includes(f))).toEqual([]);
    // Every source map names files that are in the package.
    const maps = [...files].filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(50);
    const unshipped: string[] = [];
    for (const m of maps) {
      const map = JSON.parse(fs.readFileSync(path.join(installed, m), 'utf8')) as { sources: string[]; sourceRoot?: string };
      for (const s of map.sources) {
        const p = path.resolve(path.dirname(path.join(installed, m)), map.sourceRoot ?? '', s);
        if (!fs.existsSync(p)) unshipped.push(`${m}: ${s}`);
      }
    }
    expect(unshipped).toEqual([]);
  });

  it('keeps the tape internals out of the published declarations', () => {
    const dts = fs.readFileSync(path.join(installed, 'dist', 'tensor.d.ts'), 'utf8');
    expect(dts).toMatch(/export declare class Tensor/);
    for (const name of INTERNALS) expect([name, dts.includes(name)]).toEqual([name, false]);
    const tagged = listFiles(installed).filter((f) => f.endsWith('.d.ts') && fs.readFileSync(path.join(installed, f), 'utf8').includes('@internal'));
    expect(tagged).toEqual([]);
  });

  it('trains from a CommonJS script, with the wasm kernels and tapegrad/testing', () => {
    const { out } = run(process.execPath, ['train.cjs'], project);
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as { first: number; last: number; wasm: boolean; simd: boolean; checked: number; shapeError: boolean };
    expect(r.last).toBeLessThan(0.5 * r.first);
    expect(r.wasm).toBe(true);
    expect(r.simd).toBe(true);
    expect(r.checked).toBe(5);
    expect(r.shapeError).toBe(true);
  });

  it('trains from an ES module importing named exports of the ES module build', () => {
    const { out } = run(process.execPath, ['train.mjs'], project);
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as {
      first: number; last: number; missing: string[]; names: number; checked: number; resolved: string[]; sharedTensor: boolean;
    };
    expect(r.resolved.map((u) => path.relative(installed, u.startsWith('file:') ? new URL(u).pathname : u))).toEqual([
      'dist/esm/index.js', 'dist/esm/testing/index.js', 'dist/index.js',
    ]);
    expect(r.sharedTensor).toBe(true);
    expect(r.missing).toEqual([]);
    expect(r.names).toBeGreaterThan(30);
    expect(r.last).toBeLessThan(0.5 * r.first);
    expect(r.checked).toBe(5);
  });

  it('bundles for the browser (the browser condition, no node: module) and runs in a bare realm', async () => {
    const r = await esbuild({
      absWorkingDir: project, entryPoints: ['page.js'], bundle: true, write: false, platform: 'browser', format: 'iife',
      minify: true, metafile: true, logLevel: 'silent',
    });
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs).toContain('node_modules/tapegrad/dist/esm/browser.js');
    expect(inputs.filter((f) => f.startsWith('node:') || f.includes('dist/index.js') || f.includes('/node.'))).toEqual([]);
    const imports = Object.values(r.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
    expect(imports.filter((p) => p.startsWith('node:'))).toEqual([]);
    const sandbox: Record<string, unknown> = { TextEncoder, TextDecoder };
    vm.runInContext(r.outputFiles[0].text, vm.createContext(sandbox));
    const res = JSON.parse(await (sandbox.result as Promise<string>)) as { wasm: { gemm: boolean; elementwise: boolean }; first: number; last: number; meta: unknown };
    expect(res.wasm).toMatchObject({ gemm: true, elementwise: true });
    expect(res.last).toBeLessThan(0.5 * res.first);
    expect(res.meta).toEqual({ ok: true });
  });

  it('gives stack traces under --enable-source-maps that name shipped TypeScript files', () => {
    const { out } = run(process.execPath, ['--enable-source-maps', 'trace.cjs'], project);
    expect(out).toMatch(/^ShapeError: matmul:/);
    const frames = [...out.matchAll(/\((\/[^)]*?):\d+:\d+\)/g)].map((m) => m[1]).filter((f) => f.startsWith(installed));
    expect(frames.length).toBeGreaterThan(0);
    for (const f of frames) {
      expect([f, f.endsWith('.ts'), fs.existsSync(f)]).toEqual([f, true, true]);
    }
  });

  describe.each([
    ['commonjs', { module: 'commonjs' }, ['user.ts', 'internals.ts']],
    ['nodenext', { module: 'nodenext' }, ['user.ts', 'user.mts', 'internals.ts']],
    ['esnext", "moduleResolution": "bundler', { module: 'esnext', moduleResolution: 'bundler' }, ['user.ts', 'internals.ts']],
  ])('strict TypeScript, "module": "%s"', (name, moduleOptions, files) => {
    it('type-checks a user file against the declarations (skipLibCheck off) and hides the internals', () => {
      const tsconfig = `tsconfig.${name.replace(/\W+/g, '-')}.json`;
      fs.writeFileSync(path.join(project, tsconfig), JSON.stringify({
        compilerOptions: { strict: true, ...moduleOptions, target: 'ES2022', skipLibCheck: false, noEmit: true, types: [] },
        files,
      }, null, 2));
      const errors = compile(project, tsconfig);
      // Each reach for an internal is an error in internals.ts, and the only one there.
      const inInternals = errors.filter((e) => e.file === 'internals.ts');
      expect(inInternals.map((e) => e.code)).toEqual(INTERNALS.map(() => 'TS2339'));
      INTERNALS.forEach((n, i) => expect(inInternals[i].message).toContain(`'${n}' does not exist on type 'Tensor'`));
      // Under moduleResolution node10, fast-check's own declarations cannot resolve their
      // imports of pure-rand subpaths (pure-rand 8 has exports but no typesVersions): that
      // is fast-check's, and happens without tapegrad. Nothing else may fail.
      const rest = errors.filter((e) => e.file !== 'internals.ts' && !(name === 'commonjs' && e.file.startsWith('node_modules/fast-check/')));
      expect(rest).toEqual([]);
    });
  });
});
