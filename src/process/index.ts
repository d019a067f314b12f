/**
 * `supervisor-node/process`: messages, requests and peer events between the processes a
 * Supervisor daemon runs, over each process's IPC channel to the daemon.
 *
 *   import { self, request, onRequest, on } from 'supervisor-node/process';
 *   onRequest(async (data, from) => ({ ok: true }));          // in the master
 *   const answer = await request('master', { hello: 1 });    // in a worker
 *
 * This module is only an accessor: the runtime the daemon preloads into every Node process
 * implements it (src/runtime/messages.ts) and publishes it under a global symbol, so an app
 * needs no copy of this package, and a copy it has cannot disagree with its daemon. Outside
 * Supervisor, `supervised` is false, `self` is null, and every call rejects with DAEMON_GONE.
 * See docs/MESSAGES.md.
 */
import { createDetachedApi } from '../runtime/messages.js';
import { PROCESS_API_KEY, type ProcessApi } from '../shared/messages.js';

const api: ProcessApi = (globalThis as { [PROCESS_API_KEY]?: ProcessApi })[PROCESS_API_KEY] ?? createDetachedApi();

/** True in a process the daemon started; false when run by hand. */
export const supervised: boolean = api.supervised;
/** This process ({ id, name, instance }), or null outside Supervisor. */
export const self: ProcessApi['self'] = api.self;
/** The error class of every rejection; `code` says what happened (see MESSAGE_ERROR_CODES). */
export const MessageError: ProcessApi['MessageError'] = api.MessageError;

/** The processes of `app` (or of every app): id, name, instance, pid, status. */
export const peers: ProcessApi['peers'] = (app) => api.peers(app);
/** Delivers `data` to on('message') in the target's processes; resolves with how many got it. */
export const send: ProcessApi['send'] = (target, data) => api.send(target, data);
/** Asks one process of the target (round-robin for an app name) and resolves with its answer. */
export const request: ProcessApi['request'] = (target, data, options) => api.request(target, data, options);
/** Answers requests: the handler's return value (or promise) is the answer; a throw rejects. */
export const onRequest: ProcessApi['onRequest'] = (handler) => api.onRequest(handler);
/** on('message', (data, from) => …) for send(); on('peer', (event) => …) for online, exit, restart. */
export const on: ProcessApi['on'] = api.on.bind(api);
export const once: ProcessApi['once'] = api.once.bind(api);
export const off: ProcessApi['off'] = api.off.bind(api);

export type {
  MessageErrorCode,
  MessageListener,
  MessageTarget,
  Peer,
  PeerEvent,
  PeerListener,
  ProcessApi,
  ProcessRef,
  RequestHandler,
  RequestOptions,
  Sender,
} from '../shared/messages.js';
export { MESSAGE_ERROR_CODES, MESSAGE_LIMITS } from '../shared/messages.js';

export default api;
