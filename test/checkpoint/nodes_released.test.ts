/**
 * The tape does not leak: after backward() every intermediate tensor of the graph has dropped
 * its node (so its inputs, backward closure and caches can be collected), and no gradient
 * buffer is left behind. Deterministic, no timing: the graph is walked before backward.
 */
import { manualSeed, nn, optim, Tensor } from '../../src';

/** Every tensor reachable from `root` through recorded nodes, root included. */
function graphOf(root: Tensor): Tensor[] {
  const seen = new Set<Tensor>([root]);
  const stack = [root];
  while (stack.length > 0) {
    const t = stack.pop()!;
    for (const input of t._node?.inputs ?? []) {
      if (!seen.has(input)) {
        seen.add(input);
        stack.push(input);
      }
    }
  }
  return [...seen];
}

function mlp() {
  manualSeed(0);
  return new nn.Sequential(
    new nn.Affine(2, 16), new nn.BatchNorm1d(16), new nn.ReLU(), new nn.Dropout(0.3),
    new nn.Affine(16, 16), new nn.LayerNorm(16), new nn.ReLU(), new nn.Affine(16, 3),
  );
}

describe('backward releases the nodes it passes', () => {
  it('an MLP step: every intermediate node is null and freed afterwards, leaves untouched', () => {
    const model = mlp();
    const x = Tensor.randn([8, 2]);
    const loss = nn.softmaxCrossEntropy(model.forward(x).mul(2).add(1).sum(1, true).sub(model.forward(x).mean()).exp().reshape([8, 1]).matmul(Tensor.ones([1, 3])), [0, 1, 2, 0, 1, 2, 0, 1]);
    const graph = graphOf(loss);
    const intermediates = graph.filter((t) => t._node !== null);
    expect(intermediates.length).toBeGreaterThan(15);
    const leaves = graph.filter((t) => t._node === null);
    expect(leaves).toEqual(expect.arrayContaining(model.parameters()));
    loss.backward();
    for (const t of intermediates) {
      expect(t._node).toBeNull();
      expect(t._freed).toBe(true);
      expect(t._gradBuf).toBeNull();
    }
    for (const t of leaves) {
      expect(t._gradBuf).toBeNull();
      expect(t.isLeaf).toBe(true);
    }
    for (const p of model.parameters()) expect(p.grad).not.toBeNull();
  });

  it('retainGraph keeps them until a last backward without it', () => {
    const model = mlp();
    const loss = nn.softmaxCrossEntropy(model.forward(Tensor.randn([4, 2])), [0, 1, 2, 0]);
    const intermediates = graphOf(loss).filter((t) => t._node !== null);
    loss.backward(undefined, { retainGraph: true });
    for (const t of intermediates) expect(t._node).not.toBeNull();
    loss.backward();
    for (const t of intermediates) expect(t._node).toBeNull();
  });

  it('over many training steps nothing accumulates on the parameters', () => {
    const model = mlp();
    const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    const x = Tensor.randn([16, 2]);
    const y = Int32Array.from({ length: 16 }, (_, i) => i % 3);
    for (let step = 0; step < 50; step++) {
      opt.zeroGrad();
      const loss = nn.softmaxCrossEntropy(model.forward(x), y);
      const inter = graphOf(loss).filter((t) => t._node !== null);
      loss.backward();
      opt.step();
      expect(inter.every((t) => t._node === null)).toBe(true);
    }
    for (const p of model.parameters()) {
      expect(p._node).toBeNull();
      expect(p._gradBuf).toBeNull();
      expect(p.grad!._node).toBeNull(); // grads are plain leaves, not graphs
    }
  });
});
