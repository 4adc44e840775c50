/**
 * Adam and AdamW.
 *
 * @packageDocumentation
 */
import type { FloatArray } from '../dtype';
import { useSimd } from '../kernels/backend';
import { simdAdamStep } from '../kernels/simd';
import type { Tensor } from '../tensor';
import { flag, nonNegative, Optimizer, type HyperSpec } from './optimizer';

/** Options of {@link Adam}. */
export interface AdamOptions {
  /** Learning rate, >= 0. Default 1e-3. */
  lr?: number;
  /** Decay rates of the first and second moment averages, each in [0, 1). Default [0.9, 0.999]. */
  betas?: [number, number] | readonly [number, number] | number[];
  /** Added to the bias-corrected root of the second moment, >= 0. Default 1e-8. */
  eps?: number;
  /** Weight decay, >= 0. Default 0. */
  weightDecay?: number;
  /** Decay the weights directly (AdamW) instead of adding an L2 term to the gradient. Default false. */
  decoupledWeightDecay?: boolean;
}

/** The hyper-parameters of {@link Adam}, as its state dict stores them. */
export type AdamHyper = { lr: number; betas: number[]; eps: number; weightDecay: number; decoupledWeightDecay: boolean };

const betaOk = (b: unknown): boolean => typeof b === 'number' && b >= 0 && b < 1;

const ADAM_SPEC: HyperSpec<AdamHyper> = {
  rules: {
    lr: nonNegative(1e-3),
    betas: {
      expect: 'an array of two numbers, each in [0, 1)',
      ok: (v) => Array.isArray(v) && v.length === 2 && betaOk(v[0]) && betaOk(v[1]),
      default: [0.9, 0.999],
    },
    eps: nonNegative(1e-8),
    weightDecay: nonNegative(0),
    decoupledWeightDecay: flag(false),
  },
  slotNames: () => ['expAvg', 'expAvgSq'],
};

/**
 * Adam with bias correction, as PyTorch's `torch.optim.Adam` computes it; with
 * `decoupledWeightDecay: true` it is AdamW. At step t (counted per optimizer, from 1), per
 * parameter `p` with gradient `grad`:
 *
 * ```
 * p *= 1 - lr * weightDecay             only with decoupledWeightDecay (AdamW)
 * g = grad + weightDecay * p            only without it (L2)
 * m = beta1 * m + (1 - beta1) * g
 * v = beta2 * v + (1 - beta2) * g * g
 * p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * ```
 *
 * State: slots `expAvg` (m) and `expAvgSq` (v) per parameter, zeros allocated on its first step
 * with the parameter's dtype.
 *
 * NOTE: eps is added to the bias-corrected root, sqrt(v) / sqrt(1 - beta2^t), as in PyTorch and the
 * paper's Algorithm 1, not to the uncorrected sqrt(v) (TensorFlow's "epsilon hat" form).
 * NOTE: t counts the optimizer's steps. PyTorch counts per parameter; the two differ only for a
 * parameter whose grad was null on some earlier step (its bias correction is then too strong).
 *
 * @example
 * ```ts
 * const opt = new optim.Adam(model.parameters(), { lr: 1e-3, betas: [0.9, 0.999] });
 * const adamw = new optim.Adam(model.parameters(), { lr: 1e-3, weightDecay: 0.01, decoupledWeightDecay: true });
 * ```
 */
export class Adam extends Optimizer<AdamHyper> {
  /**
   * @param params - the tensors to optimize (leaves with `requiresGrad: true`, each once).
   * @param opts - lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0,
   *   decoupledWeightDecay = false.
   * @throws ValueError naming the option when one is out of range, of the wrong kind, or unknown;
   *   ArgumentError or ValueError on bad params (see {@link Optimizer}).
   */
  constructor(params: Iterable<Tensor>, opts: AdamOptions = {}) {
    super('Adam', params, opts, ADAM_SPEC);
  }

  /** The moment decay rates [beta1, beta2] (a copy). */
  get betas(): [number, number] {
    return [this.hyper.betas[0], this.hyper.betas[1]];
  }
  /** The denominator's eps. */
  get eps(): number {
    return this.hyper.eps;
  }
  /** Weight decay (L2, or decoupled with decoupledWeightDecay). */
  get weightDecay(): number {
    return this.hyper.weightDecay;
  }
  /** Whether weight decay is decoupled (AdamW). */
  get decoupledWeightDecay(): boolean {
    return this.hyper.decoupledWeightDecay;
  }

  protected override update(p: FloatArray, g: FloatArray, slots: FloatArray[]): void {
    const { lr, betas, eps, weightDecay: wd, decoupledWeightDecay } = this.hyper;
    const b1 = betas[0];
    const b2 = betas[1];
    const t = this.stepCount;
    // NOTE: beta < 1 keeps both corrections 1 - beta^t > 0 from t = 1 on.
    const stepSize = lr / (1 - b1 ** t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    const c1 = 1 - b1;
    const c2 = 1 - b2;
    const decay = decoupledWeightDecay ? 1 - lr * wd : 1;
    const l2 = decoupledWeightDecay ? 0 : wd;
    const m = slots[0];
    const v = slots[1];
    const n = p.length;
    if (useSimd(n)) {
      // The same expressions in the same order, bit for bit (src/kernels/simd).
      simdAdamStep(p, g, m, v, { stepSize, bc2Sqrt, b1, c1, b2, c2, eps, decay, l2 });
      return;
    }
    for (let i = 0; i < n; i++) {
      if (decay !== 1) p[i] *= decay;
      const gi = l2 !== 0 ? g[i] + l2 * p[i] : g[i];
      m[i] = b1 * m[i] + c1 * gi;
      v[i] = b2 * v[i] + c2 * gi * gi;
      // Read m and v back from their buffers: for float32 that is the stored, rounded value.
      p[i] -= stepSize * (m[i] / (Math.sqrt(v[i]) / bc2Sqrt + eps));
    }
  }
}
