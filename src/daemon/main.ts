/**
 * The daemon process: `supervisor daemon --foreground`, or spawned in the background by the
 * client. SIGTERM and SIGINT stop every app gracefully, then the process exits 0.
 *
 * In the foreground it may also run under systemd (Type=notify: READY=1 once the saved apps
 * are up, STOPPING=1 on stop, watchdog pings) and start the apps of a config file itself
 * (`--start`, for containers).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SupervisorError } from '../shared/errors.js';
import { resolveHome } from '../shared/paths.js';
import { startupSettled } from './app-readiness.js';
import { runDaemon, type DaemonHandle } from './run.js';
import { serviceManagerFromEnv, type ServiceManager } from './service-manager.js';
import { isoTime } from '../shared/iso-time.js';

const CLI = fileURLToPath(new URL('../../bin/supervisor.js', import.meta.url));

/**
 * The longest the foreground daemon waits for the saved apps before it tells systemd it is
 * ready anyway. A process on its first launch settles within its listen_timeout (default 8 s)
 * or min_uptime, and one that has failed once is not waited for at all; this bound is for
 * listen_timeouts set very long. It is below systemd's default TimeoutStartSec (90 s), so a
 * slow app never makes systemd kill every other app with the unit.
 */
const READY_LIMIT_MS = 60_000;
const READY_POLL_MS = 100;

interface MainOptions {
  foreground: boolean;
  /** A config file or script whose apps the daemon starts instead of resurrecting dump.json. */
  start?: string;
}

const stamp = (line: string): void => void process.stderr.write(`${isoTime()} ${line}\n`);

export async function main(options: MainOptions): Promise<void> {
  const home = resolveHome();
  // Taken out of the environment before anything is spawned (see service-manager.ts).
  const manager = options.foreground ? serviceManagerFromEnv(process.env, stamp) : null;
  let daemon: DaemonHandle | null = null;
  let stopping = false;
  // Handlers first: a SIGTERM that arrives while the daemon starts (after its pid file is
  // written, say) must stop it gracefully, not kill it with its apps half started.
  const onSignal = (signal: NodeJS.Signals): void => {
    stamp(`received ${signal}`);
    if (!stopping) void manager?.stopping();
    stopping = true;
    void daemon?.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => undefined);
  // What logrotate's postrotate sends (pm2 uses the same signal): reopen every log file.
  process.on('SIGUSR2', () => {
    void daemon?.reopenLogs().then((files) => stamp(`received SIGUSR2: reopened ${files} log files`));
  });
  // A bug must not take every app down with it: log, keep serving.
  process.on('uncaughtException', (error) => {
    stamp(`uncaught: ${error.stack ?? String(error)}`);
  });
  let startupDone: () => void = () => undefined;
  const startup = options.start === undefined ? undefined : new Promise<void>((resolve) => (startupDone = resolve));
  try {
    daemon = await runDaemon({ home, persistent: options.foreground, resurrect: startup === undefined, ...(startup && { startup }) });
  } catch (error) {
    if (error instanceof SupervisorError) {
      process.stderr.write(`supervisor: ${error.message}\n`);
      // Lost a start race (CONFLICT): another daemon owns this home, which is what was wanted.
      process.exit(error.code === 'CONFLICT' && !options.foreground ? 0 : 1);
    }
    throw error;
  }
  if (stopping) void daemon.stop();
  // `kill` from a client stops the daemon without a signal: systemd hears of it all the same.
  void daemon.stopped.then(() => {
    if (!stopping) void manager?.stopping();
    stopping = true;
  });

  const appsStarted = options.start === undefined || stopping || (await startApps(options.start));
  if (!appsStarted && !stopping) {
    stamp(`could not start the apps of ${options.start}; stopping`);
    void manager?.stopping();
    stopping = true;
    // Stopping before the start-up ends, so that /readyz never says ready meanwhile.
    const stopped = daemon.stop();
    startupDone();
    await stopped;
    process.exit(1);
  }
  startupDone();
  if (manager) void announceReady(daemon, manager, () => stopping);
  await daemon.stopped;
  manager?.close();
  process.exit(0);
}

/**
 * Runs `supervisor start <target>` against this daemon: a separate client process evaluates
 * the config file, as for any start, so no user code runs in the daemon. True if it succeeded.
 */
function startApps(target: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'start', target], { stdio: ['ignore', 'inherit', 'inherit'], env: process.env });
    child.once('error', (error) => {
      stamp(`cannot run ${CLI}: ${error.message}`);
      resolve(false);
    });
    child.once('exit', (code) => resolve(code === 0));
  });
}

/** READY=1 once every saved process is online, has failed once, or READY_LIMIT_MS has passed. */
async function announceReady(daemon: DaemonHandle, manager: ServiceManager, stopping: () => boolean): Promise<void> {
  const deadline = Date.now() + READY_LIMIT_MS;
  let readiness = daemon.readiness();
  while (!startupSettled(readiness) && Date.now() < deadline && !stopping()) {
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    readiness = daemon.readiness();
  }
  if (stopping()) return;
  stamp(`ready: ${readiness.reason}`);
  await manager.ready(readiness.reason);
}
