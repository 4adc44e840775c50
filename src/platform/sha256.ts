/**
 * SHA-256 in plain TypeScript (FIPS 180-4), incremental, for engines without `node:crypto`.
 * Synchronous, unlike the browser's `crypto.subtle.digest`, so checkpoint encoding and decoding
 * stay synchronous everywhere. About 100-200 MB/s in V8.
 *
 * @packageDocumentation
 */

import type { Sha256 } from './types';

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const encoder = new TextEncoder();

/**
 * A fresh SHA-256 hash: `update` with bytes or strings (UTF-8), then `hex()` once.
 *
 * @example
 * ```ts
 * const h = createSha256();
 * h.update('abc');
 * h.hex(); // 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
 * ```
 */
export function createSha256(): Sha256 {
  const state = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  const block = new Uint8Array(64);
  let used = 0; // bytes in `block`
  let total = 0; // bytes hashed so far
  let done = false;

  const compress = (src: Uint8Array, off: number): void => {
    for (let i = 0; i < 16; i++) {
      const j = off + 4 * i;
      w[i] = (src[j] << 24) | (src[j + 1] << 16) | (src[j + 2] << 8) | src[j + 3];
    }
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15];
      const y = w[i - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5], g = state[6], h = state[7];
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + K[i] + w[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    state[0] += a; state[1] += b; state[2] += c; state[3] += d;
    state[4] += e; state[5] += f; state[6] += g; state[7] += h;
  };

  const updateBytes = (bytes: Uint8Array): void => {
    let i = 0;
    total += bytes.length;
    if (used > 0) {
      const take = Math.min(64 - used, bytes.length);
      block.set(bytes.subarray(0, take), used);
      used += take;
      i = take;
      if (used < 64) return;
      compress(block, 0);
      used = 0;
    }
    for (; i + 64 <= bytes.length; i += 64) compress(bytes, i);
    if (i < bytes.length) {
      block.set(bytes.subarray(i), 0);
      used = bytes.length - i;
    }
  };

  return {
    update(data: Uint8Array | string): void {
      if (done) throw new Error('sha256: update after hex()');
      updateBytes(typeof data === 'string' ? encoder.encode(data) : data);
    },
    hex(): string {
      if (done) throw new Error('sha256: hex() called twice');
      done = true;
      const bits = total * 8;
      const pad = new Uint8Array((used < 56 ? 56 : 120) - used + 8);
      pad[0] = 0x80;
      const dv = new DataView(pad.buffer);
      dv.setUint32(pad.length - 8, Math.floor(bits / 0x100000000));
      dv.setUint32(pad.length - 4, bits >>> 0);
      const t = total;
      updateBytes(pad);
      total = t;
      let out = '';
      for (let i = 0; i < 8; i++) out += state[i].toString(16).padStart(8, '0');
      return out;
    },
  };
}
