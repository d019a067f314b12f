/**
 * Config files, evaluated here in the client (the daemon never runs user code):
 * - `*.config.js|cjs|mjs`: imported; `module.exports` or `export default`;
 * - `.json`: JSON, or failing that JSON5 (pm2 evaluates .json files as JavaScript, so comments,
 *   unquoted keys and trailing commas are common in them); `.json5`: JSON5;
 * - `.yml`, `.yaml`: YAML.
 * The content is `{ apps: [...] }`, an array of apps, or one app. The parsers for YAML and
 * JSON5 are imported only when such a file is read.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AppSpec } from '../shared/app-spec.js';
import { requireCommonJs } from '../shared/bundle.js';
import { SupervisorError } from '../shared/errors.js';
import { isRecord } from '../shared/validate.js';
import { toAppSpec, type AppConfig, type ConvertBase } from './app-config.js';

export { isConfigFile } from './config-path.js';

interface LoadOptions {
  warn: (line: string) => void;
  /** `--env <name>`: `env_<name>` goes over `env`. */
  envName?: string;
  /** `--only a,b`: the apps to take, by name; an unknown name is an error. */
  only?: readonly string[];
  strict?: boolean;
  /** See ConvertBase.runningEnv. */
  runningEnv?: (name: string) => Record<string, string> | undefined;
}

async function parse(file: string): Promise<unknown> {
  if (/\.ya?ml$/.test(file)) {
    const text = await readFile(file, 'utf8');
    const { load } = requireCommonJs('js-yaml') as typeof import('js-yaml');
    return load(text, { filename: file });
  }
  if (/\.json5?$/.test(file)) {
    const text = await readFile(file, 'utf8');
    if (file.endsWith('.json')) {
      try {
        return JSON.parse(text);
      } catch {
        // pm2 reads .json files as JavaScript: give JSON5 a try before giving up.
      }
    }
    const JSON5 = requireCommonJs('json5') as typeof import('json5');
    return JSON5.parse(text);
  }
  const module = (await import(pathToFileURL(file).href)) as { default?: unknown };
  return module.default ?? module;
}

export async function loadConfigFile(path: string, env: NodeJS.ProcessEnv, options: LoadOptions): Promise<AppSpec[]> {
  const file = resolve(path);
  let content: unknown;
  try {
    content = await parse(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ERR_MODULE_NOT_FOUND') throw new SupervisorError('FAILED', `config file ${file} does not exist`);
    throw new SupervisorError('INVALID_REQUEST', `cannot read config file ${file}: ${(error as Error).message.split('\n')[0]}`);
  }
  const apps = isRecord(content) && Array.isArray(content['apps']) ? content['apps'] : Array.isArray(content) ? content : [content];
  if (apps.length === 0) throw new SupervisorError('INVALID_REQUEST', `config file ${file} lists no apps`);
  const base: ConvertBase = {
    cwd: dirname(file),
    env,
    warn: options.warn,
    ...(options.envName !== undefined && { envName: options.envName }),
    ...(options.strict !== undefined && { strict: options.strict }),
    ...(options.runningEnv !== undefined && { runningEnv: options.runningEnv }),
  };
  const picked = options.only === undefined ? apps.map((app, i) => ({ app, i })) : pick(apps, options.only, file);
  return picked.map(({ app, i }) => toAppSpec(app as AppConfig, base, `${file}: apps[${i}]`));
}

/** The apps `--only` names, in the file's order; a name the file does not have is an error. */
function pick(apps: unknown[], only: readonly string[], file: string): { app: unknown; i: number }[] {
  const nameOf = (app: unknown): unknown => (isRecord(app) ? app['name'] : undefined);
  const names = new Set(apps.map(nameOf));
  const missing = only.filter((name) => !names.has(name));
  if (missing.length > 0) {
    throw new SupervisorError('INVALID_REQUEST', `--only ${missing.join(',')}: no app of that name in ${file} (it has ${[...names].filter((n) => typeof n === 'string').join(', ') || 'no named apps'})`);
  }
  return apps.map((app, i) => ({ app, i })).filter(({ app }) => only.includes(nameOf(app) as string));
}
