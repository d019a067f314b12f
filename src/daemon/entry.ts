/**
 * The daemon's program: what the launcher starts in the background (as the bundle built from
 * this file, dist/daemon/daemon.cjs), and what `supervisor daemon --foreground` loads to call
 * `main` itself.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { main } from './main.js';

export { main };

/**
 * Started as a program, not loaded. Both sides through realpath: this file's own path has its
 * symlinks resolved by Node, argv[1] may not (a release folder reached through a symlink, or
 * --preserve-symlinks).
 */
function startedAsProgram(): boolean {
  const program = process.argv[1];
  if (program === undefined) return false;
  try {
    return realpathSync(program) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (startedAsProgram()) void main({ foreground: false });
