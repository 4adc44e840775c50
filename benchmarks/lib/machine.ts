/**
 * The machine's load while the benchmarks run, so that RESULTS.md can say when other
 * processes took the CPU (the machine the figures come from is shared):
 *
 * - {@link loadAverages}: `os.loadavg()` (1, 5, 15 minutes).
 * - {@link CpuWindow}: CPU time the whole machine spent busy between two moments
 *   (`/proc/stat`), minus what this process and its children (the PyTorch peer) spent
 *   (`/proc/<pid>/stat`), as a number of cores other tenants kept busy on average.
 * - {@link twoThreadCheck}: the same fixed loop timed on one thread, then on two threads at
 *   once (the main thread and a worker): on a machine whose second core is free both finish
 *   in the one-thread time (ratio ≈ 1); when another tenant holds a core the two threads
 *   share what is left (ratio toward 1.5–2). Two loops: an integer multiply chain, and a
 *   WebAssembly SIMD multiply-add loop that keeps the floating-point units busy, as a GEMM
 *   does. The second also sees a second virtual core that shares its physical core's
 *   floating-point units with ours or with another tenant (hyperthreads on the host), which
 *   the integer chain, bound by latency, does not.
 * - {@link pinProcess}: CPU affinity of this process and all its threads (`taskset -a -p`).
 *
 * Linux only for `/proc` and `taskset`; elsewhere the functions return null and RESULTS.md
 * says the figure was not available.
 *
 * @packageDocumentation
 */

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';

/** One-, five- and fifteen-minute load averages. */
export function loadAverages(): [number, number, number] {
  const [a, b, c] = os.loadavg();
  return [a, b, c];
}

/** `1.23 / 0.98 / 0.75`. */
export function loadText(l: readonly number[]): string {
  return l.map((x) => x.toFixed(2)).join(' / ');
}

/** Busy and total ticks of the whole machine (all cores), from the first line of /proc/stat. */
interface MachineTicks {
  readonly busy: number;
  readonly steal: number;
  readonly total: number;
}

function machineTicks(): MachineTicks | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
    const busy = user + nice + system + irq + softirq;
    return { busy, steal: steal ?? 0, total: busy + idle + iowait + (steal ?? 0) };
  } catch {
    return null;
  }
}

/** utime + stime of a process in clock ticks, or 0 if it is gone. */
function processTicks(pid: number): number {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]);
  } catch {
    return 0;
  }
}

/** What other tenants did between {@link CpuWindow} start and {@link CpuWindow.end}. */
export interface OthersLoad {
  /** Cores other processes kept busy on average (0 … number of cores). */
  readonly othersCores: number;
  /** Cores the hypervisor took (steal time) on average. */
  readonly stealCores: number;
  /** Cores this process and its children used on average. */
  readonly ownCores: number;
  /** Window length, ms. */
  readonly ms: number;
}

/**
 * A measurement window over the machine's CPU time.
 *
 * @example
 * ```ts
 * const w = CpuWindow.start(() => [process.pid, torchPid]);
 * runFigure();
 * const load = w?.end(); // { othersCores: 0.9, ... }: another tenant held about one core
 * ```
 */
export class CpuWindow {
  private constructor(
    private readonly pids: () => readonly number[],
    private readonly t0: number,
    private readonly m0: MachineTicks,
    private readonly own0: Map<number, number>,
  ) {}

  /**
   * Opens a window, or returns null where /proc is unavailable.
   *
   * @param pids - the processes whose CPU time counts as ours (read at start and end).
   */
  static start(pids: () => readonly number[]): CpuWindow | null {
    const m0 = machineTicks();
    if (m0 === null) return null;
    const own0 = new Map(pids().map((p) => [p, processTicks(p)]));
    return new CpuWindow(pids, Date.now(), m0, own0);
  }

  /** Closes the window (it can be closed again later for a longer window). */
  end(): OthersLoad {
    const m1 = machineTicks() ?? this.m0;
    let own = 0;
    for (const p of new Set([...this.own0.keys(), ...this.pids()])) own += processTicks(p) - (this.own0.get(p) ?? 0);
    const total = m1.total - this.m0.total;
    const cores = os.cpus().length;
    // total ticks over all cores = cores × elapsed ticks
    const perCore = total / cores;
    if (perCore <= 0) return { othersCores: 0, stealCores: 0, ownCores: 0, ms: Date.now() - this.t0 };
    const busy = m1.busy - this.m0.busy;
    return {
      othersCores: Math.max(0, (busy - own) / perCore),
      stealCores: (m1.steal - this.m0.steal) / perCore,
      ownCores: own / perCore,
      ms: Date.now() - this.t0,
    };
  }
}

/** One loop's timing in {@link twoThreadCheck}. */
export interface LoopCheck {
  /** Median time of the loop on one thread, ms. */
  readonly oneThreadMs: number;
  /** Median time until both threads finished the same loop at once, ms. */
  readonly twoThreadMs: number;
  /** twoThreadMs ÷ oneThreadMs: about 1 when the second core is free, toward 2 when it is not. */
  readonly ratio: number;
}

/** Result of {@link twoThreadCheck}: the integer loop's figures, the SIMD loop's, and the larger ratio. */
export interface TwoThreadCheck extends LoopCheck {
  /** The SIMD multiply-add loop's figures (null where WebAssembly SIMD is missing). */
  readonly simd: LoopCheck | null;
  /** The larger of the two ratios: the one the busy threshold is applied to. */
  readonly worst: number;
}

/** Above this {@link TwoThreadCheck.worst}, the second core counts as taken. */
export const TWO_THREAD_BUSY_RATIO = 1.3;
/** Above this many cores used by other processes during a figure, the second core counts as taken. */
export const OTHERS_BUSY_CORES = 0.5;

/**
 * A WebAssembly module exporting `burn(n: i32): f32`: n iterations of twelve independent
 * f32x4 multiply-then-add chains (acc = acc * m + m), about 47 GFLOP/s on one core of the
 * machine this was written on, i.e. bound by the floating-point units' throughput, as a GEMM
 * kernel is. Made with binaryen's wasm-as from the text form (12 locals a0..a11, m =
 * splat(0.999999); loop { a_i = f32x4.add(f32x4.mul(a_i, m), m) for each i; i++ }; return
 * lane 0 of their sum).
 */
const SIMD_BURN_WASM = 'AGFzbQEAAAABBgFgAX8BfQMCAQAHCAEEYnVybgAACvMCAfACAg17AX9D7/9/P/0TIQ1DAACAP/0TIQFDAAAAQP0TIQJDAABAQP0TIQNDAACAQP0TIQRDAACgQP0TIQVDAADAQP0TIQZDAADgQP0TIQdDAAAAQf0TIQhDAAAQQf0TIQlDAAAgQf0TIQpDAAAwQf0TIQtDAABAQf0TIQwDQCABIA395gEgDf3kASEBIAIgDf3mASAN/eQBIQIgAyAN/eYBIA395AEhAyAEIA395gEgDf3kASEEIAUgDf3mASAN/eQBIQUgBiAN/eYBIA395AEhBiAHIA395gEgDf3kASEHIAggDf3mASAN/eQBIQggCSAN/eYBIA395AEhCSAKIA395gEgDf3kASEKIAsgDf3mASAN/eQBIQsgDCAN/eYBIA395AEhDCAOQQFqIQ4gDiAASQ0ACyABIAL95AEgA/3kASAE/eQBIAX95AEgBv3kASAH/eQBIAj95AEgCf3kASAK/eQBIAv95AEgDP3kAf0fAAs=';

const LOOP_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const flag = new Int32Array(workerData.sab);
${spin.toString()}
const burn = workerData.simd
  ? new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(workerData.wasm, 'base64'))).exports.burn
  : spin;
parentPort.postMessage('ready');
for (;;) {
  Atomics.wait(flag, 0, 0);
  if (Atomics.load(flag, 0) === 2) break;
  burn(workerData.iterations);
  Atomics.store(flag, 0, 0);
  Atomics.store(flag, 1, 1);
  Atomics.notify(flag, 1);
}
`;

/** A fixed amount of integer work; returns a value so it cannot be optimised away. */
function spin(iterations: number): number {
  let x = 1;
  for (let i = 0; i < iterations; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  return x;
}

/** The few WebAssembly members used here. */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

/** The SIMD loop on this thread, or null where WebAssembly SIMD is missing. */
function simdBurn(): ((iterations: number) => number) | null {
  try {
    // The project's TypeScript has no DOM library, so WebAssembly is reached through globalThis.
    const wa = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    return wa.Instance.prototype === undefined ? null : (new wa.Instance(new wa.Module(Buffer.from(SIMD_BURN_WASM, 'base64'))).exports.burn as (iterations: number) => number);
  } catch {
    return null;
  }
}

/**
 * Times `loop` for about `ms` milliseconds on one thread and then on two threads at once
 * (this thread and a worker running the same loop), `rounds` times alternately.
 */
async function timeLoop(loop: (iterations: number) => number, simd: boolean, ms: number, rounds: number): Promise<LoopCheck | null> {
  // Warm the loop up (about 100 ms of calls, so the JIT or the wasm tier-up is done), then
  // calibrate the iteration count on this thread, twice.
  let iterations = 1 << 16;
  for (const t0 = performance.now(); performance.now() - t0 < 100; ) loop(iterations);
  for (let pass = 0; pass < 2; pass++) {
    for (;;) {
      const t0 = performance.now();
      loop(iterations);
      const dt = performance.now() - t0;
      if (dt >= 5) {
        iterations = Math.max(1, Math.round((iterations * ms) / dt));
        break;
      }
      iterations *= 2;
    }
  }
  const sab = new SharedArrayBuffer(8);
  const flag = new Int32Array(sab);
  let worker: Worker;
  try {
    worker = new Worker(LOOP_SOURCE, { eval: true, workerData: { sab, iterations, simd, wasm: SIMD_BURN_WASM } });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
  } catch {
    return null;
  }
  try {
    const one: number[] = [];
    const two: number[] = [];
    for (let r = 0; r < rounds; r++) {
      let t0 = performance.now();
      loop(iterations);
      one.push(performance.now() - t0);
      Atomics.store(flag, 1, 0);
      t0 = performance.now();
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      loop(iterations);
      // The worker sets flag[1] when done; give up after 10 s (it is then far from free).
      const waited = Atomics.wait(flag, 1, 0, 10_000);
      two.push(performance.now() - t0);
      if (waited === 'timed-out') break;
    }
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    const oneThreadMs = med(one);
    const twoThreadMs = med(two);
    return { oneThreadMs, twoThreadMs, ratio: twoThreadMs / oneThreadMs };
  } finally {
    Atomics.store(flag, 0, 2);
    Atomics.notify(flag, 0);
    await worker.terminate();
  }
}

/**
 * Times the integer loop and then the SIMD loop, each for about `ms` milliseconds on one
 * thread and then on two threads at once, `rounds` times alternately, and reports the medians.
 *
 * @param ms - target length of one loop on an idle core (default 25).
 * @param rounds - alternations (default 5).
 * @returns the check, or null if a worker thread could not be started.
 */
export async function twoThreadCheck(ms = 25, rounds = 5): Promise<TwoThreadCheck | null> {
  const int = await timeLoop(spin, false, ms, rounds);
  if (int === null) return null;
  const burn = simdBurn();
  const simd = burn === null ? null : await timeLoop(burn, true, ms, rounds);
  return { ...int, simd, worst: Math.max(int.ratio, simd?.ratio ?? 0) };
}

/** `integer 1.01 (one thread 25.1 ms, two at once 25.4 ms); SIMD 1.38 (...)`. */
export function twoThreadText(c: TwoThreadCheck | null): string {
  if (c === null) return 'n/a';
  const loop = (l: LoopCheck): string => `${l.ratio.toFixed(2)} (one thread ${l.oneThreadMs.toFixed(1)} ms, two at once ${l.twoThreadMs.toFixed(1)} ms)`;
  return c.simd === null ? `integer ${loop(c)}; SIMD n/a` : `integer ${loop(c)}; SIMD ${loop(c.simd)}`;
}

/** CPUs this process may run on, e.g. `0-1`, from /proc/self/status; null if unknown. */
export function allowedCpus(pid: number | 'self' = 'self'): string | null {
  try {
    const m = /Cpus_allowed_list:\s*(\S+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

/**
 * Sets the CPU affinity of a process and every thread it has now (`taskset -a -p -c`);
 * threads it starts later inherit it from their parent thread.
 *
 * @param pid - the process.
 * @param cpus - a CPU list such as `0` or `0-1`.
 * @returns null on success, else why it failed (no taskset, not Linux, refused).
 */
export function pinProcess(pid: number, cpus: string): string | null {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
    return null;
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return /ENOENT/.test(msg) ? 'taskset not found' : stderr ? stderr.split('\n').slice(-1)[0] : msg;
  }
}
