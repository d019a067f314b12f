/**
 * cron_restart: when the next run is (croner parses the expression), and a timer on the
 * lifecycle Clock until then. croner is loaded on first use only, so a daemon whose apps have
 * no cron_restart never loads it (it costs about 7 ms and 1 MB; see docs/CONFIG.md).
 */
import { requireCommonJs } from '../../shared/bundle.js';
import { SupervisorError } from '../../shared/errors.js';
import type { Clock, Timer } from '../clock.js';

/** What the schedule needs of a parsed expression: the first run strictly after a time. */
interface CronPattern {
  nextRun(after: Date): Date | null;
}

/** setTimeout fires at once past 2^31-1 ms (24.8 days): longer waits are chained. */
export const MAX_TIMER_MS = 2_147_483_647;

let croner: typeof import('croner') | null = null;

/**
 * Parses `expression` (5 fields, or 6 with seconds first, local time, day-of-month OR
 * day-of-week as in Vixie cron); INVALID_REQUEST with croner's reason if it is not one.
 */
export async function parseCron(expression: string): Promise<CronPattern> {
  // require(), not import(): the daemon is a CommonJS bundle, where import() would load Node's ES module loader.
  croner ??= requireCommonJs('croner') as typeof import('croner');
  const { Cron } = croner;
  let job: InstanceType<typeof Cron>;
  try {
    // Without a function croner schedules nothing: it only answers nextRun.
    job = new Cron(expression, { mode: '5-or-6-parts', paused: true });
  } catch (error) {
    throw new SupervisorError('INVALID_REQUEST', `cron_restart "${expression}" is not a cron expression: ${(error as Error).message}`);
  }
  if (job.nextRun() === null) throw new SupervisorError('INVALID_REQUEST', `cron_restart "${expression}" never matches a future time`);
  return { nextRun: (after) => job.nextRun(after) };
}

/** Calls `tick` at every time the pattern matches, from now on, until closed. */
export class CronSchedule {
  #timer: Timer | null = null;
  #nextAt: number | null = null;
  #closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly pattern: CronPattern,
    private readonly tick: () => void,
  ) {
    this.#plan(clock.now());
  }

  /** When the next tick is due (ms since the epoch), or null if never again. */
  get nextRunAt(): number | null {
    return this.#nextAt;
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) this.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#nextAt = null;
  }

  #plan(after: number): void {
    this.#nextAt = this.pattern.nextRun(new Date(after))?.getTime() ?? null;
    if (this.#nextAt !== null) this.#wait();
  }

  #wait(): void {
    const delay = Math.min(Math.max(0, (this.#nextAt as number) - this.clock.now()), MAX_TIMER_MS);
    this.#timer = this.clock.setTimeout(() => this.#due(), delay);
  }

  #due(): void {
    this.#timer = null;
    if (this.#closed || this.#nextAt === null) return;
    const now = this.clock.now();
    // A chained long wait, or a timer a little early for the wall clock: wait the rest.
    if (now < this.#nextAt) return this.#wait();
    const due = this.#nextAt;
    this.tick();
    // From the later of the two: after a suspend, missed runs are not caught up one by one.
    if (!this.#closed) this.#plan(Math.max(now, due));
  }
}
