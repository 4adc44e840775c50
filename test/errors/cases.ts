/**
 * The machinery of the errors suite: a bad call, the names its message may start with, and the
 * check that it throws a TapegradError `fn: ... got ...` rather than crashing or returning.
 */
import { TapegradError } from '../../src';

/** A call that must be refused. */
export interface BadCall {
  /** What is being tried, for the failure message. */
  label: string;
  /** The call. */
  call: () => unknown;
  /**
   * Names the message may start with (followed by ':'): the function called, or the kernel it
   * delegates to (`affine` reports as `affineForward`).
   */
  fns: readonly string[];
  /** The error class expected, when it matters. */
  kind?: new (...args: never[]) => TapegradError;
}

function show(v: unknown): string {
  if (v === null || typeof v !== 'object') return String(v);
  const shape = (v as { shape?: unknown }).shape;
  return Array.isArray(shape) ? `${v.constructor.name} of shape [${shape.join(', ')}]` : v.constructor.name;
}

/**
 * Runs `c.call` and throws a descriptive Error (failing the property) unless it threw a
 * TapegradError (of `c.kind` if given) whose message starts with one of `c.fns` and a colon and
 * contains 'got'.
 */
export function mustRefuse(c: BadCall): TapegradError {
  let threw = false;
  let caught: unknown;
  let result: unknown;
  try {
    result = c.call();
  } catch (e) {
    threw = true;
    caught = e;
  }
  if (!threw) throw new Error(`${c.label}: did not throw; returned ${show(result)}`);
  if (!(caught instanceof TapegradError)) {
    const e = caught as Error | undefined;
    throw new Error(`${c.label}: threw ${e?.constructor?.name ?? typeof caught} (not a TapegradError): ${e?.message ?? String(caught)}`);
  }
  const err: TapegradError = caught;
  if (c.kind !== undefined && !(caught instanceof c.kind)) {
    throw new Error(`${c.label}: threw ${err.name}, expected ${c.kind.name}: ${err.message}`);
  }
  if (err.name !== err.constructor.name) throw new Error(`${c.label}: name '${err.name}' is not the class name`);
  const msg = err.message;
  if (!c.fns.some((f) => msg.startsWith(`${f}: `))) {
    throw new Error(`${c.label}: message must start with one of ${c.fns.map((f) => `'${f}: '`).join(', ')}, got: ${msg}`);
  }
  if (!msg.includes('got')) throw new Error(`${c.label}: message must say what arrived ('got ...'), got: ${msg}`);
  return err;
}
