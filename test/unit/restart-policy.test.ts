import { describe, expect, it } from 'vitest';
import { DEFAULT_CRASH_WINDOW_MS, RestartPolicy, describeExit, type ExitFacts, type RestartDecision, type RestartPolicyConfig } from '../../src/daemon/restart-policy.js';
import { APP_DEFAULTS } from '../../src/shared/app-spec.js';
import { mulberry32 } from './random.js';

/** The policy exactly as a slot builds it from an app with default options. */
const DEFAULTS: RestartPolicyConfig = {
  autorestart: APP_DEFAULTS.autorestart,
  minUptimeMs: APP_DEFAULTS.minUptimeMs,
  maxRestarts: APP_DEFAULTS.maxRestarts,
  crashWindowMs: DEFAULT_CRASH_WINDOW_MS,
  restartDelayMs: APP_DEFAULTS.restartDelayMs,
  expBackoffRestartDelayMs: APP_DEFAULTS.expBackoffRestartDelayMs,
  backoffCapMs: APP_DEFAULTS.backoffCapMs,
  retryAfterCrashLoop: APP_DEFAULTS.retryAfterCrashLoop,
  stopExitCodes: APP_DEFAULTS.stopExitCodes,
};

const NO_JITTER = (): number => 0.5;
const LOW = (): number => 0;
const HIGH = (): number => 1 - Number.EPSILON;

function policy(overrides: Partial<RestartPolicyConfig> = {}, random: () => number = NO_JITTER): RestartPolicy {
  return new RestartPolicy({ ...DEFAULTS, ...overrides }, random);
}

/** A process that never became ready and exited with code 1 at `at`. */
function crash(at: number, code: number | null = 1, signal: string | null = null): ExitFacts {
  return { at, readyAt: null, code, signal };
}

/** A process ready at `readyAt` that exited at `at`. */
function exitAfterReady(readyAt: number, at: number, code: number | null = 0, signal: string | null = null): ExitFacts {
  return { at, readyAt, code, signal };
}

function delayOf(decision: RestartDecision): number {
  if (decision.kind !== 'restart') throw new Error(`expected a restart, got ${JSON.stringify(decision)}`);
  return decision.delayMs;
}


describe('defaults', () => {
  it('match the documented values', () => {
    expect(DEFAULTS).toEqual({
      autorestart: true,
      minUptimeMs: 1000,
      maxRestarts: 10,
      crashWindowMs: 60_000,
      restartDelayMs: 0,
      expBackoffRestartDelayMs: 100,
      backoffCapMs: 15_000,
      retryAfterCrashLoop: true,
      stopExitCodes: [],
    });
  });
});

describe('describeExit', () => {
  it.each([
    [0, null, 'exited with code 0'],
    [1, null, 'exited with code 1'],
    [null, 'SIGKILL', 'killed by SIGKILL'],
    [1, 'SIGTERM', 'killed by SIGTERM'],
    [null, null, 'exited with code unknown'],
  ] as const)('code %s signal %s → %s', (code, signal, text) => {
    expect(describeExit(code, signal)).toBe(text);
  });
});

describe('isUnstable', () => {
  it.each<[string, ExitFacts, boolean]>([
    ['never ready', crash(5000), true],
    ['never ready, killed', crash(5000, null, 'SIGKILL'), true],
    ['ready, exited at once', exitAfterReady(1000, 1000), true],
    ['ready, exited 999 ms later', exitAfterReady(1000, 1999), true],
    ['ready, exited exactly min_uptime later', exitAfterReady(1000, 2000), false],
    ['ready, exited an hour later', exitAfterReady(1000, 3_601_000), false],
  ])('%s → %s', (_label, facts, unstable) => {
    expect(policy().isUnstable(facts)).toBe(unstable);
  });
});

describe('stable exits', () => {
  it.each([0, 250, 5000])('restart after restart_delay (%i ms), marked stable', (restartDelayMs) => {
    const p = policy({ restartDelayMs });
    expect(p.decide(exitAfterReady(0, 10_000, 0))).toEqual({ kind: 'restart', delayMs: restartDelayMs, unstable: false });
  });

  it('restart regardless of the exit code or signal', () => {
    const p = policy();
    expect(p.decide(exitAfterReady(0, 10_000, 1)).kind).toBe('restart');
    expect(p.decide(exitAfterReady(20_000, 30_000, null, 'SIGKILL')).kind).toBe('restart');
  });

  it('forgive earlier crashes: the history and the back-off start over', () => {
    const p = policy();
    const delays = [0, 1, 2, 3, 4].map((i) => delayOf(p.decide(crash(i * 1000))));
    expect(delays).toEqual([100, 200, 400, 800, 1600]);
    expect(p.unstableExits).toBe(5);

    expect(p.decide(exitAfterReady(5000, 20_000))).toEqual({ kind: 'restart', delayMs: 0, unstable: false });
    expect(p.unstableExits).toBe(0);
    // Back to the first step of the back-off, and nine more unstable exits are allowed.
    expect(delayOf(p.decide(crash(21_000)))).toBe(100);
    expect(delayOf(p.decide(crash(22_000)))).toBe(200);
    expect(p.unstableExits).toBe(2);
  });

  it('reset() forgets the history just like a stable exit', () => {
    const p = policy();
    for (let i = 0; i < 9; i++) p.decide(crash(i));
    expect(p.unstableExits).toBe(9);
    p.reset();
    expect(p.unstableExits).toBe(0);
    expect(p.decide(crash(100))).toEqual({ kind: 'restart', delayMs: 100, unstable: true });
  });
});

describe('unstable exits back off exponentially', () => {
  // Exits far enough apart (but inside no window) never make a crash loop: use a huge max_restarts.
  const expected = [100, 200, 400, 800, 1600, 3200, 6400, 12_800, 15_000, 15_000, 15_000, 15_000];

  it('100, 200, 400 ... ms, capped at backoff_cap, with random fixed at 0.5 (no jitter)', () => {
    const p = policy({ maxRestarts: 1000 });
    const decisions = expected.map((_, i) => p.decide(crash(i * 100)));
    expect(decisions.map(delayOf)).toEqual(expected);
    expect(decisions.every((d) => d.kind === 'restart' && d.unstable)).toBe(true);
  });

  it.each<[string, () => number, number]>([
    ['random 0 → -20%', LOW, 0.8],
    ['random ~1 → +20%', HIGH, 1.2],
  ])('jitter: %s, never above the cap', (_label, random, factor) => {
    const p = policy({ maxRestarts: 1000 }, random);
    const delays = expected.map((_, i) => delayOf(p.decide(crash(i * 100))));
    delays.forEach((delay, i) => {
      const raw = expected[i] as number;
      expect(delay).toBeGreaterThanOrEqual(Math.round(raw * 0.8));
      expect(delay).toBeLessThanOrEqual(Math.min(DEFAULTS.backoffCapMs, Math.round(raw * 1.2)));
      expect(delay).toBe(Math.round(Math.min(DEFAULTS.backoffCapMs, raw * factor)));
    });
  });

  it('jitter over many random draws stays within ±20% and under the cap', () => {
    const random = mulberry32(42);
    const p = policy({ maxRestarts: 1_000_000 }, random);
    for (let i = 0; i < 500; i++) {
      const raw = Math.min(DEFAULTS.backoffCapMs, 100 * 2 ** Math.min(i, 30));
      const delay = delayOf(p.decide(crash(i)));
      expect(delay).toBeGreaterThanOrEqual(Math.floor(raw * 0.8));
      expect(delay).toBeLessThanOrEqual(Math.min(DEFAULTS.backoffCapMs, Math.ceil(raw * 1.2)));
    }
  });

  it('an exit soon after readiness counts as unstable, too', () => {
    const p = policy();
    expect(p.decide(exitAfterReady(1000, 1500, 1))).toEqual({ kind: 'restart', delayMs: 100, unstable: true });
    expect(p.decide(exitAfterReady(2000, 2100, 1))).toEqual({ kind: 'restart', delayMs: 200, unstable: true });
    expect(p.unstableExits).toBe(2);
  });

  it('restart_delay is added to the back-off', () => {
    const p = policy({ restartDelayMs: 1000 });
    expect(delayOf(p.decide(crash(0)))).toBe(1100);
    expect(delayOf(p.decide(crash(1)))).toBe(1200);
  });

  it('exp_backoff_restart_delay 0 turns the back-off off', () => {
    const p = policy({ expBackoffRestartDelayMs: 0, restartDelayMs: 300 });
    expect([0, 1, 2].map((i) => delayOf(p.decide(crash(i))))).toEqual([300, 300, 300]);
  });

  it('a custom cap is honoured', () => {
    const p = policy({ backoffCapMs: 500, maxRestarts: 100 });
    expect([0, 1, 2, 3, 4].map((i) => delayOf(p.decide(crash(i))))).toEqual([100, 200, 400, 500, 500]);
  });
});

describe('crash loop', () => {
  it.each<[boolean, number | null]>([
    [true, 15_000],
    [false, null],
  ])('max_restarts unstable exits within the window → crash-loop (retry_after_crash_loop %s → retryInMs %s)', (retryAfterCrashLoop, retryInMs) => {
    const p = policy({ retryAfterCrashLoop });
    for (let i = 0; i < 9; i++) expect(p.decide(crash(i * 1000)).kind).toBe('restart');
    const decision = p.decide(crash(9000, 3));
    expect(decision).toEqual({ kind: 'crash-loop', retryInMs, reason: expect.any(String) });
    if (decision.kind !== 'crash-loop') throw new Error('unreachable');
    expect(decision.reason).toContain('10 unstable exits');
    expect(decision.reason).toContain('60 s');
    expect(decision.reason).toContain('exited with code 3');
    expect(p.unstableExits).toBe(10);
  });

  it('names a signal in the reason', () => {
    const p = policy({ maxRestarts: 2 });
    p.decide(crash(0));
    const decision = p.decide(crash(10, null, 'SIGSEGV'));
    expect(decision.kind).toBe('crash-loop');
    expect(decision.kind === 'crash-loop' && decision.reason).toMatch(/2 unstable exits.*killed by SIGSEGV/);
  });

  it('keeps reporting a crash loop while the exits stay inside the window', () => {
    const p = policy({ maxRestarts: 3 });
    p.decide(crash(0));
    p.decide(crash(1000));
    expect(p.decide(crash(2000)).kind).toBe('crash-loop');
    expect(p.decide(crash(17_000)).kind).toBe('crash-loop');
    expect(p.unstableExits).toBe(4);
  });

  it.each<[string, number, number, number]>([
    // [label, window, time of the 3rd exit, unstable exits counted]
    ['all three inside the window', 60_000, 59_999, 3],
    ['the first one exactly window-old stops counting', 60_000, 60_000, 2],
    ['the first one older than the window stops counting', 60_000, 60_001, 2],
    ['a short window', 1000, 1400, 2],
  ])('unstable exits older than the window stop counting: %s', (_label, crashWindowMs, third, counted) => {
    const p = policy({ maxRestarts: 3, crashWindowMs });
    p.decide(crash(0));
    p.decide(crash(500));
    const decision = p.decide(crash(third));
    expect(p.unstableExits).toBe(counted);
    expect(decision.kind).toBe(counted >= 3 ? 'crash-loop' : 'restart');
  });

  it('exits spread over more than the window never make a crash loop', () => {
    const p = policy();
    // One unstable exit every 7 s: at most 9 fall inside any 60 s window.
    for (let i = 0; i < 100; i++) {
      const decision = p.decide(crash(i * 7000));
      expect(decision.kind).toBe('restart');
      expect(p.unstableExits).toBeLessThanOrEqual(9);
    }
  });
});

describe('give up', () => {
  it.each<[string, Partial<RestartPolicyConfig>, ExitFacts, RegExp]>([
    ['autorestart off, clean exit', { autorestart: false }, exitAfterReady(0, 10_000, 0), /exited with code 0; autorestart is off/],
    ['autorestart off, crash', { autorestart: false }, crash(0, 1), /exited with code 1; autorestart is off/],
    ['autorestart off, signal', { autorestart: false }, crash(0, null, 'SIGKILL'), /killed by SIGKILL; autorestart is off/],
    ['stop_exit_codes, stable exit', { stopExitCodes: [0, 42] }, exitAfterReady(0, 10_000, 42), /exited with code 42, which stop_exit_codes lists/],
    ['stop_exit_codes, unstable exit', { stopExitCodes: [2] }, crash(0, 2), /exited with code 2, which stop_exit_codes lists/],
    ['stop_exit_codes includes 0', { stopExitCodes: [0] }, exitAfterReady(0, 10_000, 0), /code 0, which stop_exit_codes lists/],
  ])('%s', (_label, overrides, facts, reason) => {
    const p = policy(overrides);
    const decision = p.decide(facts);
    expect(decision.kind).toBe('give-up');
    expect(decision.kind === 'give-up' && decision.reason).toMatch(reason);
    expect(p.unstableExits).toBe(0);
  });

  it.each<[string, ExitFacts]>([
    ['an exit code not listed', crash(0, 1)],
    ['a signal (no code)', crash(0, null, 'SIGTERM')],
  ])('stop_exit_codes does not stop %s', (_label, facts) => {
    expect(policy({ stopExitCodes: [0, 42] }).decide(facts).kind).toBe('restart');
  });
});

/**
 * A dependency (say, the database) is down for the first 60 s. Every process spawned while it
 * is down fails 200 ms after spawn; once it is back, the process spawned next stays up. The
 * slot schedules the next spawn after `delayMs` (restart) or `retryInMs` (crash loop), as
 * src/daemon/slot.ts does.
 */
function simulateOutage(random: () => number, outageMs = 60_000, failAfterMs = 200): { spawns: number[]; upAt: number; kinds: string[] } {
  const p = policy({}, random);
  const spawns: number[] = [];
  const kinds: string[] = [];
  let t = 0;
  for (;;) {
    spawns.push(t);
    if (spawns.length > 1000) throw new Error('runaway simulation');
    const connectAt = t + failAfterMs;
    if (connectAt >= outageMs) return { spawns, upAt: t, kinds };
    const decision = p.decide(crash(connectAt));
    kinds.push(decision.kind);
    if (decision.kind === 'give-up') throw new Error(`gave up: ${decision.reason}`);
    const delay = decision.kind === 'restart' ? decision.delayMs : decision.retryInMs;
    if (delay === null) throw new Error('stayed errored');
    t = connectAt + delay;
  }
}

describe('simulation: a dependency down for 60 s', () => {
  it('without jitter: the exact schedule, back within the cap, few spawns', () => {
    const { spawns, upAt, kinds } = simulateOutage(NO_JITTER);
    expect(spawns).toEqual([0, 300, 700, 1300, 2300, 4100, 7500, 14_100, 27_100, 42_300, 57_500, 72_700]);
    expect(kinds).toEqual([...Array<string>(9).fill('restart'), 'crash-loop', 'crash-loop']);
    expect(upAt).toBe(72_700);
    expect(upAt - 60_000).toBeLessThanOrEqual(APP_DEFAULTS.backoffCapMs);
    expect(spawns.filter((s) => s < 60_000).length).toBeLessThan(20);
  });

  it.each<[string, () => number]>([
    ['random 0', LOW],
    ['random ~1', HIGH],
    ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((seed): [string, () => number] => [`seeded random #${seed}`, mulberry32(seed)]),
  ])('with jitter (%s): back within backoff_cap of the dependency returning, few spawns', (_label, random) => {
    const { spawns, upAt } = simulateOutage(random);
    expect(upAt).toBeGreaterThanOrEqual(60_000 - 200);
    expect(upAt - 60_000).toBeLessThanOrEqual(APP_DEFAULTS.backoffCapMs);
    expect(spawns.filter((s) => s < 60_000).length).toBeLessThan(20);
    // Never two spawns closer together than the first back-off step, minus jitter (the CPU stays quiet).
    for (let i = 1; i < spawns.length; i++) expect((spawns[i] as number) - (spawns[i - 1] as number)).toBeGreaterThanOrEqual(200 + 80);
  });

  it.each([10_000, 30_000, 120_000, 600_000])('outage of %i ms: back within the cap, and the spawn rate stays bounded', (outageMs) => {
    const { spawns, upAt } = simulateOutage(NO_JITTER, outageMs);
    expect(upAt - outageMs).toBeLessThanOrEqual(APP_DEFAULTS.backoffCapMs);
    // Past the first dozen fast retries, at most one spawn per cap interval.
    expect(spawns.length).toBeLessThanOrEqual(12 + Math.ceil(outageMs / APP_DEFAULTS.backoffCapMs));
  });
});
