/**
 * Checkpoint I/O works in pieces: every write, read and checksum update handles at most
 * `ioChunkBytes()` bytes, so nothing meets Node's 2 GiB limits. Proven here with a 7-byte piece
 * size on ordinary files (the bytes written are identical to the one-piece encoding, and they
 * load back bit-identical); a real run above 2 GiB is in big_checkpoint.test.ts (opt-in).
 */
import crypto from 'node:crypto';
import fs, { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError } from '../../src';
import { loadCheckpoint, saveCheckpoint } from '../../src/checkpoint';
import { decodeSafetensors, encodeSafetensors, readSafetensorsFile, writeFileAtomic } from '../../src/io';
import { ioChunkBytes, setIoChunkBytes } from '../../src/io/chunk';
import { blobs, build, snapshot, trainEpoch } from '../checkpoint/helpers';

let root = '';
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'tapegrad-chunk-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  jest.restoreAllMocks();
});

/** Runs `f` with a piece size of `bytes`, recording the length of every write, read and hash update. */
function withChunks<T>(bytes: number, f: () => T): { result: T; writes: number[]; reads: number[]; hashes: number[] } {
  const writes: number[] = [];
  const reads: number[] = [];
  const hashes: number[] = [];
  const realWrite = fs.writeSync;
  const realRead = fs.readSync;
  const realCreateHash = crypto.createHash;
  const w = jest.spyOn(fs, 'writeSync').mockImplementation(((fd: number, buf: Uint8Array, off: number, len: number, pos?: number) => {
    writes.push(len);
    return realWrite(fd, buf, off, len, pos);
  }) as typeof fs.writeSync);
  const r = jest.spyOn(fs, 'readSync').mockImplementation(((fd: number, buf: Uint8Array, off: number, len: number, pos: number) => {
    reads.push(len);
    return realRead(fd, buf, off, len, pos);
  }) as typeof fs.readSync);
  const h = jest.spyOn(crypto, 'createHash').mockImplementation(((alg: string) => {
    const hash = realCreateHash(alg);
    const update = hash.update.bind(hash);
    hash.update = ((data: string | Uint8Array) => {
      if (typeof data !== 'string') hashes.push(data.length);
      return update(data as Uint8Array);
    }) as typeof hash.update;
    return hash;
  }) as typeof crypto.createHash);
  const prev = setIoChunkBytes(bytes);
  try {
    return { result: f(), writes, reads, hashes };
  } finally {
    setIoChunkBytes(prev);
    w.mockRestore();
    r.mockRestore();
    h.mockRestore();
  }
}

describe('pieces', () => {
  it('the default piece is 64 MiB, and only integers in [1, 2^30] are accepted', () => {
    expect(ioChunkBytes()).toBe(64 * 1024 * 1024);
    expect(() => setIoChunkBytes(0)).toThrow(/setIoChunkBytes: bytes must be an integer in \[1, 2\^30\]/);
    expect(() => setIoChunkBytes(2 ** 31)).toThrow(/setIoChunkBytes/);
    expect(ioChunkBytes()).toBe(64 * 1024 * 1024);
  });

  it('writeFileAtomic writes parts in pieces; the file is their concatenation', () => {
    const parts = [new Uint8Array([1, 2, 3]), new Uint8Array(0), Uint8Array.from({ length: 40 }, (_, i) => i)];
    const p = join(root, 'parts.bin');
    const { writes } = withChunks(7, () => writeFileAtomic(p, parts));
    expect(Math.max(...writes)).toBeLessThanOrEqual(7);
    expect(writes.reduce((a, b) => a + b, 0)).toBe(43);
    expect(Array.from(readFileSync(p))).toEqual([1, 2, 3, ...Array.from({ length: 40 }, (_, i) => i)]);
  });

  it('readSafetensorsFile reads in pieces and gives what decodeSafetensors gives', () => {
    const bytes = encodeSafetensors({
      a: { dtype: 'float64', shape: [5, 3], data: Float64Array.from({ length: 15 }, (_, i) => i / 3) },
      b: { dtype: 'float32', shape: [7], data: Float32Array.from({ length: 7 }, (_, i) => -i) },
      c: { dtype: 'int32', shape: [], data: new Int32Array([9]) },
    }, { note: 'x' });
    const p = join(root, 'read.safetensors');
    writeFileSync(p, bytes);
    const { result, reads } = withChunks(7, () => readSafetensorsFile(p));
    expect(Math.max(...reads)).toBeLessThanOrEqual(7);
    expect(result).toEqual(decodeSafetensors(bytes));
    // Truncated and missing files are CheckpointErrors naming the path.
    writeFileSync(p, bytes.subarray(0, bytes.length - 3));
    expect(() => readSafetensorsFile(p)).toThrow(CheckpointError);
    expect(() => readSafetensorsFile(join(root, 'none'))).toThrow(/^readSafetensorsFile: could not read '.*none': file does not exist/);
    expect(() => readSafetensorsFile(root)).toThrow(/path is a directory/);
  });

  it('a checkpoint saved and loaded with 7-byte pieces is byte-identical to one saved whole, and loads bit-identical', () => {
    const a = build(0, 'adam');
    trainEpoch(a, blobs(40));
    const whole = join(root, 'whole.safetensors');
    const pieces = join(root, 'pieces.safetensors');
    saveCheckpoint(whole, { ...a, meta: { epoch: 1 } });
    const saved = withChunks(7, () => saveCheckpoint(pieces, { ...a, meta: { epoch: 1 } }));
    expect(Math.max(...saved.writes)).toBeLessThanOrEqual(7);
    expect(saved.hashes.length).toBeGreaterThan(100);
    expect(Math.max(...saved.hashes.filter((n) => n > 0))).toBeLessThanOrEqual(7);
    expect(readFileSync(pieces).equals(readFileSync(whole))).toBe(true);

    const t = build(1, 'adam');
    const loaded = withChunks(7, () => loadCheckpoint(pieces, t));
    expect(loaded.result).toEqual({ epoch: 1 });
    expect(Math.max(...loaded.reads)).toBeLessThanOrEqual(7);
    expect(Math.max(...loaded.hashes.filter((n) => n > 0))).toBeLessThanOrEqual(7);
    expect(snapshot(t).model).toEqual(snapshot(a).model);
  });
});
