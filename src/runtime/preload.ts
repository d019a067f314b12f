/**
 * The worker runtime, preloaded with `--import` into every Node process the daemon starts.
 * It does nothing unless the daemon set SUPERVISOR_ID and an IPC channel is open, so running
 * an app by hand with the same flags is harmless.
 *
 * - cluster mode: listen() goes through the daemon (listen.ts);
 * - 'drain': finish in-flight work, close keep-alive at a response boundary, report drained;
 * - 'stats': report open connections;
 * - an uncaught exception tells the daemon first, so its replacement starts while this
 *   process finishes its open connections;
 * - `supervisor-node/process` (messages between processes): implemented in messages.ts,
 *   and resolvable even by apps that do not depend on the package (module-resolution.ts);
 * - the daemon going away ends the process and its process group: nothing is orphaned.
 */
import { hasDaemon, onDaemon, toDaemon } from './channel.js';
import { drain, openCount } from './connections.js';
import { installListenRouting } from './listen.js';
import { daemonGone, installProcessApi } from './messages.js';
import { installModuleResolution } from './module-resolution.js';

const DRAIN_LIMIT_MS = 30_000;
const ORPHAN_GRACE_MS = 1500;

function install(): void {
  if (!process.env['SUPERVISOR_ID'] || !hasDaemon()) return;
  if (process.env['SUPERVISOR_MODE'] === 'cluster') installListenRouting();
  installProcessApi();
  installModuleResolution();

  onDaemon('drain', (message) => {
    // Acknowledged at once: a worker that cannot answer this is hung, and is stopped without
    // being given the whole drain timeout.
    toDaemon({ t: 'draining' });
    drain(message.idleMs, () => toDaemon({ t: 'drained' }));
    // Tell the app, so it can end what has no response boundary (long-polls, WebSockets).
    (process as NodeJS.EventEmitter).emit('supervisor:drain', { timeoutMs: message.timeoutMs });
    if (message.shutdownMessage) process.emit('message', 'shutdown', undefined);
  });
  onDaemon('stats', (message) => toDaemon({ t: 'stats', seq: message.seq, open: openCount() }));

  process.on('uncaughtException', onUncaught);
  exitWhenDaemonGoes();
}

function onUncaught(error: unknown): void {
  // An app with its own handler has chosen to survive; respect that.
  if (process.listenerCount('uncaughtException') > 1) return;
  process.off('uncaughtException', onUncaught);
  process.stderr.write(`${error instanceof Error && error.stack ? error.stack : String(error)}\n`);
  process.exitCode = 1;
  if (openCount() === 0) {
    toDaemon({ t: 'fatal', message: String(error) }, undefined, () => process.exit(1));
    return;
  }
  toDaemon({ t: 'fatal', message: String(error) });
  drain(1000, () => process.exit(1));
  setTimeout(() => process.exit(1), DRAIN_LIMIT_MS).unref();
}

/**
 * Node emits 'disconnect' when the IPC channel closes, but listening for it would reference
 * the channel and keep apps alive that should exit; watching the emit itself does not.
 */
function exitWhenDaemonGoes(): void {
  const emit = process.emit.bind(process) as (event: string | symbol, ...args: unknown[]) => boolean;
  (process as { emit: (event: string | symbol, ...args: unknown[]) => boolean }).emit = (event, ...args) => {
    if (event === 'disconnect') onDaemonGone();
    return emit(event, ...args);
  };
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
