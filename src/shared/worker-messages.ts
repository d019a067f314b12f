/**
 * Messages between the daemon and the worker runtime over the worker's IPC channel.
 *
 * They carry `cmd: 'NODE_SUPERVISOR'` because Node routes any message whose cmd starts with
 * "NODE_" to the 'internalMessage' event instead of 'message' (the same route Node's own
 * cluster uses), so the app's `process.on('message')` listeners never see our traffic, while
 * `process.send('ready')` and app messages keep flowing on 'message' untouched.
 */
import type { MessageErrorCode, MessageTarget, Peer, PeerEvent, Sender } from './messages.js';

export const WORKER_CMD = 'NODE_SUPERVISOR';

/** What a listen asks for; the daemon keys its sockets on this. */
export interface ListenRequest {
  /** Unix socket path, or null for TCP. */
  path: string | null;
  /** Host as the app passed it (null: all interfaces). */
  host: string | null;
  port: number;
  /** For port 0: the how-many-th such listen in this worker, so every worker's n-th listen(0) shares one port. */
  index: number;
  backlog: number;
  ipv6Only: boolean;
}

export interface BoundAddress {
  address: string;
  family: string;
  port: number;
}

export interface ListenError {
  code: string;
  errno: number;
  syscall: string;
  message: string;
}

export type WorkerToDaemon =
  /** server.listen() in the worker: bind (once per app) and route connections here. */
  | { cmd: typeof WORKER_CMD; t: 'listen'; seq: number; request: ListenRequest }
  /** server.close() in the worker: no more connections for that server. */
  | { cmd: typeof WORKER_CMD; t: 'unlisten'; key: string }
  /** A handed connection the worker cannot take; the handle travels back with it. */
  | { cmd: typeof WORKER_CMD; t: 'refuse'; key: string }
  /** Handed connections that closed since the last report, per listen key. */
  | { cmd: typeof WORKER_CMD; t: 'closed'; counts: Record<string, number> }
  /** An uncaught exception: the worker drains and exits, start its replacement now. */
  | { cmd: typeof WORKER_CMD; t: 'fatal'; message: string }
  /** The worker received `drain` (sent at once, so a worker that never answers counts as hung). */
  | { cmd: typeof WORKER_CMD; t: 'draining' }
  /** Every connection the worker was handed has closed since it was told to drain. */
  | { cmd: typeof WORKER_CMD; t: 'drained' }
  /** Answer to 'stats': handed connections still open. */
  | { cmd: typeof WORKER_CMD; t: 'stats'; seq: number; open: number }
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

/** What a request handler threw, as it travels back to the requester. */
export interface RemoteError {
  message: string;
  name?: string;
  code?: string;
}

export type DaemonToWorker =
  | {
      cmd: typeof WORKER_CMD;
      t: 'listening';
      seq: number;
      key: string;
      address: BoundAddress | string | null;
      error: ListenError | null;
      /** Report closes (least-connections needs them; the others do not pay for them). */
      reportCloses: boolean;
    }
  /** A connection for the server listening on `key`; the socket handle travels with it. */
  | { cmd: typeof WORKER_CMD; t: 'conn'; key: string }
  /**
   * Take no more connections, finish what is in flight, close keep-alive at a response boundary.
   * The app hears of it ('supervisor:drain' on process, and pm2's 'shutdown' message when
   * `shutdownMessage`), so it can end long-polls and WebSockets itself.
   */
  | { cmd: typeof WORKER_CMD; t: 'drain'; idleMs: number; timeoutMs: number; shutdownMessage: boolean }
  /** How many handed connections are open now; asked only when someone looks (list, describe). */
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

/** The key a daemon uses for one listening address of one app. */
export function listenKey(request: ListenRequest): string {
  if (request.path !== null) return `pipe:${request.path}`;
  const host = request.host ?? '*';
  return request.port === 0 ? `${host}:0#${request.index}` : `${host}:${request.port}`;
}
