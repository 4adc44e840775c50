/**
 * Workload definitions shared by every implementation (tapegrad, TensorFlow.js), and the
 * interface an implementation exposes to the runner.
 *
 * - W1: GEMM `C = A @ B` (and `A @ Bᵀ`, `Aᵀ @ B`) on square n×n matrices.
 * - W2: one MLP training step, batch 256, 784 → 512 → BN → ReLU → 512 → BN → ReLU → 10,
 *   softmax cross-entropy, backward, SGD update.
 * - W3: W2 without BatchNorm.
 * - W4: a tiny W2: batch 64, 2 → 64 → BN → ReLU → 64 → BN → ReLU → 3.
 * - MEM: peak RSS and heap growth over a long W2 run (in a child process).
 *
 * @packageDocumentation
 */

import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/** Floating-point dtypes the workloads run in. TensorFlow.js only has `float32`. */
export type DType = 'float32' | 'float64';

/** The three GEMM forms of W1. */
export type GemmOp = 'A@B' | 'A@Bt' | 'At@B';

/** All GEMM forms, in table order. */
export const GEMM_OPS: readonly GemmOp[] = ['A@B', 'A@Bt', 'At@B'];

/** Identifier of a training-step workload. */
export type MlpId = 'W2' | 'W3' | 'W4';

/** Hidden-layer activations the training-step workloads can use (`--activation`). */
export const ACTIVATIONS = ['relu', 'tanh', 'sigmoid', 'gelu'] as const;
/** A hidden-layer activation: ReLU (the default), tanh, sigmoid, or GELU (exact erf form). */
export type Activation = (typeof ACTIVATIONS)[number];

/**
 * The workload with another hidden activation (title updated), e.g. W2 with tanh.
 *
 * @param spec - a workload from {@link MLP_SPECS}.
 * @param activation - the hidden activation.
 * @returns the same workload with `activation` set.
 * @example
 * ```ts
 * const w2tanh = withActivation(MLP_SPECS.W2, 'tanh');
 * ```
 */
export function withActivation(spec: MlpSpec, activation: Activation): MlpSpec {
  const name = { relu: 'ReLU', tanh: 'Tanh', sigmoid: 'Sigmoid', gelu: 'GELU' }[activation];
  return { ...spec, activation, title: spec.title.replace(/ReLU/g, name) };
}

/** Shape of a training-step workload. */
export interface MlpSpec {
  /** Workload id. */
  readonly id: MlpId;
  /** Rows per batch. */
  readonly batch: number;
  /** Layer widths from input to logits, e.g. `[784, 512, 512, 10]`. */
  readonly dims: readonly number[];
  /** Whether each hidden Affine is followed by BatchNorm (before the ReLU). */
  readonly batchNorm: boolean;
  /** Hidden activation; default 'relu'. */
  readonly activation?: Activation;
  /** SGD learning rate. */
  readonly lr: number;
  /** Unit the figure is reported in. */
  readonly unit: 'ms/step' | 'µs/step';
  /** One-line description for the table and RESULTS.md. */
  readonly title: string;
}

/** The training-step workloads W2, W3 and W4. */
export const MLP_SPECS: Readonly<Record<MlpId, MlpSpec>> = {
  W2: {
    id: 'W2',
    batch: 256,
    dims: [784, 512, 512, 10],
    batchNorm: true,
    lr: 0.01,
    unit: 'ms/step',
    title: 'train step, batch 256, 784→512→BN→ReLU→512→BN→ReLU→10, softmax CE, SGD',
  },
  W3: {
    id: 'W3',
    batch: 256,
    dims: [784, 512, 512, 10],
    batchNorm: false,
    lr: 0.01,
    unit: 'ms/step',
    title: 'train step, W2 without BatchNorm (784→512→ReLU→512→ReLU→10)',
  },
  W4: {
    id: 'W4',
    batch: 64,
    dims: [2, 64, 64, 3],
    batchNorm: true,
    lr: 0.01,
    unit: 'µs/step',
    title: 'tiny train step, batch 64, 2→64→BN→ReLU→64→BN→ReLU→3',
  },
};

/**
 * One prepared instance of a workload: inputs and parameters are allocated, `run` does one
 * unit of work (one GEMM or one training step), `dispose` frees what the instance holds.
 */
export interface Prepared {
  /** Do one unit of work, synchronously. */
  run(): void;
  /** Do one training step and return its loss, for sanity checks (never timed). */
  stepWithLoss?(): number;
  /** Free the instance's tensors. */
  dispose(): void;
}

/**
 * A prepared workload whose step is asynchronous (tf.layers' `model.trainOnBatch`): the same
 * as {@link Prepared} with promise-returning calls.
 */
export interface AsyncPrepared {
  /** Do one unit of work; resolves when it is done. */
  runAsync(): Promise<void>;
  /** Do one training step and resolve to its loss (never timed). */
  stepWithLossAsync(): Promise<number>;
  /** Free the instance's tensors. */
  dispose(): void;
}

/** Either kind of prepared workload. */
export type AnyPrepared = Prepared | AsyncPrepared;

/** Whether a prepared workload is asynchronous. */
export function isAsyncPrepared(p: AnyPrepared): p is AsyncPrepared {
  return 'runAsync' in p;
}

/** A benchmarked implementation: tapegrad, or TensorFlow.js on one backend. */
export interface Impl {
  /** Name used in the table and JSON, e.g. `"tfjs-wasm"`. */
  readonly name: string;
  /** Load the library / initialise the backend. Throws (or rejects) if unavailable. */
  init(): Promise<void>;
  /** Make this implementation current (e.g. `tf.setBackend`) before preparing work. */
  activate(): Promise<void>;
  /** Whether the implementation can compute in `dtype`. */
  supports(dtype: DType): boolean;
  /** Prepare a W1 GEMM of two n×n matrices. */
  gemm(n: number, op: GemmOp, dtype: DType): Prepared;
  /** Prepare a training-step workload. */
  mlp(spec: MlpSpec, dtype: DType): Prepared;
  /** Versions and settings worth recording (package version, backend, threads). */
  describe(): Record<string, string>;
}

/**
 * Seeded uniform floats in [0, 1) from pure-rand's xoroshiro128+ (the generator tapegrad itself
 * uses), so every implementation trains on identical data.
 *
 * @param seed - 32-bit seed.
 * @returns a function returning uniform floats in [0, 1).
 */
export function seededUniform(seed: number): () => number {
  const rng = xoroshiro128plus(seed | 0);
  return () => uniformFloat64(rng);
}

/**
 * Standard-normal samples (Box–Muller) from a seeded PRNG.
 *
 * @param count - how many values.
 * @param seed - PRNG seed.
 * @param scale - multiply every value by this (standard deviation).
 */
export function randnArray(count: number, seed: number, scale = 1): Float64Array {
  const rand = seededUniform(seed);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u)) * scale;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/**
 * Integer class labels in [0, classes), seeded.
 *
 * @param count - how many labels.
 * @param classes - number of classes.
 * @param seed - PRNG seed.
 */
export function randomLabels(count: number, classes: number, seed: number): Int32Array {
  const rand = seededUniform(seed);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.floor(rand() * classes);
  return out;
}

/** Seeded inputs and initial parameters of a training-step workload, shared by the peers. */
export interface MlpInit {
  /** Inputs, [batch, dims[0]] row-major. */
  readonly x: Float32Array;
  /** Class labels, [batch]. */
  readonly labels: Int32Array;
  /** Per Affine layer: W [fanIn, fanOut] row-major (He-normal), fan-in and fan-out; biases start at 0. */
  readonly weights: readonly { readonly w: Float32Array; readonly fanIn: number; readonly fanOut: number }[];
}

/**
 * The data and initial parameters every peer (tfjs formulations, PyTorch) trains on, so their
 * first-step losses agree; tapegrad initialises its own layers.
 *
 * @param spec - the workload.
 * @returns float32 inputs, int32 labels and the Affine weights.
 */
export function mlpInit(spec: MlpSpec): MlpInit {
  const { batch, dims } = spec;
  const x = Float32Array.from(randnArray(batch * dims[0], 11));
  const labels = randomLabels(batch, dims[dims.length - 1], 12);
  const weights = [];
  for (let i = 0; i + 1 < dims.length; i++) {
    // He-normal init for ReLU layers; the scale only matters for keeping the loss sane.
    weights.push({
      w: Float32Array.from(randnArray(dims[i] * dims[i + 1], 100 + i, Math.sqrt(2 / dims[i]))),
      fanIn: dims[i],
      fanOut: dims[i + 1],
    });
  }
  return { x, labels, weights };
}

/** Floating-point operations of one n×n by n×n GEMM (multiply-adds counted as 2). */
export function gemmFlops(n: number): number {
  return 2 * n * n * n;
}

/** Render an unknown thrown value as a one-line message. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0];
  if (typeof e === 'object' && e !== null && 'message' in e) {
    return String((e as { message: unknown }).message).split('\n')[0];
  }
  return String(e).split('\n')[0];
}
