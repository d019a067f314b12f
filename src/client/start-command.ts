/**
 * `supervisor start <script|config|name>`, with pm2's rules for what already runs
 * (pm2's lib/API.js, _startScript and _startJson):
 * - a name (or id, or namespace) the daemon knows, when no such file exists: restart it;
 * - a config file: its apps that exist are restarted with the file's spec, the others started
 *   (deploy.ts);
 * - a script already run by the app of the same name: started again if it is stopped or
 *   errored; if it runs, refused (pm2: "Script already launched") unless `-f`, which restarts
 *   it (pm2's -f starts a second copy under the same name; names are unique here);
 * - a script whose name belongs to an app running something else: refused (CONFLICT).
 * Loaded only by `start`.
 */
import { existsSync } from 'node:fs';
import type { AppSpec } from '../shared/app-spec.js';
import { SupervisorError } from '../shared/errors.js';
import type { ProcessInfo } from '../shared/protocol.js';
import type { Connect } from './deploy.js';
import { toAppSpec, type AppConfig } from './app-config.js';
import { isConfigFile } from './config-file.js';

interface StartFlags {
  /** Options for a script, by pm2 name, from the command-line flags. */
  config: Omit<AppConfig, 'script'>;
  envName?: string;
  only?: readonly string[];
  strict?: boolean;
  force?: boolean;
  updateEnv?: boolean;
}


const STOPPED = new Set(['stopped', 'errored']);

export async function startCommand(target: string, args: string[], flags: StartFlags, connect: Connect, warn: (line: string) => void): Promise<ProcessInfo[]> {
  if (isConfigFile(target)) {
    if (flags.config.name !== undefined || flags.config.instances !== undefined) warn('--name and -i apply to scripts; the config file decides for its apps');
    // The file's apps that exist are restarted with the file's spec, the others started.
    const { deployFile } = await import('./deploy.js');
    const deploy = {
      ...(flags.envName !== undefined && { envName: flags.envName }),
      ...(flags.only !== undefined && { only: flags.only }),
      ...(flags.strict !== undefined && { strict: flags.strict }),
      ...(flags.updateEnv !== undefined && { updateEnv: flags.updateEnv }),
    };
    return deployFile(connect, 'restart', target, deploy, warn);
  }
  if (flags.only !== undefined) warn('--only applies to config files');
  if (flags.envName !== undefined) warn('--env applies to config files (env_<name>); a script gets the shell\'s environment');

  const maybeName = !existsSync(target) && /^[\w.@ -]+$/.test(target) && !target.includes('/');
  if (maybeName) {
    // `start <name>`: an app, process id or namespace the daemon knows is restarted, as in pm2.
    // No daemon means no such app: go on to look for a command of that name.
    const rows = await connect((sv) => sv.call('restart', { target }), { start: false }).catch((error: unknown) => {
      if (error instanceof SupervisorError && (error.code === 'NOT_FOUND' || error.code === 'UNREACHABLE')) return null;
      throw error;
    });
    if (rows !== null) return rows;
  }
  let spec: AppSpec;
  try {
    spec = toAppSpec({ ...flags.config, script: target, args } as AppConfig, { cwd: process.cwd(), env: process.env, warn, ...(flags.strict !== undefined && { strict: flags.strict }) });
  } catch (error) {
    // Neither a script, a command nor a known app: say all three were looked for.
    if (maybeName && error instanceof SupervisorError && error.code === 'FAILED' && /does not exist/.test(error.message)) {
      throw new SupervisorError('FAILED', `${error.message}, and no app is named "${target}"`);
    }
    throw error;
  }
  return connect(async (sv) => {
    try {
      return await sv.call('start', { apps: [spec] });
    } catch (error) {
      if (!(error instanceof SupervisorError) || error.code !== 'CONFLICT') throw error;
      const [existing] = await sv.describe(spec.name).catch(() => []);
      if (!existing || existing.name !== spec.name || existing.spec.script !== spec.script) throw error;
      const running = existing.processes.some((p) => !STOPPED.has(p.status));
      if (running && !flags.force) {
        throw new SupervisorError('CONFLICT', `an app named "${spec.name}" already exists and runs ${spec.script} (supervisor restart ${spec.name}, or start -f to restart it)`);
      }
      return sv.call('restart', { target: spec.name });
    }
  });
}
