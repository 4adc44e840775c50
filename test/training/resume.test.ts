/**
 * Trainer resume is bit-exact with every option: N epochs straight end on exactly the weights
 * (and best score, and optimizer state) that K epochs + saveCheckpoint + fresh objects +
 * loadCheckpoint + resume end on, with restoreBest true (the default) and false, whether the
 * checkpoint is written after fit() returned or from onEpochEnd.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArgumentError, CheckpointError, StateDictError, Tensor, Trainer, ValueError } from '../../src';
import { loadCheckpoint, readCheckpointInfo, saveCheckpoint } from '../../src/checkpoint';
import type { RawTensor } from '../../src/io';
import { blobs, build, resign, snapshot } from '../checkpoint/helpers';

let root = '';
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'tapegrad-resume-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const train = blobs(60);
/**
 * A noisy validation set (its own LCG, not the global PRNG) on which the best epoch falls
 * before, at and after the checkpoint's epoch depending on the seed.
 */
const val = (() => {
  const n = 90;
  const x = new Float64Array(n * 2);
  const y = new Int32Array(n);
  let s = 777;
  const rnd = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  for (let i = 0; i < n; i++) {
    y[i] = i % 3;
    x[2 * i] = Math.cos((2 * Math.PI * y[i]) / 3) + 2.5 * rnd();
    x[2 * i + 1] = Math.sin((2 * Math.PI * y[i]) / 3) + 2.5 * rnd();
  }
  return { x: new Tensor(x, [n, 2]), y };
})();

type Parts = ReturnType<typeof build>;
const N = 6;
const K = 3;

function trainer(parts: Parts, restoreBest: boolean, epochs: number, callbacks?: ConstructorParameters<typeof Trainer>[1]['callbacks']): Trainer {
  return new Trainer(parts.model, {
    optimizer: parts.optimizer,
    scheduler: parts.scheduler,
    batchSize: 8,
    numTrainSamples: 20,
    epochs,
    restoreBest,
    callbacks,
  });
}

/** Bit patterns, so -0 vs 0 and NaN payloads would count as differences too. */
function bits(parts: Parts): [string, string][] {
  return [...parts.model.stateDict()].map(([k, t]) => [k, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('hex')]);
}

function straightRun(seed: number, restoreBest: boolean) {
  const parts = build(seed, 'adam');
  const t = trainer(parts, restoreBest, N);
  const h = t.fit(train, val);
  return { parts, t, h };
}

describe.each([true, false])('restoreBest: %s', (restoreBest) => {
  const bestEpochs: number[] = [];

  it.each([0, 1, 2, 3, 4, 5, 6, 7])('seed %i: %#', (seed) => {
    const straight = straightRun(seed, restoreBest);
    bestEpochs.push(straight.h.bestEpoch);

    for (const mode of ['after fit', 'in onEpochEnd'] as const) {
      const path = join(root, `s${seed}-${String(restoreBest)}-${mode.replace(/ /g, '_')}.safetensors`);
      const first = build(seed, 'adam');
      if (mode === 'after fit') {
        const t1 = trainer(first, restoreBest, K);
        t1.fit(train, val);
        saveCheckpoint(path, { ...first, trainer: t1 });
      } else {
        let t1: Trainer | undefined = undefined;
        t1 = trainer(first, restoreBest, N, {
          onEpochEnd: (e) => {
            if (e.epoch !== K) return undefined;
            saveCheckpoint(path, { ...first, trainer: t1! });
            return 'stop';
          },
        });
        t1.fit(train, val);
      }

      // Fresh objects, built from another seed so nothing carries over by accident.
      const resumed = build(seed + 1000, 'adam');
      const t2 = trainer(resumed, restoreBest, N);
      loadCheckpoint(path, { ...resumed, trainer: t2 });
      const epochAfterLoad = t2.epoch;
      const h2 = t2.fit(train, val);

      expect({ mode, weights: bits(resumed) }).toEqual({ mode, weights: bits(straight.parts) });
      expect(snapshot(resumed)).toEqual(snapshot(straight.parts)); // optimizer, schedule and PRNG too
      expect(epochAfterLoad).toBe(K);
      expect({ mode, best: [h2.bestValAcc, h2.bestEpoch] }).toEqual({ mode, best: [straight.h.bestValAcc, straight.h.bestEpoch] });
      expect([t2.bestValAcc, t2.bestEpoch, t2.epoch]).toEqual([straight.t.bestValAcc, straight.t.bestEpoch, N]);
      expect(h2.epochs.map((e) => e.epoch)).toEqual([4, 5, 6]);
      expect(h2.epochs.map((e) => [e.trainLoss, e.trainAcc, e.valAcc])).toEqual(straight.h.epochs.slice(K).map((e) => [e.trainLoss, e.trainAcc, e.valAcc]));
    }
  });

  it('the seeds exercised a best epoch that is not the last one (so restoring it matters)', () => {
    expect(bestEpochs).toHaveLength(8);
    if (process.env.RESUME_STATS) console.log({ restoreBest, bestEpochs });
    expect(bestEpochs.some((e) => e !== N)).toBe(true);
    expect(bestEpochs.some((e) => e <= K)).toBe(true); // the best state had to come from the checkpoint
    expect(bestEpochs.some((e) => e > K && e < N)).toBe(true); // a resumed best had to beat the restored score
  });
});

describe('trainer state in checkpoints', () => {
  it('readCheckpointInfo reports the trainer state; a file without one is refused for a trainer target', () => {
    const a = build(0, 'adam');
    const t1 = trainer(a, true, 2);
    t1.fit(train, val);
    const withT = join(root, 'info-trainer.safetensors');
    saveCheckpoint(withT, { ...a, trainer: t1 });
    const info = readCheckpointInfo(withT);
    expect(info.trainer).toEqual({ epoch: 2, bestValAcc: t1.bestValAcc, bestEpoch: t1.bestEpoch, hasBestState: true, hasLastState: t1.bestEpoch !== 2 });
    expect(info.keys.map((k) => k.name).some((n) => n.startsWith('trainer.'))).toBe(false);

    const without = join(root, 'info-none.safetensors');
    saveCheckpoint(without, a);
    expect(readCheckpointInfo(without).trainer).toBeNull();
    const b = build(1, 'adam');
    const t2 = trainer(b, true, 4);
    expect(() => loadCheckpoint(without, { ...b, trainer: t2 })).toThrow(CheckpointError);
    expect(() => loadCheckpoint(without, { ...b, trainer: t2 })).toThrow(/a trainer state must be in the file for target\.trainer, got none/);
    expect(t2.epoch).toBe(0);
  });

  it('a trainer of another model is refused on save and on load', () => {
    const a = build(0, 'adam');
    const other = build(1, 'adam');
    const t = trainer(other, true, 1);
    expect(() => saveCheckpoint(join(root, 'x.safetensors'), { ...a, trainer: t })).toThrow(/^saveCheckpoint: contents\.trainer must train contents\.model/);
    const p = join(root, 'ok.safetensors');
    saveCheckpoint(p, { ...other, trainer: t });
    expect(() => loadCheckpoint(p, { ...a, trainer: t })).toThrow(/^loadCheckpoint: target\.trainer must train target\.model/);
    expect(() => saveCheckpoint(p, { ...a, trainer: {} as never })).toThrow(/contents\.trainer must be a Trainer/);
  });

  it('a crafted trainer state that does not fit the model is refused, changing nothing', () => {
    const a = build(0, 'adam');
    const t1 = trainer(a, true, 2);
    t1.fit(train, val);
    const p = join(root, 'fit.safetensors');
    saveCheckpoint(p, { ...a, trainer: t1 });
    const good = new Uint8Array(readFileSync(p));
    const crafted: [string, (tensors: Map<string, RawTensor>, meta: Record<string, string>) => void, RegExp][] = [
      ['wrong shape', (t) => void t.set('trainer.best.0.bias', { dtype: 'float64', shape: [1], data: new Float64Array(1) }), /the trainer state must fit target\.trainer, got: .*'0\.bias': expected shape \[16\], got \[1\]/],
      ['best tensors without "best"', (_t, m) => { m['tapegrad.trainer'] = m['tapegrad.trainer'].replace('"best":true', '"best":false'); }, /tensor 'trainer\.best\..*' must not be present/],
      ['bestEpoch beyond epoch', (_t, m) => { m['tapegrad.trainer'] = m['tapegrad.trainer'].replace(/"bestEpoch":\d+/, '"bestEpoch":7'); }, /state\.bestEpoch must be an integer in \[0, epoch = 2\], got number 7/],
      ['not an object', (_t, m) => { m['tapegrad.trainer'] = '[1]'; }, /metadata 'tapegrad\.trainer' must be \{ "epoch": int/],
    ];
    const b = build(5, 'adam');
    const t2 = trainer(b, true, 4);
    const before = snapshot(b);
    for (const [label, edit, pattern] of crafted) {
      const path = join(root, `crafted-${label.replace(/\W+/g, '_')}.safetensors`);
      writeFileSync(path, resign(good, edit));
      expect(() => loadCheckpoint(path, { ...b, trainer: t2 })).toThrow(CheckpointError);
      expect(() => loadCheckpoint(path, { ...b, trainer: t2 })).toThrow(pattern);
      expect(snapshot(b)).toEqual(before);
      expect([t2.epoch, t2.bestEpoch, t2.bestState]).toEqual([0, 0, null]);
    }
  });

  it('Trainer.loadStateDict validates before changing anything', () => {
    const a = build(0, 'adam');
    const t = trainer(a, true, 3);
    t.fit(train, val);
    const good = t.stateDict();
    const b = build(1, 'adam');
    const t2 = trainer(b, true, 3);
    const cases: [unknown, new (...args: never[]) => Error, RegExp][] = [
      [null, ArgumentError, /state must be a TrainerState object/],
      [{ ...good, epoch: -1 }, ValueError, /state\.epoch must be an integer >= 0, got number -1/],
      [{ ...good, bestEpoch: 9 }, ValueError, /state\.bestEpoch must be an integer in \[0, epoch = 3\], got number 9/],
      [{ ...good, bestValAcc: 2 }, ValueError, /state\.bestValAcc must be an accuracy in \[0, 1\] or NaN/],
      [{ ...good, bestState: null }, ValueError, /must agree/],
      [{ ...good, bestState: new Map([['0.weight', Tensor.zeros([1])]]) }, StateDictError, /state\.bestState must fit Sequential, got missing keys/],
    ];
    for (const [state, cls, pattern] of cases) {
      expect(() => t2.loadStateDict(state as never)).toThrow(cls);
      expect(() => t2.loadStateDict(state as never)).toThrow(pattern);
    }
    expect([t2.epoch, t2.bestEpoch, t2.bestState]).toEqual([0, 0, null]);
    t2.loadStateDict(good);
    expect([t2.epoch, t2.bestEpoch, t2.bestValAcc]).toEqual([3, t.bestEpoch, t.bestValAcc]);
    // a copy: changing the source afterwards does not reach the trainer
    good.bestState!.get('0.weight')!.data[0] = 12345;
    expect(t2.bestState!.get('0.weight')!.data[0]).not.toBe(12345);
  });
});
