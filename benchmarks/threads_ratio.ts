/**
 * Two threads against one, at the same moments: the W2 and W3 float32 training steps (batch
 * 256, 784-512-512-10, with and without BatchNorm) run in alternating rounds in one process,
 * a few steps with tapegrad's GEMMs on one thread, then a few on two, and so on, so that
 * whatever else the machine does falls on both alike. Prints the median step of each and
 * their ratio, with the two-thread check of `benchmarks/lib/machine.ts` (integer and SIMD
 * loops) before and after: a SIMD ratio well above 1 means the second virtual core shared its
 * floating-point units with someone, and the two-thread figure is then not an idle machine's.
 *
 * ```sh
 * npx ts-node --transpile-only -P tsconfig.json benchmarks/threads_ratio.ts [rounds (default 8)] [steps per round (default 20)]
 * ```
 *
 * @packageDocumentation
 */
import * as tg from '../src';
import { twoThreadCheck, twoThreadText } from './lib/machine';

/** One workload's model, optimizer and data, and a function running one training step. */
function workload(batchNorm: boolean): () => void {
  tg.manualSeed(1);
  const sizes = [784, 512, 512, 10];
  const layers: tg.nn.Module[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push(new tg.nn.Affine(sizes[i], sizes[i + 1], { dtype: 'float32' }));
    if (i + 2 < sizes.length) {
      if (batchNorm) layers.push(new tg.nn.BatchNorm1d(sizes[i + 1], { dtype: 'float32' }));
      layers.push(new tg.nn.ReLU());
    }
  }
  const model = new tg.nn.Sequential(...layers);
  const opt = new tg.optim.SGD(model.parameters(), { lr: 0.01 });
  const x = tg.Tensor.randn([256, 784], { dtype: 'float32' });
  const y = Int32Array.from({ length: 256 }, (_, i) => i % 10);
  return () => {
    opt.zeroGrad();
    tg.nn.softmaxCrossEntropy(model.forward(x), y).backward();
    opt.step();
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

void (async () => {
  const rounds = Number(process.argv[2] ?? 8);
  // Long enough rounds that the worker's core is not idle most of the time: a worker woken after
  // a one-thread round starts cold (its core may have run someone else meanwhile).
  const perRound = Number(process.argv[3] ?? 20);
  console.log(`before: two-thread check ${twoThreadText(await twoThreadCheck())}`);
  for (const [name, bn] of [['W2', true], ['W3', false]] as const) {
    const step = workload(bn);
    const times: Record<1 | 2, number[]> = { 1: [], 2: [] };
    for (let r = 0; r < rounds; r++) {
      for (const threads of r % 2 === 0 ? ([1, 2] as const) : ([2, 1] as const)) {
        tg.kernels.setGemmThreads(threads);
        if (threads === 2) await tg.kernels.gemmThreadsReady();
        for (let i = 0; i < 3; i++) step(); // warm: the pool, the worker's caches
        for (let i = 0; i < perRound; i++) {
          const t0 = performance.now();
          step();
          times[threads].push(performance.now() - t0);
        }
      }
    }
    const one = median(times[1]);
    const two = median(times[2]);
    console.log(`${name} float32: one thread ${one.toFixed(2)} ms, two threads ${two.toFixed(2)} ms, two / one ${(two / one).toFixed(3)} (medians of ${times[1].length} steps each)`);
  }
  console.log(`after: two-thread check ${twoThreadText(await twoThreadCheck())}`);
  const t = tg.kernels.gemmThreads();
  console.log(`helper thread: ${t.splitCalls} split calls, ${t.workerChunks} of ${t.chunks} chunks, ${t.stolenChunks} taken over, ${t.rests} rests`);
})();
