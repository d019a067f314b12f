#!/usr/bin/env node
// Links what tsc emitted into the two CommonJS files that run: dist/daemon/daemon.cjs (the
// daemon, from dist/daemon/entry.js) and dist/client/cli.cjs (the CLI, from
// dist/client/cli.js). Why bundles: docs/ARCHITECTURE.md, "Build". tsc stays the compiler
// (type checks, declarations, the ES modules the API and the tests use); esbuild only links.
//
//   node scripts/bundle.mjs        (run by `npm run build`, after tsc)

import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const BUNDLES = [
  { entry: 'dist/daemon/entry.js', out: 'dist/daemon/daemon.cjs' },
  { entry: 'dist/client/cli.js', out: 'dist/client/cli.cjs' },
];

for (const { entry, out } of BUNDLES) {
  await build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20.19',
    // Dependencies stay in node_modules, loaded when used: CommonJS ones with require()
    // (shared/bundle.ts), chokidar (an ES module only) with import().
    packages: 'external',
    define: { SUPERVISOR_BUNDLE: 'true', 'import.meta.url': '__importMetaUrl' },
    // import.meta.url of a file in the bundle is the bundle's: each bundle sits in the folder its
    // entry came from, so paths relative to a module of that folder resolve the same (the only
    // modules that use import.meta.url for paths are there; one elsewhere would need care).
    // "use strict" first: Node honours it only as the file's first statement, and esbuild's own
    // comes after the banner.
    banner: { js: "'use strict';\nconst __importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    // Names stay, so stack traces in daemon.log read as the sources do.
    minify: false,
    charset: 'ascii',
    logLevel: 'warning',
    logOverride: { 'unsupported-require-call': 'silent' },
  });
  asciiOnly(out);
}

/**
 * V8 keeps a source with any character above U+00FF in two bytes per character: a comment
 * with an arrow in it doubled the daemon's 280 KB source in its heap. esbuild escapes strings
 * and names (charset ascii) but keeps comments as written; this escapes what remains, which
 * can only be in comments.
 */
function asciiOnly(file) {
  const path = `${ROOT}/${file}`;
  const text = readFileSync(path, 'utf8');
  // eslint-disable-next-line no-control-regex
  const ascii = text.replace(/[^\x00-\x7f]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
  if (ascii !== text) writeFileSync(path, ascii);
}
