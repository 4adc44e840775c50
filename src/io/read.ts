/**
 * Reading safetensors files piece by piece, so a file of any size loads with memory for its
 * tensors and nothing more.
 *
 * @packageDocumentation
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { CheckpointError } from '../errors';
import { errText, readProblem, wrap } from './atomic';
import { ioChunkBytes } from './chunk';
import { decodeSafetensorsFrom, type ByteSource, type DecodedSafetensors, type DecodeSafetensorsOptions } from './safetensors';

/**
 * Reads and fully validates a safetensors file piece by piece: the header first, then each
 * tensor straight into its own typed array, so memory holds the tensors and nothing more (no
 * copy of the whole file) and files of any size can be read.
 *
 * @param path - the file to read.
 * @param opts - as for `decodeSafetensors`.
 * @returns as `decodeSafetensors`.
 * @throws CheckpointError naming `path` when the file is missing, unreadable or changes size
 *   while read, and for every problem `decodeSafetensors` reports.
 * @example
 * ```ts
 * const { tensors, metadata } = readSafetensorsFile('runs/model.safetensors');
 * ```
 */
export function readSafetensorsFile(path: string, opts?: DecodeSafetensorsOptions): DecodedSafetensors {
  return readFileSource('readSafetensorsFile', path, (src) => decodeSafetensorsFrom(src, opts));
}

/**
 * Opens `path` and hands `decode` a {@link ByteSource} over it that reads in chunks, closing the
 * file afterwards: the file side of every safetensors reader.
 *
 * @internal
 * @param fn - the caller's name, for error messages.
 * @param path - the file to read.
 * @param decode - reads what it needs from the source.
 * @returns what `decode` returns.
 * @throws CheckpointError naming `path` when the file is missing, unreadable or changes size while read.
 * @example
 * ```ts
 * const out = readFileSource('io.readSafetensors', path, (src) => decodeSafetensorsAnyFrom(src, {}));
 * ```
 */
export function readFileSource<T>(fn: string, path: string, decode: (src: ByteSource) => T): T {
  if (typeof path !== 'string' || path.length === 0) {
    throw new CheckpointError(`${fn}: path must be a non-empty string, got ${typeof path === 'string' ? "''" : typeof path}`);
  }
  let fd: number;
  let size: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw wrap(`${fn}: could not read '${path}': ${readProblem(e)} (${errText(e)})`, e);
  }
  try {
    try {
      const st = fstatSync(fd);
      if (st.isDirectory()) throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${path}'`), { code: 'EISDIR' });
      size = st.size;
    } catch (e) {
      throw wrap(`${fn}: could not read '${path}': ${readProblem(e)} (${errText(e)})`, e);
    }
    const read = (pos: number, dest: Uint8Array): void => {
      const chunk = ioChunkBytes();
      let off = 0;
      while (off < dest.length) {
        let got: number;
        try {
          got = readSync(fd, dest, off, Math.min(chunk, dest.length - off), pos + off);
        } catch (e) {
          throw wrap(`${fn}: could not read '${path}' at byte ${pos + off}: ${errText(e)}`, e);
        }
        if (got === 0) {
          throw new CheckpointError(`${fn}: '${path}' must keep its size of ${size} bytes while read, got end of file at byte ${pos + off}`);
        }
        off += got;
      }
    };
    return decode({ size, read });
  } finally {
    try { closeSync(fd); } catch { /* read-only descriptor: nothing to lose */ }
  }
}

