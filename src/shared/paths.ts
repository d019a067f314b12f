import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Every file Supervisor keeps for one home; two homes never share anything. */
export interface HomePaths {
  home: string;
  socket: string;
  pidFile: string;
  daemonLog: string;
  dumpFile: string;
  /** The daemon's desired state, rewritten on every change; present only while it runs (or after it died). */
  stateFile: string;
  logDir: string;
}

export function resolveHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['SUPERVISOR_HOME'];
  return resolve(fromEnv && fromEnv.length > 0 ? fromEnv : join(homedir(), '.supervisor'));
}

export function homePaths(home: string = resolveHome()): HomePaths {
  return {
    home,
    socket: join(home, 'daemon.sock'),
    pidFile: join(home, 'daemon.pid'),
    daemonLog: join(home, 'daemon.log'),
    dumpFile: join(home, 'dump.json'),
    stateFile: join(home, 'state.json'),
    logDir: join(home, 'logs'),
  };
}
