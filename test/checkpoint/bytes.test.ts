/**
 * encodeCheckpoint / decodeCheckpoint: checkpoints as bytes, as the browser gets them. The
 * bytes equal what saveCheckpoint writes; a round trip restores everything bit-exactly; every
 * corruption the file functions refuse is refused here too, changing nothing; the portable
 * platform (SHA-256 in TypeScript) writes and checks the same checksums as node:crypto.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ArgumentError, CheckpointError, decodeCheckpoint, encodeCheckpoint, getRngState, saveCheckpoint, Trainer } from '../../src';
import { platform, setPlatform } from '../../src/platform';
import { browserPlatform } from '../../src/platform/browser';
import { nodePlatform } from '../../src/platform/node';
import { createSha256 } from '../../src/platform/sha256';
import { blobs, build, resign, snapshot, tempDir, trainEpoch } from './helpers';

const dir = tempDir('tapegrad-ckpt-bytes-');
const data = blobs(60);

function refusedBytes(bytes: Uint8Array, pattern: RegExp, target?: Partial<ReturnType<typeof build>>): CheckpointError {
  const t = build(42, 'sgd');
  trainEpoch(t, data);
  const tgt = { ...t, ...target };
  const before = snapshot(tgt);
  let caught: unknown;
  try {
    decodeCheckpoint(bytes, tgt);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CheckpointError);
  const err = caught as CheckpointError;
  expect(err.message.startsWith('decodeCheckpoint: ')).toBe(true);
  expect(err.message).toMatch(pattern);
  expect(snapshot(tgt)).toEqual(before);
  return err;
}

describe('round trip through bytes', () => {
  it('restores model, optimizer, schedule, PRNG and meta bit-exactly; the bytes equal the saved file', () => {
    const a = build(0, 'adam');
    trainEpoch(a, data);
    const bytes = encodeCheckpoint({ ...a, meta: { epoch: 1, tag: 'x' } });
    const path = dir.path('same.safetensors');
    saveCheckpoint(path, { ...a, meta: { epoch: 1, tag: 'x' } });
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(bytes))).toBe(true);
    const expected = snapshot(a);
    const b = build(7, 'adam');
    expect(snapshot(b)).not.toEqual(expected);
    expect(decodeCheckpoint(bytes, b)).toEqual({ epoch: 1, tag: 'x' });
    expect(snapshot(b)).toEqual(expected);
    // The bytes are only read: decoding again into another target works the same.
    const c = build(8, 'adam');
    decodeCheckpoint(bytes, c);
    expect(snapshot(c)).toEqual(expected);
  });

  it('a trainer state round-trips, and float32 models too', () => {
    const a = build(0, 'sgd', 'float32');
    const trainer = new Trainer(a.model, { optimizer: a.optimizer, epochs: 1, batchSize: 16, restoreBest: true });
    trainer.fit({ x: data.x.to('float32'), y: data.y }, { x: data.x.to('float32'), y: data.y });
    const bytes = encodeCheckpoint({ model: a.model, optimizer: a.optimizer, trainer });
    const b = build(1, 'sgd', 'float32');
    const t2 = new Trainer(b.model, { optimizer: b.optimizer, epochs: 1, batchSize: 16, restoreBest: true });
    decodeCheckpoint(bytes, { model: b.model, optimizer: b.optimizer, trainer: t2 });
    expect(t2.stateDict().epoch).toBe(trainer.stateDict().epoch);
    expect(snapshot({ model: b.model, optimizer: b.optimizer })).toEqual(snapshot({ model: a.model, optimizer: a.optimizer }));
  });
});

describe('bad bytes are refused with CheckpointError, changing nothing (the file cases)', () => {
  let good: Uint8Array;
  beforeAll(() => {
    const a = build(0, 'sgd');
    trainEpoch(a, data);
    good = encodeCheckpoint({ ...a, meta: { epoch: 1 } });
  });

  it('good bytes load (control)', () => {
    expect(decodeCheckpoint(good, build(42, 'sgd'))).toEqual({ epoch: 1 });
  });

  const cases: [string, (g: Uint8Array) => Uint8Array, RegExp][] = [
    ['wrong shape', (g) => resign(g, (ts) => void ts.set('4.bias', { dtype: 'float64', shape: [4], data: new Float64Array(4) })), /'4\.bias' must have shape \[3\], got \[4\]/],
    ['a missing key', (g) => resign(g, (ts) => void ts.delete('1.runningVar')), /the file must hold every model key, got none for \['1\.runningVar'\]/],
    ['an extra key', (g) => resign(g, (ts) => void ts.set('5.weight', { dtype: 'float64', shape: [2], data: new Float64Array(2) })), /got unexpected keys \['5\.weight'\]/],
    ['an int32 tensor', (g) => resign(g, (ts) => void ts.set('4.bias', { dtype: 'int32', shape: [3], data: new Int32Array(3) })), /'4\.bias' must have dtype 'float64', got 'int32'/],
    ['a slot of the wrong length', (g) => resign(g, (ts) => void ts.set('optim.0.momentumBuffer', { dtype: 'float64', shape: [5], data: new Float64Array(5) })), /optim.*must have length 32/],
    ['bad meta JSON', (g) => resign(g, (_, md) => void (md['tapegrad.meta'] = '{"epoch": 1,')), /metadata 'tapegrad\.meta' must be valid JSON/],
    ['bad optimizer JSON', (g) => resign(g, (_, md) => void (md['tapegrad.optimizer'] = '[1, 2]')), /metadata 'tapegrad\.optimizer' must be \{/],
    ['a bad PRNG state', (g) => resign(g, (_, md) => void (md['tapegrad.rng'] = JSON.stringify({ words: [1, 2, 3], spare: '00' }))), /metadata 'tapegrad\.rng' must be/],
    ['a wrong format version', (g) => resign(g, (_, md) => void (md['tapegrad.format'] = 'tapegrad-checkpoint/2')), /'tapegrad\.format' must be 'tapegrad-checkpoint\/1', got "tapegrad-checkpoint\/2"/],
    ['no format version', (g) => resign(g, (_, md) => void delete md['tapegrad.format']), /'tapegrad\.format' must be 'tapegrad-checkpoint\/1', got none/],
    ['a flipped bit in the data', (g) => { const b = g.slice(); b[b.length - 3] ^= 0x10; return b; }, /bytes is not a valid tapegrad-checkpoint\/1 file: checksum must be sha256:[0-9a-f]{64}.*corrupted/],
    ['truncated', (g) => g.subarray(0, g.length - 100), /bytes must be a valid safetensors file/],
    ['truncated to 5 bytes', (g) => g.subarray(0, 5), /bytes must be a valid safetensors file.*at least 8 bytes/],
    ['empty', () => new Uint8Array(0), /bytes must be a valid safetensors file/],
  ];
  it.each(cases)('%s', (_name, corrupt, pattern) => {
    refusedBytes(corrupt(good), pattern);
  });

  it('target mismatches: optimizer type, missing schedule state', () => {
    const t = build(42, 'adam');
    refusedBytes(good, /optimizer type must be 'Adam', got 'SGD'/, { optimizer: t.optimizer, scheduler: undefined });
    const a = build(0, 'sgd');
    const noSched = encodeCheckpoint({ model: a.model, optimizer: a.optimizer });
    refusedBytes(noSched, /a scheduler state must be in the file/);
  });

  it('bad arguments', () => {
    const t = build(0, 'sgd');
    expect(() => decodeCheckpoint(Array.from(good) as never, t)).toThrow(/^decodeCheckpoint: bytes must be a Uint8Array, got/);
    expect(() => decodeCheckpoint(good, null as never)).toThrow(ArgumentError);
    expect(() => decodeCheckpoint(good, { model: t.model, extra: 1 } as never)).toThrow(/^decodeCheckpoint: .*extra/);
    expect(() => encodeCheckpoint(undefined as never)).toThrow(/^encodeCheckpoint: contents must be an object/);
    expect(() => encodeCheckpoint({ model: t.model, meta: { lr: NaN } })).toThrow(/^encodeCheckpoint: contents\.meta\.lr must be a finite number.*got NaN/);
    expect(() => encodeCheckpoint({ model: 3 as never })).toThrow(CheckpointError);
  });
});

describe('the portable platform (SHA-256 in TypeScript)', () => {
  it('hashes as node:crypto does, whatever the piece sizes', () => {
    let s = 1;
    for (const len of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 4099]) {
      const bytes = Uint8Array.from({ length: len }, () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24);
      const h = createSha256();
      for (let off = 0; off < len; off += 37) h.update(bytes.subarray(off, off + 37));
      h.update('é✓');
      expect([len, h.hex()]).toEqual([len, createHash('sha256').update(bytes).update('é✓').digest('hex')]);
    }
    const h = createSha256();
    h.update('abc');
    expect(h.hex()).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('checkpoints encoded on one platform decode on the other', () => {
    expect(platform()).toBe(nodePlatform);
    const a = build(0, 'sgd');
    trainEpoch(a, data);
    const rng = getRngState();
    const viaNode = encodeCheckpoint(a);
    setPlatform(browserPlatform);
    try {
      const viaBrowser = encodeCheckpoint(a);
      expect(Buffer.from(viaBrowser).equals(Buffer.from(viaNode))).toBe(true);
      const b = build(3, 'sgd');
      decodeCheckpoint(viaNode, b);
      expect(snapshot(b).model).toEqual(snapshot(a).model);
      const flipped = viaNode.slice();
      flipped[flipped.length - 9] ^= 1;
      expect(() => decodeCheckpoint(flipped, build(3, 'sgd'))).toThrow(/checksum must be/);
    } finally {
      setPlatform(nodePlatform);
    }
    expect(getRngState()).not.toEqual(rng); // build() reseeded: the PRNG was really in play
  });
});

