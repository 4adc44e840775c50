/**
 * Smoke tests of examples/gradcheck.ts through its exported main(): the correct code passes, the
 * broken layer is caught with a readable GradError, and bad flags exit 2 with the usage.
 */
import { BrokenSwish, GRADCHECK_USAGE, Swish, main } from '../../examples/gradcheck';
import { GradError, tensor } from '../../src';
import { checkModuleGradients } from '../../src/testing';
import { runExample } from '../helpers/examples';

function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return runExample(main, argv);
}

describe('examples/gradcheck.ts', () => {
  test('sections 1-3 pass and section 4 catches the broken layer', async () => {
    const { code, out, err } = await run(['--num-runs', '5']);
    expect(err).toBe('');
    expect(code).toBe(0);
    for (const n of [1, 2, 3, 4]) expect(out).toMatch(new RegExp(`^${n}\\. `, 'm'));
    expect(out.match(/ passed/g)?.length).toBeGreaterThanOrEqual(3);
    expect(out).not.toContain('FAILED');
    expect(out).not.toContain('NOT DETECTED');
    expect(out).toMatch(/caught, as expected\. The GradError says:\n {3}\| gradcheck: gradient of input 0/);
    expect(out).toMatch(/\| checkModuleGradients: BrokenSwish gradients disagree .*smallest failing batch/);
    expect(out).toContain('3 checks passed, 1 bug caught');
  }, 15_000);

  test('Swish computes x * sigmoid(beta x); BrokenSwish has the same forward but a wrong gradient', () => {
    const x = tensor([-2, 0, 1.5]);
    const good = new Swish().forward(x).data;
    const bad = new BrokenSwish().forward(x).data;
    [-2, 0, 1.5].forEach((v, i) => {
      expect(good[i]).toBeCloseTo(v / (1 + Math.exp(-v)), 12);
      expect(bad[i]).toBeCloseTo(good[i], 12);
    });
    expect(() => checkModuleGradients(new Swish(), { inputShape: [2], numRuns: 5 })).not.toThrow();
    expect(() => checkModuleGradients(new BrokenSwish(), { inputShape: [2], numRuns: 5, rtol: 1e-5, atol: 1e-8 })).toThrow(GradError);
  });

  test.each([[['--num-runs', '0']], [['--seed', 'x']], [['--verbose']]])('bad flags %j exit 2 with the usage', async (argv) => {
    const { code, out, err } = await run(argv);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain(GRADCHECK_USAGE);
  });
});
