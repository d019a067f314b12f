/**
 * A fake clock and fake processes for the lifecycle unit tests: no children, no real time.
 * Every timer of the slot, readiness, retirement and settle code runs on the FakeClock, and a
 * FakeProcess behaves as its script says (ready after N ms, crash, hang, ignore signals), so a
 * test can replay any interleaving of commands and process events, step by step.
 */
import { EventEmitter } from 'node:events';
import { FIXTURES } from '../helpers.js';
import { APP_DEFAULTS, type AppSpec } from '../../src/shared/app-spec.js';
import type { Clock, Timer } from '../../src/daemon/clock.js';
import type { DistributiveOmit, ManagedProcess, ProcessEvents, ProcessIdentity, RuntimeMessage, WorkerExit } from '../../src/daemon/managed-process.js';
import type { AppContext } from '../../src/daemon/app.js';
import { Registry } from '../../src/daemon/registry.js';
import { EventBus } from '../../src/daemon/events.js';
import type { WorkerToDaemon } from '../../src/shared/worker-messages.js';

interface FakeTimer {
  at: number;
  seq: number;
  callback: () => void;
  cleared: boolean;
}

export class FakeClock implements Clock {
  #now = 1_000_000;
  #seq = 0;
  #timers: FakeTimer[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): Timer {
    const timer: FakeTimer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, callback, cleared: false };
    this.#timers.push(timer);
    return timer as unknown as Timer;
  }

  clearTimeout(timer: Timer): void {
    (timer as unknown as FakeTimer).cleared = true;
  }

  /** Timers not yet fired or cleared. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cleared).length;
  }

  /** Moves time forward by `ms`, firing due timers in order and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settleMicrotasks();
    for (;;) {
      const due = this.#timers
        .filter((t) => !t.cleared && t.at <= end)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      due.cleared = true;
      this.#now = Math.max(this.#now, due.at);
      due.callback();
      await settleMicrotasks();
    }
    this.#now = end;
    this.#timers = this.#timers.filter((t) => !t.cleared);
    await settleMicrotasks();
  }
}

/** Lets every promise chain that can move, move (a few macrotask turns). */
export async function settleMicrotasks(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** How a fake process behaves; every time is in fake milliseconds from its spawn. */
export interface Script {
  /** Sends process.send('ready') after this long (never, if null). */
  readyAfterMs?: number | null;
  /** Exits by itself with this code after this long (a crash), unless stopped first. */
  exitAfterMs?: number | null;
  exitCode?: number;
  /** Ignores the kill signal (only SIGKILL ends it). */
  ignoresSignal?: boolean;
  /** Time from the kill signal to its exit. */
  stopMs?: number;
  /** Never answers runtime messages (a busy loop, SIGSTOP). */
  hung?: boolean;
  /** Even SIGKILL does not end it (stuck in the kernel). */
  unkillable?: boolean;
}

let nextPid = 10_000;

export class FakeProcess extends EventEmitter<ProcessEvents> implements ManagedProcess {
  readonly pid = nextPid++;
  readonly startedAt: number;
  readyAt: number | null = null;
  exit: WorkerExit | null = null;
  abandoned = false;
  readonly handleWindow = 16;
  readonly clusterId = null;
  readonly signals: NodeJS.Signals[] = [];
  readonly runtimeSent: RuntimeMessage[] = [];
  readonly exited: Promise<WorkerExit>;
  #resolveExit: (exit: WorkerExit) => void = () => undefined;

  constructor(
    private readonly clock: FakeClock,
    readonly spec: AppSpec,
    readonly identity: ProcessIdentity,
    private readonly script: Script,
  ) {
    super();
    this.startedAt = clock.now();
    this.exited = new Promise((resolve) => (this.#resolveExit = resolve));
    if (script.readyAfterMs !== undefined && script.readyAfterMs !== null) clock.setTimeout(() => !this.exit && this.emit('ready'), script.readyAfterMs);
    if (script.exitAfterMs !== undefined && script.exitAfterMs !== null) clock.setTimeout(() => this.die(script.exitCode ?? 1, null), script.exitAfterMs);
  }

  get connected(): boolean {
    return this.exit === null;
  }

  get label(): string {
    return `${this.spec.name}/${this.identity.slotId}`;
  }

  get alive(): boolean {
    return this.exit === null;
  }

  stderrLines(): string[] {
    return [];
  }

  sendRuntime(message: RuntimeMessage): boolean {
    if (this.exit) return false;
    this.runtimeSent.push(message);
    if (message.t === 'drain' && !this.script.hung) {
      // Nothing to finish in a fake: acknowledge, then report drained.
      queueMicrotask(() => {
        this.fromRuntime({ t: 'draining' });
        this.fromRuntime({ t: 'drained' });
      });
    }
    return true;
  }

  #clusterSeq = 0;

  sendCluster(): number | null {
    return this.exit ? null : this.#clusterSeq++;
  }

  sendConnection(): number | null {
    return this.sendCluster();
  }

  sendMessage(): boolean {
    return !this.exit;
  }

  signal(signal: NodeJS.Signals): boolean {
    if (this.exit) return false;
    this.signals.push(signal);
    if (signal === 'SIGKILL') {
      if (!this.script.unkillable) queueMicrotask(() => this.die(null, 'SIGKILL'));
    } else if (!this.script.ignoresSignal) {
      this.clock.setTimeout(() => this.die(null, signal), this.script.stopMs ?? 0);
    }
    return true;
  }

  /** As WorkerProcess.terminate, on the fake clock. */
  async terminate(options: { messageSent?: boolean } = {}): Promise<WorkerExit> {
    if (this.exit) return this.exit;
    if (!options.messageSent) this.signal(this.spec.killSignal);
    const kill = this.clock.setTimeout(() => this.signal('SIGKILL'), this.spec.killTimeoutMs);
    const abandoned = new Promise<WorkerExit>((resolve) =>
      this.clock.setTimeout(() => {
        this.abandoned = true;
        resolve({ code: null, signal: 'SIGKILL', at: this.clock.now() });
      }, this.spec.killTimeoutMs + 5000),
    );
    const exit = await Promise.race([this.exited, abandoned]);
    this.clock.clearTimeout(kill);
    return exit;
  }

  /** The runtime in the worker sends a message. */
  fromRuntime(message: DistributiveOmit<WorkerToDaemon, 'cmd'>): void {
    if (!this.exit) this.emit('runtime', { cmd: 'NODE_SUPERVISOR', ...message } as WorkerToDaemon);
  }

  /** The process exits (crash, signal). */
  die(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exit) return;
    this.exit = { code, signal, at: this.clock.now() };
    this.#resolveExit(this.exit);
    this.emit('exit', this.exit);
  }
}

export function fakeSpec(overrides: Partial<AppSpec> = {}): AppSpec {
  return {
    ...APP_DEFAULTS,
    name: 'web',
    script: `${FIXTURES}/idle-app.cjs`,
    cwd: FIXTURES,
    env: {},
    interpreter: 'node',
    ...overrides,
  };
}

export interface World {
  clock: FakeClock;
  bus: EventBus;
  registry: Registry;
  /** Every process ever spawned, in order. */
  spawned: FakeProcess[];
  notes: string[];
  /** The script the next spawned process follows (per app name); default: a healthy process. */
  scripts: Map<string, Script[]>;
  live(): FakeProcess[];
}

/** A registry whose apps spawn fake processes on a fake clock. */
export function world(defaultScript: Script = {}, options: Pick<AppContext, 'processStarted'> = {}): World {
  const clock = new FakeClock();
  const bus = new EventBus();
  const spawned: FakeProcess[] = [];
  const notes: string[] = [];
  const scripts = new Map<string, Script[]>();
  const registry = new Registry({
    logDir: '/nonexistent',
    runtimeUrl: 'file:///nonexistent',
    bus,
    clock,
    ...options,
    spawn: (spec, identity) => {
      const queue = scripts.get(spec.name);
      const script = queue && queue.length > 0 ? (queue.shift() as Script) : defaultScript;
      const process = new FakeProcess(clock, spec, identity, script);
      spawned.push(process);
      return process;
    },
    createLogs: (name) => ({
      sinkFor: () => ({ stdio: () => 'ignore' as const, attach: () => undefined, write: () => undefined }),
      note: (id: number, text: string) => void notes.push(`${name}/${id}: ${text}`),
      flush: async () => 0,
      describe: () => [],
      pacing: () => ({ rate: 0, paced: false, pacedMs: 0 }),
      close: async () => undefined,
    }),
  });
  return { clock, bus, registry, spawned, notes, scripts, live: () => spawned.filter((p) => p.alive) };
}
