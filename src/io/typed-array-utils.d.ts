/**
 * Type declarations for the parts of `typed-array-utils` that tapegrad uses.
 *
 * The package ships `index.d.ts` for its ESM entry only; under `"module": "node16"` a CommonJS
 * importer resolves its `require` export (`cjs/index.cjs`), which has no `.d.cts` next to it,
 * so TypeScript would see it as untyped (TS7016). These declarations mirror the package's own
 * `index.d.ts` for the functions used here.
 *
 * @packageDocumentation
 */
declare module 'typed-array-utils' {
  /** Concatenates byte arrays into one freshly allocated Uint8Array. */
  export function concatUint8Arrays(...uint8Arrays: Uint8Array[]): Uint8Array;
  /** True when all arrays have the same length and bytes (constant-time per byte). */
  export function compareUint8Arrays(u8_1: Uint8Array, ...u8s: Uint8Array[]): boolean;
  /** Splits a byte array at the given indices into subarray views (not copies). */
  export function splitUint8Array(uint8Array: Uint8Array, ...indices: number[]): Uint8Array[];
  /** Lower-case hex string of the bytes, two digits per byte. */
  export function bytesToHexString(bufferSource: ArrayBuffer | ArrayBufferView): string;
  /** Parses a hex string (non-hex characters ignored) into bytes. */
  export function hexStringToBytes(hexString: string): Uint8Array;
}
