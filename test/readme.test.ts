/** The README's example, as written there, runs and learns. */
import { accuracy, gradcheck, manualSeed, nn, optim, Tensor, Trainer } from '../src';
import { checkModuleGradients } from '../src/testing';

it('the README example trains a tiny MLP and its gradient checks pass', () => {
  manualSeed(0);
  const x = Tensor.randn([300, 2]);
  const y = Int32Array.from({ length: 300 }, (_, i) => (x.data[2 * i] > 0 ? 1 : 0));
  const model = new nn.Sequential(new nn.Affine(2, 64), new nn.BatchNorm1d(64), new nn.ReLU(), new nn.Affine(64, 2));
  const optimizer = new optim.Adam(model.parameters(), { lr: 1e-2 });
  const first = nn.softmaxCrossEntropy(model.forward(x), y).item();
  for (let step = 0; step < 100; step++) {
    optimizer.zeroGrad();
    const loss = nn.softmaxCrossEntropy(model.forward(x), y);
    loss.backward();
    optimizer.step();
  }
  expect(nn.softmaxCrossEntropy(model.forward(x), y).item()).toBeLessThan(first / 2);
  const trainer = new Trainer(model, { optimizer, epochs: 10, batchSize: 32 });
  const history = trainer.fit({ x, y }, { x, y });
  expect(history.epochs).toHaveLength(10);
  expect(accuracy(model, x, y)).toBeGreaterThan(0.95);

  const a = Tensor.randn([3, 4], { requiresGrad: true });
  const b = Tensor.randn([4, 2], { requiresGrad: true });
  gradcheck((a, b) => a.matmul(b).relu().sum(), [a, b]);
  checkModuleGradients(model.eval(), { inputShape: [2], numRuns: 5, minBatch: 1 });
});
