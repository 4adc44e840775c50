/** fast-check settings shared by the property tests: a pinned seed so every run is the same. */
import fc from 'fast-check';

/** Parameters for fc.assert: pinned seed, modest run count. */
export const FC = { seed: 20261126, numRuns: 40 } as const;

export { fc };
