/**
 * Messages between processes: what the worker-side module (`supervisor-node/process`), the
 * runtime that implements it and the daemon that routes it must agree on. The shapes that
 * travel over the IPC channel are in worker-messages.ts; this file holds the public types and
 * the limits, which are one fact each.
 */
import type { ProcessStatus } from './protocol.js';

/** Who a process is: its stable id (the slot id `list` shows), its app and its instance number. */
export interface ProcessRef {
  id: number;
  name: string;
  instance: number;
}

/** The sender of a message or a request. */
export interface Sender extends ProcessRef {
  pid: number | null;
}

/** One row of `peers()`. */
export interface Peer extends ProcessRef {
  pid: number | null;
  status: ProcessStatus;
}

/**
 * Where a message goes: a process id, an app name (every process of it for `send`, one of
 * them, round-robin, for `request`), or one instance of an app.
 */
export type MessageTarget = number | string | { app: string; instance: number };

/**
 * A change among the daemon's processes, for `on('peer')`:
 * - `online`: a process is up (its first start, or a start after it was stopped);
 * - `exit`: the process with `pid` exited or was stopped (`detail` says how);
 * - `restart`: the slot has a new process, `pid`, in place of `previousPid` (a crash and
 *   restart, a `restart` or a `reload`). A master resets what it kept about that worker here.
 */
export interface PeerEvent extends ProcessRef {
  event: 'online' | 'exit' | 'restart';
  pid: number | null;
  previousPid: number | null;
  detail: string;
}

/**
 * Error codes of the module's rejections:
 * - NOT_FOUND: no process, app or instance by that name or id;
 * - TARGET_GONE: the target exited, or was stopped, before answering;
 * - TIMEOUT: no answer within the request's timeout;
 * - DAEMON_GONE: no daemon (the process was not started by Supervisor, or the daemon died);
 * - TOO_LARGE: the message (or the answer) is over MESSAGE_LIMITS.maxChars of JSON;
 * - QUEUE_FULL: too much is already queued to or from that process, or awaiting answers;
 * - REMOTE: the target's handler threw; `message` is its message, `remote` what it threw.
 */
export const MESSAGE_ERROR_CODES = ['NOT_FOUND', 'TARGET_GONE', 'TIMEOUT', 'DAEMON_GONE', 'TOO_LARGE', 'QUEUE_FULL', 'REMOTE'] as const;
export type MessageErrorCode = (typeof MESSAGE_ERROR_CODES)[number];

export function isMessageErrorCode(value: unknown): value is MessageErrorCode {
  return typeof value === 'string' && (MESSAGE_ERROR_CODES as readonly string[]).includes(value);
}

/** Every bound on messages, in one place (documented in docs/MESSAGES.md). */
export const MESSAGE_LIMITS = {
  /** Largest message, answer or bus packet, in characters of its JSON text. */
  maxChars: 1024 * 1024,
  /**
   * Per process and direction (process → daemon, daemon → process): messages written to the
   * IPC channel and not yet taken by the kernel, by count and by characters.
   */
  maxQueuedMessages: 4096,
  maxQueuedChars: 8 * 1024 * 1024,
  /** Requests one process may have awaiting an answer (including those waiting for their target). */
  maxPendingRequests: 4096,
  /** Default and largest request timeout, in milliseconds. */
  defaultTimeoutMs: 10_000,
  maxTimeoutMs: 2 ** 31 - 1,
} as const;

/** Counters `describe` shows per process slot. */
export interface MessageCounters {
  /** Messages, requests and answers delivered to the slot's processes (module and pm2-style). */
  in: number;
  /** Messages, requests, answers and bus packets the slot's processes sent that were delivered. */
  out: number;
  /** Refused or discarded on the slot's account: too large, queue full, no listener, no bus subscriber. */
  dropped: number;
}

/** What an app's `process.send({ type, data, topic })` becomes for API bus subscribers (pm2's packet). */
export interface BusPacket {
  /** The message's `type`, the event name on the bus: 'process:msg' for pm2's pattern. */
  type: string;
  topic: unknown;
  data: unknown;
  /** Epoch milliseconds when the daemon received it. */
  at: number;
  process: { id: number; pm_id: number; name: string; instance: number; pid: number | null };
}

/** The key under which the preloaded runtime publishes the module's implementation. */
export const PROCESS_API_KEY = Symbol.for('supervisor-node.process');

/** What a request handler receives and returns; a thrown error comes back as a rejection. */
export type RequestHandler = (data: unknown, from: Sender) => unknown;
export type MessageListener = (data: unknown, from: Sender) => void;
export type PeerListener = (event: PeerEvent) => void;

export interface RequestOptions {
  /** Milliseconds to wait for the answer (default 10 000), including while the target starts. */
  timeout?: number;
}

/** An error of the module: `code` is one of MESSAGE_ERROR_CODES. */
export interface MessageErrorLike extends Error {
  readonly code: MessageErrorCode;
  /** For REMOTE: what the handler threw (its message, name and code, if any). */
  readonly remote?: { message: string; name?: string; code?: string };
}

/**
 * The module's API. The preloaded runtime implements it and publishes it under
 * PROCESS_API_KEY; `supervisor-node/process` only forwards to it (src/process/index.ts).
 */
export interface ProcessApi {
  /** True in a process the daemon started (with an IPC channel); false elsewhere. */
  readonly supervised: boolean;
  /** This process, or null when not supervised. */
  readonly self: ProcessRef | null;
  peers(app?: string): Promise<Peer[]>;
  /** Resolves with the number of processes that got it (those listening for messages). */
  send(target: MessageTarget, data: unknown): Promise<number>;
  request(target: MessageTarget, data: unknown, options?: RequestOptions): Promise<unknown>;
  /** Sets (or, with null, removes) this process's request handler. */
  onRequest(handler: RequestHandler | null): void;
  on(event: 'message', listener: MessageListener): ProcessApi;
  on(event: 'peer', listener: PeerListener): ProcessApi;
  once(event: 'message', listener: MessageListener): ProcessApi;
  once(event: 'peer', listener: PeerListener): ProcessApi;
  off(event: 'message', listener: MessageListener): ProcessApi;
  off(event: 'peer', listener: PeerListener): ProcessApi;
  readonly MessageError: new (code: MessageErrorCode, message: string, remote?: MessageErrorLike['remote']) => MessageErrorLike;
}

/** The specifier apps import; the runtime resolves it even for apps that do not depend on us. */
export const PROCESS_MODULE = 'supervisor-node/process';
