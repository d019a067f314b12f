/**
 * An app: its spec, its slots, its log files and, in cluster mode, the sockets it listens on.
 * The sockets are held by the app, not by any worker: they stay open across crashes, restarts
 * and reloads, and the app lets go of them when it is stopped as a whole or deleted (another
 * cluster app on the same address keeps it open; see cluster/socket-table.ts).
 */
import { constants } from 'node:os';
import type { AppSpec } from '../shared/app-spec.js';
import type { AppDescription, ProcessEvent } from '../shared/protocol.js';
import type { WorkerToDaemon } from '../shared/worker-messages.js';
import { isDatagram, socketKey, type ListenError } from './cluster/bind-target.js';
import type { FromWorker, ServerQuery } from './cluster/cluster-messages.js';
import { sharedSocketsAvailable } from './cluster/shared-socket.js';
import type { ClusterSocket, SocketTable } from './cluster/socket-table.js';
import type { WorkerMember } from './cluster/worker-member.js';
import type { EventBus } from './events.js';
import { AppLogs } from './logs.js';
import { MemoryGuard } from './memory-guard.js';
import { Slot, type SlotHost } from './slot.js';

export interface AppContext {
  logDir: string;
  runtimeUrl: string;
  bus: EventBus;
  /** The daemon's listening sockets for cluster apps, shared by every app on one address. */
  sockets: SocketTable;
  allocateId(): number;
}

/** Traffic of a cluster worker the app answers: Node's cluster protocol, and reported closes. */
export type ClusterTraffic = FromWorker | Extract<WorkerToDaemon, { t: 'closed' }>;

const UV_EADDRINUSE = -constants.errno.EADDRINUSE;
const UV_EINVAL = -constants.errno.EINVAL;
const UV_ENOTSUP = -constants.errno.ENOTSUP;
const UV_EMFILE = -constants.errno.EMFILE;
/** Each address is a descriptor in the daemon: an app that listens without end must not exhaust them. */
const MAX_ADDRESSES_PER_APP = 256;

export class App implements SlotHost {
  readonly slots: Slot[] = [];
  readonly logs: AppLogs;
  /** The addresses the app's workers listen on, by key; held in the daemon's socket table. */
  readonly sockets = new Map<string, ClusterSocket>();
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

  rotationChanged(): void {
    for (const socket of this.sockets.values()) socket.flush();
  }

  onClusterMessage(slot: Slot, member: WorkerMember, message: ClusterTraffic): void {
    if ('t' in message) {
      if (Number.isFinite(message.count)) member.noteClosed(message.count);
      return;
    }
    switch (message.act) {
      case 'queryServer':
        // A worker that is disconnecting is closing its servers, not opening any (as in node:cluster).
        if (member.disconnecting) return;
        if (message.query) void this.#queryServer(slot, member, message.seq, message.query);
        else member.worker.sendCluster({ ack: message.seq, errno: UV_EINVAL, key: null, data: null });
        return;
      case 'listening':
        // Its server emitted 'listening' on a socket the daemon holds: in cluster mode that is readiness.
        slot.noteListened(member.worker);
        return;
      case 'close':
        member.leave(message.key);
        return;
      case 'exitedAfterDisconnect':
        // cluster.worker.disconnect() (or kill()): it closes its servers and its IPC channel, and
        // its exit is not the daemon's doing. The app is still wanted: when it exits, the slot
        // restarts it as after any exit.
        member.disconnecting = true;
        member.worker.sendCluster({ ack: message.seq });
        this.logs.note(slot.id, `process ${slot.id} (pid ${member.worker.pid}) disconnected (cluster.worker.disconnect()); it is restarted when it exits`);
        return;
      case 'online':
        return;
    }
  }

  /**
   * A worker's listen() (or dgram bind()): the socket for that address, bound now if nobody
   * holds it yet, and the reply Node's worker code expects. In hand-off mode the reply names
   * the key its connections will carry; in shared mode it carries the listening handle.
   */
  async #queryServer(slot: Slot, member: WorkerMember, seq: number, query: ServerQuery): Promise<void> {
    const reply = (fields: { errno: number; key: string | null; data: unknown; sockname?: object }, handle?: unknown, attempt = 1): void => {
      // A listening handle that arrives without its descriptor (the worker is out of them) is
      // sent again, twice at most; then the listen fails with EMFILE instead of waiting forever.
      const onLost = (): void => {
        if (attempt < 3) reply(fields, handle, attempt + 1);
        else {
          if (fields.key !== null) member.leave(fields.key);
          reply({ errno: UV_EMFILE, key: null, data: null });
        }
      };
      member.worker.sendCluster({ ack: seq, ...fields }, handle, handle === undefined ? undefined : onLost);
    };
    if (query.fd !== null || (isDatagram(query) && !sharedSocketsAvailable(true))) {
      // listen({ fd }) names a descriptor of the worker, not ours: the runtime keeps it local,
      // so only a worker without it gets here.
      this.logs.note(slot.id, `cannot serve a ${query.fd !== null ? 'listen({ fd })' : 'dgram socket'} through the daemon on this Node`);
      reply({ errno: query.fd !== null ? UV_EINVAL : UV_ENOTSUP, key: null, data: null });
      return;
    }
    const key = socketKey(query, this.name);
    if (member.sockets.has(key)) {
      // A second server of this worker on an address it already listens on: as in plain Node.
      reply({ errno: UV_EADDRINUSE, key: null, data: null });
      return;
    }
    let socket = this.sockets.get(key);
    if (!socket && this.sockets.size >= MAX_ADDRESSES_PER_APP) {
      this.logs.note(slot.id, `cannot listen on ${key}: the app already holds ${MAX_ADDRESSES_PER_APP} addresses`);
      reply({ errno: UV_EMFILE, key: null, data: null });
      return;
    }
    if (!socket) {
      const acquired = this.context.sockets.acquire(key, query, this.spec);
      socket = acquired.socket;
      this.sockets.set(key, socket);
      if (acquired.owner !== this.name && (socket.mode === 'shared') !== (this.spec.balance === 'os') && !isDatagram(query)) {
        this.logs.note(slot.id, `${socket.label} is shared with app ${acquired.owner}, which bound it: its connections are ${socket.mode === 'shared' ? 'accepted by the workers (balance os)' : 'handed over by the daemon'} for this app too`);
      } else if (acquired.owner === this.name && this.spec.balance === 'os' && socket.mode !== 'shared') {
        this.logs.note(slot.id, `balance os is not available on this Node (no net._createServerHandle); ${socket.label} is served round-robin`);
      }
    }
    socket.data ??= query.data;
    try {
      await socket.ready;
      if (member.worker.exit || !member.worker.connected) return;
      if (member.sockets.has(key)) {
        reply({ errno: UV_EADDRINUSE, key: null, data: null });
        return;
      }
      socket.members.add(member);
      member.sockets.set(key, socket);
      if (socket.reportsCloses) member.reportCloses();
      const sockname = socket.sockname();
      reply({ errno: 0, key, data: socket.data, ...(socket.mode === 'handoff' && sockname && { sockname }) }, socket.sharedHandle ?? undefined);
      socket.flush();
    } catch (error) {
      // Forget the socket so that a later listen tries again (the port may have been freed).
      if (this.sockets.get(key) === socket) {
        this.sockets.delete(key);
        this.context.sockets.forget(socket);
      }
      const listenError = error as ListenError;
      this.lastListenError = { address: socket.label, error: listenError };
      this.logs.note(slot.id, `cannot listen on ${socket.label}: ${listenError.code} ${listenError.message}`);
      reply({ errno: listenError.errno || UV_EINVAL, key: null, data: null });
    }
  }

  /** Lets go of every socket the app holds (stopped as a whole, or deleted); the last holder closes it. */
  closeSockets(): void {
    for (const socket of this.sockets.values()) this.context.sockets.release(socket, this.name);
    this.sockets.clear();
  }

  /** Releases everything the app holds; its slots must already be stopped. */
  dispose(): void {
    this.#memoryGuard?.stop();
    this.closeSockets();
    this.logs.close();
  }

  describe(processes: AppDescription['processes']): AppDescription {
    const listeners = [...this.sockets.values()].map((s) => ({
      address: s.label,
      error: s.error ? `${s.error.code} ${s.error.message}` : null,
      queued: s.queued,
      dropped: s.dropped,
    }));
    const failed = this.lastListenError;
    // The last failure is shown until that address is held again.
    if (failed && !listeners.some((l) => l.address === failed.address)) {
      listeners.push({ address: failed.address, error: `${failed.error.code} ${failed.error.message}`, queued: 0, dropped: 0 });
    }
    return { name: this.name, spec: this.spec, listeners, processes };
  }
}
