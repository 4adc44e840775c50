/**
 * The benchmark harness's own logic: interleaved timing, the machine-load verdict, and that
 * every tfjs formulation computes the same training step.
 */
import { TfjsImpl, TFJS_FORMULATIONS, tfjsFormulationsFor } from '../../benchmarks/lib/tfjs_impl';
import { RunReport, busyVerdict, loadSentence } from '../../benchmarks/lib/report';
import { DeadlineExceeded, Sampler, Stats, measureInterleaved, nowMs } from '../../benchmarks/lib/timing';
import { MlpSpec, isAsyncPrepared } from '../../benchmarks/lib/workloads';

/** A sampler whose calls busy-wait `ms` each, logging its name per sample. */
function busySampler(name: string, ms: number, log: string[]): Sampler {
  return {
    sample: async (reps) => {
      const t0 = nowMs();
      while (nowMs() - t0 < ms * reps) {
        /* spin */
      }
      log.push(name);
      const per = (nowMs() - t0) / reps;
      return { wallMs: per, cpuMs: per };
    },
  };
}

const OPTS = { warmupCalls: 1, warmupMs: 5, minSamples: 4, maxSamples: 50, budgetMs: 20, minSampleMs: 1 };

describe('measureInterleaved', () => {
  it('gives every sampler its minimum samples, interleaved, with medians near the true cost', async () => {
    const log: string[] = [];
    const [fast, slow] = await measureInterleaved([busySampler('fast', 0.2, log), busySampler('slow', 3, log)], OPTS);
    expect(fast).not.toBeInstanceOf(Error);
    expect(slow).not.toBeInstanceOf(Error);
    const f = fast as Stats;
    const s = slow as Stats;
    expect(f.samples).toBeGreaterThanOrEqual(4);
    expect(s.samples).toBeGreaterThanOrEqual(4);
    expect(f.median).toBeGreaterThanOrEqual(0.2);
    expect(s.median).toBeGreaterThanOrEqual(3);
    expect(s.median).toBeLessThan(30);
    // Warm-up runs one sampler after the other (one switch); the rounds then alternate, so a
    // run of at least four rounds switches between the two at least seven times.
    const switches = log.filter((n, i) => i > 0 && n !== log[i - 1]).length;
    expect(switches).toBeGreaterThanOrEqual(7);
  });

  it('reports a failing sampler as an Error and still measures the others', async () => {
    const log: string[] = [];
    let calls = 0;
    const failing: Sampler = {
      sample: async () => {
        if (++calls > 3) throw new Error('boom');
        return { wallMs: 0.1, cpuMs: 0.1 };
      },
    };
    const [ok, bad] = await measureInterleaved([busySampler('ok', 0.2, log), failing], OPTS);
    expect(ok).not.toBeInstanceOf(Error);
    expect(bad).toBeInstanceOf(Error);
    expect((bad as Error).message).toBe('boom');
  });

  it('skips a sampler whose first call shows it cannot finish before the hard deadline', async () => {
    const log: string[] = [];
    const [r] = await measureInterleaved([busySampler('slow', 5, log)], { ...OPTS, hardDeadline: nowMs() + 2 });
    expect(r).toBeInstanceOf(DeadlineExceeded);
  });
});

/** A minimal report with the given load evidence. */
function report(twoThread: number, othersCores: number, loadStart: number, tapegradThreads: 1 | 2, simdRatio = 1): RunReport {
  const simd = { oneThreadMs: 10, twoThreadMs: 10 * simdRatio, ratio: simdRatio };
  const check = { oneThreadMs: 10, twoThreadMs: 10 * twoThread, ratio: twoThread, simd, worst: Math.max(twoThread, simdRatio) };
  return {
    argv: [], quick: true, startDate: new Date(0), elapsedS: 1, implNames: ['tapegrad'], describe: [],
    figures: [{
      workload: 'W2', caseLabel: 'c', dtype: 'float32', metric: 'ms/step', extra: {}, cells: new Map(), ran: new Map(),
      pinned: false, load: { othersCores, stealCores: 0, ownCores: 1, ms: 1000 },
    }],
    calibrations: [], formulationTexts: new Map(), customGradIds: new Set(), torchChoices: [], torchNote: null,
    loadStart: [loadStart, 0, 0], loadEnd: [0, 0, 0], twoThreadStart: check, twoThreadEnd: check,
    workloadLoads: [], runLoad: null, pinnedRun: null, pinnedNote: null, tapegradThreads,
    dtypePair: null, memory: [], memSteps: 0, memFrom: 0, tgTransposed: '',
  };
}

describe('busyVerdict / loadSentence', () => {
  it('calls a quiet machine quiet', () => {
    const r = report(1.05, 0.1, 0.3, 2);
    expect(busyVerdict(r)).toEqual({ busy: false, evidence: [] });
    expect(loadSentence(r)).toMatch(/second core looked free/);
  });

  it('counts the second core as taken when only the SIMD loop slows down (a shared physical core)', () => {
    const v = busyVerdict(report(1.02, 0.1, 0.3, 2, 1.45));
    expect(v.busy).toBe(true);
    expect(v.evidence[0]).toBe('2 of 2 two-thread checks above 1.3 (1.45)');
  });

  it('says two-thread figures are not representative when the two-thread check is slow', () => {
    const r = report(1.9, 0.1, 0.3, 2);
    const v = busyVerdict(r);
    expect(v.busy).toBe(true);
    expect(v.evidence[0]).toBe('2 of 2 two-thread checks above 1.3 (1.90)');
    expect(loadSentence(r)).toMatch(/Another tenant held the second core.*two-thread figures .* not representative/);
  });

  it('counts other processes\' CPU use during a figure; the load average only without direct measurements', () => {
    expect(busyVerdict(report(1.0, 0.9, 0.3, 1)).evidence).toEqual(['W2 float32: other processes used 0.90 cores']);
    // A lagging load average does not outvote a quiet two-thread check and quiet figures...
    expect(busyVerdict(report(1.0, 0.1, 1.7, 1)).busy).toBe(false);
    // ...but decides when nothing was measured directly.
    const blind: RunReport = { ...report(1.0, 0.1, 1.7, 1), twoThreadStart: null, twoThreadEnd: null };
    (blind.figures[0] as { load: unknown }).load = null;
    expect(busyVerdict(blind).evidence).toEqual(['1-minute load average at start 1.70 (no direct measurement)']);
    // With tapegrad on one thread there is no two-thread figure to disown.
    expect(loadSentence(report(1.0, 0.9, 0.3, 1))).not.toMatch(/not representative/);
  });
});

describe('tfjs formulations', () => {
  const small: MlpSpec[] = [
    { id: 'W4', batch: 16, dims: [6, 12, 12, 3], batchNorm: true, lr: 0.05, unit: 'µs/step', title: 'small, BN' },
    { id: 'W3', batch: 16, dims: [6, 12, 12, 3], batchNorm: false, lr: 0.05, unit: 'µs/step', title: 'small, no BN' },
  ];
  let impl: TfjsImpl;
  beforeAll(async () => {
    impl = new TfjsImpl('cpu');
    await impl.init();
  });

  it('has unique ids', () => {
    expect(new Set(TFJS_FORMULATIONS.map((f) => f.id)).size).toBe(TFJS_FORMULATIONS.length);
  });

  it.each(small)('computes the same losses in every formulation for four steps ($title)', async (spec) => {
    const losses: Record<string, number[]> = {};
    for (const f of tfjsFormulationsFor(spec)) {
      const p = impl.formulation(spec, 'float32', f.id);
      const ls: number[] = [];
      for (let i = 0; i < 4; i++) ls.push(isAsyncPrepared(p) ? await p.stepWithLossAsync() : p.stepWithLoss!());
      p.dispose();
      losses[f.id] = ls;
    }
    const ref = losses.fused;
    expect(ref.every(Number.isFinite)).toBe(true);
    expect(ref[3]).toBeLessThan(ref[0]);
    for (const [id, ls] of Object.entries(losses)) {
      for (let i = 0; i < 4; i++) expect([id, i, Math.abs(ls[i] - ref[i]) < 1e-5]).toEqual([id, i, true]);
    }
  });

  it('leaves the BatchNorm-only variants out of workloads without BatchNorm', () => {
    const ids = tfjsFormulationsFor(small[1]).map((f) => f.id);
    expect(ids.some((id) => id.includes('BN customGrad'))).toBe(false);
    expect(ids).toContain('matMul+add, flagless grad');
  });
});
