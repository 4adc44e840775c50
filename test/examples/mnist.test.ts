/**
 * Smoke tests of examples/mnist.ts, run in-process through its exported main() with tiny
 * settings: the loss falls, every promised file exists and is well formed, the checkpoint loads
 * back, --eval reproduces the test accuracy, and bad flags exit 2 with the usage.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { MNIST_DEFAULTS, DEFAULT_LR, USAGE, buildModel, configFromMeta, main, outputPaths, parseMnistArgs } from '../../examples/mnist';
import { loadCheckpoint, readCheckpointInfo } from '../../src';
import { runExample, expectWellFormedSvg } from '../helpers/examples';

/** Collects what main() writes. */
function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return runExample(main, argv, { progress: 'lines' });
}

describe('examples/mnist.ts', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapegrad-mnist-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a tiny run trains (loss falls), prints its report and writes every promised file', async () => {
    const { code, out, err } = await run(['--epochs', '2', '--limit', '500', '--hidden', '32', '--batch-size', '32', '--out', dir]);
    expect(err).toBe('');
    expect(code).toBe(0);

    // Honest about the data, one line per epoch with the promised figures, the report at the end.
    expect(out).toContain('first 10,000 images of the MNIST *training* set');
    expect(out).toContain('400 train / 100 held-out test');
    for (const e of [1, 2]) expect(out).toMatch(new RegExp(`epoch ${e}/2 +loss \\d\\.\\d{4} +train_acc 0\\.\\d{4} +test_acc 0\\.\\d{4} +lr \\d\\.\\d\\de-\\d`));
    expect(out).toMatch(/samples\/s/);
    expect(out).toContain('accuracy per epoch');
    expect(out).toMatch(/true\\pred +0 +1 +2/);
    expect(out).toMatch(/final test accuracy: \d+\.\d\d% \(\d+\/100 held-out digits\)/);

    const files = outputPaths(dir);
    for (const f of Object.values(files)) {
      expect(out).toContain(f);
      expect(fs.existsSync(f)).toBe(true);
    }

    // The loss fell: per epoch, and from the first batches to the last.
    const history = JSON.parse(fs.readFileSync(files.history, 'utf8')) as {
      epochs: { trainLoss: number; trainAcc: number; valAcc: number }[];
      loss: number[];
      testAcc: number;
    };
    expect(history.epochs).toHaveLength(2);
    expect(history.epochs[1].trainLoss).toBeLessThan(history.epochs[0].trainLoss);
    const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(history.loss.slice(-3))).toBeLessThan(mean(history.loss.slice(0, 3)));
    expect(history.epochs[1].trainAcc).toBeGreaterThan(0.5); // far above chance (0.1)

    const curves = expectWellFormedSvg(files.curves);
    expect(curves).toContain('<polyline');
    const confusion = expectWellFormedSvg(files.confusion);
    expect(confusion.match(/<rect class="cell"/g)).toHaveLength(100);
    expectWellFormedSvg(files.misclassified);

    // The checkpoint loads back into a model built from its saved config and predicts as before.
    const info = readCheckpointInfo(files.checkpoint);
    expect(info.optimizer?.type).toBe('Adam');
    const cfg = configFromMeta(info.meta);
    expect(cfg.hidden).toEqual([32]);
    expect(cfg.limit).toBe(500);
    const model = buildModel({ ...MNIST_DEFAULTS, ...cfg });
    const meta = loadCheckpoint(files.checkpoint, { model, restoreRngState: false });
    expect(meta.testAcc).toBeCloseTo(history.testAcc, 12);
  }, 30_000);

  test('--eval loads the checkpoint and reports the same test accuracy without training', async () => {
    const files = outputPaths(dir);
    const history = JSON.parse(fs.readFileSync(files.history, 'utf8')) as { testAcc: number };
    const { code, out, err } = await run(['--eval', files.checkpoint]);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).not.toMatch(/epoch 1\//);
    expect(out).toContain(`test accuracy: ${(100 * history.testAcc).toFixed(2)}%`);
    expect(out).toContain('784 -> 32 -> BN -> ReLU -> 10');
    expect(out).toMatch(/true\\pred +0 +1/);
  }, 15_000);

  test('other options train too: SGD, no BatchNorm, dropout, float64, no schedule', async () => {
    const sub = path.join(dir, 'sgd');
    const { code, out, err } = await run([
      '--epochs', '1', '--limit', '200', '--hidden', '16,8', '--optimizer', 'sgd', '--no-batchnorm',
      '--dropout', '0.1', '--dtype', 'float64', '--schedule', 'none', '--seed', '3', '--out', sub,
    ]);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain('784 -> 16 -> ReLU -> Dropout(0.1) -> 8 -> ReLU -> Dropout(0.1) -> 10');
    expect(out).toContain(`sgd (momentum 0.9) lr ${DEFAULT_LR.sgd}`);
    const info = readCheckpointInfo(outputPaths(sub).checkpoint);
    expect(info.dtype).toBe('float64');
    expect(info.optimizer?.type).toBe('SGD');
  }, 15_000);

  test.each([
    [['--epochs', '0'], '--epochs'],
    [['--epochs', '1.5'], '--epochs'],
    [['--batch-size', 'ten'], '--batch-size'],
    [['--batch-size'], 'batch-size'],
    [['--hidden', '128,,64'], '--hidden'],
    [['--hidden', '0'], '--hidden'],
    [['--lr', '0'], '--lr'],
    [['--lr', 'fast'], '--lr'],
    [['--optimizer', 'lbfgs'], '--optimizer'],
    [['--dropout', '1'], '--dropout'],
    [['--dropout', '-0.1'], '--dropout'],
    [['--dtype', 'int8'], '--dtype'],
    [['--seed', '-1'], '--seed'],
    [['--limit', '5'], '--limit'],
    [['--limit', '20000'], '--limit'],
    [['--schedule', 'linear'], '--schedule'],
    [['--bogus'], '--bogus'],
    [['stray'], 'stray'],
  ])('bad flags %j exit 2 and print what is wrong and the usage', async (argv, mention) => {
    const { code, out, err } = await run(argv);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain(mention);
    expect(err).toContain(USAGE);
  });

  test('--help prints the usage and exits 0', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    expect(out).toContain('--eval PATH');
    expect(out).toContain('MNIST *training* set');
  });

  test('--eval of a missing checkpoint exits 1 with a CheckpointError', async () => {
    const { code, err } = await run(['--eval', path.join(dir, 'nope.safetensors')]);
    expect(code).toBe(1);
    expect(err).toContain('CheckpointError');
  });

  test('parseMnistArgs: defaults, per-optimizer learning rates, explicit flags', () => {
    const d = parseMnistArgs([]);
    expect(d).toEqual({ kind: 'train', config: { ...MNIST_DEFAULTS, hidden: [256, 256] } });
    const r = parseMnistArgs(['--optimizer', 'rmsprop', '--hidden', '256, 64']);
    expect(r.kind === 'train' && r.config.lr).toBe(DEFAULT_LR.rmsprop);
    expect(r.kind === 'train' && r.config.hidden).toEqual([256, 64]);
    const e = parseMnistArgs(['--eval', 'x.safetensors', '--limit', '100']);
    expect(e.kind).toBe('eval');
    expect(e.kind === 'eval' && [...e.explicit]).toEqual(['limit']);
  });
});
