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

export function onDaemon<K extends Kind>(kind: K, handler: Handler<K>): void {
  handlers.set(kind, handler as unknown as Handler<Kind>);
  if (listening) return;
  listening = true;
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
