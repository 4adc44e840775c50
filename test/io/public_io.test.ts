/**
 * The public `io` namespace: safetensors for Tensors in every dtype PyTorch writes for the
 * layers here (F32, F64, F16/BF16 on request, I64), with the checkpoint reader's validation.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArgumentError, CheckpointError, DTypeError, io, Tensor, ValueError } from '../../src';
import { StateDict } from '../../src/nn/module';
import { craft, splitFile } from './craft';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tapegrad-io-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const u16le = (...xs: number[]): Uint8Array => {
  const out = new Uint8Array(xs.length * 2);
  xs.forEach((x, i) => new DataView(out.buffer).setUint16(i * 2, x, true));
  return out;
};
const i64le = (...xs: bigint[]): Uint8Array => {
  const out = new Uint8Array(xs.length * 8);
  xs.forEach((x, i) => new DataView(out.buffer).setBigInt64(i * 8, x, true));
  return out;
};
const entry = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });

describe('round trips', () => {
  it('keeps F64 and F32 values, shapes, dtypes and metadata bit for bit, in a file and in bytes', () => {
    const a = new Tensor(new Float64Array([1.5, -0, Number.MIN_VALUE, Number.MAX_VALUE, NaN, -Infinity]), [2, 3]);
    const b = new Tensor(new Float32Array([0.1, -2, 3e38, 1e-45]), [4]);
    const s = new Tensor(new Float64Array([42]), []);
    const input = new Map([['a', a], ['b.w', b], ['s', s]]);
    const path = join(dir, 'rt.safetensors');
    io.writeSafetensors(path, input, { format: 'pt' });
    for (const got of [io.readSafetensors(path), io.readSafetensors(readFileSync(path)), io.decodeSafetensors(io.encodeSafetensors(input, { format: 'pt' }))]) {
      expect(got.metadata).toEqual({ format: 'pt' });
      expect([...got.tensors.keys()].sort()).toEqual(['a', 'b.w', 's']);
      for (const [k, t] of input) {
        const r = got.tensors.get(k)!;
        expect(r).toBeInstanceOf(Tensor);
        expect(r.dtype).toBe(t.dtype);
        expect(r.shape).toEqual(t.shape);
        expect(Object.is(r.data, t.data)).toBe(false);
        expect(new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength)).toEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      }
      expect(got.tensors.int64Keys.size).toBe(0);
    }
    expect(new Uint8Array(readFileSync(path))).toEqual(io.encodeSafetensors(input, { format: 'pt' }));
  });

  it('writes a StateDict’s int64Keys as I64 and reads them back as exact float64, listed again', () => {
    const sd = new StateDict([['n', new Tensor(new Float64Array([2 ** 53]), [])], ['m', new Tensor(new Float64Array([-3, 0, 7]), [3])]], ['n', 'm']);
    const bytes = io.encodeSafetensors(sd);
    const { header } = splitFile(bytes);
    expect(JSON.parse(header)).toEqual({ m: entry('I64', [3], 0, 24), n: entry('I64', [], 24, 32) });
    const back = io.decodeSafetensors(bytes);
    expect([...back.tensors.int64Keys].sort()).toEqual(['m', 'n']);
    expect(Array.from(back.tensors.get('m')!.data)).toEqual([-3, 0, 7]);
    expect(back.tensors.get('n')!.data[0]).toBe(2 ** 53);
    expect(back.tensors.get('n')!.dtype).toBe('float64');
    expect(io.encodeSafetensors(back.tensors)).toEqual(bytes);
  });

  it('refuses a non-integer value under int64Keys, and writes no file', () => {
    const sd = new StateDict([['n', new Tensor(new Float64Array([1.5]), [])]], ['n']);
    const path = join(dir, 'never.safetensors');
    expect(() => io.writeSafetensors(path, sd)).toThrow(ValueError);
    expect(() => io.writeSafetensors(path, sd)).toThrow(/io\.writeSafetensors: tensor "n" is listed in int64Keys.*got 1\.5 at index 0/);
    expect(existsSync(path)).toBe(false);
  });
});

describe('F16, BF16 and I64 from other writers', () => {
  // Every value here is exactly representable in both half formats' float32 conversions.
  const f16 = { 0x3c00: 1, 0xc000: -2, 0x3800: 0.5, 0x7bff: 65504, 0x0001: 2 ** -24, 0x03ff: 1023 * 2 ** -24, 0x7c00: Infinity, 0xfc00: -Infinity, 0x8000: -0, 0x3555: 0.333251953125 };
  const bf16 = { 0x3f80: 1, 0xc000: -2, 0x3f00: 0.5, 0x7f7f: 3.3895313892515355e38, 0x0001: 9.183549615799121e-41, 0x7f80: Infinity, 0x8000: -0, 0x3eab: 0.333984375 };
  const file = (dtype: string, bits: number[]) => craft({ h: entry(dtype, [bits.length], 0, bits.length * 2) }, u16le(...bits));

  it.each([['F16', f16], ['BF16', bf16]] as const)('%s converts exactly to float32 and float64 on request', (dtype, table) => {
    const bits = Object.keys(table).map(Number);
    const want = Object.values(table) as number[];
    for (const convert of ['float32', 'float64'] as const) {
      const t = io.decodeSafetensors(file(dtype, bits), { convert }).tensors.get('h')!;
      expect(t.dtype).toBe(convert);
      want.forEach((v, i) => expect(Object.is(t.data[i], v)).toBe(true));
    }
    const nan = io.decodeSafetensors(file(dtype, [dtype === 'F16' ? 0x7e00 : 0x7fc0]), { convert: 'float32' }).tensors.get('h')!;
    expect(Number.isNaN(nan.data[0])).toBe(true);
  });

  it.each(['F16', 'BF16'])('%s without convert is a DTypeError naming the tensor and the dtype', (dtype) => {
    expect(() => io.decodeSafetensors(file(dtype, [0x3c00]))).toThrow(DTypeError);
    expect(() => io.decodeSafetensors(file(dtype, [0x3c00]))).toThrow(new RegExp(`io\\.decodeSafetensors: tensor "h" is ${dtype}, which Tensors cannot hold; pass \\{ convert: 'float32' \\}`));
  });

  it('convert also changes F32 and F64 tensors to the dtype asked for', () => {
    const bytes = io.encodeSafetensors({ a: new Tensor(new Float32Array([0.1]), [1]), b: new Tensor(new Float64Array([0.1]), [1]) });
    const as64 = io.decodeSafetensors(bytes, { convert: 'float64' }).tensors;
    expect(as64.get('a')!.dtype).toBe('float64');
    expect(as64.get('a')!.data[0]).toBe(Math.fround(0.1));
    const as32 = io.decodeSafetensors(bytes, { convert: 'float32' }).tensors;
    expect(as32.get('b')!.dtype).toBe('float32');
    expect(as32.get('b')!.data[0]).toBe(Math.fround(0.1));
  });

  it('reads I64 within ±2^53 exactly and refuses larger values naming tensor, value and index', () => {
    const ok = craft({ n: entry('I64', [2], 0, 16) }, i64le(5n, -(2n ** 53n)));
    const t = io.decodeSafetensors(ok).tensors;
    expect(Array.from(t.get('n')!.data)).toEqual([5, -(2 ** 53)]);
    expect([...t.int64Keys]).toEqual(['n']);
    const big = craft({ n: entry('I64', [2], 0, 16) }, i64le(1n, 2n ** 53n + 1n));
    expect(() => io.decodeSafetensors(big)).toThrow(DTypeError);
    expect(() => io.decodeSafetensors(big)).toThrow(/tensor "n" is I64 with value 9007199254740993 at index 1, beyond 2\^53/);
  });

  it('still refuses the dtypes Tensors cannot hold in any way', () => {
    expect(() => io.decodeSafetensors(craft({ b: entry('BOOL', [1], 0, 1) }, new Uint8Array(1)))).toThrow(/io\.decodeSafetensors: tensor "b": dtype must be one of F64, F32, I32, U8, F16, BF16, I64, got "BOOL"/);
    expect(() => io.decodeSafetensors(craft({ b: entry('I32', [1], 0, 4) }, new Uint8Array(4)))).toThrow(/tensor "b" is I32, which Tensors cannot hold/);
  });

  it('checks I64 and 16-bit entries’ byte lengths like any other', () => {
    expect(() => io.decodeSafetensors(craft({ n: entry('I64', [2], 0, 12) }, new Uint8Array(12)))).toThrow(/data_offsets must span 16 bytes \(2 × 8-byte I64\)/);
    expect(() => io.decodeSafetensors(craft({ h: entry('BF16', [3], 0, 4) }, new Uint8Array(4)))).toThrow(/data_offsets must span 6 bytes \(3 × 2-byte BF16\)/);
  });
});

describe('validation, as the checkpoint reader', () => {
  const good = io.encodeSafetensors({ w: new Tensor(new Float64Array([1, 2]), [2]) });
  const { header, data } = splitFile(good);
  const cases: [string, Uint8Array, RegExp][] = [
    ['a truncated length prefix', good.subarray(0, 5), /file must be at least 8 bytes/],
    ['a header longer than the file', craft(header, data, 1e6), /header length 1000000 exceeds/],
    ['a header that is not JSON', craft('{"w": {', data), /header must be valid JSON/],
    ['a duplicate key', craft(`{"w":${JSON.stringify(entry('F64', [2], 0, 16))},"w":${JSON.stringify(entry('F64', [2], 0, 16))}}`, data), /duplicate key "w"/],
    ['a wrong shape for the bytes', craft({ w: entry('F64', [3], 0, 16) }, data), /data_offsets must span 24 bytes/],
    ['overlapping tensors', craft({ a: entry('F64', [2], 0, 16), b: entry('F64', [1], 8, 16) }, data), /must not overlap/],
    ['trailing bytes', craft({ w: entry('F64', [1], 0, 8) }, data), /8 trailing bytes/],
    ['an unexpected field', craft({ w: { ...entry('F64', [2], 0, 16), x: 1 } }, data), /unexpected field "x"/],
  ];
  it.each(cases)('rejects %s with a CheckpointError naming the function', (_, bytes, re) => {
    expect(() => io.decodeSafetensors(bytes)).toThrow(CheckpointError);
    expect(() => io.decodeSafetensors(bytes)).toThrow(new RegExp(`^io\\.decodeSafetensors: .*${re.source}`));
    expect(() => io.readSafetensors(bytes)).toThrow(new RegExp(`^io\\.readSafetensors: .*${re.source}`));
    const path = join(dir, 'bad.safetensors');
    writeFileSync(path, bytes);
    expect(() => io.readSafetensors(path)).toThrow(new RegExp(`^io\\.readSafetensors: .*${re.source}`));
  });

  it('honours maxHeaderBytes', () => {
    expect(() => io.decodeSafetensors(good, { maxHeaderBytes: 8 })).toThrow(/header length must be at most 8 bytes/);
  });

  it('names a missing file and its path', () => {
    const path = join(dir, 'missing.safetensors');
    expect(() => io.readSafetensors(path)).toThrow(CheckpointError);
    expect(() => io.readSafetensors(path)).toThrow(/^io\.readSafetensors: could not read '.*missing\.safetensors'/);
  });

  it('checks arguments and options', () => {
    expect(() => io.readSafetensors(3 as unknown as string)).toThrow(ArgumentError);
    expect(() => io.readSafetensors(good, { convert: 'float16' as 'float32' })).toThrow(/opts\.convert must be 'float32' or 'float64', got "float16"/);
    expect(() => io.readSafetensors(good, { converts: 'float32' } as object)).toThrow(ValueError);
    expect(() => io.decodeSafetensors(null as unknown as Uint8Array)).toThrow(ArgumentError);
    expect(() => io.encodeSafetensors({ w: new Float64Array(2) as unknown as Tensor })).toThrow(/io\.encodeSafetensors: tensors\["w"\] must be a Tensor/);
    expect(() => io.encodeSafetensors(null as unknown as Map<string, Tensor>)).toThrow(ArgumentError);
    expect(() => io.encodeSafetensors({ __metadata__: new Tensor(new Float64Array(1)) })).toThrow(/^io\.encodeSafetensors: tensor name '__metadata__' is reserved/);
    expect(() => io.writeSafetensors('', {})).toThrow(ArgumentError);
  });

  it('writes atomically: a failed write leaves the old file whole', () => {
    const path = join(dir, 'keep.safetensors');
    io.writeSafetensors(path, { w: new Tensor(new Float64Array([1, 2]), [2]) });
    const before = readFileSync(path);
    expect(() => io.writeSafetensors(path, { w: new Tensor(new Float64Array([3])), bad: 1 as unknown as Tensor })).toThrow(ArgumentError);
    expect(() => io.writeSafetensors(join(dir, 'no-such-dir', 'x.safetensors'), { w: new Tensor(new Float64Array([3])) })).toThrow(/^io\.writeSafetensors: /);
    expect(readFileSync(path)).toEqual(before);
  });
});
