/**
 * Module customization hooks, for Node versions without `module.registerHooks` (before 22.15):
 * registered with `module.register`, they run on the loader thread and resolve
 * `supervisor-node/process` for ESM apps that do not depend on the package themselves.
 * See module-resolution.ts for when they are registered at all.
 */
import { PROCESS_MODULE } from '../shared/messages.js';

const TARGET = new URL('../process/index.js', import.meta.url).href;

interface ResolveResult {
  url: string;
  shortCircuit?: boolean;
}

export async function resolve(
  specifier: string,
  context: unknown,
  nextResolve: (specifier: string, context?: unknown) => Promise<ResolveResult>,
): Promise<ResolveResult> {
  if (specifier === PROCESS_MODULE) return { url: TARGET, shortCircuit: true };
  return nextResolve(specifier, context);
}
