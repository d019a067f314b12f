/**
 * The pure parts of log pacing (docs/LOGS.md, "The neighbours"): the token bucket an app's
 * pipes are read through while paced, the contention decision with its hysteresis, and the
 * arithmetic that turns two samples of run-queue wait into a share of the window. No timers,
 * no files: the clock and the readings are passed in, so unit tests drive them directly.
 */

/** How often the contention signal is sampled while some app logs faster than its pace rate. */
export const SAMPLE_MS = 500;
/** Contended when the other apps' processes together waited at least this share of the window. */
const CONTENDED_SHARE = 0.1;
/**
 * Pacing starts after this many contended samples in a row: one sample can be a blip (an app
 * starting, a cron job) that would cost the flood HOLD_MS of pacing for nothing.
 */
const ON_SAMPLES = 2;
/** Pacing stays on this long after the last contended sample, so it does not flap per sample. */
export const HOLD_MS = 5000;

/**
 * Bytes per second with a burst allowance. A pipe chunk is already read when it is counted, so
 * the balance may go below zero; `take` says how long until it is back at zero, which is when
 * reading may resume.
 */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly rate: number,
    readonly burst: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#at = now;
  }

  /** Takes `bytes`; returns 0 while the balance stays positive, else the ms until it is refilled to 0. */
  take(bytes: number, now: number): number {
    this.#refill(now);
    this.#tokens -= bytes;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.rate) * 1000);
  }

  #refill(now: number): void {
    const elapsed = Math.max(0, now - this.#at);
    this.#at = now;
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed / 1000) * this.rate);
  }
}

/** The burst of a bucket: a quarter of a second at the rate, at least one pipe read (64 KiB). */
export function burstFor(rate: number): number {
  return Math.max(64 * 1024, Math.round(rate / 4));
}

/**
 * On after `onSamples` samples in a row whose share reaches `share`; off once no sample has
 * for `holdMs`. Pacing removes part of the contention it reacts to, so turning off at the first
 * calm sample would flap: on, calm, off, contended again, on.
 */
export class ContentionGate {
  #on = false;
  #inARow = 0;
  #lastContendedAt = 0;

  constructor(
    private readonly share = CONTENDED_SHARE,
    private readonly holdMs = HOLD_MS,
    private readonly onSamples = ON_SAMPLES,
  ) {}

  get on(): boolean {
    return this.#on;
  }

  update(share: number, now: number): boolean {
    if (share >= this.share) {
      this.#inARow += 1;
      if (this.#inARow >= this.onSamples) this.#on = true;
      // While on, every contended sample extends the hold; while off, only a run counts.
      if (this.#on) this.#lastContendedAt = now;
    } else {
      this.#inARow = 0;
      if (this.#on && now - this.#lastContendedAt >= this.holdMs) this.#on = false;
    }
    return this.#on;
  }
}

/** A supervised process, as the contention signal sees it. */
export interface SupervisedPid {
  app: string;
  pid: number;
}

/**
 * Run-queue wait (ns, cumulative) per process between two samples, summed per app. A process
 * seen for the first time counts from its first sample (its earlier wait is not this window's).
 * `last` is replaced by the current readings, so it only ever holds the live processes.
 */
export function waitPerApp(processes: readonly SupervisedPid[], read: (pid: number) => number | null, last: Map<number, number>): Map<string, number> {
  const perApp = new Map<string, number>();
  const seen = new Map<number, number>();
  for (const { app, pid } of processes) {
    const now = read(pid);
    if (now === null) continue;
    seen.set(pid, now);
    const before = last.get(pid);
    const delta = before === undefined ? 0 : Math.max(0, now - before);
    perApp.set(app, (perApp.get(app) ?? 0) + delta);
  }
  last.clear();
  for (const [pid, value] of seen) last.set(pid, value);
  return perApp;
}

/** What the other apps waited, as a share of the window: the total minus the app's own. */
export function othersShare(perApp: ReadonlyMap<string, number>, app: string, windowNs: number): number {
  if (windowNs <= 0) return 0;
  let total = 0;
  for (const [name, ns] of perApp) if (name !== app) total += ns;
  return total / windowNs;
}

/** The 2nd field of /proc/<pid>/schedstat: ns spent waiting on a run queue. */
export function parseSchedstat(text: string): number | null {
  const field = text.split(' ')[1];
  const ns = field === undefined ? NaN : Number(field);
  return Number.isFinite(ns) ? ns : null;
}

/** The "some" line's total (µs) of /proc/pressure/cpu. */
export function parseCpuPressure(text: string): number | null {
  const match = /^some .*\btotal=(\d+)/m.exec(text);
  return match ? Number(match[1]) : null;
}
