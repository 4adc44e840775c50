/**
 * The TensorFlow.js side of the benchmarks: the W1–W4 workloads on the `cpu` backend
 * (pure JavaScript) and the `wasm` backend (XNNPACK, one thread). A training step can be
 * written in several {@link TFJS_FORMULATIONS} (fused or plain matMul, tfjs' own gradients or
 * `tf.customGrad` ops that avoid transpose flags, `tf.batchNorm` or a closed-form BatchNorm
 * gradient, `optimizer.minimize` or `tf.variableGrads`, tf.layers); the runner times them and
 * uses the fastest per workload and backend, so tfjs is measured at its best.
 *
 * Setup notes (Node 20, offline):
 * - `@tensorflow/tfjs` is imported as a whole; it also registers the `webgl` backend, which
 *   is never selected because every workload calls `tf.setBackend` explicitly.
 * - The wasm binaries ship in `@tensorflow/tfjs-backend-wasm/dist`. `setWasmPaths` gets that
 *   folder as a plain file-system path with a trailing separator (the library concatenates
 *   `prefix + fileName`) and `usePlatformFetch` left `false`, so Emscripten reads the file
 *   with `fs.readFileSync` instead of `fetch`, which needs no network and no `file://` URL.
 * - In Node, tfjs-backend-wasm 4.x reports `WASM_HAS_MULTITHREAD_SUPPORT = false`
 *   (tfjs issue #3830), so it always loads `tfjs-backend-wasm-simd.wasm` (SIMD, no
 *   pthreads). `setThreadsCount(1)` is still called before `setBackend('wasm')` so the
 *   XNNPACK thread pool is pinned at one thread whatever the detection says;
 *   `getThreadsCount()` confirms it after initialisation.
 * - `tf.enableProdMode()` silences the "install tfjs-node" banner; in tfjs 4.x `PROD` only
 *   gates logging.
 *
 * @packageDocumentation
 */

import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  getThreadsCount,
  setThreadsCount,
  setWasmPaths,
} from '@tensorflow/tfjs-backend-wasm';
import {
  Activation,
  AnyPrepared,
  AsyncPrepared,
  DType,
  GemmOp,
  Impl,
  MlpId,
  MlpInit,
  MlpSpec,
  Prepared,
  isAsyncPrepared,
  mlpInit,
  randnArray,
} from './workloads';

/** The tfjs backends this harness benchmarks. */
export type TfjsBackendName = 'cpu' | 'wasm';

/** BatchNorm epsilon, matching the usual 1e-5. */
const BN_EPS = 1e-5;
/** Momentum of the BatchNorm running statistics (new = (1 - m) * old + m * batch). */
const BN_MOMENTUM = 0.1;

let wasmConfigured = false;

/**
 * Point the wasm backend at the binaries inside the installed package and pin it to one
 * thread. Must run before the first `tf.setBackend('wasm')`; idempotent.
 *
 * @returns the folder passed to `setWasmPaths`.
 */
export function configureWasm(): string {
  const pkgDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const distDir = path.join(pkgDir, 'dist') + path.sep;
  if (!wasmConfigured) {
    setWasmPaths(distDir);
    setThreadsCount(1);
    wasmConfigured = true;
  }
  return distDir;
}

/**
 * Which wasm binary tfjs will load, from the same feature flags it consults itself.
 * Only meaningful once the backend has been initialised.
 */
async function wasmFlavour(): Promise<string> {
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  if (simd && threads) return 'tfjs-backend-wasm-threaded-simd.wasm';
  if (simd) return 'tfjs-backend-wasm-simd.wasm';
  return 'tfjs-backend-wasm.wasm';
}

/** Float32 data for tfjs from seeded normal samples. */
function f32(values: Float64Array): Float32Array {
  return Float32Array.from(values);
}

/**
 * `tf.variable(init)` that does not leak `init`: the variable shares the initial tensor's
 * data (ref-counted), so the initial tensor handle can be disposed right away.
 */
function variable(init: tf.Tensor, trainable = true): tf.Variable {
  const v = tf.variable(init, trainable);
  init.dispose();
  return v;
}

/** One Affine layer: `y = x W + b`, W is [in, out]. */
interface Dense {
  readonly w: tf.Variable;
  readonly b: tf.Variable;
}

/** BatchNorm parameters and running statistics for one hidden layer. */
interface BatchNormParams {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
}

/**
 * TensorFlow.js on one backend, as a benchmark {@link Impl}.
 *
 * @example
 * ```ts
 * const impl = new TfjsImpl('wasm');
 * await impl.init(); await impl.activate();
 * const w2 = impl.mlp(MLP_SPECS.W2, 'float32'); w2.run(); w2.dispose();
 * ```
 */
export class TfjsImpl implements Impl {
  /** `"tfjs-cpu"` or `"tfjs-wasm"`. */
  readonly name: string;
  private wasmDir = '';
  private threads = '';
  private flavour = '';

  /** @param backend - the tfjs backend to run on. */
  constructor(readonly backend: TfjsBackendName) {
    this.name = `tfjs-${backend}`;
  }

  /** Initialise the backend (loads and compiles the wasm module for `wasm`). */
  async init(): Promise<void> {
    tf.enableProdMode();
    if (this.backend === 'wasm') this.wasmDir = configureWasm();
    const ok = await tf.setBackend(this.backend);
    if (!ok) throw new Error(`tf.setBackend('${this.backend}') returned false`);
    await tf.ready();
    if (tf.getBackend() !== this.backend) {
      throw new Error(`backend is '${tf.getBackend()}', expected '${this.backend}'`);
    }
    if (this.backend === 'wasm') {
      this.threads = String(getThreadsCount());
      this.flavour = await wasmFlavour();
    } else {
      this.threads = '1 (pure JS)';
    }
  }

  /** Switch tfjs' global backend to this implementation's backend. */
  async activate(): Promise<void> {
    if (tf.getBackend() !== this.backend) {
      await tf.setBackend(this.backend);
      await tf.ready();
    }
  }

  /** tfjs computes in float32 only. */
  supports(dtype: DType): boolean {
    return dtype === 'float32';
  }

  /** Version, backend, thread count and (for wasm) the binary in use. */
  describe(): Record<string, string> {
    const d: Record<string, string> = {
      '@tensorflow/tfjs': tf.version.tfjs,
      backend: this.backend,
      threads: this.threads,
    };
    if (this.backend === 'wasm') {
      d['wasm binary'] = this.flavour;
      d['wasm path'] = this.wasmDir;
    }
    return d;
  }

  /**
   * W1 on n×n float32 matrices. The backends run synchronously, so timing the call times the
   * work; the result (and any transposed copy) is disposed each run.
   *
   * @param n - matrix size.
   * @param op - the GEMM form.
   * @param dtype - must be float32.
   * @param variant - for A@Bᵀ and AᵀB: `flags`, `tf.matMul(a, b, transposeA, transposeB)`
   *   (default), or `tf.transpose`, `tf.matMul(a, tf.transpose(b))` / `tf.matMul(tf.transpose(a), b)`
   *   with the transpose inside the timed call (tfjs-wasm runs only flagless products through
   *   XNNPACK). See {@link TFJS_GEMM_VARIANTS}.
   */
  gemm(n: number, op: GemmOp, dtype: DType, variant: TfjsGemmVariant = 'flags'): Prepared {
    if (!this.supports(dtype)) throw new Error(`tfjs has no ${dtype}`);
    const a = tf.tensor2d(f32(randnArray(n * n, 1)), [n, n]);
    const b = tf.tensor2d(f32(randnArray(n * n, 2)), [n, n]);
    const transposeA = op === 'At@B';
    const transposeB = op === 'A@Bt';
    const run =
      variant === 'flags' || op === 'A@B'
        ? () => {
            tf.matMul(a, b, transposeA, transposeB).dispose();
          }
        : () => {
            tf.tidy(() => (transposeA ? tf.matMul(tf.transpose(a), b) : tf.matMul(a, tf.transpose(b)))).dispose();
          };
    return {
      run,
      dispose: () => {
        a.dispose();
        b.dispose();
      },
    };
  }

  /**
   * W2/W3/W4: one SGD training step, in one of the {@link TFJS_FORMULATIONS} (default
   * {@link TFJS_FIXED_CHOICE}; the runner picks per run with {@link TfjsImpl.formulation}). Every formulation computes the same step as
   * tapegrad's: Affine → BatchNorm (training mode: batch statistics, running statistics
   * updated with momentum 0.1) → activation per hidden layer, softmax cross-entropy (mean
   * over the batch) on the logits, plain SGD. All formulations of a workload start from
   * the same seeded parameters and data, so their losses agree step for step (the runner
   * checks this).
   *
   * @param spec - the workload.
   * @param dtype - must be float32.
   * @param formulation - id of a formulation in {@link TFJS_FORMULATIONS}.
   */
  mlp(spec: MlpSpec, dtype: DType, formulation: string = TFJS_FIXED_CHOICE[this.backend][spec.id]): Prepared {
    const p = this.formulation(spec, dtype, formulation);
    if (isAsyncPrepared(p)) {
      p.dispose();
      throw new Error(`tfjs formulation '${formulation}' is asynchronous; prepare it with formulation()`);
    }
    return p;
  }

  /**
   * Prepare a workload in a named formulation, synchronous or not (`layers, trainOnBatch`).
   *
   * @param spec - the workload.
   * @param dtype - must be float32.
   * @param formulation - id of a formulation in {@link TFJS_FORMULATIONS}.
   * @throws Error for float64 or an unknown id.
   */
  formulation(spec: MlpSpec, dtype: DType, formulation: string): AnyPrepared {
    if (!this.supports(dtype)) throw new Error(`tfjs has no ${dtype}`);
    const f = TFJS_FORMULATIONS.find((x) => x.id === formulation);
    if (f === undefined) {
      throw new Error(`tfjs formulation must be one of ${TFJS_FORMULATIONS.map((x) => `'${x.id}'`).join(', ')}, got '${formulation}'`);
    }
    return f.layers === undefined ? opsStep(spec, f) : layersStep(spec, f);
  }
}

/** How a transposed W1 product is written: with transpose flags, or with `tf.transpose` and a flagless product. */
export type TfjsGemmVariant = 'flags' | 'tf.transpose';

/** The W1 variants, with what each does. */
export const TFJS_GEMM_VARIANTS: readonly { readonly id: TfjsGemmVariant; readonly text: string }[] = [
  { id: 'flags', text: '`tf.matMul(a, b, transposeA, transposeB)`' },
  { id: 'tf.transpose', text: '`tf.matMul(a, tf.transpose(b))` / `tf.matMul(tf.transpose(a), b)`, the transpose timed with the product' },
];

/**
 * How a tfjs user might write one training step. The runner times every formulation that
 * applies to a workload and reports the fastest as the tfjs figure.
 */
export interface TfjsFormulation {
  /** Short id, shown in RESULTS.md. */
  readonly id: string;
  /** What the formulation does, in tfjs calls. */
  readonly text: string;
  /** Affine layer: `tf.fused.matMul({a, b, bias, activation})` or `tf.add(tf.matMul(a, b), bias)`. */
  readonly dense: 'fused' | 'matMul';
  /**
   * Whether the Affine layer is a `tf.customGrad` op whose gradient multiplies by explicitly
   * transposed operands (`tf.matMul(dy, tf.transpose(w))`, `tf.matMul(tf.transpose(x), dy)`)
   * instead of tfjs' own gradient, which passes `transposeA`/`transposeB` flags (tfjs-wasm
   * sends flagged products to a slow loop instead of XNNPACK).
   */
  readonly flaglessGrad: boolean;
  /** BatchNorm: `tf.moments` + `tf.batchNorm` (autograd), or a `tf.customGrad` op with the closed-form gradient. */
  readonly batchNorm: 'tf.batchNorm' | 'customGrad';
  /** Update: `optimizer.minimize`, or `tf.variableGrads` + `v.assign(v - lr·g)` in a `tf.tidy`. */
  readonly update: 'minimize' | 'variableGrads';
  /**
   * A tf.layers model (dense / batchNormalization / activation layers) instead of ops:
   * trained with `optimizer.minimize(() => loss(model.apply(x, { training: true })))`, or
   * with `model.trainOnBatch` (asynchronous: it reads the loss back every step).
   */
  readonly layers?: 'minimize' | 'trainOnBatch';
  /** Whether the BatchNorm choice matters (false: a duplicate on workloads without BatchNorm). */
  readonly needsBatchNorm?: boolean;
}

/**
 * Every formulation the runner can time: each combination of {@link TfjsFormulation.dense},
 * `flaglessGrad`, `batchNorm` and `update` written with ops, plus the two tf.layers ones.
 * Ids name what differs from the plain `tf.fused.matMul` / `tf.batchNorm` /
 * `optimizer.minimize` step, e.g. `matMul+add, flagless grad, BN customGrad`.
 */
export const TFJS_FORMULATIONS: readonly TfjsFormulation[] = buildFormulations();

function buildFormulations(): TfjsFormulation[] {
  const out: TfjsFormulation[] = [];
  for (const dense of ['fused', 'matMul'] as const) {
    for (const flaglessGrad of [false, true]) {
      for (const batchNorm of ['tf.batchNorm', 'customGrad'] as const) {
        for (const update of ['minimize', 'variableGrads'] as const) {
          const parts = [dense === 'fused' ? 'fused' : 'matMul+add'];
          const text = [
            dense === 'fused'
              ? '`tf.fused.matMul` (+bias, +ReLU when no BatchNorm follows)'
              : '`tf.matMul` + `tf.add` (+ `tf.relu`)',
          ];
          if (flaglessGrad) {
            parts.push('flagless grad');
            text.push(
              'each Affine layer a `tf.customGrad` op whose gradient is `tf.matMul(dz, tf.transpose(w))`, ' +
                '`tf.matMul(tf.transpose(x), dz)`, `tf.sum(dz, 0)` (no transpose flags; no input gradient on the data layer)',
            );
          }
          if (batchNorm === 'customGrad') {
            parts.push('BN customGrad');
            text.push('BatchNorm as a `tf.customGrad` op with the closed-form gradient');
          } else {
            text.push('`tf.moments` + `tf.batchNorm`');
          }
          if (update === 'variableGrads') {
            parts.push('variableGrads');
            text.push('`tf.variableGrads` + `v.assign(v - lr·g)` in a `tf.tidy`');
          } else {
            text.push('`optimizer.minimize`');
          }
          out.push({
            id: parts.join(', '),
            text: text.join('; '),
            dense,
            flaglessGrad,
            batchNorm,
            update,
            needsBatchNorm: batchNorm === 'customGrad',
          });
        }
      }
    }
  }
  out.push(
    {
      id: 'layers, minimize',
      text: 'a `tf.sequential` of `dense` / `batchNormalization` / `activation` layers, `optimizer.minimize` over `model.apply(x, { training: true })`',
      dense: 'fused', flaglessGrad: false, batchNorm: 'tf.batchNorm', update: 'minimize', layers: 'minimize',
    },
    {
      id: 'layers, trainOnBatch',
      text: 'the same `tf.sequential` model compiled with SGD, `await model.trainOnBatch(x, y)`',
      dense: 'fused', flaglessGrad: false, batchNorm: 'tf.batchNorm', update: 'minimize', layers: 'trainOnBatch',
    },
  );
  return out;
}

/**
 * The formulations the runner times by default (`--tfjs-formulations short`), per backend:
 * the plain `fused` and `matMul+add` steps, and those that came out fastest on some workload
 * when every formulation was timed with `--tfjs-formulations all` (tf.layers and
 * `variableGrads` were never faster than their ops / `minimize` counterparts beyond noise;
 * transpose-free gradients only pay on wasm). Formulations whose only difference is the
 * BatchNorm are left out on W3.
 */
export const TFJS_SHORTLIST: Readonly<Record<TfjsBackendName, readonly string[]>> = {
  cpu: ['fused', 'matMul+add', 'fused, BN customGrad', 'matMul+add, BN customGrad', 'fused, BN customGrad, variableGrads'],
  wasm: [
    'fused',
    'matMul+add',
    'fused, flagless grad',
    'matMul+add, flagless grad',
    'fused, flagless grad, BN customGrad',
    'matMul+add, flagless grad, BN customGrad',
    'matMul+add, flagless grad, BN customGrad, variableGrads',
  ],
};

/**
 * The formulation used without timing (`--tfjs-formulations fixed`, quick mode's default):
 * the fastest per workload and backend in full runs on the development machine.
 */
export const TFJS_FIXED_CHOICE: Readonly<Record<TfjsBackendName, Readonly<Record<MlpId, string>>>> = {
  cpu: { W2: 'matMul+add, BN customGrad', W3: 'matMul+add', W4: 'matMul+add, BN customGrad' },
  wasm: {
    W2: 'matMul+add, flagless grad, BN customGrad',
    W3: 'matMul+add, flagless grad',
    W4: 'matMul+add, flagless grad, BN customGrad',
  },
};

/**
 * The W1 variant used without timing for A@Bᵀ and AᵀB (`--tfjs-formulations fixed`): the
 * faster in full runs on the development machine.
 */
export const TFJS_FIXED_GEMM: Readonly<Record<TfjsBackendName, TfjsGemmVariant>> = { cpu: 'flags', wasm: 'tf.transpose' };

/**
 * The formulations worth timing on a workload: those whose BatchNorm choice is moot on a
 * workload without BatchNorm are left out (they would time the same code twice).
 *
 * @param spec - the workload.
 */
export function tfjsFormulationsFor(spec: MlpSpec): readonly TfjsFormulation[] {
  return TFJS_FORMULATIONS.filter((f) => spec.batchNorm || f.needsBatchNorm !== true);
}

/** Seeded data and parameters shared by every formulation of a workload (and PyTorch). */
interface StepData {
  readonly x: tf.Tensor2D;
  readonly yOneHot: tf.Tensor2D;
  readonly weights: MlpInit['weights'];
}

function stepData(spec: MlpSpec): StepData {
  const init = mlpInit(spec);
  const classes = spec.dims[spec.dims.length - 1];
  const x = tf.tensor2d(init.x, [spec.batch, spec.dims[0]]);
  const yOneHot = tf.tidy(() => tf.oneHot(tf.tensor1d(init.labels, 'int32'), classes).toFloat()) as tf.Tensor2D;
  return { x, yOneHot, weights: init.weights };
}

/** The hidden activation as tfjs ops. */
function applyActivation(activation: Activation, t: tf.Tensor): tf.Tensor {
  switch (activation) {
    case 'relu':
      return tf.relu(t);
    case 'tanh':
      return tf.tanh(t);
    case 'sigmoid':
      return tf.sigmoid(t);
    case 'gelu':
      // What tf.layers' 'gelu' activation computes: x * 0.5 * (1 + erf(x / sqrt 2)).
      return tf.mul(t, tf.mul(0.5, tf.add(1, tf.erf(tf.mul(t, Math.SQRT1_2)))));
  }
}

/**
 * `act(x W + b)` as a `tf.customGrad` op whose gradient uses flagless products:
 * `dx = dz · Wᵀ`, `dW = xᵀ · dz`, `db = Σ dz` with `dz = dy ⊙ act'(y)`; `tf.transpose` makes
 * the transposed operands. Only ReLU and linear are fused.
 *
 * A custom op's gradient function computes the gradient of every input it is given (tfjs'
 * own gradients are lazy and skip inputs off the path to the variables), so for the first
 * layer, whose input is data, `x` is captured instead (`constantInput`) and no `dx` is made.
 *
 * @param dense - forward with `tf.fused.matMul` or `tf.matMul` + `tf.add`.
 * @param relu - fuse a ReLU.
 * @param constantInput - the data input of the first layer, or null.
 * @returns `(x, w, b) => y`; with `constantInput`, `x` must be that tensor.
 */
function flaglessDense(
  dense: 'fused' | 'matMul',
  relu: boolean,
  constantInput: tf.Tensor | null,
): (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor {
  const forward = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor =>
    dense === 'fused'
      ? tf.fused.matMul({ a: x, b: w, bias: b, activation: relu ? 'relu' : 'linear' })
      : relu
        ? tf.relu(tf.add(tf.matMul(x, w), b))
        : tf.add(tf.matMul(x, w), b);
  const dzOf = (dy: tf.Tensor, y: tf.Tensor): tf.Tensor => (relu ? tf.mul(dy, tf.step(y)) : dy);
  if (constantInput !== null) {
    const x = constantInput;
    const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [w, b] = args as tf.Tensor[];
      const save = args[2] as tf.GradSaveFunc;
      const y = forward(x, w, b);
      save([y]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const dz = dzOf(dy, saved[0]);
          return [tf.matMul(tf.transpose(x), dz), tf.sum(dz, 0)];
        },
      };
    }) as (w: tf.Tensor, b: tf.Tensor) => tf.Tensor;
    return (xIn, w, b) => {
      if (xIn !== x) throw new Error('flaglessDense: the first layer takes its captured input only');
      return op(w, b);
    };
  }
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, w, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const y = forward(x, w, b);
    save([x, w, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw, sy] = saved;
        const dz = dzOf(dy, sy);
        return [tf.matMul(dz, tf.transpose(sw)), tf.matMul(tf.transpose(sx), dz), tf.sum(dz, 0)];
      },
    };
  }) as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;
}

/**
 * BatchNorm in training mode as a `tf.customGrad` op with the closed-form gradient
 * `dx = rstd · (g - mean(g) - x̂ · mean(g ⊙ x̂))`, `g = dy ⊙ γ`; the running statistics are
 * updated inside the forward pass.
 */
function customGradBatchNorm(bn: BatchNormParams): (h: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [h, gamma, beta] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const { mean, variance } = tf.moments(h, 0);
    updateRunning(bn, mean, variance);
    const rstd = tf.rsqrt(tf.add(variance, BN_EPS));
    const xhat = tf.mul(tf.sub(h, mean), rstd);
    save([xhat, rstd, gamma]);
    return {
      value: tf.add(tf.mul(xhat, gamma), beta),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sr, sg] = saved;
        const g = tf.mul(dy, sg);
        const dx = tf.mul(sr, tf.sub(tf.sub(g, tf.mean(g, 0)), tf.mul(sx, tf.mean(tf.mul(g, sx), 0))));
        return [dx, tf.sum(tf.mul(dy, sx), 0), tf.sum(dy, 0)];
      },
    };
  }) as (h: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;
}

/** Running statistics: `r ← (1 - m) r + m · batch`, as tfjs-layers and tapegrad do. */
function updateRunning(bn: BatchNormParams, mean: tf.Tensor, variance: tf.Tensor): void {
  bn.runningMean.assign(tf.add(tf.mul(bn.runningMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
  bn.runningVar.assign(tf.add(tf.mul(bn.runningVar, 1 - BN_MOMENTUM), tf.mul(variance, BN_MOMENTUM)));
}

/** A training step written with tfjs ops (every formulation without `layers`). */
function opsStep(spec: MlpSpec, f: TfjsFormulation): Prepared {
  const { x, yOneHot, weights } = stepData(spec);
  const dense: Dense[] = [];
  const norms: BatchNormParams[] = [];
  for (let i = 0; i < weights.length; i++) {
    const { w, fanIn, fanOut } = weights[i];
    dense.push({ w: variable(tf.tensor2d(w, [fanIn, fanOut])), b: variable(tf.zeros([fanOut])) });
    if (spec.batchNorm && i + 1 < weights.length) {
      norms.push({
        gamma: variable(tf.ones([fanOut])),
        beta: variable(tf.zeros([fanOut])),
        runningMean: variable(tf.zeros([fanOut]), false),
        runningVar: variable(tf.ones([fanOut]), false),
      });
    }
  }
  const trainable: tf.Variable[] = [];
  for (const d of dense) trainable.push(d.w, d.b);
  for (const n of norms) trainable.push(n.gamma, n.beta);
  const optimizer = tf.train.sgd(spec.lr);
  const activation = spec.activation ?? 'relu';
  // The fused kernel applies relu and sigmoid itself; tanh and GELU have no fused form. The
  // flagless customGrad ops fuse ReLU only.
  const fusable = f.flaglessGrad ? activation === 'relu' : activation === 'relu' || activation === 'sigmoid';
  const flagless = f.flaglessGrad
    ? dense.map((_, i) => {
        const last = i === dense.length - 1;
        const fuseAct = !last && !(spec.batchNorm && !last) && fusable;
        return flaglessDense(f.dense, fuseAct, i === 0 ? x : null);
      })
    : null;
  const customBn = f.batchNorm === 'customGrad' ? norms.map(customGradBatchNorm) : null;

  const lossFn = (): tf.Scalar => {
    let h: tf.Tensor = x;
    for (let i = 0; i < dense.length; i++) {
      const last = i === dense.length - 1;
      const bn = spec.batchNorm && !last ? norms[i] : undefined;
      const fuseAct = !last && !bn && fusable;
      const { w, b } = dense[i];
      if (f.flaglessGrad) {
        h = flagless![i](h, w, b);
      } else if (f.dense === 'fused') {
        h = tf.fused.matMul({ a: h, b: w, bias: b, activation: fuseAct ? (activation as 'relu' | 'sigmoid') : 'linear' });
      } else {
        h = tf.add(tf.matMul(h, w), b);
        if (fuseAct) h = applyActivation(activation, h);
      }
      if (!last && !bn && !fuseAct) h = applyActivation(activation, h);
      if (bn) {
        if (customBn !== null) {
          h = customBn[i](h, bn.gamma, bn.beta);
        } else {
          const { mean, variance } = tf.moments(h, 0);
          updateRunning(bn, mean, variance);
          h = tf.batchNorm(h, mean, variance, bn.beta, bn.gamma, BN_EPS);
        }
        h = applyActivation(activation, h);
      }
    }
    return tf.losses.softmaxCrossEntropy(yOneHot, h) as tf.Scalar;
  };

  const step = (keepLoss: boolean): tf.Scalar | null => {
    if (f.update === 'minimize') return optimizer.minimize(lossFn, keepLoss, trainable);
    let kept: tf.Scalar | null = null;
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(lossFn, trainable);
      for (const v of trainable) v.assign(tf.sub(v, tf.mul(grads[v.name], spec.lr)));
      if (keepLoss) kept = tf.keep(value);
    });
    return kept;
  };

  return {
    run: () => {
      // keepLoss = false: the timed step does not keep (or read back) the loss tensor.
      step(false);
    },
    stepWithLoss: () => {
      const loss = step(true);
      if (loss === null) return NaN;
      const v = loss.dataSync()[0];
      loss.dispose();
      return v;
    },
    dispose: () => {
      optimizer.dispose();
      x.dispose();
      yOneHot.dispose();
      for (const d of dense) {
        d.w.dispose();
        d.b.dispose();
      }
      for (const n of norms) {
        n.gamma.dispose();
        n.beta.dispose();
        n.runningMean.dispose();
        n.runningVar.dispose();
      }
    },
  };
}

/** A training step through a tf.layers model (`layers` formulations). */
function layersStep(spec: MlpSpec, f: TfjsFormulation): AnyPrepared {
  const { x, yOneHot, weights } = stepData(spec);
  const activation = spec.activation ?? 'relu';
  const model = tf.sequential();
  for (let i = 0; i < weights.length; i++) {
    const { w, fanIn, fanOut } = weights[i];
    const last = i + 1 === weights.length;
    const bn = spec.batchNorm && !last;
    const layer = tf.layers.dense({
      units: fanOut,
      inputShape: i === 0 ? [fanIn] : undefined,
      activation: last || bn ? 'linear' : activation,
    });
    model.add(layer);
    const kernel = tf.tensor2d(w, [fanIn, fanOut]);
    const bias = tf.zeros([fanOut]);
    layer.setWeights([kernel, bias]);
    kernel.dispose();
    bias.dispose();
    if (bn) {
      // tf.layers' momentum is the weight of the old value: 0.9 here is tapegrad's 0.1.
      model.add(tf.layers.batchNormalization({ axis: -1, momentum: 1 - BN_MOMENTUM, epsilon: BN_EPS }));
      model.add(tf.layers.activation({ activation }));
    }
  }
  const optimizer = tf.train.sgd(spec.lr);
  const lossOf = (yTrue: tf.Tensor, logits: tf.Tensor): tf.Scalar => tf.losses.softmaxCrossEntropy(yTrue, logits) as tf.Scalar;
  const dispose = (): void => {
    model.dispose();
    optimizer.dispose();
    x.dispose();
    yOneHot.dispose();
  };
  if (f.layers === 'trainOnBatch') {
    model.compile({ optimizer, loss: lossOf });
    const step = async (): Promise<number> => {
      const r = await model.trainOnBatch(x, yOneHot);
      return Array.isArray(r) ? r[0] : r;
    };
    const p: AsyncPrepared = {
      runAsync: async () => {
        await step();
      },
      stepWithLossAsync: step,
      dispose,
    };
    return p;
  }
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const lossFn = (): tf.Scalar => lossOf(yOneHot, model.apply(x, { training: true }) as tf.Tensor);
  return {
    run: () => {
      optimizer.minimize(lossFn, false, vars);
    },
    stepWithLoss: () => {
      const loss = optimizer.minimize(lossFn, true, vars);
      if (loss === null) return NaN;
      const v = loss.dataSync()[0];
      loss.dispose();
      return v;
    },
    dispose,
  };
}

/**
 * tfjs' own live-tensor accounting, for leak checks.
 *
 * @returns number of live tensors and bytes held by them on the current backend.
 */
export function tfjsMemory(): { numTensors: number; numBytes: number } {
  const m = tf.memory();
  return { numTensors: m.numTensors, numBytes: m.numBytes };
}
