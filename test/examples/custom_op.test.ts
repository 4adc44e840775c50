/**
 * Smoke tests of examples/custom_op.ts through its exported main(): the hand-written op passes
 * gradcheck and its property, the planted bug is caught by both, the module trains, and bad
 * flags exit 2 with the usage. Its kernel pair is also checked against the library's affine.
 */
import {
  CUSTOM_OP_USAGE,
  ScaledAffine,
  buggyScaledAffine,
  main,
  scaledAffine,
  scaledAffineBackward,
  scaledAffineForward,
} from '../../examples/custom_op';
import { GradError, Tensor, gradcheck, kernels, manualSeed } from '../../src';
import { runExample } from '../helpers/examples';

function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return runExample(main, argv);
}

describe('examples/custom_op.ts', () => {
  test('the op passes its checks, the planted bug is caught, the loss falls', async () => {
    const { code, out, err } = await run(['--num-runs', '10', '--steps', '100']);
    expect(err).toBe('');
    expect(code).toBe(0);
    for (const n of [1, 2, 3, 4, 5]) expect(out).toMatch(new RegExp(`^${n}\\. `, 'm'));
    expect(out).not.toMatch(/FAILED|NOT DETECTED|did NOT fall|SOMETHING WENT WRONG/);
    expect(out).toContain('scaledAffine(x [4, 3], w [3, 2], b [2], 0.5) -> [4, 2], on the tape: true');
    expect(out).toMatch(/a wrong call names the op: ShapeError: scaledAffine: forward threw: w must be \[3, M\]/);
    expect(out).toMatch(/2\. gradcheck.*\n {3}passed: worst relative error x \S+, w \S+, b \S+/);
    expect(out).toContain('passed 10 random cases');
    expect(out).toMatch(/gradcheck: caught, as expected\. GradError: gradcheck: gradient of input 1 \(shape \[3, 2\]\)/);
    expect(out).toMatch(/the property: caught after \d+ case\(s\); fast-check shrank the case to .*:\n {3}GradError: gradcheck: gradient of input 1/);
    expect(out).toMatch(/checkModuleGradients\(new ScaledAffine\(3, 2\)\) passed 10 random batches/);
    const steps = [...out.matchAll(/step +(\d+) +loss (\d+\.\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(steps[0][0]).toBe(1);
    expect(steps[steps.length - 1][0]).toBe(100);
    const [, first] = steps[0];
    const [, last] = steps[steps.length - 1];
    expect(last).toBeLessThan(first / 2);
    expect(out).toMatch(new RegExp(`the loss fell: ${first.toFixed(4)} -> ${last.toFixed(4)}`));
    expect(out).toContain('all as expected: the op passed its checks, the planted bug was caught, the model learned');
  }, 30_000);

  test('the kernel pair is the library affine, scaled; the op and the buggy op', () => {
    manualSeed(3);
    const x = Tensor.randn([3, 2, 2]);
    const w = Tensor.randn([4, 5]);
    const b = Tensor.randn([5]);
    const ref = kernels.affineForward(x, w, Tensor.zeros([5]));
    const { out, cache } = scaledAffineForward(x, w, b, 0.25);
    expect(out.shape).toEqual([3, 5]);
    out.data.forEach((v, i) => expect(v).toBeCloseTo(0.25 * ref.out.data[i] + b.data[i % 5], 12));
    const dout = Tensor.randn([3, 5]);
    const [dx, dw, db] = scaledAffineBackward(dout, cache);
    const g = kernels.affineBackward(dout, ref.cache);
    dx.forEach((v, i) => expect(v).toBeCloseTo(0.25 * g.dx.data[i], 12));
    dw.forEach((v, i) => expect(v).toBeCloseTo(0.25 * g.dw.data[i], 12));
    db.forEach((v, i) => expect(v).toBeCloseTo(g.db.data[i], 12));
    for (const t of [x, w, b]) t.requiresGrad = true;
    expect(() => gradcheck((x, w, b) => scaledAffine(x, w, b, 0.25), [x, w, b])).not.toThrow();
    expect(() => gradcheck((x, w, b) => buggyScaledAffine(x, w, b, 0.25), [x, w, b])).toThrow(GradError);
    const layer = new ScaledAffine(4, 3);
    expect(layer.namedParameters().map(([k, p]) => [k, p.shape])).toEqual([['weight', [4, 3]], ['bias', [3]]]);
    expect(layer.forward(Tensor.randn([2, 4])).shape).toEqual([2, 3]);
  });

  test('with too few random cases the property misses the bug, says so and exits 1', async () => {
    const { code, out } = await run(['--num-runs', '2', '--steps', '1']);
    expect(code).toBe(1);
    expect(out).toMatch(/the property: NOT DETECTED in 2 random cases/);
    expect(out).toContain('SOMETHING WENT WRONG');
  });

  test('--help prints the usage', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    expect(out).toContain(CUSTOM_OP_USAGE);
  });

  test.each([[['--num-runs', '0']], [['--steps', 'x']], [['--seed', '-1']], [['--verbose']]])('bad flags %j exit 2 with the usage', async (argv) => {
    const { code, out, err } = await run(argv);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain(CUSTOM_OP_USAGE);
  });
});
