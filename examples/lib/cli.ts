/**
 * The entry point every example shares: run `main(argv)` and turn its result into the
 * process's exit code, printing an unexpected error instead of an unhandled rejection.
 *
 * @packageDocumentation
 */

/**
 * Runs an example's `main` with the command-line arguments and sets `process.exitCode`.
 *
 * @param main - returns the exit code (0 ok, 1 runtime failure, 2 bad usage).
 * @example
 * ```ts
 * if (require.main === module) runMain(main);
 * ```
 */
export function runMain(main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
