/**
 * Bad hyper-parameters and bad parameter lists throw typed errors naming the function, the
 * argument, the expectation and what arrived; zeroGrad and step handle gradients as documented.
 */
import { ArgumentError, DTypeError, ShapeError, ValueError } from '../../src/errors';
import { Adam, RMSProp, SGD } from '../../src/optim';
import { Tensor } from '../../src/tensor';
import { expectThrows, param, setGrad, vals } from './helpers';

/** Calls a constructor with arguments TypeScript would reject, as JavaScript callers can. */
const loose = <T>(ctor: new (...a: never[]) => T, ...args: unknown[]): T =>
  new (ctor as unknown as new (...a: unknown[]) => T)(...args);

describe('bad hyper-parameters throw ValueError naming the argument', () => {
  const p = () => [param([1, 2])];
  it.each([
    ['SGD', () => new SGD(p(), { lr: -1 }), /^SGD: lr must be a finite number >= 0, got -1$/],
    ['SGD', () => loose(SGD, p(), {}), /^SGD: lr must be a finite number >= 0, got undefined$/],
    ['SGD', () => loose(SGD, p(), { lr: '0.1' }), /^SGD: lr must be a finite number >= 0, got "0\.1"$/],
    ['SGD', () => new SGD(p(), { lr: NaN }), /^SGD: lr must be a finite number >= 0, got NaN$/],
    ['SGD', () => new SGD(p(), { lr: Infinity }), /^SGD: lr must be a finite number >= 0, got Infinity$/],
    ['SGD', () => new SGD(p(), { lr: 0.1, momentum: -0.5 }), /^SGD: momentum must be a finite number >= 0, got -0\.5$/],
    ['SGD', () => new SGD(p(), { lr: 0.1, dampening: 2 }), /^SGD: dampening must be a number in \[0, 1\], got 2$/],
    ['SGD', () => loose(SGD, p(), { lr: 0.1, nesterov: 'yes' }), /^SGD: nesterov must be a boolean, got "yes"$/],
    ['SGD', () => new SGD(p(), { lr: 0.1, weightDecay: -1e-4 }), /^SGD: weightDecay must be a finite number >= 0, got -0\.0001$/],
    ['SGD', () => new SGD(p(), { lr: 0.1, nesterov: true }), /^SGD: nesterov must be false unless momentum > 0 and dampening = 0, got nesterov true with momentum 0 and dampening 0$/],
    ['SGD', () => new SGD(p(), { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), /nesterov must be false unless .* dampening 0\.1$/],
    ['SGD', () => loose(SGD, p(), { lr: 0.1, weight_decay: 0.1 }), /^SGD: weight_decay is not a hyper-parameter of this optimizer \(expected one of lr, momentum, dampening, nesterov, weightDecay\), got 0\.1$/],
    ['Adam', () => new Adam(p(), { lr: -0.001 }), /^Adam: lr must be a finite number >= 0, got -0\.001$/],
    ['Adam', () => new Adam(p(), { betas: [0.9, 1] }), /^Adam: betas must be an array of two numbers, each in \[0, 1\), got \[0\.9,1\]$/],
    ['Adam', () => new Adam(p(), { betas: [-0.1, 0.999] }), /^Adam: betas must be .*, got \[-0\.1,0\.999\]$/],
    ['Adam', () => new Adam(p(), { betas: [0.9] }), /^Adam: betas must be .*, got \[0\.9\]$/],
    ['Adam', () => loose(Adam, p(), { betas: 0.9 }), /^Adam: betas must be .*, got 0\.9$/],
    ['Adam', () => loose(Adam, p(), { betas: ['0.9', 0.999] }), /^Adam: betas must be .*, got \["0\.9",0\.999\]$/],
    ['Adam', () => new Adam(p(), { eps: -1e-8 }), /^Adam: eps must be a finite number >= 0, got -1e-8$/],
    ['Adam', () => loose(Adam, p(), { decoupledWeightDecay: 1 }), /^Adam: decoupledWeightDecay must be a boolean, got 1$/],
    ['RMSProp', () => new RMSProp(p(), { alpha: 1.5 }), /^RMSProp: alpha must be a number in \[0, 1\], got 1\.5$/],
    ['RMSProp', () => new RMSProp(p(), { momentum: -1 }), /^RMSProp: momentum must be a finite number >= 0, got -1$/],
    ['RMSProp', () => loose(RMSProp, p(), { lr: null }), /^RMSProp: lr must be a finite number >= 0, got null$/],
  ])('%s %#', (_name, fn, pattern) => {
    expectThrows(fn, ValueError, pattern);
  });

  it('lists every bad option at once', () => {
    expectThrows(() => new Adam(p(), { lr: -1, eps: -1 }), ValueError, /^Adam: lr must be .*, got -1; eps must be .*, got -1$/);
  });

  it('options that are not an object throw ArgumentError', () => {
    expectThrows(() => loose(SGD, p(), 0.1), ArgumentError, /^SGD: options must be an object, got number 0\.1$/);
    expectThrows(() => loose(Adam, p(), null), ArgumentError, /^Adam: options must be an object, got null$/);
  });

  it('the lr setter validates and keeps the old value on failure', () => {
    const opt = new SGD(p(), { lr: 0.1 });
    expectThrows(() => (opt.lr = -0.5), ValueError, /^SGD: lr must be a finite number >= 0, got -0\.5$/);
    expectThrows(() => (opt.lr = NaN), ValueError, /got NaN$/);
    expect(opt.lr).toBe(0.1);
    opt.lr = 0.01;
    expect(opt.lr).toBe(0.01);
    expect(opt.stateDict().hyper.lr).toBe(0.01);
  });
});

describe('bad params', () => {
  it('an empty list throws ValueError', () => {
    expectThrows(() => new SGD([], { lr: 0.1 }), ValueError, /^SGD: params must hold at least one Tensor, got an empty iterable$/);
  });

  it('a single tensor (not iterable) throws ArgumentError', () => {
    expectThrows(() => loose(Adam, param([1])), ArgumentError, /^Adam: params must be an iterable of Tensors \(e\.g\. model\.parameters\(\)\), got Tensor$/);
  });

  it('a non-Tensor throws ArgumentError naming its index', () => {
    expectThrows(() => loose(SGD, [param([1]), 3], { lr: 0.1 }), ArgumentError, /^SGD: params\[1\] must be a Tensor, got number 3$/);
    expectThrows(() => loose(Adam, [new Float64Array(2)]), ArgumentError, /^Adam: params\[0\] must be a Tensor, got Float64Array\(2\)$/);
  });

  it('a tensor that does not require grad throws ValueError naming its index', () => {
    const frozen = new Tensor(new Float64Array(6), [2, 3]);
    expectThrows(
      () => new RMSProp([param([1]), frozen]),
      ValueError,
      /^RMSProp: params\[1\] must require grad \(create it with \{ requiresGrad: true \}\), got a \[2, 3\] float64 tensor with requiresGrad false$/,
    );
  });

  it('a non-leaf tensor throws ValueError', () => {
    const w = param([1, 2]);
    expectThrows(() => new SGD([w.mul(2)], { lr: 0.1 }), ValueError, /^SGD: params\[0\] must be a leaf tensor/);
  });

  it('a repeated tensor throws ValueError, two sharing data ArgumentError, naming both indices', () => {
    const a = param([1]);
    const b = param([2]);
    expectThrows(() => new SGD([a, b, a], { lr: 0.1 }), ValueError, /^SGD: params\[2\] must appear once, got the same tensor as params\[0\]$/);
    const alias = new Tensor(b.data, [1], { requiresGrad: true });
    expectThrows(() => new Adam([a, b, alias]), ArgumentError, /^Adam: params\[2\] must have memory of its own .* is the same memory as the data of params\[1\]/);
  });

  it('takes any iterable, e.g. a generator', () => {
    const ps = [param([1]), param([2])];
    function* gen() {
      yield* ps;
    }
    const opt = new SGD(gen(), { lr: 1 });
    expect(opt.params).toEqual(ps);
    expect(opt.params[0]).toBe(ps[0]);
  });
});

describe('zeroGrad and step', () => {
  it('zeroGrad zeroes each gradient in place, keeping its buffer', () => {
    const a = param([1, 2]);
    const b = param([3]);
    const opt = new SGD([a, b], { lr: 0.1 });
    setGrad(a, [5, 6]);
    const buf = a.grad?.data;
    opt.zeroGrad();
    expect(a.grad?.data).toBe(buf);
    expect(vals(a.grad as Tensor)).toEqual([0, 0]);
    expect(b.grad).toBeNull();
  });

  it('zeroGrad({ setToNone: true }) drops the gradients', () => {
    const a = param([1, 2]);
    const opt = new SGD([a], { lr: 0.1 });
    setGrad(a, [5, 6]);
    opt.zeroGrad({ setToNone: true });
    expect(a.grad).toBeNull();
  });

  it('step skips parameters without a gradient: no change, no state', () => {
    const a = param([1, 2]);
    const b = param([3]);
    const opt = new Adam([a, b], { lr: 0.1 });
    setGrad(a, [1, 1]);
    opt.step();
    expect(vals(b)).toEqual([3]);
    expect([...opt.stateDict().slots.keys()]).toEqual(['0.expAvg', '0.expAvgSq']);
    expect(opt.stepCount).toBe(1);
  });

  it('a zeroed gradient still counts as a gradient (state advances, like PyTorch)', () => {
    const a = param([1]);
    const opt = new SGD([a], { lr: 0.5, momentum: 0.5 });
    setGrad(a, [1]);
    opt.step(); // buf 1, p 0.5
    opt.zeroGrad();
    opt.step(); // buf 0.5, p 0.25
    expect(vals(a)).toEqual([0.25]);
  });

  it('a gradient of the wrong size or dtype throws before any parameter changes', () => {
    const a = param([1, 2]);
    const b = param([3, 4, 5]);
    const opt = new SGD([a, b], { lr: 0.1, momentum: 0.9 });
    setGrad(a, [1, 1]);
    b.grad = new Tensor(new Float64Array(2), [2]);
    expectThrows(() => opt.step(), ShapeError, /^SGD\.step: params\[1\]\.grad must have 3 elements like params\[1\] \[3\], got \[2\]$/);
    b.grad = new Tensor(new Float32Array(3), [3]);
    expectThrows(() => opt.step(), DTypeError, /^SGD\.step: params\[1\]\.grad must have dtype 'float64' like params\[1\], got 'float32'$/);
    (b as { grad: unknown }).grad = [1, 2, 3];
    expectThrows(() => opt.step(), ArgumentError, /^SGD\.step: params\[1\]\.grad must be a Tensor or null, got \[1,2,3\]$/);
    expect(vals(a)).toEqual([1, 2]);
    expect(opt.stepCount).toBe(0);
    expect(opt.stateDict().slots.size).toBe(0);
  });
});
