/**
 * Turns what a user writes (a script on the command line, or an app in a config file, with
 * pm2's snake_case option names) into the AppSpec the daemon runs. This is where paths are
 * made absolute, the interpreter is chosen and durations like "5s" are read.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, extname, resolve } from 'node:path';
import { APP_DEFAULTS, BALANCE_STRATEGIES, EXEC_MODES, type AppSpec } from '../shared/app-spec.js';
import { isSignalName, MAX_INSTANCES, validateAppName } from '../shared/app-spec-validate.js';
import { SupervisorError } from '../shared/errors.js';
import { invalid, isRecord } from '../shared/validate.js';

/** An app as a user writes it, in a config file or through the API. */
export interface AppConfig {
  name?: string;
  script: string;
  args?: string | string[];
  cwd?: string;
  env?: Record<string, string | number | boolean>;
  instances?: number | string;
  exec_mode?: string;
  interpreter?: string;
  interpreter_args?: string | string[];
  node_args?: string | string[];
  balance?: string;
  kill_signal?: string;
  kill_timeout?: number | string;
  shutdown_with_message?: boolean;
  autorestart?: boolean;
  wait_ready?: boolean;
  listen_timeout?: number | string;
  min_uptime?: number | string;
  max_restarts?: number;
  restart_delay?: number | string;
  exp_backoff_restart_delay?: number | string;
  backoff_cap?: number | string;
  retry_after_crash_loop?: boolean;
  stop_exit_codes?: number | number[];
  max_memory_restart?: number | string;
  queue_size?: number;
  queue_timeout?: number | string;
  drain_idle_timeout?: number | string;
  drain_timeout?: number | string;
}

const KNOWN = new Set<string>([
  'name', 'script', 'args', 'cwd', 'env', 'instances', 'exec_mode', 'interpreter', 'interpreter_args', 'node_args',
  'balance', 'kill_signal', 'kill_timeout', 'shutdown_with_message', 'autorestart', 'wait_ready', 'listen_timeout',
  'min_uptime', 'max_restarts', 'restart_delay', 'exp_backoff_restart_delay', 'backoff_cap', 'retry_after_crash_loop',
  'stop_exit_codes', 'max_memory_restart', 'queue_size', 'queue_timeout', 'drain_idle_timeout', 'drain_timeout',
]);

/** pm2 options that have no meaning here; a config written for pm2 still loads, with a warning. */
const IGNORED_PM2 = new Set<string>([
  'watch', 'ignore_watch', 'watch_options', 'log_date_format', 'merge_logs', 'combine_logs', 'out_file', 'error_file',
  'log_file', 'pid_file', 'time', 'vizion', 'autostart', 'source_map_support', 'instance_var', 'filter_env',
  'increment_var', 'namespace', 'cron_restart', 'force', 'post_update', 'env_production', 'env_development',
]);

const NODE_EXTENSIONS = new Set(['.js', '.mjs', '.cjs']);

export function interpreterFor(script: string): string {
  const ext = extname(script).toLowerCase();
  if (NODE_EXTENSIONS.has(ext)) return 'node';
  if (ext === '.py') return 'python3';
  if (ext === '.sh') return 'bash';
  return 'none';
}

export function toAppSpec(config: AppConfig, base: { cwd: string; env: NodeJS.ProcessEnv; warn?: (line: string) => void }, where = 'app'): AppSpec {
  if (!isRecord(config)) invalid(`${where} must be an object`);
  for (const key of Object.keys(config)) {
    if (KNOWN.has(key)) continue;
    if (IGNORED_PM2.has(key)) base.warn?.(`${where}: ignoring pm2 option "${key}" (not supported)`);
    else invalid(`${where}: unknown option "${key}"`);
  }
  if (typeof config.script !== 'string' || config.script.length === 0) invalid(`${where}: "script" is required`);
  for (const key of ['cwd', 'exec_mode', 'interpreter', 'balance', 'kill_signal'] as const) {
    if (config[key] !== undefined && typeof config[key] !== 'string') invalid(`${where}.${key} must be a string`);
  }
  for (const key of ['args', 'interpreter_args', 'node_args'] as const) {
    const value = config[key];
    if (value !== undefined && typeof value !== 'string' && !Array.isArray(value)) {
      invalid(`${where}.${key} must be a string or an array of strings`);
    }
  }
  for (const key of ['max_restarts', 'queue_size'] as const) {
    const value = config[key];
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < 0)) invalid(`${where}.${key} must be a whole number`);
  }
  for (const key of ['autorestart', 'wait_ready', 'shutdown_with_message', 'retry_after_crash_loop'] as const) {
    if (config[key] !== undefined && typeof config[key] !== 'boolean') invalid(`${where}.${key} must be true or false`);
  }
  const cwd = resolve(base.cwd, config.cwd ?? '.');
  const script = resolve(cwd, config.script);
  if (!existsSync(script)) throw new SupervisorError('FAILED', `script ${script} does not exist`);
  const interpreter = config.interpreter ?? interpreterFor(script);
  const instances = parseInstances(config.instances ?? APP_DEFAULTS.instances, `${where}.instances`);
  const explicitMode = config.exec_mode?.replace(/_mode$/, '');
  if (explicitMode !== undefined && !(EXEC_MODES as readonly string[]).includes(explicitMode)) invalid(`${where}.exec_mode must be fork or cluster`);
  const mode = (explicitMode ?? (interpreter === 'node' && config.instances !== undefined ? 'cluster' : 'fork')) as AppSpec['mode'];
  if (mode === 'cluster' && interpreter !== 'node') invalid(`${where}: cluster mode runs Node scripts only; ${basename(script)} would run with ${interpreter}`);
  const balance = config.balance ?? APP_DEFAULTS.balance;
  if (!(BALANCE_STRATEGIES as readonly string[]).includes(balance)) invalid(`${where}.balance must be one of ${BALANCE_STRATEGIES.join(', ')}`);
  const killSignal = (config.kill_signal ?? APP_DEFAULTS.killSignal).toUpperCase();
  if (!isSignalName(killSignal)) invalid(`${where}.kill_signal "${config.kill_signal}" is not a signal name`);
  const stopExitCodes = config.stop_exit_codes === undefined ? [] : ([] as number[]).concat(config.stop_exit_codes);

  return {
    name: validateAppName(config.name ?? basename(script, extname(script)), `${where}.name`),
    script,
    args: toList(config.args),
    cwd,
    env: { ...stringEnv(base.env), ...stringEnv(config.env ?? {}) },
    mode,
    instances,
    interpreter,
    interpreterArgs: toList(config.interpreter_args ?? config.node_args),
    balance: balance as AppSpec['balance'],
    killSignal,
    killTimeoutMs: duration(config.kill_timeout, APP_DEFAULTS.killTimeoutMs, `${where}.kill_timeout`),
    shutdownWithMessage: config.shutdown_with_message ?? APP_DEFAULTS.shutdownWithMessage,
    autorestart: config.autorestart ?? APP_DEFAULTS.autorestart,
    waitReady: config.wait_ready ?? APP_DEFAULTS.waitReady,
    listenTimeoutMs: duration(config.listen_timeout, APP_DEFAULTS.listenTimeoutMs, `${where}.listen_timeout`),
    minUptimeMs: duration(config.min_uptime, APP_DEFAULTS.minUptimeMs, `${where}.min_uptime`),
    maxRestarts: config.max_restarts ?? APP_DEFAULTS.maxRestarts,
    restartDelayMs: duration(config.restart_delay, APP_DEFAULTS.restartDelayMs, `${where}.restart_delay`),
    expBackoffRestartDelayMs: duration(config.exp_backoff_restart_delay, APP_DEFAULTS.expBackoffRestartDelayMs, `${where}.exp_backoff_restart_delay`),
    backoffCapMs: duration(config.backoff_cap, APP_DEFAULTS.backoffCapMs, `${where}.backoff_cap`),
    retryAfterCrashLoop: config.retry_after_crash_loop ?? APP_DEFAULTS.retryAfterCrashLoop,
    stopExitCodes,
    maxMemoryRestart: bytes(config.max_memory_restart, `${where}.max_memory_restart`),
    queueSize: config.queue_size ?? APP_DEFAULTS.queueSize,
    queueTimeoutMs: duration(config.queue_timeout, APP_DEFAULTS.queueTimeoutMs, `${where}.queue_timeout`),
    drainIdleMs: duration(config.drain_idle_timeout, APP_DEFAULTS.drainIdleMs, `${where}.drain_idle_timeout`),
    drainTimeoutMs: duration(config.drain_timeout, APP_DEFAULTS.drainTimeoutMs, `${where}.drain_timeout`),
  };
}

export function parseInstances(value: number | string, field: string): number {
  const cores = availableParallelism();
  if (value === 'max' || value === 0 || value === '0') return cores;
  const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n)) invalid(`${field} must be a number or "max"`);
  const count = n < 0 ? cores + n : n;
  if (count < 1 || count > MAX_INSTANCES) invalid(`${field} must come to 1..${MAX_INSTANCES} processes (got ${value})`);
  return count;
}

/** Milliseconds from a number (ms) or a string such as "500ms", "5s", "2m", "1h". */
export function duration(value: number | string | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  const match = typeof value === 'string' ? /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(value.trim()) : null;
  if (!match) invalid(`${field} must be a duration such as 5000, "500ms", "5s" or "2m"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(match[1]) * unit);
}

/** Bytes from a number or a string such as "300M", "1G", "512K". 0 means no limit. */
export function bytes(value: number | string | undefined, field: string): number {
  if (value === undefined) return 0;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  const match = typeof value === 'string' ? /^(\d+(?:\.\d+)?)\s*([KMG])?B?$/i.exec(value.trim()) : null;
  if (!match) invalid(`${field} must be a size such as "300M" or "1G"`);
  const unit = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(match[2] ?? '').toUpperCase() as 'K' | 'M' | 'G'] ?? 1;
  return Math.round(Number(match[1]) * unit);
}

function toList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value.map(String);
  return value.split(' ').filter((part) => part.length > 0);
}

function stringEnv(env: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== null) out[key] = String(value);
  return out;
}
