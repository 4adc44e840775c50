/**
 * The W2 and W4 training steps of benchmarks/lib/workloads.ts (batch 256, 784-512-BN-ReLU-
 * 512-BN-ReLU-10; batch 64, 2-64-BN-ReLU-64-BN-ReLU-3; float32, softmax cross-entropy, SGD),
 * written against the library passed in, so that the browser bench (bench.ts, on the browser
 * bundle) and the Node side (benchmarks/browser.ts, on src/) time the very same code.
 *
 * @module
 */

/** The members of tapegrad the workloads use. */
export interface WorkloadApi {
  manualSeed(seed: number): void;
  Tensor: { randn(shape: number[], opts: { dtype: 'float32' }): unknown };
  nn: {
    Affine: new (i: number, o: number, opts: { dtype: 'float32' }) => unknown;
    BatchNorm1d: new (n: number, opts: { dtype: 'float32' }) => unknown;
    ReLU: new () => unknown;
    Sequential: new (...layers: never[]) => { forward(x: never): unknown; parameters(): unknown[] };
    softmaxCrossEntropy(scores: never, labels: Int32Array): { backward(): void; item(): number };
  };
  optim: { SGD: new (params: never[], opts: { lr: number }) => { zeroGrad(): void; step(): void } };
}

/** The workloads timed. */
export const WORKLOADS = {
  W2: { batch: 256, dims: [784, 512, 512, 10], lr: 0.01, stepsPerSample: 1 },
  W4: { batch: 64, dims: [2, 64, 64, 3], lr: 0.01, stepsPerSample: 50 },
} as const;
/** A key of {@link WORKLOADS}. */
export type WorkloadId = keyof typeof WORKLOADS;

/**
 * Builds a workload and returns its training step.
 *
 * @param tg - the library.
 * @param id - 'W2' or 'W4'.
 * @returns one step: zeroGrad, forward, loss, backward, SGD step; it returns the loss.
 */
export function makeStep(tg: WorkloadApi, id: WorkloadId): () => number {
  const spec = WORKLOADS[id];
  tg.manualSeed(0);
  const layers: unknown[] = [];
  const { dims } = spec;
  for (let i = 0; i + 1 < dims.length; i++) {
    layers.push(new tg.nn.Affine(dims[i], dims[i + 1], { dtype: 'float32' }));
    if (i + 2 < dims.length) {
      layers.push(new tg.nn.BatchNorm1d(dims[i + 1], { dtype: 'float32' }));
      layers.push(new tg.nn.ReLU());
    }
  }
  const model = new tg.nn.Sequential(...(layers as never[]));
  const opt = new tg.optim.SGD(model.parameters() as never[], { lr: spec.lr });
  const x = tg.Tensor.randn([spec.batch, dims[0]], { dtype: 'float32' });
  const classes = dims[dims.length - 1];
  const y = new Int32Array(spec.batch);
  let s = 12;
  for (let i = 0; i < y.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    y[i] = Math.floor((s / 2 ** 32) * classes);
  }
  return () => {
    opt.zeroGrad();
    const loss = tg.nn.softmaxCrossEntropy(model.forward(x as never) as never, y);
    loss.backward();
    opt.step();
    return loss.item();
  };
}

/**
 * Times `samples` samples of a step: each sample is the mean of `stepsPerSample` back-to-back
 * steps, in milliseconds per step.
 *
 * @param step - from {@link makeStep}.
 * @param id - which workload (for its steps per sample).
 * @param samples - how many samples.
 * @param now - the clock, in ms.
 * @returns ms per step of each sample.
 */
export function timeSteps(step: () => number, id: WorkloadId, samples: number, now: () => number): number[] {
  const reps = WORKLOADS[id].stepsPerSample;
  const out: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t0 = now();
    for (let r = 0; r < reps; r++) step();
    out.push((now() - t0) / reps);
  }
  return out;
}
