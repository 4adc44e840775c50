/**
 * ONNX export: the eval-mode graph of a model, as the bytes of an ONNX ModelProto.
 *
 * How the graph is found: by tracing. The model runs its forward once, in eval mode and with
 * grad on, over a dummy batch; the tape's nodes (each with its op name and its input tensors)
 * are walked back from the output and each one becomes ONNX nodes. Walking the module tree by
 * class instead would see only Sequentials of known layers: a user module's forward is code,
 * and only running it shows what it does (a residual add, a matmul with a parameter field, a
 * layer called twice). The module tree is still used where the tape is silent: the library's
 * layers are watched during the trace, so a node made by `nn.LeakyReLU` or `nn.Softmax` gets
 * its slope or axis from the layer, and a `batchnorm` node its running statistics from its
 * `nn.BatchNorm1d`.
 *
 * @packageDocumentation
 */
import type { Node } from '../autograd/tape';
import { isGradEnabled } from '../autograd/mode';
import type { DType } from '../dtype';
import { ArgumentError, DTypeError, GradError, ShapeError, ValueError } from '../errors';
import { checkOptions } from '../options';
import { describe, formatShape } from '../shape';
import { Tensor } from '../tensor';
import { ELU, GELU, LeakyReLU } from '../nn/activations';
import { BatchNorm1d, LayerNorm } from '../nn/layers';
import { Module } from '../nn/module';
import { LogSoftmax, Softmax } from '../nn/shape_layers';
import { attr, GraphBuilder, onnxType } from './graph';
import { encodeModel, type OnnxDim, type OnnxValueInfo } from './proto';

/** Options of {@link exportOnnx}. */
export interface ExportOnnxOptions {
  /** The input's shape; `null` as the first entry makes the batch axis dynamic (named `batchName`). Required. */
  inputShape: readonly (number | null)[];
  /** ONNX opset, 17 to 21. Default 17 (the first with LayerNormalization). */
  opsetVersion?: number;
  /** The graph input's name. Default 'input'. */
  inputName?: string;
  /** The graph output's name. Default 'output'. */
  outputName?: string;
  /** The name of the dynamic batch dimension (dim_param). Default 'N'. */
  batchName?: string;
}

const MIN_OPSET = 17;
const MAX_OPSET = 21;
/** The batch size of the dummy input the forward is traced on. */
const TRACE_BATCH = 2;

/** IR version for an opset (onnx/docs/Versioning.md: opset 17-18 -> IR 8, 19-20 -> 9, 21 -> 10). */
function irVersionFor(opset: number): number {
  return opset <= 18 ? 8 : opset <= 20 ? 9 : 10;
}

function nonEmptyString(arg: string, v: unknown, dflt: string): string {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || v.length === 0) throw new ValueError(`exportOnnx: opts.${arg} must be a non-empty string, got ${describe(v)}`);
  return v;
}

/** Who made a tensor during the trace: the innermost module whose forward returned it or ran its op. */
interface Owner {
  name: string;
  module: Module;
}

function ownerLabel(o: Owner | undefined): string {
  if (o === undefined) return 'no module';
  const cls = o.module.constructor.name;
  return o.name === '' ? `the model (${cls})` : `module '${o.name}' (${cls})`;
}

/**
 * Exports a model's eval-mode forward as an ONNX model: Affine (Gemm), BatchNorm1d
 * (BatchNormalization with the running statistics, either convention), LayerNorm
 * (LayerNormalization), ReLU, Tanh, Sigmoid, LeakyReLU, GELU, ELU, SiLU, Softplus, Identity,
 * Dropout (dropped: eval is the identity), Softmax, LogSoftmax, Flatten, Sequential, and user
 * modules whose forwards use these and the elementwise ops (add, sub, mul, div, neg, exp, log,
 * sqrt, abs, maximum, minimum), matmul and reshape. The graph is found by running the forward
 * once on a dummy batch (see the file's comment); the model is put back in the mode it was in
 * and its parameters, buffers and the random generator are untouched.
 *
 * Weights keep the model's dtype (float32 -> FLOAT, float64 -> DOUBLE; a model without
 * parameters exports DOUBLE). NOTE: ONNX stores float attributes as float32, so where a float64
 * model needs an exact constant (LeakyReLU's slope, ELU's alpha, LayerNorm's eps) the exporter
 * uses DOUBLE constants and elementwise ops instead of the attribute, and BatchNorm's variance
 * absorbs the rounding of its eps. Float64 LayerNorm is written out (ONNX Runtime's double
 * LayerNormalization strays by up to 1e-8 on rows of small variance). Exact GELU uses Erf, which
 * ONNX Runtime's CPU provider implements for float32 only.
 *
 * Shape: the input is `inputShape` with the dynamic batch `batchName`; the output's batch axis is
 * named the same when the batch reaches it unchanged.
 *
 * @param model - the model (its parameters must share one dtype).
 * @param opts - inputShape (required), opsetVersion (17), inputName ('input'), outputName
 *   ('output'), batchName ('N').
 * @returns the bytes of an `.onnx` file.
 * @throws ArgumentError when model is not a Module or opts not an object; ValueError on a bad or
 *   unknown option, or an op with no ONNX equivalent (naming the module and the op, e.g. an op
 *   made with defineOp); DTypeError when parameters mix dtypes; GradError inside noGrad (the
 *   trace needs the tape); ShapeError when the forward rejects inputShape.
 * @example
 * ```ts
 * const bytes = exportOnnx(model, { inputShape: [null, 784] });
 * fs.writeFileSync('model.onnx', bytes);
 * ```
 */
export function exportOnnx(model: Module, opts: ExportOnnxOptions): Uint8Array {
  if (!(model instanceof Module)) throw new ArgumentError(`exportOnnx: model must be a Module, got ${describe(model)}`);
  if (opts === undefined) throw new ArgumentError('exportOnnx: opts must be an object with inputShape, got undefined');
  const o = checkOptions('exportOnnx', opts, ['inputShape', 'opsetVersion', 'inputName', 'outputName', 'batchName']);
  const shapeArg: unknown = o.inputShape;
  if (!Array.isArray(shapeArg) || shapeArg.length === 0) {
    throw new ValueError(`exportOnnx: opts.inputShape must be a non-empty array of positive integers (the first may be null for a dynamic batch), got ${describe(shapeArg)}`);
  }
  shapeArg.forEach((d: unknown, i) => {
    const ok = (d === null && i === 0) || (Number.isSafeInteger(d) && (d as number) > 0);
    if (!ok) {
      throw new ValueError(`exportOnnx: opts.inputShape[${i}] must be a positive integer${i === 0 ? ' or null (dynamic batch)' : ''}, got ${describe(d)}`);
    }
  });
  const inputShape = shapeArg as (number | null)[];
  const opsetArg: unknown = o.opsetVersion ?? MIN_OPSET;
  if (typeof opsetArg !== 'number' || !Number.isInteger(opsetArg) || opsetArg < MIN_OPSET || opsetArg > MAX_OPSET) {
    throw new ValueError(`exportOnnx: opts.opsetVersion must be an integer from ${MIN_OPSET} to ${MAX_OPSET}, got ${describe(o.opsetVersion)}`);
  }
  const opset = opsetArg;
  const inputName = nonEmptyString('inputName', o.inputName, 'input');
  const outputName = nonEmptyString('outputName', o.outputName, 'output');
  const batchName = nonEmptyString('batchName', o.batchName, 'N');
  if (inputName === outputName) throw new ValueError(`exportOnnx: opts.inputName and opts.outputName must differ, got '${inputName}' for both`);
  if (!isGradEnabled()) {
    throw new GradError('exportOnnx: grad mode is off (called inside noGrad); the export traces the forward on the tape, so call it outside noGrad');
  }

  const params = model.namedParameters();
  const buffers = model.namedBuffers();
  const dtype = modelDType(params);
  const dynamic = inputShape[0] === null;
  const traceShape = inputShape.map((d) => (d === null ? TRACE_BATCH : d));

  const { out, input, owners, producers } = trace(model, traceShape, dtype);

  const tensorNames = new Map<Tensor, string>();
  for (const [n, t] of [...params, ...buffers]) if (!tensorNames.has(t)) tensorNames.set(t, n);
  const g = new GraphBuilder(dtype);
  g.reserve(inputName);
  g.reserve(outputName);
  const conv = new Converter(g, opset, dtype, tensorNames, owners, producers, model);
  conv.names.set(input, inputName);
  conv.batchAxis.set(input, dynamic ? 0 : -1);

  if (!(out instanceof Tensor)) {
    throw new ValueError(`exportOnnx: the forward of ${ownerLabel({ name: '', module: model })} must return one Tensor to export, got ${describe(out)}`);
  }
  if (out === input) {
    g.node('Identity', [inputName], outputName);
    conv.batchAxis.set(out, dynamic ? 0 : -1);
  } else {
    if (out._node === null) throw new ValueError(`exportOnnx: the output of ${ownerLabel({ name: '', module: model })} does not depend on its input; nothing to export`);
    conv.names.set(out, outputName);
    for (const t of topoOrder(out, input)) conv.convert(t);
  }

  const valueInfo = (name: string, shape: readonly number[], batchAxis: number): OnnxValueInfo => ({
    name,
    type: {
      tensorType: {
        elemType: onnxType(dtype),
        shape: { dim: shape.map((d, i): OnnxDim => (dynamic && i === batchAxis ? { dimParam: batchName } : { dimValue: d })) },
      },
    },
  });
  const producerVersion = '0.1.0';
  return encodeModel({
    irVersion: irVersionFor(opset),
    producerName: 'tapegrad',
    producerVersion,
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: model.constructor.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(inputName, traceShape, 0)],
      output: [valueInfo(outputName, out.shape, conv.batchAxis.get(out) ?? -1)],
    },
  });
}

function modelDType(params: [string, Tensor][]): DType {
  if (params.length === 0) return 'float64';
  const [firstName, first] = params[0];
  for (const [n, t] of params) {
    if (t.dtype !== first.dtype) {
      throw new DTypeError(`exportOnnx: the model's parameters must share one dtype, got '${first.dtype}' for ${firstName} and '${t.dtype}' for ${n}`);
    }
  }
  return first.dtype;
}

/**
 * Runs the forward once in eval mode over a dummy input that requires grad, watching every
 * module's forward (an own `forward` property set for the trace, then removed), and restores
 * each module's mode and forward whatever happens.
 */
function trace(
  model: Module,
  shape: number[],
  dtype: DType,
): { out: unknown; input: Tensor; owners: Map<Tensor, Owner>; producers: Map<Tensor, Module> } {
  const modules = model.namedModules();
  const modes = modules.map(([, m]) => m.training);
  const owners = new Map<Tensor, Owner>();
  const producers = new Map<Tensor, Module>();
  const saved: { m: Module; own: PropertyDescriptor | undefined; patched: boolean }[] = [];
  // Values from a fixed formula, not the seeded generator, so the user's random stream is untouched.
  const size = shape.reduce((a, b) => a * b, 1);
  const data = dtype === 'float32' ? new Float32Array(size) : new Float64Array(size);
  for (let i = 0; i < size; i++) data[i] = Math.sin(i + 1);
  const input = new Tensor(data, shape, { requiresGrad: true });
  try {
    model.eval();
    for (const [name, m] of modules) {
      const own = Object.getOwnPropertyDescriptor(m, 'forward');
      const original = m.forward as unknown;
      if (typeof original !== 'function') continue;
      const wrapped = function (this: Module, ...args: unknown[]): unknown {
        const result: unknown = (original as (...a: unknown[]) => unknown).apply(this, args);
        if (result instanceof Tensor) claim(result, args, { name, module: m }, owners, producers);
        return result;
      };
      try {
        Object.defineProperty(m, 'forward', { value: wrapped, configurable: true, writable: true, enumerable: false });
        saved.push({ m, own, patched: true });
      } catch {
        // A frozen module is traced without being watched: its ops still export, unnamed.
      }
    }
    const out = (model.forward as (x: Tensor) => unknown).call(model, input);
    return { out, input, owners, producers };
  } catch (e) {
    if (e instanceof ShapeError) {
      throw new ShapeError(`exportOnnx: the forward rejected a dummy input of shape ${formatShape(shape)} (opts.inputShape with the batch set to ${TRACE_BATCH}): ${e.message}`);
    }
    throw e;
  } finally {
    for (const { m, own, patched } of saved) {
      if (!patched) continue;
      if (own !== undefined) Object.defineProperty(m, 'forward', own);
      else delete (m as unknown as Record<string, unknown>).forward;
    }
    modules.forEach(([, m], i) => {
      m.training = modes[i];
    });
  }
}

/**
 * Marks `out` as made by `owner`, and every node behind it back to the forward's arguments that
 * no inner module claimed first (inner forwards return, and so claim, before outer ones).
 */
function claim(out: Tensor, args: unknown[], owner: Owner, owners: Map<Tensor, Owner>, producers: Map<Tensor, Module>): void {
  if (!producers.has(out) && out._node !== null) producers.set(out, owner.module);
  const stop = new Set<unknown>(args);
  const seen = new Set<Tensor>();
  const stack: Tensor[] = [out];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t) || stop.has(t) || t._node === null) continue;
    seen.add(t);
    if (!owners.has(t)) owners.set(t, owner);
    for (const i of t._node.inputs) stack.push(i);
  }
}

/** The non-leaf tensors behind `out`, inputs before the ops that read them (iterative DFS). */
function topoOrder(out: Tensor, input: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const state = new Map<Tensor, number>();
  const stack: [Tensor, number][] = [[out, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const node = t._node!;
    if (i < node.inputs.length) {
      top[1] = i + 1;
      const x = node.inputs[i];
      if (x !== input && x._node !== null && !state.has(x)) {
        state.set(x, 1);
        stack.push([x, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.SQRT2 * (2 / Math.sqrt(Math.PI)) * 0.5;
const GELU_KAPPA = 0.044715;

/** Turns traced nodes into ONNX nodes. */
class Converter {
  /** ONNX value name of each tensor met. */
  readonly names = new Map<Tensor, string>();
  /** Where each tensor's dynamic batch axis is (-1: none). */
  readonly batchAxis = new Map<Tensor, number>();

  constructor(
    private readonly g: GraphBuilder,
    private readonly opset: number,
    private readonly dtype: DType,
    private readonly tensorNames: Map<Tensor, string>,
    private readonly owners: Map<Tensor, Owner>,
    private readonly producers: Map<Tensor, Module>,
    private readonly model: Module,
  ) {}

  /** The name of an op's input: an earlier op's output, or an initializer for a leaf tensor. */
  private nameOf(t: Tensor, owner: string): string {
    const known = this.names.get(t);
    if (known !== undefined) return known;
    if (t.dtype !== this.dtype) {
      throw new DTypeError(`exportOnnx: ${owner} uses a '${t.dtype}' tensor of shape ${formatShape(t.shape)} in a '${this.dtype}' model; ONNX needs one dtype`);
    }
    const name = this.g.floats(this.tensorNames.get(t) ?? 'const', t.data, t.shape);
    this.names.set(t, name);
    this.batchAxis.set(t, -1);
    return name;
  }

  private batchOf(t: Tensor): number {
    return this.batchAxis.get(t) ?? -1;
  }

  /** Adds the ONNX nodes computing `t` from its node's inputs. */
  convert(t: Tensor): void {
    const node = t._node!;
    const owner = ownerLabel(this.owners.get(t));
    const where = `op '${node.op}' in ${owner}`;
    if (node.external) {
      throw new ValueError(`exportOnnx: ${where} was made with defineOp; a user-defined op has no ONNX equivalent (write its forward with tapegrad's ops or layers to export it)`);
    }
    const ins = node.inputs.map((x) => this.nameOf(x, where));
    const out = this.names.get(t) ?? this.g.fresh(node.op);
    this.names.set(t, out);
    const g = this.g;
    const rank = t.shape.length;
    // Default for elementwise ops: the batch axis of any input, right-aligned to the output.
    let batch = -1;
    for (const x of node.inputs) {
      const b = this.batchOf(x);
      if (b >= 0) batch = b + rank - x.shape.length;
    }
    switch (node.op) {
      case 'affine': {
        const [x] = node.inputs;
        if (this.batchOf(x) > 0) throw new ValueError(`exportOnnx: ${where} reads its input's batch axis as a feature (batch axis ${this.batchOf(x)})`);
        const a = x.shape.length === 2 ? ins[0] : g.op('Flatten', [ins[0]], 'flat', [attr.int('axis', 1)]);
        g.node('Gemm', [a, ins[1], ins[2]], out);
        batch = this.batchOf(x) === 0 ? 0 : -1;
        break;
      }
      case 'relu':
        g.node('Relu', ins, out);
        break;
      case 'tanh':
        g.node('Tanh', ins, out);
        break;
      case 'sigmoid':
        g.node('Sigmoid', ins, out);
        break;
      case 'silu':
        if (this.dtype === 'float32') {
          g.node('Mul', [ins[0], g.op('Sigmoid', ins, 'sigmoid')], out);
        } else {
          // NOTE: ONNX Runtime fuses x * Sigmoid(x) into its QuickGelu, which has no double
          // kernel; x / (1 + e^-x) is the same value and is left alone.
          const denom = g.op('Add', [g.op('Exp', [g.op('Neg', ins, 'neg')], 'exp'), g.scalar('one', 1)], 'one_plus');
          g.node('Div', [ins[0], denom], out);
        }
        break;
      case 'leakyRelu': {
        const m = this.layer(t, LeakyReLU, where, 'slope');
        if (this.dtype === 'float32') {
          g.node('LeakyRelu', ins, out, [attr.float('alpha', m.slope)]);
        } else {
          // A float attribute would round the slope to float32; a DOUBLE constant keeps it.
          const pos = g.op('Greater', [ins[0], g.scalar('zero', 0)], 'positive');
          g.node('Where', [pos, ins[0], g.op('Mul', [ins[0], g.scalar('slope', m.slope)], 'scaled')], out);
        }
        break;
      }
      case 'elu': {
        const m = this.layer(t, ELU, where, 'alpha');
        const pos = g.op('Greater', [ins[0], g.scalar('zero', 0)], 'positive');
        const neg = g.op('Mul', [this.expm1(ins[0]), g.scalar('alpha', m.alpha)], 'elu_neg');
        g.node('Where', [pos, ins[0], neg], out);
        break;
      }
      case 'softplus': {
        // tapegrad (and PyTorch): x > 20 ? x : log1p(exp(x)); ONNX's Softplus has no threshold
        // and no double kernel in ONNX Runtime, so it is written out.
        const big = g.op('Greater', [ins[0], g.scalar('threshold', 20)], 'above');
        g.node('Where', [big, ins[0], this.log1p(g.op('Exp', ins, 'exp'))], out);
        break;
      }
      case 'gelu': {
        const m = this.layer(t, GELU, where, 'approximate');
        // NOTE: ONNX Runtime's double Gelu(approximate='tanh') differs from the formula by ~7e-9
        // (measured), so float64 models keep the written-out form.
        if (this.opset >= 20 && (m.approximate === 'none' || this.dtype === 'float32')) {
          g.node('Gelu', ins, out, [attr.string('approximate', m.approximate)]);
        } else if (m.approximate === 'tanh') {
          // x * sigmoid(2u) = x * 0.5 * (1 + tanh u), u = sqrt(2/pi) (x + 0.044715 x^3), as tapegrad computes it.
          const x3 = g.op('Mul', [ins[0], g.op('Mul', [ins[0], ins[0]], 'x2')], 'x3');
          const inner = g.op('Add', [ins[0], g.op('Mul', [x3, g.scalar('kappa', GELU_KAPPA)], 'kx3')], 'inner');
          const u2 = g.op('Mul', [inner, g.scalar('two_c', 2 * SQRT_2_OVER_PI)], 'u2');
          g.node('Mul', [ins[0], g.op('Sigmoid', [u2], 'cdf')], out);
        } else {
          const erf = g.op('Erf', [g.op('Mul', [ins[0], g.scalar('sqrt1_2', SQRT1_2)], 'scaled')], 'erf');
          const cdf = g.op('Mul', [g.op('Add', [erf, g.scalar('one', 1)], 'one_plus'), g.scalar('half', 0.5)], 'cdf');
          g.node('Mul', [ins[0], cdf], out);
        }
        break;
      }
      case 'batchnorm': {
        const m = this.batchNormOf(t, node, where);
        const eps32 = Math.fround(m.eps);
        let varName: string;
        if (this.dtype === 'float64') {
          // NOTE: epsilon is a float32 attribute; folding (eps - fround(eps)) into the DOUBLE
          // running variance keeps var + eps what tapegrad adds.
          const v = Float64Array.from(m.runningVar.data, (x) => x + m.eps - eps32);
          varName = g.floats(this.tensorNames.get(m.runningVar) ?? 'running_var', v, m.runningVar.shape);
        } else {
          varName = this.nameOf(m.runningVar, where);
        }
        g.node('BatchNormalization', [ins[0], ins[1], ins[2], this.nameOf(m.runningMean, where), varName], out, [attr.float('epsilon', eps32)]);
        break;
      }
      case 'layernorm': {
        const eps = this.layerNormEps(t, node, where);
        if (this.dtype === 'float32') {
          g.node('LayerNormalization', ins, out, [attr.int('axis', -1), attr.float('epsilon', eps)]);
        } else {
          // NOTE: ONNX Runtime's double LayerNormalization strays up to ~1e-8 from the two-pass
          // formula on rows of small variance (measured), and its epsilon is a float32
          // attribute; float64 models get tapegrad's formula written out, eps a DOUBLE constant.
          const mean = this.reduceMean(ins[0]);
          const d = g.op('Sub', [ins[0], mean], 'centered');
          const variance = this.reduceMean(g.op('Mul', [d, d], 'squared'));
          const std = g.op('Sqrt', [g.op('Add', [variance, g.scalar('eps', eps)], 'var_eps')], 'std');
          const iv = g.op('Div', [g.scalar('one', 1), std], 'inv_std');
          const h = g.op('Mul', [d, iv], 'normalized');
          g.node('Add', [g.op('Mul', [h, ins[1]], 'scaled'), ins[2]], out);
        }
        break;
      }
      case 'softmax':
      case 'logSoftmax': {
        const m = node.op === 'softmax' ? this.layer(t, Softmax, where, 'axis') : this.layer(t, LogSoftmax, where, 'axis');
        g.node(node.op === 'softmax' ? 'Softmax' : 'LogSoftmax', ins, out, [attr.int('axis', m.axis)]);
        break;
      }
      case 'flatten':
      case 'reshape':
      case 'squeeze':
      case 'unsqueeze':
        batch = this.reshape(node.inputs[0], ins[0], t, out, where);
        break;
      case 'add':
      case 'sub':
      case 'mul':
      case 'div': {
        const op = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div' }[node.op];
        g.node(op, ins, out);
        break;
      }
      case 'maximum':
        g.node('Max', ins, out);
        break;
      case 'minimum':
        g.node('Min', ins, out);
        break;
      case 'neg':
      case 'exp':
      case 'log':
      case 'sqrt':
      case 'abs':
        g.node(node.op.charAt(0).toUpperCase() + node.op.slice(1), ins, out);
        break;
      case 'matmul': {
        const [a, b] = node.inputs;
        if (this.batchOf(a) === 1 || this.batchOf(b) === 0) throw new ValueError(`exportOnnx: ${where} sums over the batch axis; the graph would not hold for another batch size`);
        g.node('MatMul', ins, out);
        batch = this.batchOf(a) === 0 ? 0 : this.batchOf(b) === 1 ? 1 : -1;
        break;
      }
      default:
        throw new ValueError(
          `exportOnnx: ${where} has no ONNX export in tapegrad (supported: the layers, elementwise add/sub/mul/div/neg/exp/log/sqrt/abs/maximum/minimum, matmul, reshape, flatten, squeeze, unsqueeze)`,
        );
    }
    this.batchAxis.set(t, batch);
  }

  /** The library layer whose forward returned `t`, for the settings the tape does not keep. */
  private layer<T extends Module>(t: Tensor, cls: abstract new (...a: never[]) => T, where: string, setting: string): T {
    const m = this.producers.get(t);
    if (m instanceof cls) return m;
    throw new ValueError(
      `exportOnnx: ${where} was called as a function, not through nn.${cls.name}; the tape does not keep its ${setting}, so it cannot be exported (use an nn.${cls.name} layer)`,
    );
  }

  private batchNormOf(t: Tensor, node: Node, where: string): BatchNorm1d {
    const m = this.producers.get(t);
    if (m instanceof BatchNorm1d) return m;
    const gamma = node.inputs[1];
    for (const [, sub] of this.model.namedModules()) if (sub instanceof BatchNorm1d && sub.weight === gamma) return sub;
    throw new ValueError(`exportOnnx: ${where} is not an nn.BatchNorm1d's: its running statistics are not on the tape, so it cannot be exported (use an nn.BatchNorm1d layer)`);
  }

  private layerNormEps(t: Tensor, node: Node, where: string): number {
    const m = this.producers.get(t);
    if (m instanceof LayerNorm) return m.eps;
    const gamma = node.inputs[1];
    for (const [, sub] of this.model.namedModules()) if (sub instanceof LayerNorm && sub.weight === gamma) return sub.eps;
    throw new ValueError(`exportOnnx: ${where} is not an nn.LayerNorm's: its eps is not on the tape, so it cannot be exported (use an nn.LayerNorm layer)`);
  }

  /** The mean over the last axis, kept (ReduceMean's axes moved from attribute to input in opset 18). */
  private reduceMean(x: string): string {
    const g = this.g;
    if (this.opset >= 18) return g.op('ReduceMean', [x, g.int64s('axes', [-1])], 'mean', [attr.int('keepdims', 1)]);
    return g.op('ReduceMean', [x], 'mean', [attr.ints('axes', [-1]), attr.int('keepdims', 1)]);
  }

  /** exp(x) - 1 accurate near 0 (Kahan: (u - 1) * x / log u with u = e^x), and -1 where e^x is 0. */
  private expm1(x: string): string {
    const g = this.g;
    const one = g.scalar('one', 1);
    const u = g.op('Exp', [x], 'exp');
    const um1 = g.op('Sub', [u, one], 'exp_minus_1');
    const kahan = g.op('Div', [g.op('Mul', [um1, x], 'num'), g.op('Log', [u], 'log_exp')], 'expm1_kahan');
    const tiny = g.op('Where', [g.op('Equal', [u, g.scalar('zero', 0)], 'underflow'), g.scalar('minus_one', -1), kahan], 'expm1_guarded');
    return g.op('Where', [g.op('Equal', [u, one], 'exp_is_1'), x, tiny], 'expm1');
  }

  /** log(1 + v) accurate for small v (Goldberg: log(w) * v / (w - 1) with w = 1 + v). */
  private log1p(v: string): string {
    const g = this.g;
    const one = g.scalar('one', 1);
    const w = g.op('Add', [v, one], 'one_plus');
    const ratio = g.op('Div', [g.op('Mul', [g.op('Log', [w], 'log'), v], 'num'), g.op('Sub', [w, one], 'w_minus_1')], 'log1p_goldberg');
    return g.op('Where', [g.op('Equal', [w, one], 'w_is_1'), v, ratio], 'log1p');
  }

  /**
   * A view op as Reshape. Axes before and at the batch axis that the view keeps are copied
   * from the input (0 in Reshape's shape), so the graph holds for any batch size.
   */
  private reshape(x: Tensor, xName: string, t: Tensor, out: string, where: string): number {
    const b = this.batchOf(x);
    let target = [...t.shape];
    let batch = -1;
    if (b >= 0) {
      const keeps = t.shape.length > b && x.shape.slice(0, b + 1).every((d, i) => t.shape[i] === d);
      if (keeps) {
        for (let i = 0; i <= b; i++) target[i] = 0;
        batch = b;
      } else if (t.shape.length === 1) {
        target = [-1];
      } else {
        throw new ValueError(
          `exportOnnx: ${where} reshapes ${formatShape(x.shape)} to ${formatShape(t.shape)}, moving the batch axis ${b}; a graph with a dynamic batch cannot express it (keep the batch axis first, or give inputShape a fixed batch)`,
        );
      }
    }
    this.g.node('Reshape', [xName, this.g.int64s('shape', target)], out);
    return batch;
  }
}
