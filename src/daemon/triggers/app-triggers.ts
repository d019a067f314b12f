/**
 * An app's cron_restart and watch. They are armed while the app has processes that should
 * run, and disarmed once a command has stopped it (or on delete, or when the daemon stops);
 * a restart or reload in between leaves them armed. An `update` that changes them re-arms.
 *
 * When one fires, the app's wanted processes are reloaded (cluster mode) or restarted (fork
 * mode) as an operation of the app's queue, of the trigger's own kind, so it never interleaves
 * with another operation, and what happens when the app is busy is the queue's rule
 * (operations.ts), checked there only:
 * - a `cron` tick that finds an operation running or waiting is skipped (noted in the log);
 * - a `watch` burst waits its turn; bursts while it waits join it, and one that ends while it
 *   runs makes one more after it. It reloads the processes that should run at its turn.
 * Nothing is loaded for an app without them: croner and chokidar come in on first use.
 */
import { dirname, relative, resolve } from 'node:path';
import type { AppSpec } from '../../shared/app-spec.js';
import type { LogSpec } from '../../shared/log-options.js';
import type { TriggerDescription } from '../../shared/protocol.js';
import type { App } from '../app.js';
import { appLogFiles } from '../logs/app-logs.js';
import { SKIPPED } from '../operations.js';
import { CronSchedule, parseCron } from './cron.js';
import { ChangeBursts, openWatcher, type Watcher } from './watch.js';

/** What the triggers use of an app. */
export type TriggerApp = Pick<App, 'spec' | 'clock' | 'slots' | 'ops' | 'triggered' | 'note'>;

/** Checked before an app is created or updated: a bad expression changes nothing. */
export async function checkTriggers(spec: AppSpec): Promise<void> {
  if (spec.cronRestart !== null) await parseCron(spec.cronRestart);
}

interface Armed<T> {
  /** What it was armed for; a different key re-arms. */
  key: string;
  thing: T | null;
}

interface ArmedWatch extends Armed<Watcher> {
  bursts: ChangeBursts;
  lastPath: string | null;
  /** The app's log files, never watched: the test is remade when the log options change, not per path. */
  logFiles: (path: string) => boolean;
  logsFor: LogSpec;
}

export class AppTriggers {
  #cron: Armed<CronSchedule> | null = null;
  #watch: ArmedWatch | null = null;
  /** The watch operation this queued last, until it settles: a burst that joins it must not report it twice. */
  #queuedWatch: Promise<unknown> | null = null;
  #disarmWaiting = false;
  #closed = false;

  constructor(
    private readonly app: TriggerApp,
    /** The daemon's log folder, `<home>/logs`: the whole home is never watched. */
    private readonly logDir: string,
    /** How a watcher is opened (unit tests pass a fake). */
    private readonly open: typeof openWatcher = openWatcher,
  ) {}

  /** Brings the triggers in line with the spec and the processes; cheap when nothing changed. */
  sync(): void {
    if (this.#closed) return;
    const running = this.app.slots.some((slot) => slot.wanted);
    if (!running && !this.app.ops.idle) {
      // Stopped inside an operation (a restart stops, then starts): decide once it is over.
      if (!this.#disarmWaiting) {
        this.#disarmWaiting = true;
        void this.app.ops.drained().then(() => {
          this.#disarmWaiting = false;
          this.sync();
        });
      }
      return;
    }
    const spec = this.app.spec;
    this.#syncCron(running && spec.cronRestart !== null ? spec.cronRestart : null);
    this.#syncWatch(running && spec.watch.length > 0 ? JSON.stringify([spec.cwd, spec.watch, spec.ignoreWatch, spec.watchDelayMs]) : null);
  }

  /** Everything off for good (the app is deleted, or the daemon stops). */
  close(): void {
    this.#closed = true;
    this.#syncCron(null);
    this.#syncWatch(null);
  }

  describe(): TriggerDescription {
    const spec = this.app.spec;
    return {
      cron:
        spec.cronRestart === null
          ? null
          : { expression: spec.cronRestart, armed: this.#cron?.thing != null, nextRunAt: this.#cron?.thing?.nextRunAt ?? null },
      watch:
        spec.watch.length === 0
          ? null
          : {
              paths: this.#roots(spec),
              ignored: spec.ignoreWatch,
              delayMs: spec.watchDelayMs,
              armed: this.#watch !== null,
              ready: this.#watch?.thing?.ready ?? false,
              changes: this.#watch?.bursts.changes ?? 0,
              lastChangeAt: this.#watch?.bursts.lastChangeAt ?? null,
            },
    };
  }

  #syncCron(key: string | null): void {
    if ((this.#cron?.key ?? null) === key) return;
    this.#cron?.thing?.close();
    this.#cron = key === null ? null : { key, thing: null };
    if (key === null) return;
    const armed = this.#cron as Armed<CronSchedule>;
    parseCron(key).then(
      (pattern) => {
        if (this.#cron === armed) armed.thing = new CronSchedule(this.app.clock, pattern, () => void this.#fire('cron'));
      },
      (error: Error) => this.#note(`cron_restart is off: ${error.message}`),
    );
  }

  #syncWatch(key: string | null): void {
    const spec = this.app.spec;
    if ((this.#watch?.key ?? null) === key) {
      // The same watch with new log options (an update): only the files it never sees change.
      if (this.#watch && this.#watch.logsFor !== spec.logs) Object.assign(this.#watch, this.#logFiles(spec));
      return;
    }
    if (this.#watch) {
      this.#watch.bursts.close();
      void this.#watch.thing?.close();
    }
    this.#watch = null;
    if (key === null) return;
    const armed: ArmedWatch = {
      key,
      thing: null,
      lastPath: null,
      bursts: new ChangeBursts(this.app.clock, spec.watchDelayMs, () => void this.#fire('watch')),
      ...this.#logFiles(spec),
    };
    this.#watch = armed;
    this.open({
      cwd: spec.cwd,
      roots: this.#roots(spec),
      patterns: spec.ignoreWatch,
      never: [dirname(this.logDir), this.logDir],
      own: (path) => armed.logFiles(path),
      onChange: (path) => {
        if (this.#watch !== armed) return;
        armed.lastPath = path;
        armed.bursts.change();
      },
      onError: (error) => this.#note(`watch: ${error.message}`),
    }).then(
      (watcher) => {
        if (this.#watch === armed) armed.thing = watcher;
        else void watcher.close();
      },
      (error: Error) => this.#note(`watch is off: ${error.message}`),
    );
  }

  #logFiles(spec: AppSpec): Pick<ArmedWatch, 'logFiles' | 'logsFor'> {
    return { logFiles: appLogFiles(spec.name, spec.logs, this.logDir), logsFor: spec.logs };
  }

  #roots(spec: AppSpec): string[] {
    return [...new Set(spec.watch.map((path) => resolve(spec.cwd, path)))];
  }

  #why(kind: 'cron' | 'watch'): string {
    if (kind === 'cron') return 'cron_restart';
    const path = this.#watch?.lastPath;
    return path ? `watch: ${relative(this.app.spec.cwd, path) || path} changed` : 'watch';
  }

  /**
   * Queues the trigger's operation at once; at its turn it reloads (cluster) or restarts
   * (fork) the processes that should run then. Whether a busy app skips it (cron) or it waits
   * (watch) is the queue's rule; here it is only noted, once per operation.
   */
  async #fire(kind: 'cron' | 'watch'): Promise<void> {
    // Filled in at its turn, if something is to be done then.
    const turn = { why: '', how: '' };
    const operation = this.app.triggered(kind, (how) => {
      const wanted = this.#closed ? [] : this.app.slots.filter((slot) => slot.wanted);
      if (wanted.length === 0) return wanted;
      Object.assign(turn, { why: this.#why(kind), how });
      this.#note(`${turn.why}: ${how}ing ${wanted.length} process${wanted.length === 1 ? '' : 'es'}`);
      return wanted;
    });
    // A burst that joined the watch operation already waiting: that one's caller reports.
    if (operation === this.#queuedWatch) return;
    if (kind === 'watch') this.#queuedWatch = operation;
    try {
      if ((await operation) === SKIPPED) this.#note(`${this.#why(kind)}: skipped, an operation on the app is in progress`);
    } catch (error) {
      const reason = (error as Error).message;
      this.#note(turn.how ? `${turn.why}: the ${turn.how} failed: ${reason}` : `${this.#why(kind)}: ${reason}`);
      // Cancelled before its turn (a stop or delete of some of the processes) or refused (a full
      // queue): the change is not live, so it is asked for again after the delay. At its turn it
      // does nothing if no process is wanted any more. A reload that ran and failed is not retried.
      if (kind === 'watch' && !turn.how && !this.#closed) this.#watch?.bursts.change();
    } finally {
      if (this.#queuedWatch === operation) this.#queuedWatch = null;
    }
  }

  #note(text: string): void {
    const slot = this.app.slots[0];
    if (slot) this.app.note(slot.id, text);
  }
}
