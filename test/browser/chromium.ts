/**
 * Finding and starting the machine's Chromium for the browser tests and benchmarks, through
 * playwright-core (which downloads no browser of its own). Debian's `chromium-headless-shell`
 * or `chromium` package provides the binary; `.ci/run` installs the first when missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { chromium, type Browser } from 'playwright-core';

/** Where a Chromium binary is looked for, in order; `TAPEGRAD_CHROMIUM` comes first when set. */
export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** The first Chromium binary found (TAPEGRAD_CHROMIUM, the usual paths, then PATH), or undefined. */
export function findChromium(): string | undefined {
  const env = process.env.TAPEGRAD_CHROMIUM;
  const onPath = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '')
    .flatMap((d) => ['chromium-headless-shell', 'chromium'].map((n) => path.join(d, n)));
  return [...(env ? [env] : []), ...CHROMIUM_CANDIDATES, ...onPath].find((p) => fs.existsSync(p));
}

/**
 * Flags for a closed network and a root user: no sandbox (root), no GPU, and none of the
 * background connections Chromium would otherwise try (and see refused) at start.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Starts headless Chromium (playwright gives every launch a fresh, empty user data directory).
 *
 * @param executablePath - from {@link findChromium}.
 */
export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: ['--headless', ...CHROMIUM_ARGS] });
}
