/**
 * pidusage (a CommonJS package), loaded with require(). Importing CommonJS from an ES module
 * makes Node load its scanner of CommonJS exports (cjs-module-lexer) to find named exports,
 * which the daemon would then keep for good: about 0.4 MiB of its resident memory, for a
 * default export it does not need scanned (bench/RESULTS.md).
 */
import { createRequire } from 'node:module';
import type Pidusage from 'pidusage';

export const pidusage = createRequire(import.meta.url)('pidusage') as typeof Pidusage;
