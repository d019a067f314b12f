/**
 * A typed request/response connection to the daemon over daemon.sock. Requests carry ids;
 * responses carry a result or an error, and errors become SupervisorError with their code.
 *
 * It never waits forever: while a request is pending (or events are followed) it pings the
 * daemon, and a daemon that answers nothing for LIVENESS_MS is unreachable; each request also
 * has an overall limit (timeouts.ts). Either ends in UNREACHABLE.
 */
import { SupervisorError, isErrorCode } from '../shared/errors.js';
import { PROTOCOL_VERSION, type DaemonInfo, type EventFrame, type Method, type Params, type Result } from '../shared/protocol.js';
import { isRecord } from '../shared/validate.js';
import { HANDSHAKE_TIMEOUT_MS, LIVENESS_MS, PING_INTERVAL_MS, requestTimeoutSetting } from './timeouts.js';
import { connectWebSocket, DaemonClosed, type TextSocket } from './ws-client.js';

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | null;
}

export interface ConnectionOptions {
  /** The longest wait for one reply, 0 for none; default SUPERVISOR_TIMEOUT, else 10 minutes. */
  requestTimeoutMs?: number;
}

export class Connection {
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #eventListeners = new Set<(event: EventFrame) => void>();
  #closedError: SupervisorError | null = null;
  #closedIdle = false;
  #lastHeard = Date.now();
  #watch: NodeJS.Timeout | null = null;
  daemon: DaemonInfo | null = null;

  private constructor(
    private readonly socket: TextSocket,
    private readonly requestTimeoutMs: number,
  ) {
    socket.onActivity = () => (this.#lastHeard = Date.now());
    socket.onMessage = (text) => this.#receive(text);
    socket.onClose = (reason) => {
      this.#closedIdle = reason instanceof DaemonClosed && reason.code === 1000 && reason.reason.startsWith('idle');
      // Closed by us or by a daemon that is stopping is an end; anything else is an error.
      const failure = this.#closedError ?? (reason === null || (reason instanceof DaemonClosed && reason.code === 1001) ? null : new SupervisorError('UNREACHABLE', closeMessage(reason)));
      this.#end(failure ?? new SupervisorError('UNREACHABLE', closeMessage(reason)));
      this.onClose(failure);
    };
  }

  /** Connects and exchanges `hello`; a daemon of another protocol version is refused here. */
  static async open(socketPath: string, options: ConnectionOptions = {}): Promise<Connection> {
    const requestTimeoutMs = options.requestTimeoutMs ?? requestTimeoutSetting(process.env['SUPERVISOR_TIMEOUT'], 'SUPERVISOR_TIMEOUT');
    const connection = new Connection(await connectWebSocket(socketPath, HANDSHAKE_TIMEOUT_MS), requestTimeoutMs);
    try {
      connection.daemon = await connection.request('hello', { protocol: PROTOCOL_VERSION });
    } catch (error) {
      connection.close();
      throw error;
    }
    return connection;
  }

  /** Called once the connection has ended: with null for close() or a daemon that is stopping. */
  onClose: (error: SupervisorError | null) => void = () => undefined;

  /** Whether the daemon closed this connection because it had nothing pending for a while. */
  get closedIdle(): boolean {
    return this.#closedIdle;
  }

  /**
   * Adds a listener for subscribed events (logs, process events, bus messages) until the
   * connection closes; the daemon's liveness is watched meanwhile.
   */
  onEvent(listener: (event: EventFrame) => void): void {
    this.#eventListeners.add(listener);
    this.#watchLiveness();
  }

  request<M extends Method>(method: M, params: Params<M>): Promise<Result<M>> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    const id = this.#nextId++;
    return new Promise<Result<M>>((resolve, reject) => {
      const pending: Pending = { resolve: resolve as (value: unknown) => void, reject, timer: null };
      if (this.requestTimeoutMs > 0) {
        pending.timer = setTimeout(() => {
          this.#pending.delete(id);
          reject(new SupervisorError('UNREACHABLE', `no reply to ${method} within ${seconds(this.requestTimeoutMs)} (set --timeout or SUPERVISOR_TIMEOUT to wait longer)`));
        }, this.requestTimeoutMs);
        pending.timer.unref();
      }
      this.#pending.set(id, pending);
      this.#watchLiveness();
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.socket.close();
  }

  /** Pings while something is awaited; a daemon silent for LIVENESS_MS ends the connection. */
  #watchLiveness(): void {
    if (this.#watch || this.#closedError) return;
    this.#lastHeard = Date.now();
    this.#watch = setInterval(() => {
      if (this.#pending.size === 0 && this.#eventListeners.size === 0) {
        this.#stopWatching();
        return;
      }
      const silent = Date.now() - this.#lastHeard;
      if (silent >= LIVENESS_MS) {
        const who = this.daemon ? `the daemon (pid ${this.daemon.pid})` : 'the daemon';
        this.#end(new SupervisorError('UNREACHABLE', `${who} has not answered for ${Math.floor(silent / 1000)} s: it is stopped or overloaded`));
        this.socket.close();
      } else if (silent >= PING_INTERVAL_MS) {
        this.socket.ping();
      }
    }, PING_INTERVAL_MS);
    // Only a pending request or a subscription keeps the process alive, never this timer.
    this.#watch.unref();
  }

  #stopWatching(): void {
    if (this.#watch) clearInterval(this.#watch);
    this.#watch = null;
  }

  /** Fails every pending request with `error`, and any later one. */
  #end(error: SupervisorError): void {
    this.#closedError ??= error;
    this.#stopWatching();
    for (const pending of this.#pending.values()) {
      if (pending.timer) clearTimeout(pending.timer);
      pending.reject(this.#closedError);
    }
    this.#pending.clear();
  }

  #receive(text: string): void {
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!isRecord(frame)) return;
    if (typeof frame['event'] === 'string') {
      for (const listener of this.#eventListeners) listener(frame as unknown as EventFrame);
      return;
    }
    const id = frame['id'];
    const pending = typeof id === 'number' ? this.#pending.get(id) : undefined;
    if (!pending) return;
    this.#pending.delete(id as number);
    if (pending.timer) clearTimeout(pending.timer);
    const error = frame['error'];
    if (isRecord(error)) {
      const code = isErrorCode(error['code']) ? error['code'] : 'INTERNAL';
      pending.reject(new SupervisorError(code, typeof error['message'] === 'string' ? error['message'] : 'unknown error'));
    } else {
      pending.resolve(frame['result']);
    }
  }
}

function closeMessage(reason: Error | null): string {
  if (reason === null) return 'the connection to the daemon was closed';
  if (reason instanceof DaemonClosed) return reason.message;
  const code = (reason as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' ? 'the daemon closed the connection' : `lost the connection to the daemon: ${reason.message}`;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 || ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}
