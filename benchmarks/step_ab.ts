/**
 * Quick A/B of training steps between two checkouts of tapegrad: W2 and W3 (batch 256,
 * 784-512-512-10, with and without BatchNorm) and W4 (batch 64, 2-64-64-3 with BatchNorm), in
 * float32, SGD, softmax cross-entropy. Prints one JSON line: the median step time after a
 * fifth of the steps as warm-up (ms for W2/W3, µs for W4), and the GEMM thread statistics on
 * stderr. Run it alternately on the two checkouts and compare medians across runs:
 *
 * ```sh
 * ROOT=/path/to/old npx ts-node --transpile-only -P tsconfig.json benchmarks/step_ab.ts 2
 * ROOT=$PWD        npx ts-node --transpile-only -P tsconfig.json benchmarks/step_ab.ts 2
 * ```
 *
 * The argument is the GEMM thread count (1 or 2; default 1). ROOT defaults to this checkout.
 *
 * @packageDocumentation
 */
import * as path from 'node:path';

/* eslint-disable @typescript-eslint/no-require-imports */
const root = process.env.ROOT ?? path.resolve(__dirname, '..');
const tg = require(path.join(root, 'src')) as typeof import('../src');
/* eslint-enable @typescript-eslint/no-require-imports */
const threads = process.argv[2] === '2' ? 2 : 1;
tg.kernels.setGemmThreads(threads);

function mlp(sizes: number[], bn: boolean): InstanceType<typeof tg.nn.Sequential> {
  const layers: InstanceType<typeof tg.nn.Module>[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push(new tg.nn.Affine(sizes[i], sizes[i + 1], { dtype: 'float32' }));
    if (i + 2 < sizes.length) {
      if (bn) layers.push(new tg.nn.BatchNorm1d(sizes[i + 1], { dtype: 'float32' }));
      layers.push(new tg.nn.ReLU());
    }
  }
  return new tg.nn.Sequential(...layers);
}

/** Median step time in ms after a fifth of the steps as warm-up. */
function bench(sizes: number[], bn: boolean, batch: number, steps: number): number {
  tg.manualSeed(1);
  const model = mlp(sizes, bn);
  const opt = new tg.optim.SGD(model.parameters(), { lr: 0.01 });
  const x = tg.Tensor.randn([batch, sizes[0]], { dtype: 'float32' });
  const y = Int32Array.from({ length: batch }, (_, i) => i % sizes[sizes.length - 1]);
  const times: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    opt.zeroGrad();
    tg.nn.softmaxCrossEntropy(model.forward(x), y).backward();
    opt.step();
    times.push(performance.now() - t0);
  }
  const warm = times.slice(Math.floor(steps / 5)).sort((a, b) => a - b);
  return warm[Math.floor(warm.length / 2)];
}

void (async () => {
  if (threads === 2) await tg.kernels.gemmThreadsReady();
  const W2 = bench([784, 512, 512, 10], true, 256, 60);
  const W3 = bench([784, 512, 512, 10], false, 256, 60);
  const W4us = bench([2, 64, 64, 3], true, 64, 3000) * 1000;
  console.error(JSON.stringify(tg.kernels.gemmThreads()));
  console.log(JSON.stringify({ root, threads, variant: tg.kernels.gemmVariant(), W2: +W2.toFixed(3), W3: +W3.toFixed(3), W4us: +W4us.toFixed(1) }));
})();
