/**
 * stateDict / loadStateDict: a resumed run is bit-identical to an uninterrupted one, and a bad
 * state is rejected with every problem listed and nothing changed.
 */
import { DTypeError, ArgumentError, ShapeError, ValueError } from '../../src/errors';
import { Adam, RMSProp, SGD, StepLR, type Optimizer, type OptimizerState } from '../../src/optim';
import { Tensor } from '../../src/tensor';
import { expectBitIdentical, expectThrows, setGrad, syntheticGrad } from './helpers';

type DT = 'float64' | 'float32';

/** Three parameters of different shapes, the same values every time. */
function makeParams(dtype: DT): Tensor[] {
  const shapes = [[3], [2, 2], [1]];
  let k = 0;
  return shapes.map((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = Array.from({ length: n }, () => Math.cos(1.3 * ++k) * 2);
    const data = dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values);
    return new Tensor(data, shape, { requiresGrad: true });
  });
}

/** Steps `from` .. `to`-1; params[2] gets no gradient on steps 0 and 1 (so it has no slots yet). */
function train(opt: Optimizer, params: Tensor[], from: number, to: number): void {
  for (let s = from; s < to; s++) {
    params.forEach((p, i) => {
      if (i === 2 && s < 2) p.grad = null;
      else setGrad(p, syntheticGrad(p, s * 7 + i));
    });
    opt.step();
  }
}

/** Copies of the parameters' current values, as new leaf tensors. */
function snapshot(params: Tensor[]): Tensor[] {
  return params.map((p) => p.clone({ requiresGrad: true }));
}

function copyState(s: OptimizerState): OptimizerState {
  return {
    type: s.type,
    hyper: JSON.parse(JSON.stringify(s.hyper)) as OptimizerState['hyper'],
    step: s.step,
    slots: new Map([...s.slots].map(([k, v]) => [k, v.slice()])),
  };
}

const CONFIGS: [string, (ps: Tensor[]) => Optimizer, (ps: Tensor[]) => Optimizer][] = [
  ['SGD nesterov + weight decay', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 }), (ps) => new SGD(ps, { lr: 7 })],
  ['SGD dampening', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.5, dampening: 0.3 }), (ps) => new SGD(ps, { lr: 7, momentum: 0.1 })],
  ['SGD plain', (ps) => new SGD(ps, { lr: 0.05 }), (ps) => new SGD(ps, { lr: 7, momentum: 0.9 })],
  ['Adam L2', (ps) => new Adam(ps, { lr: 0.02, betas: [0.8, 0.99], weightDecay: 0.1 }), (ps) => new Adam(ps)],
  ['AdamW', (ps) => new Adam(ps, { lr: 0.02, weightDecay: 0.1, decoupledWeightDecay: true }), (ps) => new Adam(ps, { lr: 1 })],
  ['RMSProp momentum', (ps) => new RMSProp(ps, { lr: 0.01, momentum: 0.7, weightDecay: 0.05 }), (ps) => new RMSProp(ps)],
  ['RMSProp', (ps) => new RMSProp(ps, { lr: 0.01, alpha: 0.9 }), (ps) => new RMSProp(ps, { momentum: 0.5 })],
];

const TOTAL = 9;

describe.each(CONFIGS)('%s: resume from stateDict is bit-exact', (_name, make, makeOther) => {
  it.each([
    [0, 'float64'],
    [1, 'float64'],
    [2, 'float32'],
    [5, 'float64'],
    [5, 'float32'],
  ] as [number, DT][])('saved after %i steps (%s)', (k, dtype) => {
    // The uninterrupted run.
    const a = makeParams(dtype);
    train(make(a), a, 0, TOTAL);

    // The interrupted run: k steps, save, keep going (its state must not leak into the saved copy).
    const b = makeParams(dtype);
    const optB = make(b);
    train(optB, b, 0, k);
    const saved = optB.stateDict();
    const savedCopy = copyState(saved);
    const savedParams = snapshot(b);
    train(optB, b, k, TOTAL);
    b.forEach((p, i) => expectBitIdentical(p.data, a[i].data));
    expect(saved.step).toBe(k);
    for (const [key, v] of saved.slots) expectBitIdentical(v, savedCopy.slots.get(key) as Float64Array);

    // Resume in a fresh optimizer with other hyper-parameters, over fresh copies of the parameters.
    const c = snapshot(savedParams);
    const optC = makeOther(c);
    optC.loadStateDict(saved);
    expect(optC.stateDict().hyper).toEqual(saved.hyper);
    expect(optC.stepCount).toBe(k);
    train(optC, c, k, TOTAL);
    c.forEach((p, i) => expectBitIdentical(p.data, a[i].data));

    // Resume in an optimizer that already has state of its own (every slot allocated).
    const d = snapshot(savedParams);
    const optD = make(d);
    train(optD, d, 2, 5);
    d.forEach((p, i) => p.data.set(savedParams[i].data));
    optD.loadStateDict(saved);
    train(optD, d, k, TOTAL);
    d.forEach((p, i) => expectBitIdentical(p.data, a[i].data));
  });
});

it('slot keys, dtypes and absent slots for a parameter without a gradient yet', () => {
  const ps = makeParams('float32');
  const opt = new Adam(ps);
  train(opt, ps, 0, 1);
  const s = opt.stateDict();
  expect(s.type).toBe('Adam');
  expect(s.step).toBe(1);
  expect([...s.slots.keys()]).toEqual(['0.expAvg', '0.expAvgSq', '1.expAvg', '1.expAvgSq']);
  for (const v of s.slots.values()) expect(v).toBeInstanceOf(Float32Array);
  expect(s.slots.get('1.expAvg')?.length).toBe(4);
});

it('resumes bit-exactly with a StepLR schedule saved alongside', () => {
  const epochs = 6;
  const perEpoch = 2;
  const run = (opt: Optimizer, sched: StepLR, ps: Tensor[], from: number, to: number) => {
    for (let e = from; e < to; e++) {
      train(opt, ps, e * perEpoch, (e + 1) * perEpoch);
      sched.step();
    }
  };
  const a = makeParams('float64');
  const optA = new SGD(a, { lr: 0.1, momentum: 0.9 });
  run(optA, new StepLR(optA, { stepSize: 2, gamma: 0.5 }), a, 0, epochs);

  const b = makeParams('float64');
  const optB = new SGD(b, { lr: 0.1, momentum: 0.9 });
  const schedB = new StepLR(optB, { stepSize: 2, gamma: 0.5 });
  run(optB, schedB, b, 0, 3);
  const optState = optB.stateDict();
  const schedState = schedB.stateDict();
  expect(schedState).toEqual({ type: 'StepLR', epoch: 3, baseLr: 0.1 });
  expect(optState.hyper.lr).toBe(0.05);

  const c = snapshot(b);
  const optC = new SGD(c, { lr: 3 });
  const schedC = new StepLR(optC, { stepSize: 2, gamma: 0.5 });
  optC.loadStateDict(optState);
  schedC.loadStateDict(schedState);
  expect(optC.lr).toBe(0.05);
  run(optC, schedC, c, 3, epochs);
  c.forEach((p, i) => expectBitIdentical(p.data, a[i].data));
  expect(optC.lr).toBe(optA.lr);
});

describe('loadStateDict rejects a bad state and changes nothing', () => {
  /** A valid Adam state over makeParams' shapes, different from what the twins hold. */
  function donorState(): OptimizerState {
    const ps = makeParams('float64');
    const opt = new Adam(ps, { lr: 0.5, betas: [0.5, 0.6] });
    train(opt, ps, 3, 8);
    return opt.stateDict();
  }

  type Corrupt = (s: OptimizerState) => unknown;
  const cases: [string, Corrupt, new (...a: never[]) => Error, RegExp][] = [
    ['wrong type', (s) => ({ ...s, type: 'SGD' }), ValueError, /state\.type must be 'Adam', got "SGD"/],
    ['slot of a parameter that does not exist', (s) => (s.slots.set('3.expAvg', new Float64Array(1)), s), ValueError, /'3\.expAvg' refers to params\[3\], but this optimizer has 3 parameters/],
    [
      'state of an optimizer with more parameters',
      () => {
        const ps = [...makeParams('float64'), new Tensor(new Float64Array(2), [2], { requiresGrad: true })];
        const opt = new Adam(ps);
        train(opt, ps, 2, 4);
        return opt.stateDict();
      },
      ValueError,
      /'3\.expAvg' refers to params\[3\]/,
    ],
    ['wrong length', (s) => (s.slots.set('1.expAvg', new Float64Array(3)), s), ShapeError, /'1\.expAvg' must have length 4 like params\[1\] \[2, 2\], got 3/],
    ['wrong dtype', (s) => (s.slots.set('0.expAvgSq', new Float32Array(3)), s), DTypeError, /'0\.expAvgSq' must have dtype 'float64' like params\[0\], got 'float32'/],
    ['not a typed array', (s) => (s.slots.set('0.expAvg', [1, 2, 3] as unknown as Float64Array), s), DTypeError, /'0\.expAvg' must be a Float64Array or Float32Array, got \[1,2,3\]/],
    ['one slot of a pair missing', (s) => (s.slots.delete('0.expAvgSq'), s), ValueError, /all of params\[0\]'s slots or none: has '0\.expAvg', missing '0\.expAvgSq'/],
    ['unknown slot name', (s) => (s.slots.set('0.momentumBuffer', new Float64Array(3)), s), ValueError, /slot name must be one of 'expAvg', 'expAvgSq', got 'momentumBuffer'/],
    ['malformed slot key', (s) => (s.slots.set('expAvg', new Float64Array(3)), s), ValueError, /'expAvg': key must look like '<paramIndex>\.<slotName>'/],
    ['slots not a Map', (s) => ({ ...s, slots: Object.fromEntries(s.slots) }), ValueError, /state\.slots must be a Map/],
    ['betas out of range', (s) => ({ ...s, hyper: { ...s.hyper, betas: [0.9, 1] } }), ValueError, /state\.hyper\.betas must be an array of two numbers, each in \[0, 1\), got \[0\.9,1\]/],
    ['hyper-parameter missing', (s) => ({ ...s, hyper: { ...s.hyper, eps: undefined } }), ValueError, /state\.hyper\.eps must be a finite number >= 0, got undefined/],
    ['hyper-parameter of the wrong kind', (s) => ({ ...s, hyper: { ...s.hyper, decoupledWeightDecay: 1 } }), ValueError, /state\.hyper\.decoupledWeightDecay must be a boolean, got 1/],
    ['lr not a number', (s) => ({ ...s, hyper: { ...s.hyper, lr: 'fast' } }), ValueError, /state\.hyper\.lr must be a finite number >= 0, got "fast"/],
    ['unknown hyper-parameter', (s) => ({ ...s, hyper: { ...s.hyper, amsgrad: true } }), ValueError, /state\.hyper\.amsgrad is not a hyper-parameter of this optimizer/],
    ['negative step', (s) => ({ ...s, step: -1 }), ValueError, /state\.step must be a non-negative integer, got -1/],
    ['fractional step', (s) => ({ ...s, step: 2.5 }), ValueError, /state\.step must be a non-negative integer, got 2\.5/],
    ['not an object', () => null, ArgumentError, /^Adam\.loadStateDict: state must be an optimizer state dict object, got null$/],
  ];

  it.each(cases)('%s', (_name, corrupt, cls, pattern) => {
    const x = makeParams('float64');
    const y = makeParams('float64');
    const optX = new Adam(x, { lr: 0.01 });
    const optY = new Adam(y, { lr: 0.01 });
    train(optX, x, 0, 3);
    train(optY, y, 0, 3);
    const bad = corrupt(donorState()) as OptimizerState;

    expectThrows(() => optX.validateStateDict(bad), cls, pattern);
    const msg = expectThrows(() => optX.loadStateDict(bad), cls, pattern);
    if (cls !== ArgumentError) expect(msg).toMatch(/^Adam\.loadStateDict: nothing was loaded/);

    expect(optX.lr).toBe(0.01);
    expect(optX.stepCount).toBe(3);
    const sx = optX.stateDict();
    const sy = optY.stateDict();
    expect(sx.hyper).toEqual(sy.hyper);
    expect([...sx.slots.keys()]).toEqual([...sy.slots.keys()]);
    for (const [key, v] of sx.slots) expectBitIdentical(v, sy.slots.get(key) as Float64Array);
    train(optX, x, 3, 6);
    train(optY, y, 3, 6);
    x.forEach((p, i) => expectBitIdentical(p.data, y[i].data));
  });

  it('lists every problem, with the class of the first', () => {
    const s = donorState();
    s.slots.set('1.expAvg', new Float64Array(3));
    s.slots.set('2.expAvgSq', new Float32Array(1));
    const opt = new Adam(makeParams('float64'));
    const msg = expectThrows(() => opt.loadStateDict({ ...s, type: 'RMSProp' }), ValueError, /\(3 problems\)/);
    expect(msg).toMatch(/state\.type must be 'Adam', got "RMSProp"/);
    expect(msg).toMatch(/'1\.expAvg' must have length 4/);
    expect(msg).toMatch(/'2\.expAvgSq' must have dtype 'float64'/);
    expectThrows(() => opt.loadStateDict(s), ShapeError, /\(2 problems\)/);
    expect(opt.stepCount).toBe(0);
  });

  it('SGD: nesterov without momentum in a state is rejected', () => {
    const ps = makeParams('float64');
    const opt = new SGD(ps, { lr: 0.1 });
    const s = opt.stateDict();
    expectThrows(
      () => opt.loadStateDict({ ...s, hyper: { ...s.hyper, nesterov: true } }),
      ValueError,
      /state\.hyper\.nesterov must be false unless momentum > 0 and dampening = 0, got nesterov true with momentum 0/,
    );
    expect(opt.nesterov).toBe(false);
  });

  it('a state from a float32 run does not load into float64 parameters', () => {
    const p32 = makeParams('float32');
    const o32 = new RMSProp(p32);
    train(o32, p32, 0, 3);
    const opt = new RMSProp(makeParams('float64'));
    const msg = expectThrows(() => opt.loadStateDict(o32.stateDict()), DTypeError, /\(3 problems\)/);
    expect(msg).toMatch(/'0\.squareAvg' must have dtype 'float64' like params\[0\], got 'float32'/);
  });
});
