/**
 * Models in and out: train an MLP in tapegrad, write it as a PyTorch-layout safetensors file and
 * as an ONNX model, check both files by loading them back (the safetensors into a fresh tapegrad
 * model, the ONNX file into ONNX Runtime when `onnxruntime-node` is installed), and print the
 * Python that loads them into PyTorch (to train further on more machines, with torchrun/DDP or
 * Ray Train) and into ONNX Runtime (to serve).
 *
 * ```sh
 * npx ts-node --transpile-only examples/export.ts [--epochs N] [--seed N] [--out DIR]
 * ```
 *
 * In your own project the imports read `from 'tapegrad'`.
 *
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { Tensor, Trainer, accuracy, exportOnnx, io, manualSeed, nn, noGrad, optim } from '../src'; // users: from 'tapegrad'
import { runMain } from './lib/cli';

/** Output streams for {@link main}. */
export interface ExportIO {
  /** Normal output (default process.stdout). */
  stdout?: { write(s: string): unknown };
  /** Usage errors (default process.stderr). */
  stderr?: { write(s: string): unknown };
}

/** The usage text. */
export const EXPORT_USAGE = `Usage: npx ts-node --transpile-only examples/export.ts [options]

Trains a 2-64-BN-64-3 MLP on three interleaved spirals, then writes it as PyTorch-layout
safetensors and as ONNX, checks both, and prints the Python that loads them.

Options:
  --epochs N   training epochs (default 60)
  --seed N     data, initialisation and shuffles (default 0)
  --out DIR    output directory (default runs/export)
  -h, --help   this text`;

/** The model: BatchNorm in PyTorch's convention, so training on in PyTorch continues the same rule. */
export function makeModel(): nn.Sequential {
  return new nn.Sequential(
    new nn.Affine(2, 64),
    new nn.BatchNorm1d(64, { convention: 'torch' }),
    new nn.ReLU(),
    new nn.Affine(64, 64),
    new nn.BatchNorm1d(64, { convention: 'torch' }),
    new nn.ReLU(),
    new nn.Affine(64, 3),
  );
}

/** CS231n's spiral data: `perClass` points of each of 3 classes, seeded by the global PRNG. */
export function spiral(perClass: number): { x: Tensor; y: Int32Array } {
  const n = 3 * perClass;
  const noise = Tensor.randn([n]).data;
  const x = new Float64Array(2 * n);
  const y = new Int32Array(n);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < perClass; i++) {
      const k = c * perClass + i;
      const r = i / (perClass - 1);
      const t = c * 4 + (4 * i) / (perClass - 1) + 0.2 * noise[k];
      x[2 * k] = r * Math.sin(t);
      x[2 * k + 1] = r * Math.cos(t);
      y[k] = c;
    }
  }
  return { x: new Tensor(x, [n, 2]), y };
}

/** What ONNX Runtime computes for `x`, or null when onnxruntime-node is not installed. */
async function runOnnx(file: string, x: Tensor): Promise<Float64Array | null> {
  let ort: typeof import('onnxruntime-node');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  } catch {
    return null;
  }
  const session = await ort.InferenceSession.create(file);
  const input = new ort.Tensor('float64', Float64Array.from(x.data), [...x.shape]);
  const result = await session.run({ input });
  return Float64Array.from(result.output.data as Float64Array);
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / Math.max(scale, 1e-300);
}

/**
 * Runs the example.
 *
 * @param argv - command-line arguments.
 * @param ioStreams - output streams.
 * @returns the exit code: 0 when both files check out, 1 when one does not, 2 on bad usage.
 * @example
 * ```ts
 * const code = await main(['--epochs', '5', '--out', '/tmp/export']);
 * ```
 */
export async function main(argv: string[], ioStreams: ExportIO = {}): Promise<number> {
  const stdout = ioStreams.stdout ?? process.stdout;
  const stderr = ioStreams.stderr ?? process.stderr;
  const print = (s = ''): void => void stdout.write(s + '\n');
  let epochs: number;
  let seed: number;
  let out: string;
  try {
    const { values } = parseArgs({
      args: argv,
      options: { epochs: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      print(EXPORT_USAGE);
      return 0;
    }
    epochs = Number(values.epochs ?? 60);
    seed = Number(values.seed ?? 0);
    out = values.out ?? 'runs/export';
    if (!Number.isSafeInteger(epochs) || epochs < 1) throw new Error(`--epochs must be a positive integer, got ${values.epochs}`);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got ${values.seed}`);
  } catch (e) {
    stderr.write(`${e instanceof Error ? e.message : String(e)}\n\n${EXPORT_USAGE}\n`);
    return 2;
  }

  manualSeed(seed);
  const data = spiral(100);
  const model = makeModel();
  const trainer = new Trainer(model, { optimizer: new optim.Adam(model.parameters(), { lr: 1e-2 }), epochs, batchSize: 32 });
  trainer.fit(data);
  model.eval();
  print(`1. trained ${epochs} epochs: training accuracy ${(100 * accuracy(model, data.x, data.y)).toFixed(1)}%`);

  fs.mkdirSync(out, { recursive: true });
  const stFile = path.join(out, 'model.safetensors');
  const onnxFile = path.join(out, 'model.onnx');
  io.writeSafetensors(stFile, model.stateDict({ layout: 'torch' }));
  fs.writeFileSync(onnxFile, exportOnnx(model, { inputShape: [null, 2] }));
  print(`2. wrote ${stFile} (${fs.statSync(stFile).size} bytes, PyTorch names and layouts)`);
  print(`   wrote ${onnxFile} (${fs.statSync(onnxFile).size} bytes, eval-mode graph, batch axis 'N')`);

  const expected = noGrad(() => model.forward(data.x)).data;
  const copy = makeModel();
  copy.loadStateDict(io.readSafetensors(stFile).tensors, { layout: 'torch' });
  copy.eval();
  const reloaded = maxRelDiff(noGrad(() => copy.forward(data.x)).data, expected);
  print(`3. the safetensors file loaded into a fresh model: outputs differ by ${reloaded.toExponential(1)} (relative)`);
  let ok = reloaded === 0;
  const fromOnnx = await runOnnx(onnxFile, data.x);
  if (fromOnnx === null) {
    print('   onnxruntime-node is not installed, so the ONNX file was not run (npm install onnxruntime-node)');
  } else {
    const d = maxRelDiff(fromOnnx, expected);
    print(`   ONNX Runtime on the ONNX file: outputs differ by ${d.toExponential(1)} (relative)`);
    ok &&= d < 1e-12;
  }

  print();
  print('4. In Python, load the weights into PyTorch (for more training, e.g. under torchrun/DDP or Ray Train):');
  print(`
    import torch
    from safetensors.torch import load_file
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 64), torch.nn.BatchNorm1d(64), torch.nn.ReLU(),
        torch.nn.Linear(64, 64), torch.nn.BatchNorm1d(64), torch.nn.ReLU(),
        torch.nn.Linear(64, 3)).double()
    model.load_state_dict(load_file("${stFile}"), strict=True)`);
  print();
  print('   and serve the ONNX file with ONNX Runtime:');
  print(`
    import numpy as np, onnxruntime as ort
    session = ort.InferenceSession("${onnxFile}", providers=["CPUExecutionProvider"])
    (scores,) = session.run(["output"], {"input": np.random.rand(5, 2)})   # any batch size`);
  print();
  print(ok ? 'both files check out' : 'SOMETHING WENT WRONG (see above)');
  return ok ? 0 : 1;
}

if (require.main === module) runMain(main);
