/**
 * The `io` namespace: safetensors files and bytes for Tensors, for moving models to and from
 * PyTorch and other tools (`io.readSafetensors`, `io.writeSafetensors`, `io.encodeSafetensors`,
 * `io.decodeSafetensors`). The byte functions live in `bytes.ts` (no file system); the file
 * functions here read in chunks and write atomically.
 *
 * @example
 * ```ts
 * import { io } from 'tapegrad';
 * io.writeSafetensors('model.safetensors', model.stateDict({ layout: 'torch' }));
 * const { tensors } = io.readSafetensors('model.safetensors');
 * model.loadStateDict(tensors, { layout: 'torch' });
 * ```
 *
 * @packageDocumentation
 */
import { ArgumentError } from '../errors';
import { describe } from '../shape';
import { writeFileAtomic } from './atomic';
import { checkReadOptions, decodeTensorsFrom, encodeTensorsParts, renamed, type ReadSafetensorsOptions, type SafetensorsContents, type SafetensorsInput } from './bytes';
import { readFileSource } from './read';

export { decodeSafetensors, encodeSafetensors } from './bytes';
export type { ReadSafetensorsOptions, SafetensorsContents, SafetensorsInput } from './bytes';

/**
 * Reads and fully validates a safetensors file (or its bytes) into Tensors. A path is read in
 * chunks (memory for the tensors and nothing more). F32/F64 keep their dtype, F16/BF16 need
 * `{ convert }`, I64 becomes exact float64 (named in `tensors.int64Keys`); see `io.decodeSafetensors`.
 *
 * @param pathOrBytes - a file path, or the file's bytes.
 * @param opts - convert (none), maxHeaderBytes (100 MB).
 * @returns `{ tensors, metadata }`: tensors a StateDict (a Map of name -> Tensor) in file order.
 * @throws CheckpointError for a missing, unreadable or malformed file (naming it and the
 *   problem); DTypeError for F16/BF16 without convert or an I64 value beyond 2^53;
 *   ArgumentError / ValueError for bad arguments.
 * @example
 * ```ts
 * const { tensors, metadata } = io.readSafetensors('model.safetensors');
 * model.loadStateDict(tensors, { layout: 'torch' });
 * ```
 */
export function readSafetensors(pathOrBytes: string | Uint8Array, opts?: ReadSafetensorsOptions): SafetensorsContents {
  const fn = 'io.readSafetensors';
  const o = checkReadOptions(fn, opts);
  if (pathOrBytes instanceof Uint8Array) {
    const bytes = pathOrBytes;
    return decodeTensorsFrom(fn, {
      size: bytes.length,
      read: (pos, dest) => dest.set(bytes.subarray(pos, pos + dest.length)),
      view: (pos, len) => bytes.subarray(pos, pos + len),
    }, o);
  }
  if (typeof pathOrBytes !== 'string' || pathOrBytes === '') {
    throw new ArgumentError(`${fn}: pathOrBytes must be a non-empty path string or a Uint8Array, got ${describe(pathOrBytes)}`);
  }
  return readFileSource(fn, pathOrBytes, (src) => decodeTensorsFrom(fn, src, o));
}

/**
 * Writes Tensors as a safetensors file, atomically: a reader sees the old file or the complete
 * new one, never a torn write (temp file, fsync, rename). Tensor data is written in chunks
 * straight from the tensors' memory. Encoding as {@link encodeSafetensors}: F64/F32 by dtype, a
 * StateDict's `int64Keys` as I64.
 *
 * @param path - the file to write (replaced if it exists).
 * @param tensors - name -> Tensor, a Map (a StateDict) or a record.
 * @param metadata - optional string -> string map stored under `__metadata__`.
 * @throws ArgumentError / ValueError / CheckpointError as {@link encodeSafetensors};
 *   CheckpointError naming the path when the file cannot be written (nothing is changed then).
 * @example
 * ```ts
 * io.writeSafetensors('model.safetensors', model.stateDict({ layout: 'torch' }), { format: 'pt' });
 * ```
 */
export function writeSafetensors(path: string, tensors: SafetensorsInput, metadata?: Record<string, string>): void {
  const fn = 'io.writeSafetensors';
  if (typeof path !== 'string' || path === '') {
    throw new ArgumentError(`${fn}: path must be a non-empty string, got ${describe(path)}`);
  }
  const parts = encodeTensorsParts(fn, tensors, metadata);
  renamed(fn, () => writeFileAtomic(path, parts));
}
