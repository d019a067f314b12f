/**
 * The config file as the unit of deployment (pm2's ecosystem habits, without the downtime):
 *
 * - `reload <file>` (pm2's startOrReload): apps not running start; the others are reloaded,
 *   worker by worker with zero downtime in cluster mode, with the file's spec if it changed
 *   (and the same one otherwise: the code on disk may have); a new instance count scales;
 * - `restart <file>`, and `start <file>` for apps that exist: the same, restarting instead;
 * - `stop <file>`, `delete <file>`: the file's apps;
 * - `restart|reload <name> --update-env`: the app gets the caller's environment.
 *
 * The environment rule: an app's environment is the one it was started with, plus what the
 * file sets now. The shell that runs the deploy does not leak into running apps unless it is
 * asked to (`--update-env`), as in pm2. Loaded only by these commands.
 */
import type { AppSpec } from '../shared/app-spec.js';
import { SupervisorError } from '../shared/errors.js';
import type { ProcessInfo, UpdateResult } from '../shared/protocol.js';
import type { Supervisor } from './api.js';
import { stringEnv } from './app-config.js';
import { loadConfigFile } from './config-file.js';

interface DeployFlags {
  envName?: string;
  only?: readonly string[];
  strict?: boolean;
  updateEnv?: boolean;
}

/** Runs `fn` on a daemon connection; with `start: false` none is started (UNREACHABLE then). */
export type Connect = <T>(fn: (sv: Supervisor) => Promise<T>, options?: { start?: boolean }) => Promise<T>;

/**
 * The specs of a file's apps, each running app keeping its environment as the rule above says.
 * The file is read and checked before any daemon is started: a bad file starts nothing.
 */
async function specsForDeploy(connect: Connect, file: string, flags: DeployFlags, warn: (line: string) => void): Promise<AppSpec[]> {
  const running = flags.updateEnv ? new Map<string, Record<string, string>>() : await runningEnvs(connect);
  return loadConfigFile(file, process.env, {
    warn,
    runningEnv: (name) => running.get(name),
    ...(flags.envName !== undefined && { envName: flags.envName }),
    ...(flags.only !== undefined && { only: flags.only }),
    ...(flags.strict !== undefined && { strict: flags.strict }),
  });
}

/** Each running app's environment, from a daemon that already runs (none: no apps). */
async function runningEnvs(connect: Connect): Promise<Map<string, Record<string, string>>> {
  try {
    const apps = await connect((sv) => sv.call('describe', { target: 'all' }), { start: false });
    return new Map(apps.map((app) => [app.name, app.spec.env]));
  } catch (error) {
    if (error instanceof SupervisorError && error.code === 'UNREACHABLE') return new Map();
    throw error;
  }
}

/** `reload|restart <file>` (and `start <file>`): apply the file; one line on stderr says what happened. */
export async function deployFile(connect: Connect, how: 'reload' | 'restart', file: string, flags: DeployFlags, warn: (line: string) => void): Promise<ProcessInfo[]> {
  const specs = await specsForDeploy(connect, file, flags, warn);
  const result = await connect((sv) => sv.call('update', { apps: specs, how }));
  report(result, how, warn);
  return result.processes;
}

function report(result: UpdateResult, how: 'reload' | 'restart', note: (line: string) => void): void {
  // `start <file>` of apps that did not exist is an ordinary start: the table says enough.
  if (how === 'restart' && result.updated.length === 0 && result.unchanged.length === 0) return;
  const done = how === 'reload' ? 'reloaded' : 'restarted';
  const parts = [
    result.started.length > 0 && `started ${result.started.join(', ')}`,
    result.updated.length > 0 && `${done} with a new spec ${result.updated.join(', ')}`,
    result.unchanged.length > 0 && `${done} ${result.unchanged.join(', ')}`,
  ].filter(Boolean);
  note(parts.join('; '));
}

/** `stop|delete <file>`: the file's apps that exist; NOT_FOUND if none does. */
export async function stopFile(connect: Connect, command: 'stop' | 'delete', file: string, flags: DeployFlags, warn: (line: string) => void): Promise<ProcessInfo[]> {
  const specs = await loadConfigFile(file, process.env, { warn, ...(flags.only !== undefined && { only: flags.only }), ...(flags.strict !== undefined && { strict: flags.strict }) });
  return connect(async (sv) => {
    const rows: ProcessInfo[] = [];
    let found = 0;
    for (const { name } of specs) {
      try {
        rows.push(...(await sv.call(command, { target: name })));
        found += 1;
      } catch (error) {
        if (!(error instanceof SupervisorError) || error.code !== 'NOT_FOUND') throw error;
        warn(`${name} is not running here; nothing to ${command}`);
      }
    }
    if (found === 0) throw new SupervisorError('NOT_FOUND', `none of the apps of ${file} is known to the daemon`);
    return rows;
  });
}

/**
 * `restart|reload <target> --update-env`: the apps named get the caller's environment over
 * theirs, and are restarted or reloaded with it. It acts on whole apps, also for a process id.
 */
export async function updateEnv(sv: Supervisor, how: 'reload' | 'restart', target: string): Promise<ProcessInfo[]> {
  const apps = await sv.call('describe', { target });
  const env = stringEnv(process.env);
  const result = await sv.call('update', { apps: apps.map((app) => ({ ...app.spec, env: { ...app.spec.env, ...env } })), how });
  return result.processes;
}
