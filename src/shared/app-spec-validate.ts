import { isAbsolute } from 'node:path';
import { constants } from 'node:os';
import { APP_DEFAULTS, APP_OPTIONS, MAX_INSTANCES, type AppSpec, type OptionDef } from './app-options.js';
import { validateLogSpec } from './log-options.js';
import { boolean, integer, invalid, oneOf, record, string, stringArray, stringMap } from './validate.js';

export { MAX_INSTANCES };

/** Bounds on what cron_restart and watch make the daemon hold (one watcher per path). */
const MAX_CRON_LENGTH = 256;
const MAX_WATCH_PATHS = 64;
const MAX_IGNORE_WATCH = 256;

/** Names appear in file names and on the command line next to numeric ids. */
const NAME_PATTERN = /^(?![0-9]+$)[A-Za-z0-9_.@-][A-Za-z0-9_.@ -]{0,99}$/;
/** What a shell accepts as a variable name. */
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export function isSignalName(value: string): value is NodeJS.Signals {
  return Object.prototype.hasOwnProperty.call(constants.signals, value);
}

export function validateAppName(value: unknown, field = 'name'): string {
  const name = string(value, field, { nonEmpty: true });
  if (!NAME_PATTERN.test(name) || name === 'all') {
    invalid(`${field} "${name}" is not a valid app name (letters, digits, . _ - @, not all digits, not "all")`);
  }
  return name;
}

/** Checks one field of a spec by its kind in the table; values are already in spec units. */
function checkField(def: OptionDef, value: unknown, field: string): unknown {
  switch (def.kind) {
    case 'text':
      return string(value, field, { nonEmpty: true });
    case 'optional-text':
      return value === null ? null : string(value, field, { nonEmpty: true });
    case 'flag':
      return boolean(value, field);
    case 'count':
    case 'duration':
    case 'size':
    case 'instances':
      return integer(value, field, def.min ?? 0, def.max ?? Number.MAX_SAFE_INTEGER);
    case 'list':
      return stringArray(value, field);
    case 'exit-codes':
      if (!Array.isArray(value)) invalid(`${field} must be an array of exit codes`);
      return value.map((code, i) => integer(code, `${field}[${i}]`, def.min ?? 0, def.max ?? 255));
    case 'choice':
      return oneOf(value, field, def.choices ?? []);
    case 'signal': {
      const signal = string(value, field);
      if (!isSignalName(signal)) invalid(`${field} "${signal}" is not a signal name`);
      return signal;
    }
    case 'cron':
      return value === null ? null : string(value, field, { nonEmpty: true, max: MAX_CRON_LENGTH });
    case 'watch':
      if (!Array.isArray(value) || value.length > MAX_WATCH_PATHS) invalid(`${field} must be an array of at most ${MAX_WATCH_PATHS} paths`);
      return value.map((path, i) => string(path, `${field}[${i}]`, { nonEmpty: true, max: 4096 }));
    case 'env':
      return stringMap(value, field);
    case 'logs':
      return validateLogSpec(value, field);
  }
}

/**
 * Checks every field of an AppSpec that came over the wire (or from dump.json); the daemon
 * trusts it afterwards. Unknown fields are dropped. With `fillDefaults` (dump.json written by
 * an older version), a missing field that has a default takes it.
 */
export function validateAppSpec(value: unknown, field = 'app', options: { fillDefaults?: boolean } = {}): AppSpec {
  const v = record(value, field);
  const f = (key: string): string => `${field}.${key}`;
  const spec: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(APP_OPTIONS) as [keyof AppSpec, OptionDef][]) {
    const raw = v[key] === undefined && options.fillDefaults && key in APP_DEFAULTS ? APP_DEFAULTS[key as keyof typeof APP_DEFAULTS] : v[key];
    spec[key] = checkField(def, raw, f(key));
  }
  const checked = spec as AppSpec;
  validateAppName(checked.name, f('name'));
  if (!isAbsolute(checked.script)) invalid(`${f('script')} must be an absolute path`);
  if (!isAbsolute(checked.cwd)) invalid(`${f('cwd')} must be an absolute path`);
  if (checked.mode === 'cluster' && checked.interpreter !== 'node') invalid(`cluster mode runs Node scripts only (interpreter is "${checked.interpreter}")`);
  if (!ENV_NAME_PATTERN.test(checked.instanceVar)) invalid(`${f('instanceVar')} "${checked.instanceVar}" is not an environment variable name`);
  if (checked.incrementVar !== null && !ENV_NAME_PATTERN.test(checked.incrementVar)) invalid(`${f('incrementVar')} "${checked.incrementVar}" is not an environment variable name`);
  validateAppName(checked.namespace, f('namespace'));
  if (checked.ignoreWatch.length > MAX_IGNORE_WATCH) invalid(`${f('ignoreWatch')} has more than ${MAX_IGNORE_WATCH} patterns`);
  return checked;
}
