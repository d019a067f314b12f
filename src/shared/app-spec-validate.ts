import { isAbsolute } from 'node:path';
import { constants } from 'node:os';
import { BALANCE_STRATEGIES, EXEC_MODES, type AppSpec } from './app-spec.js';
import { boolean, integer, invalid, oneOf, record, string, stringArray, stringMap } from './validate.js';

const DAY_MS = 86_400_000;
export const MAX_INSTANCES = 1024;
/** Names appear in file names and on the command line next to numeric ids. */
const NAME_PATTERN = /^(?![0-9]+$)[A-Za-z0-9_.@-][A-Za-z0-9_.@ -]{0,99}$/;

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

/** Checks every field of an AppSpec that came over the wire; the daemon trusts it afterwards. */
export function validateAppSpec(value: unknown, field = 'app'): AppSpec {
  const v = record(value, field);
  const f = (key: string): string => `${field}.${key}`;
  const script = string(v['script'], f('script'), { nonEmpty: true });
  if (!isAbsolute(script)) invalid(`${f('script')} must be an absolute path`);
  const cwd = string(v['cwd'], f('cwd'), { nonEmpty: true });
  if (!isAbsolute(cwd)) invalid(`${f('cwd')} must be an absolute path`);
  const killSignal = string(v['killSignal'], f('killSignal'));
  if (!isSignalName(killSignal)) invalid(`${f('killSignal')} "${killSignal}" is not a signal name`);
  const mode = oneOf(v['mode'], f('mode'), EXEC_MODES);
  const interpreter = string(v['interpreter'], f('interpreter'), { nonEmpty: true });
  if (mode === 'cluster' && interpreter !== 'node') invalid(`cluster mode runs Node scripts only (interpreter is "${interpreter}")`);
  const stopExitCodes = v['stopExitCodes'];
  if (!Array.isArray(stopExitCodes)) invalid(`${f('stopExitCodes')} must be an array of exit codes`);
  return {
    name: validateAppName(v['name'], f('name')),
    script,
    args: stringArray(v['args'], f('args')),
    cwd,
    env: stringMap(v['env'], f('env')),
    mode,
    instances: integer(v['instances'], f('instances'), 1, MAX_INSTANCES),
    interpreter,
    interpreterArgs: stringArray(v['interpreterArgs'], f('interpreterArgs')),
    balance: oneOf(v['balance'], f('balance'), BALANCE_STRATEGIES),
    killSignal,
    killTimeoutMs: integer(v['killTimeoutMs'], f('killTimeoutMs'), 0, DAY_MS),
    shutdownWithMessage: boolean(v['shutdownWithMessage'], f('shutdownWithMessage')),
    autorestart: boolean(v['autorestart'], f('autorestart')),
    waitReady: boolean(v['waitReady'], f('waitReady')),
    listenTimeoutMs: integer(v['listenTimeoutMs'], f('listenTimeoutMs'), 0, DAY_MS),
    minUptimeMs: integer(v['minUptimeMs'], f('minUptimeMs'), 0, DAY_MS),
    maxRestarts: integer(v['maxRestarts'], f('maxRestarts'), 0, 1_000_000),
    restartDelayMs: integer(v['restartDelayMs'], f('restartDelayMs'), 0, DAY_MS),
    expBackoffRestartDelayMs: integer(v['expBackoffRestartDelayMs'], f('expBackoffRestartDelayMs'), 0, DAY_MS),
    backoffCapMs: integer(v['backoffCapMs'], f('backoffCapMs'), 0, DAY_MS),
    retryAfterCrashLoop: boolean(v['retryAfterCrashLoop'], f('retryAfterCrashLoop')),
    stopExitCodes: stopExitCodes.map((c, i) => integer(c, `${f('stopExitCodes')}[${i}]`, 0, 255)),
    maxMemoryRestart: integer(v['maxMemoryRestart'], f('maxMemoryRestart'), 0, Number.MAX_SAFE_INTEGER),
    queueSize: integer(v['queueSize'], f('queueSize'), 0, 1_000_000),
    queueTimeoutMs: integer(v['queueTimeoutMs'], f('queueTimeoutMs'), 0, DAY_MS),
    drainIdleMs: integer(v['drainIdleMs'], f('drainIdleMs'), 0, DAY_MS),
    drainTimeoutMs: integer(v['drainTimeoutMs'], f('drainTimeoutMs'), 0, DAY_MS),
  };
}
