import { bytesToHexString, compareUint8Arrays, hexStringToBytes } from 'typed-array-utils';
import { ArgumentError, CheckpointError, ValueError } from '../../src/errors';
import {
  decodeSafetensors,
  encodeSafetensors,
  fromSTDType,
  type RawTensor,
  SAFETENSORS_MAX_HEADER_BYTES,
  toSTDType,
} from '../../src/io/safetensors';
import { craft, f64le, lengthPrefix, splitFile } from './craft';
import { sharesMemory } from '../helpers/arrays';

const bytesOf = (...xs: number[]): Uint8Array => new Uint8Array(xs);

function expectCheckpointError(f: () => unknown, pattern: RegExp): void {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(CheckpointError);
  expect((thrown as Error).message).toMatch(/^decodeSafetensors: /);
  expect((thrown as Error).message).toMatch(pattern);
}

describe('encodeSafetensors / decodeSafetensors round trip', () => {
  const tensors: Record<string, RawTensor> = {
    'f64.a': { dtype: 'float64', shape: [2, 3], data: new Float64Array([1, -2.5, Math.PI, -0, Infinity, 1e-300]) },
    'f64.nan': { dtype: 'float64', shape: [1], data: new Float64Array([NaN]) },
    'f32.a': { dtype: 'float32', shape: [3], data: new Float32Array([0.1, -3, 65504]) },
    'f32.b': { dtype: 'float32', shape: [2, 1, 2], data: new Float32Array([1, 2, 3, 4]) },
    'i32.a': { dtype: 'int32', shape: [4], data: new Int32Array([0, -1, 2 ** 31 - 1, -(2 ** 31)]) },
    'i32.b': { dtype: 'int32', shape: [1, 1], data: new Int32Array([42]) },
    'u8.a': { dtype: 'uint8', shape: [5], data: new Uint8Array([0, 1, 127, 128, 255]) },
    'u8.b': { dtype: 'uint8', shape: [3], data: new Uint8Array([9, 8, 7]) },
    empty: { dtype: 'float64', shape: [0], data: new Float64Array(0) },
    'empty.2d': { dtype: 'int32', shape: [3, 0], data: new Int32Array(0) },
    scalar: { dtype: 'float32', shape: [], data: new Float32Array([7.25]) },
    'ünïcode ✓ 𝔁': { dtype: 'uint8', shape: [1], data: new Uint8Array([1]) },
  };

  test('every dtype, empty tensors, scalars, metadata and unicode names survive exactly', () => {
    const metadata = { format: 'tapegrad', epoch: '3', 'quote"and\\slash': 'line\nbreak', __proto__x: 'y' };
    const bytes = encodeSafetensors(tensors, metadata);
    const out = decodeSafetensors(bytes);
    expect(out.metadata).toEqual(metadata);
    expect(new Set(out.tensors.keys())).toEqual(new Set(Object.keys(tensors)));
    for (const [name, t] of Object.entries(tensors)) {
      const got = out.tensors.get(name)!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(got.data.constructor).toBe(t.data.constructor);
      // bit-exact, NaN and -0 included
      expect(compareUint8Arrays(new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength),
        new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))).toBe(true);
    }
  });

  test('a Map and a Record with the same contents encode identically, whatever the insertion order', () => {
    const names = Object.keys(tensors);
    const a = encodeSafetensors(new Map(names.map((k) => [k, tensors[k]])));
    const b = encodeSafetensors(Object.fromEntries([...names].reverse().map((k) => [k, tensors[k]])));
    expect(compareUint8Arrays(a, b)).toBe(true);
  });

  test('returned arrays are aligned copies, not views into the input buffer', () => {
    const bytes = encodeSafetensors({ x: { dtype: 'float64', shape: [2], data: new Float64Array([1, 2]) } });
    // place the file at an odd offset so that a view could not even be a Float64Array
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const x = decodeSafetensors(shifted.subarray(1)).tensors.get('x')!;
    expect(sharesMemory(x.data, shifted)).toBe(false);
    expect(x.data.byteOffset).toBe(0);
    expect(Array.from(x.data)).toEqual([1, 2]);
  });

  test('subarray inputs (non-zero byteOffset) encode only their own elements', () => {
    const big = new Float32Array([9, 1, 2, 9]);
    const bytes = encodeSafetensors({ v: { dtype: 'float32', shape: [2], data: big.subarray(1, 3) } });
    expect(Array.from(decodeSafetensors(bytes).tensors.get('v')!.data)).toEqual([1, 2]);
  });

  test('decoded tensors come out in file (offset) order and metadata defaults to {}', () => {
    const out = decodeSafetensors(encodeSafetensors(tensors));
    expect(out.metadata).toEqual({});
    expect([...out.tensors.keys()].slice(0, 3)).toEqual(['empty', 'f64.a', 'f64.nan']);
  });

  test('no tensors at all', () => {
    const out = decodeSafetensors(encodeSafetensors({}));
    expect(out.tensors.size).toBe(0);
  });

  test('a metadata key "__proto__" becomes an own property, not a prototype', () => {
    const meta = JSON.parse('{"__proto__":"evil","k":"v"}') as Record<string, string>;
    const out = decodeSafetensors(encodeSafetensors({}, meta));
    expect(Object.getPrototypeOf(out.metadata)).toBe(Object.prototype);
    expect(Object.keys(out.metadata)).toEqual(['__proto__', 'k']);
  });
});

describe('byte-exact output', () => {
  // These four vectors are the expected outputs in the reference implementation's own tests
  // (huggingface/safetensors, safetensors/src/tensor.rs).
  const f32 = (...xs: number[]): Float32Array => new Float32Array(xs);

  test('reference vector: one F32 tensor "attn.0" [1, 2, 3], header exactly 64 bytes', () => {
    const out = encodeSafetensors({ 'attn.0': { dtype: 'float32', shape: [1, 2, 3], data: f32(0, 1, 2, 3, 4, 5) } });
    expect(Array.from(out)).toEqual([
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
      116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
      58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
      101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
      0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
  });

  test('reference vector: forced alignment pads the header with 7 spaces', () => {
    const out = encodeSafetensors({ attn0: { dtype: 'float32', shape: [1, 1, 2, 3], data: f32(0, 1, 2, 3, 4, 5) } });
    expect(Array.from(out)).toEqual([
      72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
      121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
      91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
      115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
      32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
      160, 64,
    ]);
  });

  test('reference vectors: empty file, without and with metadata', () => {
    expect(Array.from(encodeSafetensors({}))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect(Array.from(encodeSafetensors({}, { framework: 'pt' }))).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
      95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
      116, 34, 125, 125, 32, 32, 32, 32, 32,
    ]);
  });

  test('hand-written file: dtype-then-name ordering, scalar, empty tensor, metadata', () => {
    // Written independently in Python (struct.pack('<Q', n) + header + numpy '<f8'/'<f4'/'<i4'
    // bytes); order is F64, F32, I32 (c before i), U8 — descending alignment, then name.
    const expectedHeader =
      '{"__metadata__":{"format":"pt"},' +
      '"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]},' +
      '"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},' +
      '"c":{"dtype":"I32","shape":[0],"data_offsets":[16,16]},' +
      '"i":{"dtype":"I32","shape":[1],"data_offsets":[16,20]},' +
      '"b":{"dtype":"U8","shape":[3],"data_offsets":[20,23]}}';
    expect(expectedHeader.length).toBe(302); // + 2 spaces of padding = 304 = 0x130
    const expectedHex =
      '3001000000000000' +
      bytesToHexString(new TextEncoder().encode(expectedHeader)) + '2020' +
      '000000000000f83f' + // 1.5 as <f8
      '0000803f000000c0' + // 1, -2 as <f4
      'f9ffffff' + // -7 as <i4
      '010203';
    const out = encodeSafetensors(
      {
        b: { dtype: 'uint8', shape: [3], data: new Uint8Array([1, 2, 3]) },
        i: { dtype: 'int32', shape: [1], data: new Int32Array([-7]) },
        c: { dtype: 'int32', shape: [0], data: new Int32Array(0) },
        w: { dtype: 'float32', shape: [2], data: new Float32Array([1, -2]) },
        a: { dtype: 'float64', shape: [], data: new Float64Array([1.5]) },
      },
      { format: 'pt' },
    );
    expect(bytesToHexString(out)).toBe(expectedHex);
    expect(compareUint8Arrays(out, hexStringToBytes(expectedHex))).toBe(true);
    expect(out.length).toBe(335);
  });

  test('names sort by UTF-8 bytes (like Rust), not UTF-16 code units', () => {
    // U+FF5E (EF BD 9E) < U+1F600 (F0 9F 98 80) in UTF-8, but '\u{1F600}' < '\uFF5E' in UTF-16.
    const t = (): RawTensor => ({ dtype: 'uint8', shape: [1], data: new Uint8Array([1]) });
    const header = splitFile(encodeSafetensors({ '\u{1F600}': t(), '\uFF5E': t() })).header;
    expect(header.indexOf('\uFF5E')).toBeLessThan(header.indexOf('\u{1F600}'));
  });
});

describe('encodeSafetensors rejects malformed input with CheckpointError', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['unknown dtype', () => encodeSafetensors({ x: { dtype: 'float16' as 'float32', shape: [1], data: new Float32Array(1) } }), /dtype/],
    ['wrong typed array', () => encodeSafetensors({ x: { dtype: 'float64', shape: [1], data: new Float32Array(1) } }), /Float64Array/],
    ['length mismatch', () => encodeSafetensors({ x: { dtype: 'float64', shape: [2, 2], data: new Float64Array(3) } }), /4 elements.*got 3/],
    ['negative dim', () => encodeSafetensors({ x: { dtype: 'uint8', shape: [-1], data: new Uint8Array(0) } }), /non-negative integers/],
    ['fractional dim', () => encodeSafetensors({ x: { dtype: 'uint8', shape: [1.5], data: new Uint8Array(0) } }), /non-negative integers/],
    ['reserved name', () => encodeSafetensors({ __metadata__: { dtype: 'uint8', shape: [], data: new Uint8Array(1) } }), /reserved/],
    ['lone surrogate', () => encodeSafetensors({ '\ud800': { dtype: 'uint8', shape: [], data: new Uint8Array(1) } }), /well-formed/],
    ['non-string metadata', () => encodeSafetensors({}, { k: 1 as unknown as string }), /metadata\["k"\] must be a string/],
  ];
  test.each(cases)('%s', (_name, f, pattern) => {
    expect(f).toThrow(CheckpointError);
    expect(f).toThrow(/^encodeSafetensors: /);
    expect(f).toThrow(pattern);
  });
});

describe('dtype helpers', () => {
  test('map both ways and reject the rest', () => {
    expect(toSTDType('float64')).toBe('F64');
    expect(toSTDType('uint8')).toBe('U8');
    expect(fromSTDType('I32')).toBe('int32');
    expect(fromSTDType('F32')).toBe('float32');
    expect(() => fromSTDType('F16')).toThrow(/does not support/);
    expect(() => fromSTDType('toString')).toThrow(CheckpointError);
    expect(() => toSTDType('int64' as 'int32')).toThrow(CheckpointError);
  });
});

describe('decodeSafetensors rejects crafted bad files with CheckpointError', () => {
  const entry = (dtype: string, shape: unknown, offsets: unknown): object => ({ dtype, shape, data_offsets: offsets });
  const one = f64le(1.5); // 8 bytes of data

  test('sanity: the crafted baseline is valid', () => {
    const out = decodeSafetensors(craft({ x: entry('F64', [1], [0, 8]) }, one));
    expect(Array.from(out.tensors.get('x')!.data)).toEqual([1.5]);
  });

  test('file shorter than 8 bytes', () => {
    expectCheckpointError(() => decodeSafetensors(new Uint8Array(0)), /at least 8 bytes.*got 0/);
    expectCheckpointError(() => decodeSafetensors(bytesOf(2, 0, 0, 0, 0, 0, 0)), /at least 8 bytes.*got 7/);
  });

  test('not a Uint8Array', () => {
    expectCheckpointError(() => decodeSafetensors(new ArrayBuffer(16) as unknown as Uint8Array), /must be a Uint8Array.*ArrayBuffer/);
    expectCheckpointError(() => decodeSafetensors(null as unknown as Uint8Array), /must be a Uint8Array.*null/);
  });

  test('header length larger than the rest of the file', () => {
    const text = JSON.stringify({ x: entry('F64', [1], [0, 8]) });
    expectCheckpointError(() => decodeSafetensors(craft(text, one, text.length + 9)), /exceeds the \d+ bytes/);
  });

  test('absurd header length (> 100 MB, and > 2^53)', () => {
    expectCheckpointError(() => decodeSafetensors(craft('{}', new Uint8Array(0), SAFETENSORS_MAX_HEADER_BYTES + 1)), /at most 100000000 bytes, got 100000001/);
    expectCheckpointError(() => decodeSafetensors(craft('{}', new Uint8Array(0), 0xffff_ffff_ffff_ffffn)), /at most 100000000 bytes/);
    expectCheckpointError(() => decodeSafetensors(craft('{}'), { maxHeaderBytes: 1 }), /at most 1 bytes, got 2/);
  });

  test('header not valid UTF-8', () => {
    const bytes = craft('{"\u00ff":{}}'); // then corrupt the 2-byte sequence
    bytes[10] = 0xff;
    expectCheckpointError(() => decodeSafetensors(bytes), /valid UTF-8/);
  });

  test('invalid JSON', () => {
    expectCheckpointError(() => decodeSafetensors(craft('{"x": {"dtype": "F64",')), /valid JSON/);
    expectCheckpointError(() => decodeSafetensors(craft('{}\u0000')), /valid JSON/);
  });

  test('header not an object', () => {
    expectCheckpointError(() => decodeSafetensors(craft('[1, 2]')), /starting with '\{'.*"\[1, 2\]"/);
    expectCheckpointError(() => decodeSafetensors(craft('null    ')), /starting with '\{'/);
    expectCheckpointError(() => decodeSafetensors(craft('  {}')), /starting with '\{'/);
    expectCheckpointError(() => decodeSafetensors(craft('')), /starting with '\{'/);
  });

  test('tensor entry not an object, or with missing / extra fields', () => {
    expectCheckpointError(() => decodeSafetensors(craft({ x: [1] })), /tensor "x" must be an object.*\[1\]/);
    expectCheckpointError(() => decodeSafetensors(craft({ x: { dtype: 'F64', shape: [0] } })), /must have a 'data_offsets' field/);
    expectCheckpointError(() => decodeSafetensors(craft({ x: { ...entry('F64', [0], [0, 0]), offsets: [0, 0] } })), /unexpected field "offsets"/);
  });

  test('unknown dtype', () => {
    expectCheckpointError(() => decodeSafetensors(craft({ x: entry('float64', [1], [0, 8]) }, one)), /dtype must be one of F64, F32, I32, U8, got "float64"/);
    expectCheckpointError(() => decodeSafetensors(craft({ x: entry('F16', [4], [0, 8]) }, one)), /"F16" \(a safetensors dtype tapegrad does not support\)/);
    expectCheckpointError(() => decodeSafetensors(craft({ x: { dtype: 64, shape: [1], data_offsets: [0, 8] } }, one)), /got 64/);
  });

  test('negative or non-integer shape', () => {
    expectCheckpointError(() => decodeSafetensors(craft({ x: entry('F64', [-1], [0, 8]) }, one)), /shape must be an array of non-negative integers, got -1 at index 0/);
    expectCheckpointError(() => decodeSafetensors(craft({ x: entry('F64', [1.5], [0, 8]) }, one)), /got 1.5 at index 0/);
    expectCheckpointError(() => decodeSafetensors(craft({ x: entry('F64', ['1'], [0, 8]) }, one)), /got "1" at index 0/);
    expectCheckpointError(() => decodeSafetensors(craft({ x: entry('F64', 1, [0, 8]) }, one)), /shape must be an array.*got 1$/);
    expectCheckpointError(() => decodeSafetensors(craft('{"x":{"dtype":"F64","shape":[1e300],"data_offsets":[0,8]}}', one)), /got 1e\+300 at index 0/);
    expectCheckpointError(() => decodeSafetensors(craft({ x: entry('F64', [2 ** 30, 2 ** 30], [0, 8]) }, one)), /element count.*safe integer/);
  });

  test('offsets malformed or out of range', () => {
    expectCheckpointError(() => decodeSafetensors(craft({ x: entry('F64', [1], [0]) }, one)), /data_offsets must be an array \[begin, end\], got \[0\]/);
    expectCheckpointError(() => decodeSafetensors(craft({ x: entry('F64', [1], [-8, 0]) }, one)), /two non-negative integers/);
    expectCheckpointError(() => decodeSafetensors(craft({ x: entry('F64', [1], [8, 0]) }, one)), /begin <= end, got \[8, 0\]/);
    expectCheckpointError(() => decodeSafetensors(craft({ x: entry('F64', [1], [8, 16]) }, one)), /within the 8-byte data region, got \[8, 16\]/);
    expectCheckpointError(() => decodeSafetensors(craft({ x: entry('F64', [1], [0, 2 ** 60]) }, one)), /two non-negative integers/);
  });

  test('overlapping offsets', () => {
    const data = f64le(1, 2, 3);
    const h = { x: entry('F64', [2], [0, 16]), y: entry('F64', [2], [8, 24]) };
    expectCheckpointError(() => decodeSafetensors(craft(h, data)), /tensor "y": data_offsets must not overlap, got \[8, 24\] overlapping "x" which ends at 16/);
    // an empty tensor placed inside another one also overlaps
    const h2 = { x: entry('F64', [2], [0, 16]), e: entry('F64', [0], [8, 8]) };
    expectCheckpointError(() => decodeSafetensors(craft(h2, f64le(1, 2))), /tensor "e": data_offsets must not overlap/);
    // the very same range twice
    const h3 = { x: entry('F64', [1], [0, 8]), y: entry('F64', [1], [0, 8]) };
    expectCheckpointError(() => decodeSafetensors(craft(h3, one)), /must not overlap/);
  });

  test('gap between tensors, and at the start', () => {
    const h = { x: entry('F64', [1], [0, 8]), y: entry('F64', [1], [16, 24]) };
    expectCheckpointError(() => decodeSafetensors(craft(h, f64le(1, 2, 3))), /gap of 8 bytes at \[8, 16\) before "y"/);
    expectCheckpointError(() => decodeSafetensors(craft({ y: entry('F64', [1], [8, 16]) }, f64le(1, 2))), /gap of 8 bytes at \[0, 8\)/);
  });

  test('size mismatch with shape', () => {
    expectCheckpointError(() => decodeSafetensors(craft({ x: entry('F64', [2], [0, 8]) }, one)), /must span 16 bytes \(2 × 8-byte F64\), got \[0, 8\] \(8 bytes\)/);
    expectCheckpointError(() => decodeSafetensors(craft({ x: entry('F32', [], [0, 8]) }, one)), /must span 4 bytes/);
  });

  test('trailing bytes', () => {
    expectCheckpointError(() => decodeSafetensors(craft({ x: entry('F64', [1], [0, 8]) }, f64le(1, 2))), /8 trailing bytes after offset 8/);
    expectCheckpointError(() => decodeSafetensors(craft({}, bytesOf(0))), /1 trailing bytes after offset 0/);
  });

  test('bad __metadata__', () => {
    expectCheckpointError(() => decodeSafetensors(craft({ __metadata__: ['a'] })), /__metadata__ must be an object mapping strings to strings, got \["a"\]/);
    expectCheckpointError(() => decodeSafetensors(craft({ __metadata__: null })), /got null/);
    expectCheckpointError(() => decodeSafetensors(craft({ __metadata__: 'x' })), /got "x"/);
    expectCheckpointError(() => decodeSafetensors(craft({ __metadata__: { epoch: 3 } })), /__metadata__\["epoch"\] must be a string, got 3/);
    expectCheckpointError(() => decodeSafetensors(craft({ __metadata__: { nested: { a: 'b' } } })), /must be a string, got \{"a":"b"\}/);
    expectCheckpointError(() => decodeSafetensors(craft('{"__metadata__":{"k":"\\udc00"}}')), /__metadata__\["k"\] must be well-formed Unicode/);
  });

  test('duplicate keys, at top level, after unescaping, and inside entries and metadata', () => {
    const e = '{"dtype":"F64","shape":[1],"data_offsets":[0,8]}';
    expectCheckpointError(() => decodeSafetensors(craft(`{"x":${e},"x":${e}}`, one)), /duplicate key "x"/);
    expectCheckpointError(() => decodeSafetensors(craft(`{"x":${e},"\\u0078":${e}}`, one)), /duplicate key "x"/);
    expectCheckpointError(() => decodeSafetensors(craft('{"x":{"dtype":"F64","dtype":"F64","shape":[1],"data_offsets":[0,8]}}', one)), /duplicate key "dtype"/);
    expectCheckpointError(() => decodeSafetensors(craft('{"__metadata__":{"a":"1","a":"2"}}')), /duplicate key "a"/);
    // equal strings in different objects, or as values, are fine
    const ok = craft(`{"__metadata__":{"x":"x"},"x":${e}}`, one);
    expect(decodeSafetensors(ok).metadata).toEqual({ x: 'x' });
  });

  test('lone surrogate in a tensor name', () => {
    expectCheckpointError(() => decodeSafetensors(craft('{"\\ud800":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}')), /well-formed Unicode/);
  });

  test('bad options', () => {
    expectCheckpointError(() => decodeSafetensors(craft('{}'), { maxHeaderBytes: -1 }), /maxHeaderBytes/);
    // The options object itself is checked like every other one in tapegrad.
    expect(() => decodeSafetensors(craft('{}'), null as never)).toThrow(ArgumentError);
    expect(() => decodeSafetensors(craft('{}'), null as never)).toThrow(/^decodeSafetensors: opts must be an object of options or undefined, got null/);
    expect(() => decodeSafetensors(craft('{}'), { maxHeaderByte: 1 } as never)).toThrow(ValueError);
    expect(() => decodeSafetensors(craft('{}'), { maxHeaderByte: 1 } as never)).toThrow(/^decodeSafetensors: maxHeaderByte is not an option of decodeSafetensors \(expected one of maxHeaderBytes\)/);
  });

  test('accepted leniencies: trailing JSON whitespace, unpadded header, 2.0 spelled as a number', () => {
    expect(decodeSafetensors(craft('{}\t\n\r ')).tensors.size).toBe(0);
    expect(decodeSafetensors(craft('{}')).tensors.size).toBe(0); // 2-byte header, no padding
    const out = decodeSafetensors(craft('{"x":{"dtype":"F64","shape":[1.0],"data_offsets":[0,8e0]}}', one));
    expect(out.tensors.get('x')!.shape).toEqual([1]);
  });

  test('length prefix is read as little-endian u64', () => {
    const bytes = encodeSafetensors({});
    expect(Array.from(bytes.subarray(0, 8))).toEqual(Array.from(lengthPrefix(8)));
  });
});
