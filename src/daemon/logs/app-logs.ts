/**
 * One app's logs: which files each stream of each process goes to (pm2's out_file,
 * error_file, log_file, /dev/null, merge_logs), how its lines are written (as written, with a
 * date, or as JSON), and the pipes it reads, paused while a file cannot keep up or while the
 * app's logs are paced (pacing.ts).
 */
import { basename, extname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { LogFileDescription } from '../../shared/protocol.js';
import { DISCARD, type LogDefaults, type LogSpec, type RotationSettings } from '../../shared/log-options.js';
import { LineSource } from './line-source.js';
import { lineFormat, type LineFormat, type LineOrigin } from './line-format.js';
import type { LogFile, LogFileError } from './log-file.js';
import type { AppPace, Holdable, PacingDescription } from './pacing.js';
import { isoTime } from '../../shared/iso-time.js';
import { logFileFamily } from '../../shared/rotated-log-files.js';

/** How long close() waits, by default, for the pipes of exited processes to deliver their last lines. */
const CLOSE_WAIT_MS = 30_000;

export type StreamName = 'out' | 'err';
type FileRole = LogFileDescription['stream'];

/** What a process's spawner needs: how to set up its stdout and stderr, and where they go. */
export interface LogSink {
  /** 'ignore' when nothing would read the stream (both its files are /dev/null). */
  stdio(stream: StreamName): 'pipe' | 'ignore';
  /** Reads the stream into the app's files, pausing it while they cannot keep up. */
  attach(stream: StreamName, readable: Readable): void;
  /** A whole line from the daemon about this process ("cannot start ..."). */
  write(stream: StreamName, text: string): void;
}

/** What AppLogs needs from the daemon-wide log service. */
export interface AppLogsHost {
  readonly logDir: string;
  readonly defaults: LogDefaults;
  /** True when someone follows logs; lines are then also published. */
  wantsLines(): boolean;
  publish(app: string, origin: LineOrigin, line: string): void;
  acquire(path: string, rotation: RotationSettings, owner: AppLogs): LogFile;
  release(file: LogFile, owner: AppLogs): Promise<void>;
  /** The app's pacing (shared by all AppLogs of one app name), at this rate. */
  pace(app: string, rate: number): AppPace;
  unpace(pace: AppPace): void;
  log(line: string): void;
}

interface Target {
  role: FileRole;
  instance: number | null;
  /** The file, or null when the role's lines are discarded (/dev/null). */
  file: LogFile | null;
}

export class AppLogs {
  readonly #targets = new Map<string, Target>();
  readonly #instanceOf = new Map<number, number>();
  readonly #format: LineFormat | null;
  readonly #rotation: RotationSettings;
  readonly #failing = new Set<LogFile>();
  readonly #pace: AppPace;
  /** Pipes attached and not yet closed. */
  #reading = 0;
  #lastPipeClosed: (() => void) | null = null;
  #closing: Promise<void> | null = null;

  constructor(
    readonly app: string,
    readonly spec: LogSpec,
    private readonly host: AppLogsHost,
  ) {
    this.#format = lineFormat({ app, dateFormat: spec.dateFormat, json: spec.logType === 'json' });
    this.#rotation = {
      maxSize: spec.maxSize ?? host.defaults.maxSize,
      retain: spec.retain ?? host.defaults.retain,
      compress: spec.compress ?? host.defaults.compress,
    };
    this.#pace = host.pace(app, spec.paceRate ?? host.defaults.paceRate);
    // Merged files exist from the start, so describe and flush see them before any process writes.
    if (spec.mergeLogs) for (const role of ['out', 'err', 'combined'] as const) this.#target(role, null);
  }

  /** A sink for one process of the app. */
  sinkFor(id: number, instance: number): LogSink {
    this.#instanceOf.set(id, instance);
    return {
      stdio: (stream) => (this.#filesFor(stream, instance).length === 0 ? 'ignore' : 'pipe'),
      attach: (stream, readable) => this.#attach(stream, readable, id, instance),
      write: (stream, text) => void this.#deliver(this.#filesFor(stream, instance), { id, stream }, Buffer.from(text.endsWith('\n') ? text : `${text}\n`)),
    };
  }

  /** Notes from the daemon itself (restarts, crash loops) go to the process's error log. */
  note(id: number, text: string): void {
    const instance = this.#instanceOf.get(id) ?? 0;
    const line = Buffer.from(`[supervisor] ${isoTime()} ${text}\n`);
    this.#deliver(this.#filesFor('err', instance), { id, stream: 'err' }, line);
  }

  /** Empties every file of the app, current and rotated; returns how many files that touched. */
  async flush(): Promise<number> {
    const counts = await Promise.all(this.#files().map((file) => file.flush()));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Whether the app's logs are paced now, and for how long in total. */
  pacing(): PacingDescription {
    return this.#pace.describe();
  }

  describe(): LogFileDescription[] {
    return [...this.#targets.values()].map(({ role, instance, file }) => ({
      stream: role,
      instance,
      file: file?.path ?? DISCARD,
      size: file?.size ?? 0,
      bytesWritten: file?.bytesWritten ?? 0,
      linesDropped: file?.linesDropped ?? 0,
      lastError: file?.lastError ? `${file.lastError.code}: ${file.lastError.message}` : null,
      lastErrorAt: file?.lastError?.at ?? null,
      failing: file?.failing ?? false,
    }));
  }

  /**
   * Lets go of the files once the pipes still attached have closed, so their last lines are
   * written; at most `waitMs`, then later lines are dropped and counted. An app deleted waits
   * CLOSE_WAIT_MS (its processes are stopped: what still holds a pipe is an orphan); logs an
   * update replaced wait for good (Infinity), since an update that fails or is aborted leaves
   * old processes serving, and writing here, for as long as they run.
   */
  close(waitMs = CLOSE_WAIT_MS): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#reading > 0) {
        await new Promise<void>((resolve) => {
          const timer = Number.isFinite(waitMs) ? setTimeout(resolve, waitMs) : null;
          // A shutting-down daemon does not wait for it: its exit closes the files anyway.
          timer?.unref();
          this.#lastPipeClosed = () => {
            if (timer) clearTimeout(timer);
            resolve();
          };
        });
      }
      this.host.unpace(this.#pace);
      await Promise.all(this.#files().map((file) => this.host.release(file, this)));
    })();
    return this.#closing;
  }

  /** Called by the service when one of this app's files stops taking lines. */
  fileFailed(file: LogFile, error: LogFileError): void {
    if (this.#failing.size === 0) {
      this.host.log(`app "${this.app}": cannot write its log ${file.path} (${error.code}: ${error.message}); its lines are dropped and counted until the file takes them again`);
    }
    this.#failing.add(file);
  }

  fileRecovered(file: LogFile, dropped: number): void {
    if (!this.#failing.delete(file) || this.#failing.size > 0) return;
    this.host.log(`app "${this.app}": writing its logs again (${dropped} lines dropped meanwhile in ${file.path})`);
  }

  #attach(stream: StreamName, readable: Readable, id: number, instance: number): void {
    const files = this.#filesFor(stream, instance);
    const source = new LineSource(id, instance, stream, (origin, piece) => void this.#deliver(files, origin, piece));
    const held = new HeldStream(readable);
    const paced: Holdable = { hold: () => held.set('pace', true), release: () => held.set('pace', false) };
    this.#pace.add(paced);
    this.#reading += 1;
    readable.on('data', (chunk: Buffer) => {
      this.#pace.read(chunk.length);
      const lines = source.take(chunk);
      if (lines === null || this.#deliver(files, source, lines) || held.has('files')) return;
      // The file is behind: stop reading, so the app blocks in write() instead of the daemon
      // buffering. The kernel's pipe buffer holds what the app wrote meanwhile.
      held.set('files', true);
      void Promise.all(files.map((file) => file.drained())).then(() => held.set('files', false));
    });
    readable.once('end', () => {
      const rest = source.end();
      if (rest) this.#deliver(files, source, rest);
    });
    readable.once('close', () => {
      this.#pace.remove(paced);
      this.#reading -= 1;
      if (this.#reading === 0) this.#lastPipeClosed?.();
    });
    readable.on('error', () => undefined);
  }

  /** Writes whole lines to the files; false when one of them wants the source paused. */
  #deliver(files: readonly LogFile[], origin: LineOrigin, lines: Buffer): boolean {
    const data = this.#format ? this.#format(lines, origin) : lines;
    let keepReading = true;
    for (const file of files) if (!file.write(data)) keepReading = false;
    if (this.host.wantsLines()) {
      const text = lines.toString('utf8').split('\n');
      text.pop();
      for (const line of text) if (line.length > 0) this.host.publish(this.app, origin, line);
    }
    return keepReading;
  }

  #filesFor(stream: StreamName, instance: number): LogFile[] {
    const files: LogFile[] = [];
    const own = this.#target(stream, instance).file;
    if (own) files.push(own);
    const combined = this.#target('combined', instance).file;
    if (combined && combined !== own) files.push(combined);
    return files;
  }

  #files(): LogFile[] {
    const files = new Set<LogFile>();
    for (const { file } of this.#targets.values()) if (file) files.add(file);
    return [...files];
  }

  #target(role: FileRole, instance: number | null): Target {
    const which = this.spec.mergeLogs ? null : instance;
    const key = `${role}:${which ?? ''}`;
    let target = this.#targets.get(key);
    if (!target) {
      const path = this.#pathFor(role, which);
      target = { role, instance: which, file: path === null ? null : this.host.acquire(path, this.#rotation, this) };
      // A combined file that is not configured is no target at all: keep it out of describe.
      if (role !== 'combined' || this.spec.logFile !== null) this.#targets.set(key, target);
    }
    return target;
  }

  /** Where a role's lines go, or null when they are discarded. */
  #pathFor(role: FileRole, instance: number | null): string | null {
    const path = logPath(this.app, this.spec, this.host.logDir, role);
    return path === null || instance === null ? path : perInstance(path, instance);
  }
}

/** Where an app's lines of a role go (before the per-instance suffix), or null when they are discarded. */
export function logPath(app: string, spec: LogSpec, logDir: string, role: FileRole): string | null {
  const configured = role === 'out' ? spec.outFile : role === 'err' ? spec.errFile : spec.logFile;
  if (configured === DISCARD || (role === 'combined' && configured === null)) return null;
  return typeof configured === 'string' ? configured : join(logDir, role === 'combined' ? `${app}.log` : `${app}-${role}.log`);
}

/**
 * A test for every file an app's logs may write, built once from its log options: each file,
 * one instance's copy (`web-out-2.log`, see perInstance) and the rotated copies of both
 * (`web-out__<time>.log[.gz]`, see src/shared/rotated-log-files.ts), whether they exist yet or not.
 */
export function appLogFiles(app: string, spec: LogSpec, logDir: string): (path: string) => boolean {
  const families = (['out', 'err', 'combined'] as const).flatMap((role) => {
    const path = logPath(app, spec, logDir, role);
    return path === null ? [] : [logFileFamily(path)];
  });
  return (path) => families.some((isOfFamily) => isOfFamily(path));
}

/** A pipe paused while its files are behind or its app's pacing holds it; read when neither does. */
class HeldStream {
  readonly #reasons = new Set<'files' | 'pace'>();

  constructor(private readonly readable: Readable) {}

  has(reason: 'files' | 'pace'): boolean {
    return this.#reasons.has(reason);
  }

  set(reason: 'files' | 'pace', held: boolean): void {
    const before = this.#reasons.size > 0;
    if (held) this.#reasons.add(reason);
    else this.#reasons.delete(reason);
    const after = this.#reasons.size > 0;
    if (after && !before) this.readable.pause();
    else if (!after && before) this.readable.resume();
  }
}

/** pm2's name for one instance's file: `web-out.log` -> `web-out-2.log`. */
export function perInstance(path: string, instance: number): string {
  const ext = extname(path);
  const dir = path.slice(0, path.length - basename(path).length);
  return `${dir}${basename(path, ext)}-${instance}${ext}`;
}
