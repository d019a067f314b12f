/**
 * Messages between the daemon and the worker runtime over the worker's IPC channel, for what
 * Node's cluster protocol does not cover: drain, connection counts, uncaught exceptions and the
 * messages between processes (issue 12). listen(), connections and disconnects travel as Node's
 * own cluster messages; see daemon/cluster/cluster-messages.ts.
 *
 * They carry `cmd: 'NODE_SUPERVISOR'` because Node routes any message whose cmd starts with
 * "NODE_" to the 'internalMessage' event instead of 'message' (the same route Node's own
 * cluster uses), so the app's `process.on('message')` listeners never see our traffic, while
 * `process.send('ready')` and app messages keep flowing on 'message' untouched.
 */
import type { MessageErrorCode, MessageTarget, Peer, PeerEvent, Sender } from './messages.js';

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
  | { cmd: typeof WORKER_CMD; t: 'stats'; seq: number; open: number; accepted: number }
  // Messages between processes (src/runtime/messages.ts, src/daemon/messages/). `seq` numbers
  // the sender's own calls; `payload` is the data as JSON text, so the daemon checks its size
  // without serializing it again and forwards it without parsing it.
  /** send(): deliver to every listening process of the target. */
  | { cmd: typeof WORKER_CMD; t: 'msg'; seq: number; to: MessageTarget; payload: string }
  /** request(): deliver to one serving process of the target, route its answer back. */
  | { cmd: typeof WORKER_CMD; t: 'req'; seq: number; to: MessageTarget; payload: string }
  /** The requester gave up on request `seq` (its timeout): forget it. */
  | { cmd: typeof WORKER_CMD; t: 'cancel'; seq: number }
  /** This process's answer to request `rid`: a payload, or the error its handler threw. */
  | { cmd: typeof WORKER_CMD; t: 'answer'; rid: number; payload: string }
  | { cmd: typeof WORKER_CMD; t: 'answer'; rid: number; error: RemoteError }
  /** peers(): the processes of one app, or of every app when `app` is null. */
  | { cmd: typeof WORKER_CMD; t: 'peers'; seq: number; app: string | null }
  /** What this process listens for; the daemon sends it nothing else of these kinds. */
  | { cmd: typeof WORKER_CMD; t: 'wants'; messages: boolean; requests: boolean; peers: boolean };

/** The runtime messages that are the message router's (src/daemon/messages/); the others are the lifecycle's. */
export const ROUTED_RUNTIME_MESSAGES: ReadonlySet<string> = new Set<WorkerToDaemon['t']>(['msg', 'req', 'cancel', 'answer', 'peers', 'wants']);

/** What a request handler threw, as it travels back to the requester. */
export interface RemoteError {
  message: string;
  name?: string;
  code?: string;
}

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
  | { cmd: typeof WORKER_CMD; t: 'stats'; seq: number }
  /** A message from another process (for on('message')). */
  | { cmd: typeof WORKER_CMD; t: 'msg'; from: Sender; payload: string }
  /** A request for this process's onRequest handler; answer with the same `rid`. */
  | { cmd: typeof WORKER_CMD; t: 'req'; rid: number; from: Sender; payload: string }
  /** Sends that were routed: `counts[i]` processes got send `seqs[i]` (batched per turn). */
  | { cmd: typeof WORKER_CMD; t: 'sent'; seqs: number[]; counts: number[] }
  /** The answer to request `seq`. */
  | { cmd: typeof WORKER_CMD; t: 'answered'; seq: number; payload: string }
  | { cmd: typeof WORKER_CMD; t: 'answered'; seq: number; error: RemoteError }
  /** Call `seq` (a send, request or peers) failed in the daemon. */
  | { cmd: typeof WORKER_CMD; t: 'failed'; seq: number; code: MessageErrorCode; message: string }
  /** The answer to peers(). */
  | { cmd: typeof WORKER_CMD; t: 'peer-list'; seq: number; peers: Peer[] }
  /** A peer came online, exited or was restarted (only to processes that listen for it). */
  | { cmd: typeof WORKER_CMD; t: 'peer'; event: PeerEvent };

export function isWorkerMessage(value: unknown): value is { cmd: typeof WORKER_CMD; t: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { cmd?: unknown }).cmd === WORKER_CMD &&
    typeof (value as { t?: unknown }).t === 'string'
  );
}
