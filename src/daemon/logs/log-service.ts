/**
 * The daemon's logging as a whole: every open log file (shared by the apps and streams that
 * name the same path), the daemon-wide defaults, each app's pacing, the counters the metrics
 * read, and where file failures are reported (daemon.log, once per app and failure).
 */
import { resolve } from 'node:path';
import type { LogDefaults, LogSpec, RotationSettings } from '../../shared/log-options.js';
import { systemClock, type Clock } from '../clock.js';
import type { EventBus } from '../events.js';
import { AppLogs, type AppLogsHost } from './app-logs.js';
import type { LineOrigin } from './line-format.js';
import { LogFile, type LogFileEvents } from './log-file.js';
import type { SupervisedPid } from './pace.js';
import { Pacing, procReaders, type AppPace, type ContentionReaders } from './pacing.js';

export interface LogServiceOptions {
  logDir: string;
  bus: EventBus;
  /** The daemon's own log (daemon.log, or the journal in the foreground). */
  log(line: string): void;
  /** Daemon-wide defaults (LOG_DEFAULTS, or the daemon's environment). */
  defaults: LogDefaults;
  /** The supervised processes now, for the pacing's contention signal. */
  processes?(): readonly SupervisedPid[];
  clock?: Clock;
  readers?: ContentionReaders;
}

interface OpenFile {
  file: LogFile;
  owners: Set<AppLogs>;
}

export class LogService implements AppLogsHost {
  readonly #files = new Map<string, OpenFile>();
  readonly #pacing: Pacing;
  #bytesWritten = 0;
  #linesDropped = 0;

  constructor(private readonly options: LogServiceOptions) {
    this.#pacing = new Pacing({
      clock: options.clock ?? systemClock,
      readers: options.readers ?? procReaders,
      processes: options.processes ?? (() => []),
      log: options.log,
    });
  }

  get logDir(): string {
    return this.options.logDir;
  }

  get defaults(): LogDefaults {
    return this.options.defaults;
  }

  /** Bytes written to log files since the daemon started (for metrics). */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** Lines that could not be written (disk errors, overload) since the daemon started (for metrics). */
  get linesDropped(): number {
    return this.#linesDropped;
  }

  /** How many log files are open. */
  get openFiles(): number {
    return this.#files.size;
  }

  pace(app: string, rate: number): AppPace {
    return this.#pacing.acquire(app, rate);
  }

  unpace(pace: AppPace): void {
    this.#pacing.release(pace);
  }

  forApp(app: string, spec: LogSpec): AppLogs {
    return new AppLogs(app, spec, this);
  }

  /** Reopens every log file (`reload-logs`, SIGUSR2); returns how many. */
  async reopenAll(): Promise<number> {
    const files = [...this.#files.values()].map(({ file }) => file);
    await Promise.all(files.map((file) => file.reopen()));
    return files.length;
  }

  wantsLines(): boolean {
    return this.options.bus.wantsLogs;
  }

  publish(app: string, origin: LineOrigin, line: string): void {
    this.options.bus.log({ app, id: origin.id, stream: origin.stream, line });
  }

  log(line: string): void {
    this.options.log(line);
  }

  acquire(path: string, rotation: RotationSettings, owner: AppLogs): LogFile {
    const key = resolve(path);
    let open = this.#files.get(key);
    if (!open) {
      const opened: OpenFile = { file: new LogFile(key, rotation, this.#events(() => opened.owners)), owners: new Set() };
      open = opened;
      this.#files.set(key, open);
    }
    open.owners.add(owner);
    // The latest app to name the file sets its rotation (an update may have changed it).
    open.file.rotation = rotation;
    return open.file;
  }

  async release(file: LogFile, owner: AppLogs): Promise<void> {
    const open = this.#files.get(file.path);
    if (!open || open.file !== file) return;
    open.owners.delete(owner);
    if (open.owners.size > 0) return;
    this.#files.delete(file.path);
    await file.close();
  }

  #events(owners: () => Set<AppLogs>): LogFileEvents {
    return {
      failed: (file, error) => {
        for (const app of owners()) app.fileFailed(file, error);
      },
      recovered: (file, dropped) => {
        for (const app of owners()) app.fileRecovered(file, dropped);
      },
      wrote: (bytes) => {
        this.#bytesWritten += bytes;
      },
      dropped: (lines) => {
        this.#linesDropped += lines;
      },
    };
  }
}
