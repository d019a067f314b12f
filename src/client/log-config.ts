/**
 * pm2's log options, as written in a config file or on the command line, turned into the
 * LogSpec the daemon applies: out_file, error_file, log_file, "/dev/null", merge_logs,
 * log_date_format, time, log_type, and this project's rotation options log_max_size,
 * log_retain, log_compress, log_pace_rate. Paths are made absolute against the app's cwd,
 * "~" is the user's home, and pm2's "NULL" means /dev/null as it does in pm2.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { compileDateFormat, TIME_DATE_FORMAT } from '../shared/log-date-format.js';
import { DEFAULT_LOG_SPEC, DISCARD, LOG_OPTIONS, logNumber, type LogConfig, type LogSpec } from '../shared/log-options.js';
import { invalid, invalidValue } from '../shared/validate.js';

export type { LogConfig };

/** Every key of the log options, aliases included. */
export const LOG_OPTION_NAMES: readonly string[] = LOG_OPTIONS.flatMap((option) => [option.key, ...option.aliases]);

/** The value a config gives for a log option: its key first, then its aliases (pm2's order). */
function read(config: LogConfig, key: (typeof LOG_OPTIONS)[number]['key'], where: string): { key: keyof LogConfig; value: unknown } {
  const option = LOG_OPTIONS.find((o) => o.key === key) as (typeof LOG_OPTIONS)[number];
  const given = ([option.key, ...option.aliases] as (keyof LogConfig)[]).filter((name) => config[name] !== undefined);
  // Two names of one option (error_file and err_file) is a mistake more likely than a wish.
  if (given.length > 1) invalid(`${where}: ${given.join(' and ')} are the same option; give one`);
  const [name] = given;
  return name === undefined ? { key, value: undefined } : { key: name, value: config[name] };
}

export function toLogSpec(config: LogConfig, cwd: string, where: string): LogSpec {
  const path = (key: string, value: unknown): string => {
    if (typeof value !== 'string' || value.length === 0) invalidValue(`${where}.${key}`, 'must be a file path (or "/dev/null")', value);
    if (value === DISCARD || value === 'NULL') return DISCARD;
    if (value === '~' || value.startsWith('~/')) return join(homedir(), value.slice(1));
    return isAbsolute(value) ? value : resolve(cwd, value);
  };
  const flag = (option: 'merge_logs' | 'time' | 'log_compress'): boolean | undefined => {
    const { key, value } = read(config, option, where);
    if (value !== undefined && typeof value !== 'boolean') invalidValue(`${where}.${key}`, 'must be true or false', value);
    return value as boolean | undefined;
  };
  const out = read(config, 'out_file', where);
  const err = read(config, 'error_file', where);
  const log = read(config, 'log_file', where);

  let dateFormat: string | null = null;
  const format = read(config, 'log_date_format', where).value;
  if (format !== undefined) {
    if (typeof format !== 'string') invalidValue(`${where}.log_date_format`, 'must be a string such as "YYYY-MM-DD HH:mm:ss Z"', format);
    try {
      compileDateFormat(format);
    } catch (error) {
      invalid(`${where}.log_date_format ${(error as Error).message}`);
    }
    dateFormat = format;
  }
  // pm2 lets time: true replace any log_date_format; here the format written out wins.
  if (dateFormat === null && flag('time')) dateFormat = TIME_DATE_FORMAT;

  const logType = read(config, 'log_type', where).value ?? 'raw';
  if (logType !== 'raw' && logType !== 'json') invalidValue(`${where}.log_type`, 'must be "json" or "raw"', logType);

  const number = (key: 'log_max_size' | 'log_retain' | 'log_pace_rate', option: Parameters<typeof logNumber>[0]): number | null => {
    const value = read(config, key, where).value;
    return value === undefined ? null : logNumber(option, value, `${where}.${key}`);
  };
  const maxSize = number('log_max_size', 'maxSize');
  const retain = number('log_retain', 'retain');
  const paceRate = number('log_pace_rate', 'paceRate');
  return {
    outFile: out.value === undefined ? null : path(out.key, out.value),
    errFile: err.value === undefined ? null : path(err.key, err.value),
    logFile: log.value === undefined || log.value === false ? null : log.value === true ? true : path(log.key, log.value),
    mergeLogs: flag('merge_logs') ?? DEFAULT_LOG_SPEC.mergeLogs,
    dateFormat,
    logType,
    maxSize,
    retain,
    compress: flag('log_compress') ?? null,
    paceRate,
  };
}
