/**
 * The browser side of the W2/W4 step-time benchmark (benchmarks/browser.ts drives it). Loaded
 * by bench.html as the page script, it starts itself again as a module worker and times the
 * steps there, where training runs in the playground too. The page exposes
 * `window.bench.run(id, samples)`, resolving to milliseconds per step of each sample.
 *
 * @module
 */
import * as tg from 'tapegrad';

import { makeStep, timeSteps, type WorkloadApi, type WorkloadId } from './workload';

interface Request { id: WorkloadId; samples: number; seq: number }
interface Reply { seq: number; times?: number[]; error?: string; env?: Record<string, unknown> }

const inWorker = typeof document === 'undefined';

if (inWorker) {
  const scope = self as unknown as { postMessage(m: Reply): void; onmessage: ((e: MessageEvent<Request>) => void) | null };
  const steps = new Map<WorkloadId, () => number>();
  const k = tg.kernels as typeof tg.kernels & { loadWasm?: () => Promise<unknown>; gemmThreadsReady?: (ms?: number) => Promise<boolean> };
  const ready = (async () => {
    const wasm = k.loadWasm !== undefined ? await k.loadWasm() : 'no loadWasm';
    const threadsUp = k.gemmThreadsReady !== undefined ? await k.gemmThreadsReady(10_000) : false;
    return { wasm, threadsUp, threads: k.gemmThreads() };
  })();
  scope.onmessage = async (e) => {
    const { id, samples, seq } = e.data;
    try {
      const env = await ready;
      let step = steps.get(id);
      if (step === undefined) {
        step = makeStep(tg as unknown as WorkloadApi, id);
        steps.set(id, step);
      }
      if (samples === 0) {
        scope.postMessage({ seq, times: [], env: { ...env, threads: k.gemmThreads() } });
        return;
      }
      scope.postMessage({ seq, times: timeSteps(step, id, samples, () => performance.now()) });
    } catch (err) {
      scope.postMessage({ seq, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
    }
  };
} else {
  const worker = new Worker(new URL('./bench.js', import.meta.url), { type: 'module' });
  const pending = new Map<number, (r: Reply) => void>();
  let seq = 0;
  worker.onmessage = (e: MessageEvent<Reply>) => {
    pending.get(e.data.seq)?.(e.data);
    pending.delete(e.data.seq);
  };
  const call = (id: WorkloadId, samples: number): Promise<Reply> => new Promise((resolve) => {
    const s = ++seq;
    pending.set(s, resolve);
    worker.postMessage({ id, samples, seq: s } satisfies Request);
  });
  (window as unknown as { bench: unknown }).bench = {
    /** Builds the workload (and reports the environment) without timing. */
    prepare: async (id: WorkloadId) => {
      const r = await call(id, 0);
      if (r.error !== undefined) throw new Error(r.error);
      return r.env;
    },
    run: async (id: WorkloadId, samples: number) => {
      const r = await call(id, samples);
      if (r.error !== undefined) throw new Error(r.error);
      return r.times;
    },
  };
  document.getElementById('status')!.textContent = 'ready: window.bench.run("W2" | "W4", samples)';
}
