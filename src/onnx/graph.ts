/**
 * A small builder for an ONNX graph: nodes in order, initializers with unique names, and
 * helpers for the constants the exporter adds (shapes, scalars).
 *
 * @packageDocumentation
 */
import type { DType, FloatArray } from '../dtype';
import { ATTR_FLOAT, ATTR_INT, ATTR_INTS, ATTR_STRING, ONNX_DOUBLE, ONNX_FLOAT, ONNX_INT64, type OnnxAttribute, type OnnxNode, type OnnxTensor } from './proto';

/** The ONNX element type of a tapegrad dtype. */
export function onnxType(dtype: DType): number {
  return dtype === 'float32' ? ONNX_FLOAT : ONNX_DOUBLE;
}

/** Little-endian bytes of float values, as TensorProto.raw_data requires whatever the host's order. */
function floatBytes(values: ArrayLike<number>, dtype: DType): Uint8Array {
  const width = dtype === 'float32' ? 4 : 8;
  const bytes = new Uint8Array(values.length * width);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) {
    if (width === 4) view.setFloat32(i * 4, values[i], true);
    else view.setFloat64(i * 8, values[i], true);
  }
  return bytes;
}

function int64Bytes(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i]), true);
  return bytes;
}

/** Attribute constructors. */
export const attr = {
  int: (name: string, i: number): OnnxAttribute => ({ name, type: ATTR_INT, i }),
  ints: (name: string, ints: number[]): OnnxAttribute => ({ name, type: ATTR_INTS, ints }),
  float: (name: string, f: number): OnnxAttribute => ({ name, type: ATTR_FLOAT, f }),
  string: (name: string, s: string): OnnxAttribute => ({ name, type: ATTR_STRING, s: new TextEncoder().encode(s) }),
};

/** Nodes and initializers of one graph, in the order they are added. */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  /** @param dtype - the float type of the model's values. */
  constructor(readonly dtype: DType) {}

  /** A fresh value name starting with `hint`, never handed out before. */
  fresh(hint: string): string {
    let name = hint;
    while (this.used.has(name)) name = `${hint}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  /** Reserves a name the caller chose (graph input/output, parameter names). */
  reserve(name: string): void {
    this.used.add(name);
  }

  /** Adds a node; returns its (first) output name. */
  node(opType: string, inputs: string[], output: string, attrs: OnnxAttribute[] = [], doc?: string): string {
    const n: OnnxNode = { input: inputs, output: [output], name: `${opType}_${this.nodes.length}`, opType, attribute: attrs };
    if (doc !== undefined) n.docString = doc;
    this.nodes.push(n);
    return output;
  }

  /** Adds a node whose output gets a fresh name from `hint`. */
  op(opType: string, inputs: string[], hint: string, attrs: OnnxAttribute[] = [], doc?: string): string {
    return this.node(opType, inputs, this.fresh(hint), attrs, doc);
  }

  /** Adds a float initializer in the model's dtype under a fresh name from `hint`. */
  floats(hint: string, values: FloatArray | readonly number[], dims: readonly number[]): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dims: [...dims], dataType: onnxType(this.dtype), rawData: floatBytes(values, this.dtype) });
    return name;
  }

  private readonly scalars = new Map<number, string>();

  /** A float scalar constant in the model's dtype, one initializer per value. */
  scalar(hint: string, v: number): string {
    let name = this.scalars.get(v);
    if (name === undefined) {
      name = this.floats(hint, [v], []);
      this.scalars.set(v, name);
    }
    return name;
  }

  /** An int64 vector initializer (Reshape's shape, ReduceMean's axes). */
  int64s(hint: string, values: readonly number[]): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dims: [values.length], dataType: ONNX_INT64, rawData: int64Bytes(values) });
    return name;
  }
}
