/**
 * pidusage (a CommonJS package), loaded with require(): in the daemon's bundle that is the
 * plain CommonJS require; run from ES modules, an import of CommonJS would make Node scan the
 * file for named exports (cjs-module-lexer, about 0.4 MiB kept for good) for a default export.
 */
import type Pidusage from 'pidusage';
import { requireCommonJs } from '../shared/bundle.js';

export const pidusage = requireCommonJs('pidusage') as typeof Pidusage;
