/**
 * A process slot: a stable id and instance number, the process currently filling it, and its
 * lifecycle (launch, readiness, crash handling through the restart policy, graceful stop,
 * rolling replacement). State changes go through `#set`, which asks slot-state.ts.
 */
import type { AppSpec } from '../shared/app-spec.js';
import { SupervisorError } from '../shared/errors.js';
import type { ExitRecord, ProcessEvent } from '../shared/protocol.js';
import type { WorkerToDaemon } from '../shared/worker-messages.js';
import type { ClusterTraffic } from './app.js';
import { WorkerMember } from './cluster/worker-member.js';
import type { AppLogs } from './logs.js';
import { DEFAULT_CRASH_WINDOW_MS, describeExit, RestartPolicy, type RestartDecision } from './restart-policy.js';
import { isBusy, transition, type SlotState } from './slot-state.js';
import { WorkerProcess, type WorkerExit } from './worker-process.js';

/** Longest a draining process may take to finish its connections before it is told to stop. */
export const DRAIN_LIMIT_MS = 30_000;

/** What a slot needs from its app. */
export interface SlotHost {
  readonly spec: AppSpec;
  readonly logs: AppLogs;
  readonly runtimeUrl: string;
  /** Cluster traffic from a worker (Node's cluster protocol, reported closes). */
  onClusterMessage(slot: Slot, member: WorkerMember, message: ClusterTraffic): void;
  /** A worker entered or left rotation: queued connections may now have somewhere to go. */
  rotationChanged(): void;
  emit(event: Omit<ProcessEvent, 'app'>): void;
}

type Readiness = 'ready' | 'timeout' | 'exit';

export class Slot {
  #state: SlotState = { status: 'stopped', since: Date.now() };
  #worker: WorkerProcess | null = null;
  #member: WorkerMember | null = null;
  /** Processes replaced or crashed that are still finishing their connections. */
  readonly #retiring = new Map<WorkerProcess, Promise<WorkerExit>>();
  #timer: NodeJS.Timeout | null = null;
  #stopping: Promise<void> | null = null;
  #reloading = false;
  restarts = 0;
  lastExit: ExitRecord | null = null;
  readonly policy: RestartPolicy;

  constructor(
    readonly id: number,
    readonly instance: number,
    private readonly host: SlotHost,
  ) {
    const s = host.spec;
    this.policy = new RestartPolicy({ ...s, crashWindowMs: DEFAULT_CRASH_WINDOW_MS });
  }

  get state(): SlotState {
    return this.#state;
  }

  get worker(): WorkerProcess | null {
    return this.#worker;
  }

  get member(): WorkerMember | null {
    return this.#member;
  }

  get erroredReason(): string | null {
    return this.#state.status === 'errored' ? this.#state.reason : null;
  }

  get nextRestartAt(): number | null {
    if (this.#state.status === 'waiting-restart') return this.#state.restartAt;
    if (this.#state.status === 'errored') return this.#state.retryAt;
    return null;
  }

  /** Every live process of the slot: the current one and any still draining. */
  *processes(): Iterable<WorkerProcess> {
    if (this.#worker) yield this.#worker;
    yield* this.#retiring.keys();
  }

  /** Starts the slot if it is not running. A person asked, so past crashes are forgiven. */
  start(): void {
    if (this.#worker || isBusy(this.#state)) return;
    this.#clearTimer();
    this.policy.reset();
    this.#launch();
  }

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
   * Replaces the process without a gap: start a new one, wait until it is ready, put it in
   * rotation, take the old one out, drain it, stop it. If the new one is not ready within
   * listen_timeout, it is stopped and the old one keeps serving.
   */
  async reload(): Promise<void> {
    const spec = this.host.spec;
    const old = this.#worker;
    if (spec.mode !== 'cluster' || !old || this.#state.status !== 'online' || this.#reloading) {
      if (this.#reloading) throw new SupervisorError('CONFLICT', `process ${this.id} is already reloading`);
      return this.restart();
    }
    this.#reloading = true;
    try {
      const oldMember = this.#member;
      const next = this.#spawn();
      const outcome = await this.#readiness(next.worker, spec.listenTimeoutMs);
      if (outcome !== 'ready' || this.#worker !== old) {
        await next.worker.terminate();
        next.member?.detach();
        const why = outcome === 'exit' ? `exited (${describeExit(next.worker.exit?.code ?? null, next.worker.exit?.signal ?? null)})` : `was not ready within ${spec.listenTimeoutMs} ms`;
        throw new SupervisorError('FAILED', `reload of ${spec.name} aborted: the new process ${this.id} ${why}; the old one keeps serving`);
      }
      this.#worker = next.worker;
      this.#member = next.member;
      this.restarts += 1;
      this.#enterOnline(next.worker, Date.now());
      if (oldMember) oldMember.inRotation = false;
      await this.#retire(old, oldMember);
    } finally {
      this.#reloading = false;
    }
  }

  signal(signal: NodeJS.Signals): boolean {
    return this.#worker?.signal(signal) ?? false;
  }

  send(data: unknown): boolean {
    return this.#worker?.sendMessage(data) ?? false;
  }

  #launch(): void {
    const { worker, member } = this.#spawn();
    this.#worker = worker;
    this.#member = member;
    this.#set({ status: 'launching', since: Date.now(), pid: worker.pid });
    this.host.emit({ id: this.id, status: 'launching', pid: worker.pid, detail: 'started' });
    void this.#readiness(worker, this.host.spec.listenTimeoutMs).then((outcome) => {
      if (outcome === 'exit' || this.#worker !== worker || this.#state.status !== 'launching') return;
      if (outcome === 'timeout') this.host.logs.note(this.id, `no readiness within ${this.host.spec.listenTimeoutMs} ms; treating process ${this.id} as ready`);
      this.#enterOnline(worker, worker.readyAt ?? Date.now());
    });
  }

  /** Starts a process for this slot and wires its events; does not make it current. */
  #spawn(): { worker: WorkerProcess; member: WorkerMember | null } {
    const spec = this.host.spec;
    const worker = new WorkerProcess({
      spec,
      identity: { slotId: this.id, instance: this.instance },
      runtimeUrl: this.host.runtimeUrl,
      logs: this.host.logs.sinkFor(this.id),
    });
    const member = spec.mode === 'cluster' ? new WorkerMember(this.id, worker) : null;
    worker.on('runtime', (message) => this.#onRuntime(worker, member, message));
    worker.on('cluster', (message) => member && this.host.onClusterMessage(this, member, message));
    worker.on('exit', (exit) => this.#onExit(worker, member, exit));
    return { worker, member };
  }

  /**
   * When the process is ready: 'ready' from the app (wait_ready), else its first listen in
   * cluster mode, else having lived min_uptime. Bounded by listen_timeout where a signal is
   * awaited.
   */
  #readiness(worker: WorkerProcess, timeoutMs: number): Promise<Readiness> {
    const spec = this.host.spec;
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const finish = (outcome: Readiness, readyAt: number | null): void => {
        if (timer) clearTimeout(timer);
        worker.off('ready', onReady);
        worker.off('listened', onListen);
        worker.off('exit', onExit);
        if (outcome === 'ready' && worker.readyAt === null) worker.readyAt = readyAt;
        resolve(outcome);
      };
      const onReady = (): void => finish('ready', Date.now());
      const onListen = (): void => finish('ready', Date.now());
      const onExit = (): void => finish('exit', null);
      worker.once('exit', onExit);
      if (spec.waitReady) {
        worker.once('ready', onReady);
        timer = setTimeout(() => finish('timeout', null), timeoutMs);
      } else if (spec.mode === 'cluster') {
        worker.once('ready', onReady);
        worker.once('listened', onListen);
        timer = setTimeout(() => finish('timeout', null), timeoutMs);
      } else {
        worker.once('ready', onReady);
        // Alive for min_uptime counts as ready from the start: its exit is then stable.
        timer = setTimeout(() => finish('ready', worker.startedAt), spec.minUptimeMs);
      }
    });
  }

  #enterOnline(worker: WorkerProcess, readyAt: number): void {
    worker.readyAt ??= readyAt;
    this.#set({ status: 'online', since: Date.now(), pid: worker.pid, readyAt: worker.readyAt });
    if (this.#member) {
      this.#member.inRotation = true;
      this.host.rotationChanged();
    }
    this.host.emit({ id: this.id, status: 'online', pid: worker.pid, detail: 'ready' });
  }

  #onRuntime(worker: WorkerProcess, member: WorkerMember | null, message: WorkerToDaemon): void {
    switch (message.t) {
      case 'fatal':
        if (worker === this.#worker) this.#onFatal(worker, member, message.message);
        return;
      case 'drained':
        worker.emit('drained');
        return;
      case 'stats':
        worker.emit('stats', message.seq, message.open);
        return;
      case 'closed':
        if (member) this.host.onClusterMessage(this, member, message);
        return;
    }
  }

  /** Called by the app once a worker's listen succeeded: in cluster mode that is readiness. */
  noteListened(worker: WorkerProcess): void {
    worker.emit('listened');
  }

  /** The worker caught an uncaught exception and is draining: replace it now. */
  #onFatal(worker: WorkerProcess, member: WorkerMember | null, message: string): void {
    // Being stopped anyway: the stop already drains it and nothing should replace it.
    if (this.#state.status === 'stopping') return;
    this.host.logs.note(this.id, `process ${this.id} (pid ${worker.pid}) had an uncaught exception; starting its replacement while it finishes its connections: ${message}`);
    if (member) member.inRotation = false;
    this.#worker = null;
    this.#member = null;
    void this.#retire(worker, member, { alreadyDraining: true });
    const exit: WorkerExit = { code: 1, signal: null, at: Date.now() };
    this.#recordExit(worker, exit);
    this.#apply(this.policy.decide({ at: exit.at, readyAt: worker.readyAt, code: 1, signal: null }), exit);
  }

  #onExit(worker: WorkerProcess, member: WorkerMember | null, exit: WorkerExit): void {
    member?.detach();
    if (worker !== this.#worker) return; // a retired or abandoned process
    this.#worker = null;
    this.#member = null;
    this.#recordExit(worker, exit);
    if (this.#state.status === 'stopping') return; // stop() finishes the job
    this.#apply(this.policy.decide({ at: exit.at, readyAt: worker.readyAt, code: exit.code, signal: exit.signal }), exit);
  }

  #recordExit(worker: WorkerProcess, exit: WorkerExit): void {
    this.lastExit = {
      code: exit.code,
      signal: exit.signal,
      at: exit.at,
      unstable: this.policy.isUnstable({ at: exit.at, readyAt: worker.readyAt, code: exit.code, signal: exit.signal }),
      stderrTail: worker.stderrLines(),
    };
  }

  #apply(decision: RestartDecision, exit: WorkerExit): void {
    const how = describeExit(exit.code, exit.signal);
    const now = Date.now();
    switch (decision.kind) {
      case 'restart': {
        this.host.logs.note(this.id, `process ${this.id} ${how}; restarting in ${decision.delayMs} ms`);
        this.#set({ status: 'waiting-restart', since: now, restartAt: now + decision.delayMs });
        this.host.emit({ id: this.id, status: 'waiting-restart', pid: null, detail: how });
        this.#schedule(decision.delayMs);
        return;
      }
      case 'crash-loop': {
        const retryAt = decision.retryInMs === null ? null : now + decision.retryInMs;
        const reason = decision.reason;
        this.host.logs.note(this.id, `process ${this.id} errored: ${reason}${retryAt ? `; retrying every ${decision.retryInMs} ms` : ''}`);
        this.#set({ status: 'errored', since: now, reason, retryAt });
        this.host.emit({ id: this.id, status: 'errored', pid: null, detail: reason });
        if (decision.retryInMs !== null) this.#schedule(decision.retryInMs);
        return;
      }
      case 'give-up': {
        this.host.logs.note(this.id, `process ${this.id} ${decision.reason}; not restarting`);
        this.#set({ status: 'stopped', since: now });
        this.host.emit({ id: this.id, status: 'stopped', pid: null, detail: decision.reason });
        return;
      }
    }
  }

  #schedule(delayMs: number): void {
    this.#clearTimer();
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.restarts += 1;
      this.#launch();
    }, delayMs);
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  async #stop(): Promise<void> {
    this.#clearTimer();
    const worker = this.#worker;
    const member = this.#member;
    const retiring = [...this.#retiring.values()];
    if (worker) {
      this.#set({ status: 'stopping', since: Date.now(), pid: worker.pid });
      this.host.emit({ id: this.id, status: 'stopping', pid: worker.pid, detail: 'stop requested' });
      if (member) member.inRotation = false;
      await this.#retire(worker, member);
      if (this.#worker === worker) {
        this.#worker = null;
        this.#member = null;
      }
    }
    await Promise.all(retiring);
    if (this.#state.status !== 'stopped') {
      this.#set({ status: 'stopped', since: Date.now() });
      this.host.emit({ id: this.id, status: 'stopped', pid: null, detail: 'stopped' });
    }
  }

  /** Drains a process out of rotation (cluster mode), then stops it. */
  #retire(worker: WorkerProcess, member: WorkerMember | null, opts: { alreadyDraining?: boolean } = {}): Promise<WorkerExit> {
    const existing = this.#retiring.get(worker);
    if (existing) return existing;
    const done = (async (): Promise<WorkerExit> => {
      if (member && member.sockets.size > 0 && !worker.exit) {
        const drained = new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, DRAIN_LIMIT_MS);
          const finish = (): void => {
            clearTimeout(timer);
            resolve();
          };
          worker.once('drained', finish);
          worker.once('exit', finish);
        });
        if (!opts.alreadyDraining) worker.sendRuntime({ t: 'drain', idleMs: this.host.spec.drainIdleMs });
        await drained;
      }
      return worker.terminate();
    })();
    this.#retiring.set(worker, done);
    void done.finally(() => this.#retiring.delete(worker));
    return done;
  }

  #set(next: SlotState): void {
    this.#state = transition(this.#state, next);
  }
}
