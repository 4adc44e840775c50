/* eslint-disable */
const tg = require('./src');
tg.kernels.setGemmThreads(1);
tg.manualSeed(1);
const model = new tg.nn.Sequential(new tg.nn.Affine(2, 64, { dtype: 'float32' }), new tg.nn.BatchNorm1d(64, { dtype: 'float32' }), new tg.nn.ReLU(),
  new tg.nn.Affine(64, 64, { dtype: 'float32' }), new tg.nn.BatchNorm1d(64, { dtype: 'float32' }), new tg.nn.ReLU(), new tg.nn.Affine(64, 3, { dtype: 'float32' }));
const opt = new tg.optim.SGD(model.parameters(), { lr: 0.01 });
const x = tg.Tensor.randn([64, 2], { dtype: 'float32' });
const y = Int32Array.from({ length: 64 }, (_, i) => i % 3);
for (let s = 0; s < 5000; s++) { opt.zeroGrad(); const loss = tg.nn.softmaxCrossEntropy(model.forward(x), y); loss.backward(); opt.step(); }
const t0 = performance.now();
for (let s = 0; s < 40000; s++) { opt.zeroGrad(); const loss = tg.nn.softmaxCrossEntropy(model.forward(x), y); loss.backward(); opt.step(); }
console.log('us/step', (performance.now() - t0) / 40);
