/**
 * What to do when a process exits: restart now, restart later, or give up. Pure: time comes
 * in with the facts and randomness is injected, so the whole policy is unit-tested with tables.
 *
 * The rules (docs/LIFECYCLE.md explains the defaults):
 * - an exit before the process was ready, or less than minUptimeMs after it, is *unstable*;
 * - a stable exit restarts after restartDelayMs (0: at once) and forgives earlier crashes;
 * - an unstable exit backs off exponentially from expBackoffRestartDelayMs, with ±20% jitter so
 *   that many apps failing on one dependency do not retry in lock-step, up to backoffCapMs;
 * - maxRestarts unstable exits within crashWindowMs make a crash loop: the slot is errored and
 *   either retries every backoffCapMs (retryAfterCrashLoop) or stays errored; it stays in the
 *   crash loop until a run is stable;
 * - autorestart off, or an exit code listed in stopExitCodes, ends the process for good.
 */
export interface RestartPolicyConfig {
  autorestart: boolean;
  minUptimeMs: number;
  maxRestarts: number;
  crashWindowMs: number;
  restartDelayMs: number;
  expBackoffRestartDelayMs: number;
  backoffCapMs: number;
  retryAfterCrashLoop: boolean;
  stopExitCodes: readonly number[];
}

export interface ExitFacts {
  /** When the process exited. */
  at: number;
  /** When the process became ready, or null if it never did. */
  readyAt: number | null;
  code: number | null;
  signal: string | null;
}

export type RestartDecision =
  | { kind: 'restart'; delayMs: number; unstable: boolean }
  | { kind: 'crash-loop'; retryInMs: number | null; reason: string }
  | { kind: 'give-up'; reason: string };

/** Jitter source: a number in [0, 1). */
type Random = () => number;

export const DEFAULT_CRASH_WINDOW_MS = 60_000;

export function describeExit(code: number | null, signal: string | null): string {
  if (signal) return `killed by ${signal}`;
  return `exited with code ${code ?? 'unknown'}`;
}

export class RestartPolicy {
  /** Times of recent unstable exits, oldest first. */
  #unstableAt: number[] = [];
  #consecutiveUnstable = 0;
  /** Once a crash loop is declared it stands until a stable run, so `errored` does not flicker. */
  #inCrashLoop = false;

  constructor(
    private readonly config: RestartPolicyConfig,
    private readonly random: Random = Math.random,
  ) {}

  /** Unstable exits still inside the crash window as of the last decision. */
  get unstableExits(): number {
    return this.#unstableAt.length;
  }

  isUnstable(facts: ExitFacts): boolean {
    return facts.readyAt === null || facts.at - facts.readyAt < this.config.minUptimeMs;
  }

  /** Forget past crashes, e.g. after a person restarts the app by hand. */
  reset(): void {
    this.#unstableAt = [];
    this.#consecutiveUnstable = 0;
    this.#inCrashLoop = false;
  }

  decide(facts: ExitFacts): RestartDecision {
    const c = this.config;
    const how = describeExit(facts.code, facts.signal);
    if (!c.autorestart) return { kind: 'give-up', reason: `${how}; autorestart is off` };
    if (facts.code !== null && c.stopExitCodes.includes(facts.code)) {
      return { kind: 'give-up', reason: `${how}, which stop_exit_codes lists` };
    }
    if (!this.isUnstable(facts)) {
      this.reset();
      return { kind: 'restart', delayMs: c.restartDelayMs, unstable: false };
    }

    this.#consecutiveUnstable += 1;
    this.#unstableAt.push(facts.at);
    const windowStart = facts.at - c.crashWindowMs;
    while (this.#unstableAt.length > 0 && (this.#unstableAt[0] as number) <= windowStart) this.#unstableAt.shift();

    if (this.#unstableAt.length >= c.maxRestarts || this.#inCrashLoop) {
      this.#inCrashLoop = true;
      const reason = `crash loop: ${this.#unstableAt.length} unstable exits within ${Math.round(c.crashWindowMs / 1000)} s, last ${how}`;
      return { kind: 'crash-loop', retryInMs: c.retryAfterCrashLoop ? c.backoffCapMs : null, reason };
    }
    return { kind: 'restart', delayMs: c.restartDelayMs + this.#backoff(), unstable: true };
  }

  #backoff(): number {
    const { expBackoffRestartDelayMs: base, backoffCapMs: cap } = this.config;
    if (base <= 0) return 0;
    const exponent = Math.min(this.#consecutiveUnstable - 1, 30);
    const raw = Math.min(cap, base * 2 ** exponent);
    const jittered = raw * (0.8 + 0.4 * this.random());
    return Math.round(Math.min(cap, jittered));
  }
}
