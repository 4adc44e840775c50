/**
 * float32 parameters: updated in place in their Float32Array, with float32 state buffers.
 * Each element is computed in float64 and rounded when stored, so a reference that rounds
 * (Math.fround) at the same stores must agree bit for bit.
 */
import { Adam, RMSProp, SGD, type Optimizer } from '../../src/optim';
import type { Tensor } from '../../src/tensor';
import { param, relErr, setGrad, vals } from './helpers';

const f = Math.fround;
const P0 = [0.3, -1.7, 2.2, 0.05];
const GRADS = [
  [0.11, -0.9, 1.3, 0.02],
  [-0.4, 0.25, 0.7, -0.03],
  [0.9, 0.1, -1.1, 0.5],
];

function runOpt(make: (p: Tensor) => Optimizer, dtype: 'float32' | 'float64'): { p: Tensor; opt: Optimizer } {
  const p = param(P0, dtype);
  const opt = make(p);
  for (const g of GRADS) {
    setGrad(p, g);
    opt.step();
  }
  return { p, opt };
}

describe('float32 parameters', () => {
  it('SGD with nesterov and weight decay: rounds where it stores, buffer stays float32', () => {
    const { p, opt } = runOpt((q) => new SGD([q], { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }), 'float32');
    const ref = P0.map(f);
    const buf = ref.map(() => 0);
    GRADS.forEach((grad, s) => {
      for (let i = 0; i < ref.length; i++) {
        const g = f(grad[i]) + 0.01 * ref[i];
        buf[i] = f(s === 0 ? g : 0.9 * buf[i] + 1 * g);
        ref[i] = f(ref[i] - 0.1 * (g + 0.9 * buf[i]));
      }
    });
    expect(p.data).toBeInstanceOf(Float32Array);
    expect(vals(p)).toEqual(ref);
    const slot = opt.stateDict().slots.get('0.momentumBuffer');
    expect(slot).toBeInstanceOf(Float32Array);
    expect(Array.from(slot as Float32Array)).toEqual(buf);
  });

  it('Adam: rounds where it stores, moments stay float32', () => {
    const { p, opt } = runOpt((q) => new Adam([q], { lr: 0.01, weightDecay: 0.1 }), 'float32');
    const ref = P0.map(f);
    const m = ref.map(() => 0);
    const v = ref.map(() => 0);
    GRADS.forEach((grad, s) => {
      const t = s + 1;
      const stepSize = 0.01 / (1 - 0.9 ** t);
      const bc2Sqrt = Math.sqrt(1 - 0.999 ** t);
      for (let i = 0; i < ref.length; i++) {
        const g = f(grad[i]) + 0.1 * ref[i];
        m[i] = f(0.9 * m[i] + (1 - 0.9) * g);
        v[i] = f(0.999 * v[i] + (1 - 0.999) * g * g);
        ref[i] = f(ref[i] - stepSize * (m[i] / (Math.sqrt(v[i]) / bc2Sqrt + 1e-8)));
      }
    });
    expect(p.data).toBeInstanceOf(Float32Array);
    expect(vals(p)).toEqual(ref);
    const s = opt.stateDict();
    expect(s.slots.get('0.expAvg')).toBeInstanceOf(Float32Array);
    expect(s.slots.get('0.expAvgSq')).toBeInstanceOf(Float32Array);
    expect(Array.from(s.slots.get('0.expAvgSq') as Float32Array)).toEqual(v);
  });

  it('RMSProp with momentum: rounds where it stores, buffers stay float32', () => {
    const { p, opt } = runOpt((q) => new RMSProp([q], { lr: 0.01, momentum: 0.5 }), 'float32');
    const ref = P0.map(f);
    const v = ref.map(() => 0);
    const buf = ref.map(() => 0);
    for (const grad of GRADS) {
      for (let i = 0; i < ref.length; i++) {
        const g = f(grad[i]);
        v[i] = f(0.99 * v[i] + (1 - 0.99) * g * g);
        buf[i] = f(0.5 * buf[i] + g / (Math.sqrt(v[i]) + 1e-8));
        ref[i] = f(ref[i] - 0.01 * buf[i]);
      }
    }
    expect(vals(p)).toEqual(ref);
    for (const slot of opt.stateDict().slots.values()) expect(slot).toBeInstanceOf(Float32Array);
  });

  it.each([
    ['SGD', (q: Tensor) => new SGD([q], { lr: 0.1, momentum: 0.9 })],
    ['Adam', (q: Tensor) => new Adam([q], { lr: 0.01 })],
    ['AdamW', (q: Tensor) => new Adam([q], { lr: 0.01, weightDecay: 0.1, decoupledWeightDecay: true })],
    ['RMSProp', (q: Tensor) => new RMSProp([q], { lr: 0.01 })],
  ])('%s: float32 run stays within float32 precision of the float64 run', (_name, make) => {
    const a = runOpt(make, 'float32').p;
    const b = runOpt(make, 'float64').p;
    expect(relErr(vals(a), vals(b))).toBeLessThan(1e-5);
  });
});
