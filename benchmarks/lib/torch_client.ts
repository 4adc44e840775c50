/**
 * The PyTorch peer as seen from the runner: `benchmarks/torch_peer.py --server` in a child
 * process, one JSON request and one JSON answer per line. The runner asks it for one
 * sample at a time, between tapegrad's and tfjs' samples, so the same stretch of machine
 * load hits all of them; while Python computes, Node waits (nothing overlaps).
 *
 * Which Python: `TAPEGRAD_BENCH_PYTHON` if set, else the first of `python3` and
 * `/usr/bin/python3` that can `import torch` (a pyenv `python3` often shadows the system
 * one that Debian's python3-torch installs into). When OpenBLAS is installed under
 * `/usr/lib/x86_64-linux-gnu/openblas-pthread` it is put first on `LD_LIBRARY_PATH`, so
 * PyTorch runs on OpenBLAS even if the system's BLAS alternative is the slow reference
 * BLAS; the peer reports the BLAS library it actually mapped.
 *
 * @packageDocumentation
 */

import { ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { DType, MlpSpec } from './workloads';
import { mlpInit } from './workloads';

/** What the peer says about itself. */
export interface TorchInfo {
  readonly torch: string;
  readonly python: string;
  readonly threads: number;
  readonly interopThreads: number;
  readonly blas: string;
  readonly cpuCapability: string;
}

/** A prepared PyTorch workload. */
export interface TorchPrepared {
  /** SGD variant in use (`plain` or `foreach`). */
  readonly variant: string;
  /** Median ms/step of each variant in the short choice run. */
  readonly variants: Readonly<Record<string, number>>;
  /** Loss of one step from the shared initial parameters (matches tfjs' first loss). */
  readonly firstLoss: number;
  /** Time `reps` steps; per-step wall and CPU ms. */
  sample(reps: number): Promise<{ wallMs: number; cpuMs: number }>;
  /** One more step; its loss. */
  loss(): Promise<number>;
  /** Free it in the peer. */
  dispose(): Promise<void>;
}

const OPENBLAS_DIRS = ['/usr/lib/x86_64-linux-gnu/openblas-pthread', '/usr/lib/aarch64-linux-gnu/openblas-pthread'];

function b64(a: Float32Array | Int32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

function pythonEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  const dir = OPENBLAS_DIRS.find((d) => fs.existsSync(path.join(d, 'libblas.so.3')));
  if (dir !== undefined) env.LD_LIBRARY_PATH = [dir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return env;
}

/**
 * The Python that can import torch, or why none was found.
 *
 * @returns `{ python }` or `{ reason }`.
 */
export function findTorchPython(): { python: string } | { reason: string } {
  const candidates = process.env.TAPEGRAD_BENCH_PYTHON ? [process.env.TAPEGRAD_BENCH_PYTHON] : ['python3', '/usr/bin/python3'];
  const tried: string[] = [];
  for (const python of candidates) {
    try {
      execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore', env: pythonEnv(), timeout: 60_000 });
      return { python };
    } catch {
      tried.push(python);
    }
  }
  return { reason: `no Python with torch (tried ${tried.join(', ')}; \`apt-get install python3-torch\` or set TAPEGRAD_BENCH_PYTHON)` };
}

/**
 * The running peer.
 *
 * @example
 * ```ts
 * const peer = await TorchPeer.start('/usr/bin/python3');
 * const w2 = await peer.prepare(MLP_SPECS.W2, 'float32');
 * const { wallMs } = await w2.sample(3);
 * await peer.close();
 * ```
 */
export class TorchPeer {
  private readonly waiting: ((line: string) => void)[] = [];
  private exited: string | null = null;
  private stderr = '';
  private nextKey = 0;

  private constructor(private readonly child: ChildProcessWithoutNullStreams, readonly info: TorchInfo) {}

  /** The peer's process id (its CPU time counts as ours in the load figures). */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /**
   * Starts the peer and reads its info.
   *
   * @param python - the interpreter (see {@link findTorchPython}).
   */
  static async start(python: string): Promise<TorchPeer> {
    const script = path.join(__dirname, '..', 'torch_peer.py');
    const child = spawn(python, [script, '--server'], { env: pythonEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    const peer = new TorchPeer(child, undefined as unknown as TorchInfo);
    createInterface({ input: child.stdout }).on('line', (line) => peer.waiting.shift()?.(line));
    child.stderr.on('data', (d: Buffer) => {
      peer.stderr = (peer.stderr + d.toString()).slice(-2000);
    });
    child.on('exit', (code, signal) => {
      peer.exited = `torch peer exited (${signal ?? code}): ${peer.stderr.trim().split('\n').slice(-1)[0] ?? ''}`;
      for (const w of peer.waiting.splice(0)) w(JSON.stringify({ ok: false, error: peer.exited }));
    });
    child.on('error', (e) => {
      peer.exited = `torch peer: ${e.message}`;
      for (const w of peer.waiting.splice(0)) w(JSON.stringify({ ok: false, error: peer.exited }));
    });
    const info = (await peer.request({ cmd: 'info' })) as unknown as TorchInfo;
    (peer as { info: TorchInfo }).info = info;
    return peer;
  }

  private request(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.exited !== null) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      this.waiting.push((line) => {
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          reject(new Error(`torch peer: bad answer ${line.slice(0, 80)}`));
          return;
        }
        if (msg.ok === true) resolve(msg);
        else reject(new Error(String(msg.error ?? 'torch peer failed')));
      });
      this.child.stdin.write(JSON.stringify(req) + '\n');
    });
  }

  /**
   * Builds a workload in the peer on the shared data and initial weights
   * ({@link mlpInit}); with `variant` 'auto' the peer first times both SGD variants.
   *
   * @param spec - the workload (ReLU only).
   * @param dtype - float32 or float64.
   * @param variant - 'auto' (default), 'plain' or 'foreach'.
   */
  async prepare(spec: MlpSpec, dtype: DType, variant: 'auto' | 'plain' | 'foreach' = 'auto'): Promise<TorchPrepared> {
    if ((spec.activation ?? 'relu') !== 'relu') throw new Error(`the torch peer runs ReLU only, not ${spec.activation}`);
    const init = mlpInit(spec);
    const key = `k${this.nextKey++}`;
    const r = await this.request({
      cmd: 'prepare',
      key,
      dtype,
      variant,
      spec: { batch: spec.batch, dims: spec.dims, batchNorm: spec.batchNorm, lr: spec.lr },
      init: {
        x: b64(init.x),
        labels: b64(init.labels),
        weights: init.weights.map((w) => ({ w: b64(w.w), fanIn: w.fanIn, fanOut: w.fanOut })),
      },
    });
    return {
      variant: String(r.variant),
      variants: (r.variants ?? {}) as Record<string, number>,
      firstLoss: Number(r.firstLoss),
      sample: async (reps) => {
        const s = await this.request({ cmd: 'sample', key, reps });
        return { wallMs: Number(s.wallMs), cpuMs: Number(s.cpuMs) };
      },
      loss: async () => Number((await this.request({ cmd: 'loss', key })).loss),
      dispose: async () => {
        await this.request({ cmd: 'dispose', key });
      },
    };
  }

  /** Stops the peer. */
  async close(): Promise<void> {
    if (this.exited !== null) return;
    try {
      await Promise.race([this.request({ cmd: 'quit' }), new Promise((r) => setTimeout(r, 2000))]);
    } catch {
      /* already gone */
    }
    if (this.exited === null) this.child.kill();
  }
}
