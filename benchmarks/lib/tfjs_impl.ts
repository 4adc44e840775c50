/**
 * The TensorFlow.js side of the benchmarks: the W1–W4 workloads on the `cpu` backend
 * (pure JavaScript) and the `wasm` backend (XNNPACK, one thread), written with low-level
 * tfjs ops the way a tfjs user would write them.
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
  DType,
  GemmOp,
  Impl,
  MlpSpec,
  Prepared,
  randnArray,
  randomLabels,
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
   * W1: `tf.matMul(a, b, transposeA, transposeB)` on n×n float32 matrices. The backends
   * run synchronously, so timing the call times the work; the result is disposed each run.
   */
  gemm(n: number, op: GemmOp, dtype: DType): Prepared {
    if (!this.supports(dtype)) throw new Error(`tfjs has no ${dtype}`);
    const a = tf.tensor2d(f32(randnArray(n * n, 1)), [n, n]);
    const b = tf.tensor2d(f32(randnArray(n * n, 2)), [n, n]);
    const transposeA = op === 'At@B';
    const transposeB = op === 'A@Bt';
    return {
      run: () => {
        tf.matMul(a, b, transposeA, transposeB).dispose();
      },
      dispose: () => {
        a.dispose();
        b.dispose();
      },
    };
  }

  /**
   * W2/W3/W4: one SGD training step with `optimizer.minimize` (which runs
   * `tf.variableGrads` inside a `tidy`, applies the update and disposes every intermediate).
   *
   * The forward pass is what tfjs-layers' Dense + BatchNormalization do, written with ops:
   * - Affine: `tf.fused.matMul({ a, b, bias, activation })`, the fused matmul + bias
   *   (+ ReLU when no BatchNorm follows) kernel that `tf.layers.dense` itself uses.
   * - BatchNorm (training mode): `tf.moments(h, 0)` for batch mean/variance, then
   *   `tf.batchNorm(h, mean, variance, beta, gamma, eps)`; running statistics are updated
   *   with `Variable.assign` inside the step, as tfjs-layers does.
   * - Loss: `tf.losses.softmaxCrossEntropy(oneHot, logits)` (mean over the batch).
   */
  mlp(spec: MlpSpec, dtype: DType): Prepared {
    if (!this.supports(dtype)) throw new Error(`tfjs has no ${dtype}`);
    const { batch, dims } = spec;
    const classes = dims[dims.length - 1];
    const x = tf.tensor2d(f32(randnArray(batch * dims[0], 11)), [batch, dims[0]]);
    const labels = randomLabels(batch, classes, 12);
    const yOneHot = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), classes).toFloat());

    const dense: Dense[] = [];
    const norms: BatchNormParams[] = [];
    for (let i = 0; i + 1 < dims.length; i++) {
      const fanIn = dims[i];
      const fanOut = dims[i + 1];
      dense.push({
        // He-normal init for ReLU layers; the scale only matters for keeping the loss sane.
        w: variable(
          tf.tensor2d(f32(randnArray(fanIn * fanOut, 100 + i, Math.sqrt(2 / fanIn))), [fanIn, fanOut]),
        ),
        b: variable(tf.zeros([fanOut])),
      });
      if (spec.batchNorm && i + 2 < dims.length) {
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
    const act = (t: tf.Tensor): tf.Tensor => {
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
    };
    const lossFn = (): tf.Scalar => {
      let h: tf.Tensor = x;
      for (let i = 0; i < dense.length; i++) {
        const last = i === dense.length - 1;
        const bn = spec.batchNorm && !last ? norms[i] : undefined;
        // The fused kernel applies relu and sigmoid itself; tanh and GELU have no fused form.
        const fusable = activation === 'relu' || activation === 'sigmoid';
        h = tf.fused.matMul({
          a: h,
          b: dense[i].w,
          bias: dense[i].b,
          activation: last || bn || !fusable ? 'linear' : activation,
        });
        if (!last && !bn && !fusable) h = act(h);
        if (bn) {
          const { mean, variance } = tf.moments(h, 0);
          bn.runningMean.assign(
            tf.add(tf.mul(bn.runningMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)),
          );
          bn.runningVar.assign(
            tf.add(tf.mul(bn.runningVar, 1 - BN_MOMENTUM), tf.mul(variance, BN_MOMENTUM)),
          );
          h = act(tf.batchNorm(h, mean, variance, bn.beta, bn.gamma, BN_EPS));
        }
      }
      return tf.losses.softmaxCrossEntropy(yOneHot, h) as tf.Scalar;
    };

    return {
      run: () => {
        // returnCost = false: the timed step does not keep (or read back) the loss tensor.
        optimizer.minimize(lossFn, false, trainable);
      },
      stepWithLoss: () => {
        // A step that keeps its cost, read back and freed.
        const loss = optimizer.minimize(lossFn, true, trainable);
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
