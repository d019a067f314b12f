/**
 * Messages between the daemon and the worker runtime over the worker's IPC channel, for what
 * Node's cluster protocol does not cover: drain, connection counts, uncaught exceptions.
 * (listen(), connections and disconnects travel as Node's own cluster messages; see
 * daemon/cluster/cluster-messages.ts.)
 *
 * They carry `cmd: 'NODE_SUPERVISOR'` because Node routes any message whose cmd starts with
 * "NODE_" to the 'internalMessage' event instead of 'message' (the same route Node's own
 * cluster uses), so the app's `process.on('message')` listeners never see our traffic, while
 * `process.send('ready')` and app messages keep flowing on 'message' untouched.
 */
export const WORKER_CMD = 'NODE_SUPERVISOR';

export type WorkerToDaemon =
  /** Connections of daemon-routed servers that closed since the last report. */
  | { cmd: typeof WORKER_CMD; t: 'closed'; count: number }
  /** An uncaught exception: the worker drains and exits, start its replacement now. */
  | { cmd: typeof WORKER_CMD; t: 'fatal'; message: string }
  /** The worker received `drain` (sent at once, so a worker that never answers counts as hung). */
  | { cmd: typeof WORKER_CMD; t: 'draining' }
  /** Every connection of its daemon-routed servers has closed since it was told to drain. */
  | { cmd: typeof WORKER_CMD; t: 'drained' }
  /**
   * Answer to 'stats': connections of daemon-routed servers still open, and how many the
   * worker accepted itself on a shared listening socket (balance 'os'), which the daemon
   * never sees.
   */
  | { cmd: typeof WORKER_CMD; t: 'stats'; seq: number; open: number; accepted: number };

export type DaemonToWorker =
  /** Report closed connections from now on (least-connections needs them; the others do not pay for them). */
  | { cmd: typeof WORKER_CMD; t: 'report-closes' }
  /**
   * Take no more connections, finish what is in flight, close keep-alive at a response boundary.
   * The app hears of it ('supervisor:drain' on process, and pm2's 'shutdown' message when
   * `shutdownMessage`), so it can end long-polls and WebSockets itself.
   */
  | { cmd: typeof WORKER_CMD; t: 'drain'; idleMs: number; timeoutMs: number; shutdownMessage: boolean }
  /** How many connections are open now; asked only when someone looks (list, describe). */
  | { cmd: typeof WORKER_CMD; t: 'stats'; seq: number };

export function isWorkerMessage(value: unknown): value is { cmd: typeof WORKER_CMD; t: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { cmd?: unknown }).cmd === WORKER_CMD &&
    typeof (value as { t?: unknown }).t === 'string'
  );
}
