/**
 * One listening address of one cluster-mode app, owned by the daemon for as long as the app
 * exists. Accepted connections never become JS sockets here: the raw handle goes straight to
 * a worker over IPC (`conn`), and our copy is closed once Node confirms delivery. With no
 * worker in rotation, connections wait in a bounded queue instead of being refused.
 */
import net from 'node:net';
import type { BoundAddress, ListenError, ListenRequest } from '../../shared/worker-messages.js';
import type { Balancer, Candidate } from './balancer.js';

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
  handOff(key: string, handle: RawHandle): boolean;
}

interface Waiting {
  handle: RawHandle;
  remote: string | undefined;
  since: number;
}

export interface QueueLimits {
  size: number;
  timeoutMs: number;
}

export class OwnedSocket {
  readonly members = new Set<Member>();
  address: BoundAddress | string | null = null;
  error: ListenError | null = null;
  dropped = 0;
  /** Connections a worker acknowledged receiving (counted by the worker's member). */
  handedOff = 0;
  /** Settles once the first bind attempt does; later listens of other workers wait on it. */
  ready: Promise<BoundAddress | string> | null = null;
  #handle: RawHandle | null = null;
  #queue: Waiting[] = [];
  #queueTimer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(
    readonly key: string,
    readonly request: ListenRequest,
    private balancer: Balancer,
    private limits: QueueLimits,
  ) {}

  /** The app's spec changed (a config reload): new strategy and queue bounds from now on. */
  reconfigure(balancer: Balancer, limits: QueueLimits): void {
    this.balancer = balancer;
    this.limits = limits;
  }

  get queued(): number {
    return this.#queue.length;
  }

  get label(): string {
    if (typeof this.address === 'string') return this.address;
    if (this.address) {
      const host = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address;
      return `${host}:${this.address.port}`;
    }
    return this.request.path ?? `${this.request.host ?? '*'}:${this.request.port}`;
  }

  /** Binds the address; resolves with what was bound or rejects with a ListenError. */
  bind(): Promise<BoundAddress | string> {
    const { path, host, port, backlog, ipv6Only } = this.request;
    const server = net.createServer();
    return new Promise((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        this.error = {
          code: error.code ?? 'EINVAL',
          errno: error.errno ?? 0,
          syscall: error.syscall ?? 'listen',
          message: error.message.replace(/^\w+ \w+: /, '').replace(/ [^ ]+$/, ''),
        };
        reject(this.error);
      });
      const options = path !== null ? { path, backlog } : { port, backlog, ipv6Only, ...(host !== null ? { host } : {}) };
      server.listen(options, () => {
        const internals = server as unknown as { _handle: RawHandle | null };
        const handle = internals._handle as RawHandle;
        this.address = server.address();
        // Take the handle away from net.Server: connections arrive as raw handles and are
        // never wrapped in sockets here, which is what keeps the accept path cheap.
        internals._handle = null;
        handle.onconnection = (status, client) => this.#accept(status, client);
        this.#handle = handle;
        if (this.#closed) this.close();
        resolve(this.address as BoundAddress | string);
      });
    });
  }

  /** Gives queued connections to workers, e.g. when one becomes eligible. */
  flush(): void {
    while (this.#queue.length > 0) {
      const waiting = this.#queue[0] as Waiting;
      if (!this.#dispatch(waiting.handle, waiting.remote)) break;
      this.#queue.shift();
    }
    if (this.#queue.length === 0) this.#clearQueueTimer();
  }

  /** Re-dispatches a connection a worker refused or could not receive. */
  redispatch(handle: RawHandle): void {
    if (!this.#dispatch(handle, undefined)) this.#enqueue(handle, undefined);
  }

  close(): void {
    this.#closed = true;
    this.#handle?.close();
    this.#handle = null;
    for (const waiting of this.#queue) waiting.handle.close();
    this.#queue = [];
    this.#clearQueueTimer();
    this.members.clear();
  }

  #accept(status: number, client: RawHandle | undefined): void {
    if (status !== 0 || !client) return; // EMFILE and friends: libuv retries the accept itself
    const remote = this.#remoteOf(client);
    if (!this.#dispatch(client, remote)) this.#enqueue(client, remote);
  }

  #remoteOf(client: RawHandle): string | undefined {
    if (!this.balancer.usesAddress || this.request.path !== null || !client.getpeername) return undefined;
    const out: Record<string, unknown> = {};
    return client.getpeername(out) === 0 && typeof out['address'] === 'string' ? out['address'] : undefined;
  }

  /**
   * Gives the connection to a worker, or returns false to keep it queued. Unless the strategy
   * pins clients to workers, the strategy chooses among the workers with the fewest hand-offs
   * not yet acknowledged, and never a saturated one. At rest that is every worker; under load
   * it steers connections away from a worker whose event loop is busy (it stops
   * acknowledging), so a stuck worker collects one connection while the others keep up,
   * and a full window at most in a burst that outruns them all.
   */
  #dispatch(handle: RawHandle, remote: string | undefined): boolean {
    const candidates: Member[] = [];
    const pinned = this.balancer.usesAddress;
    let fewestInFlight = Infinity;
    for (const member of this.members) {
      if (!member.eligible) continue;
      if (!pinned) {
        if (member.saturated || member.inFlight > fewestInFlight) continue;
        if (member.inFlight < fewestInFlight) {
          fewestInFlight = member.inFlight;
          candidates.length = 0;
        }
      }
      candidates.push(member);
    }
    while (candidates.length > 0) {
      const chosen = this.balancer.pick(candidates, remote);
      if (chosen.handOff(this.key, handle)) return true;
      candidates.splice(candidates.indexOf(chosen), 1);
    }
    return false;
  }

  /**
   * Holds a connection until a worker can take it: one becomes ready, or (when every worker is
   * saturated) the next acknowledgement arrives. Bounded in count and in time.
   */
  #enqueue(handle: RawHandle, remote: string | undefined): void {
    if (this.#closed || this.#queue.length >= this.limits.size) {
      this.dropped += 1;
      handle.close();
      return;
    }
    this.#queue.push({ handle, remote, since: Date.now() });
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
        (this.#queue.shift() as Waiting).handle.close();
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
