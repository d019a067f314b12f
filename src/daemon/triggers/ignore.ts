/**
 * Which changed paths a watch ignores. Always: anything in `node_modules` or `.git`, and
 * whatever the daemon itself writes (its home, the app's log files: a watched log file would
 * turn every log line into a reload). Without `ignore_watch`, also every dot file and dot
 * folder, as pm2 does by default. `ignore_watch` adds globs (pm2 hands its strings to chokidar
 * 3, which reads them as globs too):
 * - a glob without `/` is matched against every file and folder name on the path from the
 *   watched root: `node_modules`, `*.log`, `\.git`, `tmp*`;
 * - a glob with `/` is matched against the path from `cwd` and each of its parent folders:
 *   `client/img` ignores everything under it, `**\/*.test.js` any test file;
 * - a glob that starts with `/` is matched the same way against the absolute path.
 * Pure: the glob compiler (picomatch) is passed in, so this module loads nothing.
 */
import { isAbsolute, relative, sep } from 'node:path';

type GlobCompiler = (glob: string) => (path: string) => boolean;

export interface IgnoreRules {
  cwd: string;
  /** The watched roots (absolute); paths outside `cwd` are named from their root. */
  roots: readonly string[];
  patterns: readonly string[];
  /** Folders never watched, with everything under them (the daemon's home). */
  never: readonly string[];
  /** Whether a path is one of the app's own files (its logs): a test made once, not per path. */
  own(path: string): boolean;
}

const ALWAYS = new Set(['node_modules', '.git']);

const toSlashes = (path: string): string => (sep === '/' ? path : path.split(sep).join('/'));

function inside(path: string, folder: string): boolean {
  return path === folder || path.startsWith(folder.endsWith(sep) ? folder : folder + sep);
}

/** A predicate for chokidar's `ignored`: true for a path whose changes do not count. */
export function ignoreMatcher(rules: IgnoreRules, compile: GlobCompiler): (path: string) => boolean {
  const names: ((name: string) => boolean)[] = [];
  const fromCwd: ((path: string) => boolean)[] = [];
  const absolute: ((path: string) => boolean)[] = [];
  for (const raw of rules.patterns) {
    const pattern = raw.startsWith('./') ? raw.slice(2) : raw;
    const stripped = pattern.endsWith('/') ? pattern.slice(0, -1) : pattern;
    if (stripped.length === 0) continue;
    if (stripped.startsWith('/')) absolute.push(compile(stripped));
    else if (stripped.includes('/')) fromCwd.push(compile(stripped));
    else names.push(compile(stripped));
  }
  const dotFiles = rules.patterns.length === 0;

  return (path: string): boolean => {
    for (const folder of rules.never) if (inside(path, folder)) return true;
    if (rules.own(path)) return true;
    const root = inside(path, rules.cwd) ? rules.cwd : (rules.roots.find((r) => inside(path, r)) ?? rules.cwd);
    const rel = toSlashes(relative(root, path));
    const segments = rel === '' ? [] : rel.split('/');
    for (const name of segments) {
      if (ALWAYS.has(name) || (dotFiles && name.startsWith('.') && name !== '.' && name !== '..')) return true;
      for (const match of names) if (match(name)) return true;
    }
    if (fromCwd.length > 0 && !isAbsolute(rel) && !rel.startsWith('..')) {
      for (const prefix of prefixes(segments)) for (const match of fromCwd) if (match(prefix)) return true;
    }
    if (absolute.length > 0) {
      for (const prefix of prefixes(toSlashes(path).split('/').slice(1))) for (const match of absolute) if (match(`/${prefix}`)) return true;
    }
    return false;
  };
}

/** `a/b/c` -> `a`, `a/b`, `a/b/c`. */
function* prefixes(segments: readonly string[]): Iterable<string> {
  for (let i = 1; i <= segments.length; i++) yield segments.slice(0, i).join('/');
}
