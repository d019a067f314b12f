/**
 * An app: its spec, its slots, its log files and, in cluster mode, the sockets it listens on.
 * The sockets belong to the app, not to any worker: they stay open across crashes, restarts
 * and reloads, and close when the app is stopped as a whole or deleted.
 */
import type { AppSpec } from '../shared/app-spec.js';
import type { AppDescription, ProcessEvent } from '../shared/protocol.js';
import { listenKey, type WorkerToDaemon, type ListenError } from '../shared/worker-messages.js';
import { createBalancer } from './cluster/balancer.js';
import { OwnedSocket, type RawHandle } from './cluster/owned-socket.js';
import type { WorkerMember } from './cluster/worker-member.js';
import type { EventBus } from './events.js';
import { AppLogs } from './logs.js';
import { MemoryGuard } from './memory-guard.js';
import { Slot, type SlotHost } from './slot.js';
import type { WorkerProcess } from './worker-process.js';

export interface AppContext {
  logDir: string;
  runtimeUrl: string;
  bus: EventBus;
  allocateId(): number;
  /** Every process spawned, for the message router (src/daemon/messages/). */
  processStarted?(app: App, slot: Slot, worker: WorkerProcess): void;
}

export class App implements SlotHost {
  readonly slots: Slot[] = [];
  readonly logs: AppLogs;
  readonly sockets = new Map<string, OwnedSocket>();
  /** The last address that could not be bound, kept for `describe`. */
  lastListenError: { address: string; error: ListenError } | null = null;
  readonly #memoryGuard: MemoryGuard | null;

  constructor(
    public spec: AppSpec,
    private readonly context: AppContext,
  ) {
    this.logs = new AppLogs(context.logDir, spec.name, context.bus);
    for (let instance = 0; instance < spec.instances; instance++) this.addSlot();
    this.#memoryGuard =
      spec.maxMemoryRestart > 0
        ? new MemoryGuard(spec.maxMemoryRestart, () => this.slots, (slot, text) => this.logs.note(slot.id, text))
        : null;
  }

  get name(): string {
    return this.spec.name;
  }

  get runtimeUrl(): string {
    return this.context.runtimeUrl;
  }

  addSlot(): Slot {
    const slot = new Slot(this.context.allocateId(), this.#freeInstance(), this);
    this.slots.push(slot);
    return slot;
  }

  /** The lowest instance number not in use, so scaling down then up reuses numbers. */
  #freeInstance(): number {
    const used = new Set(this.slots.map((s) => s.instance));
    let n = 0;
    while (used.has(n)) n++;
    return n;
  }

  emit(event: Omit<ProcessEvent, 'app'>): void {
    this.context.bus.process({ app: this.name, ...event });
  }

  processStarted(slot: Slot, worker: WorkerProcess): void {
    this.context.processStarted?.(this, slot, worker);
  }

  rotationChanged(): void {
    for (const socket of this.sockets.values()) socket.flush();
  }

  onClusterMessage(slot: Slot, member: WorkerMember, message: WorkerToDaemon, handle: unknown): void {
    switch (message.t) {
      case 'listen':
        void this.#listen(slot, member, message.seq, message.request);
        return;
      case 'unlisten': {
        const socket = member.sockets.get(message.key);
        socket?.members.delete(member);
        member.sockets.delete(message.key);
        return;
      }
      case 'refuse': {
        const raw = handle as RawHandle | undefined;
        if (!raw) return;
        const socket = this.sockets.get(message.key);
        if (socket) socket.redispatch(raw);
        else raw.close();
        return;
      }
      case 'closed': {
        let total = 0;
        for (const count of Object.values(message.counts)) total += count;
        member.noteClosed(total);
        return;
      }
      default:
        return;
    }
  }

  async #listen(slot: Slot, member: WorkerMember, seq: number, request: Parameters<typeof listenKey>[0]): Promise<void> {
    const key = listenKey(request);
    let socket = this.sockets.get(key);
    if (!socket) {
      socket = new OwnedSocket(key, request, createBalancer(this.spec.balance), {
        size: this.spec.queueSize,
        timeoutMs: this.spec.queueTimeoutMs,
      });
      this.sockets.set(key, socket);
      socket.ready = socket.bind();
    }
    const reportCloses = this.spec.balance === 'least-connections';
    try {
      const address = await socket.ready;
      if (member.worker.exit) return;
      socket.members.add(member);
      member.sockets.set(key, socket);
      member.worker.sendRuntime({ t: 'listening', seq, key, address, error: null, reportCloses });
      slot.noteListened(member.worker);
      socket.flush();
    } catch (error) {
      // Forget the socket so that a later listen tries again (the port may have been freed).
      if (this.sockets.get(key) === socket) this.sockets.delete(key);
      const listenError = error as ListenError;
      this.lastListenError = { address: socket.label, error: listenError };
      this.logs.note(slot.id, `cannot listen on ${socket.label}: ${listenError.code} ${listenError.message}`);
      member.worker.sendRuntime({ t: 'listening', seq, key, address: null, error: listenError, reportCloses });
    }
  }

  /** Closes every socket the app owns (app stopped as a whole, or deleted). */
  closeSockets(): void {
    for (const socket of this.sockets.values()) socket.close();
    this.sockets.clear();
  }

  /** Releases everything the app holds; its slots must already be stopped. */
  dispose(): void {
    this.#memoryGuard?.stop();
    this.closeSockets();
    this.logs.close();
  }

  describe(processes: AppDescription['processes']): AppDescription {
    return {
      name: this.name,
      spec: this.spec,
      listeners: [...this.sockets.values()].map((s) => ({
        address: s.label,
        error: s.error ? `${s.error.code} ${s.error.message}` : null,
        queued: s.queued,
        dropped: s.dropped,
      })).concat(
        this.lastListenError && !this.sockets.has(this.lastListenError.address)
          ? [{ address: this.lastListenError.address, error: `${this.lastListenError.error.code} ${this.lastListenError.error.message}`, queued: 0, dropped: 0 }]
          : [],
      ),
      processes,
    };
  }
}
