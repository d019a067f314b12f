/**
 * An app: its spec, its slots, its log files and, in cluster mode, the sockets it listens on.
 * The sockets are held by the app, not by any worker: they stay open across crashes, restarts
 * and reloads, and the app lets go of them when it is stopped as a whole or deleted (another
 * cluster app on the same address keeps it open; see cluster/socket-table.ts).
 *
 * Every lifecycle change of the app is an operation on its queue (operations.ts), so no two
 * interleave; the methods below are those operations.
 */
import { constants } from 'node:os';
import type { AppSpec } from '../shared/app-spec.js';
import type { AppDescription, ProcessEvent } from '../shared/protocol.js';
import type { WorkerToDaemon } from '../shared/worker-messages.js';
import type { ListenError } from './cluster/bind-target.js';
import type { FromWorker, ServerQuery } from './cluster/cluster-messages.js';
import type { ClusterSocket, SocketTable } from './cluster/socket-table.js';
import { clusterCode } from './cluster-code.js';
import type { Clock } from './clock.js';
import type { WorkerMember } from './cluster/worker-member.js';
import type { EventBus } from './events.js';
import type { AppLogs, LogService } from './logs.js';
import type { ManagedProcess, ProcessIdentity } from './managed-process.js';
import { MemoryGuard } from './memory-guard.js';
import { checkAborted, OperationQueue, untilAborted, type Skipped } from './operations.js';
import { Slot, type SlotHost } from './slot.js';
import { AppTriggers } from './triggers/app-triggers.js';
import { WorkerProcess } from './worker-process.js';
import { sameSpec } from '../shared/app-spec-compare.js';

/** How long start, restart and scale wait for new processes to leave 'launching' before they answer. */
export const SETTLE_MS = 2000;

/** The log side of an app, as the lifecycle code uses it. */
export type AppLogsLike = Pick<AppLogs, 'sinkFor' | 'note' | 'flush' | 'close' | 'describe' | 'pacing'>;

export interface AppContext {
  logDir: string;
  runtimeUrl: string;
  bus: EventBus;
  /** The daemon's listening sockets for cluster apps, shared by every app on one address (made on first use: see cluster-code.ts). */
  readonly sockets: SocketTable;
  clock: Clock;
  /** Where app logs go by default (the daemon's); unit tests pass createLogs instead. */
  logService?: LogService;
  allocateId(): number;
  /** Every process the daemon starts is reported here (the daemon-wide process table). */
  track(process: ManagedProcess): void;
  /** Something the desired state records changed (apps, specs, slots, statuses). */
  changed(): void;
  /** The app was deleted and its processes are gone: forget it. */
  forget(app: App): void;
  /** Starts a process; the default spawns a WorkerProcess. Unit tests pass fakes. */
  spawn?(spec: AppSpec, identity: ProcessIdentity, logs: AppLogsLike): ManagedProcess;
  /** The app's logs; the default writes files under logDir. */
  createLogs?(name: string, spec: AppSpec): AppLogsLike;
  /** Every process started, with its app and slot id: the message router attaches to it (src/daemon/messages/). */
  processStarted?(app: App, slotId: number, process: ManagedProcess): void;
}

/** Traffic of a cluster worker the app answers: Node's cluster protocol, and reported closes. */
export type ClusterTraffic = FromWorker | Extract<WorkerToDaemon, { t: 'closed' }>;

const UV_EADDRINUSE = -constants.errno.EADDRINUSE;
const UV_EINVAL = -constants.errno.EINVAL;
const UV_ENOTSUP = -constants.errno.ENOTSUP;
const UV_EMFILE = -constants.errno.EMFILE;
const UV_ECANCELED = -constants.errno.ECANCELED;
/** Each address is a descriptor in the daemon: an app that listens without end must not exhaust them. */
const MAX_ADDRESSES_PER_APP = 256;

export class App implements SlotHost {
  readonly slots: Slot[] = [];
  /** Replaced when an update changes the log options; processes keep the sink they started with. */
  logs: AppLogsLike;
  readonly ops: OperationQueue;
  /** The addresses the app's workers listen on, by key; held in the daemon's socket table. */
  readonly sockets = new Map<string, ClusterSocket>();
  /** The last address that could not be bound, kept for `describe`. */
  lastListenError: { address: string; error: ListenError } | null = null;
  /** Completed reloads (of the whole app or of some of its processes). */
  reloads = 0;
  /**
   * Connections the app's workers took from the daemon's sockets (hand-off mode, as each is
   * acknowledged). Kept per app, not per socket: a socket shared by two apps (blue/green) would
   * count each connection under both. Under balance 'os' workers accept themselves: stays 0.
   */
  handedOff = 0;
  #memoryGuard: MemoryGuard | null = null;
  /** cron_restart and watch (src/daemon/triggers/); they follow slotChanged and spec changes. */
  readonly #triggers: AppTriggers;
  #disposed = false;
  readonly #slotWaiters = new Set<() => void>();
  #spec: AppSpec;

  constructor(
    spec: AppSpec,
    private readonly context: AppContext,
    /** Slots to recreate (id and instance), when restoring after a daemon crash. */
    restore: readonly { id: number; instance: number }[] = [],
  ) {
    this.#spec = spec;
    this.ops = new OperationQueue(spec.name);
    this.logs = this.#createLogs(spec);
    if (restore.length > 0) for (const { id, instance } of restore) this.slots.push(new Slot(id, instance, this));
    else for (let instance = 0; instance < spec.instances; instance++) this.#addSlot();
    this.#startMemoryGuard();
    this.#triggers = new AppTriggers(this, context.logDir);
  }

  /**
   * The spec the app runs. Its `instances` is the number of slots, derived here: a spec that
   * arrives (start, update) asks for a count, which the slots are then made to match; from then
   * on the slots are the one record of how many there are (removed ones counted until their
   * process is gone), so the two cannot disagree, even in a snapshot taken mid-operation.
   */
  get spec(): AppSpec {
    if (this.#spec.instances !== this.slots.length) this.#spec = { ...this.#spec, instances: this.slots.length };
    return this.#spec;
  }

  set spec(spec: AppSpec) {
    this.#spec = spec;
  }

  get name(): string {
    return this.spec.name;
  }

  get runtimeUrl(): string {
    return this.context.runtimeUrl;
  }

  get clock(): Clock {
    return this.context.clock;
  }

  readonly spawn = (identity: ProcessIdentity): ManagedProcess => {
    const process = this.context.spawn
      ? this.context.spawn(this.spec, identity, this.logs)
      : new WorkerProcess({ spec: this.spec, identity, runtimeUrl: this.context.runtimeUrl, logs: this.logs.sinkFor(identity.slotId, identity.instance) });
    this.context.track(process);
    this.context.processStarted?.(this, identity.slotId, process);
    return process;
  };

  note(slotId: number, text: string): void {
    this.logs.note(slotId, text);
  }

  emit(event: Omit<ProcessEvent, 'app'>): void {
    this.context.bus.process({ app: this.name, ...event });
  }

  slotChanged(): void {
    for (const wake of [...this.#slotWaiters]) wake();
    this.#triggers.sync();
    this.context.changed();
  }

  connectionTaken(): void {
    this.handedOff += 1;
  }

  rotationChanged(): void {
    for (const socket of this.sockets.values()) socket.flush();
  }

  // ---- operations: each runs on the app's queue ----

  /** Starts the given slots (those not running), then waits a little for them to settle. */
  start(slots: readonly Slot[] = this.slots): Promise<void> {
    return this.ops.run('start', async (signal) => {
      const mine = this.#stillHere(slots);
      for (const slot of mine) slot.start();
      await this.#settle(mine, signal);
    });
  }

  /** Stops the given slots; when that leaves the whole app stopped, its sockets close. */
  stop(slots: readonly Slot[] = this.slots): Promise<void> {
    return this.ops.run('stop', () => this.#stopSlots(this.#stillHere(slots)));
  }

  restart(slots: readonly Slot[] = this.slots): Promise<void> {
    return this.ops.run('restart', (signal) => this.#restart(slots, signal));
  }

  async #restart(slots: readonly Slot[], signal: AbortSignal): Promise<void> {
    const mine = this.#stillHere(slots);
    await Promise.all(mine.map((slot) => slot.hold(() => slot.restart())));
    checkAborted(signal);
    await this.#settle(mine, signal);
  }

  /** `reset`: the restart counters and back-off of these processes start again from zero. */
  reset(slots: readonly Slot[] = this.slots): Promise<void> {
    return this.ops.run('reset', async () => {
      for (const slot of this.#stillHere(slots)) slot.resetCounters();
      this.context.changed();
    });
  }

  /**
   * Replaces the given slots one at a time (each replacement is in rotation before the next
   * starts); the old processes drain concurrently, so the whole reload takes about one drain.
   * A stop or delete arriving meanwhile aborts it: the replacement being started is stopped,
   * and those already swapped stay.
   */
  reload(slots: readonly Slot[] = this.slots): Promise<void> {
    return this.ops.run('reload', (signal) => this.#reload(slots, signal));
  }

  async #reload(slots: readonly Slot[], signal: AbortSignal): Promise<void> {
    await this.#replaceAll(slots, signal);
    this.reloads += 1;
    await this.#settle(this.#stillHere(slots), signal);
  }

  /**
   * A trigger's reload (cluster mode) or restart (fork mode), as an operation of its kind
   * (src/daemon/triggers/; the kinds' rules are in operations.ts). The processes are chosen by
   * `choose` when its turn comes, not now; none: nothing is done. SKIPPED when the queue skips it.
   */
  triggered(kind: 'cron' | 'watch', choose: (how: 'reload' | 'restart') => readonly Slot[]): Promise<void | Skipped> {
    return this.ops.run(kind, async (signal) => {
      const how = this.spec.mode === 'cluster' ? 'reload' : 'restart';
      const slots = choose(how);
      if (slots.length > 0) await (how === 'reload' ? this.#reload(slots, signal) : this.#restart(slots, signal));
    });
  }

  /** Replaces slots one at a time; resolves once every old process is gone (or on abort). */
  async #replaceAll(slots: readonly Slot[], signal: AbortSignal): Promise<void> {
    const drains: Promise<unknown>[] = [];
    try {
      for (const slot of this.#stillHere(slots)) {
        checkAborted(signal);
        // An earlier step may have taken time: the slot may have left the app meanwhile.
        if (!this.slots.includes(slot)) continue;
        drains.push((await slot.hold(() => slot.replace(signal))).retired);
      }
    } finally {
      // Old processes finish draining even when aborted; a stop that follows waits for them
      // itself, so only an uninterrupted replacement waits here.
      if (!signal.aborted) await untilAborted(Promise.allSettled(drains), signal);
    }
  }

  /**
   * Changes the number of processes; removed ones are the highest instances, stopped
   * gracefully. Scaling does not change whether the app runs: new processes of a stopped app
   * stay stopped until it is started.
   */
  scale(count: number): Promise<void> {
    return this.ops.run('scale', (signal) => this.#resize(count, signal));
  }

  /**
   * Deploys the app again, with a new spec if it changed (its config file reloaded, or the
   * caller's environment with --update-env): every process is replaced, with `how: 'reload'`
   * one at a time without downtime as in a reload (cluster mode, before and after), otherwise,
   * and in fork mode, restarted; so code changed on disk is loaded even when the spec is the
   * same, as pm2's reload of a file does. A new instance count scales. The config file is the
   * unit of deployment: afterwards every process of the app runs, stopped ones included.
   * Resolves with whether the spec changed.
   */
  update(spec: AppSpec, how: 'reload' | 'restart'): Promise<boolean> {
    return this.ops.run('update', async (signal) => {
      const before = this.spec;
      const changed = !sameSpec({ ...before, instances: 0 }, { ...spec, instances: 0 });
      if (changed) {
        this.spec = spec;
        this.#specChanged(before);
      }
      if (how === 'reload' && before.mode === 'cluster' && spec.mode === 'cluster') await this.#replaceAll(this.slots, signal);
      else await Promise.all(this.#stillHere(this.slots).map((slot) => slot.hold(() => slot.restart())));
      if (spec.mode !== 'cluster') this.closeSockets();
      checkAborted(signal);
      for (const slot of this.slots) if (!slot.wanted) slot.start();
      await this.#resize(spec.instances, signal);
      if (how === 'reload') this.reloads += 1;
      return changed || before.instances !== spec.instances;
    });
  }

  async #resize(count: number, signal: AbortSignal): Promise<void> {
    const running = this.slots.some((slot) => slot.wanted);
    const added: Slot[] = [];
    while (this.slots.length < count) added.push(this.#addSlot());
    const removed = this.slots.slice(count);
    if (running) for (const slot of added) slot.start();
    // Removed processes stay listed (stopping) until they are gone.
    await Promise.all(removed.map((slot) => slot.hold(() => slot.stop())));
    this.#removeFromList(removed);
    this.context.changed();
    await this.#settle(added, signal);
  }

  /** What follows from a new spec besides the processes themselves. */
  #createLogs(spec: AppSpec): AppLogsLike {
    const logs = this.context.createLogs?.(spec.name, spec) ?? this.context.logService?.forApp(spec.name, spec.logs);
    if (!logs) throw new Error('an app needs createLogs or a logService');
    return logs;
  }

  #specChanged(before: AppSpec): void {
    for (const slot of this.slots) slot.specChanged();
    if (JSON.stringify(before.logs) !== JSON.stringify(this.spec.logs)) {
      // The old logs close once the processes still writing to them are gone, whether the
      // update completes, fails or is aborted (then they may serve on for as long as they run).
      void this.logs.close(Infinity);
      this.logs = this.#createLogs(this.spec);
    }
    if (before.maxMemoryRestart !== this.spec.maxMemoryRestart) {
      this.#memoryGuard?.stop();
      this.#memoryGuard = null;
      this.#startMemoryGuard();
    }
    if (before.balance !== this.spec.balance || before.queueSize !== this.spec.queueSize || before.queueTimeoutMs !== this.spec.queueTimeoutMs) {
      for (const socket of this.sockets.values()) this.context.sockets.reconfigure(socket, this.spec);
    }
    this.#triggers.sync();
    this.context.changed();
  }

  /** pm2's `restart|stop --watch`: watch these paths from now on (none: off); processes are left alone. */
  setWatch(watch: string[]): Promise<void> {
    return this.ops.run('watch-list', async () => {
      if (JSON.stringify(watch) === JSON.stringify(this.spec.watch)) return;
      // Only the watch list changes: the triggers follow it; restart policies (crash-loop and
      // back-off state), logs, memory guard and sockets are not touched, as #specChanged would.
      this.spec = { ...this.spec, watch };
      this.#triggers.sync();
      this.context.changed();
    });
  }

  /**
   * `delete <id>`: stops these processes and removes them from the app (its instance count
   * drops). If that would leave none, it is a delete of the app.
   */
  remove(slots: readonly Slot[]): Promise<void> {
    return this.ops.run('remove', async () => {
      const leaving = this.slots.filter((slot) => slots.includes(slot));
      if (leaving.length === 0) return;
      if (leaving.length === this.slots.length) {
        this.ops.closeForDelete();
        await this.#deleteNow();
        return;
      }
      await Promise.all(leaving.map((slot) => slot.hold(() => slot.stop())));
      this.#removeFromList(leaving);
      if (this.slots.every((slot) => slot.state.status === 'stopped')) this.closeSockets();
      this.context.changed();
    });
  }

  /** Stops everything for good, then the registry forgets the app. */
  delete(): Promise<void> {
    return this.ops.run('delete', () => this.#deleteNow());
  }

  async #deleteNow(): Promise<void> {
    await this.#stopSlots(this.slots);
    this.context.forget(this);
  }

  /** The memory guard's replacement of one process; skipped if any operation runs or waits. */
  async replaceOne(slot: Slot): Promise<void> {
    await this.ops.run('replace', async (signal) => {
      // Only a serving process is replaced; a stopped one must not be started by this.
      if (!this.slots.includes(slot) || slot.state.status !== 'online') return;
      const { retired } = await slot.hold(() => slot.replace(signal));
      await untilAborted(retired, signal);
    });
  }

  /**
   * The given slots that still belong to the app. A command names its slots when it arrives;
   * an operation that ran before it (a scale down, a delete of one process) may have removed
   * some, and a removed slot must never be started again.
   */
  #stillHere(slots: readonly Slot[]): Slot[] {
    return slots.filter((slot) => this.slots.includes(slot));
  }

  async #stopSlots(slots: readonly Slot[]): Promise<void> {
    await Promise.all(slots.map((slot) => slot.hold(() => slot.stop())));
    if (this.slots.every((slot) => slot.state.status === 'stopped')) this.closeSockets();
  }

  /** Waits, bounded, until none of `slots` is launching, so replies show where things landed. */
  #settle(slots: readonly Slot[], signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (signal.aborted || !slots.some((slot) => slot.state.status === 'launching')) finish();
      };
      const finish = (): void => {
        this.clock.clearTimeout(timer);
        this.#slotWaiters.delete(check);
        signal.removeEventListener('abort', finish);
        resolve();
      };
      const timer = this.clock.setTimeout(finish, SETTLE_MS);
      this.#slotWaiters.add(check);
      signal.addEventListener('abort', finish, { once: true });
      check();
    });
  }

  #addSlot(): Slot {
    const slot = new Slot(this.context.allocateId(), this.#freeInstance(), this);
    this.slots.push(slot);
    return slot;
  }

  #removeFromList(slots: readonly Slot[]): Slot[] {
    const removed = this.slots.filter((slot) => slots.includes(slot));
    this.slots.splice(0, this.slots.length, ...this.slots.filter((slot) => !slots.includes(slot)));
    return removed;
  }

  /** The lowest instance number not in use, so scaling down then up reuses numbers. */
  #freeInstance(): number {
    const used = new Set(this.slots.map((s) => s.instance));
    let n = 0;
    while (used.has(n)) n++;
    return n;
  }

  #startMemoryGuard(): void {
    if (this.spec.maxMemoryRestart <= 0) return;
    this.#memoryGuard = new MemoryGuard(
      this.spec.maxMemoryRestart,
      () => this.slots,
      (slot) => this.replaceOne(slot),
      (slot, text) => this.logs.note(slot.id, text),
      { clock: this.clock },
    );
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
    const { isDatagram, sharedSocketsAvailable, socketKey } = clusterCode();
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
    if (this.#disposed || !slot.wanted) {
      // A process listening while its app is being stopped or deleted must not reopen a port.
      reply({ errno: UV_ECANCELED, key: null, data: null });
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
      if (this.#disposed) {
        // Deleted meanwhile: its holds are gone, and this listen must not take one again.
        this.context.sockets.release(socket, this.name);
        return;
      }
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
    this.#disposed = true;
    this.#memoryGuard?.stop();
    this.#triggers.close();
    this.closeSockets();
    void this.logs.close();
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
    return { name: this.name, spec: this.spec, listeners, processes, logs: this.logs.describe(), logPacing: this.logs.pacing(), triggers: this.#triggers.describe() };
  }
}
