/**
 * Adam and AdamW against values computed by hand (literal numbers in the comments) and against
 * a small independent reference written in the paper's m-hat / v-hat form.
 */
import { Adam } from '../../src/optim';
import { param, relErr, setGrad, vals } from './helpers';

/** The paper's Algorithm 1 on plain numbers, with weight decay as L2 or decoupled (AdamW). */
function referenceAdam(
  p0: number[],
  grads: number[][],
  o: { lr: number; b1: number; b2: number; eps: number; wd: number; decoupled: boolean },
): number[][] {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const out: number[][] = [];
  grads.forEach((grad, s) => {
    const t = s + 1;
    for (let i = 0; i < p.length; i++) {
      if (o.decoupled) p[i] = p[i] - o.lr * o.wd * p[i];
      const g = o.decoupled ? grad[i] : grad[i] + o.wd * p[i];
      m[i] = o.b1 * m[i] + (1 - o.b1) * g;
      v[i] = o.b2 * v[i] + (1 - o.b2) * g * g;
      const mHat = m[i] / (1 - Math.pow(o.b1, t));
      const vHat = v[i] / (1 - Math.pow(o.b2, t));
      p[i] = p[i] - (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
    }
    out.push([...p]);
  });
  return out;
}

describe('Adam', () => {
  it('first three steps on a constant gradient: each moves lr * g / (|g| + eps)', () => {
    // With g constant, m_t = (1 - 0.9^t) g and v_t = (1 - 0.999^t) g^2, so after bias correction
    // m-hat = g = 0.5 and v-hat = g^2 = 0.25 at every step:
    //   t=1: m = 0.05,   v = 0.00025      -> m-hat 0.05/0.1 = 0.5,      v-hat 0.00025/0.001 = 0.25
    //   t=2: m = 0.095,  v = 0.00049975   -> m-hat 0.095/0.19 = 0.5,    v-hat 0.00049975/0.001999 = 0.25
    //   t=3: m = 0.1355, v = 0.00074925025 -> m-hat 0.1355/0.271 = 0.5, v-hat 0.00074925025/0.002997001 = 0.25
    // so each step subtracts 0.1 * 0.5 / (0.5 + 1e-8) = 0.099999998... in exact arithmetic.
    // NOTE: in floats, 1 - 0.999^t carries a relative error near 1e-14 (cancellation) that the
    // float v does not share, so v-hat is 0.25 only to ~1e-14 in any float implementation,
    // PyTorch's included. The step-by-step expectation therefore evaluates the corrections as
    // floats, (1 - 0.999 ** t), from the literal m and v above; exact math is checked to 1e-14.
    const p = param([1, -3]);
    const opt = new Adam([p], { lr: 0.1 });
    const ms = [0.05, 0.095, 0.1355];
    const vs = [0.00025, 0.00049975, 0.00074925025];
    const expected = [1, -3];
    for (let t = 1; t <= 3; t++) {
      setGrad(p, [0.5, -0.5]);
      opt.step();
      const d = (0.1 * (ms[t - 1] / (1 - 0.9 ** t))) / (Math.sqrt(vs[t - 1] / (1 - 0.999 ** t)) + 1e-8);
      expected[0] -= d;
      expected[1] += d;
      expect(relErr(vals(p), expected)).toBeLessThanOrEqual(1e-15);
      const exact = (0.1 * 0.5) / (0.5 + 1e-8);
      expect(relErr(vals(p), [1 - t * exact, -3 + t * exact])).toBeLessThanOrEqual(1e-14);
    }
    expect(opt.stepCount).toBe(3);
    // The moments themselves, as written above.
    const s = opt.stateDict();
    expect(relErr(s.slots.get('0.expAvg') as Float64Array, [0.1355, -0.1355])).toBeLessThanOrEqual(1e-15);
    expect(relErr(s.slots.get('0.expAvgSq') as Float64Array, [0.00074925025, 0.00074925025])).toBeLessThanOrEqual(1e-15);
  });

  it('first three steps on gradients 1, 2, -1 (lr 0.1, default betas and eps)', () => {
    //   t=1: m = 0.1,   v = 0.001        m-hat = 0.1/0.1 = 1,          v-hat = 0.001/0.001 = 1
    //        p1 = 0 - 0.1 * 1 / (1 + 1e-8)
    //   t=2: m = 0.9*0.1 + 0.1*2 = 0.29, v = 0.999*0.001 + 0.001*4 = 0.004999
    //        p2 = p1 - 0.1 * (0.29/0.19) / (sqrt(0.004999/0.001999) + 1e-8)
    //   t=3: m = 0.9*0.29 - 0.1 = 0.161, v = 0.999*0.004999 + 0.001 = 0.005994001
    //        p3 = p2 - 0.1 * (0.161/0.271) / (sqrt(0.005994001/0.002997001) + 1e-8)
    // NOTE: the corrections are written 1 - 0.999 ** 2 rather than 0.001999 because the float
    // value of 1 - 0.999^t carries a relative error near 1e-14 (cancellation), which any float
    // implementation, PyTorch's included, shares; the literals would measure that, not the code.
    const p1 = 0 - (0.1 * (0.1 / (1 - 0.9))) / (Math.sqrt(0.001 / (1 - 0.999)) + 1e-8);
    const p2 = p1 - (0.1 * (0.29 / (1 - 0.9 ** 2))) / (Math.sqrt(0.004999 / (1 - 0.999 ** 2)) + 1e-8);
    const p3 = p2 - (0.1 * (0.161 / (1 - 0.9 ** 3))) / (Math.sqrt(0.005994001 / (1 - 0.999 ** 3)) + 1e-8);
    const p = param([0]);
    const opt = new Adam([p], { lr: 0.1 });
    const got: number[] = [];
    for (const g of [1, 2, -1]) {
      setGrad(p, [g]);
      opt.step();
      got.push(p.data[0]);
    }
    expect(relErr(got, [p1, p2, p3])).toBeLessThanOrEqual(1e-15);
  });

  it('matches the reference on varied gradients, betas and eps, with L2 weight decay', () => {
    const o = { lr: 0.05, b1: 0.8, b2: 0.95, eps: 1e-3, wd: 0.3, decoupled: false };
    const grads = [
      [0.3, -1.2, 2.5],
      [-0.7, 0.4, 1.1],
      [1.5, 0.01, -2],
      [0.2, -0.3, 0.6],
    ];
    const p = param([0.5, -1, 2]);
    const opt = new Adam([p], { lr: o.lr, betas: [o.b1, o.b2], eps: o.eps, weightDecay: o.wd });
    const ref = referenceAdam([0.5, -1, 2], grads, o);
    grads.forEach((g, s) => {
      setGrad(p, g);
      opt.step();
      expect(relErr(vals(p), ref[s])).toBeLessThanOrEqual(1e-14);
    });
  });

  it('AdamW: decoupled decay multiplies p by (1 - lr*wd) before the Adam step', () => {
    // lr 0.1, wd 0.5, constant g 0.5: each step p <- p * 0.95 - 0.1 * 0.5 / (0.5 + 1e-8)
    //   p0 = 2:  p1 = 1.9 - d,  p2 = p1*0.95 - d,  p3 = p2*0.95 - d
    const d = (0.1 * 0.5) / (0.5 + 1e-8);
    const e1 = 2 * 0.95 - d;
    const e2 = e1 * 0.95 - d;
    const e3 = e2 * 0.95 - d;
    const p = param([2]);
    const opt = new Adam([p], { lr: 0.1, weightDecay: 0.5, decoupledWeightDecay: true });
    const got: number[] = [];
    for (let t = 0; t < 3; t++) {
      setGrad(p, [0.5]);
      opt.step();
      got.push(p.data[0]);
    }
    expect(relErr(got, [e1, e2, e3])).toBeLessThanOrEqual(1e-15);
    // The decay does not enter the moments: m is still (1 - 0.9^3) * 0.5.
    expect(relErr(opt.stateDict().slots.get('0.expAvg') as Float64Array, [0.1355])).toBeLessThanOrEqual(1e-15);
  });

  it('AdamW matches the reference on varied gradients, and differs from L2 Adam', () => {
    const o = { lr: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.1, decoupled: true };
    const grads = [
      [1, -2],
      [0.5, 0.25],
      [-3, 1],
    ];
    const w = param([1, 2]);
    const l2 = param([1, 2]);
    const adamw = new Adam([w], { lr: o.lr, weightDecay: o.wd, decoupledWeightDecay: true });
    const adam = new Adam([l2], { lr: o.lr, weightDecay: o.wd });
    const ref = referenceAdam([1, 2], grads, o);
    grads.forEach((g, s) => {
      setGrad(w, g);
      setGrad(l2, g);
      adamw.step();
      adam.step();
      expect(relErr(vals(w), ref[s])).toBeLessThanOrEqual(1e-14);
    });
    expect(vals(w)).not.toEqual(vals(l2));
  });

  it('zero gradient from the start leaves p unchanged (0 / (0 + eps))', () => {
    const p = param([1.5]);
    const opt = new Adam([p]);
    setGrad(p, [0]);
    opt.step();
    expect(vals(p)).toEqual([1.5]);
  });

  it('has PyTorch defaults', () => {
    const opt = new Adam([param([1])]);
    expect(opt.lr).toBe(1e-3);
    expect(opt.betas).toEqual([0.9, 0.999]);
    expect(opt.eps).toBe(1e-8);
    expect(opt.weightDecay).toBe(0);
    expect(opt.decoupledWeightDecay).toBe(false);
  });

  it('copies betas: changing the caller array later changes nothing', () => {
    const betas = [0.9, 0.999];
    const opt = new Adam([param([1])], { betas });
    betas[0] = 0.5;
    expect(opt.betas).toEqual([0.9, 0.999]);
    const s = opt.stateDict();
    (s.hyper.betas as number[])[0] = 0.1;
    expect(opt.betas).toEqual([0.9, 0.999]);
  });
});
