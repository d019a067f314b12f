/**
 * The router's view of one process: who it is, what it listens for, the requests it awaits
 * and those it was handed, and its outbound queue (what the daemon wrote to its channel that
 * the kernel has not taken yet), which is bounded.
 */
import { MESSAGE_LIMITS, type MessageCounters, type Sender } from '../../shared/messages.js';
import { OutboundQueue } from '../../shared/outbound-queue.js';
import type { DaemonToWorker } from '../../shared/worker-messages.js';
import type { App } from '../app.js';
import type { Slot } from '../slot.js';
import type { ManagedProcess, RuntimeMessage } from '../managed-process.js';

/** A request between two processes, from the moment the daemon takes it until it is answered. */
export interface RequestEntry {
  /** The requester's number for it. */
  seq: number;
  from: Endpoint;
  /** Where it is addressed, kept to route it again while it waits for its target. */
  to: import('../../shared/messages.js').MessageTarget;
  payload: string;
  /** The daemon's number for it once dispatched (0 while waiting). */
  rid: number;
  /** The process it was handed to, or null while it waits for one. */
  target: Endpoint | null;
}

/**
 * Replies to a process's own calls (acknowledgements, failures, answers) are not refused when
 * its queue is full, since every call must get exactly one; there is one per call the daemon
 * accepted, and the daemon accepts at most maxPendingRequests requests per process. Past this
 * hard cap only a process that sends calls without reading its channel could be, and its
 * replies are dropped.
 */
const REPLY_CAP = MESSAGE_LIMITS.maxQueuedMessages + MESSAGE_LIMITS.maxPendingRequests;

/** Confirmed writes kept at the front of the list before it is compacted. */
const COMPACT_AT = 1024;

export class Endpoint {
  readonly sender: Sender;
  wants = { messages: false, requests: false, peers: false };
  /** Requests handed to this process and not answered, for TARGET_GONE when it exits. */
  readonly inbound = new Set<RequestEntry>();
  /** This process's requests awaiting an answer, by its seq. */
  readonly outstanding = new Map<number, RequestEntry>();
  /** Send acknowledgements gathered during this turn, flushed together. */
  ackSeqs: number[] = [];
  ackCounts: number[] = [];
  readonly #outbound = new OutboundQueue();
  /**
   * The characters of each write not yet confirmed, oldest first: a channel completes its
   * writes in order, so one callback that takes the oldest serves every write (no closure per
   * message).
   */
  readonly #unconfirmed: number[] = [];
  #unconfirmedHead = 0;
  readonly #written = (): void => {
    const chars = this.#unconfirmed[this.#unconfirmedHead++] as number;
    if (this.#unconfirmedHead === this.#unconfirmed.length) {
      this.#unconfirmed.length = 0;
      this.#unconfirmedHead = 0;
    } else if (this.#unconfirmedHead >= COMPACT_AT) {
      // A channel that never empties (a slow reader near the cap) would otherwise keep every
      // confirmed entry: drop them, so the array holds at most the queue's cap plus this.
      this.#unconfirmed.splice(0, this.#unconfirmedHead);
      this.#unconfirmedHead = 0;
    }
    this.#outbound.remove(chars);
  };

  constructor(
    readonly app: App,
    readonly slot: Slot,
    readonly worker: ManagedProcess,
    readonly counters: MessageCounters,
  ) {
    this.sender = { id: slot.id, name: app.name, instance: slot.instance, pid: worker.pid };
  }

  /** The slot's current process, launching or online, with its channel open. */
  get live(): boolean {
    const status = this.slot.state.status;
    return this.slot.worker === this.worker && (status === 'online' || status === 'launching') && this.worker.connected;
  }

  /** Whether `chars` more would fit in the outbound queue. */
  hasRoom(chars: number): boolean {
    return this.#outbound.hasRoom(chars);
  }

  /** Messages, requests and peer events: refused (false) when the queue is full. */
  deliver(message: RuntimeMessage, chars: number): boolean {
    if (!this.hasRoom(chars)) return false;
    return this.#write(message, chars);
  }

  /** A plain message for the app's process.on('message') (pm2's sendDataToProcessId). */
  deliverToApp(packet: unknown, chars: number): boolean {
    if (!this.hasRoom(chars)) return false;
    this.#queued(chars);
    if (this.worker.sendMessage(packet, this.#written)) return true;
    this.#unqueue();
    return false;
  }

  /** A reply to one of this process's calls: see REPLY_CAP. */
  reply(message: Extract<DaemonToWorker, { t: 'sent' | 'answered' | 'failed' | 'peer-list' }> extends infer M ? (M extends unknown ? Omit<M, 'cmd'> : never) : never, chars: number): boolean {
    if (this.#outbound.messages >= REPLY_CAP) {
      this.counters.dropped += 1;
      return false;
    }
    return this.#write(message, chars);
  }

  #write(message: RuntimeMessage, chars: number): boolean {
    this.#queued(chars);
    if (this.worker.sendRuntime(message, this.#written)) return true;
    this.#unqueue();
    return false;
  }

  #queued(chars: number): void {
    this.#outbound.add(chars);
    this.#unconfirmed.push(chars);
  }

  /** Takes back the newest write, which the channel refused without a callback. */
  #unqueue(): void {
    this.#outbound.remove(this.#unconfirmed.pop() as number);
  }
}
