/**
 * The subset of ONNX's `onnx.proto` that an exported model needs (ModelProto, GraphProto,
 * NodeProto, TensorProto, ValueInfoProto, TypeProto, TensorShapeProto, AttributeProto,
 * OperatorSetIdProto), as a protobufjs JSON descriptor, and the encoder over it.
 *
 * Field numbers are those of the official onnx/onnx.proto (IR version 10 era, checked against
 * onnx/onnx main); fields the exporter never writes are left out, which protobuf allows (a
 * reader sees them as unset).
 *
 * NOTE (library choice): protobufjs is used through its reflection API (`protobufjs/light`):
 * the schema below is plain data loaded at run time, so there is no codegen step and no
 * generated file to keep in sync; it runs unchanged in Node and in browsers, it is the
 * protobuf library onnxruntime-web itself depends on, and its one dependency is `long`.
 * @bufbuild/protobuf is conformance-complete but expects protoc-generated descriptors (a
 * hand-built FileDescriptorProto otherwise); google-protobuf needs protoc's JS codegen;
 * pbf needs its own compile step and is tuned for reading map tiles.
 *
 * @packageDocumentation
 */
import { Root, type Type } from 'protobufjs/light.js';
import { TapegradError } from '../errors';

/** ONNX TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
/** int64, for shape and axes constants. */
export const ONNX_INT64 = 7;
/** float64. */
export const ONNX_DOUBLE = 11;

/** AttributeProto.AttributeType values used here. */
export const ATTR_FLOAT = 1;
/** One int64. */
export const ATTR_INT = 2;
/** A list of int64. */
export const ATTR_INTS = 7;
/** A UTF-8 string. */
export const ATTR_STRING = 3;

const descriptor = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            ints: { rule: 'repeated', type: 'int64', id: 8, options: { packed: false } },
            type: { type: 'int32', id: 20 },
          },
        },
        ValueInfoProto: {
          fields: {
            name: { type: 'string', id: 1 },
            type: { type: 'TypeProto', id: 2 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            docString: { type: 'string', id: 6 },
            domain: { type: 'string', id: 7 },
          },
        },
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
          },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            docString: { type: 'string', id: 10 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1, options: { packed: false } },
            dataType: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
          },
        },
        TensorShapeProto: {
          fields: {
            dim: { rule: 'repeated', type: 'Dimension', id: 1 },
          },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: {
                dimValue: { type: 'int64', id: 1 },
                dimParam: { type: 'string', id: 2 },
              },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensorType'] } },
          fields: {
            tensorType: { type: 'Tensor', id: 1 },
          },
          nested: {
            Tensor: {
              fields: {
                elemType: { type: 'int32', id: 1 },
                shape: { type: 'TensorShapeProto', id: 2 },
              },
            },
          },
        },
        OperatorSetIdProto: {
          fields: {
            domain: { type: 'string', id: 1 },
            version: { type: 'int64', id: 2 },
          },
        },
      },
    },
  },
};

/** One dimension of a tensor's shape: a fixed size or a named, dynamic one. */
export type OnnxDim = { dimValue: number } | { dimParam: string };

/** An AttributeProto as the exporter writes it. */
export interface OnnxAttribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  ints?: number[];
}

/** A NodeProto as the exporter writes it. */
export interface OnnxNode {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  attribute: OnnxAttribute[];
  docString?: string;
}

/** A TensorProto holding its values as little-endian raw bytes. */
export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  rawData: Uint8Array;
}

/** A ValueInfoProto for a graph input or output. */
export interface OnnxValueInfo {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: OnnxDim[] } } };
}

/** A ModelProto as the exporter writes it. */
export interface OnnxModel {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  docString?: string;
  opsetImport: { domain: string; version: number }[];
  graph: {
    name: string;
    node: OnnxNode[];
    initializer: OnnxTensor[];
    input: OnnxValueInfo[];
    output: OnnxValueInfo[];
  };
}

let modelType: Type | undefined;

/**
 * Serialises a model to the protobuf wire format.
 *
 * @param model - the ModelProto's fields.
 * @returns the bytes of an `.onnx` file.
 * @example
 * ```ts
 * const bytes = encodeModel({ irVersion: 8, producerName: 'tapegrad', ... });
 * ```
 */
export function encodeModel(model: OnnxModel): Uint8Array {
  modelType ??= Root.fromJSON(descriptor).lookupType('onnx.ModelProto');
  const err = modelType.verify(model);
  // A failure here is a bug in the exporter, not in the user's model.
  if (err !== null) throw new TapegradError(`exportOnnx: internal error, the exporter built an invalid ModelProto: ${err}`);
  return modelType.encode(modelType.fromObject(model)).finish();
}
