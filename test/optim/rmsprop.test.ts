/** RMSProp against hand-computed updates (literal numbers in the comments). */
import { RMSProp } from '../../src/optim';
import { param, relErr, setGrad, vals } from './helpers';

describe('RMSProp', () => {
  it('first three steps without momentum (lr 0.01, alpha 0.99, eps 1e-8)', () => {
    //   g 1:  v = 0.01*1 = 0.01                 p1 = 1  - 0.01 * 1 / (sqrt(0.01) + 1e-8)
    //   g 2:  v = 0.99*0.01 + 0.01*4 = 0.0499   p2 = p1 - 0.01 * 2 / (sqrt(0.0499) + 1e-8)
    //   g -1: v = 0.99*0.0499 + 0.01 = 0.059401 p3 = p2 + 0.01 * 1 / (sqrt(0.059401) + 1e-8)
    const p1 = 1 - (0.01 * 1) / (0.1 + 1e-8);
    const p2 = p1 - (0.01 * 2) / (Math.sqrt(0.0499) + 1e-8);
    const p3 = p2 + (0.01 * 1) / (Math.sqrt(0.059401) + 1e-8);
    const p = param([1]);
    const opt = new RMSProp([p]);
    const got: number[] = [];
    for (const g of [1, 2, -1]) {
      setGrad(p, [g]);
      opt.step();
      got.push(p.data[0]);
    }
    expect(relErr(got, [p1, p2, p3])).toBeLessThanOrEqual(1e-15);
    expect(relErr(opt.stateDict().slots.get('0.squareAvg') as Float64Array, [0.059401])).toBeLessThanOrEqual(1e-15);
  });

  it('first three steps with momentum 0.9', () => {
    //   buf1 = 1 / (0.1 + 1e-8)                         p1 = 1  - 0.01 * buf1
    //   buf2 = 0.9 * buf1 + 2 / (sqrt(0.0499) + 1e-8)   p2 = p1 - 0.01 * buf2
    //   buf3 = 0.9 * buf2 - 1 / (sqrt(0.059401) + 1e-8) p3 = p2 - 0.01 * buf3
    const buf1 = 1 / (0.1 + 1e-8);
    const buf2 = 0.9 * buf1 + 2 / (Math.sqrt(0.0499) + 1e-8);
    const buf3 = 0.9 * buf2 - 1 / (Math.sqrt(0.059401) + 1e-8);
    const p1 = 1 - 0.01 * buf1;
    const p2 = p1 - 0.01 * buf2;
    const p3 = p2 - 0.01 * buf3;
    const p = param([1]);
    const opt = new RMSProp([p], { momentum: 0.9 });
    const got: number[] = [];
    for (const g of [1, 2, -1]) {
      setGrad(p, [g]);
      opt.step();
      got.push(p.data[0]);
    }
    expect(relErr(got, [p1, p2, p3])).toBeLessThanOrEqual(1e-15);
    expect([...opt.stateDict().slots.keys()]).toEqual(['0.squareAvg', '0.momentumBuffer']);
  });

  it('weight decay adds wd*p to the gradient before squaring', () => {
    // lr 0.1, alpha 0.5, eps 0, wd 0.5, p0 = 2, g = 1 both steps:
    //   g' = 1 + 1 = 2,     v = 0.5*4 = 2,             p1 = 2 - 0.1*2/sqrt(2) = 2 - 0.1*sqrt(2)
    //   g' = 1 + 0.5*p1,    v = 0.5*2 + 0.5*g'^2,      p2 = p1 - 0.1*g'/sqrt(v)
    const p1 = 2 - (0.1 * 2) / Math.sqrt(2);
    const g2 = 1 + 0.5 * p1;
    const v2 = 0.5 * 2 + 0.5 * g2 * g2;
    const p2 = p1 - (0.1 * g2) / Math.sqrt(v2);
    const p = param([2]);
    const opt = new RMSProp([p], { lr: 0.1, alpha: 0.5, eps: 0, weightDecay: 0.5 });
    setGrad(p, [1]);
    opt.step();
    expect(relErr(vals(p), [p1])).toBeLessThanOrEqual(1e-15);
    setGrad(p, [1]);
    opt.step();
    expect(relErr(vals(p), [p2])).toBeLessThanOrEqual(1e-15);
  });

  it('has PyTorch defaults', () => {
    const opt = new RMSProp([param([1])]);
    expect([opt.lr, opt.alpha, opt.eps, opt.weightDecay, opt.momentum]).toEqual([1e-2, 0.99, 1e-8, 0, 0]);
  });
});
