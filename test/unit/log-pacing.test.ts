/**
 * Log pacing on its own (docs/LOGS.md, "The neighbours"): the token bucket, the contention
 * decision with its hysteresis, the run-queue arithmetic, and the controller driven by a fake
 * clock and fake /proc readings: no sampling while nobody floods, pacing on under contention
 * and off after the hold, a bucket that pauses and resumes the app's streams.
 */
import { describe, expect, it } from 'vitest';
import { ContentionGate, HOLD_MS, othersShare, parseCpuPressure, parseSchedstat, SAMPLE_MS, TokenBucket, waitPerApp } from '../../src/daemon/logs/pace.js';
import { Pacing, type ContentionReaders, type Holdable } from '../../src/daemon/logs/pacing.js';
import { checkPaceRate, logDefaultsFromEnv, parseRate } from '../../src/shared/log-options.js';
import { FakeClock } from './fakes.js';

const MiB = 1024 * 1024;

describe('TokenBucket', () => {
  it('lets a burst through, then says how long until the debt is paid', () => {
    const bucket = new TokenBucket(1 * MiB, 256 * 1024, 0);
    expect(bucket.take(256 * 1024, 0)).toBe(0);
    // 64 KiB in debt at 1 MiB/s: 62.5 ms.
    expect(bucket.take(64 * 1024, 0)).toBe(63);
    // Half a second later the debt is paid and 448 KiB more have accrued, capped at the burst.
    expect(bucket.take(256 * 1024, 500)).toBe(0);
    expect(bucket.take(1, 500)).toBe(1);
  });
});

describe('ContentionGate', () => {
  it('turns on after two contended samples in a row, and off only after the hold', () => {
    const gate = new ContentionGate(0.1, 5000, 2);
    expect(gate.update(0.05, 0)).toBe(false);
    // A blip: one contended sample, then calm.
    expect(gate.update(0.9, 250)).toBe(false);
    expect(gate.update(0.05, 300)).toBe(false);
    expect(gate.update(0.2, 400)).toBe(false);
    expect(gate.update(0.2, 500)).toBe(true);
    expect(gate.update(0, 1000)).toBe(true);
    expect(gate.update(0.15, 3000)).toBe(true);
    expect(gate.update(0, 7999)).toBe(true);
    expect(gate.update(0, 8000)).toBe(false);
  });
});

describe('contention arithmetic', () => {
  it("sums each app's run-queue wait between samples; new processes count from their first sample", () => {
    const last = new Map<number, number>();
    const readings = new Map([[1, 1000], [2, 5000], [3, 0]]);
    const read = (pid: number): number | null => readings.get(pid) ?? null;
    const procs = [{ app: 'a', pid: 1 }, { app: 'a', pid: 2 }, { app: 'b', pid: 3 }];
    expect([...waitPerApp(procs, read, last)]).toEqual([['a', 0], ['b', 0]]);
    readings.set(1, 3000).set(2, 6000).set(3, 10_000);
    const perApp = waitPerApp([...procs, { app: 'b', pid: 4 }], read, last);
    expect(perApp.get('a')).toBe(3000);
    expect(perApp.get('b')).toBe(10_000);
    // Only live processes are remembered (pid 4 was unreadable).
    expect([...last.keys()]).toEqual([1, 2, 3]);
    expect(othersShare(perApp, 'a', 100_000)).toBe(0.1);
    expect(othersShare(perApp, 'b', 100_000)).toBe(0.03);
  });

  it('reads /proc/<pid>/schedstat and /proc/pressure/cpu', () => {
    expect(parseSchedstat('6763291 8922801 5\n')).toBe(8922801);
    expect(parseSchedstat('garbage')).toBeNull();
    expect(parseCpuPressure('some avg10=13.58 avg60=31.63 avg300=30.36 total=13513266075\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n')).toBe(13513266075);
    expect(parseCpuPressure('')).toBeNull();
  });

  it('reads pace rates as sizes per second, with a floor, from options and the environment', () => {
    expect(parseRate('8M')).toBe(8 * MiB);
    expect(parseRate('512K/s')).toBe(512 * 1024);
    expect(checkPaceRate(1000)).toMatch(/at least 64K/);
    expect(checkPaceRate(0)).toBeNull();
    expect(logDefaultsFromEnv({}).paceRate).toBe(8 * MiB);
    expect(logDefaultsFromEnv({ SUPERVISOR_LOG_PACE_RATE: '0' }).paceRate).toBe(0);
    expect(() => logDefaultsFromEnv({ SUPERVISOR_LOG_PACE_RATE: 'fast' })).toThrow(/SUPERVISOR_LOG_PACE_RATE/);
  });
});

/** A stream that records whether the pacing holds it. */
function stream(): Holdable & { held: boolean } {
  const s = { held: false, hold: () => void (s.held = true), release: () => void (s.held = false) };
  return s;
}

function setup(readers: Partial<ContentionReaders> = {}) {
  const clock = new FakeClock();
  const wait = new Map<number, number>([[process.pid, 0], [100, 0], [200, 0]]);
  const log: string[] = [];
  let reads = 0;
  const pacing = new Pacing({
    clock,
    readers: {
      runQueueWait: (pid) => {
        reads += 1;
        return wait.get(pid) ?? null;
      },
      cpuPressure: () => null,
      ...readers,
    },
    // "flood" is the flooding app (pid 100), "web" its neighbour (pid 200).
    processes: () => [
      { app: 'flood', pid: 100 },
      { app: 'web', pid: 200 },
    ],
    log: (line) => void log.push(line),
  });
  /** The neighbour waits `share` of the next sample window. */
  const neighbourWaits = (share: number): void => void wait.set(200, (wait.get(200) ?? 0) + share * SAMPLE_MS * 1e6);
  return { clock, pacing, log, neighbourWaits, reads: () => reads };
}

/** Writes `bytesPerSample` per sample window, in 64 KiB chunks spread over it, for `samples` windows. */
/**
 * Reads 64 KiB whenever the stream is not held, for 2 s of fake time, the neighbour still
 * waiting a little (so pacing stays on); returns the bytes per second read.
 */
async function pacedRate(clock: FakeClock, pace: { read(bytes: number): void }, s: { held: boolean }, neighbourWaits: (share: number) => void): Promise<number> {
  let read = 0;
  const start = clock.now();
  for (let i = 0; i < 400; i++) {
    if (!s.held) {
      pace.read(65536);
      read += 65536;
    }
    if (i % 10 === 0) neighbourWaits(0.03);
    await clock.advance(5);
  }
  return read / ((clock.now() - start) / 1000);
}

async function flood(clock: FakeClock, read: (bytes: number) => void, bytesPerSample: number, samples: number, each?: () => void): Promise<void> {
  const chunks = Math.max(1, Math.round(bytesPerSample / 65536));
  for (let s = 0; s < samples; s++) {
    each?.();
    for (let c = 0; c < chunks; c++) {
      read(65536);
      await clock.advance(SAMPLE_MS / chunks);
    }
  }
}

describe('Pacing', () => {
  it('does no work while no app logs above its rate', async () => {
    const { clock, pacing, reads } = setup();
    const pace = pacing.acquire('flood', 8 * MiB);
    await flood(clock, (n) => pace.read(n), 2 * MiB, 10);
    expect(pacing.sampling).toBe(false);
    expect(clock.pending).toBe(0);
    expect(reads()).toBe(0);
  });

  it('paces a flood while another app waits for CPU, releases after the hold, and stops sampling', async () => {
    const { clock, pacing, log, neighbourWaits } = setup();
    const pace = pacing.acquire('flood', 8 * MiB);
    pacing.acquire('web', 8 * MiB);
    const s = stream();
    pace.add(s);
    // 64 MiB/s, the neighbour waiting 30 % of each window: paced within three windows.
    await flood(clock, (n) => pace.read(n), 32 * MiB, 4, () => neighbourWaits(0.3));
    expect(pacing.sampling).toBe(true);
    expect(pace.paced).toBe(true);
    expect(log.filter((l) => l.includes('pacing its logs'))).toHaveLength(1);

    // While paced, the bucket holds the stream and the refill releases it: reads come at the rate.
    const rate = await pacedRate(clock, pace, s, neighbourWaits);
    expect(rate).toBeGreaterThan(7 * MiB);
    expect(rate).toBeLessThan(9 * MiB + 256 * 1024 * 2);

    // The neighbour stopped waiting a while ago: pacing ends after the hold, once, and logs it.
    await flood(clock, (n) => pace.read(n), 32 * MiB, Math.ceil(HOLD_MS / SAMPLE_MS) + 1);
    expect(pace.paced).toBe(false);
    expect(s.held).toBe(false);
    expect(log.filter((l) => l.includes('full speed again'))).toHaveLength(1);
    expect(pace.describe().pacedMs).toBeGreaterThan(HOLD_MS);

    // Nobody floods any more: the sampler stops by itself.
    await clock.advance(2 * SAMPLE_MS);
    expect(pacing.sampling).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it('a new rate from an update applies to an app already paced (0 stops pacing at once)', async () => {
    const { clock, pacing, neighbourWaits } = setup();
    const pace = pacing.acquire('flood', 8 * MiB);
    pacing.acquire('web', 8 * MiB);
    const s = stream();
    pace.add(s);
    await flood(clock, (n) => pace.read(n), 32 * MiB, 4, () => neighbourWaits(0.3));
    expect(pace.paced).toBe(true);
    // The update's AppLogs acquires the same app's pacing at 1 MiB/s: reads follow the new rate.
    pacing.acquire('flood', 1 * MiB);
    expect(await pacedRate(clock, pace, s, neighbourWaits)).toBeLessThan(2 * MiB);
    pacing.acquire('flood', 0);
    expect(pace.paced).toBe(false);
    expect(s.held).toBe(false);
  });

  it("does not count the flooding app's own wait, and never paces at rate 0", async () => {
    const { clock, pacing } = setup();
    const pace = pacing.acquire('flood', 8 * MiB);
    const never = pacing.acquire('web', 0);
    await flood(clock, (n) => {
      pace.read(n);
      never.read(n);
    }, 32 * MiB, 4);
    expect(pace.paced).toBe(false);
    expect(never.paced).toBe(false);
  });

  it('turns pacing off at once when the rate becomes 0, and forgets an app when its last user goes', async () => {
    const { clock, pacing, neighbourWaits } = setup();
    const pace = pacing.acquire('flood', 8 * MiB);
    await flood(clock, (n) => pace.read(n), 32 * MiB, 4, () => neighbourWaits(0.5));
    expect(pace.paced).toBe(true);
    const again = pacing.acquire('flood', 0);
    expect(again).toBe(pace);
    expect(pace.paced).toBe(false);
    pacing.release(pace);
    pacing.release(again);
    expect(pacing.has('flood')).toBe(false);
  });

  it('falls back to CPU pressure, and never paces when neither signal is readable', async () => {
    let pressure = 0;
    const fallback = setup({ runQueueWait: () => null, cpuPressure: () => (pressure += 0.5 * SAMPLE_MS * 1000) });
    const paced = fallback.pacing.acquire('flood', 8 * MiB);
    await flood(fallback.clock, (n) => paced.read(n), 32 * MiB, 4);
    expect(fallback.pacing.signal).toBe('pressure');
    expect(paced.paced).toBe(true);

    const none = setup({ runQueueWait: () => null, cpuPressure: () => null });
    const never = none.pacing.acquire('flood', 8 * MiB);
    await flood(none.clock, (n) => never.read(n), 32 * MiB, 3);
    expect(none.pacing.signal).toBe('none');
    expect(none.pacing.sampling).toBe(false);
    expect(never.paced).toBe(false);
    expect(none.log.filter((l) => l.includes('never paced'))).toHaveLength(1);
  });
});
