/**
 * Finding commands as a shell does: a name without a slash is looked up in the app's
 * `node_modules/.bin` (as `npm run` would) and then on the app's PATH; a path is taken
 * relative to the app's directory. Used for scripts that are not files (`npm`, `next`) and for
 * interpreters, so that a missing one is an error at `start` instead of a crash loop. The
 * client resolves with it; the daemon checks with `interpreterProblem` what arrives over the
 * wire or from dump.json.
 */
import { accessSync, constants, readFileSync, realpathSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

interface FoundCommand {
  /** Absolute path of the executable file. */
  path: string;
  /** Found through PATH, so the daemon's spawn (which searches the app's PATH) finds it too. */
  onPath: boolean;
}

export type CommandFinder = (command: string, where: { cwd: string; env: Record<string, string> }) => FoundCommand | null;

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `node_modules/.bin` of the app's directory and its parents, nearest first, as npm run has them. */
function binDirs(cwd: string): string[] {
  const dirs: string[] = [];
  for (let dir = cwd; ; dir = dirname(dir)) {
    dirs.push(join(dir, 'node_modules', '.bin'));
    if (dirname(dir) === dir) return dirs;
  }
}

export const findCommand: CommandFinder = (command, { cwd, env }) => {
  if (command.includes('/')) {
    const path = resolve(cwd, command);
    return isExecutableFile(path) ? { path, onPath: false } : null;
  }
  for (const dir of binDirs(cwd)) {
    const candidate = join(dir, command);
    if (isExecutableFile(candidate)) return { path: candidate, onPath: false };
  }
  const path = findOnPath(command, env);
  return path === null ? null : { path, onPath: true };
};

/** The executable `command` names on PATH alone, as spawn finds it. Relative entries are skipped. */
function findOnPath(command: string, env: Record<string, string>): string | null {
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir.length === 0 || !isAbsolute(dir)) continue;
    const candidate = join(dir, command);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

/**
 * The file URL of tsx's loader, for `node --import <url>`: from the app's own node_modules
 * (nearest first), else from the tsx found on PATH (a global install). Null when there is none.
 * Loading tsx into Node, rather than running the tsx CLI, keeps the process a Node process:
 * IPC, the worker runtime and cluster mode work as for JavaScript.
 */
export function findTsxLoader(where: { cwd: string; env: Record<string, string> }, find: CommandFinder = findCommand): string | null {
  const packageDirs: string[] = [];
  for (let dir = where.cwd; ; dir = dirname(dir)) {
    packageDirs.push(join(dir, 'node_modules', 'tsx'));
    if (dirname(dir) === dir) break;
  }
  const bin = find('tsx', where);
  if (bin) {
    try {
      // .../node_modules/tsx/dist/cli.mjs: the package is the nearest parent with package.json.
      for (let dir = dirname(realpathSync(bin.path)); dirname(dir) !== dir; dir = dirname(dir)) {
        if (isTsxPackage(dir)) {
          packageDirs.push(dir);
          break;
        }
      }
    } catch {
      // A dangling link: no tsx there.
    }
  }
  for (const dir of packageDirs) {
    const entry = tsxEntry(dir);
    if (entry) return pathToFileURL(entry).href;
  }
  return null;
}

function isTsxPackage(dir: string): boolean {
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name === 'tsx';
  } catch {
    return false;
  }
}

/** The ESM entry of a tsx package (its "." export), if the folder holds one. */
function tsxEntry(dir: string): string | null {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; exports?: unknown };
    if (manifest.name !== 'tsx') return null;
    const dot = (manifest.exports as Record<string, unknown> | undefined)?.['.'];
    const target = typeof dot === 'string' ? dot : ((dot as Record<string, unknown> | undefined)?.['import'] ?? (dot as Record<string, unknown> | undefined)?.['default']);
    if (typeof target !== 'string') return null;
    const entry = join(dir, target);
    return statSync(entry).isFile() ? entry : null;
  } catch {
    return null;
  }
}

/**
 * Why the daemon could not start a spec's interpreter, or null if it can: an absolute path must
 * be an executable file, a name must be on the app's PATH (where spawn looks; the client has
 * already turned names found in node_modules/.bin into paths).
 */
export function interpreterProblem(spec: { interpreter: string; env: Record<string, string> }): string | null {
  const { interpreter } = spec;
  if (interpreter === 'node' || interpreter === 'none') return null;
  if (interpreter.includes('/')) return isAbsolute(interpreter) && isExecutableFile(interpreter) ? null : `interpreter ${interpreter} does not exist or is not executable`;
  return findOnPath(interpreter, spec.env) !== null ? null : `interpreter ${interpreter} does not exist (not on the app's PATH)`;
}
