/**
 * An app's cron_restart and watch. They are armed while the app has processes that should
 * run, and disarmed once a command has stopped it (or on delete, or when the daemon stops);
 * a restart or reload in between leaves them armed. An `update` that changes them re-arms.
 *
 * When one fires, the app's wanted processes are reloaded (cluster mode) or restarted (fork
 * mode) through the app's operation queue, like a command, so it never interleaves with
 * another operation:
 * - a cron tick that finds an operation running or waiting is skipped (noted in the log): the
 *   queue's rule for the `cron` kind (operations.ts);
 * - a burst of file changes waits for the queue to empty, and changes during its reload make
 *   one more reload after it (at most one waits).
 * Nothing is loaded for an app without them: croner and chokidar come in on first use.
 */
import { dirname, extname, relative, resolve } from 'node:path';
import type { AppSpec } from '../../shared/app-spec.js';
import type { TriggerDescription } from '../../shared/protocol.js';
import type { App } from '../app.js';
import { CronSchedule, parseCron } from './cron.js';
import { TriggerRunner } from './runner.js';
import { ChangeBursts, openWatcher, type Watcher } from './watch.js';

/** What the triggers use of an app. */
export type TriggerApp = Pick<App, 'spec' | 'clock' | 'slots' | 'ops' | 'reload' | 'restart' | 'note' | 'logs'>;

/** Checked before an app is created or updated: a bad expression changes nothing. */
export async function checkTriggers(spec: AppSpec): Promise<void> {
  if (spec.cronRestart !== null) await parseCron(spec.cronRestart);
}

interface Armed<T> {
  /** What it was armed for; a different key re-arms. */
  key: string;
  thing: T | null;
}

type ArmedWatch = Armed<Watcher> & { bursts: ChangeBursts; lastPath: string | null };

export class AppTriggers {
  #cron: Armed<CronSchedule> | null = null;
  #watch: ArmedWatch | null = null;
  readonly #cronRunner: TriggerRunner;
  readonly #watchRunner: TriggerRunner;
  #disarmWaiting = false;
  #closed = false;

  constructor(
    private readonly app: TriggerApp,
    /** The daemon's log folder, `<home>/logs`: the whole home is never watched. */
    private readonly logDir: string,
    /** How a watcher is opened (unit tests pass a fake). */
    private readonly open: typeof openWatcher = openWatcher,
  ) {
    this.#cronRunner = new TriggerRunner(() => this.#fire('cron_restart', 'cron'), 'drop');
    this.#watchRunner = new TriggerRunner(() => this.#fire(this.#changedText(), 'watch'), 'coalesce');
  }

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
    this.#cronRunner.close();
    this.#watchRunner.close();
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
        if (this.#cron === armed) armed.thing = new CronSchedule(this.app.clock, pattern, () => this.#cronRunner.request());
      },
      (error: Error) => this.#note(`cron_restart is off: ${error.message}`),
    );
  }

  #syncWatch(key: string | null): void {
    if ((this.#watch?.key ?? null) === key) return;
    if (this.#watch) {
      this.#watch.bursts.close();
      void this.#watch.thing?.close();
    }
    this.#watch = null;
    if (key === null) return;
    const spec = this.app.spec;
    const armed: ArmedWatch = { key, thing: null, lastPath: null, bursts: new ChangeBursts(this.app.clock, spec.watchDelayMs, () => this.#watchRunner.request()) };
    this.#watch = armed;
    const home = dirname(this.logDir);
    this.open({
      cwd: spec.cwd,
      roots: this.#roots(spec),
      patterns: spec.ignoreWatch,
      never: () => [home, this.logDir, ...this.#logFiles()],
      neverPrefixes: () => this.#logFiles().map((file) => rotatedPrefix(file)),
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

  #roots(spec: AppSpec): string[] {
    return [...new Set(spec.watch.map((path) => resolve(spec.cwd, path)))];
  }

  #logFiles(): string[] {
    return this.app.logs
      .describe()
      .map((log) => log.file)
      .filter((file) => file !== '/dev/null');
  }

  #changedText(): string {
    const path = this.#watch?.lastPath;
    return path ? `watch: ${relative(this.app.spec.cwd, path) || path} changed` : 'watch';
  }

  /**
   * Reloads (cluster) or restarts (fork) the processes that should run, through the app's
   * queue: for cron as a `cron` operation, which the queue skips while the app is busy; for
   * watch once the queue is empty.
   */
  async #fire(why: string, kind: 'cron' | 'watch'): Promise<void> {
    if (kind === 'cron' && this.app.ops.skips('cron')) {
      this.#note(`${why}: skipped, an operation on the app is in progress`);
      return;
    }
    if (kind === 'watch') await this.app.ops.drained();
    const wanted = this.app.slots.filter((slot) => slot.wanted);
    if (this.#closed || wanted.length === 0) return;
    const how = this.app.spec.mode === 'cluster' ? 'reload' : 'restart';
    this.#note(`${why}: ${how}ing ${wanted.length} process${wanted.length === 1 ? '' : 'es'}`);
    try {
      if (how === 'reload') await this.app.reload(wanted, kind === 'cron' ? 'cron' : 'reload');
      else await this.app.restart(wanted, kind === 'cron' ? 'cron' : 'restart');
    } catch (error) {
      this.#note(`${why}: the ${how} failed: ${(error as Error).message}`);
    }
  }

  #note(text: string): void {
    const slot = this.app.slots[0];
    if (slot) this.app.note(slot.id, text);
  }
}

/** Rotated copies of a log file start with this: `web-out.log` -> `web-out__` (src/shared/rotated-log-files.ts). */
function rotatedPrefix(file: string): string {
  return `${file.slice(0, file.length - extname(file).length)}__`;
}
