/**
 * A process slot: a stable id and instance number, and the processes filling it:
 *
 * - `current`: the one that counts (its status is the slot's status);
 * - `candidate`: during a reload, the replacement that is starting but not yet in rotation;
 * - `retiring`: processes taken out of service that are still draining or stopping.
 *
 * Every process the slot starts is in one of those three places until it has exited, so a
 * stop always finds everything, and nothing is orphaned whatever interleaves. The slot reacts
 * to process events (ready, exit, an uncaught exception) by itself; operations from the app
 * (start, stop, restart, replace) come one at a time through the app's operation queue, and
 * while one works on the slot (hold) a crash restart that falls due waits for it to finish.
 */
import type { AppSpec } from '../shared/app-spec.js';
import { SupervisorError } from '../shared/errors.js';
import type { ExitRecord, ProcessEvent } from '../shared/protocol.js';
import type { WorkerToDaemon } from '../shared/worker-messages.js';
import type { ClusterTraffic } from './app.js';
import type { Clock, Timer } from './clock.js';
import { clusterCode } from './cluster-code.js';
import type { WorkerMember } from './cluster/worker-member.js';
import type { ManagedProcess, SpawnProcess, WorkerExit } from './managed-process.js';
import { untilAborted } from './operations.js';
import { Readiness, type ReadinessRule } from './readiness.js';
import { DEFAULT_CRASH_WINDOW_MS, describeExit, RestartPolicy, type RestartDecision } from './restart-policy.js';
import { retire } from './retire.js';
import { transition, type SlotState } from './slot-state.js';

/** What a slot needs from its app. */
export interface SlotHost {
  readonly spec: AppSpec;
  readonly clock: Clock;
  readonly spawn: SpawnProcess;
  /** A note from the daemon for the app's error log. */
  note(slotId: number, text: string): void;
  /** Cluster traffic from a worker (Node's cluster protocol, reported closes). */
  onClusterMessage(slot: Slot, member: WorkerMember, message: ClusterTraffic): void;
  /** A worker entered or left rotation: queued connections may now have somewhere to go. */
  rotationChanged(): void;
  /** One of the app's workers took a connection handed off by the daemon (for metrics). */
  connectionTaken(): void;
  /** A process event for subscribers. */
  emit(event: Omit<ProcessEvent, 'app'>): void;
  /** The slot's status changed (waiters re-check, the desired state is saved). */
  slotChanged(slot: Slot): void;
}

interface Running {
  process: ManagedProcess;
  member: WorkerMember | null;
  readiness: Readiness | null;
}

export class Slot {
  #state: SlotState;
  #current: Running | null = null;
  #candidate: Running | null = null;
  readonly #retiring = new Map<ManagedProcess, Promise<WorkerExit>>();
  #restartTimer: Timer | null = null;
  /** Operations working on the slot now; a due crash restart waits until there are none. */
  #holds = 0;
  #restartDue = false;
  #stopping: Promise<void> | null = null;
  restarts = 0;
  lastExit: ExitRecord | null = null;
  #policy: RestartPolicy;

  constructor(
    readonly id: number,
    readonly instance: number,
    private readonly host: SlotHost,
  ) {
    this.#state = { status: 'stopped', since: host.clock.now() };
    this.#policy = new RestartPolicy({ ...host.spec, crashWindowMs: DEFAULT_CRASH_WINDOW_MS });
  }

  get policy(): RestartPolicy {
    return this.#policy;
  }

  /** The app's spec changed: restart decisions follow the new one (and forget past crashes). */
  specChanged(): void {
    this.#policy = new RestartPolicy({ ...this.host.spec, crashWindowMs: DEFAULT_CRASH_WINDOW_MS });
  }

  get state(): SlotState {
    return this.#state;
  }

  /** The current process, if any. */
  get worker(): ManagedProcess | null {
    return this.#current?.process ?? null;
  }

  get member(): WorkerMember | null {
    return this.#current?.member ?? null;
  }

  get erroredReason(): string | null {
    return this.#state.status === 'errored' ? this.#state.reason : null;
  }

  get nextRestartAt(): number | null {
    if (this.#state.status === 'waiting-restart') return this.#state.restartAt;
    if (this.#state.status === 'errored') return this.#state.retryAt;
    return null;
  }

  /** Whether a command wants this slot running (a crash or a scheduled restart does not change that). */
  get wanted(): boolean {
    const status = this.#state.status;
    return status !== 'stopped' && status !== 'stopping';
  }

  /** Every live process of the slot: current, candidate and retiring. */
  *processes(): Iterable<ManagedProcess> {
    if (this.#current) yield this.#current.process;
    if (this.#candidate) yield this.#candidate.process;
    yield* this.#retiring.keys();
  }

  /** The member of one of the slot's processes (cluster mode). */
  memberOf(process: ManagedProcess): WorkerMember | null {
    for (const running of [this.#current, this.#candidate]) if (running?.process === process) return running.member;
    return null;
  }

  /**
   * Runs `work` with a due crash restart held back, so that an operation sees the slot change
   * only through its own steps (and process events, which it must expect at every await).
   */
  async hold<T>(work: () => Promise<T>): Promise<T> {
    this.#holds += 1;
    try {
      return await work();
    } finally {
      this.#holds -= 1;
      if (this.#holds === 0 && this.#restartDue) {
        this.#restartDue = false;
        this.#restartNow();
      }
    }
  }

  /** Starts the slot if nothing runs in it. A person asked, so past crashes are forgiven. */
  start(): void {
    if (this.#current || this.#stopping) return;
    this.#clearRestart();
    this.#policy.reset();
    this.#launch();
  }

  /** Stops every process of the slot gracefully; concurrent calls share one stop. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop().finally(() => {
      this.#stopping = null;
    });
    return this.#stopping;
  }

  async restart(): Promise<void> {
    await this.stop();
    this.restarts += 1;
    this.start();
  }

  /**
   * Replaces the current process without a gap (cluster mode, online): start a candidate, wait
   * until it is as ready as its predecessor, put it in rotation, take the old one out and start
   * draining it. Resolves once the swap is done, with the old process's retirement, which the
   * caller may await together with others (drains run concurrently); it is wrapped, because an
   * async function would otherwise wait for it. Anything else gets a
   * restart. If the candidate exits or is not ready within listen_timeout, or `signal` aborts,
   * the candidate is stopped, the old process keeps serving, and this throws.
   */
  async replace(signal?: AbortSignal): Promise<{ retired: Promise<unknown> }> {
    const spec = this.host.spec;
    const old = this.#current;
    if (spec.mode !== 'cluster' || !old || this.#state.status !== 'online') {
      await this.restart();
      return { retired: Promise.resolve() };
    }
    const candidate = this.#spawn();
    const keys = new Set(old.member?.sockets.keys() ?? []);
    const rule: ReadinessRule = spec.waitReady
      ? { kind: 'message', timeoutMs: spec.listenTimeoutMs }
      : keys.size > 0
        ? { kind: 'listening', keys, timeoutMs: spec.listenTimeoutMs }
        : { kind: 'running', minUptimeMs: spec.minUptimeMs, timeoutMs: spec.listenTimeoutMs };
    candidate.readiness = new Readiness(candidate.process, () => candidate.member?.sockets.keys() ?? [], rule, this.host.clock);
    this.#candidate = candidate;
    const outcome = await untilAborted(candidate.readiness.outcome, signal);
    if (this.#candidate === candidate) this.#candidate = null;
    if (outcome !== 'ready') {
      candidate.readiness.cancel();
      this.#retire(candidate, { serves: false });
      if (outcome === 'aborted') throw signal?.reason;
      const exit = candidate.process.exit;
      const why = outcome === 'exit' ? `exited (${describeExit(exit?.code ?? null, exit?.signal ?? null)})` : `was not ready within ${spec.listenTimeoutMs} ms`;
      throw new SupervisorError('FAILED', `reload of ${spec.name} aborted: the new process ${this.id} ${why}; the old one keeps serving`);
    }
    // Ready. Whatever is current now (the old process, or one a crash restart put there
    // meanwhile) makes way for it.
    const previous = this.#current;
    this.#clearRestart();
    this.#restartDue = false;
    this.#current = candidate;
    this.restarts += 1;
    // (Read afresh: process events may have changed the state while we waited.)
    const status = (this.#state as SlotState).status;
    if (status !== 'online' && status !== 'launching') {
      // The process it replaces exited meanwhile: the slot was waiting for a restart, and this is it.
      this.#set({ status: 'launching', since: this.host.clock.now(), pid: candidate.process.pid });
    }
    this.#enterOnline(candidate);
    if (!previous) return { retired: Promise.resolve() };
    if (previous.member) previous.member.inRotation = false;
    return { retired: this.#retire(previous, { serves: true }) };
  }

  /** `reset`: the restart count and the memory of unstable exits start again from 0. */
  resetCounters(): void {
    this.restarts = 0;
    this.policy.reset();
  }

  signal(signal: NodeJS.Signals): boolean {
    return this.#current?.process.signal(signal) ?? false;
  }

  send(data: unknown): boolean {
    return this.#current?.process.sendMessage(data) ?? false;
  }

  /** Called by the app once a worker's listen succeeded. */
  noteListened(process: ManagedProcess): void {
    for (const running of [this.#current, this.#candidate]) if (running?.process === process) running.readiness?.noteListened();
  }

  #launch(): void {
    const running = this.#spawn();
    const spec = this.host.spec;
    const rule: ReadinessRule = spec.waitReady
      ? { kind: 'message', timeoutMs: spec.listenTimeoutMs }
      : { kind: 'running', minUptimeMs: spec.minUptimeMs, timeoutMs: spec.listenTimeoutMs };
    running.readiness = new Readiness(running.process, () => running.member?.sockets.keys() ?? [], rule, this.host.clock);
    this.#current = running;
    this.#set({ status: 'launching', since: this.host.clock.now(), pid: running.process.pid });
    this.host.emit({ id: this.id, status: 'launching', pid: running.process.pid, detail: 'started' });
    void running.readiness.outcome.then((outcome) => {
      if (outcome === 'exit' || this.#current !== running || this.#state.status !== 'launching') return;
      if (outcome === 'timeout') this.host.note(this.id, `no readiness within ${spec.listenTimeoutMs} ms; treating process ${this.id} as ready`);
      this.#enterOnline(running);
    });
  }

  /** Starts a process for this slot and wires its events; does not make it current. */
  #spawn(): Running {
    const spec = this.host.spec;
    const process = this.host.spawn({ slotId: this.id, instance: this.instance });
    const member = spec.mode === 'cluster' ? new (clusterCode().WorkerMember)(this.id, process, () => this.host.connectionTaken()) : null;
    const running: Running = { process, member, readiness: null };
    process.on('runtime', (message) => this.#onRuntime(running, message));
    process.on('cluster', (message) => member && this.host.onClusterMessage(this, member, message));
    process.once('exit', (exit) => this.#onExit(running, exit));
    return running;
  }

  #enterOnline(running: Running): void {
    const process = running.process;
    process.readyAt ??= this.host.clock.now();
    this.#set({ status: 'online', since: this.host.clock.now(), pid: process.pid, readyAt: process.readyAt });
    if (running.member) {
      running.member.inRotation = true;
      this.host.rotationChanged();
    }
    this.host.emit({ id: this.id, status: 'online', pid: process.pid, detail: 'ready' });
  }

  #onRuntime(running: Running, message: WorkerToDaemon): void {
    switch (message.t) {
      case 'fatal':
        if (running === this.#current) this.#onFatal(running, message.message);
        return;
      case 'closed':
        if (running.member) this.host.onClusterMessage(this, running.member, message);
        return;
      default:
        // drain acknowledgements and stats answers are awaited where they were asked for
        return;
    }
  }

  /** The worker caught an uncaught exception and is draining: replace it now. */
  #onFatal(running: Running, message: string): void {
    // Being stopped anyway: the stop already drains it and nothing should replace it.
    if (this.#state.status === 'stopping') return;
    const process = running.process;
    this.host.note(this.id, `process ${this.id} (pid ${process.pid}) had an uncaught exception; starting its replacement while it finishes its connections: ${message}`);
    if (running.member) running.member.inRotation = false;
    this.#current = null;
    void this.#retire(running, { serves: true, alreadyDraining: true });
    const exit: WorkerExit = { code: 1, signal: null, at: this.host.clock.now() };
    this.#recordExit(process, exit);
    this.#apply(this.#policy.decide({ at: exit.at, readyAt: process.readyAt, code: 1, signal: null }), exit);
  }

  #onExit(running: Running, exit: WorkerExit): void {
    running.member?.detach();
    if (this.#candidate === running) this.#candidate = null;
    if (running !== this.#current) return; // retired or abandoned: its retirement settles by itself
    this.#current = null;
    this.#recordExit(running.process, exit);
    if (this.#state.status === 'stopping') return; // stop() finishes the job
    this.#apply(this.#policy.decide({ at: exit.at, readyAt: running.process.readyAt, code: exit.code, signal: exit.signal }), exit);
  }

  #recordExit(process: ManagedProcess, exit: WorkerExit): void {
    this.lastExit = {
      code: exit.code,
      signal: exit.signal,
      at: exit.at,
      unstable: this.#policy.isUnstable({ at: exit.at, readyAt: process.readyAt, code: exit.code, signal: exit.signal }),
      stderrTail: process.stderrLines(),
    };
  }

  #apply(decision: RestartDecision, exit: WorkerExit): void {
    const how = describeExit(exit.code, exit.signal);
    const now = this.host.clock.now();
    switch (decision.kind) {
      case 'restart': {
        this.host.note(this.id, `process ${this.id} ${how}; restarting in ${decision.delayMs} ms`);
        this.#set({ status: 'waiting-restart', since: now, restartAt: now + decision.delayMs });
        this.host.emit({ id: this.id, status: 'waiting-restart', pid: null, detail: how });
        this.#scheduleRestart(decision.delayMs);
        return;
      }
      case 'crash-loop': {
        const retryAt = decision.retryInMs === null ? null : now + decision.retryInMs;
        const reason = decision.reason;
        this.host.note(this.id, `process ${this.id} errored: ${reason}${retryAt ? `; retrying every ${decision.retryInMs} ms` : ''}`);
        this.#set({ status: 'errored', since: now, reason, retryAt });
        this.host.emit({ id: this.id, status: 'errored', pid: null, detail: reason });
        if (decision.retryInMs !== null) this.#scheduleRestart(decision.retryInMs);
        return;
      }
      case 'give-up': {
        this.host.note(this.id, `process ${this.id} ${decision.reason}; not restarting`);
        this.#set({ status: 'stopped', since: now });
        this.host.emit({ id: this.id, status: 'stopped', pid: null, detail: decision.reason });
        return;
      }
    }
  }

  #scheduleRestart(delayMs: number): void {
    this.#clearRestart();
    this.#restartTimer = this.host.clock.setTimeout(() => {
      this.#restartTimer = null;
      if (this.#holds > 0) this.#restartDue = true;
      else this.#restartNow();
    }, delayMs);
  }

  /** A crash restart that fell due: only if the slot is still waiting for one. */
  #restartNow(): void {
    const status = this.#state.status;
    if (this.#current || (status !== 'waiting-restart' && status !== 'errored')) return;
    this.restarts += 1;
    this.#launch();
  }

  #clearRestart(): void {
    if (this.#restartTimer) this.host.clock.clearTimeout(this.#restartTimer);
    this.#restartTimer = null;
  }

  async #stop(): Promise<void> {
    this.#clearRestart();
    this.#restartDue = false;
    const candidate = this.#candidate;
    if (candidate) {
      this.#candidate = null;
      candidate.readiness?.cancel();
      void this.#retire(candidate, { serves: false });
    }
    const current = this.#current;
    if (current) {
      this.#set({ status: 'stopping', since: this.host.clock.now(), pid: current.process.pid });
      this.host.emit({ id: this.id, status: 'stopping', pid: current.process.pid, detail: 'stop requested' });
      if (current.member) current.member.inRotation = false;
      current.readiness?.cancel();
      void this.#retire(current, { serves: true });
    }
    await Promise.allSettled([...this.#retiring.values()]);
    if (this.#current === current) this.#current = null;
    if (this.#state.status !== 'stopped') {
      this.#set({ status: 'stopped', since: this.host.clock.now() });
      this.host.emit({ id: this.id, status: 'stopped', pid: null, detail: 'stopped' });
    }
  }

  /** Takes a process out of service: it stays in `retiring` until it has exited. */
  #retire(running: Running, options: { serves: boolean; alreadyDraining?: boolean }): Promise<WorkerExit> {
    const process = running.process;
    const existing = this.#retiring.get(process);
    if (existing) return existing;
    const spec = this.host.spec;
    const done = retire(process, spec, this.host.clock, {
      serves: options.serves && (running.member?.sockets.size ?? 0) > 0,
      alreadyDraining: options.alreadyDraining ?? false,
      shutdownMessage: spec.shutdownWithMessage,
      note: (text) => this.host.note(this.id, text),
    });
    this.#retiring.set(process, done);
    void done.finally(() => {
      this.#retiring.delete(process);
      this.host.slotChanged(this);
    });
    return done;
  }

  #set(next: SlotState): void {
    this.#state = transition(this.#state, next);
    this.host.slotChanged(this);
  }
}
