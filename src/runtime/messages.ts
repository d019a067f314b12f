/**
 * The implementation of `supervisor-node/process`: messages, requests and peer events between
 * the daemon's processes, over this process's IPC channel to the daemon (on the
 * NODE_SUPERVISOR route, so the app's own process.on('message') sees none of it).
 *
 * The preload creates it and publishes it under PROCESS_API_KEY; the module an app imports is
 * only an accessor, so whichever copy of the package the app resolves, it talks to the
 * runtime the daemon loaded, and the two cannot disagree on the protocol.
 *
 * Every call is bounded: its payload (TOO_LARGE), the calls awaiting the daemon and the bytes
 * not yet written to the channel (QUEUE_FULL), the time a request waits (TIMEOUT). The daemon
 * answers every call; when the channel closes, whatever is pending fails with DAEMON_GONE.
 */
import { EventEmitter } from 'node:events';
import { MessageError } from '../shared/message-error.js';
import {
  MESSAGE_LIMITS,
  PROCESS_API_KEY,
  isMessageErrorCode,
  type MessageListener,
  type MessageTarget,
  type Peer,
  type PeerListener,
  type ProcessApi,
  type ProcessRef,
  type RequestHandler,
  type RequestOptions,
  type Sender,
} from '../shared/messages.js';
import { OutboundQueue } from '../shared/outbound-queue.js';
import type { RemoteError } from '../shared/worker-messages.js';
import { hasDaemon, onDaemon, toDaemon } from './channel.js';

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | null;
}

type Outgoing = Parameters<typeof toDaemon>[0];

const NOT_SUPERVISED = 'this process was not started by Supervisor: there is no daemon to route messages';

/**
 * Keeps the process alive while it has a pending call, a request handler or a listener, as a
 * referenced socket would. One timer that never fires, referenced and unreferenced: a request
 * at a time would otherwise create and clear a timer per request.
 */
class KeepAlive {
  #reasons = 0;
  #timer: NodeJS.Timeout | null = null;

  hold(): void {
    if (this.#reasons++ > 0) return;
    this.#timer ??= setInterval(() => undefined, 2 ** 31 - 1);
    this.#timer.ref();
  }

  release(): void {
    if (--this.#reasons === 0) this.#timer?.unref();
  }
}

class ConnectedApi implements ProcessApi {
  readonly supervised = true;
  readonly MessageError = MessageError;
  readonly self: ProcessRef;
  readonly #events = new EventEmitter();
  readonly #pending = new Map<number, Pending>();
  #handler: RequestHandler | null = null;
  #nextSeq = 1;
  /** Written to the channel and not yet flushed by it. */
  readonly #outbound = new OutboundQueue();
  #wantsSent = { messages: false, requests: false, peers: false };
  #wantsScheduled = false;
  #holding = false;
  #holdingForCalls = false;
  readonly #keepAlive = new KeepAlive();
  #gone = false;

  constructor(self: ProcessRef) {
    this.self = self;
    // A master may keep one listener per worker; no leak warning for that.
    this.#events.setMaxListeners(0);
    // What the process listens for changes with every listener added or removed, including a
    // once() listener removing itself.
    this.#events.on('newListener', () => this.#wantsChanged());
    this.#events.on('removeListener', () => this.#wantsChanged());
    onDaemon('msg', (m) => this.#events.emit('message', parse(m.payload), m.from));
    onDaemon('req', (m) => this.#serve(m.rid, m.payload, m.from));
    onDaemon('sent', (m) => {
      for (let i = 0; i < m.seqs.length; i++) this.#settle(m.seqs[i] as number)?.resolve(m.counts[i]);
    });
    onDaemon('answered', (m) => {
      const pending = this.#settle(m.seq);
      if (!pending) return;
      if ('error' in m) pending.reject(fromRemote(m.error));
      else pending.resolve(parse(m.payload));
    });
    onDaemon('failed', (m) => this.#settle(m.seq)?.reject(new MessageError(m.code, m.message)));
    onDaemon('peer-list', (m) => this.#settle(m.seq)?.resolve(m.peers));
    onDaemon('peer', (m) => this.#events.emit('peer', m.event));
  }

  peers(app?: string): Promise<Peer[]> {
    if (app !== undefined && typeof app !== 'string') return Promise.reject(new TypeError('peers(app): app must be a string'));
    return this.#call({ t: 'peers', seq: 0, app: app ?? null }, 0, null) as Promise<Peer[]>;
  }

  send(target: MessageTarget, data: unknown): Promise<number> {
    const checked = checkTarget(target);
    if (checked) return Promise.reject(checked);
    const payload = serialize(data, 'the message');
    if (payload instanceof Error) return Promise.reject(payload);
    return this.#call({ t: 'msg', seq: 0, to: target, payload }, payload.length, null) as Promise<number>;
  }

  request(target: MessageTarget, data: unknown, options: RequestOptions = {}): Promise<unknown> {
    const checked = checkTarget(target);
    if (checked) return Promise.reject(checked);
    const timeout = options.timeout ?? MESSAGE_LIMITS.defaultTimeoutMs;
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > MESSAGE_LIMITS.maxTimeoutMs) {
      return Promise.reject(new RangeError(`request timeout must be an integer from 1 to ${MESSAGE_LIMITS.maxTimeoutMs} ms`));
    }
    const payload = serialize(data, 'the request');
    if (payload instanceof Error) return Promise.reject(payload);
    return this.#call({ t: 'req', seq: 0, to: target, payload }, payload.length, { timeout, target });
  }

  onRequest(handler: RequestHandler | null): void {
    if (handler !== null && typeof handler !== 'function') throw new TypeError('onRequest(handler): handler must be a function or null');
    this.#handler = handler;
    this.#wantsChanged();
  }

  on(event: 'message' | 'peer', listener: MessageListener | PeerListener): this {
    this.#events.on(checkEvent(event), listener);
    return this;
  }

  once(event: 'message' | 'peer', listener: MessageListener | PeerListener): this {
    this.#events.once(checkEvent(event), listener);
    return this;
  }

  off(event: 'message' | 'peer', listener: MessageListener | PeerListener): this {
    this.#events.off(checkEvent(event), listener);
    return this;
  }

  /** The channel closed: every pending call fails now rather than at its timeout. */
  daemonGone(): void {
    this.#gone = true;
    const error = new MessageError('DAEMON_GONE', 'the daemon went away (the IPC channel closed)');
    for (const [seq, pending] of this.#pending) {
      this.#settle(seq);
      pending.reject(error);
    }
    this.#setHolding(false);
  }

  #call(message: Outgoing & { seq: number }, chars: number, request: { timeout: number; target: MessageTarget } | null): Promise<unknown> {
    if (this.#gone || !hasDaemon()) return Promise.reject(new MessageError('DAEMON_GONE', 'the daemon went away (the IPC channel closed)'));
    if (chars > MESSAGE_LIMITS.maxChars) {
      return Promise.reject(new MessageError('TOO_LARGE', `${message.t === 'req' ? 'the request' : 'the message'} is ${chars} characters of JSON; the limit is ${MESSAGE_LIMITS.maxChars}`));
    }
    if (this.#pending.size >= MESSAGE_LIMITS.maxPendingRequests) {
      return Promise.reject(new MessageError('QUEUE_FULL', `${this.#pending.size} calls already await the daemon (the limit)`));
    }
    const full = this.#queueFull(chars);
    if (full) return Promise.reject(full);
    const seq = this.#nextSeq++;
    message.seq = seq;
    return new Promise((resolve, reject) => {
      const pending: Pending = { resolve, reject, timer: null };
      if (request) {
        pending.timer = setTimeout(() => {
          if (this.#pending.get(seq) !== pending) return;
          this.#settle(seq);
          reject(new MessageError('TIMEOUT', `no answer from ${describeTarget(request.target)} within ${request.timeout} ms`));
          this.#write({ t: 'cancel', seq }, 0);
        }, request.timeout);
      }
      this.#pending.set(seq, pending);
      this.#holdForCalls();
      this.#write(message, chars);
    });
  }

  /** Takes a pending call out of the map (and stops its timer); undefined if it is settled already. */
  #settle(seq: number): Pending | undefined {
    const pending = this.#pending.get(seq);
    if (!pending) return undefined;
    this.#pending.delete(seq);
    if (pending.timer) clearTimeout(pending.timer);
    this.#holdForCalls();
    return pending;
  }

  /** A pending call keeps the process alive until the daemon answers it, as a socket would. */
  #holdForCalls(): void {
    const holding = this.#pending.size > 0;
    if (holding === this.#holdingForCalls) return;
    this.#holdingForCalls = holding;
    if (holding) this.#keepAlive.hold();
    else this.#keepAlive.release();
  }

  #queueFull(chars: number): MessageError | null {
    if (!this.#outbound.hasRoom(chars)) {
      return new MessageError('QUEUE_FULL', `the channel to the daemon already holds ${this.#outbound.messages} messages (${this.#outbound.chars} characters) not yet written`);
    }
    return null;
  }

  #write(message: Outgoing, chars: number): void {
    this.#outbound.add(chars);
    toDaemon(message, () => this.#outbound.remove(chars));
  }

  #serve(rid: number, payload: string, from: Sender): void {
    const handler = this.#handler;
    if (!handler) {
      this.#answerError(rid, { message: `process ${this.self.id} (${this.self.name}) has no onRequest handler`, name: 'MessageError', code: 'NOT_FOUND' });
      return;
    }
    let result: unknown;
    try {
      result = handler(parse(payload), from);
    } catch (error) {
      this.#answerError(rid, toRemote(error));
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.#answer(rid, value),
        (error: unknown) => this.#answerError(rid, toRemote(error)),
      );
    } else {
      this.#answer(rid, result);
    }
  }

  #answer(rid: number, value: unknown): void {
    if (this.#gone) return;
    const payload = serialize(value, 'the answer');
    if (payload instanceof Error) {
      this.#answerError(rid, toRemote(payload));
      return;
    }
    if (payload.length > MESSAGE_LIMITS.maxChars) {
      this.#answerError(rid, { name: 'MessageError', code: 'TOO_LARGE', message: `the answer is ${payload.length} characters of JSON; the limit is ${MESSAGE_LIMITS.maxChars}` });
      return;
    }
    // An answer is never refused for a full queue: the requester is waiting for it, and the
    // number of answers in flight is bounded by the requests the daemon let through.
    this.#write({ t: 'answer', rid, payload }, payload.length);
  }

  #answerError(rid: number, error: RemoteError): void {
    if (this.#gone) return;
    this.#write({ t: 'answer', rid, error }, error.message.length);
  }

  /** Tells the daemon what this process listens for, once per turn however many calls changed it. */
  #wantsChanged(): void {
    if (this.#wantsScheduled) return;
    this.#wantsScheduled = true;
    // Deferred: 'newListener' fires before the listener is added.
    queueMicrotask(() => {
      this.#wantsScheduled = false;
      const wants = {
        messages: this.#events.listenerCount('message') > 0,
        requests: this.#handler !== null,
        peers: this.#events.listenerCount('peer') > 0,
      };
      this.#setHolding(wants.messages || wants.requests || wants.peers);
      const sent = this.#wantsSent;
      if (wants.messages === sent.messages && wants.requests === sent.requests && wants.peers === sent.peers) return;
      this.#wantsSent = wants;
      if (!this.#gone && hasDaemon()) this.#write({ t: 'wants', ...wants }, 0);
    });
  }

  /**
   * A process that listens for messages or serves requests stays alive for them, as one with a
   * process.on('message') listener does. (Our 'internalMessage' route does not reference the
   * channel, so without this a pure message server would exit after its first turn.)
   */
  #setHolding(holding: boolean): void {
    if (holding === this.#holding || (holding && this.#gone)) return;
    this.#holding = holding;
    if (holding) this.#keepAlive.hold();
    else this.#keepAlive.release();
  }
}

/** What a process not started by Supervisor gets: the same API, with nobody to talk to. */
class DetachedApi implements ProcessApi {
  readonly supervised = false;
  readonly self = null;
  readonly MessageError = MessageError;
  peers(): Promise<Peer[]> {
    return Promise.reject(new MessageError('DAEMON_GONE', NOT_SUPERVISED));
  }
  send(): Promise<number> {
    return Promise.reject(new MessageError('DAEMON_GONE', NOT_SUPERVISED));
  }
  request(): Promise<unknown> {
    return Promise.reject(new MessageError('DAEMON_GONE', NOT_SUPERVISED));
  }
  onRequest(): void {}
  on(): this {
    return this;
  }
  once(): this {
    return this;
  }
  off(): this {
    return this;
  }
}

let installed: ConnectedApi | null = null;

/** Creates the API for this process and publishes it for the module; the preload calls it once. */
export function installProcessApi(env: NodeJS.ProcessEnv = process.env): void {
  if (installed) return;
  installed = new ConnectedApi({
    id: Number(env['SUPERVISOR_ID']),
    name: env['SUPERVISOR_APP'] ?? '',
    instance: Number(env['SUPERVISOR_INSTANCE'] ?? 0),
  });
  Object.defineProperty(globalThis, PROCESS_API_KEY, { value: installed, enumerable: false, configurable: false, writable: false });
}

/** For the accessor when no runtime published an API (the process runs outside Supervisor). */
export function createDetachedApi(): ProcessApi {
  return new DetachedApi();
}

/** The preload calls this when the daemon's channel closes. */
export function daemonGone(): void {
  installed?.daemonGone();
}

function checkEvent(event: string): 'message' | 'peer' {
  if (event !== 'message' && event !== 'peer') throw new TypeError(`unknown event "${String(event)}": use 'message' or 'peer'`);
  return event;
}

function checkTarget(target: unknown): TypeError | null {
  if (typeof target === 'number') return Number.isSafeInteger(target) && target >= 0 ? null : new TypeError(`target ${target} is not a process id`);
  if (typeof target === 'string') return target.length > 0 && target.length <= 200 ? null : new TypeError('target must be a non-empty app name');
  if (typeof target === 'object' && target !== null) {
    const { app, instance } = target as { app?: unknown; instance?: unknown };
    if (typeof app === 'string' && app.length > 0 && app.length <= 200 && Number.isSafeInteger(instance) && (instance as number) >= 0) return null;
  }
  return new TypeError('target must be a process id, an app name or { app, instance }');
}

function describeTarget(target: MessageTarget): string {
  if (typeof target === 'number') return `process ${target}`;
  if (typeof target === 'string') return `app "${target}"`;
  return `instance ${target.instance} of "${target.app}"`;
}

function serialize(value: unknown, what: string): string | TypeError {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch (error) {
    return new TypeError(`${what} cannot be sent as JSON: ${(error as Error).message}`);
  }
}

function parse(payload: string): unknown {
  return JSON.parse(payload);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function toRemote(error: unknown): RemoteError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { message: error.message, name: error.name, ...(typeof code === 'string' && { code }) };
  }
  return { message: String(error) };
}

/**
 * A MessageError the handler let through (say, TARGET_GONE of a request it made itself) keeps
 * its code; anything else it threw is REMOTE, with what it threw in `remote`.
 */
function fromRemote(error: RemoteError): MessageError {
  if (error.name === 'MessageError' && isMessageErrorCode(error.code) && error.code !== 'REMOTE') return new MessageError(error.code, error.message);
  return new MessageError('REMOTE', error.message, error);
}
