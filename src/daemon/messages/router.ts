/**
 * Routes messages between the daemon's processes (`supervisor-node/process`) and from apps to
 * API bus subscribers (pm2's `process:msg`), and delivers pm2's `sendDataToProcessId`.
 *
 * Made on first use by ../message-routing.ts, which listens to every process and to the
 * daemon's status events, and hands the router what concerns it: each process (`attach`), its
 * runtime and app messages, its exit, and the status events. Requests are tied to the
 * process that got them: when it exits, its requesters get TARGET_GONE at once. A request
 * whose target has no process serving requests yet (starting, restarting, not yet called
 * onRequest) waits for one; the requester's timeout bounds the wait, and its cancel ends it.
 *
 * Bounds: payloads (MESSAGE_LIMITS.maxChars), each process's outbound queue (endpoint.ts), the
 * requests each process may await (maxPendingRequests). Everything a process holds is dropped
 * when it exits. Nothing here runs for a process that neither sends nor listens.
 */
import { MESSAGE_LIMITS, type BusPacket, type MessageCounters, type MessageErrorCode, type MessageTarget, type Peer } from '../../shared/messages.js';
import type { ProcessEvent } from '../../shared/protocol.js';
import { SupervisorError } from '../../shared/errors.js';
import type { WorkerToDaemon } from '../../shared/worker-messages.js';
import { isRecord } from '../../shared/validate.js';
import type { App } from '../app.js';
import type { EventBus } from '../events.js';
import type { Slot } from '../slot.js';
import type { ManagedProcess } from '../managed-process.js';
import type { PeerEvents } from '../peer-events.js';
import { Endpoint, type RequestEntry } from './endpoint.js';
import { checkRuntimeMessage } from './validate.js';

/** Peer events are small; this is what one is charged against a queue. */
const PEER_EVENT_CHARS = 256;

/** An app's `process.send({ type, data, topic })`: what pm2's bus carries (other sends are the app's own business). */
export function isBusMessage(message: unknown): message is { type: string; data: unknown; topic?: unknown } {
  return isRecord(message) && typeof message['type'] === 'string' && message['data'] !== undefined;
}

export class MessageRouter {
  readonly #endpoints = new Map<ManagedProcess, Endpoint>();
  /** Processes that listen for peer events. */
  readonly #watchers = new Set<Endpoint>();
  /** Dispatched requests, by the daemon's number. */
  readonly #requests = new Map<number, RequestEntry>();
  /** Requests whose target has no serving process yet. */
  readonly #waiting = new Set<RequestEntry>();
  readonly #counters = new WeakMap<Slot, MessageCounters>();
  readonly #roundRobin = new WeakMap<App, number>();
  readonly #toAck = new Set<Endpoint>();
  #ackScheduled = false;
  #recheckScheduled = false;
  #nextRid = 1;

  /** `peerEvents` has followed every status event since the daemon started (see message-routing.ts). */
  constructor(
    private readonly apps: ReadonlyMap<string, App>,
    private readonly bus: EventBus,
    private readonly peerEvents: PeerEvents,
  ) {}

  /** A process of `slot`, started and not yet exited: route what it sends until `exited`. */
  attach(app: App, slot: Slot, worker: ManagedProcess): void {
    this.#endpoints.set(worker, new Endpoint(app, slot, worker, this.counters(slot)));
  }

  /** A runtime message (`cmd: 'NODE_SUPERVISOR'`) from an attached process. */
  runtime(worker: ManagedProcess, message: WorkerToDaemon): void {
    const endpoint = this.#endpoints.get(worker);
    if (endpoint) this.#onRuntime(endpoint, message);
  }

  /** A plain `process.send()` from an attached process. */
  appMessage(worker: ManagedProcess, data: unknown): void {
    const endpoint = this.#endpoints.get(worker);
    if (endpoint) this.#onAppMessage(endpoint, data);
  }

  exited(worker: ManagedProcess): void {
    const endpoint = this.#endpoints.get(worker);
    if (endpoint) this.#onExit(endpoint);
  }

  /** The slot's message counters, for `describe`; they add up over the slot's processes. */
  counters(slot: Slot): MessageCounters {
    let counters = this.#counters.get(slot);
    if (!counters) {
      counters = { in: 0, out: 0, dropped: 0 };
      this.#counters.set(slot, counters);
    }
    return counters;
  }

  /**
   * pm2's sendDataToProcessId: the packet goes to that process's process.on('message') as is.
   * Throws NOT_FOUND for an unknown id, FAILED when it has no running Node process or its
   * queue is full, INVALID_REQUEST when the packet is too large.
   */
  sendData(id: number, packet: Record<string, unknown>): void {
    const found = this.#slotById(id);
    if (!found) throw new SupervisorError('NOT_FOUND', `process with id ${id} unknown`);
    const endpoint = found.slot.worker ? this.#endpoints.get(found.slot.worker) : undefined;
    if (!endpoint?.live) throw new SupervisorError('FAILED', `process ${id} is offline (status ${found.slot.state.status})`);
    const chars = JSON.stringify(packet).length;
    if (chars > MESSAGE_LIMITS.maxChars) {
      endpoint.counters.dropped += 1;
      throw new SupervisorError('INVALID_REQUEST', `the packet is ${chars} characters of JSON; the limit is ${MESSAGE_LIMITS.maxChars}`);
    }
    if (!endpoint.deliverToApp(packet, chars)) {
      endpoint.counters.dropped += 1;
      throw new SupervisorError('FAILED', `process ${id} has too many messages queued already`);
    }
    endpoint.counters.in += 1;
  }

  #onRuntime(from: Endpoint, raw: WorkerToDaemon): void {
    const message = checkRuntimeMessage(raw);
    if (message === 'ignore') return;
    if (message === null) {
      from.counters.dropped += 1;
      return;
    }
    switch (message.t) {
      case 'msg':
        this.#send(from, message.seq, message.to, message.payload);
        return;
      case 'req':
        this.#request(from, message.seq, message.to, message.payload);
        return;
      case 'cancel':
        this.#cancel(from, message.seq);
        return;
      case 'answer':
        this.#answer(from, message);
        return;
      case 'peers':
        this.#peers(from, message.seq, message.app);
        return;
      case 'wants':
        this.#wants(from, message);
        return;
    }
  }

  #send(from: Endpoint, seq: number, to: MessageTarget, payload: string): void {
    if (payload.length > MESSAGE_LIMITS.maxChars) return this.#fail(from, seq, 'TOO_LARGE', `the message is ${payload.length} characters of JSON; the limit is ${MESSAGE_LIMITS.maxChars}`);
    const slots = this.#resolve(to);
    if (!slots) return this.#fail(from, seq, 'NOT_FOUND', notFound(to));
    let delivered = 0;
    let refused = 0;
    for (const slot of slots) {
      const endpoint = slot.worker ? this.#endpoints.get(slot.worker) : undefined;
      if (!endpoint?.wants.messages || !endpoint.live) continue;
      if (endpoint.deliver({ t: 'msg', from: from.sender, payload }, payload.length)) {
        delivered += 1;
        endpoint.counters.in += 1;
      } else {
        refused += 1;
        endpoint.counters.dropped += 1;
      }
    }
    if (delivered === 0 && refused > 0) return this.#fail(from, seq, 'QUEUE_FULL', `${describe(to)}: too many messages are queued to it already`);
    if (delivered === 0) from.counters.dropped += 1;
    from.counters.out += delivered;
    this.#ack(from, seq, delivered);
  }

  #request(from: Endpoint, seq: number, to: MessageTarget, payload: string): void {
    if (payload.length > MESSAGE_LIMITS.maxChars) return this.#fail(from, seq, 'TOO_LARGE', `the request is ${payload.length} characters of JSON; the limit is ${MESSAGE_LIMITS.maxChars}`);
    if (from.outstanding.size >= MESSAGE_LIMITS.maxPendingRequests) return this.#fail(from, seq, 'QUEUE_FULL', `${from.outstanding.size} requests of this process already await an answer`);
    if (from.outstanding.has(seq)) return; // a duplicate number: not our runtime's doing
    const entry: RequestEntry = { seq, from, to, payload, rid: 0, target: null };
    from.outstanding.set(seq, entry);
    this.#route(entry);
  }

  /** Hands the request to a serving process, or leaves it waiting, or fails it. */
  #route(entry: RequestEntry): void {
    const slots = this.#resolve(entry.to);
    if (!slots) return this.#finish(entry, 'NOT_FOUND', notFound(entry.to));
    const target = this.#pickServing(slots, entry.to);
    if (target) return this.#dispatch(entry, target);
    if (slots.every(isDown)) return this.#finish(entry, 'TARGET_GONE', `${describe(entry.to)} is ${slots.length === 1 ? (slots[0] as Slot).state.status : 'stopped'}`);
    this.#waiting.add(entry);
  }

  #dispatch(entry: RequestEntry, target: Endpoint): void {
    this.#waiting.delete(entry);
    const rid = this.#nextRid++;
    if (!target.deliver({ t: 'req', rid, from: entry.from.sender, payload: entry.payload }, entry.payload.length)) {
      target.counters.dropped += 1;
      return this.#finish(entry, 'QUEUE_FULL', `${describe(entry.to)}: too many messages are queued to it already`);
    }
    entry.rid = rid;
    entry.target = target;
    this.#requests.set(rid, entry);
    target.inbound.add(entry);
    entry.from.counters.out += 1;
    target.counters.in += 1;
  }

  #answer(from: Endpoint, message: Extract<WorkerToDaemon, { t: 'answer' }>): void {
    const entry = this.#requests.get(message.rid);
    // Already cancelled (the requester timed out) or exited, or never handed to this process.
    if (!entry || entry.target !== from) {
      from.counters.dropped += 1;
      return;
    }
    this.#forget(entry);
    const requester = entry.from;
    if ('error' in message) {
      requester.reply({ t: 'answered', seq: entry.seq, error: message.error }, message.error.message.length);
    } else if (message.payload.length > MESSAGE_LIMITS.maxChars) {
      from.counters.dropped += 1;
      return this.#fail(requester, entry.seq, 'TOO_LARGE', `the answer is ${message.payload.length} characters of JSON; the limit is ${MESSAGE_LIMITS.maxChars}`);
    } else if (!requester.hasRoom(message.payload.length)) {
      return this.#fail(requester, entry.seq, 'QUEUE_FULL', 'the answer came, but too many messages are queued to this process already');
    } else {
      requester.reply({ t: 'answered', seq: entry.seq, payload: message.payload }, message.payload.length);
    }
    from.counters.out += 1;
    requester.counters.in += 1;
  }

  #cancel(from: Endpoint, seq: number): void {
    const entry = from.outstanding.get(seq);
    if (entry) this.#forget(entry);
  }

  #peers(from: Endpoint, seq: number, app: string | null): void {
    const apps = app === null ? [...this.apps.values()] : [this.apps.get(app)].filter((a): a is App => a !== undefined);
    if (app !== null && apps.length === 0) return this.#fail(from, seq, 'NOT_FOUND', `no app named "${app}"`);
    const peers: Peer[] = [];
    for (const a of apps) {
      for (const slot of a.slots) peers.push({ id: slot.id, name: a.name, instance: slot.instance, pid: slot.worker?.pid ?? null, status: slot.state.status });
    }
    from.reply({ t: 'peer-list', seq, peers }, peers.length * 80);
  }

  #wants(from: Endpoint, wants: Endpoint['wants']): void {
    const servesNow = wants.requests && !from.wants.requests;
    from.wants = { messages: wants.messages, requests: wants.requests, peers: wants.peers };
    if (wants.peers) this.#watchers.add(from);
    else this.#watchers.delete(from);
    if (servesNow && this.#waiting.size > 0) this.#recheckWaiting();
  }

  #onExit(endpoint: Endpoint): void {
    this.#endpoints.delete(endpoint.worker);
    this.#watchers.delete(endpoint);
    this.#toAck.delete(endpoint);
    const exit = endpoint.worker.exit;
    const how = exit?.signal ? `killed by ${exit.signal}` : `exit code ${exit?.code ?? 'unknown'}`;
    for (const entry of [...endpoint.inbound]) {
      this.#finish(entry, 'TARGET_GONE', `process ${endpoint.sender.id} (${endpoint.sender.name}, pid ${endpoint.sender.pid}) exited before answering (${how})`);
    }
    for (const entry of [...endpoint.outstanding.values()]) this.#forget(entry);
  }

  /** pm2's bus: `process.send({ type, data, topic })` from an app, to API subscribers. */
  #onAppMessage(from: Endpoint, message: unknown): void {
    if (!isBusMessage(message)) return;
    if (!this.bus.wantsMessages) {
      from.counters.dropped += 1;
      return;
    }
    const chars = JSON.stringify(message.data)?.length ?? 0;
    if (chars > MESSAGE_LIMITS.maxChars) {
      from.counters.dropped += 1;
      return;
    }
    const { id, name, instance, pid } = from.sender;
    const packet: BusPacket = {
      type: message.type,
      topic: message.topic,
      data: message.data,
      at: Date.now(),
      process: { id, pm_id: id, name, instance, pid },
    };
    if (this.bus.message(packet) > 0) from.counters.out += 1;
    else from.counters.dropped += 1;
  }

  /** A status event of the daemon's (the bus's 'process' event). */
  processEvent(event: ProcessEvent): void {
    if (this.#watchers.size > 0) {
      const slot = this.apps.get(event.app)?.slots.find((s) => s.id === event.id);
      const peer = slot ? this.peerEvents.translate(event, slot) : null;
      if (peer) {
        for (const watcher of this.#watchers) {
          if (watcher.deliver({ t: 'peer', event: peer }, PEER_EVENT_CHARS)) watcher.counters.in += 1;
          else watcher.counters.dropped += 1;
        }
      }
    } else {
      // Keep what each slot announced up to date, so the first event a new watcher gets is right.
      const slot = this.apps.get(event.app)?.slots.find((s) => s.id === event.id);
      if (slot) this.peerEvents.translate(event, slot);
    }
    if (this.#waiting.size > 0) this.#recheckWaiting();
  }

  /**
   * Routes waiting requests again: some target may serve now, or be gone for good. Deferred
   * one turn, so that a restart's 'stopped' followed by its 'launching' reads as one change.
   */
  #recheckWaiting(): void {
    if (this.#recheckScheduled) return;
    this.#recheckScheduled = true;
    setImmediate(() => {
      this.#recheckScheduled = false;
      for (const entry of [...this.#waiting]) {
        this.#waiting.delete(entry);
        this.#route(entry);
      }
    });
  }

  /** One serving process of the target: the slot's for an id or instance, round-robin for an app. */
  #pickServing(slots: readonly Slot[], to: MessageTarget): Endpoint | null {
    if (typeof to !== 'string') {
      const worker = slots[0]?.worker;
      const endpoint = worker ? this.#endpoints.get(worker) : undefined;
      return endpoint?.wants.requests && endpoint.live ? endpoint : null;
    }
    const app = this.apps.get(to) as App;
    const start = this.#roundRobin.get(app) ?? 0;
    for (let i = 0; i < slots.length; i++) {
      const index = (start + i) % slots.length;
      const worker = (slots[index] as Slot).worker;
      const endpoint = worker ? this.#endpoints.get(worker) : undefined;
      if (endpoint?.wants.requests && endpoint.live) {
        this.#roundRobin.set(app, index + 1);
        return endpoint;
      }
    }
    return null;
  }

  /** The slots a target names, or null when it names none. */
  #resolve(to: MessageTarget): readonly Slot[] | null {
    if (typeof to === 'number') {
      const found = this.#slotById(to);
      return found ? [found.slot] : null;
    }
    if (typeof to === 'string') {
      const app = this.apps.get(to);
      return app && app.slots.length > 0 ? app.slots : null;
    }
    const slot = this.apps.get(to.app)?.slots.find((s) => s.instance === to.instance);
    return slot ? [slot] : null;
  }

  #slotById(id: number): { app: App; slot: Slot } | null {
    for (const app of this.apps.values()) {
      for (const slot of app.slots) if (slot.id === id) return { app, slot };
    }
    return null;
  }

  /** Ends a request with an error for its requester. */
  #finish(entry: RequestEntry, code: MessageErrorCode, message: string): void {
    this.#forget(entry);
    this.#fail(entry.from, entry.seq, code, message);
  }

  /** Removes every trace of a request. */
  #forget(entry: RequestEntry): void {
    entry.from.outstanding.delete(entry.seq);
    this.#waiting.delete(entry);
    if (entry.target) {
      entry.target.inbound.delete(entry);
      this.#requests.delete(entry.rid);
    }
  }

  #fail(to: Endpoint, seq: number, code: MessageErrorCode, message: string): void {
    if (code === 'TOO_LARGE' || code === 'QUEUE_FULL') to.counters.dropped += 1;
    if (this.#endpoints.get(to.worker) !== to) return; // exited meanwhile
    to.reply({ t: 'failed', seq, code, message }, message.length);
  }

  /** Send acknowledgements go out once per turn, however many sends a process made in it. */
  #ack(to: Endpoint, seq: number, delivered: number): void {
    to.ackSeqs.push(seq);
    to.ackCounts.push(delivered);
    this.#toAck.add(to);
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    setImmediate(() => {
      this.#ackScheduled = false;
      for (const endpoint of this.#toAck) {
        endpoint.reply({ t: 'sent', seqs: endpoint.ackSeqs, counts: endpoint.ackCounts }, endpoint.ackSeqs.length * 16);
        endpoint.ackSeqs = [];
        endpoint.ackCounts = [];
      }
      this.#toAck.clear();
    });
  }
}

/** Stopped, or errored with no retry coming: a request to it would wait for nothing. */
function isDown(slot: Slot): boolean {
  const state = slot.state;
  return state.status === 'stopped' || (state.status === 'errored' && state.retryAt === null);
}

function describe(to: MessageTarget): string {
  if (typeof to === 'number') return `process ${to}`;
  if (typeof to === 'string') return `app "${to}"`;
  return `instance ${to.instance} of app "${to.app}"`;
}

function notFound(to: MessageTarget): string {
  if (typeof to === 'number') return `no process with id ${to}`;
  if (typeof to === 'string') return `no app named "${to}"`;
  return `app "${to.app}" has no instance ${to.instance}`;
}
