/**
 * Models and deliberately wrong backward rules for the gradient-checking tests: the README's
 * MLP (fresh or after 100 Adam steps), a ReLU whose backward is off by a factor, and a custom
 * op (built with the tape's own `record`) whose gradient is wrong.
 */
import { manualSeed, nn, optim, Tensor } from '../../src';
import { record } from '../../src/autograd/tape';
import type { DType } from '../../src/dtype';

/** The README's data: 300 points in 2-D, labelled by the sign of the first coordinate. */
export function readmeData(dtype: DType = 'float64'): { x: Tensor; y: Int32Array } {
  manualSeed(0);
  const x = Tensor.randn([300, 2], { dtype });
  const y = Int32Array.from({ length: 300 }, (_, i) => (x.data[2 * i] > 0 ? 1 : 0));
  return { x, y };
}

/**
 * The README's MLP, `Affine(2, 64), BatchNorm1d(64), activation, Affine(64, 2)`, fresh or
 * after 100 Adam steps (lr 1e-2) on the README's data. The activation defaults to nn.ReLU;
 * with another one the weights are those the correct model reached.
 */
export function readmeModel(opts: { trained: boolean; dtype: DType; activation?: nn.Module }): nn.Sequential {
  const { trained, dtype } = opts;
  const { x, y } = readmeData(dtype);
  const build = (act: nn.Module): nn.Sequential =>
    new nn.Sequential(new nn.Affine(2, 64, { dtype }), new nn.BatchNorm1d(64, { dtype }), act, new nn.Affine(64, 2, { dtype }));
  const model = build(new nn.ReLU());
  if (trained) {
    const optimizer = new optim.Adam(model.parameters(), { lr: 1e-2 });
    for (let step = 0; step < 100; step++) {
      optimizer.zeroGrad();
      nn.softmaxCrossEntropy(model.forward(x), y).backward();
      optimizer.step();
    }
  }
  if (opts.activation === undefined) return model;
  const other = build(opts.activation);
  other.loadStateDict(model.stateDict());
  return other;
}

/** A ReLU with the right forward whose backward multiplies the passed gradient by `factor`. */
export class ScaledReLU extends nn.ReLU {
  constructor(readonly factor: number) {
    super();
  }

  override forward(x: Tensor): Tensor {
    const out = new Tensor(x.data.map((v) => (v < 0 ? 0 : v)), x.shape);
    const f = this.factor;
    return record(out, 'scaledRelu', [x], (g) => [g.map((gi, i) => (x.data[i] >= 0 ? gi * f : 0))]);
  }
}

/**
 * softsign(x) = x / (1 + |x|) as a custom op on the tape, with derivative 1 / (1 + |x|)^2;
 * `wrong` makes the backward use 1 / (1 + |x|) (a forgotten square).
 */
export function softsign(x: Tensor, wrong = false): Tensor {
  const out = new Tensor(x.data.map((v) => v / (1 + Math.abs(v))), x.shape);
  return record(out, wrong ? 'softsignWrong' : 'softsign', [x], (g) => [
    g.map((gi, i) => {
      const d = 1 + Math.abs(x.data[i]);
      return gi / (wrong ? d : d * d);
    }),
  ]);
}

/** A small model with a learned scale around the custom op: y = fc2(softsign(fc1(x) * gain)). */
export class SoftsignNet extends nn.Module {
  fc1: nn.Affine;
  gain: Tensor;
  fc2: nn.Affine;
  constructor(
    readonly wrong: boolean,
    dtype: DType = 'float64',
  ) {
    super();
    this.fc1 = new nn.Affine(3, 8, { dtype });
    this.gain = Tensor.full([8], 1.5, { dtype, requiresGrad: true });
    this.fc2 = new nn.Affine(8, 2, { dtype });
  }

  forward(x: Tensor): Tensor {
    return this.fc2.forward(softsign(this.fc1.forward(x).mul(this.gain), this.wrong));
  }
}
