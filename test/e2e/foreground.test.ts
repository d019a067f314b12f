/**
 * The foreground daemon as docs/SYSTEMD.md describes it: one per home, SIGHUP ignored, SIGTERM
 * and SIGINT save dump.json and stop everything, and the next start brings the apps back.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { byStatus, expectOk, fixture, isAlive, spawnCli, tempHome, waitFor, type Home, type RunningCli } from '../helpers.js';

describe('daemon --foreground', () => {
  let home: Home;
  const running: RunningCli[] = [];
  afterEach(async () => {
    for (const cli of running.splice(0)) {
      cli.kill();
      await cli.exited;
    }
    await home?.cleanup();
  });

  function foreground(): RunningCli {
    const daemon = spawnCli(['daemon', '--foreground'], home.env);
    running.push(daemon);
    return daemon;
  }

  /** Waits until the daemon answers, and checks it is the foreground process itself. */
  async function answering(daemon: RunningCli): Promise<void> {
    // Not before it listens: a command finding no daemon would start a background one.
    await waitFor(() => daemon.stderr().includes('listening on'), 'the foreground daemon to listen');
    const pong = await waitFor(async () => {
      const result = await home.cli(['ping'], { env: { SUPERVISOR_TIMEOUT: '5s' } });
      return result.code === 0 && !result.stdout.includes('just started') ? result.stdout : null;
    }, 'the foreground daemon to answer');
    expect(pong).toMatch(new RegExp(`^daemon pid ${daemon.pid}, `));
  }

  it('runs one per home, ignores SIGHUP, saves and stops everything on SIGTERM, and resurrects on the next start', async () => {
    home = await tempHome();
    const daemon = foreground();
    await answering(daemon);
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle']));
    const [before] = await byStatus(home, 'idle', 'online', 1);

    // A second one for the same home refuses to run.
    const second = await home.cli(['daemon', '--foreground'], { timeoutMs: 15_000 });
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(`supervisor: a daemon is already running for ${home.dir}\n`);

    // SIGHUP changes nothing.
    process.kill(daemon.pid, 'SIGHUP');
    await answering(daemon);
    expect((await home.list()).map((r) => [r.pid, r.status])).toEqual([[before?.pid, 'online']]);

    // SIGTERM: dump.json written, the app stopped, the files removed, exit 0.
    process.kill(daemon.pid, 'SIGTERM');
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    expect(daemon.stderr()).toMatch(/received SIGTERM/);
    const dump = JSON.parse(readFileSync(join(home.dir, 'dump.json'), 'utf8')) as unknown;
    expect(JSON.stringify(dump)).toContain('"name":"idle"');
    expect(isAlive(before?.pid as number)).toBe(false);
    expect(existsSync(join(home.dir, 'daemon.sock'))).toBe(false);
    expect(existsSync(join(home.dir, 'daemon.pid'))).toBe(false);

    // The next foreground daemon starts the saved app itself; SIGINT ends it the same way.
    const next = foreground();
    await answering(next);
    const [after] = await byStatus(home, 'idle', 'online', 1);
    expect(after?.pid).not.toBe(before?.pid);
    expect(next.stderr()).toMatch(/resurrected 1 apps/);
    process.kill(next.pid, 'SIGINT');
    expect(await next.exited).toEqual({ code: 0, signal: null });
    await waitFor(() => !isAlive(after?.pid as number), 'the resurrected app to be stopped');
  });
});
