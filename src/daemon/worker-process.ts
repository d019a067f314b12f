/**
 * One operating-system process of a slot: how it is spawned, its IPC traffic, the tail of its
 * stderr, and how it is stopped (the whole process group, escalating to SIGKILL).
 * It knows nothing of restart policy or balancing; the slot and the app decide those.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { AppSpec } from '../shared/app-spec.js';
import { isWorkerMessage, type DaemonToWorker, type WorkerToDaemon, WORKER_CMD } from '../shared/worker-messages.js';
import { signalGroup } from './signals.js';
import type { LogSink } from './logs.js';

const STDERR_TAIL_BYTES = 4096;

export interface ProcessIdentity {
  slotId: number;
  instance: number;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

interface WorkerEvents {
  /** process.send('ready') from the app. */
  ready: [];
  /** Any other app message (not 'ready', not ours). */
  message: [data: unknown];
  /** A runtime message; `handle` is set for refused connections. */
  runtime: [message: WorkerToDaemon, handle: unknown];
  /** Node's acknowledgement that the worker took a handle we sent. */
  handleAck: [];
  /** Its first successful listen through the daemon (cluster mode). */
  listened: [];
  /** Every connection it was handed has closed since it was told to drain. */
  drained: [];
  /** Its answer to a stats request. */
  stats: [seq: number, open: number];
  exit: [exit: WorkerExit];
}

export interface SpawnOptions {
  spec: AppSpec;
  identity: ProcessIdentity;
  runtimeUrl: string;
  logs: LogSink;
}

export class WorkerProcess extends EventEmitter<WorkerEvents> {
  readonly pid: number | null;
  readonly startedAt = Date.now();
  readyAt: number | null = null;
  exit: WorkerExit | null = null;
  readonly #child: ChildProcess;
  #stderrTail = '';
  #exited: Promise<WorkerExit>;

  constructor(private readonly options: SpawnOptions) {
    super();
    const { command, args, ipc } = commandLine(options.spec, options.runtimeUrl);
    const child = spawn(command, args, {
      cwd: options.spec.cwd,
      env: workerEnv(options.spec, options.identity),
      stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a stop reaches the children it starts.
      detached: true,
    });
    this.#child = child;
    this.pid = child.pid ?? null;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal, at: Date.now() };
        // Leftover members of the group (children the app started) go with it.
        if (this.pid !== null) signalGroup(this.pid, 'SIGKILL');
        resolve(this.exit);
        this.emit('exit', this.exit);
      });
    });
    child.once('error', (error) => {
      options.logs.write('err', Buffer.from(`[supervisor] cannot start ${command}: ${error.message}\n`));
      if (this.pid === null) {
        this.exit = { code: null, signal: null, at: Date.now() };
        queueMicrotask(() => this.emit('exit', this.exit as WorkerExit));
      }
    });
    child.stdout?.on('data', (chunk: Buffer) => options.logs.write('out', chunk));
    child.stderr?.on('data', (chunk: Buffer) => {
      options.logs.write('err', chunk);
      this.#stderrTail = (this.#stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    child.on('message', (data) => {
      if (data === 'ready') this.emit('ready');
      else this.emit('message', data);
    });
    child.on('internalMessage', (message: unknown, handle: unknown) => {
      if (isWorkerMessage(message)) this.emit('runtime', message as WorkerToDaemon, handle);
      else if ((message as { cmd?: unknown } | null)?.cmd === 'NODE_HANDLE_ACK') this.emit('handleAck');
    });
    // A worker that exits while a send is queued makes the channel emit errors; the exit
    // event is what matters, so these are expected and ignored.
    child.on('error', () => undefined);
  }

  get connected(): boolean {
    return this.#child.connected;
  }

  get exited(): Promise<WorkerExit> {
    return this.#exited;
  }

  /** The last lines the process wrote to stderr. */
  stderrLines(max = 15): string[] {
    return this.#stderrTail.split('\n').filter((line) => line.length > 0).slice(-max);
  }

  /** Sends a runtime message, with a socket handle if given. False when the channel is gone. */
  sendRuntime(message: DistributiveOmit<DaemonToWorker, 'cmd'>, handle?: unknown): boolean {
    if (!this.#child.connected) return false;
    try {
      this.#child.send({ cmd: WORKER_CMD, ...message }, handle as never);
      return true;
    } catch {
      return false;
    }
  }

  /** Delivers an app message (what `process.on('message')` receives). */
  sendMessage(data: unknown): boolean {
    if (!this.#child.connected) return false;
    try {
      this.#child.send(data as never);
      return true;
    } catch {
      return false;
    }
  }

  signal(signal: NodeJS.Signals): boolean {
    if (this.pid === null || this.exit) return false;
    return signalGroup(this.pid, signal);
  }

  /**
   * Asks the process to stop (its kill signal, or 'shutdown' over IPC), then SIGKILLs the
   * group after killTimeoutMs. Resolves when it has exited.
   */
  async terminate(): Promise<WorkerExit> {
    if (this.exit) return this.exit;
    const { spec } = this.options;
    if (spec.shutdownWithMessage && this.sendMessage('shutdown')) {
      // The message asks; nothing else.
    } else {
      this.signal(spec.killSignal);
    }
    const timer = setTimeout(() => this.signal('SIGKILL'), spec.killTimeoutMs);
    try {
      return await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

interface CommandLine {
  command: string;
  args: string[];
  ipc: boolean;
}

export function commandLine(spec: AppSpec, runtimeUrl: string): CommandLine {
  switch (spec.interpreter) {
    case 'node':
      return {
        command: process.execPath,
        args: [...spec.interpreterArgs, '--import', runtimeUrl, spec.script, ...spec.args],
        ipc: true,
      };
    case 'none':
      return { command: spec.script, args: spec.args, ipc: false };
    default:
      return { command: spec.interpreter, args: [...spec.interpreterArgs, spec.script, ...spec.args], ipc: false };
  }
}

function workerEnv(spec: AppSpec, identity: ProcessIdentity): NodeJS.ProcessEnv {
  return {
    ...spec.env,
    SUPERVISOR_ID: String(identity.slotId),
    SUPERVISOR_INSTANCE: String(identity.instance),
    SUPERVISOR_APP: spec.name,
    SUPERVISOR_MODE: spec.mode,
    NODE_APP_INSTANCE: String(identity.instance),
  };
}
