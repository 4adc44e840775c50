/**
 * Checkpoints: bit-identical round trips, exact resumption (hand-written loop and Trainer),
 * crafted bad files that must be refused without changing anything, and atomic saving.
 */
import fs from 'node:fs';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  ArgumentError,
  CheckpointError,
  getRngState,
  manualSeed,
  nn,
  optim,
  setRngState,
  Tensor,
  Trainer,
} from '../../src';
import {
  CHECKPOINT_FORMAT,
  loadCheckpoint,
  readCheckpointInfo,
  saveCheckpoint,
} from '../../src/checkpoint';
import * as atomic from '../../src/io/atomic';
import { decodeSafetensors } from '../../src/io';
import { blobs, build, checksumOf, resign, snapshot, tempDir, trainEpoch, type OptKind } from './helpers';

const dir = tempDir('tapegrad-ckpt-');
const data = blobs(60);

function expectCheckpointError(f: () => unknown, pattern: RegExp): CheckpointError {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CheckpointError);
  const err = caught as CheckpointError;
  expect(err.name).toBe('CheckpointError');
  expect(err.message).toMatch(pattern);
  return err;
}

describe('round trip', () => {
  it.each<[OptKind, 'float64' | 'float32']>([
    ['sgd', 'float64'],
    ['adam', 'float64'],
    ['adam', 'float32'],
  ])('model + %s state + schedule + meta come back bit-identical (%s)', (kind, dtype) => {
    const a = build(0, kind, dtype);
    trainEpoch(a, data);
    trainEpoch(a, data);
    const path = dir.path(`rt-${kind}-${dtype}.safetensors`);
    const meta = { epoch: 2, note: 'résumé ✓', metrics: { acc: 0.5, curve: [1, 0.5, 0.25] }, flag: null };
    const before = snapshot(a);
    saveCheckpoint(path, { ...a, meta });
    expect(snapshot(a)).toEqual(before); // saving changes nothing
    const saved = snapshot(a);

    const b = build(7, kind, dtype); // fresh, different seed: different weights and PRNG state
    expect(snapshot(b)).not.toEqual(saved);
    const got = loadCheckpoint(path, b);
    expect(got).toEqual(meta);
    expect(snapshot(b)).toEqual(saved);
    for (const [[ka, ta], [kb, tb]] of [...a.model.stateDict()].map((e, i) => [e, [...b.model.stateDict()][i]] as const)) {
      expect(kb).toBe(ka);
      expect(tb.data).toEqual(ta.data);
      expect(tb.data.constructor).toBe(ta.data.constructor);
    }
    expect(b.optimizer.stepCount).toBe(a.optimizer.stepCount);
    expect(b.optimizer.lr).toBe(a.optimizer.lr);
    expect(b.scheduler.lastEpoch).toBe(2);
  });

  it('the file is plain safetensors with the documented names and metadata', () => {
    const a = build(1, 'sgd');
    trainEpoch(a, data);
    const path = dir.path('layout.safetensors');
    saveCheckpoint(path, { ...a, meta: { epoch: 1 } });
    const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(path)));
    expect([...tensors.keys()].sort()).toEqual([
      '0.bias', '0.weight', '1.bias', '1.runningMean', '1.runningVar', '1.weight', '4.bias', '4.weight',
      'optim.0.momentumBuffer', 'optim.1.momentumBuffer', 'optim.2.momentumBuffer', 'optim.3.momentumBuffer',
      'optim.4.momentumBuffer', 'optim.5.momentumBuffer',
    ]);
    expect(metadata['tapegrad.format']).toBe(CHECKPOINT_FORMAT);
    expect(JSON.parse(metadata['tapegrad.model'])).toEqual({ class: 'Sequential', dtype: 'float64' });
    expect(JSON.parse(metadata['tapegrad.optimizer'])).toMatchObject({ type: 'SGD', step: a.optimizer.stepCount, hyper: { lr: 0.1 * 0.8, momentum: 0.9 } });
    expect(JSON.parse(metadata['tapegrad.scheduler'])).toEqual({ type: 'StepLR', epoch: 1, baseLr: 0.1 });
    expect(JSON.parse(metadata['tapegrad.meta'])).toEqual({ epoch: 1 });
    expect(metadata['tapegrad.checksum']).toBe(checksumOf(tensors, metadata));
    const info = readCheckpointInfo(path);
    expect(info).toMatchObject({ format: CHECKPOINT_FORMAT, modelClass: 'Sequential', dtype: 'float64', hasRngState: true, meta: { epoch: 1 } });
    expect(info.keys.find((k) => k.name === '0.weight')).toEqual({ name: '0.weight', dtype: 'float64', shape: [2, 16] });
    expect(info.optimizer?.slots).toHaveLength(6);
  });

  it('creates missing parent directories of the path', () => {
    const m = new nn.Sequential(new nn.Affine(2, 2));
    const path = dir.path('run/nested/model.safetensors');
    saveCheckpoint(path, { model: m, meta: { epoch: 3 } });
    expect(loadCheckpoint(path, { model: m })).toEqual({ epoch: 3 });
  });

  it('a model alone, without optimizer, schedule or PRNG state', () => {
    manualSeed(3);
    const m = new nn.Sequential(new nn.Affine(3, 4), new nn.ReLU(), new nn.Affine(4, 2, { bias: false }));
    const path = dir.path('model-only.safetensors');
    saveCheckpoint(path, { model: m, includeRngState: false });
    manualSeed(4);
    const m2 = new nn.Sequential(new nn.Affine(3, 4), new nn.ReLU(), new nn.Affine(4, 2, { bias: false }));
    const rng = getRngState();
    expect(loadCheckpoint(path, { model: m2 })).toEqual({});
    expect(getRngState()).toEqual(rng); // nothing saved, nothing restored
    expect(m2.parameters().map((p) => p.data)).toEqual(m.parameters().map((p) => p.data));
    expect(readCheckpointInfo(path).hasRngState).toBe(false);
    expectCheckpointError(() => loadCheckpoint(path, { model: m2, restoreRngState: true }), /needs a PRNG state in the file, got none/);
  });

  it('restores the PRNG state, including a cached normal, and can be told not to', () => {
    manualSeed(11);
    Tensor.randn([1]); // leaves a spare normal cached
    const m = new nn.Affine(2, 2);
    const path = dir.path('rng.safetensors');
    saveCheckpoint(path, { model: m });
    const expected = Tensor.randn([5]).data.slice();
    manualSeed(99);
    loadCheckpoint(path, { model: new nn.Affine(2, 2) });
    expect(Tensor.randn([5]).data).toEqual(expected);
    manualSeed(99);
    const target = new nn.Affine(2, 2);
    const s = getRngState();
    loadCheckpoint(path, { model: target, restoreRngState: false });
    expect(getRngState()).toEqual(s);
  });

  it('optimizer state may be ignored (inference), and an optimizer that never stepped round-trips', () => {
    const a = build(2, 'adam');
    const path = dir.path('fresh-opt.safetensors');
    saveCheckpoint(path, a);
    const b = build(3, 'adam');
    trainEpoch(b, data); // b has slots; the file has none: b's slots must be cleared
    loadCheckpoint(path, b);
    expect(snapshot(b)).toEqual(snapshot(a));
    const c = build(4, 'adam');
    loadCheckpoint(path, { model: c.model });
    expect(c.model.parameters().map((p) => p.data)).toEqual(a.model.parameters().map((p) => p.data));
  });
});

describe('resuming is exact', () => {
  it.each<OptKind>(['sgd', 'adam'])('2 epochs + save + fresh build + load + 2 epochs == 4 epochs (%s, hand-written loop)', (kind) => {
    const straight = build(0, kind);
    for (let e = 0; e < 4; e++) trainEpoch(straight, data);

    const first = build(0, kind);
    trainEpoch(first, data);
    trainEpoch(first, data);
    const path = dir.path(`resume-${kind}.safetensors`);
    saveCheckpoint(path, { ...first, meta: { epoch: 2 } });

    const resumed = build(12345, kind);
    Tensor.randn([17]); // disturb the PRNG further
    const meta = loadCheckpoint(path, resumed);
    for (let e = meta.epoch as number; e < 4; e++) trainEpoch(resumed, data);

    const sa = straight.model.stateDict();
    for (const [k, t] of resumed.model.stateDict()) expect(t.data).toEqual(sa.get(k)!.data);
    expect(snapshot(resumed)).toEqual(snapshot(straight));
  });

  it('without restoring the PRNG the resumed run differs (the PRNG really matters here)', () => {
    const straight = build(0, 'sgd');
    for (let e = 0; e < 4; e++) trainEpoch(straight, data);
    const first = build(0, 'sgd');
    trainEpoch(first, data);
    trainEpoch(first, data);
    const path = dir.path('resume-no-rng.safetensors');
    saveCheckpoint(path, first);
    const resumed = build(5, 'sgd');
    loadCheckpoint(path, { ...resumed, restoreRngState: false });
    trainEpoch(resumed, data);
    trainEpoch(resumed, data);
    expect(resumed.model.parameters()[0].data).not.toEqual(straight.model.parameters()[0].data);
  });

  it('through the Trainer: fit 2 epochs, save, fresh build, load, fit to 4 == fit 4', () => {
    const train = data;
    const val = blobs(30);
    const opts = (parts: ReturnType<typeof build>) => ({
      optimizer: parts.optimizer,
      scheduler: parts.scheduler,
      batchSize: 8,
      restoreBest: false,
      numTrainSamples: 20,
    });
    const straight = build(0, 'adam');
    new Trainer(straight.model, { ...opts(straight), epochs: 4 }).fit(train, val);

    const first = build(0, 'adam');
    const t1 = new Trainer(first.model, { ...opts(first), epochs: 2 });
    t1.fit(train, val);
    const path = dir.path('resume-trainer.safetensors');
    saveCheckpoint(path, { ...first, meta: { epoch: t1.epoch } });

    const resumed = build(777, 'adam');
    const meta = loadCheckpoint(path, resumed);
    expect(meta.epoch).toBe(2);
    new Trainer(resumed.model, { ...opts(resumed), epochs: 4, initialEpoch: meta.epoch as number }).fit(train, val);
    expect(snapshot(resumed)).toEqual(snapshot(straight));
  });
});

describe('bad files are refused with CheckpointError, changing nothing', () => {
  let goodPath: string;
  let good: Uint8Array;
  beforeAll(() => {
    const a = build(0, 'sgd');
    trainEpoch(a, data);
    goodPath = dir.path('good.safetensors');
    saveCheckpoint(goodPath, { ...a, meta: { epoch: 1 } });
    good = new Uint8Array(readFileSync(goodPath));
  });

  /** Loads `path` into a trained model/optimizer/schedule; expects refusal and no change at all. */
  function refused(path: string, pattern: RegExp, target?: Partial<ReturnType<typeof build>> & { restoreRngState?: boolean }) {
    const t = build(42, 'sgd');
    trainEpoch(t, data);
    const tgt = { ...t, ...target };
    const before = snapshot(tgt);
    const err = expectCheckpointError(() => loadCheckpoint(path, tgt), pattern);
    expect(err.message.startsWith('loadCheckpoint: ')).toBe(true);
    expect(err.message).toContain(path);
    expect(snapshot(tgt)).toEqual(before);
    return err;
  }

  function write(name: string, bytes: Uint8Array): string {
    const p = dir.path(name);
    writeFileSync(p, bytes);
    return p;
  }

  it('a good file loads (control)', () => {
    const t = build(42, 'sgd');
    expect(loadCheckpoint(goodPath, t)).toEqual({ epoch: 1 });
  });

  it('wrong shape for one key', () => {
    const p = write('shape.safetensors', resign(good, (ts) => {
      ts.set('4.bias', { dtype: 'float64', shape: [4], data: new Float64Array(4) });
    }));
    refused(p, /'4\.bias' must have shape \[3\], got \[4\]/);
  });

  it('a missing key', () => {
    const p = write('missing.safetensors', resign(good, (ts) => void ts.delete('1.runningVar')));
    refused(p, /the file must hold every model key, got none for \['1\.runningVar'\]/);
  });

  it('an extra key', () => {
    const p = write('extra.safetensors', resign(good, (ts) => {
      ts.set('5.weight', { dtype: 'float64', shape: [2], data: new Float64Array(2) });
    }));
    refused(p, /got unexpected keys \['5\.weight'\]/);
  });

  it('a wrong dtype (float32 file into a float64 model, and an int32 tensor)', () => {
    const a32 = build(0, 'sgd', 'float32');
    const p32 = dir.path('f32.safetensors');
    saveCheckpoint(p32, { model: a32.model });
    refused(p32, /'0\.weight' must have dtype 'float64', got 'float32'/, { optimizer: undefined, scheduler: undefined });
    const p = write('int.safetensors', resign(good, (ts) => {
      ts.set('4.bias', { dtype: 'int32', shape: [3], data: new Int32Array(3) });
    }));
    refused(p, /'4\.bias' must have dtype 'float64', got 'int32'/);
  });

  it('optimizer type mismatch, missing optimizer state, and slots that do not fit', () => {
    const t = build(42, 'adam');
    refused(goodPath, /optimizer type must be 'Adam', got 'SGD'/, { optimizer: t.optimizer, scheduler: undefined });
    const noOpt = dir.path('no-opt.safetensors');
    saveCheckpoint(noOpt, { model: build(0, 'sgd').model });
    refused(noOpt, /an optimizer state must be in the file/, { scheduler: undefined });
    // An optimizer over only two of the six parameters: slot indices out of range.
    const u = build(42, 'sgd');
    const partial = new optim.SGD(u.model.parameters().slice(0, 2), { lr: 0.1, momentum: 0.9 });
    const err = refused(goodPath, /the optimizer state must pass SGD's validation, got: SGD\.loadStateDict: .*params\[5\]/, { model: u.model, optimizer: partial, scheduler: undefined });
    expect(err.cause).toBeInstanceOf(Error);
    // A slot of the wrong length.
    const p = write('slot.safetensors', resign(good, (ts) => {
      ts.set('optim.0.momentumBuffer', { dtype: 'float64', shape: [5], data: new Float64Array(5) });
    }));
    refused(p, /optim.*must have length 32/);
  });

  it('schedule type mismatch or missing', () => {
    const t = build(42, 'sgd');
    const exp = new optim.ExponentialLR(t.optimizer, { gamma: 0.5 });
    refused(goodPath, /scheduler type must be "ExponentialLR", got "StepLR"/, { ...t, scheduler: exp as unknown as optim.StepLR });
    const noSched = dir.path('no-sched.safetensors');
    const a = build(0, 'sgd');
    saveCheckpoint(noSched, { model: a.model, optimizer: a.optimizer });
    refused(noSched, /a scheduler state must be in the file/);
  });

  it('bad metadata JSON', () => {
    const p = write('json.safetensors', resign(good, (_, md) => {
      md['tapegrad.meta'] = '{"epoch": 1,';
    }));
    refused(p, /metadata 'tapegrad\.meta' must be valid JSON/);
    const q = write('json2.safetensors', resign(good, (_, md) => {
      md['tapegrad.optimizer'] = '[1, 2]';
    }));
    refused(q, /metadata 'tapegrad\.optimizer' must be \{/);
    const r = write('json3.safetensors', resign(good, (_, md) => {
      md['tapegrad.rng'] = JSON.stringify({ words: [1, 2, 3], spare: '00' });
    }));
    refused(r, /metadata 'tapegrad\.rng' must be/);
  });

  it('a wrong or missing format version', () => {
    const p = write('format.safetensors', resign(good, (_, md) => {
      md['tapegrad.format'] = 'tapegrad-checkpoint/2';
    }));
    refused(p, /'tapegrad\.format' must be 'tapegrad-checkpoint\/1', got "tapegrad-checkpoint\/2"/);
    const q = write('format2.safetensors', resign(good, (_, md) => void delete md['tapegrad.format']));
    refused(q, /'tapegrad\.format' must be 'tapegrad-checkpoint\/1', got none/);
  });

  it('a corrupted byte in the data (valid safetensors, wrong checksum)', () => {
    const bytes = good.slice();
    bytes[bytes.length - 3] ^= 0x10;
    refused(write('flip.safetensors', bytes), /checksum must be sha256:[0-9a-f]{64}.*corrupted/);
  });

  it('a truncated file, an empty file, a directory, a non-existent path', () => {
    refused(write('trunc.safetensors', good.subarray(0, good.length - 100)), /not a valid safetensors file/);
    refused(write('trunc2.safetensors', good.subarray(0, 5)), /not a valid safetensors file.*at least 8 bytes/);
    refused(write('empty.safetensors', new Uint8Array(0)), /not a valid safetensors file/);
    refused(dir.path('nope/none.safetensors'), /must name a readable checkpoint file, got .*file does not exist/);
    const d = dir.path('a-dir');
    mkdirSync(d);
    refused(d, /must name a readable checkpoint file, got .*directory/);
  });

  it('bad arguments', () => {
    const t = build(0, 'sgd');
    expectCheckpointError(() => loadCheckpoint('', t), /^loadCheckpoint: path must be a non-empty string, got ''/);
    expect(() => loadCheckpoint(goodPath, null as never)).toThrow(ArgumentError);
    expect(() => loadCheckpoint(goodPath, null as never)).toThrow(/^loadCheckpoint: target must be an object of options or undefined, got null/);
    expectCheckpointError(() => loadCheckpoint(goodPath, { model: {} as never }), /^loadCheckpoint: target\.model must be an nn\.Module/);
    expectCheckpointError(() => saveCheckpoint(dir.path('x'), { model: 3 as never }), /^saveCheckpoint: contents\.model must be an nn\.Module, got/);
    expectCheckpointError(() => saveCheckpoint(dir.path('x'), { model: t.model, meta: { lr: NaN } }), /^saveCheckpoint: contents\.meta\.lr must be a finite number.*got NaN/);
    expectCheckpointError(() => saveCheckpoint(dir.path('x'), { model: t.model, meta: { when: new Date() } as never }), /meta\.when must be a plain object.*got/);
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expectCheckpointError(() => saveCheckpoint(dir.path('x'), { model: t.model, meta: cyc as never }), /cycles/);
    expectCheckpointError(() => readCheckpointInfo(dir.path('none')), /^readCheckpointInfo: path must name a readable checkpoint file, got/);
    expect(existsSync(dir.path('x'))).toBe(false);
  });
});

describe('saveCheckpoint is atomic', () => {
  afterEach(() => jest.restoreAllMocks());

  it('writes through writeFileAtomic', () => {
    const spy = jest.spyOn(atomic, 'writeFileAtomic');
    const path = dir.path('spy.safetensors');
    saveCheckpoint(path, { model: new nn.Affine(2, 2) });
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls[0][0]).toBe(path);
  });

  it('a write that fails before the rename leaves the old checkpoint intact and no temp file', () => {
    const path = dir.path('atomic/ckpt.safetensors');
    mkdirSync(dirname(path), { recursive: true });
    const a = build(0, 'sgd');
    saveCheckpoint(path, { ...a, meta: { v: 'old' } });
    const old = readFileSync(path);
    trainEpoch(a, data);
    jest.spyOn(fs, 'renameSync').mockImplementation(() => {
      throw Object.assign(new Error('EIO: simulated failure'), { code: 'EIO' });
    });
    const err = expectCheckpointError(() => saveCheckpoint(path, { ...a, meta: { v: 'new' } }), /^saveCheckpoint: path must be writable, got '.*ckpt\.safetensors': writeFileAtomic: .*simulated failure/);
    expect(err.cause).toBeInstanceOf(CheckpointError);
    jest.restoreAllMocks();
    expect(readFileSync(path).equals(old)).toBe(true);
    expect(readdirSync(dirname(path))).toEqual(['ckpt.safetensors']);
    expect(loadCheckpoint(path, build(1, 'sgd'))).toEqual({ v: 'old' });
    saveCheckpoint(path, { ...a, meta: { v: 'new' } });
    expect(loadCheckpoint(path, build(1, 'sgd'))).toEqual({ v: 'new' });
  });
});

describe('rollback when applying fails late', () => {
  it('a schedule whose loadStateDict throws leaves everything as it was', () => {
    const a = build(0, 'sgd');
    trainEpoch(a, data);
    const path = dir.path('rollback.safetensors');
    saveCheckpoint(path, a);
    const t = build(9, 'sgd');
    trainEpoch(t, data);
    const sched = {
      stateDict: () => ({ type: 'StepLR', epoch: 0, baseLr: 1 }),
      loadStateDict: (): void => {
        throw new RangeError('boom');
      },
    };
    const rng = getRngState();
    const before = snapshot({ ...t, scheduler: sched });
    expectCheckpointError(() => loadCheckpoint(path, { ...t, scheduler: sched }), /applying .* must succeed once validated, got a failure \(unexpected\): boom; everything was rolled back/);
    expect(snapshot({ ...t, scheduler: sched })).toEqual(before);
    setRngState(rng);
  });
});
