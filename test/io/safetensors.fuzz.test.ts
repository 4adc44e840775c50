import fc from 'fast-check';
import { compareUint8Arrays, concatUint8Arrays } from 'typed-array-utils';
import { CheckpointError } from '../../src/errors';
import { decodeSafetensors, type DecodedSafetensors, encodeSafetensors, type RawTensor } from '../../src/io/safetensors';
import { craft, splitFile } from './craft';

/**
 * An independent, deliberately plain re-statement of the validity rules, used as the oracle:
 * decode must succeed exactly when this says the file is valid (duplicate keys aside, which
 * JSON.parse cannot see; those are checked separately).
 */
/** No unpaired surrogates (written without the \p{Cs} trick the implementation uses). */
const wellFormed = (t: string): boolean => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(t);

function referenceValid(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > 100_000_000n || n > BigInt(bytes.length - 8)) return false;
  const raw = bytes.subarray(8, 8 + Number(n));
  const text = Buffer.from(raw).toString('utf8');
  if (!compareUint8Arrays(new Uint8Array(Buffer.from(text, 'utf8')), raw)) return false; // not UTF-8
  if (text[0] !== '{') return false;
  let h: unknown;
  try {
    h = JSON.parse(text);
  } catch {
    return false;
  }
  if (typeof h !== 'object' || h === null || Array.isArray(h)) return false;
  const sizes: Record<string, number> = { F64: 8, F32: 4, I32: 4, U8: 1 };
  const ranges: [number, number][] = [];
  for (const [k, v] of Object.entries(h)) {
    if (k === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
      if (!Object.values(v).every((s) => typeof s === 'string')) return false;
      if (Object.entries(v).some(([a, b]) => !wellFormed(a) || !wellFormed(b as string))) return false;
      continue;
    }
    if (!wellFormed(k)) return false;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
    if (Object.keys(v).sort().join() !== 'data_offsets,dtype,shape') return false;
    const { dtype, shape, data_offsets: off } = v as { dtype: unknown; shape: unknown; data_offsets: unknown };
    if (typeof dtype !== 'string' || !(dtype in sizes) || !Object.prototype.hasOwnProperty.call(sizes, dtype)) return false;
    const isN = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
    if (!Array.isArray(shape) || !shape.every(isN)) return false;
    if (!Array.isArray(off) || off.length !== 2 || !off.every(isN)) return false;
    const numel = shape.reduce((a: number, b: number) => a * b, 1);
    if (!Number.isSafeInteger(numel * sizes[dtype])) return false;
    if (off[1] - off[0] !== numel * sizes[dtype] || off[0] > off[1]) return false;
    ranges.push([off[0], off[1]]);
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let pos = 0;
  for (const [b, e] of ranges) {
    if (b !== pos) return false;
    pos = e;
  }
  return pos === bytes.length - 8 - Number(n);
}

/** Decodes, asserting that only CheckpointError (and never an internal error) can come out. */
function tryDecode(bytes: Uint8Array): DecodedSafetensors | CheckpointError {
  try {
    return decodeSafetensors(bytes);
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw new Error(`non-CheckpointError escaped: ${String(e)}`);
    expect(e.message).toMatch(/^decodeSafetensors: /);
    expect(e.message).not.toMatch(/unexpected internal error/);
    return e;
  }
}

/** The full contract for arbitrary input bytes. */
function checkContract(bytes: Uint8Array): DecodedSafetensors | CheckpointError {
  const r = tryDecode(bytes);
  const valid = referenceValid(bytes);
  if (r instanceof CheckpointError) {
    if (valid) expect(r.message).toMatch(/duplicate key/); // the one rule the oracle cannot see
  } else {
    expect(valid).toBe(true);
    // What came out is a consistent file: re-encoding and decoding reproduces it exactly.
    const again = decodeSafetensors(encodeSafetensors(r.tensors, r.metadata));
    expect(again.metadata).toEqual(r.metadata);
    expect([...again.tensors.keys()].sort()).toEqual([...r.tensors.keys()].sort());
    for (const [k, t] of r.tensors) {
      const u = again.tensors.get(k)!;
      expect(u.dtype).toBe(t.dtype);
      expect(u.shape).toEqual(t.shape);
      expect(compareUint8Arrays(new Uint8Array(u.data.buffer), new Uint8Array(t.data.buffer))).toBe(true);
    }
  }
  return r;
}

const base = encodeSafetensors(
  {
    'layer.0.weight': { dtype: 'float64', shape: [3, 2], data: new Float64Array([1, 2, 3, 4, 5, 6]) },
    'layer.0.bias': { dtype: 'float32', shape: [2], data: new Float32Array([-1, 0.5]) },
    steps: { dtype: 'int32', shape: [], data: new Int32Array([1234]) },
    mask: { dtype: 'uint8', shape: [5], data: new Uint8Array([1, 0, 1, 1, 0]) },
    empty: { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) },
  },
  { format: 'tapegrad', note: 'fuzz base' },
);
const { n: baseN, header: baseHeader } = splitFile(base);
const dataStart = 8 + baseN;

const FC = { seed: 42, numRuns: 300 } as const;

describe('decodeSafetensors under mutation (fast-check, seed 42)', () => {
  test('the unmutated base decodes', () => {
    expect(checkContract(base)).not.toBeInstanceOf(CheckpointError);
    expect(referenceValid(base)).toBe(true);
  });

  test('flipped bytes anywhere: success only for a still-valid file, else CheckpointError', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (flips) => {
        const m = base.slice();
        for (const [i, x] of flips) m[i % m.length] ^= x;
        const r = checkContract(m);
        const touched = flips.map(([i]) => i % m.length);
        const changed = !compareUint8Arrays(m, base);
        // flips that only touch tensor data never invalidate the file
        if (touched.every((i) => i >= dataStart)) expect(r).not.toBeInstanceOf(CheckpointError);
        // any change of the length prefix always does
        if (changed && !compareUint8Arrays(m.subarray(0, 8), base.subarray(0, 8))) expect(r).toBeInstanceOf(CheckpointError);
      }),
      FC,
    );
  });

  test('truncation always fails with CheckpointError', () => {
    fc.assert(
      fc.property(fc.nat({ max: base.length - 1 }), (k) => {
        expect(checkContract(base.subarray(0, k))).toBeInstanceOf(CheckpointError);
      }),
      FC,
    );
  });

  test('appended bytes always fail with CheckpointError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (extra) => {
        expect(checkContract(concatUint8Arrays(base, extra))).toBeInstanceOf(CheckpointError);
      }),
      FC,
    );
  });

  test('edited header text (length prefix kept consistent or not)', () => {
    const fragment = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom('"', '{', '}', '[', ']', ',', ':', '-1', '0', '1e3', '1.5', 'null', '"F16"', '"U8"', '"I32"',
        '"__metadata__"', '"dtype"', '"shape"', '"data_offsets"', '\\u0000', '\\ud800', '"x":1', ' ', '\u00e9', '\ud83d'),
    );
    fc.assert(
      fc.property(fc.nat(), fc.nat({ max: 12 }), fragment, fc.boolean(), (at, del, insert, fixPrefix) => {
        const p = at % (baseHeader.length + 1);
        const text = baseHeader.slice(0, p) + insert + baseHeader.slice(p + del);
        const bytes = fixPrefix
          ? craft(text, base.subarray(dataStart))
          : concatUint8Arrays(base.subarray(0, 8), new TextEncoder().encode(text), base.subarray(dataStart));
        checkContract(bytes);
      }),
      FC,
    );
  });

  test('edits that keep the header valid JSON: numbers and dtypes swapped', () => {
    // Replace one number or dtype token of the header by another: these mostly stay valid JSON,
    // so they exercise the semantic checks (sizes, offsets, overlap, gaps) rather than parsing.
    const tokens = [...baseHeader.matchAll(/\d+|"(?:F64|F32|I32|U8)"/g)];
    fc.assert(
      fc.property(fc.nat({ max: tokens.length - 1 }), fc.oneof(fc.nat({ max: 200 }).map(String), fc.constantFrom('"F64"', '"F32"', '"I32"', '"U8"', '"I64"', '-0', '0.0')), (ti, repl) => {
        const t = tokens[ti];
        const text = baseHeader.slice(0, t.index) + repl + baseHeader.slice(t.index + t[0].length);
        checkContract(craft(text, base.subarray(dataStart)));
      }),
      FC,
    );
  });

  test('random bytes and random JSON headers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        checkContract(bytes);
      }),
      FC,
    );
    fc.assert(
      fc.property(fc.json({ maxDepth: 3 }), fc.uint8Array({ maxLength: 16 }), (json, data) => {
        checkContract(craft(json, data));
      }),
      FC,
    );
  });

  test('structured random headers: success exactly when the oracle says valid', () => {
    // Entries are mostly self-consistent (end = begin + size) with begins that are sometimes
    // chained, sometimes random, so the generated files hit valid layouts, overlaps and gaps.
    const sizes: Record<string, number> = { F64: 8, F32: 4, I32: 4, U8: 1 };
    const dim = fc.oneof({ weight: 20, arbitrary: fc.nat({ max: 3 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, 2 ** 53, '2', null) });
    const spec = fc.record({
      name: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      dtype: fc.oneof({ weight: 20, arbitrary: fc.constantFrom('F64', 'F32', 'I32', 'U8') }, { weight: 1, arbitrary: fc.constantFrom('F16', 'f32', '') }),
      shape: fc.array(dim, { maxLength: 3 }),
      begin: fc.oneof(fc.constant('chain' as const), fc.nat({ max: 48 })),
      endSkew: fc.oneof({ weight: 10, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -4, max: 4 }) }),
    });
    let successes = 0;
    let overlapsRejected = 0;
    fc.assert(
      fc.property(fc.array(spec, { maxLength: 5 }), fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -8, max: 8 }) }), (specs, dataSkew) => {
        const h: Record<string, unknown> = {};
        let pos = 0;
        let maxEnd = 0;
        for (const s of specs) {
          const numel = s.shape.reduce((a: number, d) => a * (typeof d === 'number' ? d : 1), 1);
          const size = Number.isSafeInteger(numel) ? numel * (sizes[s.dtype] ?? 2) : 0;
          const begin = s.begin === 'chain' ? pos : s.begin;
          const end = Math.max(0, begin + size + s.endSkew);
          h[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [begin, end] };
          pos = end;
          maxEnd = Math.max(maxEnd, end);
        }
        const dataLen = Math.max(0, maxEnd + dataSkew);
        const r = checkContract(craft(h, new Uint8Array(dataLen).fill(7)));
        if (!(r instanceof CheckpointError)) successes++;
        else if (/overlap/.test(r.message)) overlapsRejected++;
      }),
      { ...FC, numRuns: 1000 },
    );
    // the generator does reach valid files, and files that fail only by overlapping
    expect(successes).toBeGreaterThan(50);
    expect(overlapsRejected).toBeGreaterThan(3);
  });

  test('round trip of arbitrary valid tensor sets', () => {
    const shape = fc.array(fc.nat({ max: 3 }), { maxLength: 3 });
    const tensor: fc.Arbitrary<RawTensor> = fc.tuple(fc.constantFrom('float64', 'float32', 'int32', 'uint8') as fc.Arbitrary<RawTensor['dtype']>, shape)
      .chain(([dtype, s]) => {
        const numel = s.reduce((a, b) => a * b, 1);
        const arr = dtype === 'float64' ? fc.float64Array({ minLength: numel, maxLength: numel })
          : dtype === 'float32' ? fc.float32Array({ minLength: numel, maxLength: numel })
            : dtype === 'int32' ? fc.int32Array({ minLength: numel, maxLength: numel })
              : fc.uint8Array({ minLength: numel, maxLength: numel });
        return arr.map((data) => ({ dtype, shape: s, data }) as RawTensor);
      });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 6 }).filter((k) => k !== '__metadata__'), tensor, { maxKeys: 5 }),
        fc.option(fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 6 })), { nil: undefined }),
        (tensors, metadata) => {
          const bytes = encodeSafetensors(tensors, metadata);
          expect(bytes.length % 8).toBe((Object.values(tensors).reduce((a, t) => a + t.data.byteLength, 0)) % 8);
          const r = checkContract(bytes);
          expect(r).not.toBeInstanceOf(CheckpointError);
          const out = r as DecodedSafetensors;
          expect(out.metadata).toEqual(metadata ?? {});
          for (const [k, t] of Object.entries(tensors)) {
            const u = out.tensors.get(k)!;
            expect(u.dtype).toBe(t.dtype);
            expect(u.shape).toEqual(t.shape);
            expect(compareUint8Arrays(new Uint8Array(u.data.buffer), new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))).toBe(true);
            // each tensor's data sits at an offset aligned to its item size
            const { header } = splitFile(bytes);
            const off = (JSON.parse(header) as Record<string, { data_offsets: [number, number] }>)[k].data_offsets[0];
            expect(off % u.data.BYTES_PER_ELEMENT).toBe(0);
          }
        }),
      FC,
    );
  });
});
