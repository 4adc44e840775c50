/**
 * W2 (or W3/W4) with each hidden activation, timed round-robin: every round runs one training
 * step of each activation (the order rotating from round to round), so all activations share
 * the same moments of a loaded machine. Reports, per implementation and dtype, the median step
 * time of each activation and the median over rounds of its ratio to the ReLU step of the same
 * round.
 *
 * Usage: npx ts-node --transpile-only benchmarks/activation_ratio.ts [--impl tapegrad,tfjs-wasm]
 *        [--only W2] [--dtype float32,float64] [--activation relu,tanh,gelu] [--rounds 25] [--warmup 5]
 *
 * @packageDocumentation
 */
import { parseArgs } from 'node:util';

import { createImpl, IMPL_NAMES, isImplName } from './lib/impls';
import { nowMs } from './lib/timing';
import { ACTIVATIONS, type Activation, type DType, MLP_SPECS, type MlpId, withActivation } from './lib/workloads';

function list<T extends string>(flag: string, v: string | undefined, allowed: readonly string[], fallback: T[]): T[] {
  if (v === undefined) return fallback;
  const out = v.split(',').map((s) => s.trim());
  for (const s of out) if (!allowed.includes(s)) throw new Error(`${flag}: unknown '${s}', expected one of ${allowed.join(',')}`);
  return out as T[];
}

const median = (a: number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      impl: { type: 'string' },
      only: { type: 'string' },
      dtype: { type: 'string' },
      activation: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
    },
    strict: true,
  });
  const impls = list('--impl', values.impl, IMPL_NAMES, ['tapegrad', 'tfjs-wasm']).filter(isImplName);
  const id = list<MlpId>('--only', values.only, ['W2', 'W3', 'W4'], ['W2'])[0];
  const dtypes = list<DType>('--dtype', values.dtype, ['float32', 'float64'], ['float32', 'float64']);
  const acts = list<Activation>('--activation', values.activation, ACTIVATIONS, ['relu', 'tanh', 'gelu']);
  if (acts[0] !== 'relu') acts.unshift('relu');
  const rounds = Number(values.rounds ?? 25);
  const warmup = Number(values.warmup ?? 5);
  const lines: string[] = [];
  for (const name of impls) {
    const impl = createImpl(name);
    await impl.init();
    await impl.activate();
    for (const dtype of dtypes) {
      if (!impl.supports(dtype)) continue;
      const prepared = acts.map((a) => impl.mlp(withActivation(MLP_SPECS[id], a), dtype));
      for (let w = 0; w < warmup; w++) for (const p of prepared) p.run();
      const times: number[][] = acts.map(() => []);
      for (let r = 0; r < rounds; r++) {
        for (let j = 0; j < acts.length; j++) {
          const k = (j + r) % acts.length;
          const t0 = nowMs();
          prepared[k].run();
          times[k].push(nowMs() - t0);
        }
      }
      for (const p of prepared) p.dispose();
      const cells = acts.map((a, k) => {
        const ratio = median(times[k].map((t, r) => t / times[0][r]));
        return `${a} ${median(times[k]).toFixed(2)} ms (${ratio.toFixed(2)}x)`;
      });
      const line = `${id} ${name} ${dtype}: ${cells.join(', ')}`;
      console.log(line);
      lines.push(line);
    }
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
