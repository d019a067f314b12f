/**
 * The daemon's program: what the launcher starts in the background (as the bundle built from
 * this file, dist/daemon/daemon.cjs), and what `supervisor daemon --foreground` loads to call
 * `main` itself.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from './main.js';

export { main };

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) void main({ foreground: false });
