/** Types of scripts/playground.js, for the tests and benchmarks that use it as a module. */

/** What {@link buildPlayground} wrote. */
export interface BuiltPlayground {
  /** The output directory. */
  outdir: string;
  /** Which library entry was bundled as 'tapegrad'. */
  entry: string;
  /** Size in bytes of each file written. */
  files: Record<string, number>;
}

/** A running server. */
export interface PlaygroundServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Builds the playground site (index.html, checks.html, bench.html) into `outdir` (default .tmp/playground). */
export function buildPlayground(opts?: { outdir?: string; minify?: boolean; quiet?: boolean }): Promise<BuiltPlayground>;

/** Serves `root` on 127.0.0.1 (port 0: a free one), with COOP/COEP unless `isolation` is false. */
export function servePlayground(opts?: { root?: string; port?: number; isolation?: boolean; host?: string }): Promise<PlaygroundServer>;

/** The library entry the pages import as 'tapegrad'. */
export function tapegradEntry(): { file: string; name: string; stubNode: boolean };
