/**
 * The `io` namespace of the browser entry: safetensors to and from bytes, with the same
 * validation as the Node.js entry's `io`, which adds the file functions (readSafetensors of a
 * path, writeSafetensors).
 *
 * @packageDocumentation
 */
export { decodeSafetensors, encodeSafetensors } from './bytes';
export type { ReadSafetensorsOptions, SafetensorsContents, SafetensorsInput } from './bytes';
