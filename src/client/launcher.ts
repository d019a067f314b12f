/**
 * Finds the daemon of a home, starting one in the background when none answers. Two clients
 * racing here both spawn; the daemons race for the home lock and the loser exits, so both
 * clients end up talking to the same one.
 */
import { mkdirSync, chmodSync, openSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SupervisorError } from '../shared/errors.js';
import type { HomePaths } from '../shared/paths.js';
import { Connection, type ConnectionOptions } from './connection.js';

const DAEMON_ENTRY = fileURLToPath(new URL('../daemon/daemon.cjs', import.meta.url));
const START_TIMEOUT_MS = 10_000;
const RETRY_MS = 15;

/**
 * V8 flags for the daemon. Lite mode (no optimising compiler) keeps the daemon at about 44.5 MiB
 * resident with 10 apps, about 2 MiB less than with the full JIT (6 MiB before the bundles); measured cost: 31-33 us of daemon CPU per
 * handed-off connection instead of 21-23 us in the same run, 4-8 % of Connection: close throughput near the
 * machine's limit (bench/RESULTS.md). SUPERVISOR_DAEMON_NODE_FLAGS replaces these flags for a
 * daemon that should trade memory for hand-off speed (e.g. "--max-semi-space-size=1").
 */
const DAEMON_NODE_FLAGS = ['--lite-mode', ...wasmFlag(), '--max-semi-space-size=1'];

/**
 * Up to V8 12 (Node 20, 22), lite mode warns that it disables wasm unless told so; V8 13
 * (Node 24) has no such flag, and a Node given an unknown flag does not start. V8 flags cannot
 * be asked about without starting a process, so the V8 version decides.
 */
function wasmFlag(): string[] {
  return Number(process.versions.v8.split('.')[0]) < 13 ? ['--no-expose-wasm'] : [];
}

function daemonNodeFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const custom = env['SUPERVISOR_DAEMON_NODE_FLAGS'];
  return custom === undefined ? DAEMON_NODE_FLAGS : custom.split(' ').filter((flag) => flag.length > 0);
}

function isAbsent(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ECONNREFUSED';
}

/** The daemon answered with 503: all its control connections are taken, for now. */
function isBusy(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'EBUSY';
}

/** How long a client keeps retrying a daemon that refuses it for having too many connections. */
const BUSY_RETRY_MS = 5000;
const BUSY_RETRY_INTERVAL_MS = 50;

/** Opens a connection, retrying for a while when the daemon is busy; rejects with the last error. */
async function open(paths: HomePaths, options: ConnectionOptions): Promise<Connection> {
  const deadline = Date.now() + BUSY_RETRY_MS;
  for (;;) {
    try {
      return await Connection.open(paths.socket, options);
    } catch (error) {
      if (!isBusy(error) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, BUSY_RETRY_INTERVAL_MS));
    }
  }
}

export async function connectOrStart(paths: HomePaths, options: ConnectionOptions = {}): Promise<{ connection: Connection; started: boolean }> {
  try {
    return { connection: await open(paths, options), started: false };
  } catch (error) {
    if (!isAbsent(error)) throw unreachable(paths, error);
  }
  await startDaemon(paths);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      return { connection: await open(paths, options), started: true };
    } catch (error) {
      if (!isAbsent(error) || Date.now() > deadline) {
        throw unreachable(paths, error, ` (see ${paths.daemonLog})`);
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }
}

/** Connects only if a daemon is already running (for commands such as `kill`). */
export async function connectIfRunning(paths: HomePaths, options: ConnectionOptions = {}): Promise<Connection | null> {
  try {
    return await open(paths, options);
  } catch (error) {
    if (isAbsent(error)) return null;
    throw unreachable(paths, error);
  }
}

/**
 * Throws INVALID_REQUEST for a daemon setting in `env` the daemon would refuse (it would, but
 * only in its log). Checked by a command that starts a daemon, and by `supervisor daemon`
 * always; the others do not load these modules.
 */
export async function checkDaemonSettings(env: NodeJS.ProcessEnv): Promise<void> {
  (await import('../shared/handoff-window.js')).handOffWindowSetting(env);
  (await import('../shared/control-limits.js')).controlLimitsSetting(env);
  (await import('../shared/metrics-address.js')).metricsAddressSetting(env);
  (await import('../shared/log-options.js')).logDefaultsFromEnv(env);
}

async function startDaemon(paths: HomePaths): Promise<void> {
  await checkDaemonSettings(process.env);
  const { spawn } = process.getBuiltinModule('node:child_process');
  mkdirSync(paths.home, { recursive: true, mode: 0o700 });
  chmodSync(paths.home, 0o700);
  const log = openSync(paths.daemonLog, 'a', 0o600);
  try {
    const child = spawn(process.execPath, [...daemonNodeFlags(), DAEMON_ENTRY], {
      detached: true,
      stdio: ['ignore', log, log],
      cwd: paths.home,
      env: { ...process.env, SUPERVISOR_HOME: paths.home },
    });
    child.unref();
  } finally {
    closeSync(log);
  }
}

function unreachable(paths: HomePaths, error: unknown, hint = ''): SupervisorError {
  if (error instanceof SupervisorError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new SupervisorError('UNREACHABLE', `cannot reach the daemon at ${paths.socket}: ${detail}${hint}`, { cause: error });
}
