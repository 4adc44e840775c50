/**
 * The one check of an options object, used by every public function and constructor that
 * takes one: `undefined` means all defaults; anything but a plain object is an error; a key
 * the function does not know is an error (`{ momentun: 0.1 }` never passes silently). Only
 * own keys count, so names inherited from `Object.prototype` (`constructor`, `toString`) are
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
 * @returns a null-prototype copy holding only the own keys of `opts` (a shared empty one for undefined).
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
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts) || ArrayBuffer.isView(opts)) {
    throw new ArgumentError(`${fn}: ${arg} must be an object of options or undefined, got ${describe(opts)}`);
  }
  for (const key of Reflect.ownKeys(opts)) {
    if (typeof key !== 'string' || !known.includes(key)) {
      const value = (opts as Record<string | symbol, unknown>)[key];
      const list = known.length > 0 ? `expected one of ${known.join(', ')}` : 'it takes none';
      throw new ValueError(`${fn}: ${String(key)} is not an option of ${fn} (${list}), got ${describeValue(value)} for it`);
    }
    out[key] = (opts as Record<string, unknown>)[key]; // an own key: never read from a prototype
  }
  return out;
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
