/**
 * Checkpoints refuse crafted PRNG states and over-deep JSON with a CheckpointError (changing
 * nothing), check their options objects, and give every tensor they write a new version.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { ArgumentError, CheckpointError, getRngState, manualSeed, setRngState, Tensor, ValueError } from '../../src';
import { CHECKPOINT_MAX_JSON_DEPTH, loadCheckpoint, saveCheckpoint } from '../../src/checkpoint';
import { blobs, build, resign, snapshot, tempDir, trainEpoch } from './helpers';

const dir = tempDir('tapegrad-ckpt-hard-');
const data = blobs(40);

function nested(depth: number): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let cur = root;
  for (let i = 1; i < depth; i++) {
    const next: Record<string, unknown> = {};
    cur.a = next;
    cur = next;
  }
  return root;
}

function goodFile(name: string): { path: string; bytes: Uint8Array } {
  const a = build(0, 'sgd');
  trainEpoch(a, data);
  const path = dir.path(name);
  saveCheckpoint(path, { ...a, meta: { epoch: 1 } });
  return { path, bytes: new Uint8Array(readFileSync(path)) };
}

describe('a crafted PRNG state', () => {
  it.each<[string, { words?: number[]; spare?: string }, RegExp]>([
    ['all-zero words', { words: [0, 0, 0, 0] }, /metadata 'tapegrad\.rng' must not have all four words zero/],
    ['+Infinity spare', { spare: '7ff0000000000000' }, /metadata 'tapegrad\.rng' must have a finite spare normal or NaN \(none\), got Infinity/],
    ['-Infinity spare', { spare: 'fff0000000000000' }, /got -Infinity/],
  ])('%s is a CheckpointError, and the model, optimizer and PRNG stay as they were', (label, edit, pattern) => {
    const { bytes } = goodFile(`rng-good-${label}.safetensors`);
    const path = dir.path(`rng-${label.replace(/\W+/g, '_')}.safetensors`);
    writeFileSync(path, resign(bytes, (_t, m) => {
      const r = JSON.parse(m['tapegrad.rng']) as { words: number[]; spare: string };
      m['tapegrad.rng'] = JSON.stringify({ ...r, ...edit });
    }));
    const t = build(3, 'sgd');
    manualSeed(99);
    Tensor.randn([1]); // a spare is cached
    const before = snapshot(t);
    expect(() => loadCheckpoint(path, t)).toThrow(CheckpointError);
    expect(() => loadCheckpoint(path, t)).toThrow(pattern);
    expect(snapshot(t)).toEqual(before);
    expect(Number.isFinite(Tensor.randn([3]).data[2])).toBe(true); // and drawing still works
  });
});

describe('JSON nesting is bounded', () => {
  it(`meta nested up to ${CHECKPOINT_MAX_JSON_DEPTH} levels is saved and loaded; deeper is a CheckpointError on save`, () => {
    const a = build(0, 'sgd');
    const ok = dir.path('deep-ok.safetensors');
    saveCheckpoint(ok, { model: a.model, meta: nested(CHECKPOINT_MAX_JSON_DEPTH) as never });
    expect(loadCheckpoint(ok, { model: a.model, restoreRngState: false })).toEqual(nested(CHECKPOINT_MAX_JSON_DEPTH));
    for (const depth of [CHECKPOINT_MAX_JSON_DEPTH + 1, 20_000]) {
      const f = () => saveCheckpoint(dir.path('deep.safetensors'), { model: a.model, meta: nested(depth) as never });
      expect(f).toThrow(CheckpointError);
      expect(f).toThrow(new RegExp(`^saveCheckpoint: contents\\.meta must nest at most ${CHECKPOINT_MAX_JSON_DEPTH} levels deep, got deeper at meta\\.a\\.a`));
    }
    const sched = { stateDict: () => nested(20_000), loadStateDict: () => undefined };
    expect(() => saveCheckpoint(dir.path('deep.safetensors'), { model: a.model, scheduler: sched })).toThrow(/contents\.scheduler\.stateDict\(\) must nest at most 64 levels deep/);
  });

  it.each(['tapegrad.meta', 'tapegrad.scheduler'])('a crafted file with %s nested 20,000 deep is a CheckpointError on load, changing nothing', (key) => {
    const a = build(0, 'sgd');
    const path0 = dir.path(`deep-src-${key}.safetensors`);
    saveCheckpoint(path0, a);
    const path = dir.path(`deep-${key}.safetensors`);
    writeFileSync(path, resign(new Uint8Array(readFileSync(path0)), (_t, m) => {
      m[key] = '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000);
    }));
    const t = build(4, 'sgd');
    const before = snapshot(t);
    expect(() => loadCheckpoint(path, t)).toThrow(CheckpointError);
    expect(() => loadCheckpoint(path, t)).toThrow(new RegExp(`metadata '${key.replace('.', '\\.')}' must nest at most 64 levels deep, got 20000`));
    expect(snapshot(t)).toEqual(before);
  });
});

describe('options objects', () => {
  it('null or a non-object is an ArgumentError, an unknown key a ValueError', () => {
    const a = build(0, 'sgd');
    const p = dir.path('opts.safetensors');
    saveCheckpoint(p, a);
    const cases: [() => unknown, new (...args: never[]) => Error, RegExp][] = [
      [() => saveCheckpoint(p, null as never), ArgumentError, /^saveCheckpoint: contents must be an object of options or undefined, got null/],
      [() => saveCheckpoint(p, [a.model] as never), ArgumentError, /^saveCheckpoint: contents must be an object/],
      [() => saveCheckpoint(p, { model: a.model, optimzer: a.optimizer } as never), ValueError, /^saveCheckpoint: optimzer is not an option of saveCheckpoint \(expected one of model, optimizer, scheduler, meta, includeRngState, trainer\)/],
      [() => saveCheckpoint(p, undefined as never), CheckpointError, /^saveCheckpoint: contents must be an object \{ model/],
      [() => loadCheckpoint(p, null as never), ArgumentError, /^loadCheckpoint: target must be an object of options or undefined, got null/],
      [() => loadCheckpoint(p, { model: a.model, restoreRNGState: false } as never), ValueError, /^loadCheckpoint: restoreRNGState is not an option of loadCheckpoint/],
      [() => loadCheckpoint(p, { model: a.model, constructor: 1 } as never), ValueError, /^loadCheckpoint: constructor is not an option/],
    ];
    for (const [f, cls, pattern] of cases) {
      expect(f).toThrow(cls);
      expect(f).toThrow(pattern);
    }
  });
});

describe('versions', () => {
  it('loading bumps the version of every parameter and buffer it writes; a refused load bumps none', () => {
    const { path, bytes } = goodFile('versions.safetensors');
    const t = build(5, 'sgd');
    const tensors = [...t.model.stateDict().values()];
    const v0 = tensors.map((x) => x.version);
    const rng = getRngState();
    loadCheckpoint(path, t);
    setRngState(rng);
    const v1 = tensors.map((x) => x.version);
    v1.forEach((v, i) => expect(v).toBeGreaterThan(v0[i]));

    const bad = dir.path('versions-bad.safetensors');
    writeFileSync(bad, resign(bytes, (_t, m) => { m['tapegrad.meta'] = '[]'; }));
    expect(() => loadCheckpoint(bad, t)).toThrow(CheckpointError);
    expect(tensors.map((x) => x.version)).toEqual(v1);
  });
});
