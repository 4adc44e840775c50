/**
 * The messages between the playground page and its training worker.
 *
 * @module
 */
import type { DatasetName } from './datasets';

/** Hidden activations offered (src/nn/activations.ts, plus ReLU from layers.ts). */
export const ACTIVATIONS = ['relu', 'tanh', 'gelu', 'silu', 'elu', 'leaky-relu', 'sigmoid', 'softplus'] as const;
/** One of {@link ACTIVATIONS}. */
export type ActivationName = (typeof ACTIVATIONS)[number];

/** Everything that defines a run; changing any of it resets training. */
export interface RunConfig {
  dataset: DatasetName;
  /** Noise level in [0, 1]. */
  noise: number;
  /** Data seed. */
  seed: number;
  /** Hidden layers, 1-3. */
  layers: number;
  /** Units per hidden layer. */
  width: number;
  activation: ActivationName;
  batchNorm: boolean;
  optimizer: 'sgd' | 'adam';
  /** Learning rate. */
  lr: number;
  /** Mini-batch size; 0 means the whole data set. */
  batchSize: number;
}

/** The page's defaults: a spiral that a 2 x 32 ReLU MLP with Adam learns in a few seconds. */
export const DEFAULT_CONFIG: RunConfig = {
  dataset: 'spiral',
  noise: 0.2,
  seed: 1,
  layers: 2,
  width: 32,
  activation: 'relu',
  batchNorm: false,
  optimizer: 'adam',
  lr: 0.01,
  batchSize: 32,
};

/** Page to worker. */
export type ToWorker =
  | { type: 'config'; config: RunConfig }
  | { type: 'play' }
  | { type: 'pause' }
  | { type: 'step' }
  | { type: 'reset' }
  | { type: 'inspect' };

/** One op of the tape of a training step, in the order it ran. */
export interface TapeRow {
  /** Index in forward order. */
  id: number;
  /** The op's name, as recorded on the tape. */
  op: string;
  /** The module whose forward ran it, if any. */
  module: string;
  /** Output shape. */
  shape: number[];
  /** Inputs: `#id` for recorded ops, a parameter's name, or `input`. */
  inputs: string[];
  /** L2 norm of the loss's gradient with respect to this op's output, when measured. */
  gradNorm: number | null;
}

/** A parameter's gradient after the inspected step. */
export interface ParamRow {
  name: string;
  shape: number[];
  gradNorm: number;
  /** L2 norm of the parameter itself. */
  norm: number;
}

/** What the worker knows about the library and the page's isolation. */
export interface Environment {
  crossOriginIsolated: boolean;
  /** `kernels.gemmThreads().requested`: 2 when large GEMMs may use a helper worker. */
  gemmThreads: number;
  /** Whether the library says threads are possible here. */
  threadsAvailable: boolean;
  /** `kernels.gemmVariant()`, or 'js' when WebAssembly is unavailable. */
  variant: string;
  /** Whether each WebAssembly module loaded. */
  wasm: { gemm: boolean; elementwise: boolean };
  /** Which library entry the page was built from. */
  entry: string;
}

/** Worker to page. */
export type FromWorker =
  | { type: 'ready'; env: Environment }
  | { type: 'data'; x: Float64Array; y: Int32Array; classes: number }
  | {
      type: 'progress';
      step: number;
      epoch: number;
      /** Mean training loss over the steps of the last slice. */
      loss: number;
      accuracy: number;
      running: boolean;
      /** Milliseconds per training step, averaged over the last slice. */
      stepMs: number;
      /** Per-cell class probabilities, `grid * grid * classes`, row-major from the top-left; sent every few slices. */
      probs?: Float32Array;
      grid?: number;
    }
  | { type: 'tape'; step: number; loss: number; rows: TapeRow[]; params: ParamRow[] }
  | { type: 'error'; message: string };

/** Decision-region grid cells per side. */
export const GRID = 72;
/** The square of the plane the page draws: [-EXTENT, EXTENT]². */
export const EXTENT = 1.25;
