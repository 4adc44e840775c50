/**
 * Smoke tests of examples/pinn.ts through its exported main(): a short run's error against the
 * exact solution falls, the pictures are well-formed SVG, and bad flags exit 2 with the usage.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { PINN_USAGE, exact, main, parsePinnArgs, pinnLoss, PinnNet, source } from '../../examples/pinn';
import { autograd, manualSeed, Tensor } from '../../src';
import { expectWellFormedSvg, runExample } from '../helpers/examples';

function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return runExample(main, argv);
}

describe('examples/pinn.ts', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapegrad-pinn-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the problem: u* = sin(pi x) solves u* = -source, u*(0) = u*(1) = 0', () => {
    for (const x of [0.1, 0.37, 0.8]) {
      const h = 1e-4;
      const second = (exact(x + h) - 2 * exact(x) + exact(x - h)) / (h * h);
      expect(second).toBeCloseTo(-source(x), 5);
    }
    expect(exact(0)).toBe(0);
    expect(Math.abs(exact(1))).toBeLessThan(1e-15);
  });

  test("the loss's u'' is the network's second derivative (against finite differences of the network)", () => {
    manualSeed(3);
    const net = new PinnNet(8);
    const xs = Float64Array.of(0.2, 0.55, 0.9);
    const x = new Tensor(xs.slice(), [3, 1], { requiresGrad: true });
    const ones = Tensor.ones([3, 1]);
    const [ux] = autograd.grad([net.forward(x)], [x], { gradOutputs: [ones], createGraph: true });
    const [uxx] = autograd.grad([ux!], [x], { gradOutputs: [ones] });
    const u = (v: number): number => net.forward(new Tensor(Float64Array.of(v), [1, 1])).item();
    xs.forEach((v, i) => {
      const h = 1e-4;
      expect(uxx!.data[i]).toBeCloseTo((u(v + h) - 2 * u(v) + u(v - h)) / (h * h), 4);
    });
    // The loss is differentiable with respect to every weight (third order through the tape).
    const { loss } = pinnLoss(net, xs);
    loss.backward();
    for (const p of net.parameters()) expect(p.grad?.data.some((g) => g !== 0)).toBe(true);
  });

  test('a short run: the error against the exact solution falls, and the pictures are well formed', async () => {
    const { code, out, err } = await run(['--steps', '400', '--seed', '0', '--out', dir]);
    expect(err).toBe('');
    expect(code).toBe(0);
    const errors = [...out.matchAll(/step +\d+\/400 +loss \S+ +max\|u - u\*\| (\S+)/g)].map((m) => Number(m[1]));
    expect(errors.length).toBe(10);
    expect(errors[0]).toBeGreaterThan(0.5); // the fresh network is far from sin(pi x)
    expect(errors[errors.length - 1]).toBeLessThan(errors[0] / 3); // measured: 1.0 -> 0.17
    const final = Number(/final max\|u - u\*\| on 101 points: (\S+)/.exec(out)?.[1]);
    expect(final).toBe(errors[errors.length - 1]);
    for (const name of ['solution.svg', 'loss.svg']) {
      const file = path.join(dir, name);
      expect(out).toContain(`wrote ${file}`);
      const svg = expectWellFormedSvg(file);
      expect(svg.split('<svg').length - 1).toBe(1);
    }
    expect(fs.readFileSync(path.join(dir, 'solution.svg'), 'utf8')).toContain('exact sin(πx)');
  }, 60_000);

  test('flags: --help, and bad values exit 2 with the usage', async () => {
    expect(parsePinnArgs([])).toEqual({ steps: 2000, seed: 0, out: 'runs/pinn' });
    expect(parsePinnArgs(['--steps', '5', '--seed', '2', '--out', 'x'])).toEqual({ steps: 5, seed: 2, out: 'x' });
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain(PINN_USAGE);
    for (const argv of [['--steps', '0'], ['--steps', 'abc'], ['--seed', '-1'], ['--out', ''], ['--epochs', '3'], ['extra']]) {
      const r = await run(argv);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(/^pinn: /);
      expect(r.err).toContain('Usage: npx ts-node --transpile-only examples/pinn.ts');
    }
  });
});
