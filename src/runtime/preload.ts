/**
 * The worker runtime, preloaded with `--import` into every Node process the daemon starts.
 * It does nothing unless the daemon set SUPERVISOR_ID and an IPC channel is open, so running
 * an app by hand with the same flags is harmless.
 *
 * - cluster mode: the process is a Node cluster worker; the runtime watches the servers the
 *   daemon serves (cluster-worker.ts);
 * - 'drain': take nothing new, finish in-flight work, close keep-alive at a response boundary,
 *   report drained;
 * - 'stats': report open connections;
 * - an uncaught exception tells the daemon first, so its replacement starts while this
 *   process finishes its open connections;
 * - `supervisor-node/process` (messages between processes): implemented in messages.ts,
 *   and resolvable even by apps that do not depend on the package (module-resolution.ts);
 * - the daemon going away ends the process and its process group: nothing is orphaned. A
 *   channel the app closed itself (cluster.worker.disconnect(), or process.disconnect() in
 *   fork mode) is not the daemon going away.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { hasDaemon, onDaemon, toDaemon } from './channel.js';
import { acceptedItself, installClusterWorker, stopAccepting } from './cluster-worker.js';
import { drain, openCount, startReportingCloses } from './connections.js';
import { daemonGone, installProcessApi } from './messages.js';
import { installModuleResolution } from './module-resolution.js';

const DRAIN_LIMIT_MS = 30_000;
const ORPHAN_GRACE_MS = 1500;
/** After a disconnect while the daemon still looked alive, when to look again (it may have been exiting). */
const RECHECK_MS = 500;
/** The daemon spawns every worker itself. */
const daemonPid = process.ppid;

function install(): void {
  if (!process.env['SUPERVISOR_ID'] || !hasDaemon()) return;
  if (process.env['SUPERVISOR_MODE'] === 'cluster' && !installClusterWorker()) {
    process.stderr.write('[supervisor] this Node does not run cluster workers as expected: connections are not drained at response boundaries\n');
  }
  installProcessApi();
  installModuleResolution();

  onDaemon('drain', (message) => {
    // Acknowledged at once: a worker that cannot answer this is hung, and is stopped without
    // being given the whole drain timeout.
    toDaemon({ t: 'draining' });
    stopAccepting();
    drain(message.idleMs, () => toDaemon({ t: 'drained' }));
    // Tell the app, so it can end what has no response boundary (long-polls, WebSockets).
    (process as NodeJS.EventEmitter).emit('supervisor:drain', { timeoutMs: message.timeoutMs });
    if (message.shutdownMessage) process.emit('message', 'shutdown', undefined);
  });
  onDaemon('stats', (message) => toDaemon({ t: 'stats', seq: message.seq, open: openCount(), accepted: acceptedItself() }));
  onDaemon('report-closes', () => startReportingCloses());

  process.on('uncaughtException', onUncaught);
  watchDisconnect();
}

function onUncaught(error: unknown): void {
  // An app with its own handler has chosen to survive; respect that.
  if (process.listenerCount('uncaughtException') > 1) return;
  process.off('uncaughtException', onUncaught);
  process.stderr.write(`${error instanceof Error && error.stack ? error.stack : String(error)}\n`);
  process.exitCode = 1;
  const idle = openCount() === 0;
  // The daemon hears of it before it hears that the servers closed, so it waits for the drain.
  toDaemon({ t: 'fatal', message: String(error) }, idle ? () => process.exit(1) : undefined);
  stopAccepting();
  if (idle) return;
  drain(1000, () => process.exit(1));
  setTimeout(() => process.exit(1), DRAIN_LIMIT_MS).unref();
}

/**
 * Node emits 'disconnect' when the IPC channel closes, but listening for it would reference
 * the channel and keep apps alive that should exit; watching the emit itself does not.
 *
 * The channel closes because the daemon is gone, or because the app closed it. A cluster
 * worker says which: cluster.worker.disconnect() (and kill()) set exitedAfterDisconnect before
 * closing it; without that, Node's own cluster code exits the worker at once. In fork mode the
 * daemon is looked at: it is gone once the process was adopted by another parent, or it is a
 * zombie (it may still be exiting, so it is looked at again shortly after).
 */
function watchDisconnect(): void {
  const emit = process.emit.bind(process) as (event: string | symbol, ...args: unknown[]) => boolean;
  (process as { emit: (event: string | symbol, ...args: unknown[]) => boolean }).emit = (event, ...args) => {
    if (event === 'disconnect') onDisconnect();
    return emit(event, ...args);
  };
}

function onDisconnect(): void {
  // Whoever closed it, nothing more goes to the daemon: pending message calls fail now.
  daemonGone();
  if (cluster.worker) {
    if (!cluster.worker.exitedAfterDisconnect) onDaemonGone();
    return;
  }
  if (!daemonAlive()) {
    onDaemonGone();
    return;
  }
  setTimeout(() => {
    if (!daemonAlive()) onDaemonGone();
  }, RECHECK_MS).unref();
}

function daemonAlive(): boolean {
  if (process.ppid !== daemonPid) return false;
  try {
    const stat = readFileSync(`/proc/${daemonPid}/stat`, 'utf8');
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state !== 'Z' && state !== 'X';
  } catch {
    // No /proc: take a closed channel to mean the daemon is gone, as before.
    return false;
  }
}

function onDaemonGone(): void {
  setTimeout(() => process.exit(1), ORPHAN_GRACE_MS).unref();
  // Pending requests fail with DAEMON_GONE now; the signal waits one turn so that the app's
  // handlers for those rejections run before it.
  daemonGone();
  setImmediate(() => {
    try {
      // The worker leads its own process group (the daemon spawns it detached): end the
      // children it started along with it.
      process.kill(-process.pid, 'SIGTERM');
    } catch {
      process.exit(1);
    }
  });
}

install();
