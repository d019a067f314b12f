/**
 * The fault suite (docs/RELIABILITY.md quotes the RELIABILITY lines these print): workers
 * SIGKILLed under load, the daemon SIGKILLed under load, commands racing from ten shells, crash
 * loops beside a healthy app. Each asserts what must hold (nothing orphaned, the consistency
 * check clean, the app serving again) and reports the figures; speed is not asserted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { byStatus, fixture, freePort, httpGet, isAlive, tempHome, waitFor, type Home } from '../helpers.js';
import { startLoad } from '../load.js';
import { mulberry32 } from '../unit/random.js';
import { cpuMsOf, expectAccountedFor, isRunning, percentile, processesOfHome, report, rssOf } from './lib.js';

describe('faults', () => {
  let home: Home;
  afterEach(async () => {
    await home?.cleanup();
    // Anything still running for the home after the clean-up is a leak the test missed.
    for (const pid of processesOfHome(home.dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });

  it('workers SIGKILLed every few hundred ms for 30 s under load: only requests in flight on them fail', async () => {
    home = await tempHome();
    const port = await freePort();
    const started = await home.cli(['start', fixture('http-app.cjs'), '-i', '4', '--name', 'web'], { env: { PORT: String(port) } });
    expect(started.code, started.stderr).toBe(0);
    await byStatus(home, 'web', 'online', 4);
    const daemon = (await home.daemonPid()) as number;
    const random = mulberry32(42);
    const load = startLoad({ port, keepAlive: false, concurrency: 8, maxMs: 60_000 });
    await load.reached(100);
    let kills = 0;
    let peakRss = rssOf(daemon);
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      const online = (await home.list()).filter((p) => p.status === 'online' && p.pid !== null);
      const victim = online[Math.floor(random() * online.length)];
      if (victim?.pid) {
        try {
          process.kill(victim.pid, 'SIGKILL');
          kills += 1;
        } catch {
          // exited meanwhile
        }
      }
      peakRss = Math.max(peakRss, rssOf(daemon));
      await new Promise((resolve) => setTimeout(resolve, 200 + random() * 500));
    }
    const result = await load.stop();
    await byStatus(home, 'web', 'online', 4);
    await expectAccountedFor(home);
    // A SIGKILLed worker takes with it the requests it was serving: at most the load's
    // concurrency per kill. Connections waiting in the daemon are never lost.
    expect(result.failed).toBeLessThanOrEqual(kills * 8);
    expect(result.ok).toBeGreaterThan(500);
    report('worker-kills', { seconds: 30, kills, ok: result.ok, failed: result.failed, failedPerKill: +(result.failed / kills).toFixed(2), peakDaemonRssMB: +(peakRss / 1048576).toFixed(1) });
  }, 180_000);

  it('the daemon SIGKILLed under load: the next command brings it back with every app', async () => {
    home = await tempHome();
    const port = await freePort();
    expect((await home.cli(['start', fixture('http-app.cjs'), '-i', '2', '--name', 'web'], { env: { PORT: String(port) } })).code).toBe(0);
    expect((await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle'])).code).toBe(0);
    expect((await home.cli(['stop', 'idle'])).code).toBe(0);
    const before = await byStatus(home, 'web', 'online', 2);
    const load = startLoad({ port, keepAlive: true, concurrency: 4, maxMs: 60_000 });
    await load.reached(100);
    const daemon = (await home.daemonPid()) as number;
    const killedAt = Date.now();
    process.kill(daemon, 'SIGKILL');
    await waitFor(() => !isAlive(daemon), 'the daemon to die');
    // Its workers notice their channel close and exit.
    await waitFor(() => before.every((p) => !isAlive(p.pid as number)), 'the old workers to exit', 10_000);
    const ping = await home.cli(['ping']);
    expect(ping.code).toBe(0);
    expect(ping.stderr).toMatch(/restored 2 apps/);
    const after = await byStatus(home, 'web', 'online', 2);
    await waitFor(async () => (await httpGet(port)).status === 200, 'web to serve again');
    const recoveredMs = Date.now() - killedAt;
    const okAtRecovery = (await load.stop()).ok;
    expect(after.map((p) => p.id)).toEqual(before.map((p) => p.id));
    const idle = (await home.list()).find((p) => p.name === 'idle');
    expect(idle?.status).toBe('stopped'); // stopped before the crash, stopped after it
    await expectAccountedFor(home);
    report('daemon-kill', { recoveredMsIncludingNextCommand: recoveredMs, requestsBeforeKill: okAtRecovery });
  }, 120_000);

  it('commands racing from ten shells leave nothing orphaned and nothing wedged', async () => {
    home = await tempHome();
    const port = await freePort();
    const env = { PORT: String(port) };
    expect((await home.cli(['start', fixture('http-app.cjs'), '-i', '2', '--name', 'web'], { env })).code).toBe(0);
    await byStatus(home, 'web', 'online', 2);
    const commands: string[][] = [
      ['reload', 'web'],
      ['stop', 'web'],
      ['restart', 'web'],
      ['delete', 'web'],
      ['start', fixture('http-app.cjs'), '-i', '2', '--name', 'web'],
      ['start', 'web'],
      ['scale', 'web', '3'],
      ['scale', 'web', '1'],
      ['reload', 'all'],
      ['stop', 'all'],
      ['list'],
    ];
    const random = mulberry32(7);
    const codes = new Map<number, number>();
    const until = Date.now() + 25_000;
    let issued = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (Date.now() < until) {
          const command = commands[Math.floor(random() * commands.length)] as string[];
          const result = await home.cli(command, { env, timeoutMs: 120_000 });
          issued += 1;
          codes.set(result.code, (codes.get(result.code) ?? 0) + 1);
          // Every failure is one of the documented ones, never INTERNAL (70) or a hang.
          expect([0, 1, 2, 3], `${command.join(' ')}: ${result.stderr}`).toContain(result.code);
          if (result.code !== 0) expect(result.stderr.trim().split('\n')).toHaveLength(1);
        }
      }),
    );
    // Quiet now: whatever the last command left, the daemon accounts for every process.
    await waitFor(async () => (await home.list()).every((p) => p.status !== 'launching' && p.status !== 'stopping'), 'the last operations to finish', 60_000);
    await expectAccountedFor(home);
    // And it still obeys: a clean state from here.
    await home.cli(['delete', 'all'], { env });
    expect((await home.cli(['start', fixture('http-app.cjs'), '-i', '2', '--name', 'web'], { env })).code).toBe(0);
    await byStatus(home, 'web', 'online', 2);
    expect((await httpGet(port)).status).toBe(200);
    await expectAccountedFor(home);
    const daemon = (await home.daemonPid()) as number;
    const kill = await home.cli(['kill']);
    expect(kill.code).toBe(0);
    expect(isRunning(daemon)).toBe(false);
    expect(processesOfHome(home.dir)).toEqual([]);
    report('racing-commands', { shells: 10, seconds: 25, commands: issued, exitCodes: Object.fromEntries(codes) });
  }, 240_000);

  it('ten crash-looping apps beside a healthy one: it keeps serving, and the daemon stays light', async () => {
    home = await tempHome();
    const port = await freePort();
    expect((await home.cli(['start', fixture('http-app.cjs'), '-i', '2', '--name', 'web'], { env: { PORT: String(port) } })).code).toBe(0);
    await byStatus(home, 'web', 'online', 2);
    const daemon = (await home.daemonPid()) as number;

    const sample = async (ms: number): Promise<{ p50: number; p99: number; requests: number; daemonCpuPercent: number }> => {
      const latencies: number[] = [];
      const cpuBefore = cpuMsOf(daemon);
      const began = Date.now();
      while (Date.now() - began < ms) {
        const t = performance.now();
        const reply = await httpGet(port);
        expect(reply.status).toBe(200);
        latencies.push(performance.now() - t);
      }
      const cpu = ((cpuMsOf(daemon) - cpuBefore) / (Date.now() - began)) * 100;
      return { p50: +percentile(latencies, 50).toFixed(2), p99: +percentile(latencies, 99).toFixed(2), requests: latencies.length, daemonCpuPercent: +cpu.toFixed(1) };
    };

    const quiet = await sample(5000);
    for (let i = 0; i < 10; i++) {
      const result = await home.cli(['start', fixture('crash-app.cjs'), '--name', `crash${i}`]);
      expect(result.code, result.stderr).toBe(0);
    }
    await waitFor(async () => (await home.list()).filter((p) => p.name.startsWith('crash') && p.restarts >= 3).length === 10, 'every crashing app to have crashed a few times', 30_000);
    const noisy = await sample(10_000);
    const rows = await home.list();
    expect(rows.filter((p) => p.name === 'web').every((p) => p.status === 'online' && p.restarts === 0)).toBe(true);
    await expectAccountedFor(home);
    report('crash-loops', { quiet, withTenCrashLoops: noisy, crashRestarts: rows.filter((p) => p.name !== 'web').reduce((n, p) => n + p.restarts, 0) });
  }, 180_000);
});
