/**
 * A listening address the daemon accepts on itself (every balance but 'os'), held for as long
 * as an app listens on it. Accepted connections never become JS sockets here: the raw handle
 * goes straight to a worker over IPC (Node's `newconn`), and our copy is closed once the worker
 * says it took it. With no worker in rotation, connections wait in a bounded queue instead of
 * being refused.
 */
import net from 'node:net';
import { constants } from 'node:os';
import type { Balancer, Candidate } from './balancer.js';
import { bindPath, labelOf, listenErrorFrom, type BoundAddress, type ListenError } from './bind-target.js';
import type { ServerQuery } from './cluster-messages.js';
import type { ClusterSocket } from './socket-table.js';

/** The raw libuv handle (TCPWrap or PipeWrap) of a listening or accepted socket. */
export interface RawHandle {
  close(callback?: () => void): void;
  getpeername?(out: Record<string, unknown>): number;
  onconnection?: (status: number, handle: RawHandle | undefined) => void;
}

/** A worker that can receive this socket's connections. */
export interface Member extends Candidate {
  /** In rotation: ready, not draining, not stopping. */
  readonly eligible: boolean;
  /** Handles sent to it that it has not acknowledged yet. */
  readonly inFlight: number;
  /** As many handles sent to it await acknowledgement as it may have in flight. */
  readonly saturated: boolean;
  /** Passes the connection over IPC; false if the worker's channel is gone. */
  /** `remote` (sticky-ip only) goes back with the connection if the worker does not take it. */
  handOff(key: string, handle: RawHandle, remote?: string): boolean;
}

interface Waiting {
  handle: RawHandle;
  remote: string | undefined;
  since: number;
  /**
   * Under sticky-ip, the worker the client's address maps to, once chosen: the connection
   * waits for that worker to have room rather than go to another.
   */
  pin: Member | null;
}

const UV_ENOTSUP = -constants.errno.ENOTSUP;

/**
 * Takes the listening handle away from a net.Server that listens, so connections arrive as
 * raw handles and are never wrapped in sockets here. Two Node internals, the same in Node 20,
 * 22 and 24: `server._handle` (the libuv handle net listens with) and the `onconnection`
 * callback net sets on it. Null, leaving the server as it was, when they do not look like that.
 * There is no fallback that keeps hand-off: no public API yields raw accepted handles, and
 * Node's worker code takes nothing else in a `newconn`. Serving the address as a shared socket
 * instead would silently change the balancing the app asked for, so the listen fails with one
 * clear message that names `balance os` (the workers accept themselves).
 */
export function takeListenHandle(server: net.Server): RawHandle | null {
  const internals = server as unknown as { _handle?: unknown };
  const handle = internals._handle as Partial<RawHandle> | null | undefined;
  if (!handle || typeof handle !== 'object' || typeof handle.close !== 'function' || typeof handle.onconnection !== 'function') return null;
  internals._handle = null;
  return handle as RawHandle;
}

/** Why a listen fails when takeListenHandle() finds no handle. */
export const NO_HANDOFF_ERROR: ListenError = {
  code: 'ENOTSUP',
  errno: UV_ENOTSUP,
  syscall: 'listen',
  message: "this Node's net.Server has no listening handle the daemon can take over (server._handle.onconnection); use balance os",
};

/** libuv's UV_TCP_IPV6ONLY bind flag, as net puts ipv6Only into a worker's query. */
const IPV6_ONLY = 1;

export interface QueueLimits {
  size: number;
  timeoutMs: number;
}

export class OwnedSocket implements ClusterSocket {
  readonly mode = 'handoff';
  readonly members = new Set<Member>();
  readonly sharedHandle = null;
  address: BoundAddress | string | null = null;
  error: ListenError | null = null;
  data: unknown = null;
  dropped = 0;
  /** Settles once the bind attempt does; later listens of other workers wait on it. */
  readonly ready: Promise<void>;
  #handle: RawHandle | null = null;
  #queue: Waiting[] = [];
  /** sticky-ip: how many waiting connections are pinned to each worker. */
  readonly #pinned = new Map<Member, number>();
  #queueTimer: NodeJS.Timeout | null = null;
  #closed = false;

  /** `query` is the first listen's, which decides how the address is bound. */
  constructor(
    readonly key: string,
    readonly query: ServerQuery,
    private balancer: Balancer,
    private limits: QueueLimits,
  ) {
    this.ready = this.#bind();
  }

  /** The app's spec changed (a config reload): new strategy and queue bounds from now on. */
  reconfigure(balancer: Balancer, limits: QueueLimits): void {
    this.balancer = balancer;
    this.limits = limits;
  }

  get queued(): number {
    return this.#queue.length;
  }

  get label(): string {
    return labelOf(this.query, typeof this.address === 'object' ? this.address : null);
  }

  get reportsCloses(): boolean {
    return this.balancer.needsCloses;
  }

  /** What a worker's server.address() reports: the bound TCP address (a path needs none). */
  sockname(): BoundAddress | null {
    return typeof this.address === 'object' ? this.address : null;
  }

  /** Binds and listens; rejects with a ListenError. */
  #bind(): Promise<void> {
    const { address, port, backlog, flags, readableAll, writableAll } = this.query;
    const server = net.createServer();
    return new Promise((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        this.error = listenErrorFrom(error);
        reject(this.error);
      });
      const options =
        this.query.addressType === -1
          ? { path: bindPath(address ?? ''), backlog, readableAll, writableAll }
          : { port, backlog, ipv6Only: (flags & IPV6_ONLY) !== 0, ...(address !== null ? { host: address } : {}) };
      server.listen(options, () => {
        const address = this.query.addressType === -1 ? (this.query.address ?? '') : server.address();
        // Connections arrive as raw handles and are never wrapped in sockets here, which is
        // what keeps the accept path cheap.
        const handle = takeListenHandle(server);
        if (!handle) {
          server.close();
          this.error = NO_HANDOFF_ERROR;
          reject(this.error);
          return;
        }
        this.address = address;
        handle.onconnection = (status, client) => this.#accept(status, client);
        this.#handle = handle;
        if (this.#closed) this.close();
        resolve();
      });
    });
  }

  /** Gives queued connections to workers, e.g. when one becomes eligible or acknowledges. */
  flush(): void {
    if (this.#queue.length === 0) return;
    if (this.balancer.usesAddress) this.#flushPinned();
    else {
      while (this.#queue.length > 0) {
        const waiting = this.#queue[0] as Waiting;
        if (!this.#dispatch(waiting.handle)) break;
        this.#queue.shift();
      }
    }
    if (this.#queue.length === 0) this.#clearQueueTimer();
  }

  /** Re-dispatches a connection a worker refused or could not receive (to its sticky worker, if any). */
  redispatch(handle: RawHandle, remote?: string): void {
    this.place(handle, remote);
  }

  /**
   * Gives an accepted connection to a worker, or queues it. `remote` is the client's address,
   * read only when the strategy uses it.
   */
  place(handle: RawHandle, remote: string | undefined): void {
    const waiting: Waiting = { handle, remote, since: Date.now(), pin: null };
    if (!this.#tryWaiting(waiting)) this.#enqueue(waiting);
  }

  close(): void {
    this.#closed = true;
    this.#handle?.close();
    this.#handle = null;
    for (const waiting of this.#queue) waiting.handle.close();
    this.#queue = [];
    this.#pinned.clear();
    this.#clearQueueTimer();
    this.members.clear();
  }

  #accept(status: number, client: RawHandle | undefined): void {
    if (status !== 0 || !client) return; // EMFILE and friends: libuv retries the accept itself
    this.place(client, this.#remoteOf(client));
  }

  #remoteOf(client: RawHandle): string | undefined {
    if (!this.balancer.usesAddress || this.query.addressType === -1 || !client.getpeername) return undefined;
    const out: Record<string, unknown> = {};
    return client.getpeername(out) === 0 && typeof out['address'] === 'string' ? out['address'] : undefined;
  }

  /** Hands a connection out if it can go now; false keeps it waiting (with its pin updated). */
  #tryWaiting(waiting: Waiting): boolean {
    if (this.balancer.usesAddress && waiting.remote !== undefined) return this.#dispatchPinned(waiting);
    return this.#dispatch(waiting.handle);
  }

  /**
   * Gives the connection to a worker, or returns false to keep it queued. The strategy chooses
   * among the workers with the fewest hand-offs not yet acknowledged, and never a saturated
   * one. At rest that is every worker; under load it steers connections away from a worker
   * whose event loop is busy (it stops acknowledging), so a stuck worker collects one
   * connection while the others keep up, and a full window at most in a burst that outruns
   * them all.
   */
  #dispatch(handle: RawHandle): boolean {
    const candidates: Member[] = [];
    let fewestInFlight = Infinity;
    for (const member of this.members) {
      if (!member.eligible || member.saturated || member.inFlight > fewestInFlight) continue;
      if (member.inFlight < fewestInFlight) {
        fewestInFlight = member.inFlight;
        candidates.length = 0;
      }
      candidates.push(member);
    }
    while (candidates.length > 0) {
      const chosen = this.balancer.pick(candidates, undefined);
      if (chosen.handOff(this.key, handle)) return true;
      candidates.splice(candidates.indexOf(chosen), 1);
    }
    return false;
  }

  /**
   * sticky-ip: the client's address chooses among every worker in rotation, saturated or not,
   * so a client keeps its worker. If that worker has a full window, the connection waits for
   * it in the queue (pinned), like any connection that finds no room; a connection already
   * pinned keeps its worker for as long as that worker is in rotation.
   */
  #dispatchPinned(waiting: Waiting): boolean {
    const pinned = waiting.pin;
    if (pinned && pinned.eligible && this.members.has(pinned)) {
      if (pinned.saturated) return false;
      if (pinned.handOff(this.key, waiting.handle, waiting.remote)) {
        this.#pinTo(waiting, null);
        return true;
      }
    }
    // Not pinned yet, or its worker left rotation (or its channel just went): choose again.
    const candidates = [...this.members].filter((member) => member.eligible && member !== pinned);
    while (candidates.length > 0) {
      const target = this.balancer.pick(candidates, waiting.remote);
      if (target.saturated) {
        this.#pinTo(waiting, target);
        return false;
      }
      if (target.handOff(this.key, waiting.handle, waiting.remote)) {
        this.#pinTo(waiting, null);
        return true;
      }
      candidates.splice(candidates.indexOf(target), 1);
    }
    this.#pinTo(waiting, null);
    return false;
  }

  /** Records (or clears) which worker a waiting connection is pinned to, keeping the counts. */
  #pinTo(waiting: Waiting, member: Member | null): void {
    if (waiting.pin === member) return;
    if (waiting.pin) {
      const left = (this.#pinned.get(waiting.pin) ?? 1) - 1;
      if (left > 0) this.#pinned.set(waiting.pin, left);
      else this.#pinned.delete(waiting.pin);
    }
    if (member) this.#pinned.set(member, (this.#pinned.get(member) ?? 0) + 1);
    waiting.pin = member;
  }

  /**
   * The queue under sticky-ip: every connection that can go now goes, in arrival order, and
   * the others keep their place, so a stuck worker's clients do not hold up other workers'
   * clients. Scans only when something can go: a worker with room has connections pinned to
   * it, or some wait unpinned or pinned to a worker that has left rotation.
   */
  #flushPinned(): void {
    if (!this.#somethingCanGo()) return;
    const kept: Waiting[] = [];
    let room = true;
    for (const waiting of this.#queue) {
      if (room && this.#tryWaiting(waiting)) {
        room = this.#anyRoom();
        continue;
      }
      kept.push(waiting);
    }
    this.#queue = kept;
  }

  #somethingCanGo(): boolean {
    if (!this.#anyRoom()) return false;
    let pinned = 0;
    for (const [member, count] of this.#pinned) {
      if (!member.saturated || !member.eligible || !this.members.has(member)) return true;
      pinned += count;
    }
    return pinned < this.#queue.length;
  }

  #anyRoom(): boolean {
    for (const member of this.members) if (member.eligible && !member.saturated) return true;
    return false;
  }

  /**
   * Holds a connection until a worker can take it: one becomes ready, or (when its workers are
   * saturated) the next acknowledgement arrives. Bounded in count and in time.
   */
  #enqueue(waiting: Waiting): void {
    if (this.#closed || this.#queue.length >= this.limits.size) {
      this.#pinTo(waiting, null);
      this.dropped += 1;
      waiting.handle.close();
      return;
    }
    this.#queue.push(waiting);
    this.#armQueueTimer();
  }

  /** One timer for the oldest waiting connection; none at all while the queue is empty. */
  #armQueueTimer(): void {
    if (this.#queueTimer || this.#queue.length === 0) return;
    const oldest = this.#queue[0] as Waiting;
    const wait = Math.max(0, oldest.since + this.limits.timeoutMs - Date.now());
    this.#queueTimer = setTimeout(() => {
      this.#queueTimer = null;
      const now = Date.now();
      while (this.#queue.length > 0 && (this.#queue[0] as Waiting).since + this.limits.timeoutMs <= now) {
        const expired = this.#queue.shift() as Waiting;
        this.#pinTo(expired, null);
        expired.handle.close();
        this.dropped += 1;
      }
      this.#armQueueTimer();
    }, wait);
  }

  #clearQueueTimer(): void {
    if (this.#queueTimer) clearTimeout(this.#queueTimer);
    this.#queueTimer = null;
  }
}
