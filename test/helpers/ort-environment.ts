/**
 * Jest's node environment with the host's typed-array constructors: onnxruntime-node builds its
 * output tensors in the host realm and checks them with `instanceof` against the test's realm,
 * which fails in jest's default sandbox ("A float32 tensor's data must be type of Float32Array").
 */
import { TestEnvironment } from 'jest-environment-node';

const SHARED = ['Float32Array', 'Float64Array', 'Int32Array', 'BigInt64Array', 'Uint8Array', 'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array', 'BigUint64Array', 'ArrayBuffer'];

export default class OrtEnvironment extends TestEnvironment {
  constructor(...args: ConstructorParameters<typeof TestEnvironment>) {
    super(...args);
    const host = globalThis as unknown as Record<string, unknown>;
    for (const name of SHARED) (this.global as unknown as Record<string, unknown>)[name] = host[name];
  }
}
