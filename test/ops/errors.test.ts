/**
 * Bad input gets a typed error naming the function, the argument, what was expected and what
 * arrived, and changes nothing.
 */
import {
  ArgumentError,
  DTypeError,
  kernels,
  ops,
  ShapeError,
  Tensor,
  tensor,
  ValueError,
} from '../../src';
import { expectThrows } from '../helpers/errors';

const f64 = (shape: number[]) => Tensor.zeros(shape);
const f32 = (shape: number[]) => Tensor.zeros(shape, { dtype: 'float32' });

const expectError = expectThrows;

describe('shape mismatches name the op and both shapes', () => {
  it.each([
    ['add', () => f64([2, 3]).add(f64([4]))],
    ['sub', () => f64([2, 3]).sub(f64([2, 2]))],
    ['mul', () => f64([3]).mul(f64([2]))],
    ['div', () => f64([2, 3, 4]).div(f64([3, 3]))],
  ])('%s', (name, fn) => {
    expectError(fn, ShapeError, new RegExp(`^${name}: shapes \\[.*\\] and \\[.*\\] cannot be broadcast`));
  });

  it('matmul inner dimensions and ranks', () => {
    expectError(() => f64([2, 3]).matmul(f64([4, 5])), ShapeError, /^matmul: b must have 3 rows to match a \[2, 3\].*got b \[4, 5\]/);
    expectError(() => f64([2, 3, 1]).matmul(f64([1, 5])), ShapeError, /^matmul: a must be 2-D \(M, K\), got 3-D shape \[2, 3, 1\]/);
    expectError(() => f64([2, 3]).matmul(f64([3])), ShapeError, /^matmul: b must be 2-D/);
  });

  it('reductions, reshape and transpose', () => {
    expectError(() => f64([2, 3]).sum(2), ShapeError, /^sum: axis must be an integer in \[-2, 2\) for a 2-D tensor, got 2/);
    expectError(() => f64([2, 3]).mean(-3), ShapeError, /^mean: axis/);
    expectError(() => f64([2, 3]).reshape([4, 2]), ShapeError, /^reshape: shape must hold 6 elements like x \[2, 3\], got \[4, 2\]/);
    expectError(() => f64([2, 3]).reshape([-1, -1]), ShapeError, /at most one -1/);
    expectError(() => f64([2, 3]).transpose([0, 0]), ShapeError, /^transpose: axes must be a permutation/);
  });

  it('affine: w rows from x, b from w', () => {
    expectError(() => ops.affine(f64([2, 3, 4]), f64([10, 5]), f64([5])), ShapeError,
      /^affineForward: w must have shape \[D, M\] with D = 12 from x \[2, 3, 4\], got \[10, 5\]/);
    expectError(() => ops.affine(f64([2, 3]), f64([3, 5]), f64([4])), ShapeError, /^affineForward: b must have shape \[5\]/);
  });

  it('batchnorm: rank, gamma/beta shapes, the batch of one in train mode', () => {
    expectError(() => ops.batchnorm(f64([4]), f64([4]), f64([4]), { mode: 'train' }), ShapeError, /^batchnormForward: x must be 2-D \(N, D\), got 1-D/);
    expectError(() => ops.batchnorm(f64([4, 3]), f64([2]), f64([3]), { mode: 'train' }), ShapeError, /^batchnormForward: gamma must have shape \[3\]/);
    expectError(() => ops.batchnorm(f64([1, 3]), f64([3]), f64([3]), { mode: 'train' }), ShapeError, /at least 2 rows in 'train' mode/);
    // Test mode normalizes with running statistics, so one row is fine.
    expect(ops.batchnorm(f64([1, 3]), f64([3]), f64([3]), { mode: 'test', runningVar: new Float64Array(3).fill(1) }).shape).toEqual([1, 3]);
  });

  it('losses: scores rank and label count, mse shapes', () => {
    expectError(() => ops.softmaxCrossEntropy(f64([3]), [0, 1, 2]), ShapeError, /^nn\.softmaxCrossEntropy: scores must be 2-D \(N, C\)/);
    expectError(() => ops.softmaxCrossEntropy(f64([0, 3]), []), ShapeError, /N >= 1/);
    expectError(() => ops.softmaxCrossEntropy(f64([2, 3]), [0]), ShapeError, /^nn\.softmaxCrossEntropy: labels must hold 2 labels/);
    expectError(() => ops.mseLoss(f64([2, 3]), f64([3, 2])), ShapeError, /^nn\.mseLoss: target must have shape \[2, 3\] like prediction, got \[3, 2\]/);
  });
});

describe('dtype, mode, labels and argument errors', () => {
  it('mixing float32 and float64 throws DTypeError in every binary op', () => {
    for (const fn of [
      () => f64([2]).add(f32([2])),
      () => f64([2]).mul(f32([2])),
      () => f64([2, 2]).matmul(f32([2, 2])),
      () => ops.affine(f64([2, 2]), f32([2, 2]), f64([2])),
      () => ops.batchnorm(f64([2, 2]), f32([2]), f64([2]), { mode: 'train' }),
      () => ops.mseLoss(f64([2]), f32([2])),
    ]) {
      expectError(fn, DTypeError, /must have dtype 'float64' like .*, got 'float32'/);
    }
  });

  it('a BatchNorm mode other than train/test', () => {
    const bad = { mode: 'eval' } as unknown as kernels.BatchnormParam;
    expectError(() => kernels.batchnormForward(f64([2, 2]), f64([2]), f64([2]), bad), ValueError,
      /^batchnormForward: bnParam.mode must be 'train' or 'test', got "eval"/);
  });

  it('labels out of range or not integers, in the kernels and the ops', () => {
    expectError(() => kernels.softmaxLoss(f64([2, 3]), [0, 3]), ValueError, /^softmaxLoss: y\[1\] must be an integer class label in \[0, 3\), got number 3/);
    expectError(() => kernels.svmLoss(f64([2, 3]), [0.5, 1]), ValueError, /^svmLoss: y\[0\] must be an integer/);
    expectError(() => ops.softmaxCrossEntropy(f64([2, 3]), [-1, 0]), ValueError, /got number -1/);
    expectError(() => ops.softmaxCrossEntropy(f64([2, 3]), 'ab' as unknown as number[]), ValueError, /must be an Int32Array or number\[\]/);
  });

  it('non-tensors and ragged arrays', () => {
    expectError(() => f64([2]).add('x' as unknown as number), ArgumentError, /^add: other must be a Tensor or a number, got "x"/);
    expectError(() => ops.matmul(f64([2, 2]), [[1]] as unknown as Tensor), ArgumentError, /^matmul: b must be a Tensor/);
    expectError(() => tensor([[1, 2], [3]]), ShapeError, /^tensor: values\[1\] must be an array of length 2/);
    expectError(() => tensor([1, 'a' as unknown as number]), ValueError, /^tensor: values\[1\] must be a number/);
    expectError(() => new Tensor(new Float64Array(5), [2, 3]), ShapeError, /^Tensor: shape \[2, 3\] needs 6 elements, got data of length 5/);
    expectError(() => Tensor.zeros([2, -1]), ShapeError, /^Tensor.zeros: shape must be an array of non-negative integers/);
    expectError(() => Tensor.zeros([2], { dtype: 'int32' as 'float32' }), DTypeError, /dtype must be 'float64' or 'float32', got "int32"/);
  });

  it('a failed op changes nothing: bnParam keeps its running statistics', () => {
    const runningMean = Float64Array.of(1, 2);
    const bnParam: kernels.BatchnormParam = { mode: 'train', runningMean };
    expect(() => kernels.batchnormForward(f64([1, 2]), f64([2]), f64([2]), bnParam)).toThrow(ShapeError);
    expect(Array.from(runningMean)).toEqual([1, 2]);
  });
});
