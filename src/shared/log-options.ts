/**
 * The log options the client reads and the daemon applies: defaults, and the checks of sizes,
 * rates and retention counts. Shared because the daemon takes the same values from its environment
 * (daemon-wide defaults) that the client takes from config files (per app).
 */

import { isAbsolute } from 'node:path';
import { compileDateFormat } from './log-date-format.js';
import { parseSize } from './size.js';
import { boolean, integer, invalid, invalidValue, oneOf, record, string } from './validate.js';

/**
 * Rotation defaults: an app's two streams each keep a current file of at most 10 MiB and 4
 * rotated ones, so one app's logs stay within 2 x 5 x 10 MiB = 100 MiB on disk.
 */
export const LOG_DEFAULTS: LogDefaults = {
  maxSize: 10 * 1024 * 1024,
  retain: 4,
  compress: false,
  paceRate: 8 * 1024 * 1024,
};

/** Rotation below this would spend more on renames than on writing. */
export const MIN_LOG_MAX_SIZE = 64 * 1024;
export const MAX_LOG_RETAIN = 1000;

export interface RotationSettings {
  /** Bytes at which the current file is rotated; 0 never rotates. */
  maxSize: number;
  /** Rotated files kept per log file; older ones are deleted. */
  retain: number;
  /** Gzip rotated files. */
  compress: boolean;
}

/**
 * The daemon-wide defaults an app's own log options override: rotation, and the rate its logs
 * are paced to while other apps wait for CPU (docs/LOGS.md, "The neighbours").
 */
export interface LogDefaults extends RotationSettings {
  /** Bytes per second; 0 never paces. */
  paceRate: number;
}

/** Checks a rotation size: 0 (never rotate) or at least MIN_LOG_MAX_SIZE. Returns a reason when bad. */
export function checkMaxSize(bytes: number | null): string | null {
  if (bytes === null) return 'must be a size such as "10M" or "512K", or 0 to never rotate';
  if (bytes !== 0 && bytes < MIN_LOG_MAX_SIZE) return `must be 0 (never rotate) or at least 64K`;
  return null;
}

/** Pacing below one pipe read per second would be a stall, not a pace. */
const MIN_LOG_PACE_RATE = 64 * 1024;

/** Bytes per second from a size, optionally written as a rate: "8M", "8M/s", "512K/s". */
export function parseRate(value: unknown): number | null {
  return parseSize(typeof value === 'string' ? value.trim().replace(/\/s$/i, '') : value);
}

/** Checks a pace rate: 0 (never pace) or at least MIN_LOG_PACE_RATE. Returns a reason when bad. */
export function checkPaceRate(bytes: number | null): string | null {
  if (bytes === null) return 'must be a rate such as "8M" (bytes per second), or 0 to never pace';
  if (bytes !== 0 && bytes < MIN_LOG_PACE_RATE) return 'must be 0 (never pace) or at least 64K';
  return null;
}

/** A count of rotated files from an integer or a string of digits. */
function parseRetain(value: unknown): number | null {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) ? n : null;
}

/** Checks a count of rotated files kept: 0 to MAX_LOG_RETAIN. Returns a reason when bad. */
function checkRetain(count: number | null): string | null {
  if (count === null || count < 0 || count > MAX_LOG_RETAIN) return `must be a whole number from 0 to ${MAX_LOG_RETAIN}`;
  return null;
}

/** The numeric log options: how what a user writes is read, and what the number must be. */
const LOG_NUMBERS = {
  maxSize: { parse: parseSize, check: checkMaxSize },
  retain: { parse: parseRetain, check: checkRetain },
  paceRate: { parse: parseRate, check: checkPaceRate },
} as const;

/**
 * A numeric log option as a user wrote it, in a config file (per app) or in the SUPERVISOR_LOG_*
 * variable that sets the daemon-wide default: the number, or INVALID_REQUEST naming `field`
 * and echoing the value. Both places read it here, so they accept and refuse the same values
 * with the same words.
 */
export function logNumber(option: keyof typeof LOG_NUMBERS, value: unknown, field: string): number {
  const { parse, check } = LOG_NUMBERS[option];
  const n = parse(value);
  const problem = check(n);
  return problem ? invalidValue(field, problem, value) : (n as number);
}

/**
 * Daemon-wide log defaults from the daemon's environment (SUPERVISOR_LOG_MAX_SIZE,
 * SUPERVISOR_LOG_RETAIN, SUPERVISOR_LOG_COMPRESS=1, SUPERVISOR_LOG_PACE_RATE). Throws
 * INVALID_REQUEST naming the variable for a bad value, so no daemon starts with a setting it
 * would have to guess.
 */
export function logDefaultsFromEnv(env: NodeJS.ProcessEnv): LogDefaults {
  const settings = { ...LOG_DEFAULTS };
  // Unset and empty are the same: the default.
  const size = env['SUPERVISOR_LOG_MAX_SIZE'];
  if (size) settings.maxSize = logNumber('maxSize', size, 'SUPERVISOR_LOG_MAX_SIZE');
  const retain = env['SUPERVISOR_LOG_RETAIN'];
  if (retain) settings.retain = logNumber('retain', retain, 'SUPERVISOR_LOG_RETAIN');
  const compress = env['SUPERVISOR_LOG_COMPRESS'];
  if (compress) {
    if (!['0', '1', 'true', 'false'].includes(compress)) invalidValue('SUPERVISOR_LOG_COMPRESS', 'must be 1, 0, true or false', compress);
    settings.compress = compress === '1' || compress === 'true';
  }
  const pace = env['SUPERVISOR_LOG_PACE_RATE'];
  if (pace) settings.paceRate = logNumber('paceRate', pace, 'SUPERVISOR_LOG_PACE_RATE');
  return settings;
}

/** The log options of a config file (pm2's names), as a user writes them. */
export interface LogConfig {
  out_file?: string;
  out?: string;
  output?: string;
  out_log?: string;
  error_file?: string;
  err_file?: string;
  error?: string;
  err?: string;
  err_log?: string;
  log_file?: string | boolean;
  log?: string | boolean;
  merge_logs?: boolean;
  combine_logs?: boolean;
  log_date_format?: string;
  time?: boolean;
  log_type?: string;
  log_max_size?: number | string;
  log_retain?: number | string;
  log_compress?: boolean;
  log_pace_rate?: number | string;
}

/**
 * Every log key a config may use, once: its pm2 aliases, its `start` flag and its docs. The
 * client reads keys through this table, and docs/CONFIG.md's log rows are generated from it.
 */
export const LOG_OPTIONS = [
  { key: 'out_file', aliases: ['out', 'output', 'out_log'], cli: '-o, --output', type: 'path or `/dev/null`', defaultText: '`$SUPERVISOR_HOME/logs/<name>-out.log`', doc: 'stdout; relative to `cwd`; `/dev/null` (or `NULL`) discards it' },
  { key: 'error_file', aliases: ['err_file', 'error', 'err', 'err_log'], cli: '-e, --error', type: 'path or `/dev/null`', defaultText: '`$SUPERVISOR_HOME/logs/<name>-err.log`', doc: 'stderr, likewise; daemon notes go here too' },
  { key: 'log_file', aliases: ['log'], cli: '-l, --log [path]', type: 'path or `true`', defaultText: 'none', doc: 'a further file that gets both streams; `true`: `<name>.log` in the logs folder' },
  { key: 'merge_logs', aliases: ['combine_logs'], cli: '--[no-]merge-logs', type: 'boolean', defaultText: 'true', doc: 'one file per stream for every process; false: one per instance, `<file>-<instance>.log`' },
  { key: 'log_date_format', aliases: [], cli: '--log-date-format', type: 'pm2 date format', defaultText: 'none', doc: 'each line starts with the time in this format (`YYYY-MM-DD HH:mm:ss Z`...)' },
  { key: 'time', aliases: [], cli: '--time', type: 'boolean', defaultText: 'false', doc: 'each line starts with the time (ISO format) unless `log_date_format` says otherwise' },
  { key: 'log_type', aliases: [], cli: '--log-type', type: '`raw`, `json`', defaultText: '`raw`', doc: '`json`: one object per line with pm2\'s fields (`message`, `timestamp`, `type`, `process_id`, `app_name`)' },
  { key: 'log_max_size', aliases: [], cli: undefined, type: 'size', defaultText: '10M (`SUPERVISOR_LOG_MAX_SIZE`)', doc: 'rotate a file when it reaches this; 0 never rotates' },
  { key: 'log_retain', aliases: [], cli: undefined, type: 'integer, 0 to 1000', defaultText: '4 (`SUPERVISOR_LOG_RETAIN`)', doc: 'rotated files kept per log file' },
  { key: 'log_compress', aliases: [], cli: undefined, type: 'boolean', defaultText: 'false (`SUPERVISOR_LOG_COMPRESS`)', doc: 'gzip rotated files' },
  { key: 'log_pace_rate', aliases: [], cli: undefined, type: 'bytes per second', defaultText: '8M (`SUPERVISOR_LOG_PACE_RATE`)', doc: 'while processes of other apps wait for CPU, logs faster than this are read at this rate (the app waits in `write()`; no line is lost); 0 never paces' },
] as const satisfies readonly { key: keyof LogConfig; aliases: readonly (keyof LogConfig)[]; cli: string | undefined; type: string; defaultText: string; doc: string }[];

/** DISCARD as a file: nothing is written, and a stream with nowhere else to go is not even read. */
export const DISCARD = '/dev/null';

/** An app's log options as the daemon receives them (pm2's names in the config, these in the spec). */
export interface LogSpec {
  /** stdout file (absolute), DISCARD, or null for `$SUPERVISOR_HOME/logs/<name>-out.log`. */
  outFile: string | null;
  /** stderr file, the same way (`<name>-err.log`). */
  errFile: string | null;
  /** A file that gets both streams (pm2's log_file): a path, true for `<name>.log` in the logs folder, or null for none. */
  logFile: string | true | null;
  /** One file per stream for all processes (true), or one per instance: `<file>-<instance>.log`. */
  mergeLogs: boolean;
  /** pm2's log_date_format: each line is prefixed "<date>: ". Null: no prefix. */
  dateFormat: string | null;
  /** 'json': one JSON object per line with pm2's fields. */
  logType: 'raw' | 'json';
  /** Rotation for this app; null takes the daemon's default. */
  maxSize: number | null;
  retain: number | null;
  compress: boolean | null;
  /** Bytes per second the app's logs are paced to under CPU contention; 0 never; null takes the daemon's default. */
  paceRate: number | null;
}

export const DEFAULT_LOG_SPEC: LogSpec = {
  outFile: null,
  errFile: null,
  logFile: null,
  mergeLogs: true,
  dateFormat: null,
  logType: 'raw',
  maxSize: null,
  retain: null,
  compress: null,
  paceRate: null,
};

/** Checks a LogSpec that came over the wire (or from a saved file; absent means the defaults). */
export function validateLogSpec(value: unknown, field: string): LogSpec {
  if (value === undefined) return DEFAULT_LOG_SPEC;
  const v = record(value, field);
  const f = (key: string): string => `${field}.${key}`;
  const file = (key: string): string | null => {
    const path = v[key];
    if (path === null) return null;
    const text = string(path, f(key), { nonEmpty: true, max: 4096 });
    if (!isAbsolute(text)) invalid(`${f(key)} must be an absolute path`);
    return text;
  };
  const dateFormat = v['dateFormat'] === null ? null : string(v['dateFormat'], f('dateFormat'), { nonEmpty: true });
  if (dateFormat !== null) {
    try {
      compileDateFormat(dateFormat);
    } catch (error) {
      invalid(`${f('dateFormat')} ${(error as Error).message}`);
    }
  }
  const maxSize = v['maxSize'] === null ? null : integer(v['maxSize'], f('maxSize'), 0, Number.MAX_SAFE_INTEGER);
  const sizeProblem = maxSize === null ? null : checkMaxSize(maxSize);
  if (sizeProblem) invalid(`${f('maxSize')} ${sizeProblem}`);
  // Absent in specs saved before pacing existed: the daemon's default.
  const paceRate = v['paceRate'] === null || v['paceRate'] === undefined ? null : integer(v['paceRate'], f('paceRate'), 0, Number.MAX_SAFE_INTEGER);
  const paceProblem = paceRate === null ? null : checkPaceRate(paceRate);
  if (paceProblem) invalid(`${f('paceRate')} ${paceProblem}`);
  return {
    outFile: file('outFile'),
    errFile: file('errFile'),
    logFile: v['logFile'] === true ? true : file('logFile'),
    mergeLogs: boolean(v['mergeLogs'], f('mergeLogs')),
    dateFormat,
    logType: oneOf(v['logType'], f('logType'), ['raw', 'json'] as const),
    maxSize,
    retain: v['retain'] === null ? null : integer(v['retain'], f('retain'), 0, MAX_LOG_RETAIN),
    compress: v['compress'] === null ? null : boolean(v['compress'], f('compress')),
    paceRate,
  };
}
