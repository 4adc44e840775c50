/**
 * Fuzzing loadCheckpoint: any mutation of a valid checkpoint's bytes (bit flips, truncations,
 * header edits, insertions, deletions, a rewritten length prefix, appended bytes) either loads
 * exactly the saved state or throws CheckpointError, and a refused load changes nothing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { CheckpointError, manualSeed, nn, optim, Tensor } from '../../src';
import { loadCheckpoint, saveCheckpoint } from '../../src/checkpoint';
import { FC, fc } from '../helpers/fc';
import { snapshot, tempDir } from './helpers';

const dir = tempDir('tapegrad-ckpt-fuzz-');

function buildSmall(seed: number) {
  manualSeed(seed);
  const model = new nn.Sequential(new nn.Affine(2, 3), new nn.BatchNorm1d(3), new nn.ReLU(), new nn.Affine(3, 2));
  const optimizer = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const scheduler = new optim.StepLR(optimizer, { stepSize: 2, gamma: 0.5 });
  const x = Tensor.randn([6, 2]);
  for (let i = 0; i < 3; i++) {
    optimizer.zeroGrad();
    nn.softmaxCrossEntropy(model.forward(x), [0, 1, 0, 1, 1, 0]).backward();
    optimizer.step();
    scheduler.step();
  }
  return { model, optimizer, scheduler };
}

type Mutation =
  | { kind: 'flip'; flips: { pos: number; bit: number }[] }
  | { kind: 'truncate'; len: number }
  | { kind: 'set'; pos: number; byte: number }
  | { kind: 'insert'; pos: number; byte: number; fixPrefix: boolean }
  | { kind: 'delete'; pos: number; fixPrefix: boolean }
  | { kind: 'prefix'; value: number }
  | { kind: 'append'; bytes: number[] };

const JSONISH = [...'"{}[],:0123456789 .-eE\\tfnu'].map((c) => c.charCodeAt(0)).concat([0, 0x80, 0xff]);

function apply(good: Uint8Array, headerEnd: number, m: Mutation): Uint8Array {
  const setPrefix = (b: Uint8Array, n: number): Uint8Array => {
    new DataView(b.buffer, b.byteOffset, 8).setBigUint64(0, BigInt(n), true);
    return b;
  };
  switch (m.kind) {
    case 'flip': {
      const b = good.slice();
      for (const { pos, bit } of m.flips) b[pos % b.length] ^= 1 << bit;
      return b;
    }
    case 'truncate':
      return good.slice(0, m.len % good.length);
    case 'set': {
      const b = good.slice();
      b[8 + (m.pos % (headerEnd - 8))] = m.byte;
      return b;
    }
    case 'insert': {
      const p = 8 + (m.pos % (headerEnd - 8));
      const b = new Uint8Array(good.length + 1);
      b.set(good.subarray(0, p));
      b[p] = m.byte;
      b.set(good.subarray(p), p + 1);
      return m.fixPrefix ? setPrefix(b, headerEnd - 8 + 1) : b;
    }
    case 'delete': {
      const p = 8 + (m.pos % (headerEnd - 8));
      const b = new Uint8Array(good.length - 1);
      b.set(good.subarray(0, p));
      b.set(good.subarray(p + 1), p);
      return m.fixPrefix ? setPrefix(b, headerEnd - 8 - 1) : b;
    }
    case 'prefix':
      return setPrefix(good.slice(), m.value);
    case 'append': {
      const b = new Uint8Array(good.length + m.bytes.length);
      b.set(good);
      b.set(m.bytes, good.length);
      return b;
    }
  }
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('flip' as const),
    flips: fc.array(fc.record({ pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }), { minLength: 1, maxLength: 3 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), len: fc.nat() }),
  fc.record({ kind: fc.constant('set' as const), pos: fc.nat(), byte: fc.constantFrom(...JSONISH) }),
  fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), byte: fc.constantFrom(...JSONISH), fixPrefix: fc.boolean() }),
  fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), fixPrefix: fc.boolean() }),
  fc.record({ kind: fc.constant('prefix' as const), value: fc.oneof(fc.nat({ max: 5000 }), fc.constant(2 ** 40)) }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 16 }) }),
);

describe('loadCheckpoint under byte mutations', () => {
  it('loads the exact saved state or throws CheckpointError and changes nothing (200 runs)', () => {
    const saved = buildSmall(1);
    const goodPath = dir.path('good.safetensors');
    saveCheckpoint(goodPath, { ...saved, meta: { epoch: 3, tag: 'fuzz' } });
    const savedState = snapshot(saved);
    const good = new Uint8Array(readFileSync(goodPath));
    const headerEnd = 8 + Number(new DataView(good.buffer, good.byteOffset, 8).getBigUint64(0, true));

    // The target starts from another state, saved so it can be reset after a successful load.
    const target = buildSmall(2);
    const resetPath = dir.path('reset.safetensors');
    saveCheckpoint(resetPath, target);
    const targetState = snapshot(target);
    const path = dir.path('mutant.safetensors');
    let loaded = 0;
    let refused = 0;

    fc.assert(
      fc.property(mutation, (m) => {
        writeFileSync(path, apply(good, headerEnd, m));
        let meta: unknown;
        try {
          meta = loadCheckpoint(path, target);
        } catch (e) {
          if (!(e instanceof CheckpointError)) throw new Error(`a ${(e as Error)?.name} escaped: ${(e as Error)?.message}`);
          expect(e.message.startsWith('loadCheckpoint: ')).toBe(true);
          expect(snapshot(target)).toEqual(targetState);
          refused++;
          return;
        }
        // Only a mutation that kept the content (e.g. JSON whitespace) may load, and then exactly.
        expect(meta).toEqual({ epoch: 3, tag: 'fuzz' });
        expect(snapshot(target)).toEqual(savedState);
        loaded++;
        loadCheckpoint(resetPath, target);
        expect(snapshot(target)).toEqual(targetState);
      }),
      { ...FC, numRuns: 200 },
    );
    expect(refused).toBeGreaterThan(150);
    expect(loaded + refused).toBe(200);
  });
});
