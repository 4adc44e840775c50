/**
 * The tapegrad side of the benchmarks: W1–W4 written against tapegrad's public API as
 * planned in the project's API contract:
 *
 * ```ts
 * import { Tensor, manualSeed, nn, optim } from '../src';
 * const model = new nn.Sequential(new nn.Affine(784, 512, { dtype }), new nn.BatchNorm1d(512, { dtype }),
 *   new nn.ReLU(), ...);
 * const opt = new optim.SGD(model.parameters(), { lr: 0.01 });
 * opt.zeroGrad(); const loss = nn.softmaxCrossEntropy(model.forward(x), y); loss.backward(); opt.step();
 * ```
 *
 * The library is loaded lazily in {@link TapegradImpl.init} with `require('../../src')`
 * and checked member by member against {@link TapegradApi} (the base at load time, the
 * members a workload needs when that workload is prepared), so while the library is
 * missing or incomplete the harness reports `error: tapegrad API missing: ...` for the
 * affected figures instead of failing to start. The local {@link TapegradApi} interface is
 * the contract this file is written against; when the real `src/index.ts` changes shape,
 * the runtime check names the missing member.
 *
 * @packageDocumentation
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Activation, DType, GemmOp, Impl, MlpSpec, Prepared, randomLabels } from './workloads';

/** Options accepted by tapegrad constructors and factories that allocate tensors. */
export interface TapegradDTypeOptions {
  /** Element type; float32 or float64. */
  readonly dtype?: DType;
}

/** The parts of a tapegrad `Tensor` the benchmarks use. */
export interface TapegradTensor {
  /** Matrix product `this @ other`. */
  matmul(other: TapegradTensor): TapegradTensor;
  /** Transpose of a 2-D tensor. */
  transpose(): TapegradTensor;
  /** Row-major values (a Float32Array or Float64Array). */
  readonly data: Float32Array | Float64Array;
  /** Back-propagate from this (scalar) tensor. */
  backward(): void;
  /** The value of a one-element tensor, if the API offers it. */
  item?(): number;
}

/** Static side of tapegrad's `Tensor` class, as used here. */
export interface TapegradTensorStatic {
  /** Standard-normal tensor of the given shape. */
  randn(shape: number[], opts?: TapegradDTypeOptions): TapegradTensor;
  /** Zero tensor of the given shape. */
  zeros(shape: number[], opts?: TapegradDTypeOptions): TapegradTensor;
}

/** A tapegrad `nn` module. */
export interface TapegradModule {
  /** Apply the module. */
  forward(x: TapegradTensor): TapegradTensor;
  /** Trainable parameters. */
  parameters(): TapegradTensor[];
}

/** A tapegrad optimizer. */
export interface TapegradOptimizer {
  /** Clear the gradients of every parameter. */
  zeroGrad(): void;
  /** Apply one update. */
  step(): void;
}

/** Kernel-level GEMM: `C[m, n] = op(A) @ op(B)` on row-major typed arrays. */
export type TapegradGemm = (
  a: Float32Array | Float64Array,
  b: Float32Array | Float64Array,
  c: Float32Array | Float64Array,
  m: number,
  n: number,
  k: number,
  opts?: { transA?: boolean; transB?: boolean },
) => void;

/** The subset of tapegrad's public API (planned contract) that the benchmarks use. */
export interface TapegradApi {
  /** The tensor class. */
  readonly Tensor: TapegradTensorStatic;
  /** Seed tapegrad's global PRNG. */
  manualSeed(seed: number): void;
  /** Layers and losses. */
  readonly nn: {
    readonly Sequential: new (...layers: TapegradModule[]) => TapegradModule;
    readonly Affine: new (inFeatures: number, outFeatures: number, opts?: TapegradDTypeOptions) => TapegradModule;
    readonly BatchNorm1d: new (features: number, opts?: TapegradDTypeOptions) => TapegradModule;
    readonly ReLU: new () => TapegradModule;
    readonly Tanh?: new () => TapegradModule;
    readonly Sigmoid?: new () => TapegradModule;
    readonly GELU?: new () => TapegradModule;
    softmaxCrossEntropy(logits: TapegradTensor, labels: Int32Array): TapegradTensor;
  };
  /** Optimizers. */
  readonly optim: {
    readonly SGD: new (params: TapegradTensor[], opts: { lr: number }) => TapegradOptimizer;
  };
  /** Low-level kernels; `gemm` is used for the transposed W1 forms when present. */
  readonly kernels?: {
    readonly gemm?: TapegradGemm;
    readonly gemmThreads?: () => { requested: number; active: boolean; splitCalls: number; workerChunks: number; stolenChunks?: number; rests?: number };
    readonly gemmVariant?: () => string;
    readonly setGemmThreads?: (n: 1 | 2, minWork?: number) => void;
    readonly gemmThreadsReady?: (timeoutMs?: number) => Promise<boolean>;
  };
}

/** Members every workload needs, by dotted path: checked when the library is loaded. */
const BASE_FUNCTIONS: readonly string[] = ['Tensor', 'Tensor.randn', 'manualSeed'];

/** Members W1 needs on `Tensor.prototype`. */
const GEMM_FUNCTIONS: readonly string[] = ['Tensor.prototype.matmul', 'Tensor.prototype.transpose'];

/** Members the training-step workloads (W2–W4, MEM) need. */
const MLP_FUNCTIONS: readonly string[] = [
  'nn.Sequential',
  'nn.Affine',
  'nn.BatchNorm1d',
  'nn.ReLU',
  'nn.softmaxCrossEntropy',
  'optim.SGD',
];

/** Follow a dotted path through nested objects/functions; undefined if any step is missing. */
function lookup(root: unknown, dotted: string): unknown {
  let cur: unknown = root;
  for (const key of dotted.split('.')) {
    if ((typeof cur !== 'object' && typeof cur !== 'function') || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/**
 * Throw unless every dotted path names a function on `mod`.
 *
 * @param mod - the loaded module.
 * @param paths - dotted member paths.
 * @throws Error `tapegrad API missing: a.b, c.d`.
 */
function requireFunctions(mod: unknown, paths: readonly string[]): void {
  const missing = paths.filter((p) => typeof lookup(mod, p) !== 'function');
  if (missing.length > 0) throw new Error(`tapegrad API missing: ${missing.join(', ')}`);
}

/**
 * Load tapegrad from the project's sources and check that it has the base of the planned
 * API (workload-specific members are checked when a workload is prepared).
 *
 * @returns the module, typed as the planned API.
 * @throws Error naming the missing file or members.
 */
export function loadTapegrad(): TapegradApi {
  const srcDir = path.resolve(__dirname, '..', '..', 'src');
  if (!fs.existsSync(path.join(srcDir, 'index.ts')) && !fs.existsSync(path.join(srcDir, 'index.js'))) {
    throw new Error('tapegrad not available yet: src/index.ts does not exist');
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod: unknown = require(srcDir);
  requireFunctions(mod, BASE_FUNCTIONS);
  return mod as TapegradApi;
}

/**
 * The kernel-level GEMM with transpose flags, if the loaded library exposes it as
 * `kernels.gemm(a, b, c, m, n, k, { transA, transB })` on row-major typed arrays.
 */
function kernelGemm(mod: TapegradApi): TapegradGemm | null {
  const g = lookup(mod, 'kernels.gemm');
  return typeof g === 'function' && g.length >= 6 ? (g as TapegradGemm) : null;
}

/** Read a scalar loss out of a tapegrad tensor, whatever accessor the API ends up having. */
function scalarOf(t: TapegradTensor): number {
  if (typeof t.item === 'function') return t.item();
  const data: unknown = t.data;
  if (data instanceof Float32Array || data instanceof Float64Array) return data[0];
  return NaN;
}

/** The version field of the project's package.json. */
function projectVersion(): string {
  try {
    const pkg = JSON.parse(
      fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8'),
    ) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * tapegrad as a benchmark {@link Impl}.
 *
 * @example
 * ```ts
 * const tg = new TapegradImpl();
 * await tg.init();               // throws if src/ does not have the API yet
 * const w2 = tg.mlp(MLP_SPECS.W2, 'float64'); w2.run();
 * ```
 */
export class TapegradImpl implements Impl {
  /** Always `"tapegrad"`. */
  readonly name = 'tapegrad';
  private api: TapegradApi | null = null;
  private transposedGemm = '';

  /** Load and check the library. */
  async init(): Promise<void> {
    this.api = loadTapegrad();
    this.api.manualSeed(0);
  }

  /** Nothing to switch: tapegrad has no global backend. */
  async activate(): Promise<void> {
    /* no global state to switch */
  }

  /** tapegrad computes in both float32 and float64. */
  supports(dtype: DType): boolean {
    return dtype === 'float32' || dtype === 'float64';
  }

  /** Package version and threading. */
  describe(): Record<string, string> {
    const t = this.api?.kernels?.gemmThreads?.();
    const threads =
      t === undefined
        ? '1 (main thread only)'
        : t.requested === 2
          ? `GEMMs of at least 2^22 multiply-adds split with one worker thread (${t.splitCalls} split calls, ` +
            `${t.workerChunks} chunks done by the worker, ${t.stolenChunks ?? 0} taken over from it when late, ` +
            `${t.rests ?? 0} rests so far); everything else on the main thread`
          : '1 (main thread only)';
    const d: Record<string, string> = { tapegrad: projectVersion(), threads };
    const variant = this.api?.kernels?.gemmVariant?.();
    if (variant !== undefined) {
      d['GEMM build'] = variant === 'fma'
        ? 'fma (relaxed-simd fused multiply-add; TAPEGRAD_FMA=0 selects the plain SIMD128 build)'
        : 'simd (plain SIMD128 multiply and add)';
    }
    if (this.transposedGemm) d['transposed GEMM via'] = this.transposedGemm;
    return d;
  }

  /** The two-thread GEMM's counters so far (null when the library does not have them). */
  threadStats(): { split: number; worker: number; stolen: number; rests: number } | null {
    const t = this.api?.kernels?.gemmThreads?.();
    if (t === undefined) return null;
    return { split: t.splitCalls, worker: t.workerChunks, stolen: t.stolenChunks ?? 0, rests: t.rests ?? 0 };
  }

  /** The GEMM thread setting (1 when the library does not say). */
  gemmThreadCount(): 1 | 2 {
    return this.api?.kernels?.gemmThreads?.().requested === 2 ? 2 : 1;
  }

  /**
   * Sets how many threads large GEMMs use (`kernels.setGemmThreads`); with 2, waits up to
   * 5 s for the helper worker so the next figure starts with it.
   *
   * @param n - 1 or 2.
   * @returns false when the library has no `kernels.setGemmThreads`.
   */
  async setGemmThreads(n: 1 | 2): Promise<boolean> {
    const k = this.tg().kernels;
    if (k?.setGemmThreads === undefined) return false;
    k.setGemmThreads(n);
    if (n === 2) await k.gemmThreadsReady?.(5000);
    return true;
  }

  private tg(): TapegradApi {
    if (this.api === null) throw new Error('tapegrad: init() was not called or failed');
    return this.api;
  }

  /**
   * W1 on tapegrad Tensors (no grad tracking: the inputs do not require grad).
   *
   * - `A@B`: `a.matmul(b)`, the public Tensor API (allocates the result, like `tf.matMul`).
   * - `A@Bt`, `At@B`: when the library exposes `kernels.gemm` with `transA`/`transB` flags,
   *   that kernel on the tensors' data into one library-made output reused by every call, the
   *   counterpart of `tf.matMul(a, b, transposeA, transposeB)`. Otherwise (the library
   *   before it exposed the kernel) `a.matmul(b.transpose())` and
   *   `a.transpose().matmul(b)`, whose time includes whatever `transpose()` costs.
   *   {@link TapegradImpl.describe} records which path ran.
   */
  gemm(n: number, op: GemmOp, dtype: DType): Prepared {
    const tg = this.tg();
    requireFunctions(tg, GEMM_FUNCTIONS);
    tg.manualSeed(1);
    const a = tg.Tensor.randn([n, n], { dtype });
    const b = tg.Tensor.randn([n, n], { dtype });
    const kgemm = kernelGemm(tg);
    let run: () => void;
    if (op === 'A@B') {
      run = () => {
        a.matmul(b);
      };
    } else if (kgemm !== null) {
      this.transposedGemm = 'kernels.gemm(a, b, c, m, n, k, { transA, transB }) into one output tensor made by the library and reused';
      const opts = { transA: op === 'At@B', transB: op === 'A@Bt' };
      const ad = a.data;
      const bd = b.data;
      // The output is allocated once, by the library (so it lives where its kernels run, as
      // matmul's pooled result does for A@B), and reused, as a user of a GEMM kernel writes it:
      // a fresh 4 MiB typed array per call would mostly time the first touch of its pages.
      const c = tg.Tensor.zeros([n, n], { dtype }).data;
      run = () => {
        kgemm(ad, bd, c, n, n, n, opts);
      };
    } else {
      this.transposedGemm = 'a.matmul(b.transpose()) / a.transpose().matmul(b)';
      run =
        op === 'A@Bt'
          ? () => {
              a.matmul(b.transpose());
            }
          : () => {
              a.transpose().matmul(b);
            };
    }
    return {
      run,
      dispose: () => {
        /* garbage-collected */
      },
    };
  }

  /** W2/W3/W4: `zeroGrad → forward → softmaxCrossEntropy → backward → step`. */
  mlp(spec: MlpSpec, dtype: DType): Prepared {
    const tg = this.tg();
    requireFunctions(tg, MLP_FUNCTIONS);
    const { nn, optim } = tg;
    tg.manualSeed(0);
    const { batch, dims } = spec;
    const layers: TapegradModule[] = [];
    for (let i = 0; i + 1 < dims.length; i++) {
      layers.push(new nn.Affine(dims[i], dims[i + 1], { dtype }));
      if (i + 2 < dims.length) {
        if (spec.batchNorm) layers.push(new nn.BatchNorm1d(dims[i + 1], { dtype }));
        layers.push(activationLayer(nn, spec.activation ?? 'relu'));
      }
    }
    const model = new nn.Sequential(...layers);
    const opt = new optim.SGD(model.parameters(), { lr: spec.lr });
    const x = tg.Tensor.randn([batch, dims[0]], { dtype });
    const y = randomLabels(batch, dims[dims.length - 1], 12);
    const step = (): TapegradTensor => {
      opt.zeroGrad();
      const loss = nn.softmaxCrossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      return loss;
    };
    return {
      run: () => {
        step();
      },
      stepWithLoss: () => scalarOf(step()),
      dispose: () => {
        /* garbage-collected */
      },
    };
  }
}

/** The hidden activation layer of a training-step workload. */
function activationLayer(nn: TapegradApi['nn'], activation: Activation): TapegradModule {
  const ctor = { relu: nn.ReLU, tanh: nn.Tanh, sigmoid: nn.Sigmoid, gelu: nn.GELU }[activation];
  if (ctor === undefined) throw new Error(`this tapegrad has no layer for the ${activation} activation`);
  return new ctor();
}
