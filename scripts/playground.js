#!/usr/bin/env node
/**
 * Builds the browser playground (examples/playground) with esbuild and serves it on localhost
 * with the headers that make the page cross-origin isolated (COOP same-origin, COEP
 * require-corp), so that tapegrad can run its GEMM on two threads over shared memory.
 *
 *   npm run playground                      # http://localhost:8080
 *   npm run playground -- --port 9000
 *   npm run playground -- --no-isolation    # no COOP/COEP: one GEMM thread
 *   node scripts/playground.js --build-only [--out DIR]
 *
 * The site holds the playground (index.html), the kernel checks that test/browser runs in
 * Chromium (checks.html) and the browser side of the step-time benchmark (bench.html).
 *
 * Used as a module by test/browser/playground.test.ts and benchmarks/browser.ts:
 * `buildPlayground({ outdir })`, `servePlayground({ root, port, isolation })`.
 */
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const SRC = path.join(ROOT, 'examples', 'playground');
const DEFAULT_OUT = path.join(ROOT, '.tmp', 'playground');

/**
 * The library entry the pages import as 'tapegrad': the browser entry (src/browser.ts) when it
 * exists; otherwise src/index.ts with every `node:` module replaced by an empty stub, so that
 * the page can be developed before the browser entry lands (the kernels then run in TypeScript).
 */
function tapegradEntry() {
  const browser = path.join(ROOT, 'src', 'browser.ts');
  if (fs.existsSync(browser)) return { file: browser, name: 'src/browser.ts', stubNode: false };
  return { file: path.join(ROOT, 'src', 'index.ts'), name: 'src/index.ts (node: modules stubbed)', stubNode: true };
}

function tapegradPlugin(entry) {
  return {
    name: 'tapegrad-entry',
    setup(build) {
      build.onResolve({ filter: /^tapegrad$/ }, () => ({ path: entry.file }));
      if (entry.stubNode) {
        build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'node-stub' }));
        build.onLoad({ filter: /.*/, namespace: 'node-stub' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
      }
    },
  };
}

/**
 * Builds the site into `outdir`.
 *
 * @param {{ outdir?: string, minify?: boolean, quiet?: boolean }} [opts]
 * @returns {Promise<{ outdir: string, entry: string, files: Record<string, number> }>} the
 *   directory, which library entry was bundled, and the size in bytes of each file written.
 */
async function buildPlayground(opts = {}) {
  const esbuild = require('esbuild');
  const outdir = path.resolve(opts.outdir ?? DEFAULT_OUT);
  const entry = tapegradEntry();
  fs.rmSync(outdir, { recursive: true, force: true });
  fs.mkdirSync(outdir, { recursive: true });
  await esbuild.build({
    entryPoints: {
      main: path.join(SRC, 'main.ts'),
      worker: path.join(SRC, 'worker.ts'),
      checks: path.join(SRC, 'checks', 'kernels.ts'),
      bench: path.join(SRC, 'checks', 'bench.ts'),
    },
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: opts.minify ?? true,
    // Module labels in the tape view and the library's messages use constructor names.
    keepNames: true,
    sourcemap: true,
    logLevel: opts.quiet ? 'silent' : 'warning',
    define: { TAPEGRAD_ENTRY: JSON.stringify(entry.name) },
    // The stand-in entry reads process.env in places; the browser entry never does.
    banner: entry.stubNode ? { js: 'var process = globalThis.process ?? { env: {} };' } : undefined,
    plugins: [tapegradPlugin(entry)],
  });
  for (const f of ['index.html', 'style.css']) fs.copyFileSync(path.join(SRC, f), path.join(outdir, f));
  for (const f of ['checks.html', 'bench.html']) fs.copyFileSync(path.join(SRC, 'checks', f), path.join(outdir, f));
  const files = {};
  for (const f of fs.readdirSync(outdir)) files[f] = fs.statSync(path.join(outdir, f)).size;
  return { outdir, entry: entry.name, files };
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/**
 * Serves `root` on 127.0.0.1.
 *
 * @param {{ root?: string, port?: number, isolation?: boolean, host?: string }} [opts] - port 0
 *   picks a free one; isolation (default true) sends COOP same-origin and COEP require-corp.
 * @returns {Promise<{ url: string, port: number, close: () => Promise<void> }>}
 */
function servePlayground(opts = {}) {
  const root = path.resolve(opts.root ?? DEFAULT_OUT);
  const isolation = opts.isolation ?? true;
  const host = opts.host ?? '127.0.0.1';
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let rel = decodeURIComponent(url.pathname);
    if (rel.endsWith('/')) rel += 'index.html';
    const file = path.join(root, path.normalize(rel).replace(/^([/\\]*\.\.)+/, ''));
    const headers = { 'Cache-Control': 'no-store', 'Cross-Origin-Resource-Policy': 'same-origin' };
    if (isolation) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, headers).end();
      return;
    }
    if (!file.startsWith(root + path.sep)) {
      res.writeHead(403, headers).end();
      return;
    }
    fs.readFile(file, (err, body) => {
      if (err) {
        res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found');
        return;
      }
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, host, () => {
      const { port } = server.address();
      resolve({
        url: `http://${host === '127.0.0.1' ? 'localhost' : host}:${port}/`,
        port,
        close: () => new Promise((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}

function usage() {
  return 'Usage: npm run playground -- [--port N] [--no-isolation] [--build-only] [--out DIR]';
}

async function main(argv) {
  const { parseArgs } = require('node:util');
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        'no-isolation': { type: 'boolean' },
        'build-only': { type: 'boolean' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`${e.message}\n${usage()}`);
    return 2;
  }
  if (values.help) {
    console.log(usage());
    return 0;
  }
  const port = values.port === undefined ? 8080 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port must be an integer in [0, 65535], got '${values.port}'\n${usage()}`);
    return 2;
  }
  const built = await buildPlayground({ outdir: values.out });
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(`built ${path.relative(ROOT, built.outdir) || '.'} from ${built.entry}: main.js ${kb(built.files['main.js'])}, worker.js ${kb(built.files['worker.js'])}`);
  if (values['build-only']) return 0;
  const isolation = !values['no-isolation'];
  const srv = await servePlayground({ root: built.outdir, port, isolation });
  console.log(`playground: ${srv.url} (${isolation ? 'cross-origin isolated: COOP/COEP sent' : 'not isolated: --no-isolation'}); Ctrl-C stops`);
  return undefined;
}

module.exports = { buildPlayground, servePlayground, tapegradEntry };

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== undefined) process.exitCode = code;
    },
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exitCode = 1;
    },
  );
}
