/**
 * Smoke tests of examples/spiral.ts through its exported main(): a short run learns (loss
 * falls), writes a well-formed decision-region SVG, and bad flags exit 2 with the usage.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { SPIRAL_USAGE, main, makeSpiral, trainSpiral } from '../../examples/spiral';
import { manualSeed } from '../../src';
import { expectWellFormedSvg, runExample } from '../helpers/examples';

function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return runExample(main, argv);
}

describe('examples/spiral.ts', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapegrad-spiral-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('makeSpiral is CS231n\'s data set: 3 x 100 points in the unit disc, reproducible from the seed', () => {
    manualSeed(7);
    const a = makeSpiral();
    manualSeed(7);
    const b = makeSpiral();
    expect(a.n).toBe(300);
    expect(a.x).toEqual(b.x);
    expect([...a.y.slice(0, 100)].every((c) => c === 0) && [...a.y.slice(200)].every((c) => c === 2)).toBe(true);
    for (let i = 0; i < a.n; i++) expect(Math.hypot(a.x[2 * i], a.x[2 * i + 1])).toBeLessThanOrEqual(1 + 1e-12);
    expect(a.x[0]).toBe(0); // r = 0 at the centre
  });

  test('a short run learns and writes a well-formed decision-region SVG', async () => {
    const { code, out, err } = await run(['--epochs', '20', '--seed', '1', '--out', dir]);
    expect(err).toBe('');
    expect(code).toBe(0);
    const losses = [...out.matchAll(/epoch +\d+\/20 +loss (\d\.\d+)/g)].map((m) => Number(m[1]));
    expect(losses.length).toBeGreaterThanOrEqual(2);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    const acc = Number(/final training accuracy: (\d+\.\d)%/.exec(out)?.[1]);
    expect(acc).toBeGreaterThan(60); // well above chance (33%) after 20 epochs
    const file = path.join(dir, 'decision_regions.svg');
    expect(out).toContain(`wrote ${file}`);
    const svg = expectWellFormedSvg(file);
    expect(svg.match(/<circle /g)).toHaveLength(300);
    expect(svg.split('<svg').length - 1).toBe(1);
  }, 15_000);

  test('--activation tanh trains a Tanh MLP that learns', async () => {
    const { code, out, err } = await run(['--epochs', '20', '--seed', '1', '--activation', 'tanh', '--out', dir]);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain('model: 2 -> 100 -> Tanh() -> 3');
    const losses = [...out.matchAll(/epoch +\d+\/20 +loss (\d\.\d+)/g)].map((m) => Number(m[1]));
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    expect(Number(/final training accuracy: (\d+\.\d)%/.exec(out)?.[1])).toBeGreaterThan(60);
  }, 15_000);

  test('the default 150 epochs reach >= 95% training accuracy', () => {
    const { trainAcc, history } = trainSpiral({ epochs: 150, seed: 0 });
    expect(trainAcc).toBeGreaterThanOrEqual(0.95);
    expect(history.epochs[149].trainLoss).toBeLessThan(history.epochs[0].trainLoss / 5);
  }, 15_000);

  test.each([
    [['--epochs', '0'], '--epochs'],
    [['--epochs', 'many'], '--epochs'],
    [['--seed', '1.5'], '--seed'],
    [['--out', ''], '--out'],
    [['--lr', '0.1'], '--lr'],
    [['--activation', 'swish'], '--activation must be one of relu, tanh'],
  ])('bad flags %j exit 2 with the usage', async (argv, mention) => {
    const { code, out, err } = await run(argv);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain(mention);
    expect(err).toContain(SPIRAL_USAGE);
  });

  test('--help exits 0', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    expect(out).toContain('--epochs N');
  });
});
