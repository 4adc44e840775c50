/**
 * optim.LinearLR and optim.ReduceLROnPlateau: learning-rate sequences against PyTorch, state
 * round trips through saveCheckpoint/loadCheckpoint, use with a Trainer, and every error.
 */
import { ArgumentError, CheckpointError, loadCheckpoint, manualSeed, nn, optim, saveCheckpoint, Tensor, Trainer, ValueError } from '../../src';
import { expectThrows } from '../helpers/errors';
import { blobs, tempDir } from '../checkpoint/helpers';
import fixtures from '../fixtures/torch_losses.json';

const dir = tempDir('tapegrad-sched-');
const sgd = (lr = 0.1): optim.SGD => new optim.SGD([Tensor.zeros([1], { requiresGrad: true })], { lr });
const close = (a: number, b: number): boolean => a === b || Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));

type PyKw = Record<string, number | string | undefined>;
function linearOpts(kw: PyKw): optim.LinearLROptions {
  return { startFactor: kw.start_factor as number | undefined, endFactor: kw.end_factor as number | undefined, totalIters: kw.total_iters as number | undefined };
}
function plateauOpts(kw: PyKw): optim.ReduceLROnPlateauOptions {
  const names: Record<string, string> = { threshold_mode: 'thresholdMode', min_lr: 'minLr' };
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kw)) o[names[k] ?? k] = v;
  return o as optim.ReduceLROnPlateauOptions;
}
const clean = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

describe('LinearLR against PyTorch', () => {
  it.each(fixtures.linearLR.map((c) => [JSON.stringify(c.kw), c] as const))('%s', (_k, c) => {
    const opt = sgd(c.baseLr);
    const s = new optim.LinearLR(opt, clean(linearOpts(c.kw as PyKw)));
    const lrs = [opt.lr];
    for (let i = 0; i < 10; i++) lrs.push(s.step());
    lrs.forEach((lr, i) => expect(close(lr, c.lrs[i])).toBe(true));
    expect(s.getLastLr()).toBe(opt.lr);
    expect(s.baseLr).toBe(c.baseLr);
  });
});

describe('ReduceLROnPlateau against PyTorch', () => {
  it.each(fixtures.reduceLROnPlateau.map((c) => [JSON.stringify(c.kw), c] as const))('%s', (_k, c) => {
    const opt = sgd(c.baseLr);
    const s = new optim.ReduceLROnPlateau(opt, plateauOpts(c.kw as PyKw));
    const metrics = c.metrics.map((m) => (m === 'NaN' ? NaN : (m as number)));
    metrics.forEach((m, i) => {
      expect(s.step(m)).toBe(opt.lr);
      expect(close(opt.lr, c.lrs[i])).toBe(true);
    });
    expect(s.lastEpoch).toBe(metrics.length);
  });
});

describe('state round trips through checkpoints', () => {
  function model(): nn.Sequential {
    manualSeed(1);
    return new nn.Sequential(new nn.Affine(2, 3));
  }

  it('ReduceLROnPlateau resumes exactly: the same lrs as an uninterrupted run', () => {
    const c = fixtures.reduceLROnPlateau[1];
    const metrics = c.metrics as number[];
    const kw = plateauOpts(c.kw as PyKw);
    const m = model();
    const opt = new optim.SGD(m.parameters(), { lr: 0.1 });
    const s = new optim.ReduceLROnPlateau(opt, kw);
    for (const v of metrics.slice(0, 9)) s.step(v);
    const path = dir.path('plateau.safetensors');
    saveCheckpoint(path, { model: m, optimizer: opt, scheduler: s });
    const saved = s.stateDict();
    expect(saved.numBadEpochs + saved.cooldownCounter).toBeGreaterThan(0); // mid-plateau: the counters matter
    const rest = metrics.slice(9).map((v) => s.step(v));

    const m2 = model();
    const opt2 = new optim.SGD(m2.parameters(), { lr: 0.1 });
    const s2 = new optim.ReduceLROnPlateau(opt2, kw);
    loadCheckpoint(path, { model: m2, optimizer: opt2, scheduler: s2 });
    expect(s2.lastEpoch).toBe(9);
    expect(s2.stateDict()).toEqual(saved);
    expect(metrics.slice(9).map((v) => s2.step(v))).toEqual(rest);
    expect(s2.stateDict()).toEqual(s.stateDict());
  });

  it('the state is plain JSON (null and strings for the infinite bests)', () => {
    const s = new optim.ReduceLROnPlateau(sgd(), { mode: 'max' });
    expect(s.stateDict()).toEqual({ type: 'ReduceLROnPlateau', epoch: 0, mode: 'max', best: null, numBadEpochs: 0, cooldownCounter: 0, lr: 0.1 });
    s.step(Infinity);
    expect(s.stateDict().best).toBe('Infinity');
    const t = new optim.ReduceLROnPlateau(sgd(), { mode: 'max' });
    t.loadStateDict(JSON.parse(JSON.stringify(s.stateDict())) as optim.ReduceLROnPlateauState);
    expect(t.best).toBe(Infinity);
    const u = new optim.ReduceLROnPlateau(sgd());
    u.step(-Infinity);
    expect(u.stateDict().best).toBe('-Infinity');
    u.step(2);
    expect(u.numBadEpochs).toBe(1);
  });

  it('LinearLR resumes at its epoch (the optimizer lr restored too)', () => {
    const m = model();
    const opt = new optim.SGD(m.parameters(), { lr: 0.2 });
    const s = new optim.LinearLR(opt, { startFactor: 0.25, totalIters: 4 });
    s.step();
    s.step();
    const path = dir.path('linear.safetensors');
    saveCheckpoint(path, { model: m, optimizer: opt, scheduler: s });
    const lrAtSave = opt.lr;
    const after = [s.step(), s.step(), s.step()];
    const m2 = model();
    const opt2 = new optim.SGD(m2.parameters(), { lr: 0.2 });
    const s2 = new optim.LinearLR(opt2, { startFactor: 0.25, totalIters: 4 });
    loadCheckpoint(path, { model: m2, optimizer: opt2, scheduler: s2 });
    expect(s2.lastEpoch).toBe(2);
    expect(opt2.lr).toBe(lrAtSave);
    expect(lrAtSave).toBeCloseTo(0.2 * (0.25 + (0.75 * 2) / 4), 15);
    expect([s2.step(), s2.step(), s2.step()]).toEqual(after);
  });

  it('a state of the wrong type or mode is refused before anything changes', () => {
    const m = model();
    const opt = new optim.SGD(m.parameters(), { lr: 0.1 });
    const s = new optim.ReduceLROnPlateau(opt, { mode: 'min' });
    s.step(1);
    const path = dir.path('plateau-min.safetensors');
    saveCheckpoint(path, { model: m, optimizer: opt, scheduler: s });
    const other = new optim.ReduceLROnPlateau(sgd(0.3), { mode: 'max' });
    expectThrows(() => loadCheckpoint(path, { model: model(), scheduler: other }), CheckpointError, /state\.mode must be 'max' like this schedule, got "min"/);
    expect(other.lastEpoch).toBe(0);
    expect(other.optimizer.lr).toBe(0.3);
    const step = new optim.StepLR(sgd(), { stepSize: 2 });
    expectThrows(() => loadCheckpoint(path, { model: model(), scheduler: step }), CheckpointError, /scheduler type must be "StepLR", got "ReduceLROnPlateau"/);
  });

  it('loadStateDict lists every problem and changes nothing', () => {
    const s = new optim.ReduceLROnPlateau(sgd());
    s.step(1);
    const before = s.stateDict();
    const msg = expectThrows(
      () => s.loadStateDict({ type: 'StepLR', epoch: -1, mode: 'min', best: NaN, numBadEpochs: 1.5, cooldownCounter: -2, lr: Infinity } as never),
      ValueError,
      /^ReduceLROnPlateau\.loadStateDict: nothing was loaded: /,
    );
    for (const part of ['state.type', 'state.epoch', 'state.best', 'state.numBadEpochs', 'state.cooldownCounter', 'state.lr']) expect(msg).toContain(part);
    expect(s.stateDict()).toEqual(before);
    expectThrows(() => s.loadStateDict(null as never), ArgumentError, /^ReduceLROnPlateau\.loadStateDict: state must be a schedule state dict object/);
  });
});

describe('with a Trainer', () => {
  it('ReduceLROnPlateau steps from callbacks.onEpochEnd with the validation accuracy; the scheduler option refuses to step it without a metric', () => {
    const data = blobs(60);
    manualSeed(2);
    const m = new nn.Sequential(new nn.Affine(2, 8), new nn.ReLU(), new nn.Affine(8, 3));
    const opt = new optim.SGD(m.parameters(), { lr: 0.05 });
    const plateau = new optim.ReduceLROnPlateau(opt, { mode: 'max', patience: 0, factor: 0.5 });
    const seen: number[] = [];
    const trainer = new Trainer(m, {
      optimizer: opt,
      epochs: 4,
      batchSize: 20,
      callbacks: { onEpochEnd: (info) => void seen.push(plateau.step(info.valAcc)) },
    });
    trainer.fit(data, data);
    expect(plateau.lastEpoch).toBe(4);
    expect(seen[3]).toBe(opt.lr);

    const bad = new Trainer(m, { optimizer: opt, epochs: 1, batchSize: 20, scheduler: plateau as never });
    expectThrows(() => bad.fit(data), ArgumentError, /^ReduceLROnPlateau\.step: metric must be a number .*got undefined; with a Trainer, call it from callbacks\.onEpochEnd/);
  });
});

describe('errors', () => {
  it('LinearLR options', () => {
    const opt = sgd();
    for (const [o, re] of [
      [{ startFactor: 0 }, /^LinearLR: startFactor must be a number in \(0, 1\], got 0$/],
      [{ startFactor: 1.5 }, /^LinearLR: startFactor must be a number in \(0, 1\], got 1\.5$/],
      [{ endFactor: -0.1 }, /^LinearLR: endFactor must be a number in \[0, 1\], got -0\.1$/],
      [{ totalIters: 0 }, /^LinearLR: totalIters must be a positive integer, got 0$/],
      [{ totalIters: 2.5 }, /^LinearLR: totalIters must be a positive integer/],
      [{ warmup: 3 }, /^LinearLR: warmup is not an option of LinearLR/],
    ] as const) {
      expectThrows(() => new optim.LinearLR(opt, o as never), ValueError, re);
    }
    expectThrows(() => new optim.LinearLR(opt, 5 as never), ArgumentError, /^LinearLR: opts must be an object/);
    expectThrows(() => new optim.LinearLR({} as never), ArgumentError, /^LinearLR: optimizer must be an Optimizer/);
    expect(opt.lr).toBe(0.1);
  });

  it('ReduceLROnPlateau options and metric', () => {
    const opt = sgd();
    for (const [o, re] of [
      [{ mode: 'minimum' }, /^ReduceLROnPlateau: mode must be 'min' or 'max', got/],
      [{ factor: 1 }, /^ReduceLROnPlateau: factor must be a number in \(0, 1\), got 1$/],
      [{ factor: 0 }, /^ReduceLROnPlateau: factor must be a number in \(0, 1\), got 0$/],
      [{ patience: -1 }, /^ReduceLROnPlateau: patience must be a non-negative integer, got -1$/],
      [{ threshold: NaN }, /^ReduceLROnPlateau: threshold must be a finite number >= 0, got NaN$/],
      [{ thresholdMode: 'relative' }, /^ReduceLROnPlateau: thresholdMode must be 'rel' or 'abs'/],
      [{ cooldown: 0.5 }, /^ReduceLROnPlateau: cooldown must be a non-negative integer/],
      [{ minLr: -1 }, /^ReduceLROnPlateau: minLr must be a finite number >= 0/],
      [{ eps: Infinity }, /^ReduceLROnPlateau: eps must be a finite number >= 0/],
      [{ min_lr: 0.1 }, /^ReduceLROnPlateau: min_lr is not an option of ReduceLROnPlateau/],
    ] as const) {
      expectThrows(() => new optim.ReduceLROnPlateau(opt, o as never), ValueError, re);
    }
    expectThrows(() => new optim.ReduceLROnPlateau('opt' as never), ArgumentError, /^ReduceLROnPlateau: optimizer must be an Optimizer/);
    const s = new optim.ReduceLROnPlateau(opt);
    expectThrows(() => s.step('0.5' as never), ArgumentError, /^ReduceLROnPlateau\.step: metric must be a number/);
    expect(s.lastEpoch).toBe(0);
  });
});
