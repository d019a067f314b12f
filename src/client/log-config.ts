/**
 * pm2's log options, as written in a config file or on the command line, turned into the
 * LogSpec the daemon applies: out_file, error_file, log_file, "/dev/null", merge_logs,
 * log_date_format, time, log_type, and this project's rotation options log_max_size,
 * log_retain, log_compress. Paths are made absolute against the app's cwd, "~" is the
 * user's home, and pm2's "NULL" means /dev/null as it does in pm2.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { compileDateFormat, TIME_DATE_FORMAT } from '../shared/log-date-format.js';
import { checkMaxSize, checkRetain, DEFAULT_LOG_SPEC, DISCARD, parseSize, type LogSpec } from '../shared/log-options.js';
import { invalid } from '../shared/validate.js';

/** The log options of AppConfig. */
export interface LogConfig {
  out_file?: string;
  error_file?: string;
  /** pm2's other name for error_file. */
  err_file?: string;
  log_file?: string | boolean;
  merge_logs?: boolean;
  /** pm2's other name for merge_logs. */
  combine_logs?: boolean;
  log_date_format?: string;
  time?: boolean;
  log_type?: string;
  log_max_size?: number | string;
  log_retain?: number | string;
  log_compress?: boolean;
}

export const LOG_OPTION_NAMES = [
  'out_file', 'error_file', 'err_file', 'log_file', 'merge_logs', 'combine_logs', 'log_date_format', 'time', 'log_type',
  'log_max_size', 'log_retain', 'log_compress',
] as const;

export function toLogSpec(config: LogConfig, cwd: string, where: string): LogSpec {
  const path = (key: 'out_file' | 'error_file' | 'err_file' | 'log_file', value: unknown): string => {
    if (typeof value !== 'string' || value.length === 0) invalid(`${where}.${key} must be a file path (or "/dev/null")`);
    if (value === DISCARD || value === 'NULL') return DISCARD;
    if (value === '~' || value.startsWith('~/')) return join(homedir(), value.slice(1));
    return isAbsolute(value) ? value : resolve(cwd, value);
  };
  const flag = (key: 'merge_logs' | 'combine_logs' | 'time' | 'log_compress'): boolean | undefined => {
    const value = config[key];
    if (value !== undefined && typeof value !== 'boolean') invalid(`${where}.${key} must be true or false`);
    return value;
  };
  if (config.error_file !== undefined && config.err_file !== undefined) invalid(`${where}: error_file and err_file are the same option; give one`);
  const errFile = config.error_file ?? config.err_file;
  const logFile = config.log_file;

  let dateFormat: string | null = null;
  if (config.log_date_format !== undefined) {
    if (typeof config.log_date_format !== 'string') invalid(`${where}.log_date_format must be a string such as "YYYY-MM-DD HH:mm:ss Z"`);
    try {
      compileDateFormat(config.log_date_format);
    } catch (error) {
      invalid(`${where}.log_date_format ${(error as Error).message}`);
    }
    dateFormat = config.log_date_format;
  }
  // pm2 lets time: true replace any log_date_format; here the format written out wins.
  if (dateFormat === null && flag('time')) dateFormat = TIME_DATE_FORMAT;

  const logType = config.log_type ?? 'raw';
  if (logType !== 'raw' && logType !== 'json') invalid(`${where}.log_type must be "json" or "raw"`);

  let maxSize: number | null = null;
  if (config.log_max_size !== undefined) {
    maxSize = parseSize(config.log_max_size);
    const problem = checkMaxSize(maxSize);
    if (problem) invalid(`${where}.log_max_size ${problem}`);
  }
  let retain: number | null = null;
  if (config.log_retain !== undefined) {
    const problem = checkRetain(config.log_retain);
    if (problem) invalid(`${where}.log_retain ${problem}`);
    retain = Number(config.log_retain);
  }
  const mergeLogs = flag('merge_logs') ?? flag('combine_logs') ?? DEFAULT_LOG_SPEC.mergeLogs;
  return {
    outFile: config.out_file === undefined ? null : path('out_file', config.out_file),
    errFile: errFile === undefined ? null : path(config.error_file !== undefined ? 'error_file' : 'err_file', errFile),
    logFile: logFile === undefined || logFile === false ? null : logFile === true ? true : path('log_file', logFile),
    mergeLogs,
    dateFormat,
    logType,
    maxSize,
    retain,
    compress: flag('log_compress') ?? null,
  };
}
