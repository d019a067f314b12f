/**
 * One operating-system process of a slot: how it is spawned, its IPC traffic, the tail of its
 * stderr, and how it is stopped (the whole process group, escalating to SIGKILL).
 * It knows nothing of restart policy or balancing; the slot and the app decide those.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { AppSpec } from '../shared/app-spec.js';
import { handOffWindowSetting } from '../shared/handoff-window.js';
import { isWorkerMessage, type WorkerToDaemon, WORKER_CMD } from '../shared/worker-messages.js';
import { clusterCode, type ClusterCode } from './cluster-code.js';
import type { LogSink } from './logs.js';
import type { ManagedProcess, ProcessEvents, ProcessIdentity, RuntimeMessage, WorkerExit } from './managed-process.js';
import { signalGroup } from './signals.js';

const STDERR_TAIL_BYTES = 4096;
/** After SIGKILL, how long to wait for the exit before leaving a process stuck in the kernel. */
const SIGKILL_GRACE_MS = 5000;

export type { ProcessIdentity, WorkerExit };

interface SpawnOptions {
  spec: AppSpec;
  identity: ProcessIdentity;
  runtimeUrl: string;
  logs: LogSink;
}

/** NODE_UNIQUE_ID of the next cluster worker: cluster.worker.id, unique for the daemon's life, as under node:cluster. */
let nextClusterId = 1;

export class WorkerProcess extends EventEmitter<ProcessEvents> implements ManagedProcess {
  readonly pid: number | null;
  /** cluster.worker.id in the process (cluster mode), else null. */
  readonly clusterId: number | null;
  /** How many connection handles may await acknowledgement at once (1 without pipelining). */
  readonly handleWindow: number;
  readonly startedAt = Date.now();
  readyAt: number | null = null;
  exit: WorkerExit | null = null;
  abandoned = false;
  readonly #child: ChildProcess;
  #stderrTail = '';
  #exited: Promise<WorkerExit>;
  /** Our sequence numbers for cluster messages; the worker names them in its answers. */
  #clusterSeq = 0;
  /** Node's cluster protocol, spoken only with cluster-mode workers; a fork-mode process's NODE_CLUSTER messages are ignored. */
  readonly #cluster: ClusterCode | null;
  /**
   * One entry per message sent with a handle, oldest first, as Node acknowledges them
   * (NODE_HANDLE_ACK or NODE_HANDLE_NACK, in order): what to do if it arrives without its handle.
   */
  readonly #awaitingDelivery: ((() => void) | null)[] = [];

  constructor(private readonly options: SpawnOptions) {
    super();
    const { command, args, ipc } = commandLine(options.spec, options.runtimeUrl);
    this.clusterId = options.spec.mode === 'cluster' ? nextClusterId++ : null;
    this.#cluster = this.clusterId !== null ? clusterCode() : null;
    const child = spawn(command, args, {
      cwd: options.spec.cwd,
      env: workerEnv(options.spec, options.identity, this.clusterId),
      // Streams whose lines would go nowhere (/dev/null) are not even read.
      stdio: ['ignore', options.logs.stdio('out'), options.logs.stdio('err'), ...(ipc ? ['ipc' as const] : [])],
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
      options.logs.write('err', `[supervisor] cannot start ${command}: ${error.message}`);
      if (this.pid === null) {
        this.exit = { code: null, signal: null, at: Date.now() };
        queueMicrotask(() => this.emit('exit', this.exit as WorkerExit));
      }
    });
    if (child.stdout) options.logs.attach('out', child.stdout);
    if (child.stderr) {
      options.logs.attach('err', child.stderr);
      child.stderr.on('data', (chunk: Buffer) => {
        this.#stderrTail = (this.#stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
      });
    }
    child.on('message', (data) => {
      if (data === 'ready') this.emit('ready');
      else this.emit('message', data);
    });
    this.handleWindow = ipc ? handOffWindow(child) : 1;
    const cluster = this.#cluster;
    child.on('internalMessage', (message: unknown) => {
      if (cluster?.isClusterMessage(message)) {
        const ack = cluster.connectionAck(message);
        if (ack) this.emit('connectionAck', ack.ack, ack.accepted);
        else {
          const parsed = cluster.parseFromWorker(message);
          if (parsed) this.emit('cluster', parsed);
        }
      } else if (isWorkerMessage(message)) this.emit('runtime', message as WorkerToDaemon);
      else {
        const cmd = (message as { cmd?: unknown } | null)?.cmd;
        if (cmd === 'NODE_HANDLE_ACK') this.#awaitingDelivery.shift();
        else if (cmd === 'NODE_HANDLE_NACK') this.#awaitingDelivery.shift()?.();
      }
    });
    child.on('disconnect', () => {
      this.#awaitingDelivery.length = 0;
      this.emit('disconnect');
    });
    // A worker that exits while a send is queued makes the channel emit errors; the exit
    // event is what matters, so these are expected and ignored.
    child.on('error', () => undefined);
  }

  get connected(): boolean {
    return this.#child.connected;
  }

  get label(): string {
    return `${this.options.spec.name}/${this.options.identity.slotId}`;
  }

  get exited(): Promise<WorkerExit> {
    return this.#exited;
  }

  /** The last lines the process wrote to stderr. */
  stderrLines(max = 15): string[] {
    return this.#stderrTail.split('\n').filter((line) => line.length > 0).slice(-max);
  }

  /**
   * Sends a runtime message. False when the channel is gone. `onWritten` runs once the channel
   * has written it (or failed to), which is how callers bound what they leave queued in the
   * channel.
   */
  sendRuntime(message: RuntimeMessage, onWritten?: () => void): boolean {
    return this.#send({ cmd: WORKER_CMD, ...message }, undefined, onWritten);
  }

  /**
   * Sends a message of Node's cluster protocol, numbered with our next `seq`, which it returns
   * (null when the channel is gone). With a handle, `onLost` runs if the message reaches the
   * worker without it.
   */
  sendCluster(message: Record<string, unknown>, handle?: unknown, onLost?: () => void): number | null {
    if (!this.#cluster) return null;
    const seq = this.#clusterSeq++;
    if (handle !== undefined) this.#letThrough();
    if (!this.#send({ cmd: this.#cluster.CLUSTER_CMD, ...message, seq }, handle, undefined)) return null;
    if (handle !== undefined) this.#awaitingDelivery.push(onLost ?? null);
    return seq;
  }

  /** Hands over an accepted connection for the server listening on `key`; its answer comes as 'connectionAck'. */
  sendConnection(key: string, handle: unknown, onLost: () => void): number | null {
    return this.sendCluster({ act: 'newconn', key }, handle, onLost);
  }

  /**
   * With pipelining, a handle goes out now even if earlier ones await their acknowledgement
   * (see handOffWindow); anything already queued behind an acknowledgement stays ahead of it,
   * so messages keep their order.
   */
  #letThrough(): void {
    if (this.handleWindow <= 1) return;
    const channel = this.#child as unknown as ChannelInternals;
    if (Array.isArray(channel._handleQueue) && channel._handleQueue.length === 0) channel._handleQueue = null;
  }

  /** Delivers an app message (what `process.on('message')` receives); `onWritten` as for sendRuntime. */
  sendMessage(data: unknown, onWritten?: () => void): boolean {
    return this.#send(data, undefined, onWritten);
  }

  #send(message: unknown, handle: unknown, onWritten: (() => void) | undefined): boolean {
    if (!this.#child.connected) return false;
    try {
      if (onWritten) this.#child.send(message as never, handle as never, {}, () => onWritten());
      else this.#child.send(message as never, handle as never);
      return true;
    } catch {
      return false;
    }
  }

  signal(signal: NodeJS.Signals): boolean {
    if (this.pid === null || this.exit) return false;
    return signalGroup(this.pid, signal);
  }

  async terminate(options: { messageSent?: boolean } = {}): Promise<WorkerExit> {
    if (this.exit) return this.exit;
    const { spec } = this.options;
    if (options.messageSent) {
      // The app was asked to shut down when its drain began: give it the kill timeout, no signal.
    } else if (spec.shutdownWithMessage && this.sendMessage('shutdown')) {
      // The message asks; nothing else.
    } else {
      this.signal(spec.killSignal);
    }
    let stuck: NodeJS.Timeout | null = null;
    const kill = setTimeout(() => this.signal('SIGKILL'), spec.killTimeoutMs);
    const abandoned = new Promise<WorkerExit>((resolve) => {
      stuck = setTimeout(() => {
        this.abandoned = true;
        resolve({ code: null, signal: 'SIGKILL', at: Date.now() });
      }, spec.killTimeoutMs + SIGKILL_GRACE_MS);
    });
    try {
      return await Promise.race([this.#exited, abandoned]);
    } finally {
      clearTimeout(kill);
      if (stuck) clearTimeout(stuck);
    }
  }
}

/** The one piece of ChildProcess's IPC internals that pipelining touches. */
interface ChannelInternals {
  /** Messages held until the in-flight handle is acknowledged; null when nothing is in flight. */
  _handleQueue?: unknown[] | null;
}

/**
 * How many connection handles may be in flight to one worker.
 *
 * Node sends one handle at a time per channel and holds later messages until the receiver
 * acknowledges it (NODE_HANDLE_ACK). With Connection: close traffic that round trip, not CPU,
 * bounds each worker: on 2 cores the daemon held ~48 of 50 connections while workers waited
 * for their next one. The wait is not needed for raw handles: the kernel never puts two
 * messages carrying descriptors into one read, so each message arrives with its own handle,
 * and raw handles (net.Native) have no pending-message bookkeeping in Node. So we let up to
 * `window` go out at once, by clearing the empty hold queue before a send, and restore the
 * queue before each acknowledgement is processed, where Node asserts that it exists.
 *
 * This relies on one ChildProcess internal, `_handleQueue` (null when nothing is in flight),
 * the same in Node 20, 22 and 24's lib/internal/child_process.js. When it does not look as
 * expected right after spawn, or SUPERVISOR_HANDOFF_WINDOW=1, hand-offs go one at a time, as
 * plain Node does.
 */
function handOffWindow(child: ChildProcess): number {
  // runDaemon has checked the setting, so this cannot throw here.
  const window = handOffWindowSetting(process.env);
  const channel = child as unknown as ChannelInternals;
  if (window === 1 || !('_handleQueue' in child) || channel._handleQueue !== null) return 1;
  child.prependListener('internalMessage', (message: unknown) => {
    const cmd = (message as { cmd?: unknown } | null)?.cmd;
    if ((cmd === 'NODE_HANDLE_ACK' || cmd === 'NODE_HANDLE_NACK') && channel._handleQueue === null) channel._handleQueue = [];
  });
  return window;
}

interface CommandLine {
  command: string;
  args: string[];
  ipc: boolean;
}

function commandLine(spec: AppSpec, runtimeUrl: string): CommandLine {
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

function workerEnv(spec: AppSpec, identity: ProcessIdentity, clusterId: number | null): NodeJS.ProcessEnv {
  // Node makes a process with NODE_UNIQUE_ID a cluster worker: only cluster-mode workers get one.
  const { NODE_UNIQUE_ID: _inherited, ...appEnv } = spec.env;
  const env: NodeJS.ProcessEnv = {
    ...appEnv,
    ...(clusterId !== null && { NODE_UNIQUE_ID: String(clusterId) }),
    SUPERVISOR_ID: String(identity.slotId),
    SUPERVISOR_INSTANCE: String(identity.instance),
    SUPERVISOR_APP: spec.name,
    SUPERVISOR_MODE: spec.mode,
    SUPERVISOR_NAMESPACE: spec.namespace,
    // pm2's instance_var renames NODE_APP_INSTANCE (its default).
    [spec.instanceVar]: String(identity.instance),
  };
  if (spec.incrementVar !== null) {
    // pm2's increment_var: the app's value (0 if unset or not a number) plus the instance number.
    const start = Number(spec.env[spec.incrementVar]);
    env[spec.incrementVar] = String((Number.isFinite(start) ? start : 0) + identity.instance);
  }
  return env;
}
