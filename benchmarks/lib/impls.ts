/**
 * The list of benchmarked implementations and a factory that loads each one lazily, so a
 * missing or broken implementation only fails its own figures.
 *
 * @packageDocumentation
 */

import type { Impl } from './workloads';

/**
 * Names of the implementations, in table order. `torch` is the PyTorch peer, which runs in
 * its own Python process (see torch_client.ts) and has no in-process {@link Impl}.
 */
export const IMPL_NAMES = ['tapegrad', 'tfjs-cpu', 'tfjs-wasm', 'torch'] as const;

/** One implementation name. */
export type ImplName = (typeof IMPL_NAMES)[number];

/**
 * Whether a string names an implementation.
 *
 * @param s - candidate name.
 */
export function isImplName(s: string): s is ImplName {
  return (IMPL_NAMES as readonly string[]).includes(s);
}

/**
 * Load the module of an implementation and construct it (not yet initialised).
 *
 * Uses `require` rather than `import()` on purpose: under `"module": "node16"` TypeScript
 * keeps `import()` as a native ESM import, which cannot load `.ts` files through ts-node's
 * CommonJS hook.
 *
 * @param name - which implementation.
 * @throws whatever loading the module throws (e.g. tfjs not installed).
 */
export function createImpl(name: ImplName): Impl {
  if (name === 'torch') throw new Error('torch runs in its own Python process, not in-process');
  if (name === 'tapegrad') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const m = require('./tapegrad_impl') as typeof import('./tapegrad_impl');
    return new m.TapegradImpl();
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const m = require('./tfjs_impl') as typeof import('./tfjs_impl');
  return new m.TfjsImpl(name === 'tfjs-cpu' ? 'cpu' : 'wasm');
}
