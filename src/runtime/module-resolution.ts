/**
 * Makes `import 'supervisor-node/process'` and `require('supervisor-node/process')` work in
 * every Node process the daemon starts, including apps that do not depend on this package
 * (an app run by a globally installed supervisor). The specifier resolves to this package's
 * own accessor, next to this runtime, so the module and the runtime are always one version.
 *
 * Which mechanism, feature-detected:
 * - `module.registerHooks` (Node >= 22.15, 23.5): one synchronous resolve hook, in this
 *   thread, for both require and import. Costs nothing measurable.
 * - Otherwise, for require: a wrapper around `Module._resolveFilename`, CommonJS's resolver,
 *   which answers that one specifier and passes everything else through.
 * - Otherwise, for import: `module.register` with an off-thread resolve hook. On Node 20 that
 *   starts a loader thread in the process, measured at about 11 MB of resident memory and
 *   70 ms of start-up, so it is registered only when the entry script is ES module code and
 *   the app cannot resolve the package itself. (A CommonJS app that uses `import()` for the
 *   module on these versions must depend on the package, or use require.)
 */
import { existsSync, readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROCESS_MODULE } from '../shared/messages.js';

const TARGET_URL = new URL('../process/index.js', import.meta.url);
const TARGET_PATH = fileURLToPath(TARGET_URL);

interface ResolveContext {
  conditions?: string[];
  parentURL?: string;
}
type NextResolve = (specifier: string, context?: ResolveContext) => { url: string };

/** The parts of node:module used here, each feature-detected. */
interface ModuleInternals {
  registerHooks?: (hooks: { resolve(specifier: string, context: ResolveContext, next: NextResolve): { url: string; shortCircuit?: boolean } }) => unknown;
  register?: (specifier: string, parentURL: string) => void;
  _resolveFilename?: (request: string, ...rest: unknown[]) => string;
}

export function installModuleResolution(entry: string | undefined = process.argv[1]): void {
  const modules = Module as unknown as ModuleInternals;
  if (typeof modules.registerHooks === 'function') {
    modules.registerHooks({
      resolve: (specifier, context, next) => (specifier === PROCESS_MODULE ? { url: TARGET_URL.href, shortCircuit: true } : next(specifier, context)),
    });
    return;
  }
  // Decided before require is wrapped, which would make the package resolve from anywhere.
  const esmHook = typeof modules.register === 'function' && entry !== undefined && isEsmEntry(entry) && !resolvesFrom(entry);
  const originalResolve = modules._resolveFilename;
  if (typeof originalResolve === 'function') {
    modules._resolveFilename = function resolveFilename(this: unknown, request: string, ...rest: unknown[]): string {
      return request === PROCESS_MODULE ? TARGET_PATH : originalResolve.call(this, request, ...rest);
    };
  }
  if (esmHook) {
    modules.register?.(new URL('./module-resolve-hooks.js', import.meta.url).href, import.meta.url);
  }
}

/** Whether Node will run this script as an ES module: by extension, package type, or syntax. */
function isEsmEntry(script: string): boolean {
  const ext = extname(script);
  if (ext === '.mjs' || ext === '.mts') return true;
  if (ext === '.cjs' || ext === '.cts') return false;
  const type = packageType(dirname(script));
  if (type === 'module') return true;
  if (type === 'commonjs') return false;
  // No "type": Node >= 20.19 detects module syntax. A static import or export at the start of
  // a line is what makes a file ESM in practice.
  try {
    return /^\s*(import\s*[\w{*'"]|export\s)/m.test(readFileSync(script, 'utf8'));
  } catch {
    return false;
  }
}

/** The "type" of the nearest package.json above dir, if any. */
function packageType(dir: string): string | null {
  for (let current = dir; ; current = dirname(current)) {
    const file = join(current, 'package.json');
    if (existsSync(file)) {
      try {
        const type = (JSON.parse(readFileSync(file, 'utf8')) as { type?: unknown }).type;
        return typeof type === 'string' ? type : null;
      } catch {
        return null;
      }
    }
    if (dirname(current) === current) return null;
  }
}

/** Whether the app has the package itself (its own copy forwards to this runtime too). */
function resolvesFrom(script: string): boolean {
  try {
    createRequire(script).resolve(PROCESS_MODULE);
    return true;
  } catch {
    return false;
  }
}
