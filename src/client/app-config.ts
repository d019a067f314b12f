/**
 * Turns what a user writes (a script on the command line, or an app in a config file, with
 * pm2's snake_case option names) into the AppSpec the daemon runs. The options, their pm2
 * names, kinds and defaults come from src/shared/app-options.ts; this module adds what needs
 * the client's machine: paths made absolute, commands found on PATH, the interpreter chosen,
 * the environment merged, units read.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, extname, resolve } from 'node:path';
import { APP_OPTIONS, EXEC_MODES, PM2_UNSUPPORTED, type AppConfig, type AppSpec, type OptionDef } from '../shared/app-options.js';
import { isSignalName, MAX_INSTANCES, validateAppName } from '../shared/app-spec-validate.js';
import { parseDuration } from '../shared/duration.js';
import { SupervisorError } from '../shared/errors.js';
import { parseSize } from '../shared/size.js';
import { invalid, invalidValue, isRecord } from '../shared/validate.js';
import { findCommand, findTsxLoader, type CommandFinder } from '../shared/commands.js';
import { LOG_OPTION_NAMES, toLogSpec } from './log-config.js';
import { closestKey } from './suggest.js';

export type { AppConfig };

export interface ConvertBase {
  /** Directory that relative paths start from (the config file's, or the shell's). */
  cwd: string;
  /** The environment of the start command; the app's env goes over it. */
  env: NodeJS.ProcessEnv;
  warn?: (line: string) => void;
  /** `--env <name>`: the app's `env_<name>` goes over its `env`. */
  envName?: string;
  /** `--strict`: unknown and unsupported keys are errors instead of warnings. */
  strict?: boolean;
  /** How commands are found (tests inject one); the real lookup by default. */
  findCommand?: CommandFinder;
  /**
   * The environment a running app of that name already has: the file's env goes over it
   * instead of over `env` (a deploy does not leak the deploying shell into running apps).
   */
  runningEnv?: (name: string) => Record<string, string> | undefined;
}

type Defs = Record<string, OptionDef>;
const OPTIONS = APP_OPTIONS as unknown as Defs;

/** Every key a config may use for an option, to the spec field it sets. */
const KEY_TO_FIELD = new Map<string, string>();
for (const [field, def] of Object.entries(OPTIONS)) {
  if (def.pm2 !== null) KEY_TO_FIELD.set(def.pm2, field);
  for (const alias of def.aliases ?? []) KEY_TO_FIELD.set(alias, field);
}
for (const key of LOG_OPTION_NAMES) KEY_TO_FIELD.set(key, 'logs');

const NODE_EXTENSIONS = new Set(['.js', '.mjs', '.cjs']);
const TYPESCRIPT_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);

/** The interpreter a script runs with when none is given, by its extension. */
export function interpreterFor(script: string): string {
  const ext = extname(script).toLowerCase();
  if (NODE_EXTENSIONS.has(ext)) return 'node';
  if (TYPESCRIPT_EXTENSIONS.has(ext)) return 'tsx';
  if (ext === '.py') return 'python3';
  if (ext === '.sh') return 'bash';
  return 'none';
}

/** The keys of one app: known ones pass; the rest are warned about or refused (see CONFIG.md). */
function checkKeys(config: Record<string, unknown>, base: ConvertBase, where: string): void {
  const ignore = (line: string, strictLine: string): void => {
    if (base.strict) invalid(`${where}: ${strictLine}`);
    base.warn?.(`${where}: ${line}`);
  };
  for (const key of Object.keys(config)) {
    if (KEY_TO_FIELD.has(key) || key.startsWith('env_')) continue;
    if (Object.prototype.hasOwnProperty.call(PM2_UNSUPPORTED, key)) {
      ignore(`ignoring pm2 option "${key}" (not supported: ${PM2_UNSUPPORTED[key]})`, `pm2 option "${key}" is not supported (${PM2_UNSUPPORTED[key]})`);
    } else {
      const near = closestKey(key, KEY_TO_FIELD.keys());
      if (near !== null) invalid(`${where}: unknown option "${key}" (did you mean "${near}"?)`);
      ignore(`ignoring unknown option "${key}"`, `unknown option "${key}"`);
    }
  }
}

/** The value a config gives for a field: its pm2 key first, then its aliases. */
function read(config: Record<string, unknown>, field: string): { key: string; value: unknown } {
  const def = OPTIONS[field] as OptionDef;
  for (const key of [def.pm2, ...(def.aliases ?? [])]) {
    if (key !== null && config[key] !== undefined) return { key, value: config[key] };
  }
  return { key: def.pm2 ?? field, value: undefined };
}

/** One option's value in spec units, from what the user wrote. */
function convert(def: OptionDef, value: unknown, field: string): unknown {
  if (value === undefined) return structuredClone(def.default);
  switch (def.kind) {
    case 'text':
    case 'optional-text':
      if (typeof value !== 'string' || value.length === 0) invalidValue(field, 'must be a non-empty string', value);
      return value;
    case 'flag':
      if (typeof value !== 'boolean') invalidValue(field, 'must be true or false', value);
      return value;
    case 'count': {
      const [min, max] = [def.min ?? 0, def.max ?? Number.MAX_SAFE_INTEGER];
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) invalidValue(field, `must be a whole number from ${min} to ${max}`, value);
      return value;
    }
    case 'duration':
      return duration(value as number | string, def.default as number, field, def.max);
    case 'size':
      return bytes(value as number | string, field);
    case 'list':
      if (typeof value !== 'string' && !Array.isArray(value)) invalidValue(field, 'must be a string or an array of strings', value);
      return toList(value as string | string[]);
    case 'exit-codes':
      if (typeof value !== 'number' && !Array.isArray(value)) invalidValue(field, 'must be an exit code or an array of them', value);
      return ([] as unknown[]).concat(value);
    case 'choice':
      if (typeof value !== 'string' || !(def.choices ?? []).includes(value)) invalidValue(field, `must be one of ${(def.choices ?? []).join(', ')}`, value);
      return value;
    case 'signal': {
      const signal = typeof value === 'string' ? value.toUpperCase() : '';
      if (!isSignalName(signal)) invalidValue(field, 'must be a signal name such as "SIGTERM"', value);
      return signal;
    }
    case 'cron':
      // pm2: 0 (or "0") turns it off, so a file can override an inherited expression.
      if (value === 0 || value === '0') return null;
      if (typeof value !== 'string' || value.trim().length === 0) invalidValue(field, 'must be a cron expression such as "0 3 * * *", or 0 for none', value);
      return value.trim();
    case 'watch':
      if (value === false) return [];
      // pm2 watches the app's directory for `true` and for an empty array.
      if (value === true || (Array.isArray(value) && value.length === 0)) return ['.'];
      if (typeof value === 'string' && value.length > 0) return [value];
      if (!Array.isArray(value) || !value.every((path) => typeof path === 'string' && path.length > 0)) invalidValue(field, 'must be true, false, a path or an array of paths', value);
      return [...(value as string[])];
    case 'env':
    case 'instances':
    case 'logs':
      throw new Error(`${field}: derived options are converted by toAppSpec`);
  }
}

export function toAppSpec(config: AppConfig, base: ConvertBase, where = 'app'): AppSpec {
  if (!isRecord(config)) invalid(`${where} must be an object`);
  const raw = config as Record<string, unknown>;
  checkKeys(raw, base, where);
  const f = (key: string): string => `${where}.${key}`;

  // The options that need nothing but their own value.
  const spec: Record<string, unknown> = {};
  for (const [field, def] of Object.entries(OPTIONS)) {
    if (def.derived) continue;
    const { key, value } = read(raw, field);
    spec[field] = convert(def, value, f(key));
  }

  // Script, directory and environment.
  if (typeof raw['script'] !== 'string' || raw['script'].length === 0) invalid(`${where}: "script" is required`);
  const cwdValue = raw['cwd'];
  if (cwdValue !== undefined && typeof cwdValue !== 'string') invalidValue(f('cwd'), 'must be a string', cwdValue);
  const cwd = resolve(base.cwd, cwdValue ?? '.');
  const fileEnv = appEnv(raw, base, where);
  // Commands are looked up as the deploying shell would, with the file's env over it.
  const env = { ...stringEnv(base.env), ...fileEnv };
  const find = base.findCommand ?? findCommand;
  const written = raw['script'];
  const local = resolve(cwd, written);
  let script = local;
  let command = false;
  if (!existsSync(local)) {
    const found = written.includes('/') ? null : find(written, { cwd, env });
    if (found === null) {
      const also = written.includes('/') ? '' : `, and no command "${written}" is in node_modules/.bin or on PATH`;
      throw new SupervisorError('FAILED', `script ${local} does not exist${also}`);
    }
    script = found.path;
    command = true;
  }

  // Interpreter and mode. Mistakes in the file (exit 4) are reported before missing commands (1).
  const { key: interpreterKey, value: interpreterValue } = read(raw, 'interpreter');
  if (interpreterValue !== undefined && (typeof interpreterValue !== 'string' || interpreterValue.length === 0)) invalidValue(f(interpreterKey), 'must be a non-empty string', interpreterValue);
  // A command found on PATH runs as a shell would run it: itself, through its #! line.
  let interpreter = (interpreterValue as string | undefined) ?? (command ? 'none' : interpreterFor(script));
  // tsx runs as Node with tsx loaded, not as the tsx CLI: IPC, the runtime and cluster mode work.
  const node = interpreter === 'node' || interpreter === 'tsx';
  const instancesValue = raw['instances'];
  const instances = parseInstances((instancesValue ?? 1) as number | string, f('instances'));
  const modeValue = raw['exec_mode'];
  const explicitMode = typeof modeValue === 'string' ? modeValue.replace(/_mode$/, '') : modeValue;
  if (explicitMode !== undefined && !(EXEC_MODES as readonly string[]).includes(explicitMode as string)) invalidValue(f('exec_mode'), 'must be fork or cluster', modeValue);
  const mode = (explicitMode ?? (node && instancesValue !== undefined ? 'cluster' : 'fork')) as AppSpec['mode'];
  if (mode === 'cluster' && !node) invalid(`${where}: cluster mode runs Node scripts only; ${basename(script)} would run with ${interpreter}`);

  const interpreterArgs = spec['interpreterArgs'] as string[];
  if (interpreter === 'tsx') {
    const loader = findTsxLoader({ cwd, env }, find);
    if (loader === null) throw new SupervisorError('FAILED', `interpreter tsx does not exist: not in node_modules of ${cwd} or on PATH (npm install --save-dev tsx)`);
    interpreter = 'node';
    interpreterArgs.push('--import', loader);
  } else if (interpreter !== 'node' && interpreter !== 'none') {
    const found = find(interpreter, { cwd, env });
    if (found === null) throw new SupervisorError('FAILED', `interpreter ${interpreter} does not exist (not a file, not in node_modules/.bin or on PATH)`);
    // Found outside PATH (node_modules/.bin, a relative path): the daemon needs where.
    if (!found.onPath) interpreter = found.path;
  }
  if (mode === 'fork' && explicitMode === undefined && instances > 1 && !node) {
    base.warn?.(
      `${where}: ${basename(script)} runs with ${interpreter === 'none' ? 'itself' : interpreter}, not Node: ${instances} separate fork-mode processes, which share no port (cluster mode needs Node)`,
    );
  }

  const nameValue = raw['name'];
  if (nameValue !== undefined && typeof nameValue !== 'string') invalidValue(f('name'), 'must be a string', nameValue);
  const name = validateAppName(nameValue ?? basename(script, extname(script)), f('name'));
  const running = base.runningEnv?.(name);
  return {
    ...(spec as Omit<AppSpec, 'name' | 'script' | 'cwd' | 'env' | 'mode' | 'instances' | 'interpreter'>),
    name,
    script,
    cwd,
    env: running ? { ...running, ...fileEnv } : env,
    mode,
    instances,
    interpreter,
    interpreterArgs,
    logs: toLogSpec(raw, cwd, where),
  };
}

/** What the file sets: `env`, then `env_<name>` with `--env <name>` over it. */
function appEnv(raw: Record<string, unknown>, base: ConvertBase, where: string): Record<string, string> {
  const layers: Record<string, unknown>[] = [];
  for (const key of ['env', ...(base.envName !== undefined ? [`env_${base.envName}`] : [])]) {
    const value = raw[key];
    if (value === undefined) {
      if (key !== 'env') base.warn?.(`${where}: no "${key}" for --env ${base.envName}; using "env" alone`);
      continue;
    }
    if (!isRecord(value)) invalid(`${where}.${key} must be an object`);
    layers.push(value);
  }
  return Object.assign({}, ...layers.map(stringEnv)) as Record<string, string>;
}

export function parseInstances(value: number | string, field: string): number {
  const cores = availableParallelism();
  if (value === 'max' || value === 0 || value === '0') return cores;
  const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n)) invalidValue(field, 'must be a number or "max"', value);
  const count = n < 0 ? cores + n : n;
  if (count < 1 || count > MAX_INSTANCES) invalidValue(field, `must come to 1..${MAX_INSTANCES} processes`, value);
  return count;
}

/** Milliseconds from a number (ms) or a string such as "500ms", "5s", "2m", "1h", at most `max`. */
export function duration(value: number | string | undefined, fallback: number, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const ms = typeof value === 'number' ? (Number.isInteger(value) && value >= 0 ? value : null) : typeof value === 'string' ? parseDuration(value) : null;
  if (ms === null || ms > max) invalidValue(field, `must be a duration such as 5000, "500ms", "5s" or "2m"${max < Number.MAX_SAFE_INTEGER ? `, at most ${hours(max)}` : ''}`, value);
  return ms;
}

function hours(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : `${ms}ms`;
}

/** Bytes from a number or a string such as "300M", "1G", "512K". 0 means no limit. */
export function bytes(value: number | string | undefined, field: string): number {
  if (value === undefined) return 0;
  const size = parseSize(value);
  if (size === null) invalidValue(field, 'must be a size such as "300M" or "1G"', value);
  return size;
}

function toList(value: string | string[]): string[] {
  if (Array.isArray(value)) return value.map(String);
  return value.split(' ').filter((part) => part.length > 0);
}

/** Values as strings (objects as JSON, as pm2 does); undefined and null dropped. */
export function stringEnv(env: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || value === null) continue;
    out[key] = typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return out;
}
