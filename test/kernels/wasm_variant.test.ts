/**
 * The GEMM's two builds (src/kernels/wasm/variant.ts): the relaxed-simd fused multiply-add
 * build is chosen where the engine runs it without flags, `TAPEGRAD_FMA=1` opts in to setting
 * V8's flag where it is needed (Node.js 20), `TAPEGRAD_FMA=0` selects the plain SIMD128 build,
 * no engine flag changes otherwise, and each build really computes what it claims: one rounding
 * per multiply-add, or two.
 */

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { gemmVariant } from '../../src/kernels/wasm';

const root = path.resolve(__dirname, '../..');

beforeAll(() => {
  if (!['gemm.wasm', 'gemm-fma.wasm'].every((f) => fs.existsSync(path.join(root, 'build', f)))) {
    execFileSync(process.execPath, [path.join(root, 'scripts', 'build-wasm.js')], { stdio: 'inherit' });
  }
});

// A 1 x 2 @ 2 x 1 product whose second term needs 24 significant bits: with a = [-1, 1 + 2^-12]
// and b = [1, 1 + 2^-12], a0·b0 + a1·b1 = 2^-11 + 2^-24 exactly. A fused multiply-add keeps the
// 2^-24; multiplying first rounds a1·b1 = 1 + 2^-11 + 2^-24 to 1 + 2^-11 in float32 and loses it.
// The probe also reports the largest error of a 37 x 29 x 300 float32 product (all three forms)
// against a float64 reference, computed by the same helpers the other GEMM tests use.
const PROBE = `
require('./src/platform/node'); // the Node.js platform, as src/index.ts installs it
const { gemm, gemmVariant } = require('./src/kernels/wasm');
const { gemmReference } = require('./src/kernels/gemm');
const { filled } = require('./test/helpers/arrays');
const a = new Float32Array([-1, 1 + 2 ** -12]);
const b = new Float32Array([1, 1 + 2 ** -12]);
const c = new Float32Array(1);
gemm(a, b, c, 1, 1, 2);
let err = 0;
const m = 37, n = 29, k = 300;
for (const opts of [{}, { transA: true }, { transB: true }]) {
  const A = filled(Float32Array, m * k, 5), B = filled(Float32Array, k * n, 6);
  const C = new Float32Array(m * n), ref = new Float64Array(m * n);
  gemm(A, B, C, m, n, k, opts);
  gemmReference(Float64Array.from(A), Float64Array.from(B), ref, m, n, k, opts);
  for (let i = 0; i < m * n; i++) err = Math.max(err, Math.abs(C[i] - ref[i]));
}
// Whether relaxed SIMD validates now: it must not have been switched on behind the user's back.
const relaxed = WebAssembly.validate(require('fs').readFileSync('./build/gemm-fma.wasm'));
process.stdout.write(JSON.stringify({ variant: gemmVariant(), c: c[0], err, relaxed }));
`;

interface Probe { variant: string; c: number; err: number; relaxed: boolean }

/** Whether this engine validates relaxed SIMD without any flag (Node.js >= 22). */
const NATIVE_RELAXED = (() => {
  const out = execFileSync(process.execPath, ['-e',
    `process.stdout.write(String(WebAssembly.validate(require('fs').readFileSync(${JSON.stringify(path.join(root, 'build', 'gemm-fma.wasm'))}))))`,
  ], { encoding: 'utf8' });
  return out === 'true';
})();

function probe(env: Record<string, string>): Probe {
  const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', PROBE], {
    cwd: root, env: { ...process.env, ...env }, encoding: 'utf8',
  });
  return JSON.parse(out) as Probe;
}

/** Whether this CPU has fused multiply-add (x64 FMA3; ARM64 always has it). */
function cpuHasFma(): boolean {
  if (process.arch === 'arm64') return true;
  try {
    return /\bfma\b/.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

describe('GEMM build variant', () => {
  test('by default the fused build runs only where the engine offers relaxed SIMD, and no engine flag changes', () => {
    const r = probe({ TAPEGRAD_FMA: '' });
    expect(r.variant).toBe(NATIVE_RELAXED ? 'fma' : 'simd');
    expect(r.relaxed).toBe(NATIVE_RELAXED);
    expect(['fma', 'simd']).toContain(gemmVariant());
  });

  test('TAPEGRAD_FMA=0 selects the plain build: product rounded before the add, results accurate', () => {
    const r = probe({ TAPEGRAD_FMA: '0' });
    expect({ variant: r.variant, c: r.c }).toEqual({ variant: 'simd', c: 2 ** -11 });
    expect(r.err).toBeLessThan(1e-4); // 300 terms of magnitude <= 1 in float32
  });

  test('TAPEGRAD_FMA=1 opts in (setting the flag on Node.js 20): one rounding per multiply-add on a CPU with FMA', () => {
    const r = probe({ TAPEGRAD_FMA: '1' });
    expect(r.variant).toBe('fma');
    expect(r.c).toBe(cpuHasFma() ? 2 ** -11 + 2 ** -24 : 2 ** -11);
    expect(r.err).toBeLessThan(1e-4);
  });
});
