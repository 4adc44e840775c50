/**
 * @jest-environment ./test/helpers/ort-environment.ts
 */
/**
 * examples/export.ts end to end (short): it trains, writes PyTorch-layout safetensors and ONNX,
 * and both files check out (reloaded into tapegrad; run in ONNX Runtime).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { EXPORT_USAGE, main } from '../../examples/export';
import { runExample } from '../helpers/examples';

describe('examples/export.ts', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapegrad-export-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes both files, and both reproduce the model', async () => {
    const { code, out, err } = await runExample(main, ['--epochs', '5', '--out', dir]);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(/^1\. trained 5 epochs: training accuracy \d+\.\d%$/m);
    expect(out).toMatch(/the safetensors file loaded into a fresh model: outputs differ by 0\.0e\+0/);
    expect(out).toMatch(/ONNX Runtime on the ONNX file: outputs differ by \d\.\de-1[3-9] \(relative\)/);
    expect(out).toContain('model.load_state_dict(load_file(');
    expect(out).toContain('both files check out');
    for (const f of ['model.safetensors', 'model.onnx']) expect(fs.statSync(path.join(dir, f)).size).toBeGreaterThan(10_000);
  }, 60_000);

  it.each([[['--epochs', '0']], [['--seed', '-1']], [['--bogus']]])('bad flags %j exit 2 with the usage', async (argv) => {
    const { code, err } = await runExample(main, argv);
    expect(code).toBe(2);
    expect(err).toContain(EXPORT_USAGE);
  });
});
