/**
 * Config files: `*.config.js|cjs|mjs` (evaluated here, in the client: the daemon never runs
 * user code) or `.json`, holding `{ apps: [...] }`, an array of apps, or one app.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AppSpec } from '../shared/app-spec.js';
import { SupervisorError } from '../shared/errors.js';
import { isRecord } from '../shared/validate.js';
import { toAppSpec, type AppConfig } from './app-config.js';

export function isConfigFile(path: string): boolean {
  return /\.config\.(c|m)?js$/.test(path) || path.endsWith('.json');
}

export async function loadConfigFile(path: string, env: NodeJS.ProcessEnv, warn: (line: string) => void, strict = false): Promise<AppSpec[]> {
  const file = resolve(path);
  let content: unknown;
  try {
    if (file.endsWith('.json')) content = JSON.parse(await readFile(file, 'utf8'));
    else {
      const module = (await import(pathToFileURL(file).href)) as { default?: unknown };
      content = module.default ?? module;
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ERR_MODULE_NOT_FOUND') throw new SupervisorError('FAILED', `config file ${file} does not exist`);
    throw new SupervisorError('INVALID_REQUEST', `cannot read config file ${file}: ${(error as Error).message.split('\n')[0]}`);
  }
  const apps = isRecord(content) && Array.isArray(content['apps']) ? content['apps'] : Array.isArray(content) ? content : [content];
  if (apps.length === 0) throw new SupervisorError('INVALID_REQUEST', `config file ${file} lists no apps`);
  const base = { cwd: dirname(file), env, warn, strict };
  return apps.map((app, i) => toAppSpec(app as AppConfig, base, `${file}: apps[${i}]`));
}
