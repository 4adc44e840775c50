import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { compareUint8Arrays } from 'typed-array-utils';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import * as tapegrad from '../../src';
import { CheckpointError } from '../../src/errors';
import { cleanStaleTemps, readFileChecked, writeFileAtomic } from '../../src/io/atomic';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors';

const REPO = resolve(__dirname, '..', '..');
const TEMP_NAME = /^\..*\.\d+\.[0-9a-f]{12}\.tmp$/;

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'tapegrad-io-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

function freshDir(name: string): string {
  const d = join(root, name);
  mkdirSync(d, { recursive: true });
  return d;
}

const temps = (dir: string): string[] => readdirSync(dir).filter((f) => TEMP_NAME.test(f));

describe('writeFileAtomic', () => {
  test('creates, then replaces, leaving no temp file behind', () => {
    const dir = freshDir('basic');
    const target = join(dir, 'ckpt.safetensors');
    writeFileAtomic(target, new Uint8Array([1, 2, 3]));
    expect(Array.from(readFileSync(target))).toEqual([1, 2, 3]);
    writeFileAtomic(target, new Uint8Array([4, 5]));
    expect(Array.from(readFileSync(target))).toEqual([4, 5]);
    writeFileAtomic(target, new Uint8Array(0));
    expect(readFileSync(target).length).toBe(0);
    expect(readdirSync(dir)).toEqual(['ckpt.safetensors']);
  });

  test('writes views (non-zero byteOffset) correctly and handles a relative path', () => {
    const dir = freshDir('view');
    const big = new Uint8Array([9, 1, 2, 3, 9]);
    const rel = relative(process.cwd(), join(dir, 'v.bin'));
    writeFileAtomic(rel, big.subarray(1, 4));
    expect(Array.from(readFileSync(join(dir, 'v.bin')))).toEqual([1, 2, 3]);
  });

  test('a missing directory fails with CheckpointError naming the path', () => {
    const target = join(root, 'no-such-dir', 'x.safetensors');
    expect(() => writeFileAtomic(target, new Uint8Array(1))).toThrow(CheckpointError);
    expect(() => writeFileAtomic(target, new Uint8Array(1))).toThrow(/^writeFileAtomic: could not write '.*no-such-dir\/x\.safetensors': .*ENOENT/);
  });

  test('when the rename fails (target is a directory) the temp file is removed and the cause kept', () => {
    const dir = freshDir('rename-fails');
    mkdirSync(join(dir, 'target'));
    let err: unknown;
    try {
      writeFileAtomic(join(dir, 'target'), new Uint8Array(100));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(/could not write '.*target'/);
    expect((err as { cause?: { code?: unknown } }).cause?.code).toBe('EISDIR'); // Node's own error, kept as cause
    expect(readdirSync(dir)).toEqual(['target']);
  });

  test('bad arguments fail with CheckpointError', () => {
    expect(() => writeFileAtomic('', new Uint8Array(1))).toThrow(CheckpointError);
    expect(() => writeFileAtomic(join(root, 'x'), [1, 2] as unknown as Uint8Array)).toThrow(/bytes must be a Uint8Array/);
  });
});

describe('readFileChecked', () => {
  test('returns a plain Uint8Array with the contents', () => {
    const p = join(freshDir('read'), 'f.bin');
    writeFileSync(p, Buffer.from([7, 8, 9]));
    const got = readFileChecked(p);
    expect(got.constructor).toBe(Uint8Array);
    expect(Array.from(got)).toEqual([7, 8, 9]);
  });

  test('missing file and directory fail with CheckpointError naming the path', () => {
    const missing = join(root, 'missing.safetensors');
    expect(() => readFileChecked(missing)).toThrow(CheckpointError);
    expect(() => readFileChecked(missing)).toThrow(/^readFileChecked: could not read '.*missing\.safetensors': file does not exist/);
    expect(() => readFileChecked(root)).toThrow(/path is a directory/);
    expect(() => readFileChecked('')).toThrow(CheckpointError);
  });
});

describe('cleanStaleTemps', () => {
  test('removes temps of dead processes only, and only for the given base', () => {
    const dir = freshDir('clean');
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!; // has exited by now
    const dead = `.model.safetensors.${deadPid}.0123456789ab.tmp`;
    const mine = `.model.safetensors.${process.pid}.0123456789ab.tmp`;
    const otherBase = `.other.bin.${deadPid}.0123456789ab.tmp`;
    for (const f of [dead, mine, otherBase, 'model.safetensors', '.model.safetensors.notatemp']) writeFileSync(join(dir, f), 'x');

    expect(cleanStaleTemps(dir, { base: 'model.safetensors', minAgeMs: 60_000 })).toEqual([]); // too young
    expect(cleanStaleTemps(dir, { base: 'model.safetensors' })).toEqual([join(dir, dead)]);
    expect(readdirSync(dir).sort()).toEqual([mine, '.model.safetensors.notatemp', otherBase, 'model.safetensors'].sort());
    expect(cleanStaleTemps(dir)).toEqual([join(dir, otherBase)]);
    expect(() => cleanStaleTemps(join(root, 'nope'))).toThrow(CheckpointError);
  });

  test('the next save to a path removes the temps its dead writers left, and never a live writer\'s', () => {
    const dir = freshDir('clean-on-save');
    const target = join(dir, 'model.safetensors');
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!; // has exited by now
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      const name = (pid: number, hex: string) => `.model.safetensors.${pid}.${hex}.tmp`;
      const dead = [name(deadPid, '0123456789ab'), name(deadPid, 'ba9876543210')];
      const liveTemp = name(live.pid!, 'aaaaaaaaaaaa');
      const mineNow = name(process.pid, 'bbbbbbbbbbbb'); // as if another thread of this process were writing
      const mineOld = name(process.pid, 'cccccccccccc'); // left by an earlier process with this same id
      const otherTarget = `.other.safetensors.${deadPid}.0123456789ab.tmp`;
      const big = new Uint8Array(1 << 20);
      for (const f of [...dead, liveTemp, mineNow, mineOld, otherTarget]) writeFileSync(join(dir, f), big);
      const longAgo = (Date.now() - process.uptime() * 1000 - 3_600_000) / 1000;
      utimesSync(join(dir, mineOld), longAgo, longAgo);

      writeFileAtomic(target, new Uint8Array([1, 2, 3]));
      expect(readdirSync(dir).sort()).toEqual([liveTemp, mineNow, otherTarget, 'model.safetensors'].sort());
      expect(statSync(join(dir, liveTemp)).size).toBe(1 << 20);
      expect(Array.from(readFileSync(target))).toEqual([1, 2, 3]);
    } finally {
      live.kill('SIGKILL');
    }
  });

  test('is exported from the package', () => {
    expect(tapegrad.cleanStaleTemps).toBe(cleanStaleTemps);
  });

  test('bad arguments: options are checked', () => {
    const dir = freshDir('clean-args');
    expect(() => cleanStaleTemps(dir, null as never)).toThrow(/^cleanStaleTemps: opts must be an object of options or undefined, got null/);
    expect(() => cleanStaleTemps(dir, { bsae: 'x' } as never)).toThrow(/^cleanStaleTemps: bsae is not an option of cleanStaleTemps/);
    expect(() => cleanStaleTemps(dir, { minAgeMs: -1 })).toThrow(/^cleanStaleTemps: opts\.minAgeMs must be a number >= 0, got/);
    expect(() => cleanStaleTemps('' as never)).toThrow(/^cleanStaleTemps: dir must be a non-empty string/);
  });
});

// ---------------------------------------------------------------------------------------------
// The hard test: SIGKILL a child that keeps saving, at random moments.
// ---------------------------------------------------------------------------------------------

/**
 * Transpiles `entry` and, transitively, every relative module it requires, into `outDir`
 * (same layout as in the repository), so a child can run the real code with plain `node`
 * (about 10× faster to start than ts-node).
 */
function buildForChild(entry: string, outDir: string): string {
  const seen = new Set<string>();
  const todo = [resolve(entry)];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const js = ts.transpileModule(readFileSync(file, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: file,
    }).outputText;
    const out = join(outDir, relative(REPO, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, js);
    for (const m of js.matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)) todo.push(resolve(dirname(file), `${m[1]}.ts`));
  }
  return join(outDir, relative(REPO, resolve(entry))).replace(/\.ts$/, '.js');
}

/** Seeded uniform floats (pure-rand's xoroshiro128+) so the kill schedule is reproducible. */
function prng(seed: number): () => number {
  const rng = xoroshiro128plus(seed | 0);
  return () => uniformFloat64(rng);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface RunResult { signal: NodeJS.Signals | null; code: number | null; saved: number; stderr: string; pid: number }

/** Spawns the save loop, kills it with SIGKILL per `schedule`, resolves when it has exited. */
async function runAndKill(script: string, args: string[], delayMs: number, afterReady: boolean): Promise<RunResult> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => { onReady = r; });
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    if (out.includes('ready\n')) onReady();
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const exited = new Promise<RunResult>((res) => {
    child.on('close', (code, signal) => res({ code, signal, saved: (out.match(/^saved \d+$/gm) ?? []).length, stderr, pid: child.pid! }));
  });
  if (afterReady) await Promise.race([ready, exited]);
  await sleep(delayMs);
  child.kill('SIGKILL');
  return exited;
}

describe('writeFileAtomic survives SIGKILL at random moments', () => {
  test('the target is always absent (before any completed save) or exactly A or exactly B', async () => {
    const build = freshDir('build');
    const script = buildForChild(join(REPO, 'test/io/fixtures/save_loop.ts'), build);
    const inputs = freshDir('inputs');
    const outDir = freshDir('kill');
    const target = join(outDir, 'model.safetensors');

    // Two valid checkpoints of different sizes (~320 KB and ~480 KB), so a torn or mixed file
    // could never pass for either one.
    const A = encodeSafetensors({
      w: { dtype: 'float64', shape: [200, 200], data: Float64Array.from({ length: 40_000 }, (_, i) => i * 0.5) },
    }, { name: 'A' });
    const B = encodeSafetensors({
      w: { dtype: 'float32', shape: [300, 400], data: Float32Array.from({ length: 120_000 }, (_, i) => -i) },
      step: { dtype: 'int32', shape: [], data: new Int32Array([7]) },
    }, { name: 'B' });
    const aPath = join(inputs, 'A.safetensors');
    const bPath = join(inputs, 'B.safetensors');
    writeFileSync(aPath, A);
    writeFileSync(bPath, B);

    const rand = prng(42);
    const ITER = 30;
    let completedSaves = 0;
    let everExisted = false;
    let killsLeavingTemp = 0;
    let prevTemps = 0;
    const seen = { A: 0, B: 0, absent: 0 };
    const started = Date.now();

    for (let i = 0; i < ITER; i++) {
      const afterReady = i % 6 !== 0; // every 6th kill is timed from spawn instead of from "ready"
      const r = await runAndKill(script, [target, aPath, bPath, '10000'], Math.floor(rand() * 31), afterReady);
      expect({ i, signal: r.signal, stderr: r.stderr }).toEqual({ i, signal: 'SIGKILL', stderr: '' });
      completedSaves += r.saved;

      if (existsSync(target)) {
        everExisted = true;
        const bytes = readFileChecked(target);
        const isA = compareUint8Arrays(bytes, A);
        const isB = compareUint8Arrays(bytes, B);
        expect({ i, size: bytes.length, isAorB: isA || isB }).toEqual({ i, size: bytes.length, isAorB: true });
        const { metadata } = decodeSafetensors(bytes);
        expect(metadata.name).toBe(isA ? 'A' : 'B');
        seen[isA ? 'A' : 'B']++;
      } else {
        // Absent is only acceptable before the first completed save; rename never un-creates.
        expect({ i, completedSaves, everExisted }).toEqual({ i, completedSaves: 0, everExisted: false });
        seen.absent++;
      }

      // A killed child leaves at most its one in-flight temp file, and its first save removed
      // the ones earlier children left: temps never accumulate.
      const left = temps(outDir);
      expect({ i, left: left.length }).toEqual({ i, left: Math.min(left.length, 1) });
      if (left.some((f) => f.includes(`.${r.pid}.`))) killsLeavingTemp++;
      prevTemps = left.length;
    }

    // The schedule really exercised the loop: saves completed, and kills landed mid-write often
    // enough that, without the cleaning, temps would have piled up.
    expect(completedSaves).toBeGreaterThan(0);
    expect(seen.A + seen.B).toBeGreaterThan(0);
    expect(killsLeavingTemp).toBeGreaterThan(1);

    // Leftover temps belong to dead children: cleanStaleTemps removes exactly those.
    const removed = cleanStaleTemps(outDir, { base: 'model.safetensors' });
    expect(removed.length).toBe(prevTemps);
    expect(readdirSync(outDir)).toEqual(['model.safetensors']);

    if (process.env.IO_KILL_STATS) console.log({ ...seen, completedSaves, killsLeavingTemp, ms: Date.now() - started });
  }, 40_000); // typically 4–10 s: 30 × (node start ≈ 60 ms + 0–30 ms delay), slower under load
});
