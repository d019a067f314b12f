/**
 * Lifecycle operations end to end: what a command does while another runs, stops that respect
 * their budget with hung workers, scaling down, and cluster workers that never listen.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { byStatus, fixture, freePort, httpGet, tempHome, waitFor, type Home } from '../helpers.js';
import { expectAccountedFor, isRunning, processesOfHome, report } from '../reliability/lib.js';

describe('operations', () => {
  let home: Home;
  afterEach(async () => home?.cleanup());

  async function startWeb(instances: number, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<number> {
    home = await tempHome();
    const port = await freePort();
    const started = await home.cli(['start', fixture('http-app.cjs'), '-i', String(instances), '--name', 'web', ...extra], { env: { PORT: String(port), ...env } });
    expect(started.code, started.stderr).toBe(0);
    await byStatus(home, 'web', 'online', instances);
    return port;
  }

  /** Waits until a reload has started a replacement: a process of the home that list does not show. */
  async function replacementStarted(): Promise<void> {
    const daemon = await home.daemonPid();
    await waitFor(async () => {
      const listed = new Set((await home.list()).map((p) => p.pid));
      return processesOfHome(home.dir).some((pid) => pid !== daemon && !listed.has(pid));
    }, 'a replacement process to start');
  }

  it('a second reload while one runs is refused with CONFLICT (status 3), and the first completes', async () => {
    // Readiness takes 1.5 s per replacement: the first reload is still running when the second comes.
    await startWeb(2, ['--wait-ready'], { SEND_READY: '1', READY_DELAY_MS: '1500' });
    const first = home.cli(['reload', 'web']);
    await replacementStarted();
    const second = await home.cli(['reload', 'web']);
    expect(second.code).toBe(3);
    expect(second.stderr).toBe('supervisor: a reload of "web" is already in progress\n');
    const done = await first;
    expect(done.code, done.stderr).toBe(0);
    expect((await home.list()).map((p) => p.restarts)).toEqual([1, 1]);
    await expectAccountedFor(home);
  });

  it('a stop during a reload aborts it (status 3), stops the replacement it started, and stops the app', async () => {
    await startWeb(2, ['--wait-ready'], { SEND_READY: '1', READY_DELAY_MS: '3000' });
    const reload = home.cli(['reload', 'web']);
    await replacementStarted();
    const stop = await home.cli(['stop', 'web']);
    expect(stop.code, stop.stderr).toBe(0);
    const reloaded = await reload;
    expect(reloaded.code).toBe(3);
    expect(reloaded.stderr).toBe('supervisor: reload of "web" was cancelled: a stop of the same app came after it\n');
    expect((await home.list()).map((p) => p.status)).toEqual(['stopped', 'stopped']);
    await expectAccountedFor(home);
  });

  for (const how of ['busy-looping', 'SIGSTOPped'] as const) {
    it(`stop of ${how} workers takes about kill_timeout, not the drain limit`, async () => {
      const port = await startWeb(2, ['--kill-timeout', '2s'], { BLOCK_MS: '120000' });
      const rows = await home.list();
      if (how === 'busy-looping') {
        // One /block request per worker: each event loop is stuck for two minutes.
        for (let i = 0; i < 2; i++) void httpGet(port, '/block', { timeoutMs: 130_000 }).catch(() => undefined);
        await waitFor(async () => (await home.cli(['logs', 'web', '--no-follow', '--lines', '10'])).stdout.split('blocking').length - 1 >= 2, 'both workers to block');
      } else {
        for (const row of rows) process.kill(row.pid as number, 'SIGSTOP');
      }
      const began = Date.now();
      const stop = await home.cli(['stop', 'web'], { timeoutMs: 120_000 });
      const tookMs = Date.now() - began;
      expect(stop.code, stop.stderr).toBe(0);
      for (const row of rows) expect(isRunning(row.pid as number)).toBe(false);
      // The budget of one stop: 2 s to acknowledge the drain, kill_timeout 2 s, 6 s margin.
      expect(tookMs).toBeLessThan(10_000);
      report(`hung-stop-${how}`, { workers: 2, killTimeoutMs: 2000, stopMs: tookMs });
      await expectAccountedFor(home);
    }, 120_000);
  }

  it('scales down: the highest instances stop gracefully and disappear; scaling up reuses their numbers', async () => {
    const port = await startWeb(4);
    const before = await home.list();
    const scaled = await home.cli(['scale', 'web', '2']);
    expect(scaled.code, scaled.stderr).toBe(0);
    const after = await home.list();
    expect(after.map((p) => p.instance)).toEqual([0, 1]);
    expect(after.map((p) => p.pid)).toEqual(before.slice(0, 2).map((p) => p.pid));
    for (const gone of before.slice(2)) expect(isRunning(gone.pid as number)).toBe(false);
    expect((await httpGet(port)).status).toBe(200);
    const describe = JSON.parse((await home.cli(['describe', 'web', '--json'])).stdout) as [{ spec: { instances: number } }];
    expect(describe[0].spec.instances).toBe(2);
    expect((await home.cli(['scale', 'web', '+1'])).code).toBe(0);
    expect((await byStatus(home, 'web', 'online', 3)).map((p) => p.instance)).toEqual([0, 1, 2]);
    await expectAccountedFor(home);
  });

  it('a cluster app that never listens is online after min_uptime, and reloads without waiting for a listen', async () => {
    home = await tempHome();
    const started = await home.cli(['start', fixture('idle-app.cjs'), '-i', '4', '--name', 'consumer']);
    expect(started.code, started.stderr).toBe(0);
    const rows = JSON.parse((await home.cli(['list', '--json'])).stdout) as { status: string; mode: string }[];
    // start answers once its processes have settled (at most 2 s): min_uptime is 1 s.
    expect(rows.map((r) => `${r.mode} ${r.status}`)).toEqual(Array(4).fill('cluster online'));
    const began = Date.now();
    const reloaded = await home.cli(['reload', 'consumer']);
    expect(reloaded.code, reloaded.stderr).toBe(0);
    const tookMs = Date.now() - began;
    expect((await home.list()).map((p) => p.restarts)).toEqual([1, 1, 1, 1]);
    report('reload-non-listening', { workers: 4, reloadMs: tookMs });
    await expectAccountedFor(home);
  });
});
