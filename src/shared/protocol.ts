/**
 * The control protocol between the client and the daemon: every message that crosses
 * daemon.sock is typed here. Frames are JSON text over a WebSocket on the Unix socket.
 *
 *   client → daemon   { id, method, params }             a request
 *   daemon → client   { id, result } | { id, error }     its response, never both
 *   daemon → client   { event, data }                    after `subscribe`, unsolicited
 *
 * The first request on a connection must be `hello`, which carries PROTOCOL_VERSION. It is an
 * integer that changes when a message changes shape, not the package version.
 */
import type { AppSpec } from './app-spec.js';
import type { WireError } from './errors.js';
import type { Json } from './validate.js';

export const PROTOCOL_VERSION = 1;

export const PROCESS_STATUSES = ['launching', 'online', 'stopping', 'stopped', 'waiting-restart', 'errored'] as const;
export type ProcessStatus = (typeof PROCESS_STATUSES)[number];

/** An app name, a numeric process id, or "all". */
export type Target = string;

/** One row of `list`: the fields CLI.md promises, plus connection counts in cluster mode. */
export interface ProcessInfo {
  id: number;
  name: string;
  mode: 'fork' | 'cluster';
  instance: number;
  pid: number | null;
  status: ProcessStatus;
  restarts: number;
  uptimeMs: number;
  /** Percent of one core, sampled when asked. */
  cpu: number;
  /** Resident set size in bytes. */
  memory: number;
  /** Cluster mode: connections handed to this process that are still open. */
  connections: number;
  /** Cluster mode: connections handed to the slot's current process since it started. */
  handled: number;
}

/** How a process last ended; kept for `describe`. */
export interface ExitRecord {
  code: number | null;
  signal: string | null;
  /** Epoch milliseconds. */
  at: number;
  /** Whether the policy counted it as a crash (before ready, or soon after). */
  unstable: boolean;
  stderrTail: string[];
}

export interface ProcessDescription extends ProcessInfo {
  lastExit: ExitRecord | null;
  /** Why the process is errored, in words, when it is. */
  erroredReason: string | null;
  /** Epoch milliseconds of the next automatic restart, when one is scheduled. */
  nextRestartAt: number | null;
  unstableExits: number;
}

export interface ListenerDescription {
  /** "127.0.0.1:3000", "[::]:8080" or a socket path. */
  address: string;
  /** The bind error that keeps the address closed, if any, e.g. "EADDRINUSE". */
  error: string | null;
  /** Connections waiting for a ready worker. */
  queued: number;
  /** Connections closed because the queue was full or they waited too long. */
  dropped: number;
}

export interface AppDescription {
  name: string;
  spec: AppSpec;
  listeners: ListenerDescription[];
  processes: ProcessDescription[];
}

export interface DaemonInfo {
  pid: number;
  version: string;
  protocol: number;
  uptimeMs: number;
  home: string;
  /**
   * Something the next command should tell its user once, e.g. that the daemon restored its
   * apps after an unclean exit. Sent in the reply to the first `hello` after it arose.
   */
  notice?: string;
}

/** What `update` did, app by app, and the processes of those apps afterwards. */
export interface UpdateResult {
  started: string[];
  updated: string[];
  unchanged: string[];
  processes: ProcessInfo[];
}

type NoParams = Record<string, never>;

/** Every method: its parameters and its result. A method missing a handler does not compile. */
export interface Methods {
  hello: { params: { protocol: number }; result: DaemonInfo };
  ping: { params: NoParams; result: DaemonInfo };
  start: { params: { apps: AppSpec[] }; result: ProcessInfo[] };
  list: { params: NoParams; result: ProcessInfo[] };
  stop: { params: { target: Target }; result: ProcessInfo[] };
  restart: { params: { target: Target }; result: ProcessInfo[] };
  reload: { params: { target: Target }; result: ProcessInfo[] };
  delete: { params: { target: Target }; result: ProcessInfo[] };
  describe: { params: { target: Target }; result: AppDescription[] };
  scale: { params: { name: string; count: number; relative: boolean }; result: ProcessInfo[] };
  signal: { params: { target: Target; signal: string }; result: ProcessInfo[] };
  send: { params: { target: Target; data: Json }; result: { delivered: number } };
  flush: { params: { target: Target }; result: { files: number } };
  save: { params: NoParams; result: { file: string; apps: number } };
  resurrect: { params: NoParams; result: ProcessInfo[] };
  subscribe: { params: { logs: boolean; events: boolean; target: Target }; result: { subscribed: true } };
  kill: { params: NoParams; result: { stopped: number } };
  /**
   * Apply a config file: apps not running are started; running apps whose spec changed get it
   * (replaced worker by worker with `how: 'reload'`, restarted with 'restart'); a new instance
   * count scales. Every spec is checked before anything changes.
   */
  update: { params: { apps: AppSpec[]; how: 'reload' | 'restart' }; result: UpdateResult };
  /** The daemon's internal consistency check (every process accounted for, states coherent). */
  check: { params: NoParams; result: { problems: string[] } };
}
export type Method = keyof Methods;
export type Params<M extends Method> = Methods[M]['params'];
export type Result<M extends Method> = Methods[M]['result'];

export interface RequestFrame<M extends Method = Method> {
  id: number;
  method: M;
  params: Params<M>;
}

export type ResponseFrame =
  | { id: number; result: unknown; error?: undefined }
  | { id: number | null; error: WireError; result?: undefined };

/** A line written by a process, streamed to subscribers. */
export interface LogEvent {
  app: string;
  id: number;
  stream: 'out' | 'err';
  line: string;
}

/** A process changed status. */
export interface ProcessEvent {
  app: string;
  id: number;
  status: ProcessStatus;
  pid: number | null;
  /** What happened, in words: "exited with code 1", "crash loop", "ready". */
  detail: string;
}

export type EventFrame = { event: 'log'; data: LogEvent } | { event: 'process'; data: ProcessEvent };

export type ServerFrame = ResponseFrame | EventFrame;
