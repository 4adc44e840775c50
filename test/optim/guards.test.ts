/**
 * Issue 11 for the optimizers: zeroGrad's options are checked, names inherited from
 * Object.prototype are unknown options, parameters whose data share memory are refused, and
 * every in-place update bumps the tensor's version.
 */
import { ArgumentError, ValueError } from '../../src/errors';
import { nn, optim } from '../../src';
import { Adam, CosineAnnealingLR, ExponentialLR, RMSProp, SGD, StepLR } from '../../src/optim';
import { Tensor } from '../../src/tensor';
import { expectThrows, param, setGrad, vals } from './helpers';

const loose = <T>(ctor: new (...a: never[]) => T, ...args: unknown[]): T => new (ctor as unknown as new (...a: unknown[]) => T)(...args);

describe('zeroGrad checks its options', () => {
  it('null is an ArgumentError, not a TypeError, and nothing changes', () => {
    const a = param([1, 2]);
    const opt = new SGD([a], { lr: 0.1 });
    setGrad(a, [3, 4]);
    expectThrows(() => opt.zeroGrad(null as never), ArgumentError, /^SGD\.zeroGrad: opts must be an object of options or undefined, got null$/);
    expect(vals(a.grad!)).toEqual([3, 4]);
  });

  it("setToNone must be a boolean, and a misspelt option is an error", () => {
    const a = param([1]);
    const opt = new Adam([a]);
    setGrad(a, [3]);
    expectThrows(() => opt.zeroGrad({ setToNone: 'yes' as unknown as boolean }), ArgumentError, /^Adam\.zeroGrad: opts\.setToNone must be a boolean, got "yes"$/);
    expectThrows(() => opt.zeroGrad({ setTonone: true } as never), ValueError, /^Adam\.zeroGrad: setTonone is not an option of Adam\.zeroGrad/);
    expect(vals(a.grad!)).toEqual([3]);
    opt.zeroGrad({ setToNone: true });
    expect(a.grad).toBeNull();
  });
});

describe('names inherited from Object.prototype are unknown options', () => {
  const p = () => [param([1, 2])];
  it.each<[string, () => unknown, RegExp]>([
    ['constructor', () => loose(SGD, p(), { lr: 0.1, constructor: 1 }), /^SGD: constructor is not a hyper-parameter of this optimizer/],
    ['toString', () => loose(Adam, p(), { toString: 0.5 }), /^Adam: toString is not a hyper-parameter of this optimizer/],
    ['valueOf', () => loose(RMSProp, p(), { valueOf: 1 }), /^RMSProp: valueOf is not a hyper-parameter of this optimizer/],
    ['__proto__ as an own key', () => loose(SGD, p(), JSON.parse('{"lr": 0.1, "__proto__": {"momentum": 0.9}}')), /^SGD: __proto__ is not a hyper-parameter of this optimizer/],
    ['a symbol key', () => loose(Adam, p(), { [Symbol('lr')]: 1 }), /^Adam: Symbol\(lr\) is not a hyper-parameter of this optimizer/],
  ])('optimizer option %s', (_what, f, pattern) => {
    expectThrows(f, ValueError, pattern);
  });

  it('values are never read from the prototype chain', () => {
    // lr inherited, not own: SGD has no lr.
    expectThrows(() => loose(SGD, p(), Object.create({ lr: 0.1 })), ValueError, /^SGD: lr must be a finite number >= 0, got undefined$/);
  });

  it('a state dict whose hyper-parameters hold an inherited name is refused, nothing loaded', () => {
    const a = param([1, 2]);
    const opt = new SGD([a], { lr: 0.1 });
    const state = opt.stateDict();
    const bad = { ...state, hyper: { ...state.hyper, constructor: 1, lr: 0.5 } };
    expectThrows(() => opt.loadStateDict(bad), ValueError, /^SGD\.loadStateDict: nothing was loaded: state\.hyper\.constructor is not a hyper-parameter/);
    expect(opt.lr).toBe(0.1);
  });

  it.each<[string, () => unknown, typeof ArgumentError | typeof ValueError, RegExp]>([
    ['constructor', () => loose(StepLR, new SGD(p(), { lr: 1 }), { stepSize: 2, constructor: 1 }), ValueError, /^StepLR: constructor is not an option of StepLR/],
    ['__proto__', () => loose(ExponentialLR, new SGD(p(), { lr: 1 }), JSON.parse('{"gamma": 0.5, "__proto__": 1}')), ValueError, /^ExponentialLR: __proto__ is not an option of ExponentialLR/],
    ['inherited values', () => loose(CosineAnnealingLR, new SGD(p(), { lr: 1 }), Object.create({ tMax: 10 })), ValueError, /^CosineAnnealingLR: tMax must be a positive integer, got undefined$/],
    ['null', () => loose(StepLR, new SGD(p(), { lr: 1 }), null), ArgumentError, /^StepLR: opts must be an object of options or undefined, got null$/],
    ['undefined', () => loose(StepLR, new SGD(p(), { lr: 1 })), ArgumentError, /^StepLR: opts must be an object of options, got undefined$/],
  ])('schedule options: %s', (_what, f, cls, pattern) => {
    expectThrows(f, cls, pattern);
  });
});

describe('parameters whose data share memory are refused', () => {
  const leaf = (data: Float64Array): Tensor => new Tensor(data, [data.length], { requiresGrad: true });

  it('overlapping views of one buffer', () => {
    const buf = new Float64Array(8);
    expectThrows(
      () => new SGD([leaf(buf.subarray(0, 4)), leaf(buf.subarray(2, 6))], { lr: 0.1 }),
      ArgumentError,
      /^SGD: params\[1\] must have memory of its own \(it would be updated twice per step\), got a \[4\] float64 tensor whose data overlaps the data of params\[0\] \(bytes 16\.\.48 and 0\.\.32 of one buffer\)$/,
    );
  });

  it('identical views of one buffer (two different typed arrays)', () => {
    const buf = new Float64Array(8);
    expectThrows(() => new Adam([leaf(buf.subarray(0, 4)), leaf(buf.subarray(0, 4))]), ArgumentError, /^Adam: params\[1\] must have memory of its own .* is the same memory as the data of params\[0\]/);
  });

  it('a view inside another parameter, through a second typed array over the buffer', () => {
    const whole = new Float64Array(8);
    const inner = new Float64Array(whole.buffer, 24, 2);
    expectThrows(() => new RMSProp([leaf(whole), param([1]), leaf(inner)]), ArgumentError, /^RMSProp: params\[2\] .* overlaps the data of params\[0\]/);
  });

  it('a reshape of a parameter is refused too (the same memory)', () => {
    const w = Tensor.zeros([2, 2], { requiresGrad: true });
    const r = new Tensor(w.data, [4], { requiresGrad: true });
    expectThrows(() => new SGD([w, r], { lr: 0.1 }), ArgumentError, /is the same memory as the data of params\[0\]/);
  });

  it('adjacent views that do not overlap, and empty tensors, are fine', () => {
    const buf = new Float64Array(8);
    const e1 = new Tensor(buf.subarray(4, 4), [0], { requiresGrad: true });
    const e2 = new Tensor(buf.subarray(4, 4), [0], { requiresGrad: true });
    const opt = new SGD([leaf(buf.subarray(0, 4)), leaf(buf.subarray(4, 8)), e1, e2], { lr: 0.1 });
    expect(opt.params).toHaveLength(4);
  });

  it('the parameters of a model are accepted', () => {
    const model = new nn.Sequential(new nn.Affine(3, 4), new nn.BatchNorm1d(4), new nn.ReLU(), new nn.Affine(4, 2));
    expect(new optim.Adam(model.parameters()).params).toHaveLength(6);
  });
});

describe('in-place updates bump versions', () => {
  it.each<[string, (ps: Tensor[]) => optim.Optimizer]>([
    ['SGD', (ps) => new SGD(ps, { lr: 0.1 })],
    ['SGD with momentum', (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9 })],
    ['Adam', (ps) => new Adam(ps)],
    ['RMSProp', (ps) => new RMSProp(ps)],
  ])('%s: each step bumps the parameters it updates, not those it skips', (_name, make) => {
    // Large enough for the SIMD paths too.
    const a = Tensor.rand([4096], -1, 1, { requiresGrad: true });
    const b = param([1, 2, 3]);
    const skipped = param([4]);
    const opt = make([a, b, skipped]);
    const v0 = [a.version, b.version, skipped.version];
    a.grad = Tensor.ones([4096]);
    setGrad(b, [1, 1, 1]);
    opt.step();
    expect([a.version, b.version, skipped.version]).toEqual([v0[0] + 1, v0[1] + 1, v0[2]]);
    opt.step();
    expect([a.version, b.version, skipped.version]).toEqual([v0[0] + 2, v0[1] + 2, v0[2]]);
  });

  it('a step that throws before changing anything bumps nothing', () => {
    const a = param([1, 2]);
    const opt = new SGD([a], { lr: 0.1 });
    a.grad = Tensor.ones([3]);
    const v = a.version;
    expect(() => opt.step()).toThrow();
    expect(a.version).toBe(v);
  });

  it('zeroGrad bumps each gradient it zeroes in place', () => {
    const a = param([1, 2]);
    const opt = new SGD([a], { lr: 0.1 });
    setGrad(a, [1, 1]);
    const v = a.grad!.version;
    opt.zeroGrad();
    expect(a.grad!.version).toBe(v + 1);
  });

  it('a BatchNorm1d forward in train mode bumps its running statistics, in eval mode not', () => {
    const bn = new nn.BatchNorm1d(3);
    const x = Tensor.rand([4, 3]);
    const v = [bn.runningMean.version, bn.runningVar.version];
    bn.forward(x);
    expect([bn.runningMean.version, bn.runningVar.version]).toEqual([v[0] + 1, v[1] + 1]);
    bn.eval();
    bn.forward(x);
    expect([bn.runningMean.version, bn.runningVar.version]).toEqual([v[0] + 1, v[1] + 1]);
  });
});
