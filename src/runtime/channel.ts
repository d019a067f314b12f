/**
 * The worker's half of the daemon link: typed send and receive over the IPC channel, on the
 * 'internalMessage' route so the app's own 'message' listeners see none of it.
 */
import { isWorkerMessage, WORKER_CMD, type DaemonToWorker, type WorkerToDaemon } from '../shared/worker-messages.js';

type Kind = DaemonToWorker['t'];
type MessageOf<K extends Kind> = Extract<DaemonToWorker, { t: K }>;
type Handler<K extends Kind> = (message: MessageOf<K>, handle: unknown) => void;
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
  (process as NodeJS.EventEmitter).on('internalMessage', (message: unknown, handle: unknown) => {
    if (!isWorkerMessage(message)) return;
    const handler = handlers.get(message.t as Kind);
    if (handler) handler(message as DaemonToWorker, handle);
    else closeHandle(handle);
  });
}

export function toDaemon(message: Outgoing, handle?: unknown, onSent?: (error: Error | null) => void): void {
  if (!hasDaemon()) {
    onSent?.(new Error('no daemon channel'));
    return;
  }
  const send = process.send as (m: unknown, h?: unknown, o?: object, cb?: (e: Error | null) => void) => boolean;
  send.call(process, { cmd: WORKER_CMD, ...message }, handle, {}, (error) => onSent?.(error ?? null));
}

export function closeHandle(handle: unknown): void {
  if (handle && typeof (handle as { close?: unknown }).close === 'function') (handle as { close(): void }).close();
}
