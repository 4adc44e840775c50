/**
 * The byte layer of tapegrad checkpoints: encoding and strictly validating decoding of the
 * [safetensors](https://github.com/huggingface/safetensors) format on plain tensor records.
 *
 * Layout of a file:
 *
 * ```text
 * [ N: u64 little-endian ][ N bytes: UTF-8 JSON header, space-padded to a multiple of 8 ][ data ]
 * ```
 *
 * The header is an object: an optional `"__metadata__"` string→string map, then one entry per
 * tensor, `name: { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }`, with
 * offsets relative to the start of the data region. Tensor data is raw little-endian, row-major.
 *
 * Ordering written by {@link encodeSafetensors} (the Hugging Face reference order, so small
 * files come out byte-identical to `safetensors.serialize`): tensors sorted by dtype in
 * descending alignment, `F64`, `F32`, `I32`, `U8`, then by name compared as UTF-8 bytes; the
 * header lists `__metadata__` first and then the tensors in that same order; data is laid out in
 * that order, contiguous. Because the data region starts at `8 + N` (a multiple of 8) and larger
 * items come first, every tensor's data is aligned to its item size.
 *
 * @packageDocumentation
 */
import { concatUint8Arrays } from 'typed-array-utils';
import { CheckpointError } from '../errors';
import { checkOptions } from '../options';

/** The safetensors dtype strings tapegrad reads and writes. */
export type STDType = 'F64' | 'F32' | 'I32' | 'U8';

/** Element type of a {@link RawTensor}. */
export type RawDType = 'float64' | 'float32' | 'int32' | 'uint8';

/** The typed array behind a {@link RawTensor}. */
export type RawData = Float64Array | Float32Array | Int32Array | Uint8Array;

/**
 * A tensor as plain data: dtype, shape and row-major storage. `data.length` must equal the
 * product of `shape` (1 for the scalar shape `[]`), and `data` must be the typed array of
 * `dtype` (Float64Array for 'float64', Float32Array for 'float32', Int32Array for 'int32',
 * Uint8Array for 'uint8').
 *
 * @example
 * ```ts
 * const w: RawTensor = { dtype: 'float32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) };
 * ```
 */
export interface RawTensor {
  /** Element type. */
  dtype: RawDType;
  /** Dimensions, each a non-negative safe integer; `[]` is a scalar. */
  shape: number[];
  /** Row-major elements. */
  data: RawData;
}

/**
 * Options of {@link decodeSafetensors}.
 *
 * @example
 * ```ts
 * decodeSafetensors(bytes, { maxHeaderBytes: 1 << 20 }); // refuse headers over 1 MiB
 * ```
 */
export interface DecodeSafetensorsOptions {
  /**
   * Largest header length accepted, in bytes. Defaults to
   * {@link SAFETENSORS_MAX_HEADER_BYTES} (100 MB, the reference implementation's limit).
   */
  maxHeaderBytes?: number;
}

/**
 * What {@link decodeSafetensors} returns.
 *
 * @example
 * ```ts
 * const { tensors, metadata }: DecodedSafetensors = decodeSafetensors(bytes);
 * ```
 */
export interface DecodedSafetensors {
  /** The tensors, in file (data offset) order; every `data` is a fresh, aligned copy. */
  tensors: Map<string, RawTensor>;
  /** The `__metadata__` map, `{}` when the file has none. */
  metadata: Record<string, string>;
}

/**
 * Largest header length (bytes) accepted by default, as in the reference implementation.
 *
 * @example
 * ```ts
 * decodeSafetensors(bytes, { maxHeaderBytes: SAFETENSORS_MAX_HEADER_BYTES / 10 });
 * ```
 */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

interface DTypeInfo {
  st: STDType;
  raw: RawDType;
  size: number;
  /** Position in the reference implementation's enum; writing sorts by this, descending. */
  rank: number;
}

const BY_RAW: Record<RawDType, DTypeInfo> = {
  float64: { st: 'F64', raw: 'float64', size: 8, rank: 12 },
  float32: { st: 'F32', raw: 'float32', size: 4, rank: 11 },
  int32: { st: 'I32', raw: 'int32', size: 4, rank: 9 },
  uint8: { st: 'U8', raw: 'uint8', size: 1, rank: 1 },
};

const BY_ST: Record<STDType, DTypeInfo> = {
  F64: BY_RAW.float64,
  F32: BY_RAW.float32,
  I32: BY_RAW.int32,
  U8: BY_RAW.uint8,
};

/**
 * The dtypes the generic reader (`io.readSafetensors`) also accepts: what PyTorch writes for
 * models beyond F32/F64 (half-precision weights, the int64 `num_batches_tracked`). Checkpoints
 * never hold them, so {@link decodeSafetensors} keeps refusing them.
 *
 * @internal
 */
export type ExtraSTDType = 'F16' | 'BF16' | 'I64';

/** Element type of an {@link AnyRawTensor}: the checkpoint dtypes plus the generic reader's. */
export type AnyRawDType = RawDType | 'float16' | 'bfloat16' | 'int64';

/**
 * A {@link RawTensor} of any dtype the generic reader handles: 'float16' and 'bfloat16' hold
 * their raw 16-bit patterns in a Uint16Array, 'int64' a BigInt64Array.
 *
 * @internal
 */
export interface AnyRawTensor {
  /** Element type. */
  dtype: AnyRawDType;
  /** Dimensions; `[]` is a scalar. */
  shape: number[];
  /** Row-major elements (bit patterns for the 16-bit floats). */
  data: RawData | Uint16Array | BigInt64Array;
}

interface AnyDTypeInfo { st: STDType | ExtraSTDType; raw: AnyRawDType; size: number; rank: number }

const ALL_BY_RAW: Record<AnyRawDType, AnyDTypeInfo> = {
  ...BY_RAW,
  float16: { st: 'F16', raw: 'float16', size: 2, rank: 7 },
  bfloat16: { st: 'BF16', raw: 'bfloat16', size: 2, rank: 8 },
  int64: { st: 'I64', raw: 'int64', size: 8, rank: 13 },
};

const ALL_BY_ST: Record<STDType | ExtraSTDType, AnyDTypeInfo> = {
  ...BY_ST,
  F16: ALL_BY_RAW.float16,
  BF16: ALL_BY_RAW.bfloat16,
  I64: ALL_BY_RAW.int64,
};

/** The dtype tables one encode or decode works with: the checkpoint's, or all of them. */
interface DTypeTables { byRaw: Record<string, AnyDTypeInfo>; bySt: Record<string, AnyDTypeInfo> }
const CHECKPOINT_TABLES: DTypeTables = { byRaw: BY_RAW, bySt: BY_ST };
const ALL_TABLES: DTypeTables = { byRaw: ALL_BY_RAW, bySt: ALL_BY_ST };

/** Dtypes the format defines but tapegrad cannot hold; named separately in error messages. */
const OTHER_ST_DTYPES: ReadonlySet<string> = new Set([
  'BOOL', 'I8', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2',
  'I16', 'U16', 'F16', 'BF16', 'U32', 'I64', 'U64', 'C64',
]);

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/**
 * The safetensors dtype string of a tapegrad raw dtype.
 *
 * @param dtype - 'float64', 'float32', 'int32' or 'uint8'.
 * @returns 'F64', 'F32', 'I32' or 'U8'.
 * @throws CheckpointError for any other value.
 * @example
 * ```ts
 * toSTDType('float32'); // 'F32'
 * ```
 */
export function toSTDType(dtype: RawDType): STDType {
  if (typeof dtype !== 'string' || !hasOwn(BY_RAW, dtype)) {
    throw new CheckpointError(
      `toSTDType: dtype must be 'float64', 'float32', 'int32' or 'uint8', got ${describe(dtype)}`,
    );
  }
  return BY_RAW[dtype].st;
}

/**
 * The tapegrad raw dtype of a safetensors dtype string.
 *
 * @param dtype - 'F64', 'F32', 'I32' or 'U8'.
 * @returns 'float64', 'float32', 'int32' or 'uint8'.
 * @throws CheckpointError for any other string (including dtypes safetensors defines but
 *   tapegrad does not support, such as 'F16').
 * @example
 * ```ts
 * fromSTDType('I32'); // 'int32'
 * ```
 */
export function fromSTDType(dtype: string): RawDType {
  if (typeof dtype !== 'string' || !hasOwn(BY_ST, dtype)) {
    throw new CheckpointError(`fromSTDType: ${dtypeProblem(dtype)}`);
  }
  return BY_ST[dtype as STDType].raw;
}

/**
 * Encodes tensors (and optional string metadata) as a safetensors file.
 *
 * The output is deterministic: it depends only on the set of (name, tensor) pairs and the
 * metadata, never on insertion order (see the module documentation for the exact order).
 * `__metadata__` is written only when `metadata` is given (an empty object writes `{}`), as the
 * reference implementation does for `None` versus `Some`.
 *
 * @param tensors - name → tensor, as a Map or a plain object (own enumerable keys). The name
 *   `__metadata__` is reserved; names must be well-formed Unicode.
 * @param metadata - optional free-form string → string map stored under `__metadata__`.
 * @returns the complete file as one freshly allocated Uint8Array.
 * @throws CheckpointError if a tensor is malformed (unknown dtype, typed array not matching the
 *   dtype, shape not non-negative integers, `data.length` not the product of the shape), a
 *   name is reserved or not well-formed, a metadata value is not a string, or the header would
 *   exceed {@link SAFETENSORS_MAX_HEADER_BYTES}.
 * @example
 * ```ts
 * const bytes = encodeSafetensors(
 *   { w: { dtype: 'float32', shape: [2], data: new Float32Array([1, -2]) } },
 *   { format: 'tapegrad' },
 * );
 * ```
 */
export function encodeSafetensors(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  return concatUint8Arrays(...encodeSafetensorsParts(tensors, metadata));
}

/**
 * {@link encodeSafetensors} without the final concatenation: the header (length prefix and
 * JSON) followed by each tensor's little-endian bytes, in file order. On a little-endian host
 * the tensor parts are views of the tensors' own memory (no copy), so a file of any size can
 * be written piece by piece; concatenated, the parts are exactly `encodeSafetensors`' output.
 *
 * @internal
 * @param tensors - as for {@link encodeSafetensors}.
 * @param metadata - as for {@link encodeSafetensors}.
 * @returns the parts, to write in order (views: write them before changing the tensors).
 * @throws as {@link encodeSafetensors}.
 * @example
 * ```ts
 * writeFileAtomic(path, encodeSafetensorsParts(tensors, metadata));
 * ```
 */
export function encodeSafetensorsParts(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Uint8Array[] {
  return encodeParts('encodeSafetensors', CHECKPOINT_TABLES, tensors, metadata);
}

/**
 * {@link encodeSafetensorsParts} that also writes 'int64' (BigInt64Array), 'float16' and
 * 'bfloat16' (Uint16Array bit patterns) tensors, for the generic `io` functions.
 *
 * @internal
 * @param fn - the public function's name, for error messages.
 * @param tensors - name → tensor.
 * @param metadata - as for {@link encodeSafetensors}.
 * @returns the parts, as {@link encodeSafetensorsParts}.
 * @throws as {@link encodeSafetensors}.
 * @example
 * ```ts
 * const parts = encodeSafetensorsPartsAny('io.writeSafetensors', new Map([['n', { dtype: 'int64', shape: [], data: new BigInt64Array([3n]) }]]));
 * ```
 */
export function encodeSafetensorsPartsAny(
  fn: string,
  tensors: Map<string, AnyRawTensor>,
  metadata?: Record<string, string>,
): Uint8Array[] {
  return encodeParts(fn, ALL_TABLES, tensors, metadata);
}

function encodeParts(
  fn: string,
  tables: DTypeTables,
  tensors: Map<string, AnyRawTensor> | Record<string, AnyRawTensor>,
  metadata?: Record<string, string>,
): Uint8Array[] {
  if (tensors === null || typeof tensors !== 'object') {
    throw new CheckpointError(`${fn}: tensors must be a Map or an object, got ${describe(tensors)}`);
  }
  const entries: [unknown, unknown][] =
    tensors instanceof Map ? Array.from(tensors.entries()) : Object.entries(tensors);

  interface Prepared { name: string; nameBytes: Uint8Array; info: AnyDTypeInfo; shape: number[]; bytes: Uint8Array }
  const prepared: Prepared[] = [];
  const encoder = new TextEncoder();
  for (const [name, t] of entries) {
    if (typeof name !== 'string') {
      throw new CheckpointError(`${fn}: tensor names must be strings, got ${describe(name)}`);
    }
    const where = `tensor ${quote(name)}`;
    if (name === '__metadata__') {
      throw new CheckpointError(`${fn}: tensor name '__metadata__' is reserved for the metadata map`);
    }
    if (LONE_SURROGATE.test(name)) {
      throw new CheckpointError(`${fn}: ${where}: name must be well-formed Unicode, got a lone surrogate`);
    }
    if (t === null || typeof t !== 'object') {
      throw new CheckpointError(`${fn}: ${where} must be an object {dtype, shape, data}, got ${describe(t)}`);
    }
    const { dtype, shape, data } = t as Partial<AnyRawTensor>;
    if (typeof dtype !== 'string' || !hasOwn(tables.byRaw, dtype)) {
      throw new CheckpointError(
        `${fn}: ${where}: dtype must be ${orList(Object.keys(tables.byRaw).map((k) => `'${k}'`))}, got ${describe(dtype)}`,
      );
    }
    const info = tables.byRaw[dtype];
    const numel = checkShape(fn, where, shape);
    const ctor = CTORS[info.raw];
    if (!(data instanceof ctor)) {
      throw new CheckpointError(
        `${fn}: ${where}: data must be a ${ctor.name} for dtype '${dtype}', got ${describe(data)}`,
      );
    }
    if (data.length !== numel) {
      throw new CheckpointError(
        `${fn}: ${where}: data must have ${numel} elements for shape [${(shape as number[]).join(', ')}], got ${data.length}`,
      );
    }
    prepared.push({
      name,
      nameBytes: encoder.encode(name),
      info,
      shape: (shape as number[]).map((d) => d + 0), // normalise -0
      bytes: littleEndianBytes(data, info.size),
    });
  }

  let metaJson: string | undefined;
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
      throw new CheckpointError(`${fn}: metadata must be a string → string object, got ${describe(metadata)}`);
    }
    const parts: string[] = [];
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') {
        throw new CheckpointError(`${fn}: metadata[${quote(k)}] must be a string, got ${describe(v)}`);
      }
      if (LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v)) {
        throw new CheckpointError(`${fn}: metadata[${quote(k)}] must be well-formed Unicode, got a lone surrogate`);
      }
      parts.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    }
    metaJson = `{${parts.join(',')}}`;
  }

  prepared.sort((a, b) => b.info.rank - a.info.rank || compareBytes(a.nameBytes, b.nameBytes));

  const headerParts: string[] = [];
  if (metaJson !== undefined) headerParts.push(`"__metadata__":${metaJson}`);
  let offset = 0;
  for (const p of prepared) {
    const end = offset + p.bytes.length;
    headerParts.push(
      `${JSON.stringify(p.name)}:{"dtype":"${p.info.st}","shape":[${p.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = encoder.encode(`{${headerParts.join(',')}}`);
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  if (padded > SAFETENSORS_MAX_HEADER_BYTES) {
    throw new CheckpointError(
      `${fn}: header must be at most ${SAFETENSORS_MAX_HEADER_BYTES} bytes, got ${padded}`,
    );
  }
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  const view = new DataView(header.buffer);
  view.setUint32(0, padded % 0x1_0000_0000, true);
  view.setUint32(4, Math.floor(padded / 0x1_0000_0000), true);
  header.set(json, 8);
  return [header, ...prepared.map((p) => p.bytes)];
}

/**
 * Decodes and fully validates a safetensors file.
 *
 * Everything is checked before anything is returned: the length prefix (at least 8 bytes, a
 * header length no larger than the rest of the file nor than `maxHeaderBytes`), the header
 * (valid UTF-8, valid JSON starting with `{`, an object, no duplicate keys at any level),
 * `__metadata__` (a string → string map if present), names and metadata free of unpaired
 * surrogates (`"\ud800"` escapes, which the Rust reference rejects too), and every entry (exactly the fields
 * `dtype`, `shape`, `data_offsets`; a supported dtype; a shape of non-negative safe integers;
 * two integer offsets with `0 ≤ begin ≤ end ≤ data length` and `end − begin` equal to
 * elements × item size). Sorted by offset, the tensors must tile the data region exactly:
 * starting at 0, no overlap, no gap, and no trailing bytes after the last one.
 *
 * Notes: JSON numbers are compared by value, so `2.0` or `2e0` is accepted as the integer 2
 * (the Rust reference would reject those spellings); space padding after the JSON (any JSON
 * whitespace, in fact) is accepted, but the header length need not be a multiple of 8.
 *
 * @param bytes - the whole file.
 * @param opts - see {@link DecodeSafetensorsOptions}.
 * @returns the tensors in file order (each `data` a fresh, properly aligned typed array, never a
 *   view into `bytes`) and the metadata (`{}` when absent).
 * @throws CheckpointError for any problem with the bytes, naming what was expected and what
 *   arrived: no other exception escapes, whatever the bytes. ArgumentError when opts is not an
 *   object (null, a number), ValueError for an unknown option (`{ maxHeaderByte: 1 }`).
 * @example
 * ```ts
 * const { tensors, metadata } = decodeSafetensors(readFileChecked('model.safetensors'));
 * const w = tensors.get('w'); // { dtype: 'float32', shape: [2], data: Float32Array [1, -2] }
 * ```
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  opts?: DecodeSafetensorsOptions,
): DecodedSafetensors {
  if (!(bytes instanceof Uint8Array)) {
    throw new CheckpointError(`decodeSafetensors: bytes must be a Uint8Array, got ${describe(bytes)}`);
  }
  return decodeSafetensorsFrom(
    {
      size: bytes.length,
      read: (pos, dest) => dest.set(bytes.subarray(pos, pos + dest.length)),
      view: (pos, len) => bytes.subarray(pos, pos + len),
    },
    opts,
  );
}

/**
 * Random access to the bytes of a safetensors file: a buffer in memory, or an open file read
 * piece by piece (see `readSafetensorsFile`).
 *
 * @internal
 * @example
 * ```ts
 * const src: ByteSource = { size: bytes.length, read: (pos, dest) => dest.set(bytes.subarray(pos, pos + dest.length)) };
 * ```
 */
export interface ByteSource {
  /** Total length in bytes. */
  readonly size: number;
  /** Fills `dest` with the bytes at [pos, pos + dest.length); throws CheckpointError if it cannot. */
  read(pos: number, dest: Uint8Array): void;
  /** Optionally, the bytes at [pos, pos + len) without a copy. */
  view?(pos: number, len: number): Uint8Array;
}

/**
 * {@link decodeSafetensors} over any {@link ByteSource}: the same checks in the same order, and
 * each tensor read straight into its own freshly allocated typed array, so no buffer larger
 * than the header or one tensor is ever built.
 *
 * @internal
 * @param src - the file's bytes.
 * @param opts - see {@link DecodeSafetensorsOptions}.
 * @returns as {@link decodeSafetensors}.
 * @throws CheckpointError for any problem, as {@link decodeSafetensors}.
 * @example
 * ```ts
 * const { tensors } = decodeSafetensorsFrom(src);
 * ```
 */
export function decodeSafetensorsFrom(src: ByteSource, opts?: DecodeSafetensorsOptions): DecodedSafetensors {
  const o = checkOptions('decodeSafetensors', opts, ['maxHeaderBytes']) as DecodeSafetensorsOptions;
  return decodeGuarded(src, o, CHECKPOINT_TABLES) as DecodedSafetensors;
}

/**
 * {@link decodeSafetensorsFrom} that also accepts F16, BF16 (returned as Uint16Array bit
 * patterns, dtype 'float16' / 'bfloat16') and I64 (BigInt64Array, 'int64'), with every other
 * check the same. For the generic `io.readSafetensors`; checkpoints keep the strict reader.
 *
 * @internal
 * @param src - the file's bytes.
 * @param opts - see {@link DecodeSafetensorsOptions} (already checked by the caller).
 * @returns the tensors in file order and the metadata.
 * @throws CheckpointError for any problem, as {@link decodeSafetensors}.
 * @example
 * ```ts
 * const { tensors } = decodeSafetensorsAnyFrom(src, {});
 * ```
 */
export function decodeSafetensorsAnyFrom(
  src: ByteSource,
  opts: DecodeSafetensorsOptions,
): { tensors: Map<string, AnyRawTensor>; metadata: Record<string, string> } {
  return decodeGuarded(src, opts, ALL_TABLES);
}

function decodeGuarded(
  src: ByteSource,
  o: DecodeSafetensorsOptions,
  tables: DTypeTables,
): { tensors: Map<string, AnyRawTensor>; metadata: Record<string, string> } {
  try {
    return decodeUnchecked(src, o, tables);
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    // Defensive: every failure path above throws CheckpointError; anything else is a bug.
    const err = new CheckpointError(
      `decodeSafetensors: unexpected internal error while validating: ${e instanceof Error ? e.message : String(e)}`,
    );
    err.cause = e;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

function fail(msg: string): never {
  throw new CheckpointError(`decodeSafetensors: ${msg}`);
}

interface Entry { name: string; info: AnyDTypeInfo; shape: number[]; begin: number; end: number }

function bytesAt(src: ByteSource, pos: number, len: number): Uint8Array {
  if (src.view !== undefined) return src.view(pos, len);
  const out = new Uint8Array(len);
  src.read(pos, out);
  return out;
}

function decodeUnchecked(
  src: ByteSource,
  opts: DecodeSafetensorsOptions,
  tables: DTypeTables,
): { tensors: Map<string, AnyRawTensor>; metadata: Record<string, string> } {
  const fn = 'decodeSafetensors';

  let maxHeader = SAFETENSORS_MAX_HEADER_BYTES;
  const m = opts.maxHeaderBytes;
  if (m !== undefined) {
    if (typeof m !== 'number' || !Number.isSafeInteger(m) || m < 0) {
      fail(`opts.maxHeaderBytes must be a non-negative safe integer, got ${describe(m)}`);
    }
    maxHeader = m;
  }

  if (src.size < 8) {
    fail(`file must be at least 8 bytes (the header length prefix), got ${src.size}`);
  }
  const prefix = bytesAt(src, 0, 8);
  const dv = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 0x1_0000_0000 + lo; // exact up to 2^53; beyond that only "too large" matters
  if (n > maxHeader) {
    fail(`header length must be at most ${maxHeader} bytes, got ${hi === 0 ? n : `~${n.toExponential(3)}`}`);
  }
  const rest = src.size - 8;
  if (n > rest) {
    fail(`header length ${n} exceeds the ${rest} bytes that follow the length prefix`);
  }

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytesAt(src, 8, n));
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    return fail(`header must be valid UTF-8, got invalid byte sequences`);
  }
  if (!text.startsWith('{')) {
    fail(`header must be a JSON object starting with '{', got ${describe(text.slice(0, 20))}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return fail(`header must be valid JSON, got a parse error: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    fail(`header must be a JSON object, got ${describe(parsed)}`);
  }
  const dup = findDuplicateKey(text);
  if (dup !== undefined) {
    fail(`header keys must be unique, got duplicate key ${quote(dup)}`);
  }
  const header = parsed as Record<string, unknown>;

  // __metadata__
  const metadata: Record<string, string> = {};
  if (hasOwn(header, '__metadata__')) {
    const m = header.__metadata__;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) {
      fail(`__metadata__ must be an object mapping strings to strings, got ${describe(m)}`);
    }
    for (const [k, v] of Object.entries(m as object)) {
      if (typeof v !== 'string') fail(`__metadata__[${quote(k)}] must be a string, got ${describe(v)}`);
      if (LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v as string)) {
        fail(`__metadata__[${quote(k)}] must be well-formed Unicode, got a lone surrogate`);
      }
      Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }

  // Tensor entries
  const dataLen = rest - n;
  const entries: Entry[] = [];
  for (const name of Object.keys(header)) {
    if (name === '__metadata__') continue;
    const where = `tensor ${quote(name)}`;
    if (LONE_SURROGATE.test(name)) fail(`${where}: name must be well-formed Unicode, got a lone surrogate`);
    const e = header[name];
    if (e === null || typeof e !== 'object' || Array.isArray(e)) {
      fail(`${where} must be an object {dtype, shape, data_offsets}, got ${describe(e)}`);
    }
    const rec = e as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets') {
        fail(`${where} must have only the fields dtype, shape, data_offsets, got unexpected field ${quote(k)}`);
      }
    }
    for (const k of ['dtype', 'shape', 'data_offsets']) {
      if (!hasOwn(rec, k)) fail(`${where} must have a '${k}' field, got none`);
    }
    const dtype = rec.dtype;
    if (typeof dtype !== 'string' || !hasOwn(tables.bySt, dtype)) fail(`${where}: ${dtypeProblem(dtype, tables)}`);
    const info = tables.bySt[dtype as string];
    const numel = checkShape(fn, where, rec.shape);
    const offs = rec.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2) {
      fail(`${where}: data_offsets must be an array [begin, end], got ${describe(offs)}`);
    }
    const [begin, end] = offs as unknown[];
    if (!isNonNegInt(begin) || !isNonNegInt(end)) {
      fail(`${where}: data_offsets must be two non-negative integers, got ${describe(offs)}`);
    }
    const b = (begin as number) + 0;
    const en = (end as number) + 0;
    if (b > en) fail(`${where}: data_offsets must satisfy begin <= end, got [${b}, ${en}]`);
    if (en > dataLen) {
      fail(`${where}: data_offsets must lie within the ${dataLen}-byte data region, got [${b}, ${en}]`);
    }
    const nbytes = numel * info.size;
    if (!Number.isSafeInteger(nbytes)) fail(`${where}: byte size of shape overflows, got ${numel} elements`);
    if (en - b !== nbytes) {
      fail(
        `${where}: data_offsets must span ${nbytes} bytes (${numel} × ${info.size}-byte ${info.st}), got [${b}, ${en}] (${en - b} bytes)`,
      );
    }
    entries.push({ name, info, shape: (rec.shape as number[]).map((d) => d + 0), begin: b, end: en });
  }

  // Coverage: sorted by offsets, the entries must tile [0, dataLen) exactly.
  entries.sort((a, c) => a.begin - c.begin || a.end - c.end || (a.name < c.name ? -1 : a.name > c.name ? 1 : 0));
  let pos = 0;
  let prevName: string | undefined;
  for (const e of entries) {
    if (e.begin < pos) {
      fail(
        `tensor ${quote(e.name)}: data_offsets must not overlap, got [${e.begin}, ${e.end}] overlapping ${quote(prevName ?? '')} which ends at ${pos}`,
      );
    }
    if (e.begin > pos) {
      fail(
        `tensor data must be contiguous, got a gap of ${e.begin - pos} bytes at [${pos}, ${e.begin}) before ${quote(e.name)}`,
      );
    }
    pos = e.end;
    prevName = e.name;
  }
  if (pos !== dataLen) {
    fail(
      `tensors must cover the whole data region, got ${dataLen - pos} trailing bytes after offset ${pos} (data region is ${dataLen} bytes)`,
    );
  }

  // Copy out, each tensor straight into its own typed array.
  const base = 8 + n;
  const tensors = new Map<string, AnyRawTensor>();
  for (const e of entries) {
    const out = new CTORS[e.info.raw]((e.end - e.begin) / e.info.size);
    const raw = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    src.read(base + e.begin, raw);
    if (!LITTLE_ENDIAN_HOST && e.info.size > 1) swapBytes(raw, e.info.size);
    tensors.set(e.name, { dtype: e.info.raw, shape: e.shape, data: out });
  }
  return { tensors, metadata };
}

/**
 * Returns the first duplicated object key in syntactically valid JSON text (at any nesting
 * level), or undefined. JSON.parse silently keeps the last duplicate, so this linear scan runs
 * after it. Keys are compared after unescaping, so `"a"` and `"\u0061"` collide.
 */
function findDuplicateKey(text: string): string | undefined {
  const stack: (Set<string> | null)[] = []; // a Set per open object, null per open array
  let prev = 0; // last structural character seen: { [ , : or 0
  const len = text.length;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      for (;;) {
        const d = text.charCodeAt(j);
        if (d === 0x22) break;
        if (d === 0x5c /* \ */) {
          escaped = true;
          j += 2;
        } else j += 1;
      }
      const top = stack.length > 0 ? stack[stack.length - 1] : null;
      if (top !== null && (prev === 0x7b || prev === 0x2c)) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (top.has(key)) return key;
        top.add(key);
      }
      prev = 0;
      i = j;
      continue;
    }
    switch (c) {
      case 0x7b: stack.push(new Set()); prev = c; break; // {
      case 0x5b: stack.push(null); prev = c; break; // [
      case 0x7d: case 0x5d: stack.pop(); prev = 0; break; // } ]
      case 0x2c: case 0x3a: prev = c; break; // , :
      default: break; // whitespace, numbers, literals
    }
  }
  return undefined;
}

/** Reverses the byte order of each `size`-byte element in place (little- to big-endian or back). */
function swapBytes(b: Uint8Array, size: number): void {
  for (let i = 0; i < b.length; i += size) {
    for (let lo = i, hi = i + size - 1; lo < hi; lo++, hi--) {
      const t = b[lo];
      b[lo] = b[hi];
      b[hi] = t;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

const CTORS = {
  float64: Float64Array,
  float32: Float32Array,
  int32: Int32Array,
  uint8: Uint8Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int64: BigInt64Array,
} as const;

/** Matches a lone (unpaired) surrogate; in `u` mode a valid pair is one code point. */
const LONE_SURROGATE = /\p{Cs}/u;

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Checks a shape and returns its element count (1 for `[]`). */
function checkShape(fn: string, where: string, shape: unknown): number {
  if (!Array.isArray(shape)) {
    throw new CheckpointError(`${fn}: ${where}: shape must be an array of non-negative integers, got ${describe(shape)}`);
  }
  let numel = 1;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (!isNonNegInt(d)) {
      throw new CheckpointError(
        `${fn}: ${where}: shape must be an array of non-negative integers, got ${describe(d)} at index ${i} of ${describe(shape)}`,
      );
    }
    numel *= d;
  }
  if (!Number.isSafeInteger(numel)) {
    throw new CheckpointError(`${fn}: ${where}: element count of shape ${describe(shape)} must be a safe integer, got ${numel}`);
  }
  return numel;
}

/** The bytes of a typed array in little-endian order (a view when the host is little-endian). */
function littleEndianBytes(data: AnyRawTensor['data'], size: number): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN_HOST || size === 1) return view;
  const out = view.slice();
  swapBytes(out, size);
  return out;
}

/** Byte-wise comparison, like Rust's `str` ordering. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const m = Math.min(a.length, b.length);
  for (let i = 0; i < m; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function dtypeProblem(dtype: unknown, tables: DTypeTables = CHECKPOINT_TABLES): string {
  const known = Object.keys(tables.bySt).join(', ');
  if (typeof dtype === 'string' && OTHER_ST_DTYPES.has(dtype) && !hasOwn(tables.bySt, dtype)) {
    return `dtype must be one of ${known}, got ${quote(dtype)} (a safetensors dtype tapegrad does not support)`;
  }
  return `dtype must be one of ${known}, got ${describe(dtype)}`;
}

/** 'a, b or c'. */
function orList(items: string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** A JSON-quoted, length-limited rendering of a string for messages. */
function quote(s: string): string {
  const q = JSON.stringify(s);
  return q.length > 80 ? `${q.slice(0, 77)}..."` : q;
}

/** A short description of any value for messages. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'string') return quote(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'function') return 'a function';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}(${v.byteLength} bytes)`;
  if (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
    let s: string;
    try {
      s = JSON.stringify(v) ?? String(v);
    } catch {
      s = Array.isArray(v) ? `an array of length ${v.length}` : 'an object';
    }
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  }
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' ? `a ${name}` : typeof v;
}
