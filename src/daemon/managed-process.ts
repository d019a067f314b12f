/**
 * What the lifecycle code (slot, readiness, retirement) needs of one operating-system process.
 * WorkerProcess is the real one; unit tests pass fakes, so every interleaving of commands and
 * process events can be tested without spawning anything.
 */
import type { EventEmitter } from 'node:events';
import type { DaemonToWorker, WorkerToDaemon } from '../shared/worker-messages.js';
import type { FromWorker } from './cluster/cluster-messages.js';

export interface ProcessIdentity {
  slotId: number;
  instance: number;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Epoch milliseconds. */
  at: number;
}

export interface ProcessEvents {
  /** process.send('ready') from the app. */
  ready: [];
  /** Any other message the app sent with process.send (not 'ready', not the runtime's). */
  message: [data: unknown];
  /** A message from the runtime in the process (see worker-messages.ts). */
  runtime: [message: WorkerToDaemon];
  /** A request or notice of Node's cluster protocol (cluster mode). */
  cluster: [message: FromWorker];
  /** The worker's answer to the `newconn` numbered `seq`. */
  connectionAck: [seq: number, accepted: boolean];
  /** The IPC channel closed (the worker disconnected, or exited). */
  disconnect: [];
  exit: [exit: WorkerExit];
}

export type RuntimeMessage = DistributiveOmit<DaemonToWorker, 'cmd'>;
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface ManagedProcess extends EventEmitter<ProcessEvents> {
  readonly pid: number | null;
  /** "<app>/<slot id>", for messages. */
  readonly label: string;
  /** Epoch milliseconds of the spawn. */
  readonly startedAt: number;
  /** When it became ready; null until then (and forever, if it never did). */
  readyAt: number | null;
  /** Set once it has exited. */
  readonly exit: WorkerExit | null;
  /** Settles when it has exited. */
  readonly exited: Promise<WorkerExit>;
  /** terminate() gave up on it: SIGKILLed, yet no exit within the grace (stuck in the kernel). */
  readonly abandoned: boolean;
  /** Whether its IPC channel is open (never, for programs without one). */
  readonly connected: boolean;
  /** How many connection handles may await acknowledgement at once. */
  readonly handleWindow: number;
  /** cluster.worker.id in the process (cluster mode), else null. */
  readonly clusterId: number | null;
  /** The last lines it wrote to stderr. */
  stderrLines(max?: number): string[];
  /**
   * Sends a runtime message; false when the channel is gone. `onWritten` runs once the channel
   * has written it (the message router bounds its queue so).
   */
  sendRuntime(message: RuntimeMessage, onWritten?: () => void): boolean;
  /**
   * Sends a message of Node's cluster protocol with our next `seq`, which it returns (null when
   * the channel is gone); with a handle, `onLost` runs if it reaches the worker without it.
   */
  sendCluster(message: Record<string, unknown>, handle?: unknown, onLost?: () => void): number | null;
  /** Hands over a connection as `newconn` (see the hand-off window in worker-process.ts); its answer comes as 'connectionAck'. */
  sendConnection(key: string, handle: unknown, onLost: () => void): number | null;
  /** Delivers a message to the app's process.on('message'); `onWritten` as for sendRuntime. */
  sendMessage(data: unknown, onWritten?: () => void): boolean;
  /** Signals its process group; false if it is gone. */
  signal(signal: NodeJS.Signals): boolean;
  /**
   * Asks it to stop (its kill signal, or the 'shutdown' message unless `messageSent`), then
   * SIGKILLs the group after the kill timeout. Settles once it has exited, or, if even SIGKILL
   * is not followed by an exit within a short grace (a process stuck in the kernel), with a
   * record saying so; it is then left to the kernel.
   */
  terminate(options?: { messageSent?: boolean }): Promise<WorkerExit>;
}

/** Starts a process for a slot. */
export type SpawnProcess = (identity: ProcessIdentity) => ManagedProcess;
