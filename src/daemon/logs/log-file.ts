/**
 * One log file on disk and the queue in front of it. Everything that touches the file runs in
 * one loop (`#pump`), one step at a time: write the queued buffers in one writev, rotate,
 * reopen, truncate, close. Buffers are whole lines, so cutting a batch between two buffers
 * never splits a line across files.
 *
 * - Backpressure: `write()` returns false once HIGH_WATER bytes wait; the caller stops reading
 *   the app's pipe until `drained()`. Past HARD_LIMIT (only daemon notes and the last chunk of
 *   each paused pipe can get there) lines are dropped and counted, so memory stays bounded.
 * - Errors (ENOSPC, EIO, a vanished directory...) never throw out of here: the file records the
 *   error, drops and counts lines for RETRY_MS, then tries again with a fresh descriptor when
 *   the next lines arrive. The app is never blocked by a disk that refuses its lines.
 * - A file renamed or deleted behind our back (logrotate without copytruncate, rm) is noticed
 *   within IDENTITY_CHECK_MS of writing and reopened; `reopen()` does it at once.
 */
import { close, fstat, ftruncate, mkdir, open, rename, stat, truncate, writev, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import type { RotationSettings } from '../../shared/log-options.js';
import { compressRotated, pruneRotated, removeRotated, rotatedName } from './rotated-files.js';

/**
 * Measured (bench/log-writer.mjs, lite mode, 5 s floods): 64 KiB of queue gave 405-587 MB/s
 * and 52 MiB peak RSS, 256 KiB 707-729 MB/s and 60 MiB, 1 MiB 682-915 MB/s and 70 MiB.
 */
const HIGH_WATER = 256 * 1024;
const LOW_WATER = HIGH_WATER / 4;
const HARD_LIMIT = 8 * 1024 * 1024;
/** At most this many buffers per writev (Linux's IOV_MAX). */
const MAX_IOV = 1024;
const RETRY_MS = 1000;
const IDENTITY_CHECK_MS = 5000;

export interface LogFileError {
  code: string;
  message: string;
  /** Epoch milliseconds. */
  at: number;
}

export interface LogFileEvents {
  /** A write or open failed while the file was healthy: once per failure episode. */
  failed(file: LogFile, error: LogFileError): void;
  /** Lines are being written again after a failure; `dropped` lines were lost meanwhile. */
  recovered(file: LogFile, dropped: number): void;
  /** Bytes that reached the file. */
  wrote(bytes: number): void;
  /** Lines that did not. */
  dropped(lines: number): void;
}

const p = {
  open: (path: string) => new Promise<number>((res, rej) => open(path, 'a', 0o600, (e, fd) => (e ? rej(e) : res(fd)))),
  close: (fd: number) => new Promise<void>((res) => close(fd, () => res())),
  fstat: (fd: number) => new Promise<Stats>((res, rej) => fstat(fd, (e, s) => (e ? rej(e) : res(s)))),
  stat: (path: string) => new Promise<Stats | null>((res, rej) => stat(path, (e, s) => (e ? (e.code === 'ENOENT' ? res(null) : rej(e)) : res(s)))),
  writev: (fd: number, buffers: Buffer[]) => new Promise<number>((res, rej) => writev(fd, buffers, (e, n) => (e ? rej(e) : res(n)))),
  ftruncate: (fd: number) => new Promise<void>((res, rej) => ftruncate(fd, 0, (e) => (e ? rej(e) : res()))),
  truncate: (path: string) => new Promise<boolean>((res, rej) => truncate(path, 0, (e) => (e ? (e.code === 'ENOENT' ? res(false) : rej(e)) : res(true)))),
  rename: (from: string, to: string) => new Promise<boolean>((res, rej) => rename(from, to, (e) => (e ? (e.code === 'ENOENT' ? res(false) : rej(e)) : res(true)))),
  mkdir: (path: string) => new Promise<void>((res) => mkdir(path, { recursive: true, mode: 0o700 }, () => res())),
};

export function countLines(buffer: Buffer): number {
  let lines = 0;
  for (let at = buffer.indexOf(10); at >= 0; at = buffer.indexOf(10, at + 1)) lines++;
  return lines;
}

function toError(error: unknown): LogFileError {
  const e = error as NodeJS.ErrnoException;
  return { code: e.code ?? 'EIO', message: e.message ?? String(error), at: Date.now() };
}

export class LogFile {
  #fd: number | null = null;
  #ino = -1;
  #dev = -1;
  #checkedAt = 0;
  #size = 0;
  readonly #queue: Buffer[] = [];
  /** Bytes queued or being written. */
  #pending = 0;
  #pumping = false;
  #kickScheduled = false;
  readonly #ops: (() => Promise<void>)[] = [];
  #drainWaiters: (() => void)[] = [];
  #failing: { retryAt: number; dropped: number } | null = null;
  #closed = false;
  #lastRotation = { stamp: 0, seq: 0 };
  /** Compressions run one at a time, behind the writes. */
  #maintenance: Promise<void> = Promise.resolve();
  #compressQueued = 0;
  bytesWritten = 0;
  linesDropped = 0;
  lastError: LogFileError | null = null;

  constructor(
    readonly path: string,
    public rotation: RotationSettings,
    private readonly events: LogFileEvents,
  ) {}

  /** The current file's size as last written or stat-ed. */
  get size(): number {
    return this.#size;
  }

  get failing(): boolean {
    return this.#failing !== null;
  }

  /** Queues whole lines. False means: stop reading the source until drained(). */
  write(data: Buffer): boolean {
    if (data.length === 0) return true;
    if (this.#closed || (this.#failing && Date.now() < this.#failing.retryAt)) {
      this.#drop(data);
      return true;
    }
    if (this.#pending + data.length > HARD_LIMIT) {
      this.#drop(data);
      return false;
    }
    this.#queue.push(data);
    this.#pending += data.length;
    this.#kickSoon();
    return this.#pending < HIGH_WATER;
  }

  /** Resolves once fewer than LOW_WATER bytes wait (at once if that is already so). */
  drained(): Promise<void> {
    if (this.#pending < LOW_WATER || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Closes and opens the file again (recreating it if it was deleted), and retries at once if failing. */
  reopen(): Promise<void> {
    return this.#run(async () => {
      await this.#closeFd();
      if (this.#failing) this.#failing.retryAt = 0;
      try {
        await this.#open();
      } catch (error) {
        this.#fail(error);
      }
    });
  }

  /** Empties the current file and deletes the rotated ones; returns how many files that touched. */
  flush(): Promise<number> {
    return this.#run(async () => {
      let files = 0;
      try {
        if (this.#fd !== null) {
          await p.ftruncate(this.#fd);
          files += 1;
        } else if (await p.truncate(this.path)) {
          files += 1;
        }
        this.#size = 0;
      } catch {
        // A file that cannot be truncated keeps its lines; flush reports the files it emptied.
      }
      return files + (await removeRotated(this.path).catch(() => 0));
    });
  }

  /** Resolves once everything queued so far is written (or dropped). */
  settled(): Promise<void> {
    return this.#run(async () => {
      while (this.#queue.length > 0 && !this.#closed) await this.#writeNext();
    });
  }

  /** Writes what is queued, then closes. Later writes are dropped. */
  close(): Promise<void> {
    return this.#run(async () => {
      while (this.#queue.length > 0) await this.#writeNext();
      await this.#closeFd();
      this.#closed = true;
      this.#notifyDrain();
      await this.#maintenance;
    });
  }

  #run<T>(op: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#ops.push(() => op().then(resolve, reject));
      this.#kick();
    });
  }

  #kick(): void {
    if (!this.#pumping) void this.#pump();
  }

  /**
   * Starts writing after the event loop's poll phase rather than at once: a busy pipe delivers
   * several chunks per loop turn, and they then go out in one writev instead of one each.
   * Measured under a flood: fewer submissions to the thread pool, which were the largest
   * single cost on the daemon's main thread.
   */
  #kickSoon(): void {
    if (this.#pumping || this.#kickScheduled) return;
    this.#kickScheduled = true;
    setImmediate(() => {
      this.#kickScheduled = false;
      this.#kick();
    });
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      for (;;) {
        const op = this.#ops.shift();
        if (op) await op();
        else if (this.#queue.length > 0 && !this.#closed) await this.#writeNext();
        else break;
      }
    } finally {
      this.#pumping = false;
      this.#notifyDrain();
    }
  }

  /** Writes one batch: as many queued buffers as fit before the rotation size. */
  async #writeNext(): Promise<void> {
    try {
      if (this.#fd === null) await this.#open();
      else if (Date.now() - this.#checkedAt > IDENTITY_CHECK_MS) await this.#checkIdentity();
      const max = this.rotation.maxSize;
      let bytes = 0;
      let count = 0;
      for (const buffer of this.#queue) {
        if (count === MAX_IOV) break;
        if (max > 0 && this.#size + bytes + buffer.length > max && (bytes > 0 || this.#size > 0)) break;
        bytes += buffer.length;
        count += 1;
      }
      if (count === 0) {
        await this.#rotate();
        return;
      }
      const batch = this.#queue.splice(0, count);
      try {
        await this.#writeAll(batch, bytes);
      } finally {
        this.#pending -= bytes;
      }
      if (this.#failing) {
        const { dropped } = this.#failing;
        this.#failing = null;
        this.events.recovered(this, dropped);
      }
    } catch (error) {
      this.#fail(error);
    }
    this.#notifyDrain();
  }

  async #writeAll(batch: Buffer[], bytes: number): Promise<void> {
    let buffers = batch;
    let left = bytes;
    try {
      while (left > 0) {
        const n = await p.writev(this.#fd as number, buffers);
        this.#size += n;
        this.bytesWritten += n;
        this.events.wrote(n);
        left -= n;
        if (left > 0) buffers = skip(buffers, n);
      }
    } catch (error) {
      // What was not written is lost: count its lines.
      if (left > 0) this.#drop(Buffer.concat(buffers));
      throw error;
    }
  }

  async #open(): Promise<void> {
    let fd: number;
    try {
      fd = await p.open(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // The directory went away (or never was): make it, once, then give up if that fails.
      await p.mkdir(dirname(this.path));
      fd = await p.open(this.path);
    }
    this.#fd = fd;
    const stats = await p.fstat(fd);
    this.#size = stats.size;
    this.#ino = stats.ino;
    this.#dev = stats.dev;
    this.#checkedAt = Date.now();
  }

  /** Reopens when the path no longer names our file (renamed or deleted by someone else). */
  async #checkIdentity(): Promise<void> {
    this.#checkedAt = Date.now();
    const stats = await p.stat(this.path);
    if (stats && stats.ino === this.#ino && stats.dev === this.#dev) {
      // Truncated behind our back (copytruncate): count from what is there.
      if (stats.size < this.#size) this.#size = stats.size;
      return;
    }
    await this.#closeFd();
    await this.#open();
  }

  async #rotate(): Promise<void> {
    const now = Date.now();
    const seq = now === this.#lastRotation.stamp ? this.#lastRotation.seq + 1 : 0;
    this.#lastRotation = { stamp: now, seq };
    const target = rotatedName(this.path, new Date(now), seq);
    // Rename first, so the lines already written keep their file; then start a fresh one.
    const moved = await p.rename(this.path, target);
    await this.#closeFd();
    await this.#open();
    if (moved) await this.#afterRotation(target);
  }

  /**
   * Older files are pruned before the next write, so the bound on disk holds at every moment;
   * compression runs behind the writes, one file at a time, and a flood that rotates faster
   * than gzip keeps up skips it for files that pruning will delete anyway.
   */
  async #afterRotation(rotated: string): Promise<void> {
    const { compress, retain } = this.rotation;
    await pruneRotated(this.path, retain).catch(() => undefined);
    if (!compress || retain === 0 || this.#compressQueued >= retain) return;
    this.#compressQueued += 1;
    this.#maintenance = this.#maintenance
      .then(() => compressRotated(rotated))
      .catch(() => undefined)
      .finally(() => {
        this.#compressQueued -= 1;
      });
  }

  async #closeFd(): Promise<void> {
    const fd = this.#fd;
    this.#fd = null;
    if (fd !== null) await p.close(fd);
  }

  #fail(error: unknown): void {
    const e = toError(error);
    this.lastError = e;
    const first = this.#failing === null;
    this.#failing = { retryAt: Date.now() + RETRY_MS, dropped: this.#failing?.dropped ?? 0 };
    for (const buffer of this.#queue.splice(0)) this.#drop(buffer);
    this.#pending = 0;
    // A fresh descriptor on retry: the old one may point at a file that is gone or broken.
    const fd = this.#fd;
    this.#fd = null;
    if (fd !== null) void p.close(fd);
    if (first) this.events.failed(this, e);
  }

  #drop(buffer: Buffer): void {
    const lines = Math.max(1, countLines(buffer));
    this.linesDropped += lines;
    if (this.#failing) this.#failing.dropped += lines;
    this.events.dropped(lines);
  }

  #notifyDrain(): void {
    if (this.#drainWaiters.length === 0 || (this.#pending >= LOW_WATER && !this.#closed)) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** The buffers that remain after the first `n` bytes. */
function skip(buffers: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  let left = n;
  for (const buffer of buffers) {
    if (left >= buffer.length) {
      left -= buffer.length;
      continue;
    }
    out.push(left > 0 ? buffer.subarray(left) : buffer);
    left = 0;
  }
  return out;
}
