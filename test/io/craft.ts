/**
 * Helpers for the io tests: building safetensors files by hand, byte by byte.
 */
import { concatUint8Arrays } from 'typed-array-utils';

/** The 8-byte little-endian u64 length prefix of `n` (n may exceed 2^32; use bigint for > 2^53). */
export function lengthPrefix(n: number | bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}

/**
 * A file made of a header (JSON text, or a value to JSON.stringify) and a data region.
 * `prefix` overrides the header length written in the first 8 bytes.
 */
export function craft(header: string | object, data: Uint8Array = new Uint8Array(0), prefix?: number | bigint): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const h = new TextEncoder().encode(text);
  return concatUint8Arrays(lengthPrefix(prefix ?? h.length), h, data);
}

/** Little-endian bytes of float64 values. */
export function f64le(...xs: number[]): Uint8Array {
  const out = new Uint8Array(xs.length * 8);
  const dv = new DataView(out.buffer);
  xs.forEach((x, i) => dv.setFloat64(i * 8, x, true));
  return out;
}

/** Splits a well-formed file into its header text and data region. */
export function splitFile(bytes: Uint8Array): { n: number; header: string; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return { n, header: new TextDecoder().decode(bytes.subarray(8, 8 + n)), data: bytes.subarray(8 + n) };
}
