/**
 * Log pacing: a log flood yields to the daemon's other apps while they wait for CPU
 * (docs/LOGS.md, "The neighbours"). Each app's bytes are counted as its pipes are read; only
 * while some app logs faster than its pace rate is the contention signal sampled (every
 * SAMPLE_MS), so an idle or quiet daemon does no extra work. Once the processes of the other
 * apps together wait on a run queue for at least CONTENDED_SHARE of the time (ON_SAMPLES
 * windows in a row; off HOLD_MS after the last such window), the flooding app's pipes are
 * read through a token bucket at its pace rate: the daemon stops reading, the app blocks in
 * write() and stops using CPU too. Nothing is dropped; reading is only delayed.
 *
 * The signal, feature-detected once: per-process run-queue wait from /proc/<pid>/schedstat;
 * else the system's CPU pressure (/proc/pressure/cpu, "some"), which also counts the flooding
 * app and the daemon themselves; else none, and nothing is ever paced.
 */
import { readFileSync } from 'node:fs';
import type { Clock, Timer } from '../clock.js';
import { burstFor, ContentionGate, othersShare, parseCpuPressure, parseSchedstat, SAMPLE_MS, TokenBucket, waitPerApp, type SupervisedPid } from './pace.js';

export interface PacingDescription {
  /** Bytes per second the logs are paced to under contention; 0 never. */
  rate: number;
  /** Paced now. */
  paced: boolean;
  /** Total time paced since the daemon started (ms). */
  pacedMs: number;
}

/** The contention signal: per-process run-queue wait, or the system's CPU pressure. */
export interface ContentionReaders {
  /** Cumulative ns `pid` waited on a run queue, or null if unreadable. */
  runQueueWait(pid: number): number | null;
  /** Cumulative µs in which some task waited for CPU (system-wide), or null. */
  cpuPressure(): number | null;
}

export const procReaders: ContentionReaders = {
  runQueueWait: (pid) => {
    try {
      return parseSchedstat(readFileSync(`/proc/${pid}/schedstat`, 'latin1'));
    } catch {
      return null;
    }
  },
  cpuPressure: () => {
    try {
      return parseCpuPressure(readFileSync('/proc/pressure/cpu', 'latin1'));
    } catch {
      return null;
    }
  },
};

interface PacingOptions {
  clock: Clock;
  readers: ContentionReaders;
  /** The supervised processes now (not the daemon). */
  processes(): readonly SupervisedPid[];
  log(line: string): void;
}

/** A stream the pacing can hold (paused) and release; composes with other reasons to pause. */
export interface Holdable {
  hold(): void;
  release(): void;
}

/** One app's pacing, shared by every AppLogs of that app (an update's old and new ones). */
export class AppPace {
  rate = 0;
  readonly #streams = new Set<Holdable>();
  readonly #gate = new ContentionGate();
  #bucket: TokenBucket | null = null;
  #refill: Timer | null = null;
  #windowStart: number;
  #windowBytes = 0;
  /** The bucket ran dry in this window: the app wanted more than its pace. */
  #wanted = false;
  #pacedSince: number | null = null;
  #pacedMs = 0;
  /** AppLogs holding it. */
  users = 0;

  constructor(
    readonly app: string,
    private readonly owner: Pacing,
  ) {
    this.#windowStart = owner.clock.now();
  }

  get paced(): boolean {
    return this.#pacedSince !== null;
  }

  add(stream: Holdable): void {
    this.#streams.add(stream);
    if (this.#refill) stream.hold();
  }

  remove(stream: Holdable): void {
    this.#streams.delete(stream);
  }

  /** A new rate (an update): 0 stops pacing; a paced app is read at the new rate from now on. */
  setRate(rate: number, now: number): void {
    if (rate === this.rate) return;
    this.rate = rate;
    if (rate === 0) this.stop(now);
    else if (this.#bucket) this.#bucket = new TokenBucket(rate, burstFor(rate), now);
  }

  /** Called for every chunk read from one of the app's pipes. */
  read(bytes: number): void {
    this.#windowBytes += bytes;
    const now = this.owner.clock.now();
    if (this.#bucket) {
      const wait = this.#bucket.take(bytes, now);
      if (wait > 0 && !this.#refill) {
        this.#wanted = true;
        for (const stream of this.#streams) stream.hold();
        this.#refill = this.owner.clock.setTimeout(() => this.#release(), wait);
      }
    } else if (!this.owner.sampling && this.rate > 0 && now - this.#windowStart >= SAMPLE_MS) {
      // Not sampled yet: the app measures its own rate, and wakes the sampler once it is high.
      if (this.endWindow(now)) this.owner.wake();
    }
  }

  /** Closes the counting window: true when the app logged faster than its rate in it. */
  endWindow(now: number): boolean {
    const elapsed = now - this.#windowStart;
    const busy = this.#wanted || (this.rate > 0 && elapsed > 0 && (this.#windowBytes * 1000) / elapsed > this.rate);
    this.#windowStart = now;
    this.#windowBytes = 0;
    this.#wanted = false;
    return busy;
  }

  /** Feeds one sample's share to the hysteresis; starts or stops pacing when it turns. */
  decide(share: number, now: number): void {
    const on = this.rate > 0 && this.#gate.update(share, now);
    if (on && !this.paced) {
      this.#pacedSince = now;
      this.#bucket = new TokenBucket(this.rate, burstFor(this.rate), now);
      this.owner.log(
        `app "${this.app}": pacing its logs to ${formatRate(this.rate)} while other apps wait for CPU (they waited ${Math.round(share * 100)} % of the last ${SAMPLE_MS} ms); it waits in write(), no line is lost`,
      );
    } else if (!on && this.paced) this.stop(now);
  }

  /** Reads at full speed again. */
  stop(now: number): void {
    if (this.#pacedSince === null) return;
    const took = now - this.#pacedSince;
    this.#pacedMs += took;
    this.#pacedSince = null;
    this.#bucket = null;
    if (this.#refill) this.owner.clock.clearTimeout(this.#refill);
    this.#release();
    this.owner.log(`app "${this.app}": reading its logs at full speed again (paced ${(took / 1000).toFixed(1)} s)`);
  }

  describe(now = this.owner.clock.now()): PacingDescription {
    return { rate: this.rate, paced: this.paced, pacedMs: this.#pacedMs + (this.#pacedSince === null ? 0 : now - this.#pacedSince) };
  }

  #release(): void {
    this.#refill = null;
    for (const stream of this.#streams) stream.release();
  }
}

/** Every app's pacing, and the sampler that runs only while some app logs above its rate. */
export class Pacing {
  readonly #apps = new Map<string, AppPace>();
  readonly #lastWait = new Map<number, number>();
  #lastPressure: number | null = null;
  #signal: 'schedstat' | 'pressure' | 'none' | null = null;
  #timer: Timer | null = null;
  #sampledAt = 0;

  constructor(private readonly options: PacingOptions) {}

  get clock(): Clock {
    return this.options.clock;
  }

  get sampling(): boolean {
    return this.#timer !== null;
  }

  /** Which signal is used: null until the first flood made it look. */
  get signal(): 'schedstat' | 'pressure' | 'none' | null {
    return this.#signal;
  }

  log(line: string): void {
    this.options.log(line);
  }

  acquire(app: string, rate: number): AppPace {
    let pace = this.#apps.get(app);
    if (!pace) {
      pace = new AppPace(app, this);
      this.#apps.set(app, pace);
    }
    pace.users += 1;
    // The latest AppLogs of the app sets the rate (an update may have changed it).
    pace.setRate(rate, this.clock.now());
    return pace;
  }

  release(pace: AppPace): void {
    pace.users -= 1;
    if (pace.users > 0) return;
    pace.stop(this.clock.now());
    this.#apps.delete(pace.app);
  }

  /** Whether the app has pacing state (for tests: it is forgotten with its last AppLogs). */
  has(app: string): boolean {
    return this.#apps.has(app);
  }

  /** An app logs above its rate: sample the contention until no app does. */
  wake(): void {
    if (this.#timer) return;
    if (this.#signal === null) this.#signal = this.#detect();
    if (this.#signal === 'none') return;
    this.#sample(this.clock.now());
    this.#schedule();
  }

  #detect(): 'schedstat' | 'pressure' | 'none' {
    if (this.options.readers.runQueueWait(process.pid) !== null) return 'schedstat';
    if (this.options.readers.cpuPressure() !== null) return 'pressure';
    this.log('logs are above their pace rate, but neither /proc/<pid>/schedstat nor /proc/pressure/cpu can be read here: logs are never paced');
    return 'none';
  }

  #schedule(): void {
    this.#timer = this.clock.setTimeout(() => this.#tick(), SAMPLE_MS);
  }

  #tick(): void {
    this.#timer = null;
    const now = this.clock.now();
    // Apps that flooded in this window, and paced ones (whether they still flood or not).
    const watched = new Map<AppPace, boolean>();
    for (const pace of this.#apps.values()) {
      const flooding = pace.endWindow(now);
      if (flooding || pace.paced) watched.set(pace, flooding);
    }
    if (watched.size === 0) {
      // Nobody floods: back to no work at all; the next flood starts from a fresh baseline.
      this.#lastWait.clear();
      this.#lastPressure = null;
      return;
    }
    const sample = this.#sample(now);
    for (const [pace, flooding] of watched) {
      // An app that stopped flooding counts as calm, so its pacing ends after the hold.
      const share = !flooding ? 0 : sample.kind === 'pressure' ? sample.share : othersShare(sample.perApp, pace.app, sample.windowNs);
      pace.decide(share, now);
    }
    this.#schedule();
  }

  /** Reads the signal; the window is the time since the previous sample (the baseline). */
  #sample(now: number): { kind: 'schedstat'; perApp: Map<string, number>; windowNs: number } | { kind: 'pressure'; share: number } {
    const windowNs = (now - this.#sampledAt) * 1e6;
    this.#sampledAt = now;
    if (this.#signal === 'pressure') {
      const total = this.options.readers.cpuPressure();
      const share = total === null || this.#lastPressure === null || windowNs <= 0 ? 0 : ((total - this.#lastPressure) * 1000) / windowNs;
      this.#lastPressure = total;
      return { kind: 'pressure', share };
    }
    return { kind: 'schedstat', perApp: waitPerApp(this.options.processes(), (pid) => this.options.readers.runQueueWait(pid), this.#lastWait), windowNs };
  }
}

/** The live processes of the apps (current workers of each slot). */
export function supervisedPids(apps: Iterable<{ name: string; slots: readonly { worker: { pid: number | null; exit: unknown } | null }[] }>): SupervisedPid[] {
  const out: SupervisedPid[] = [];
  for (const app of apps) {
    for (const slot of app.slots) {
      const worker = slot.worker;
      if (worker && worker.pid !== null && !worker.exit) out.push({ app: app.name, pid: worker.pid });
    }
  }
  return out;
}

function formatRate(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${+(bytes / 1024 / 1024).toFixed(1)} MiB/s`;
  return `${+(bytes / 1024).toFixed(1)} KiB/s`;
}
