/**
 * The programmatic API, which the CLI itself is built on:
 *
 *   const sv = await Supervisor.connect();            // starts the daemon if needed
 *   await sv.start([{ script: 'app.js', instances: 4 }]);
 *   console.log(await sv.list());
 *   sv.close();
 */
import type { AppSpec } from '../shared/app-spec.js';
import { homePaths, resolveHome } from '../shared/paths.js';
import type { AppDescription, DaemonInfo, EventFrame, Method, Params, ProcessInfo, Result } from '../shared/protocol.js';
import type { AppConfig } from './app-config.js';
import type { SupervisorError } from '../shared/errors.js';
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

export class Supervisor {
  #onClose: (error: SupervisorError | null) => void = () => undefined;

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
        const { SupervisorError } = await import('../shared/errors.js');
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
    if (this.connection.closedIdle) {
      this.connection = (await Supervisor.connect({ ...this.options, start: false })).connection;
      this.connection.onClose = (error) => this.#onClose(error);
    }
    return this.connection.request(method, params);
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
    this.connection.onEvent(listener);
    await this.call('subscribe', { target, ...what });
  }

  /** Called when the connection ends: with null after close() or when the daemon stops, else with why. */
  onClose(listener: (error: SupervisorError | null) => void): void {
    this.#onClose = listener;
  }

  /** Stops every app, then the daemon. */
  kill(): Promise<{ stopped: number }> {
    return this.call('kill', {});
  }

  close(): void {
    this.connection.close();
  }
}

function isSpec(app: AppConfig | AppSpec): app is AppSpec {
  return 'mode' in app && 'interpreterArgs' in app;
}

export type { AppConfig, AppSpec, AppDescription, DaemonInfo, EventFrame, ProcessInfo };
export { SupervisorError } from '../shared/errors.js';
