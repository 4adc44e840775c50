/**
 * The one check of an options object, used by every public function and constructor that
 * takes one: `undefined` means all defaults; anything but a plain object is an error; a key
 * the function does not know is an error (`{ momentun: 0.1 }` never passes silently). Only
 * own keys count (enumerable string keys, and any symbol key, which is always unknown), so names inherited from `Object.prototype` (`constructor`, `toString`) are
 * unknown like any other, and a value is never read from the prototype chain.
 *
 * @packageDocumentation
 */
import { ArgumentError, ValueError } from './errors';
import { describe } from './shape';

/**
 * Checks an options argument and returns it as a record of its own keys.
 *
 * @param fn - what the user called, for the message: `'nn.Affine'`, `'Tensor.zeros'`.
 * @param opts - the options the user passed (undefined means none).
 * @param known - the option names `fn` accepts.
 * @param arg - the argument's name in messages. Default 'opts'.
 * @returns `opts` itself when it is a plain object (whose missing keys read as undefined), else a
 *   null-prototype copy of its own keys; a shared empty object for undefined.
 * @throws ArgumentError when opts is not a plain object (null, an array, a number, ...);
 *   ValueError naming the first unknown key and listing the known ones.
 * @example
 * ```ts
 * const o = checkOptions('nn.Affine', opts, ['bias', 'dtype', 'init']);
 * const useBias = o.bias ?? true;
 * ```
 */
export function checkOptions(
  fn: string,
  opts: unknown,
  known: readonly string[],
  arg = 'opts',
): Readonly<Record<string, unknown>> {
  if (opts === undefined) return NO_OPTIONS;
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts) || ArrayBuffer.isView(opts)) {
    throw new ArgumentError(`${fn}: ${arg} must be an object of options or undefined, got ${describe(opts)}`);
  }
  const keys = Object.keys(opts);
  for (let i = 0; i < keys.length; i++) if (!known.includes(keys[i])) unknownKey(fn, opts, keys[i], known);
  const symbols = Object.getOwnPropertySymbols(opts);
  if (symbols.length > 0) unknownKey(fn, opts, symbols[0], known);
  const proto: unknown = Object.getPrototypeOf(opts);
  if (proto === Object.prototype || proto === null) {
    // A literal: a known key it lacks reads as undefined, unless Object.prototype itself
    // carries that key (prototype pollution), which knownPolluted rules out.
    if (proto === null || !knownPolluted(known)) return opts as Readonly<Record<string, unknown>>;
  }
  // Any other prototype: copy the own keys, so a value is never read from the chain.
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const key of keys) out[key] = (opts as Record<string, unknown>)[key];
  return out;
}

/** Whether Object.prototype carries one of `known` (prototype pollution): then literals are copied too. */
function knownPolluted(known: readonly string[]): boolean {
  for (let i = 0; i < known.length; i++) if (known[i] in Object.prototype) return true;
  return false;
}

function unknownKey(fn: string, opts: object, key: string | symbol, known: readonly string[]): never {
  const value = (opts as Record<string | symbol, unknown>)[key];
  const list = known.length > 0 ? `expected one of ${known.join(', ')}` : 'it takes none';
  throw new ValueError(`${fn}: ${String(key)} is not an option of ${fn} (${list}), got ${describeValue(value)} for it`);
}

/**
 * Checks that an option, when given, is a boolean (so `{ bias: 'no' }` is an error, not true).
 *
 * @param fn - what the user called.
 * @param name - the option's name as the user wrote it, e.g. 'opts.bias'.
 * @param v - its value.
 * @param defaultValue - the value when v is undefined.
 * @throws ArgumentError when v is neither undefined nor a boolean.
 * @example
 * ```ts
 * const useBias = optionalBoolean('nn.Affine', 'opts.bias', o.bias, true);
 * ```
 */
export function optionalBoolean(fn: string, name: string, v: unknown, defaultValue: boolean): boolean {
  if (v === undefined) return defaultValue;
  if (typeof v !== 'boolean') throw new ArgumentError(`${fn}: ${name} must be a boolean, got ${describeValue(v)}`);
  return v;
}

/** What {@link checkOptions} returns for undefined: shared, so the common call allocates nothing. */
const NO_OPTIONS: Readonly<Record<string, unknown>> = Object.freeze(Object.create(null) as Record<string, unknown>);

function describeValue(v: unknown): string {
  return typeof v === 'number' || typeof v === 'boolean' ? String(v) : describe(v);
}
