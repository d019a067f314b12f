/**
 * The worker's half of the daemon link for our own messages: typed send and receive over the
 * IPC channel, on the 'internalMessage' route so the app's own 'message' listeners see none of it.
 */
import { isWorkerMessage, WORKER_CMD, type DaemonToWorker, type WorkerToDaemon } from '../shared/worker-messages.js';

type Kind = DaemonToWorker['t'];
type MessageOf<K extends Kind> = Extract<DaemonToWorker, { t: K }>;
type Handler<K extends Kind> = (message: MessageOf<K>) => void;
type Outgoing = WorkerToDaemon extends infer M ? (M extends { cmd: string } ? Omit<M, 'cmd'> : never) : never;

const handlers = new Map<Kind, Handler<Kind>>();
let listening = false;

export function hasDaemon(): boolean {
  return typeof process.send === 'function' && process.connected;
}

/**
 * Whether this Node delivers IPC messages whose `cmd` starts with `NODE_` to 'internalMessage'
 * (an internal route, the same in Node 20, 22 and 24). Node's own channel code listens there
 * for its handle acknowledgements as soon as a channel is set up, so an open channel without
 * such a listener means this Node routes them some other way.
 */
export function internalRouteAvailable(proc: Pick<NodeJS.Process, 'channel' | 'listenerCount'> = process): boolean {
  return proc.channel != null && proc.listenerCount('internalMessage') > 0;
}

export function onDaemon<K extends Kind>(kind: K, handler: Handler<K>): void {
  handlers.set(kind, handler as unknown as Handler<Kind>);
  if (listening) return;
  listening = true;
  if (!internalRouteAvailable()) {
    // No fallback on 'message': the app's own listeners would see our messages there, and a
    // 'message' listener keeps the channel referenced, so apps that should exit would not.
    // Without the route the daemon's messages go unheard, and its bounded waits take over
    // (an unacknowledged drain stops the process after 2 s): say so once, in the app's log.
    process.stderr.write("[supervisor] this Node does not route IPC messages to 'internalMessage': drain, stats and messages between processes are off\n");
    return;
  }
  // 'internalMessage' is not one of the events that keep the channel referenced, so listening
  // here does not keep an app alive that would otherwise exit.
  (process as NodeJS.EventEmitter).on('internalMessage', (message: unknown) => {
    if (!isWorkerMessage(message)) return;
    handlers.get(message.t as Kind)?.(message as DaemonToWorker);
  });
}

export function toDaemon(message: Outgoing, onSent?: (error: Error | null) => void): void {
  if (!hasDaemon()) {
    onSent?.(new Error('no daemon channel'));
    return;
  }
  const send = process.send as (m: unknown, h: undefined, o: object, cb: (e: Error | null) => void) => boolean;
  send.call(process, { cmd: WORKER_CMD, ...message }, undefined, {}, (error) => onSent?.(error ?? null));
}
