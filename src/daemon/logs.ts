/**
 * The daemon's log handling; the modules are in ./logs/:
 * - log-service.ts  every open file, daemon-wide defaults and counters, failure reports
 * - app-logs.ts     one app: which files each stream goes to, pipes paused while files are behind
 * - line-source.ts  one process's stream cut into whole lines (line-atomic merging)
 * - line-format.ts  lines as written, date-prefixed, or JSON
 * - pacing.ts       a flood's pipes read at its pace rate while other apps wait for CPU (pace.ts: the pure parts)
 * - log-file.ts     one file: batched writes, backpressure, rotation, errors and recovery, reopen
 * - rotated-files.ts  names, listing, pruning and gzip of rotated files
 */
export { AppLogs, type LogSink, type StreamName } from './logs/app-logs.js';
export { LogService } from './logs/log-service.js';
export { supervisedPids } from './logs/pacing.js';
