/**
 * The daemon's event-loop delay, measured only while the metrics endpoint is on, with Node's
 * built-in histogram (perf_hooks.monitorEventLoopDelay: a libuv timer, no JS callback per
 * tick). Each scrape reads what happened since the previous one and starts a new window.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * The histogram's timer fires this often and records how late each firing was. Measured on
 * the daemon's lite-mode V8, idle, in % of one core: 0.52 at the default 10 ms, 0.37 at 20,
 * 0.22 at 50, 0.16 at 100 (0.02 without it). At 50 ms a stall of 50 ms or more is always
 * seen, and a shorter one when it overlaps a firing; stalls that short do not matter to a
 * supervisor.
 */
const RESOLUTION_MS = 50;

interface LagFigures {
  p99Seconds: number;
  maxSeconds: number;
}

export class EventLoopLag {
  readonly #histogram: IntervalHistogram;

  private constructor(histogram: IntervalHistogram) {
    this.#histogram = histogram;
    histogram.enable();
  }

  /** Null where the Node build has no monitorEventLoopDelay: the lag metrics are left out. */
  static start(): EventLoopLag | null {
    if (typeof monitorEventLoopDelay !== 'function') return null;
    try {
      return new EventLoopLag(monitorEventLoopDelay({ resolution: RESOLUTION_MS }));
    } catch {
      return null;
    }
  }

  /**
   * Delays in the window since the last call, in seconds. The histogram records the whole time
   * between firings, interval included, so the interval is taken off.
   */
  sinceLastScrape(): LagFigures {
    const h = this.#histogram;
    const late = (ns: number): number => Math.max(0, ns / 1e6 - RESOLUTION_MS) / 1000;
    // No firing in the window (two scrapes within one interval): nothing was late.
    const empty = typeof h.count === 'number' ? h.count === 0 : h.max === 0;
    const figures = empty ? { p99Seconds: 0, maxSeconds: 0 } : { p99Seconds: late(h.percentile(99)), maxSeconds: late(h.max) };
    h.reset();
    return figures;
  }

  stop(): void {
    this.#histogram.disable();
  }
}
