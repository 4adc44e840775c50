/**
 * Your own kernels as ops: {@link defineOp} turns a kernel pair written the seed's way,
 * `forward(...) -> { out, cache }` and `backward(dout, cache) -> one gradient per tensor
 * input`, into a function from Tensors to a Tensor on the tape.
 *
 * It lives in `autograd/` rather than `ops/`: it is the tape's public extension point (like
 * PyTorch's `torch.autograd.Function`), built on `record()` and its contract for user-written
 * backward rules, whereas `ops/` holds the library's own ops, re-exported as `ops.*`.
 *
 * @packageDocumentation
 */
import { dtypeOf, type FloatArray } from '../dtype';
import { ArgumentError, DTypeError, GradError, ShapeError, ValueError } from '../errors';
import type { NDArray } from '../kernels/types';
import { checkOptions } from '../options';
import { describe, formatShape, shapesEqual, sizeOf } from '../shape';
import { Tensor } from '../tensor';
import { noGrad } from './mode';
import { record } from './tape';
import { storageKey } from '../kernels/wasm/runtime';

export type { NDArray } from '../kernels/types';

/** What a user op's `forward` returns: the output array and whatever `backward` needs. */
export interface OpForwardResult<C> {
  /** The output: a `{ shape, data }` pair (a Tensor qualifies) of the inputs' dtype. */
  readonly out: NDArray;
  /** Anything: handed to `backward` unchanged. */
  readonly cache: C;
}

/**
 * One gradient from a user op's `backward`: a typed array with the input's length and dtype
 * (row-major, in the input's shape), or a `{ shape, data }` pair whose shape is the input's.
 */
export type OpGradient = FloatArray | NDArray;

/**
 * The definition {@link defineOp} takes: a name and a kernel pair.
 *
 * @typeParam A - forward's parameters; a parameter typed `NDArray` (the default for an
 *   unannotated one) is a tensor input.
 * @typeParam C - the cache's type, passed from forward to backward.
 */
export interface OpDefinition<A extends unknown[], C> {
  /** The op's name, used in its errors and on the tape: `'leakyRelu'`. */
  readonly name: string;
  /**
   * The forward kernel. Runs under `noGrad`. Tensor arguments arrive as the Tensors themselves
   * (a Tensor is a `{ shape, data }`): read them, never write into them. Every other argument
   * arrives unchanged.
   */
  readonly forward: (...args: A) => OpForwardResult<C>;
  /**
   * The backward kernel: given `dout` (the gradient of the output, in its shape and dtype) and
   * the cache, return one gradient per tensor argument, in order; `null` where none is needed
   * (it counts as zero). `needsInputGrad[i]` says whether tensor argument i requires grad, so
   * a kernel can skip work nobody reads.
   */
  readonly backward: (dout: NDArray, cache: C, needsInputGrad: readonly boolean[]) => ReadonlyArray<OpGradient | null>;
}

/** A tensor argument (typed `NDArray` in forward) becomes a `Tensor`; others stay as they are. */
type TensorFor<T> = T extends NDArray ? Tensor : T;

/** The parameters of the function {@link defineOp} returns: forward's, with Tensors for arrays. */
export type OpArgs<A extends unknown[]> = { [K in keyof A]: TensorFor<A[K]> };

const FN = 'defineOp';

/**
 * Makes a differentiable op from a hand-written kernel pair, as the seed writes its layers.
 * The returned function runs `forward` on its arguments (Tensors and anything else), wraps
 * `out` in a Tensor and records it on the tape with `backward` as its gradient rule, so it
 * composes with every op, module, optimizer, `gradcheck` and `checkModuleGradients`.
 *
 * Ownership: the output wraps the array forward returned (no copy, unless it is one of the
 * inputs' own memory, which is copied so that changing one cannot change the other). Arrays
 * your kernels return and the `dout` your backward receives are yours: tapegrad never
 * recycles them into its memory pool.
 *
 * Errors: every error tapegrad raises about the op names it; an error thrown inside your
 * forward or backward reaches you as the same object (same class, same stack) with
 * `<name>: forward threw: ` (or `backward threw: `) put before its message.
 *
 * Shape: whatever forward returns; each gradient has its tensor input's shape.
 *
 * @param def - `{ name, forward, backward }` (see {@link OpDefinition}); all three required.
 * @returns `(...args) => Tensor`: forward's parameters, with a Tensor for every `NDArray` one.
 * @throws ArgumentError / ValueError on a bad definition. Calling the op throws DTypeError when
 *   tensor inputs mix dtypes or `out` has another dtype, ShapeError when out's data does not fit
 *   its shape, ArgumentError when forward returns no `{ out }` or a Tensor that requires grad
 *   is hidden inside an array or object argument; backward() throws GradError when
 *   backward returns the wrong number of gradients or one of the wrong kind, length or dtype.
 * @example
 * ```ts
 * const leakyRelu = defineOp({
 *   name: 'leakyRelu',
 *   forward: (x, slope: number) => {
 *     const out = x.data.map((v) => (v > 0 ? v : slope * v));
 *     return { out: { shape: x.shape, data: out }, cache: { x, slope } };
 *   },
 *   backward: (dout, { x, slope }) => [dout.data.map((g, i) => (x.data[i] > 0 ? g : slope * g))],
 * });
 * leakyRelu(Tensor.randn([2, 3], { requiresGrad: true }), 0.01).sum().backward();
 * ```
 */
export function defineOp<A extends unknown[] = NDArray[], C = unknown>(def: OpDefinition<A, C>): (...args: OpArgs<A>) => Tensor {
  if (def === undefined) throw new ArgumentError(`${FN}: def must be an object { name, forward, backward }, got undefined`);
  const o = checkOptions(FN, def, ['name', 'forward', 'backward'], 'def');
  const name = o.name;
  if (typeof name !== 'string') throw new ArgumentError(`${FN}: def.name must be a non-empty string, got ${describe(name)}`);
  if (name.trim() === '') throw new ValueError(`${FN}: def.name must be a non-empty string, got ${JSON.stringify(name)}`);
  const forward = o.forward;
  const backward = o.backward;
  if (typeof forward !== 'function') {
    throw new ArgumentError(`${FN}: def.forward of '${name}' must be a function (...args) => { out, cache }, got ${describe(forward)}`);
  }
  if (typeof backward !== 'function') {
    throw new ArgumentError(`${FN}: def.backward of '${name}' must be a function (dout, cache) => gradients, got ${describe(backward)}`);
  }
  const fwd = forward as (...args: unknown[]) => unknown;
  const bwd = backward as (dout: NDArray, cache: unknown, needsInputGrad: readonly boolean[]) => unknown;
  const params = parameterNames(fwd);
  const rest = params.length > 0 && params[params.length - 1].startsWith('...') ? params.length - 1 : -1;
  const argName = (i: number): string => {
    if (rest >= 0 && i >= rest) return `${params[rest].slice(3)}[${i - rest}]`;
    const p = params[i];
    return p === undefined || p === '' ? `argument ${i}` : p;
  };

  const op = (...args: unknown[]): Tensor => {
    const inputs: Tensor[] = [];
    const names: string[] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (a instanceof Tensor) {
        inputs.push(a);
        names.push(argName(i));
      } else {
        checkNoNestedTensor(name, argName(i), a);
      }
    }
    for (let j = 1; j < inputs.length; j++) {
      if (inputs[j].dtype !== inputs[0].dtype) {
        throw new DTypeError(
          `${name}: tensor inputs must share one dtype, got ${names[0]} '${inputs[0].dtype}' and ${names[j]} '${inputs[j].dtype}'`,
        );
      }
    }

    let result: unknown;
    try {
      // Like torch.autograd.Function: tensor ops inside a kernel compute, they do not record.
      result = noGrad(() => fwd(...args));
    } catch (e) {
      throw withOpName(e, name, 'forward');
    }
    const { out, cache } = checkForwardResult(name, result, inputs);
    const needsInputGrad = Object.freeze(inputs.map((t) => t.requiresGrad));

    return record(
      out,
      name,
      inputs,
      (g) => {
        let grads: unknown;
        try {
          grads = bwd(new Tensor(g, out.shape), cache, needsInputGrad);
        } catch (e) {
          throw withOpName(e, name, 'backward');
        }
        return checkGradients(name, grads, inputs, names);
      },
      undefined,
      true,
    );
  };
  Object.defineProperty(op, 'name', { value: name });
  return op as (...args: OpArgs<A>) => Tensor;
}

/** Validates forward's `{ out, cache }` and wraps `out` (copied only if it is an input's memory). */
function checkForwardResult(name: string, result: unknown, inputs: readonly Tensor[]): { out: Tensor; cache: unknown } {
  const expected = 'forward must return { out: { shape, data }, cache }';
  if (result === null || typeof result !== 'object' || !('out' in result)) {
    throw new ArgumentError(`${name}: ${expected}, got ${describe(result)}${result !== null && typeof result === 'object' ? ' without out' : ''}`);
  }
  const { out, cache } = result as { out: unknown; cache?: unknown };
  if (out === null || typeof out !== 'object' || !('shape' in out) || !('data' in out)) {
    throw new ArgumentError(`${name}: ${expected}; out must be a { shape, data } pair, got ${describe(out)}`);
  }
  const { shape, data } = out as { shape: unknown; data: unknown };
  if (!(data instanceof Float64Array) && !(data instanceof Float32Array)) {
    throw new DTypeError(`${name}: forward's out.data must be a Float64Array or Float32Array, got ${describe(data)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new ShapeError(`${name}: forward's out.shape must be an array of non-negative integers, got ${describe(shape)}`);
  }
  const s = shape as number[];
  if (sizeOf(s) !== data.length) {
    throw new ShapeError(`${name}: forward's out.data must hold ${sizeOf(s)} values for out.shape ${formatShape(s)}, got ${describe(data)}`);
  }
  if (inputs.length > 0 && dtypeOf(data) !== inputs[0].dtype) {
    const want = inputs[0].dtype === 'float64' ? 'Float64Array' : 'Float32Array';
    throw new DTypeError(`${name}: forward's out.data must be a ${want} like the tensor inputs ('${inputs[0].dtype}'), got ${describe(data)}`);
  }
  // An output sharing memory with an input (an identity kernel, a view) would let an in-place
  // change to one show up in the other: the output gets its own copy.
  const shared = inputs.some((t) => storageKey(t.data) === storageKey(data));
  return { out: new Tensor(shared ? data.slice() : data, s), cache };
}

/** Validates backward's result: one gradient per tensor input, each of its length and dtype. */
function checkGradients(name: string, grads: unknown, inputs: readonly Tensor[], names: readonly string[]): (FloatArray | null)[] {
  const n = inputs.length;
  const want = `${n} gradient${n === 1 ? '' : 's'} (one per tensor input: ${names.join(', ')})`;
  if (!Array.isArray(grads)) {
    const hint = ArrayBuffer.isView(grads) || isPair(grads) ? `; wrap it in an array: [${n === 1 ? 'dx' : 'dx, ...'}]` : '';
    throw new GradError(`${name}: backward must return an array of ${want}, got ${describe(grads)}${hint}`);
  }
  if (grads.length !== n) throw new GradError(`${name}: backward must return ${want}, got ${grads.length}`);
  const res: (FloatArray | null)[] = [];
  for (let j = 0; j < n; j++) {
    const g: unknown = grads[j];
    const t = inputs[j];
    const kind = t.dtype === 'float64' ? 'Float64Array' : 'Float32Array';
    const what = `${name}: backward's gradient ${j} (for ${names[j]}, ${t.dtype} ${formatShape(t.shape)})`;
    if (g === null || g === undefined) {
      res.push(null);
      continue;
    }
    let data: unknown = g;
    if (isPair(g)) {
      const shape: unknown = g.shape;
      if (!Array.isArray(shape) || !shapesEqual(shape as number[], t.shape)) {
        throw new GradError(`${what} must have ${names[j]}'s shape ${formatShape(t.shape)}, got shape ${describe(shape)}`);
      }
      data = g.data;
    }
    if (!(data instanceof Float64Array) && !(data instanceof Float32Array)) {
      throw new GradError(`${what} must be a ${kind} of ${t.size} values, a { shape, data } pair or null, got ${describe(data)}`);
    }
    if (dtypeOf(data) !== t.dtype) throw new GradError(`${what} must be a ${kind} like ${names[j]}, got ${describe(data)}`);
    if (data.length !== t.size) throw new GradError(`${what} must hold ${t.size} values, got ${describe(data)}`);
    res.push(data);
  }
  return res;
}

function isPair(v: unknown): v is { shape: unknown; data: unknown } {
  return v !== null && typeof v === 'object' && !ArrayBuffer.isView(v) && 'shape' in v && 'data' in v;
}

/**
 * A Tensor that requires grad inside an array or plain object argument would get no gradient
 * (only top-level Tensor arguments are the op's inputs): say so instead of training silently
 * without it.
 */
function checkNoNestedTensor(name: string, arg: string, v: unknown): void {
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return;
  const proto: unknown = Object.getPrototypeOf(v);
  let entries: [string, unknown][];
  if (Array.isArray(v)) entries = v.map((x, i) => [`[${i}]`, x]);
  else if (proto === Object.prototype || proto === null) entries = Object.entries(v).map(([k, x]) => [`.${k}`, x]);
  else return;
  for (const [at, x] of entries) {
    if (x instanceof Tensor && x.requiresGrad) {
      throw new ArgumentError(
        `${name}: ${arg}${at} is a Tensor that requires grad inside another argument, where it would get no gradient; ` +
          'pass each tensor as an argument of its own',
      );
    }
  }
}

/**
 * Puts `<name>: <phase> threw: ` before the message of an error thrown by user code, keeping
 * the object itself (its class, stack frames and properties), so `instanceof` and `catch` by
 * class still work. Anything else thrown (a string, a frozen error) is passed on as it is.
 */
function withOpName(e: unknown, name: string, phase: 'forward' | 'backward'): unknown {
  if (!(e instanceof Error)) return e;
  const old = e.message;
  const prefix = `${name}: ${phase} threw: `;
  if (old.startsWith(prefix)) return e;
  try {
    const header = `${e.name}: ${old}`;
    const desc = Object.getOwnPropertyDescriptor(e, 'stack');
    e.message = prefix + old;
    // V8 formats `stack` when first read: if it already was, its first line has the old message.
    if (desc !== undefined && 'value' in desc && typeof desc.value === 'string' && desc.value.startsWith(header)) {
      e.stack = `${e.name}: ${e.message}${desc.value.slice(header.length)}`;
    }
  } catch {
    // A frozen error or a read-only message: it goes on unchanged.
  }
  return e;
}

/**
 * The parameter names of a function from its source (`(x, slope) => ...` gives ['x', 'slope'],
 * a rest parameter '...xs', a destructured one ''), for messages; [] when the source does not
 * show them (native or bound functions).
 */
function parameterNames(f: (...args: never[]) => unknown): string[] {
  let src: string;
  try {
    src = Function.prototype.toString.call(f);
  } catch {
    return [];
  }
  const bare = /^\s*(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(src);
  if (bare !== null) return [bare[1]];
  const pieces: string[] = [];
  let depth = 0;
  let cur = '';
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '/' && (src[i + 1] === '/' || src[i + 1] === '*')) {
      const end = src[i + 1] === '/' ? src.indexOf('\n', i) : src.indexOf('*/', i + 2) + 1;
      if (end <= 0) return [];
      i = end;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      let k = i + 1;
      while (k < src.length && src[k] !== c) k += src[k] === '\\' ? 2 : 1;
      if (depth > 0) cur += 'S';
      i = k;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') {
      if (depth === 0 && c !== '(') return []; // no parameter list before the body
      depth++;
      if (depth === 1) continue;
    } else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth === 0) {
        pieces.push(cur);
        break;
      }
    } else if (c === ',' && depth === 1) {
      pieces.push(cur);
      cur = '';
      continue;
    }
    if (depth > 0) cur += c;
  }
  if (pieces.length === 1 && pieces[0].trim() === '') return [];
  return pieces.map((p) => {
    const m = /^\s*(\.\.\.)?\s*([A-Za-z_$][\w$]*)/.exec(p);
    return m === null ? '' : (m[1] ?? '') + m[2];
  });
}
