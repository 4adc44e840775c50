/**
 * The size of the pieces checkpoint I/O works in: file writes, file reads and checksum
 * updates each handle at most this many bytes at a time, so no single call meets Node's 2 GiB
 * limits (`fs.writeSync`, `fs.readSync`, `hash.update`) and no buffer larger than one tensor is
 * ever built.
 *
 * @packageDocumentation
 */
import { ValueError } from '../errors';

let chunkBytes = 64 * 1024 * 1024;

/**
 * The current piece size in bytes (64 MiB unless changed).
 *
 * @internal
 * @example
 * ```ts
 * for (let off = 0; off < n; off += ioChunkBytes()) { ... }
 * ```
 */
export function ioChunkBytes(): number {
  return chunkBytes;
}

/**
 * Sets the piece size, for tests that drive the chunked paths with small files.
 *
 * @internal
 * @param bytes - a positive integer at most 2^30.
 * @returns the previous size, to restore afterwards.
 * @example
 * ```ts
 * const prev = setIoChunkBytes(7); try { ... } finally { setIoChunkBytes(prev); }
 * ```
 */
export function setIoChunkBytes(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > 2 ** 30) {
    throw new ValueError(`setIoChunkBytes: bytes must be an integer in [1, 2^30], got ${String(bytes)}`);
  }
  const prev = chunkBytes;
  chunkBytes = bytes;
  return prev;
}
