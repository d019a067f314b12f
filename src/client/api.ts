/**
 * The programmatic API, which the CLI itself is built on:
 *
 *   const sv = await Supervisor.connect();            // starts the daemon if needed
 *   await sv.start([{ script: 'app.js', instances: 4 }]);
 *   console.log(await sv.list());
 *   sv.close();
 *
 * pm2's messaging calls keep pm2's shapes: `launchBus()` and `sendDataToProcessId()`.
 */
import { EventEmitter } from 'node:events';
import type { AppSpec } from '../shared/app-spec.js';
import { SupervisorError } from '../shared/errors.js';
import type { BusPacket } from '../shared/messages.js';
import { homePaths, resolveHome } from '../shared/paths.js';
import type { AppDescription, DaemonInfo, DataPacket, EventFrame, Method, Params, ProcessInfo, Result } from '../shared/protocol.js';
import type { AppConfig } from './app-config.js';
import type { Connection } from './connection.js';
import { connectIfRunning, connectOrStart } from './launcher.js';

export interface ConnectOptions {
  /** SUPERVISOR_HOME to use; defaults to the environment's, then ~/.supervisor. */
  home?: string;
  /** Start a daemon if none is running (default true). */
  start?: boolean;
  /**
   * The longest wait for one reply in milliseconds, 0 for none; default SUPERVISOR_TIMEOUT,
   * else 10 minutes. Independently, a daemon that answers no ping for 10 s is unreachable.
   */
  timeoutMs?: number;
}

/** What sendDataToProcessId takes: pm2's packet (`id` may be given here or as the first argument). */
export interface DataPacketInput {
  id?: number | string;
  type: string;
  topic: unknown;
  data: unknown;
  [key: string]: unknown;
}

type Callback<T> = (error: Error | null, result?: T) => void;
export type SendDataResult = Result<'sendData'>;

export class Supervisor {
  #onClose: (error: SupervisorError | null) => void = () => undefined;
  #bus: Promise<EventEmitter> | null = null;

  private constructor(
    private connection: Connection,
    /** True when this connect started the daemon. */
    readonly startedDaemon: boolean,
    private readonly options: ConnectOptions,
  ) {
    connection.onClose = (error) => this.#onClose(error);
  }

  static async connect(options: ConnectOptions = {}): Promise<Supervisor> {
    const paths = homePaths(options.home ?? resolveHome());
    const connectionOptions = options.timeoutMs === undefined ? {} : { requestTimeoutMs: options.timeoutMs };
    if (options.start === false) {
      const connection = await connectIfRunning(paths, connectionOptions);
      if (!connection) {
        throw new SupervisorError('UNREACHABLE', `no daemon is running for ${paths.home}`);
      }
      return new Supervisor(connection, false, options);
    }
    const { connection, started } = await connectOrStart(paths, connectionOptions);
    return new Supervisor(connection, started, options);
  }

  get daemon(): DaemonInfo {
    return this.connection.daemon as DaemonInfo;
  }

  /**
   * Any protocol method, typed by the protocol module. The daemon closes a connection that has
   * had nothing pending (and no subscription) for a minute; the next call opens a new one.
   */
  async call<M extends Method>(method: M, params: Params<M>): Promise<Result<M>> {
    return (await this.#live()).request(method, params);
  }

  /** The connection, opened again if the daemon closed it for idleness. */
  async #live(): Promise<Connection> {
    if (this.connection.closedIdle) {
      this.connection = (await Supervisor.connect({ ...this.options, start: false })).connection;
      this.connection.onClose = (error) => this.#onClose(error);
    }
    return this.connection;
  }

  /** Starts apps written as in a config file (script paths relative to process.cwd()). */
  async start(apps: readonly (AppConfig | AppSpec)[]): Promise<ProcessInfo[]> {
    const { toAppSpec } = await import('./app-config.js');
    const base = { cwd: process.cwd(), env: process.env };
    const specs = apps.map((app, i) => (isSpec(app) ? app : toAppSpec(app, base, `apps[${i}]`)));
    return this.call('start', { apps: specs });
  }

  list(): Promise<ProcessInfo[]> {
    return this.call('list', {});
  }

  stop(target: string): Promise<ProcessInfo[]> {
    return this.call('stop', { target });
  }

  restart(target: string): Promise<ProcessInfo[]> {
    return this.call('restart', { target });
  }

  reload(target: string): Promise<ProcessInfo[]> {
    return this.call('reload', { target });
  }

  delete(target: string): Promise<ProcessInfo[]> {
    return this.call('delete', { target });
  }

  describe(target: string): Promise<AppDescription[]> {
    return this.call('describe', { target });
  }

  /** Receives log lines and process events until close(). */
  async subscribe(target: string, what: { logs: boolean; events: boolean }, listener: (event: EventFrame) => void): Promise<void> {
    (await this.#live()).onEvent(listener);
    await this.call('subscribe', { target, ...what });
  }

  /** Called when the connection ends: with null after close() or when the daemon stops, else with why. */
  onClose(listener: (error: SupervisorError | null) => void): void {
    this.#onClose = listener;
  }

  /**
   * pm2's bus: an emitter of what apps send with `process.send({ type, data, topic })`, under
   * its type ('process:msg' in pm2's pattern), as `{ process: { id, pm_id, name, instance,
   * pid }, type, topic, data, at }`. It lasts as long as this connection. Also takes pm2's
   * callback, `(error, bus)`.
   */
  launchBus(callback?: Callback<EventEmitter>): Promise<EventEmitter> {
    this.#bus ??= (async () => {
      const bus = new EventEmitter();
      (await this.#live()).onEvent((frame) => {
        if (frame.event !== 'message') return;
        const packet: BusPacket = frame.data;
        // An app sending type 'error' must not throw here when nobody listens for it.
        if (packet.type === 'error' && bus.listenerCount('error') === 0) return;
        bus.emit(packet.type, packet);
      });
      await this.call('subscribe', { target: 'all', logs: false, events: false, messages: true });
      return bus;
    })();
    const bus = this.#bus;
    bus.catch(() => {
      if (this.#bus === bus) this.#bus = null;
    });
    return withCallback(bus, callback);
  }

  /**
   * pm2's sendDataToProcessId: delivers `packet` to process `id`'s `process.on('message')`,
   * with `packet.id` set to the id. `type`, `topic` and `data` are required. Takes
   * `(id, packet)` or `(packet)` with `packet.id`, and pm2's callback as the last argument.
   */
  sendDataToProcessId(id: number | string, packet: DataPacketInput, callback?: Callback<SendDataResult>): Promise<SendDataResult>;
  sendDataToProcessId(packet: DataPacketInput, callback?: Callback<SendDataResult>): Promise<SendDataResult>;
  sendDataToProcessId(
    first: number | string | DataPacketInput,
    second?: DataPacketInput | Callback<SendDataResult>,
    third?: Callback<SendDataResult>,
  ): Promise<SendDataResult> {
    const packet = (typeof first === 'object' ? first : second) as DataPacketInput | undefined;
    const callback = (typeof second === 'function' ? second : third) as Callback<SendDataResult> | undefined;
    const result = (async () => {
      if (typeof packet !== 'object' || packet === null) throw new SupervisorError('INVALID_REQUEST', 'sendDataToProcessId needs a packet { type, topic, data }');
      const rawId = typeof first === 'object' ? packet.id : first;
      const id = typeof rawId === 'string' && /^\d+$/.test(rawId) ? Number(rawId) : rawId;
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new SupervisorError('INVALID_REQUEST', `sendDataToProcessId: ${String(rawId)} is not a process id`);
      return this.call('sendData', { id, packet: { ...packet, id } as DataPacket });
    })();
    return withCallback(result, callback);
  }


  /** Stops every app, then the daemon. */
  kill(): Promise<{ stopped: number }> {
    return this.call('kill', {});
  }

  close(): void {
    this.connection.close();
  }
}

/** pm2's (error, result) callback on top of the promise; given one, a rejection is not also unhandled. */
function withCallback<T>(promise: Promise<T>, callback: Callback<T> | undefined): Promise<T> {
  if (callback) {
    promise.then(
      (value) => callback(null, value),
      (error: Error) => callback(error),
    );
  }
  return promise;
}

function isSpec(app: AppConfig | AppSpec): app is AppSpec {
  return 'mode' in app && 'interpreterArgs' in app;
}

export type { AppConfig, AppSpec, AppDescription, BusPacket, DaemonInfo, EventFrame, ProcessInfo };
export { SupervisorError };
