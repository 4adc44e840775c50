/** The one check of tapegrad's error contract the tests share. */
import { TapegradError } from '../../src';

/**
 * Runs `fn`, expects it to throw an instance of `cls` (a TapegradError, with `name` set to the
 * class name) whose message matches `pattern`; returns the message.
 */
export function expectThrows(fn: () => unknown, cls: new (...a: never[]) => Error, pattern: RegExp): string {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(cls);
  expect(caught).toBeInstanceOf(TapegradError);
  expect((caught as Error).name).toBe(cls.name);
  expect((caught as Error).message).toMatch(pattern);
  return (caught as Error).message;
}
