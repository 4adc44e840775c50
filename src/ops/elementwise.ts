/**
 * Elementwise differentiable ops: add, sub, mul, div with numpy broadcasting, and neg, exp,
 * log. Gradients of broadcast inputs are summed back to each input's shape.
 *
 * @packageDocumentation
 */
import { record, withGraphRule } from '../autograd/tape';
import { sumTo } from './graph_rules';
import { allocate, assertSameDType, dtypeOf, type FloatArray } from '../dtype';
import { broadcastShapes, shapesEqual, sizeOf } from '../shape';
import { Tensor } from '../tensor';
import { broadcastIndex, sumToShape } from './broadcast';
import { assertTensor } from './util';

type Binary = (x: number, y: number) => number;

/** out = f(a, b) under broadcasting; returns the output data and shape. */
function broadcastBinary(fn: string, a: Tensor, b: Tensor, f: Binary): Tensor {
  assertTensor(fn, 'a', a);
  assertTensor(fn, 'b', b);
  assertSameDType(fn, 'a', a.data, 'b', b.data);
  const ad = a.data;
  const bd = b.data;
  if (shapesEqual(a.shape, b.shape)) {
    const out = allocate(dtypeOf(ad), ad.length);
    for (let i = 0; i < out.length; i++) out[i] = f(ad[i], bd[i]);
    return new Tensor(out, a.shape);
  }
  const shape = broadcastShapes(fn, a.shape, b.shape);
  const out = allocate(dtypeOf(ad), sizeOf(shape));
  if (bd.length === 1) {
    const y = bd[0];
    for (let i = 0; i < out.length; i++) out[i] = f(ad[i], y);
  } else if (ad.length === 1) {
    const x = ad[0];
    for (let i = 0; i < out.length; i++) out[i] = f(x, bd[i]);
  } else {
    const ia = shapesEqual(a.shape, shape) ? null : broadcastIndex(a.shape, shape);
    const ib = shapesEqual(b.shape, shape) ? null : broadcastIndex(b.shape, shape);
    for (let i = 0; i < out.length; i++) out[i] = f(ad[ia === null ? i : ia[i]], bd[ib === null ? i : ib[i]]);
  }
  return new Tensor(out, shape);
}

/** g * other broadcast to g's shape, then summed to `shapeOf`'s shape; `scale` applied per element. */
function scaledGrad(g: FloatArray, out: Tensor, other: Tensor, target: Tensor, f: Binary): FloatArray {
  const full = allocate(dtypeOf(g), g.length);
  const od = other.data;
  if (od.length === g.length) {
    for (let i = 0; i < g.length; i++) full[i] = f(g[i], od[i]);
  } else if (od.length === 1) {
    for (let i = 0; i < g.length; i++) full[i] = f(g[i], od[0]);
  } else {
    const idx = broadcastIndex(other.shape, out.shape);
    for (let i = 0; i < g.length; i++) full[i] = f(g[i], od[idx[i]]);
  }
  return sumToShape(full, out.shape, target.shape);
}

function negated(g: FloatArray): FloatArray {
  const r = allocate(dtypeOf(g), g.length);
  for (let i = 0; i < g.length; i++) r[i] = -g[i];
  return r;
}

/**
 * a + b with broadcasting.
 *
 * Shape: a, b broadcastable -> broadcast shape.
 *
 * @param a - first operand.
 * @param b - second operand.
 * @throws ShapeError when the shapes do not broadcast; DTypeError on mixed dtypes.
 * @example
 * ```ts
 * add(tensor([[1, 2], [3, 4]]), tensor([10, 20])); // [[11, 22], [13, 24]]
 * ```
 */
export function add(a: Tensor, b: Tensor): Tensor {
  const out = broadcastBinary('add', a, b, (x, y) => x + y);
  const r = record(out, 'add', [a, b], (g) => [
    a.requiresGrad ? sumToShape(g, out.shape, a.shape) : null,
    b.requiresGrad ? sumToShape(g, out.shape, b.shape) : null,
  ]);
  return r._node === null ? r : withGraphRule(r, (g) => [a.requiresGrad ? sumTo(g, a.shape) : null, b.requiresGrad ? sumTo(g, b.shape) : null]);
}

/**
 * a - b with broadcasting.
 *
 * Shape: a, b broadcastable -> broadcast shape.
 *
 * @param a - first operand.
 * @param b - subtrahend.
 * @example
 * ```ts
 * sub(tensor([3, 4]), tensor(1)); // [2, 3]
 * ```
 */
export function sub(a: Tensor, b: Tensor): Tensor {
  const out = broadcastBinary('sub', a, b, (x, y) => x - y);
  const r = record(out, 'sub', [a, b], (g) => [
    a.requiresGrad ? sumToShape(g, out.shape, a.shape) : null,
    b.requiresGrad ? negated(sumToShape(g, out.shape, b.shape)) : null,
  ]);
  return r._node === null ? r : withGraphRule(r, (g) => [a.requiresGrad ? sumTo(g, a.shape) : null, b.requiresGrad ? sumTo(g.neg(), b.shape) : null]);
}

/**
 * a * b elementwise with broadcasting.
 *
 * Shape: a, b broadcastable -> broadcast shape.
 *
 * @param a - first factor.
 * @param b - second factor.
 * @example
 * ```ts
 * mul(tensor([1, 2]), tensor([3, 4])); // [3, 8]
 * ```
 */
export function mul(a: Tensor, b: Tensor): Tensor {
  const out = broadcastBinary('mul', a, b, (x, y) => x * y);
  const r = record(out, 'mul', [a, b], (g) => [
    a.requiresGrad ? scaledGrad(g, out, b, a, (gi, bi) => gi * bi) : null,
    b.requiresGrad ? scaledGrad(g, out, a, b, (gi, ai) => gi * ai) : null,
  ]);
  return r._node === null
    ? r
    : withGraphRule(r, (g) => [a.requiresGrad ? sumTo(g.mul(b), a.shape) : null, b.requiresGrad ? sumTo(g.mul(a), b.shape) : null]);
}

/**
 * a / b elementwise with broadcasting.
 *
 * Shape: a, b broadcastable -> broadcast shape.
 *
 * @param a - dividend.
 * @param b - divisor.
 * @example
 * ```ts
 * div(tensor([1, 2]), tensor(2)); // [0.5, 1]
 * ```
 */
export function div(a: Tensor, b: Tensor): Tensor {
  const out = broadcastBinary('div', a, b, (x, y) => x / y);
  const r = record(out, 'div', [a, b], (g) => {
    let gb: FloatArray | null = null;
    if (b.requiresGrad) {
      // d(a/b)/db = -a / b^2 = -out / b.
      const full = allocate(dtypeOf(g), g.length);
      const ib = b.data.length === g.length ? null : broadcastIndex(b.shape, out.shape);
      const bd = b.data;
      const od = out.data;
      for (let i = 0; i < g.length; i++) full[i] = (-g[i] * od[i]) / bd[ib === null ? i : ib[i]];
      gb = sumToShape(full, out.shape, b.shape);
    }
    return [a.requiresGrad ? scaledGrad(g, out, b, a, (gi, bi) => gi / bi) : null, gb];
  });
  return r._node === null
    ? r
    : withGraphRule(r, (g) => [
        a.requiresGrad ? sumTo(g.div(b), a.shape) : null,
        b.requiresGrad ? sumTo(g.mul(a).div(b.mul(b)).neg(), b.shape) : null,
      ]);
}

/**
 * -x.
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @example
 * ```ts
 * neg(tensor([1, -2])); // [-1, 2]
 * ```
 */
export function neg(x: Tensor): Tensor {
  assertTensor('neg', 'x', x);
  const out = new Tensor(negated(x.data), x.shape);
  return withGraphRule(record(out, 'neg', [x], (g) => [negated(g)]), (g) => [g.neg()]);
}

/**
 * e^x elementwise.
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @example
 * ```ts
 * exp(tensor([0, 1])); // [1, 2.718...]
 * ```
 */
export function exp(x: Tensor): Tensor {
  assertTensor('exp', 'x', x);
  const xd = x.data;
  const od = allocate(dtypeOf(xd), xd.length);
  for (let i = 0; i < xd.length; i++) od[i] = Math.exp(xd[i]);
  const out = new Tensor(od, x.shape);
  const r = record(out, 'exp', [x], (g) => {
    const r = allocate(dtypeOf(g), g.length);
    for (let i = 0; i < g.length; i++) r[i] = g[i] * od[i];
    return [r];
  });
  return withGraphRule(r, (g) => [g.mul(out)]);
}

/**
 * Natural logarithm elementwise (NaN below 0, -Infinity at 0, as Math.log).
 *
 * Shape: any -> same.
 *
 * @param x - input.
 * @example
 * ```ts
 * log(tensor([1, Math.E])); // [0, 1]
 * ```
 */
export function log(x: Tensor): Tensor {
  assertTensor('log', 'x', x);
  const xd = x.data;
  const od = allocate(dtypeOf(xd), xd.length);
  for (let i = 0; i < xd.length; i++) od[i] = Math.log(xd[i]);
  const out = new Tensor(od, x.shape);
  const r = record(out, 'log', [x], (g) => {
    const r = allocate(dtypeOf(g), g.length);
    for (let i = 0; i < g.length; i++) r[i] = g[i] / xd[i];
    return [r];
  });
  return withGraphRule(r, (g) => [g.div(x)]);
}
