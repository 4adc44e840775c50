/** Learning-rate schedules against their closed forms, and their state round trip. */
import { ArgumentError, ValueError } from '../../src/errors';
import { Adam, CosineAnnealingLR, ExponentialLR, RMSProp, SGD, StepLR, type LRScheduler, type Optimizer } from '../../src/optim';
import { expectThrows, param, relErr } from './helpers';

const sgd = (lr = 0.8) => new SGD([param([1])], { lr });

/** The learning rates after each of `n` step() calls, checking getLastLr and optimizer.lr agree. */
function lrs(sched: LRScheduler, n: number): number[] {
  const out: number[] = [];
  for (let e = 0; e < n; e++) {
    const lr = sched.step();
    expect(sched.getLastLr()).toBe(lr);
    expect(sched.optimizer.lr).toBe(lr);
    out.push(lr);
  }
  return out;
}

describe('StepLR', () => {
  it('multiplies by gamma every stepSize epochs', () => {
    const opt = sgd(0.8);
    const sched = new StepLR(opt, { stepSize: 3, gamma: 0.5 });
    expect(sched.getLastLr()).toBe(0.8);
    expect(opt.lr).toBe(0.8);
    // epochs 1..10: floor(e/3) = 0 0 1 1 1 2 2 2 3 3
    expect(lrs(sched, 10)).toEqual([0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.1, 0.1]);
    expect(sched.lastEpoch).toBe(10);
  });

  it('defaults gamma to 0.1', () => {
    const sched = new StepLR(sgd(1), { stepSize: 2 });
    expect(sched.gamma).toBe(0.1);
    const got = lrs(sched, 4);
    expect(relErr(got, [1, 0.1, 0.1, 0.01])).toBeLessThanOrEqual(1e-15);
  });
});

describe('ExponentialLR', () => {
  it('multiplies by gamma every epoch', () => {
    const got = lrs(new ExponentialLR(sgd(0.5), { gamma: 0.9 }), 5);
    expect(relErr(got, [0.45, 0.405, 0.3645, 0.32805, 0.295245])).toBeLessThanOrEqual(1e-15);
  });
});

describe('CosineAnnealingLR', () => {
  it('follows etaMin + (base - etaMin)(1 + cos(pi t / T)) / 2, reaching etaMin exactly at tMax', () => {
    const sched = new CosineAnnealingLR(sgd(0.1), { tMax: 10, etaMin: 0.001 });
    const got = lrs(sched, 10);
    const expected = got.map((_, i) => 0.001 + (0.099 * (1 + Math.cos((Math.PI * (i + 1)) / 10))) / 2);
    expect(relErr(got, expected)).toBeLessThanOrEqual(1e-15);
    // t = 5: cos(pi/2) ~ 0: the midpoint 0.0505
    expect(got[4]).toBeCloseTo(0.0505, 15);
    expect(got[9]).toBe(0.001);
    for (let i = 1; i < got.length; i++) expect(got[i]).toBeLessThan(got[i - 1]);
  });

  it('defaults etaMin to 0 and, like PyTorch, climbs back after tMax', () => {
    const sched = new CosineAnnealingLR(sgd(1), { tMax: 4 });
    const got = lrs(sched, 8);
    // cos(pi/4), cos(pi/2), cos(3pi/4), cos(pi), ... -> (1 + c) / 2
    expect(relErr(got.slice(0, 3), [(1 + Math.SQRT1_2) / 2, 0.5, (1 - Math.SQRT1_2) / 2])).toBeLessThanOrEqual(1e-15);
    expect(got[3]).toBe(0);
    expect(got[7]).toBeCloseTo(1, 15);
  });
});

describe('schedule state', () => {
  it.each([
    ['StepLR', (lr: number) => new StepLR(sgd(lr), { stepSize: 2, gamma: 0.3 })],
    ['ExponentialLR', (lr: number) => new ExponentialLR(sgd(lr), { gamma: 0.7 })],
    ['CosineAnnealingLR', (lr: number) => new CosineAnnealingLR(sgd(lr), { tMax: 7, etaMin: 0.01 })],
  ])('%s: round trip restores epoch, baseLr and the optimizer lr', (type, make) => {
    const a = make(0.5);
    lrs(a, 4);
    const state = a.stateDict();
    expect(state).toEqual({ type, epoch: 4, baseLr: 0.5 });
    const b = make(3);
    b.loadStateDict(state);
    expect(b.lastEpoch).toBe(4);
    expect(b.baseLr).toBe(0.5);
    expect(b.getLastLr()).toBe(a.getLastLr());
    expect(b.optimizer.lr).toBe(a.optimizer.lr);
    expect(lrs(b, 3)).toEqual(lrs(a, 3));
  });

  it('rejects a bad state, listing the problems, and changes nothing', () => {
    const sched = new StepLR(sgd(0.5), { stepSize: 2 });
    sched.step();
    const msg = expectThrows(
      () => sched.loadStateDict({ type: 'CosineAnnealingLR', epoch: -1, baseLr: NaN }),
      ValueError,
      /^StepLR\.loadStateDict: nothing was loaded: state\.type must be 'StepLR', got "CosineAnnealingLR"; state\.epoch must be a non-negative integer, got -1; state\.baseLr must be a finite number >= 0, got NaN$/,
    );
    expect(msg).toBeTruthy();
    expectThrows(() => sched.validateStateDict({ type: 'StepLR', epoch: 2, baseLr: -1 }), ValueError, /baseLr must be a finite number >= 0, got -1/);
    expect(() => sched.validateStateDict({ type: 'StepLR', epoch: 9, baseLr: 2 })).not.toThrow();
    expectThrows(() => sched.loadStateDict({ type: 'StepLR', epoch: 1.5, baseLr: 1 }), ValueError, /epoch must be a non-negative integer, got 1\.5/);
    expectThrows(() => sched.loadStateDict(null as never), ArgumentError, /^StepLR\.loadStateDict: state must be/);
    expect(sched.stateDict()).toEqual({ type: 'StepLR', epoch: 1, baseLr: 0.5 });
    expect(sched.optimizer.lr).toBe(0.5);
  });
});

describe('bad schedule options', () => {
  const loose = <T>(ctor: new (...a: never[]) => T, ...args: unknown[]): T =>
    new (ctor as unknown as new (...a: unknown[]) => T)(...args);
  it.each([
    [() => new StepLR(sgd(), { stepSize: 0 }), /^StepLR: stepSize must be a positive integer, got 0$/],
    [() => new StepLR(sgd(), { stepSize: 1.5 }), /^StepLR: stepSize must be a positive integer, got 1\.5$/],
    [() => new StepLR(sgd(), { stepSize: 2, gamma: 0 }), /^StepLR: gamma must be a finite number > 0, got 0$/],
    [() => loose(StepLR, sgd(), {}), /^StepLR: stepSize must be a positive integer, got undefined$/],
    [() => new ExponentialLR(sgd(), { gamma: NaN }), /^ExponentialLR: gamma must be a finite number > 0, got NaN$/],
    [() => new CosineAnnealingLR(sgd(), { tMax: 0 }), /^CosineAnnealingLR: tMax must be a positive integer, got 0$/],
    [() => new CosineAnnealingLR(sgd(), { tMax: 10, etaMin: -1 }), /^CosineAnnealingLR: etaMin must be a finite number >= 0, got -1$/],
    [() => loose(CosineAnnealingLR, sgd(), { T_max: 10 }), /^CosineAnnealingLR: T_max is not an option of CosineAnnealingLR \(expected one of tMax, etaMin\), got 10 for it$/],
  ])('%#', (fn, pattern) => {
    expectThrows(fn, ValueError, pattern);
  });

  it('an optimizer that is not one throws ArgumentError', () => {
    expectThrows(() => loose(StepLR, { lr: 0.1 }, { stepSize: 1 }), ArgumentError, /^StepLR: optimizer must be an Optimizer \(e\.g\. optim\.SGD\), got object$/);
  });
});

it('every optimizer is an Optimizer a schedule accepts (type-level and at run time)', () => {
  const all: Optimizer[] = [new SGD([param([1])], { lr: 0.1 }), new Adam([param([1])]), new RMSProp([param([1])])];
  for (const opt of all) {
    const sched = new ExponentialLR(opt, { gamma: 0.5 });
    sched.step();
    expect(opt.lr).toBe(sched.baseLr * 0.5);
  }
});
