/**
 * Tensor's own surface: every options argument is checked (null, unknown keys, inherited
 * names, non-booleans), and printing lays values out by rows as numpy and PyTorch do.
 */
import { ArgumentError, Tensor, tensor, ValueError } from '../../src';

describe('Tensor options', () => {
  const calls: [string, (opts: unknown) => unknown, RegExp][] = [
    ['new Tensor', (o) => new Tensor(new Float64Array(2), [2], o as never), /^Tensor: /],
    ['Tensor.zeros', (o) => Tensor.zeros([2], o as never), /^Tensor\.zeros: /],
    ['Tensor.ones', (o) => Tensor.ones([2], o as never), /^Tensor\.ones: /],
    ['Tensor.full', (o) => Tensor.full([2], 1, o as never), /^Tensor\.full: /],
    ['Tensor.randn', (o) => Tensor.randn([2], o as never), /^Tensor\.randn: /],
    ['Tensor.rand', (o) => Tensor.rand([2], 0, 1, o as never), /^Tensor\.rand: /],
    ['tensor', (o) => tensor([1, 2], o as never), /^tensor: /],
    ['clone', (o) => Tensor.zeros([2]).clone(o as never), /^clone: /],
    ['zeroGrad', (o) => Tensor.zeros([2]).zeroGrad(o as never), /^zeroGrad: /],
    ['backward', (o) => Tensor.ones([2], { requiresGrad: true }).sum().backward(undefined, o as never), /^backward: /],
  ];

  it.each(calls)('%s: null options are an ArgumentError naming the function', (_, call, prefix) => {
    expect(() => call(null)).toThrow(ArgumentError);
    expect(() => call(null)).toThrow(prefix);
    expect(() => call(null)).toThrow(/opts must be an object of options or undefined, got null/);
  });

  it.each(calls)('%s: unknown and inherited option names are ValueErrors', (_, call, prefix) => {
    for (const bad of [{ requiresgrad: true }, { constructor: 1 }, { toString: 2 }, JSON.parse('{"__proto__": 1}') as object]) {
      expect(() => call(bad)).toThrow(ValueError);
      expect(() => call(bad)).toThrow(prefix);
    }
  });

  it('booleans must be booleans', () => {
    expect(() => Tensor.zeros([2], { requiresGrad: 'yes' as never })).toThrow(/^Tensor\.zeros: opts\.requiresGrad must be a boolean, got "yes"/);
    expect(() => Tensor.ones([1], { requiresGrad: true }).sum().backward(undefined, { retainGraph: 1 as never })).toThrow(/^backward: opts\.retainGraph must be a boolean, got 1/);
  });

  it('releaseActivations is gone: it was a promise the library cannot check', () => {
    const loss = Tensor.ones([2], { requiresGrad: true }).sum();
    expect(() => loss.backward(undefined, { releaseActivations: true } as never)).toThrow(/releaseActivations is not an option of backward \(expected one of retainGraph, createGraph\)/);
  });

  it('options still work', () => {
    const t = Tensor.zeros([2], { dtype: 'float32', requiresGrad: true });
    expect(t.dtype).toBe('float32');
    expect(t.requiresGrad).toBe(true);
    expect(t.clone({ requiresGrad: true }).requiresGrad).toBe(true);
  });
});

describe('Tensor.toString', () => {
  it('prints a matrix by rows, aligned', () => {
    expect(String(tensor([[1, 2], [3, 40]]))).toBe('Tensor([[ 1,  2],\n        [ 3, 40]], shape=[2, 2], dtype=float64)');
  });

  it('prints scalars, vectors and 3-D tensors, with a blank line between blocks', () => {
    expect(String(tensor(3))).toBe('Tensor(3, shape=[], dtype=float64)');
    expect(String(tensor([1, 2.5], { dtype: 'float32', requiresGrad: true }))).toBe('Tensor([  1, 2.5], shape=[2], dtype=float32, requiresGrad=true)');
    expect(String(Tensor.zeros([2, 1, 2]))).toBe('Tensor([[[0, 0]],\n\n        [[0, 0]]], shape=[2, 1, 2], dtype=float64)');
  });

  it('summarises large tensors with the first and last 3 of each dimension', () => {
    const t = new Tensor(Float64Array.from({ length: 40 * 40 }, (_, i) => i), [40, 40]);
    const lines = String(t).split('\n');
    expect(lines).toHaveLength(7);
    expect(lines[0]).toBe('Tensor([[   0,    1,    2, ...,   37,   38,   39],');
    expect(lines[3]).toBe('        ...,');
    expect(lines[6]).toBe('        [1560, 1561, 1562, ..., 1597, 1598, 1599]], shape=[40, 40], dtype=float64)');
  });

  it('prints an empty tensor', () => {
    expect(String(Tensor.zeros([0, 3]))).toBe('Tensor([], shape=[0, 3], dtype=float64)');
  });
});
