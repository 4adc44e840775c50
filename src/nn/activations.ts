/**
 * Activation layers over the elementwise ops of `ops/activations.ts`: Tanh, Sigmoid, LeakyReLU,
 * GELU, ELU, SiLU, Softplus, and Identity. None has parameters.
 *
 * @packageDocumentation
 */
import { elu, gelu, geluApproximate, leakyRelu, sigmoid, silu, softplus, tanh } from '../ops/activations';
import { ValueError } from '../errors';
import { checkOptions } from '../options';
import { describe } from '../shape';
import { Tensor } from '../tensor';
import { Module } from './module';

function finiteNumber(fn: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ValueError(`${fn}: ${arg} must be a finite number, got ${typeof v === 'number' ? String(v) : describe(v)}`);
  }
  return v;
}

/**
 * Hyperbolic tangent, elementwise (see ops.tanh).
 *
 * Shape: any -> same.
 *
 * @example
 * ```ts
 * const model = new nn.Sequential(new nn.Affine(2, 16), new nn.Tanh(), new nn.Affine(16, 3));
 * ```
 */
export class Tanh extends Module {
  /**
   * @param opts - none exist; any given is an error.
   * @throws ArgumentError when opts is not an object; ValueError for any option.
   */
  constructor(opts?: Record<string, never>) {
    super();
    checkOptions('Tanh', opts, []);
  }

  /** @param x - input. */
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/**
 * Logistic sigmoid 1 / (1 + e^-x), elementwise (see ops.sigmoid).
 *
 * Shape: any -> same.
 *
 * @example
 * ```ts
 * const gate = new nn.Sigmoid();
 * gate.forward(tensor([0])); // [0.5]
 * ```
 */
export class Sigmoid extends Module {
  /**
   * @param opts - none exist; any given is an error.
   * @throws ArgumentError when opts is not an object; ValueError for any option.
   */
  constructor(opts?: Record<string, never>) {
    super();
    checkOptions('Sigmoid', opts, []);
  }

  /** @param x - input. */
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

/**
 * Leaky ReLU: x for x > 0, slope * x otherwise (see ops.leakyRelu; PyTorch's `negative_slope`).
 *
 * Shape: any -> same.
 *
 * @example
 * ```ts
 * new nn.LeakyReLU(0.2).forward(tensor([-1, 1])); // [-0.2, 1]
 * ```
 */
export class LeakyReLU extends Module {
  /** The slope for x <= 0. */
  readonly slope: number;

  /**
   * @param slope - negative slope, a finite number. Default 0.01.
   * @throws ValueError when slope is not a finite number.
   */
  constructor(slope = 0.01) {
    super();
    this.slope = finiteNumber('LeakyReLU', 'slope', slope);
  }

  /** @param x - input. */
  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.slope);
  }

  protected override extraRepr(): string {
    return `slope=${this.slope}`;
  }
}

/** Options of {@link GELU}. */
export interface GELUOptions {
  /** 'none' (default, the exact erf form) or 'tanh' (PyTorch's tanh approximation). */
  approximate?: 'none' | 'tanh';
}

/**
 * Gaussian error linear unit x * Phi(x), exact by default (see ops.gelu).
 *
 * Shape: any -> same.
 *
 * @example
 * ```ts
 * const act = new nn.GELU({ approximate: 'tanh' });
 * ```
 */
export class GELU extends Module {
  /** 'none' (the erf form) or 'tanh'. */
  readonly approximate: 'none' | 'tanh';

  /**
   * @param opts - approximate: 'none' (default) or 'tanh'.
   * @throws ArgumentError when opts is not an object; ValueError on an unknown option or value.
   */
  constructor(opts?: GELUOptions) {
    super();
    this.approximate = geluApproximate('GELU', opts) ? 'tanh' : 'none';
  }

  /** @param x - input. */
  forward(x: Tensor): Tensor {
    return gelu(x, { approximate: this.approximate });
  }

  protected override extraRepr(): string {
    return `approximate='${this.approximate}'`;
  }
}

/**
 * Exponential linear unit: x for x > 0, alpha * (e^x - 1) otherwise (see ops.elu).
 *
 * Shape: any -> same.
 *
 * @example
 * ```ts
 * new nn.ELU(0.5).forward(tensor([-1e4, 2])); // [-0.5, 2]
 * ```
 */
export class ELU extends Module {
  /** Scale of the negative part. */
  readonly alpha: number;

  /**
   * @param alpha - a finite number. Default 1.
   * @throws ValueError when alpha is not a finite number.
   */
  constructor(alpha = 1) {
    super();
    this.alpha = finiteNumber('ELU', 'alpha', alpha);
  }

  /** @param x - input. */
  forward(x: Tensor): Tensor {
    return elu(x, this.alpha);
  }

  protected override extraRepr(): string {
    return `alpha=${this.alpha}`;
  }
}

/**
 * SiLU (swish) x * sigmoid(x), elementwise (see ops.silu).
 *
 * Shape: any -> same.
 *
 * @example
 * ```ts
 * const model = new nn.Sequential(new nn.Affine(8, 8), new nn.SiLU());
 * ```
 */
export class SiLU extends Module {
  /**
   * @param opts - none exist; any given is an error.
   * @throws ArgumentError when opts is not an object; ValueError for any option.
   */
  constructor(opts?: Record<string, never>) {
    super();
    checkOptions('SiLU', opts, []);
  }

  /** @param x - input. */
  forward(x: Tensor): Tensor {
    return silu(x);
  }
}

/**
 * Softplus log(1 + e^x) with PyTorch's defaults beta = 1, threshold = 20 (see ops.softplus).
 *
 * Shape: any -> same.
 *
 * @example
 * ```ts
 * new nn.Softplus().forward(tensor([0])); // [0.6931471805599453]
 * ```
 */
export class Softplus extends Module {
  /**
   * @param opts - none exist (beta and threshold are fixed at 1 and 20); any given is an error.
   * @throws ArgumentError when opts is not an object; ValueError for any option.
   */
  constructor(opts?: Record<string, never>) {
    super();
    checkOptions('Softplus', opts, []);
  }

  /** @param x - input. */
  forward(x: Tensor): Tensor {
    return softplus(x);
  }
}

/**
 * Returns its input unchanged (the same Tensor): a placeholder where a layer is optional.
 *
 * Shape: any -> same.
 *
 * @example
 * ```ts
 * const act = useTanh ? new nn.Tanh() : new nn.Identity();
 * ```
 */
export class Identity extends Module {
  /**
   * @param opts - none exist; any given is an error.
   * @throws ArgumentError when opts is not an object; ValueError for any option.
   */
  constructor(opts?: Record<string, never>) {
    super();
    checkOptions('Identity', opts, []);
  }

  /** @param x - input. */
  forward(x: Tensor): Tensor {
    return x;
  }
}
