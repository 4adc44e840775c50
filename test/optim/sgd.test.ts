/**
 * SGD against hand-computed updates. The dyadic cases (lr 0.5, momentum 0.75, dampening 0.25,
 * weightDecay 0.25, gradients 1, 0.5, -1) are exact in binary, so they are compared exactly.
 */
import { SGD } from '../../src/optim';
import { param, relErr, setGrad, vals } from './helpers';

/** Runs three steps on a one-element parameter starting at 1 with gradients 1, 0.5, -1. */
function run(opts: ConstructorParameters<typeof SGD>[1]): number[] {
  const p = param([1]);
  const opt = new SGD([p], opts);
  const out: number[] = [];
  for (const g of [1, 0.5, -1]) {
    setGrad(p, [g]);
    opt.step();
    out.push(p.data[0]);
  }
  return out;
}

describe('SGD hand-computed updates', () => {
  it('plain: p -= lr * g', () => {
    // 1 - 0.5*1 = 0.5;  0.5 - 0.5*0.5 = 0.25;  0.25 - 0.5*(-1) = 0.75
    expect(run({ lr: 0.5 })).toEqual([0.5, 0.25, 0.75]);
  });

  it('momentum: buf = g first, then momentum*buf + g', () => {
    // buf 1 -> p 0.5;  buf 0.75*1 + 0.5 = 1.25 -> p 0.5 - 0.625 = -0.125;
    // buf 0.75*1.25 - 1 = -0.0625 -> p -0.125 + 0.03125 = -0.09375
    expect(run({ lr: 0.5, momentum: 0.75 })).toEqual([0.5, -0.125, -0.09375]);
  });

  it('nesterov: g + momentum*buf', () => {
    // buf 1, g' 1 + 0.75 = 1.75 -> p 1 - 0.875 = 0.125
    // buf 1.25, g' 0.5 + 0.9375 = 1.4375 -> p 0.125 - 0.71875 = -0.59375
    // buf -0.0625, g' -1 - 0.046875 = -1.046875 -> p -0.59375 + 0.5234375 = -0.0703125
    expect(run({ lr: 0.5, momentum: 0.75, nesterov: true })).toEqual([0.125, -0.59375, -0.0703125]);
  });

  it('dampening applies from the second step on (the first buffer is g undamped)', () => {
    // buf 1 -> p 0.5;  buf 0.75*1 + 0.75*0.5 = 1.125 -> p 0.5 - 0.5625 = -0.0625
    // buf 0.75*1.125 + 0.75*(-1) = 0.09375 -> p -0.0625 - 0.046875 = -0.109375
    expect(run({ lr: 0.5, momentum: 0.75, dampening: 0.25 })).toEqual([0.5, -0.0625, -0.109375]);
  });

  it('weight decay adds wd*p to the gradient', () => {
    // g 1 + 0.25*1 = 1.25 -> p 0.375;  g 0.5 + 0.09375 = 0.59375 -> p 0.078125
    // g -1 + 0.01953125 = -0.98046875 -> p 0.078125 + 0.490234375 = 0.568359375
    expect(run({ lr: 0.5, weightDecay: 0.25 })).toEqual([0.375, 0.078125, 0.568359375]);
  });

  it('weight decay goes into the momentum buffer', () => {
    // g 1.25, buf 1.25 -> p 0.375;  g 0.59375, buf 0.9375 + 0.59375 = 1.53125 -> p -0.390625
    // g -1 - 0.09765625 = -1.09765625, buf 1.1484375 - 1.09765625 = 0.05078125 -> p -0.416015625
    expect(run({ lr: 0.5, momentum: 0.75, weightDecay: 0.25 })).toEqual([0.375, -0.390625, -0.416015625]);
  });

  it('non-dyadic: lr 0.1, momentum 0.9, constant gradient 1', () => {
    const p = param([1, -2]);
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    // buf 1, 1.9, 2.71 -> p 0.9, 0.71, 0.439 (and -2.1, -2.29, -2.561)
    const expected = [
      [0.9, -2.1],
      [0.71, -2.29],
      [0.439, -2.561],
    ];
    for (const e of expected) {
      setGrad(p, [1, 1]);
      opt.step();
      expect(relErr(vals(p), e)).toBeLessThanOrEqual(1e-15);
    }
  });

  it('updates several parameters, each with its own buffer, in place', () => {
    const a = param([1, 2]);
    const b = param([3]);
    const dataA = a.data;
    const opt = new SGD([a, b], { lr: 0.5, momentum: 0.75 });
    setGrad(a, [1, -1]);
    setGrad(b, [0.5]);
    opt.step();
    setGrad(a, [1, -1]);
    setGrad(b, [0.5]);
    opt.step();
    expect(a.data).toBe(dataA);
    // a: buf 1 -> 0.5, buf 1.75 -> 0.5 - 0.875 = -0.375; second element mirrored around 1.5
    expect(vals(a)).toEqual([-0.375, 3.375]);
    // b: buf 0.5 -> 2.75, buf 0.875 -> 2.3125
    expect(vals(b)).toEqual([2.3125]);
    expect([...opt.stateDict().slots.keys()]).toEqual(['0.momentumBuffer', '1.momentumBuffer']);
  });

  it('keeps no state without momentum', () => {
    const p = param([1]);
    const opt = new SGD([p], { lr: 0.1 });
    setGrad(p, [1]);
    opt.step();
    const s = opt.stateDict();
    expect(s.slots.size).toBe(0);
    expect(s.step).toBe(1);
    expect(s.hyper).toEqual({ lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 });
  });

  it('a zero learning rate changes nothing', () => {
    const p = param([1, 2]);
    const opt = new SGD([p], { lr: 0, momentum: 0.9, weightDecay: 0.1 });
    setGrad(p, [5, 6]);
    opt.step();
    expect(vals(p)).toEqual([1, 2]);
  });
});
