/**
 * A typed request/response connection to the daemon over daemon.sock. Requests carry ids;
 * responses carry a result or an error, and errors become SupervisorError with their code.
 */
import { SupervisorError, isErrorCode } from '../shared/errors.js';
import { PROTOCOL_VERSION, type DaemonInfo, type EventFrame, type Method, type Params, type Result } from '../shared/protocol.js';
import { isRecord } from '../shared/validate.js';
import { connectWebSocket, type TextSocket } from './ws-client.js';

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export class Connection {
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #eventListeners = new Set<(event: EventFrame) => void>();
  #closedError: Error | null = null;
  daemon: DaemonInfo | null = null;

  private constructor(private readonly socket: TextSocket) {
    socket.onMessage = (text) => this.#receive(text);
    socket.onClose = (reason) => {
      this.#closedError = new SupervisorError('UNREACHABLE', `the daemon closed the connection${reason ? `: ${reason.message}` : ''}`);
      for (const pending of this.#pending.values()) pending.reject(this.#closedError);
      this.#pending.clear();
      this.onClose();
    };
  }

  /** Connects and exchanges `hello`; a daemon of another protocol version is refused here. */
  static async open(socketPath: string, timeoutMs = 5000): Promise<Connection> {
    const connection = new Connection(await connectWebSocket(socketPath, timeoutMs));
    try {
      connection.daemon = await connection.request('hello', { protocol: PROTOCOL_VERSION });
    } catch (error) {
      connection.close();
      throw error;
    }
    return connection;
  }

  onClose: () => void = () => undefined;

  /** Adds a listener for subscribed events (logs, process events, bus messages). */
  onEvent(listener: (event: EventFrame) => void): void {
    this.#eventListeners.add(listener);
  }

  request<M extends Method>(method: M, params: Params<M>): Promise<Result<M>> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    const id = this.#nextId++;
    return new Promise<Result<M>>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.socket.close();
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
    const error = frame['error'];
    if (isRecord(error)) {
      const code = isErrorCode(error['code']) ? error['code'] : 'INTERNAL';
      pending.reject(new SupervisorError(code, typeof error['message'] === 'string' ? error['message'] : 'unknown error'));
    } else {
      pending.resolve(frame['result']);
    }
  }
}
