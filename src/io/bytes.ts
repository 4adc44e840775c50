/**
 * Safetensors as bytes, for Tensors: {@link encodeSafetensors} and {@link decodeSafetensors}
 * work on a Uint8Array only (no file system), so they run anywhere JavaScript does. The file
 * versions are in `public.ts`.
 *
 * Dtypes: F32 and F64 become Tensors of that dtype. F16 and BF16 (which Tensors cannot hold)
 * are converted when asked (`{ convert: 'float32' }`, exactly: every half value is a float32)
 * and are an error otherwise. I64 (PyTorch's `num_batches_tracked`) becomes a float64 Tensor
 * when every value is an integer of magnitude at most 2^53, so exact, and its name is listed in
 * the result's `tensors.int64Keys` so that writing the map back stores it as I64 again.
 *
 * @packageDocumentation
 */
import { concatUint8Arrays } from 'typed-array-utils';
import type { DType, FloatArray } from '../dtype';
import { ArgumentError, CheckpointError, DTypeError, ValueError } from '../errors';
import { StateDict } from '../nn/module';
import { checkOptions } from '../options';
import { describe } from '../shape';
import { Tensor } from '../tensor';
import {
  decodeSafetensorsAnyFrom,
  encodeSafetensorsPartsAny,
  type AnyRawTensor,
  type ByteSource,
} from './safetensors';

/**
 * Options of {@link decodeSafetensors} and `io.readSafetensors`.
 *
 * @example
 * ```ts
 * io.readSafetensors('half.safetensors', { convert: 'float32' });
 * ```
 */
export interface ReadSafetensorsOptions {
  /**
   * Return every floating-point tensor (F16, BF16, F32, F64) in this dtype. Default: none, so
   * F32 and F64 keep their dtype and F16/BF16 are an error naming the tensor. F16 and BF16
   * convert exactly to either dtype; F64 to 'float32' rounds to nearest.
   */
  convert?: DType;
  /** Largest header length accepted, in bytes. Default 100 MB (the reference implementation's limit). */
  maxHeaderBytes?: number;
}

/**
 * What {@link decodeSafetensors} and `io.readSafetensors` return.
 *
 * @example
 * ```ts
 * const { tensors, metadata }: SafetensorsContents = io.decodeSafetensors(bytes);
 * ```
 */
export interface SafetensorsContents {
  /**
   * The tensors by name, in file order. `tensors.int64Keys` lists the names stored as I64 (held
   * as exact float64 values).
   */
  tensors: StateDict;
  /** The file's `__metadata__` map, `{}` when it has none. */
  metadata: Record<string, string>;
}

/** What {@link encodeSafetensors} and `io.writeSafetensors` accept: a Map or record of Tensors. */
export type SafetensorsInput = ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>;

const READ_OPTIONS = ['convert', 'maxHeaderBytes'] as const;

/**
 * Encodes Tensors as a safetensors file in memory. float64 tensors are written as F64, float32
 * as F32; when `tensors` is a StateDict, the names in its `int64Keys` are written as I64 (their
 * values must be integers of magnitude at most 2^53). The bytes are the Hugging Face reference
 * order (see `safetensors.ts`), so PyTorch's `safetensors.torch.load` and tapegrad read them.
 *
 * @param tensors - name -> Tensor, a Map (a StateDict, e.g. `model.stateDict({ layout: 'torch' })`) or a record.
 * @param metadata - optional string -> string map stored under `__metadata__`.
 * @returns the whole file as one Uint8Array.
 * @throws ArgumentError when tensors is not a Map/record or an entry is not a Tensor;
 *   ValueError when an int64 entry holds a non-integer; CheckpointError for a bad name or metadata.
 * @example
 * ```ts
 * const bytes = io.encodeSafetensors(model.stateDict({ layout: 'torch' }), { format: 'pt' });
 * ```
 */
export function encodeSafetensors(tensors: SafetensorsInput, metadata?: Record<string, string>): Uint8Array {
  return concatUint8Arrays(...encodeTensorsParts('io.encodeSafetensors', tensors, metadata));
}

/**
 * Decodes and fully validates safetensors bytes into Tensors: the checkpoint reader's checks
 * (header length and JSON, duplicate keys, dtypes, shapes, offsets in range, no overlap, gap or
 * trailing bytes) and then the dtype rules of this module.
 *
 * @param bytes - the whole file.
 * @param opts - convert (none), maxHeaderBytes (100 MB); see {@link ReadSafetensorsOptions}.
 * @returns the tensors (fresh memory, never views of `bytes`) and the metadata.
 * @throws CheckpointError for malformed bytes; DTypeError for an F16/BF16 tensor without
 *   `convert`, or an I64 value beyond 2^53; ArgumentError / ValueError for bad options.
 * @example
 * ```ts
 * const { tensors } = io.decodeSafetensors(bytes, { convert: 'float64' });
 * ```
 */
export function decodeSafetensors(bytes: Uint8Array, opts?: ReadSafetensorsOptions): SafetensorsContents {
  const fn = 'io.decodeSafetensors';
  const o = checkReadOptions(fn, opts);
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError(`${fn}: bytes must be a Uint8Array, got ${describe(bytes)}`);
  const src: ByteSource = {
    size: bytes.length,
    read: (pos, dest) => dest.set(bytes.subarray(pos, pos + dest.length)),
    view: (pos, len) => bytes.subarray(pos, pos + len),
  };
  return decodeTensorsFrom(fn, src, o);
}

/**
 * Checks the options of a reader.
 *
 * @internal
 * @param fn - the caller's name.
 * @param opts - the options given.
 * @returns the checked options.
 * @example
 * ```ts
 * const o = checkReadOptions('io.readSafetensors', opts);
 * ```
 */
export function checkReadOptions(fn: string, opts: unknown): ReadSafetensorsOptions {
  const o = checkOptions(fn, opts, READ_OPTIONS) as ReadSafetensorsOptions;
  if (o.convert !== undefined && o.convert !== 'float32' && o.convert !== 'float64') {
    throw new ValueError(`${fn}: opts.convert must be 'float32' or 'float64', got ${describe(o.convert)}`);
  }
  const m = o.maxHeaderBytes;
  if (m !== undefined && (typeof m !== 'number' || !Number.isSafeInteger(m) || m < 0)) {
    throw new ValueError(`${fn}: opts.maxHeaderBytes must be a non-negative safe integer, got ${describe(m)}`);
  }
  return o;
}

/**
 * Decodes a {@link ByteSource} into Tensors, with error messages naming `fn`.
 *
 * @internal
 * @param fn - the public function's name.
 * @param src - the bytes.
 * @param o - checked options.
 * @returns as {@link decodeSafetensors}.
 * @example
 * ```ts
 * decodeTensorsFrom('io.readSafetensors', src, {});
 * ```
 */
export function decodeTensorsFrom(fn: string, src: ByteSource, o: ReadSafetensorsOptions): SafetensorsContents {
  const decoded = renamed(fn, () =>
    decodeSafetensorsAnyFrom(src, o.maxHeaderBytes === undefined ? {} : { maxHeaderBytes: o.maxHeaderBytes }),
  );
  return toTensors(fn, decoded.tensors, decoded.metadata, o.convert);
}

/**
 * The parts of the file (header, then each tensor's bytes) for Tensors, validated.
 *
 * @internal
 * @param fn - the public function's name.
 * @param tensors - as for {@link encodeSafetensors}.
 * @param metadata - as for {@link encodeSafetensors}.
 * @returns the parts, in file order (views of the tensors' memory on little-endian hosts).
 * @example
 * ```ts
 * writeFileAtomic(path, encodeTensorsParts('io.writeSafetensors', tensors));
 * ```
 */
export function encodeTensorsParts(fn: string, tensors: SafetensorsInput, metadata?: Record<string, string>): Uint8Array[] {
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors) || ArrayBuffer.isView(tensors)) {
    throw new ArgumentError(`${fn}: tensors must be a Map or record of name -> Tensor, got ${describe(tensors)}`);
  }
  const entries: [string, unknown][] =
    tensors instanceof Map ? [...(tensors as ReadonlyMap<string, unknown>)] : Object.entries(tensors);
  const int64 = tensors instanceof StateDict ? tensors.int64Keys : new Set<string>();
  const raw = new Map<string, AnyRawTensor>();
  for (const [name, t] of entries) {
    if (!(t instanceof Tensor)) {
      throw new ArgumentError(`${fn}: tensors[${describe(name)}] must be a Tensor, got ${describe(t)}`);
    }
    const shape = [...t.shape];
    if (int64.has(name)) {
      const data = new BigInt64Array(t.data.length);
      for (let i = 0; i < t.data.length; i++) {
        const v = t.data[i];
        if (!Number.isInteger(v) || Math.abs(v) > 2 ** 53) {
          throw new ValueError(
            `${fn}: tensor ${describe(name)} is listed in int64Keys, so its values must be integers of magnitude at most 2^53, got ${v} at index ${i}`,
          );
        }
        data[i] = BigInt(v);
      }
      raw.set(name, { dtype: 'int64', shape, data });
    } else {
      raw.set(name, { dtype: t.dtype, shape, data: t.data });
    }
  }
  return renamed(fn, () => encodeSafetensorsPartsAny(fn, raw, metadata));
}

/**
 * Runs `f`, giving a CheckpointError from the layer below the public function's name.
 *
 * @internal
 * @param fn - the public function's name.
 * @param f - the work.
 * @returns what `f` returns.
 * @example
 * ```ts
 * renamed('io.writeSafetensors', () => writeFileAtomic(path, parts));
 * ```
 */
export function renamed<T>(fn: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof CheckpointError) {
      const m = /^(decodeSafetensors|readSafetensorsFile|encodeSafetensors|writeFileAtomic): /.exec(e.message);
      if (m !== null) {
        const err = new CheckpointError(`${fn}: ${e.message.slice(m[0].length)}`);
        err.cause = e;
        throw err;
      }
    }
    throw e;
  }
}

/** The decoded raw tensors as Tensors, after checking every one (so nothing half-built escapes). */
function toTensors(
  fn: string,
  raws: Map<string, AnyRawTensor>,
  metadata: Record<string, string>,
  convert: DType | undefined,
): SafetensorsContents {
  for (const [name, r] of raws) {
    if ((r.dtype === 'float16' || r.dtype === 'bfloat16') && convert === undefined) {
      throw new DTypeError(
        `${fn}: tensor ${describe(name)} is ${r.dtype === 'float16' ? 'F16' : 'BF16'}, which Tensors cannot hold; pass { convert: 'float32' } (or 'float64') to convert it exactly`,
      );
    }
    if (r.dtype === 'int64') {
      const d = r.data as BigInt64Array;
      for (let i = 0; i < d.length; i++) {
        if (d[i] > 2n ** 53n || d[i] < -(2n ** 53n)) {
          throw new DTypeError(
            `${fn}: tensor ${describe(name)} is I64 with value ${d[i]} at index ${i}, beyond 2^53, so a float64 Tensor cannot hold it exactly`,
          );
        }
      }
    }
  }
  const tensors = new StateDict();
  for (const [name, r] of raws) {
    let data: FloatArray;
    switch (r.dtype) {
      case 'float64':
      case 'float32':
        data = convert === undefined || convert === r.dtype ? (r.data as FloatArray) : convertArray(r.data as FloatArray, convert);
        break;
      case 'float16':
      case 'bfloat16': {
        const bits = r.data as Uint16Array;
        const out = convert === 'float64' ? new Float64Array(bits.length) : new Float32Array(bits.length);
        const decodeOne = r.dtype === 'float16' ? halfToNumber : bfloat16ToNumber;
        for (let i = 0; i < bits.length; i++) out[i] = decodeOne(bits[i]);
        data = out;
        break;
      }
      case 'int64': {
        const ints = r.data as BigInt64Array;
        const out = new Float64Array(ints.length);
        for (let i = 0; i < ints.length; i++) out[i] = Number(ints[i]);
        data = out;
        tensors.int64Keys.add(name);
        break;
      }
      default:
        throw new DTypeError(`${fn}: tensor ${describe(name)} is ${r.dtype === 'int32' ? 'I32' : 'U8'}, which Tensors cannot hold`);
    }
    tensors.set(name, new Tensor(data, r.shape));
  }
  return { tensors, metadata };
}

function convertArray(a: FloatArray, to: DType): FloatArray {
  return to === 'float64' ? Float64Array.from(a) : Float32Array.from(a);
}

/**
 * The value of an IEEE 754 binary16 bit pattern (exact as a float32 or float64).
 *
 * @internal
 * @param h - the 16 bits.
 * @returns the number.
 * @example
 * ```ts
 * halfToNumber(0x3c00); // 1
 * ```
 */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return sign * f * 2 ** -24;
  if (e === 31) return f !== 0 ? Number.NaN : sign * Infinity;
  return sign * (1024 + f) * 2 ** (e - 25);
}

const BF16_SCRATCH = new Float32Array(1);
const BF16_BITS = new Uint32Array(BF16_SCRATCH.buffer);

/**
 * The value of a bfloat16 bit pattern: the top 16 bits of a float32.
 *
 * @internal
 * @param h - the 16 bits.
 * @returns the number.
 * @example
 * ```ts
 * bfloat16ToNumber(0x3f80); // 1
 * ```
 */
export function bfloat16ToNumber(h: number): number {
  BF16_BITS[0] = h << 16;
  return BF16_SCRATCH[0];
}
