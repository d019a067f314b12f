/**
 * Time as the lifecycle code sees it: the slot, readiness and stop logic take a Clock instead
 * of calling Date.now and setTimeout, so unit tests drive them with a fake clock and fake
 * processes, and every interleaving can be replayed step by step.
 */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): Timer;
  clearTimeout(timer: Timer): void;
}

/** Opaque timer handle; only the clock that made it can clear it. */
export interface Timer {
  readonly __timer: unique symbol;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms) as unknown as Timer,
  clearTimeout: (timer) => clearTimeout(timer as unknown as NodeJS.Timeout),
};

/** Resolves after `ms` on `clock`; the timer is cleared if `signal` aborts first. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
