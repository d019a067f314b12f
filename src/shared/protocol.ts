/**
 * The control protocol between the client and the daemon: every message that crosses
 * daemon.sock is typed here. Frames are JSON text over a WebSocket on the Unix socket.
 *
 *   client → daemon   { id, method, params }             a request
 *   daemon → client   { id, result } | { id, error }     its response, never both
 *   daemon → client   { event, data }                    after `subscribe`, unsolicited
 *                                                        ('log', 'process', 'dropped')
 *
 * The first request on a connection must be `hello`, which carries PROTOCOL_VERSION. It is an
 * integer that changes when a message changes shape, not the package version.
 */
import type { AppSpec } from './app-spec.js';
import type { WireError } from './errors.js';
import type { BusPacket, MessageCounters } from './messages.js';
import type { Json } from './validate.js';

// 2: update, check, reset, reload-logs, sendData and bus messages, the 'dropped' event, and
// fields added to ProcessInfo and AppDescription by issues 8-13. A daemon of version 1 is
// refused with VERSION_MISMATCH, whose message says how to stop it.
export const PROTOCOL_VERSION = 2;

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
  /** Messages between processes and to the API bus, over the slot's processes (docs/MESSAGES.md). */
  messages: MessageCounters;
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

/** One log file of an app (or a stream sent to /dev/null), as `describe` shows it. */
export interface LogFileDescription {
  /** Which lines: stdout, stderr, or both (pm2's log_file). */
  stream: 'out' | 'err' | 'combined';
  /** The instance whose file this is when logs are not merged; null for the app's merged file. */
  instance: number | null;
  /** Absolute path, or "/dev/null" when the lines are discarded. */
  file: string;
  /** Bytes in the current file (rotated files not counted). */
  size: number;
  /** Bytes written since the daemon opened it. */
  bytesWritten: number;
  /** Lines lost to disk errors or overload since the daemon opened it. */
  linesDropped: number;
  /** The last write or open error, e.g. "ENOSPC: no space left on device, write". */
  lastError: string | null;
  lastErrorAt: number | null;
  /** True while lines are being dropped; writing resumes by itself when the file takes them. */
  failing: boolean;
}

export interface AppDescription {
  name: string;
  spec: AppSpec;
  listeners: ListenerDescription[];
  processes: ProcessDescription[];
  logs: LogFileDescription[];
  /**
   * Whether the app's logs are paced now (read at `rate` bytes/s while other apps wait for
   * CPU; docs/LOGS.md) and for how long in total since the daemon started. Absent from daemons
   * older than pacing.
   */
  logPacing?: { rate: number; paced: boolean; pacedMs: number };
  /** cron_restart and watch, as armed now (absent from daemons older than them). */
  triggers?: TriggerDescription;
}

export interface TriggerDescription {
  /** Armed while the app runs; `nextRunAt` in ms since the epoch. */
  cron: { expression: string; armed: boolean; nextRunAt: number | null } | null;
  /**
   * `paths` are absolute; `ready` once the first scan is done (changes before it are not
   * seen); `changes` counts changes that were not ignored since the watch was armed.
   */
  watch: { paths: string[]; ignored: string[]; delayMs: number; armed: boolean; ready: boolean; changes: number; lastChangeAt: number | null } | null;
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
  /** Apps the daemon did not have. */
  started: string[];
  /** Apps whose spec changed. */
  updated: string[];
  /** Apps with the same spec (their processes were replaced all the same). */
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
  /** Sets restart counters (and the memory of unstable exits) back to 0, as pm2's reset. */
  reset: { params: { target: Target }; result: ProcessInfo[] };
  describe: { params: { target: Target }; result: AppDescription[] };
  scale: { params: { name: string; count: number; relative: boolean }; result: ProcessInfo[] };
  signal: { params: { target: Target; signal: string }; result: ProcessInfo[] };
  send: { params: { target: Target; data: Json }; result: { delivered: number } };
  /**
   * pm2's sendDataToProcessId: `packet` ({ type, topic, data, … }, with `id` set to the
   * process id) goes to that process's process.on('message'). Result in pm2's shape.
   */
  sendData: { params: { id: number; packet: DataPacket }; result: { success: true; data: DataPacket } };
  flush: { params: { target: Target }; result: { files: number } };
  /** Reopens every log file of the daemon (after an external logrotate); pm2's reloadLogs. */
  'reload-logs': { params: NoParams; result: { files: number } };
  save: { params: NoParams; result: { file: string; apps: number } };
  resurrect: { params: NoParams; result: ProcessInfo[] };
  /** `messages` (optional, default false): app messages for launchBus. */
  subscribe: { params: { logs: boolean; events: boolean; messages?: boolean; target: Target }; result: { subscribed: true } };
  kill: { params: NoParams; result: { stopped: number } };
  /**
   * Apply a config file: apps the daemon does not have are started; the others get their new
   * spec (if it changed) and new processes, worker by worker without downtime with `how:
   * 'reload'`, restarted with 'restart'; a new instance count scales. Every spec is checked
   * before anything changes.
   */
  update: { params: { apps: AppSpec[]; how: 'reload' | 'restart' }; result: UpdateResult };
  /** The daemon's internal consistency check (every process accounted for, states coherent). */
  check: { params: NoParams; result: { problems: string[] } };
  /**
   * pm2's `restart|stop <target> --watch`: `toggle` turns each selected app's `watch` on (its
   * cwd) when it is off and off when it is on; `off` turns it off. The spec keeps the change
   * (state.json, save). Processes are left alone: the CLI restarts or stops them next.
   */
  watch: { params: { target: Target; watch: 'toggle' | 'off' }; result: { name: string; watching: boolean }[] };
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

/** pm2's packet for sendDataToProcessId: `type`, `topic` and `data` are required, other fields pass. */
export interface DataPacket {
  id: number;
  type: string;
  topic: Json;
  data: Json;
  [key: string]: Json;
}

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

/**
 * Log lines this connection missed: it fell more than a megabyte behind, so the daemon dropped
 * its log lines (never process events, bus messages or replies) until it caught up. Sent once it has.
 */
export interface DroppedEvent {
  lines: number;
}

/** 'message' follows `subscribe` with `messages`: an app's `process.send({ type, data, topic })`, as pm2's bus has it. */
export type EventFrame =
  | { event: 'log'; data: LogEvent }
  | { event: 'process'; data: ProcessEvent }
  | { event: 'message'; data: BusPacket }
  | { event: 'dropped'; data: DroppedEvent };

export type ServerFrame = ResponseFrame | EventFrame;
