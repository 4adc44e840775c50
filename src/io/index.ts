/**
 * Checkpoint I/O: the safetensors byte format and crash-safe file writing.
 *
 * @example
 * ```ts
 * import { encodeSafetensors, decodeSafetensors, writeFileAtomic, readFileChecked } from './io';
 * writeFileAtomic('model.safetensors', encodeSafetensors({ w: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) } }));
 * const { tensors } = decodeSafetensors(readFileChecked('model.safetensors'));
 * ```
 *
 * @packageDocumentation
 */
export {
  decodeSafetensors,
  encodeSafetensors,
  fromSTDType,
  SAFETENSORS_MAX_HEADER_BYTES,
  toSTDType,
} from './safetensors';
export type { DecodedSafetensors, DecodeSafetensorsOptions, RawData, RawDType, RawTensor, STDType } from './safetensors';
export { cleanStaleTemps, readFileChecked, writeFileAtomic } from './atomic';
export { readSafetensorsFile } from './read';
export type { CleanStaleTempsOptions } from './atomic';
