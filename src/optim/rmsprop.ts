/**
 * RMSProp.
 *
 * @packageDocumentation
 */
import type { FloatArray } from '../dtype';
import { useSimd } from '../kernels/backend';
import { simdRmspropStep } from '../kernels/simd';
import type { Tensor } from '../tensor';
import { nonNegative, Optimizer, unitInterval, type HyperSpec } from './optimizer';

/** Options of {@link RMSProp}. */
export interface RMSPropOptions {
  /** Learning rate, >= 0. Default 1e-2. */
  lr?: number;
  /** Decay rate of the squared-gradient average, in [0, 1]. Default 0.99. */
  alpha?: number;
  /** Added to the root of the squared-gradient average, >= 0. Default 1e-8. */
  eps?: number;
  /** L2 penalty added to the gradient, >= 0. Default 0. */
  weightDecay?: number;
  /** Momentum factor, >= 0. Default 0. */
  momentum?: number;
}

/** The hyper-parameters of {@link RMSProp}, as its state dict stores them. */
export type RMSPropHyper = { lr: number; alpha: number; eps: number; weightDecay: number; momentum: number };

const RMSPROP_SPEC: HyperSpec<RMSPropHyper> = {
  rules: {
    lr: nonNegative(1e-2),
    alpha: unitInterval(0.99),
    eps: nonNegative(1e-8),
    weightDecay: nonNegative(0),
    momentum: nonNegative(0),
  },
  slotNames: (h) => (h.momentum !== 0 ? ['squareAvg', 'momentumBuffer'] : ['squareAvg']),
};

/**
 * RMSProp, with PyTorch's `torch.optim.RMSprop` semantics (not centered). Per parameter `p`
 * with gradient `grad`:
 *
 * ```
 * g = grad + weightDecay * p
 * v = alpha * v + (1 - alpha) * g * g
 * momentum == 0:  p -= lr * g / (sqrt(v) + eps)
 * momentum != 0:  buf = momentum * buf + g / (sqrt(v) + eps);  p -= lr * buf
 * ```
 *
 * State: slot `squareAvg` (v) per parameter, plus `momentumBuffer` when momentum != 0; zeros
 * allocated on its first step with the parameter's dtype.
 *
 * NOTE: eps goes outside the square root, as in PyTorch (TensorFlow puts it inside).
 *
 * @example
 * ```ts
 * const opt = new optim.RMSProp(model.parameters(), { lr: 1e-2, alpha: 0.99, momentum: 0.9 });
 * ```
 */
export class RMSProp extends Optimizer<RMSPropHyper> {
  /**
   * @param params - the tensors to optimize (leaves with `requiresGrad: true`, each once).
   * @param opts - lr = 1e-2, alpha = 0.99, eps = 1e-8, weightDecay = 0, momentum = 0.
   * @throws ValueError naming the option when one is out of range, not a number, or unknown;
   *   ArgumentError or ValueError on bad params (see {@link Optimizer}).
   */
  constructor(params: Iterable<Tensor>, opts: RMSPropOptions = {}) {
    super('RMSProp', params, opts, RMSPROP_SPEC);
  }

  /** Decay rate of the squared-gradient average. */
  get alpha(): number {
    return this.hyper.alpha;
  }
  /** The denominator's eps. */
  get eps(): number {
    return this.hyper.eps;
  }
  /** L2 weight decay. */
  get weightDecay(): number {
    return this.hyper.weightDecay;
  }
  /** Momentum factor. */
  get momentum(): number {
    return this.hyper.momentum;
  }

  protected override update(p: FloatArray, g: FloatArray, slots: FloatArray[]): void {
    const { lr, alpha, eps, weightDecay: wd, momentum } = this.hyper;
    const v = slots[0];
    const c = 1 - alpha;
    const n = p.length;
    if (useSimd(n)) {
      // The same expressions in the same order, bit for bit (src/kernels/simd).
      simdRmspropStep(p, g, v, momentum === 0 ? null : slots[1], { lr, alpha, c, eps, wd, momentum });
      return;
    }
    if (momentum === 0) {
      for (let i = 0; i < n; i++) {
        const gi = wd !== 0 ? g[i] + wd * p[i] : g[i];
        v[i] = alpha * v[i] + c * gi * gi;
        p[i] -= lr * (gi / (Math.sqrt(v[i]) + eps));
      }
      return;
    }
    const buf = slots[1];
    for (let i = 0; i < n; i++) {
      const gi = wd !== 0 ? g[i] + wd * p[i] : g[i];
      v[i] = alpha * v[i] + c * gi * gi;
      buf[i] = momentum * buf[i] + gi / (Math.sqrt(v[i]) + eps);
      p[i] -= lr * buf[i];
    }
  }
}
